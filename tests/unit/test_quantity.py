"""Kubernetes quantities: exact values, and rounding up to the kernel's units."""

from fractions import Fraction

import pytest

from nspod.spec import cpu_millicores, memory_bytes, parse_quantity


@pytest.mark.parametrize(
    "text, value",
    [
        ("500m", Fraction(1, 2)),
        ("0.5", Fraction(1, 2)),
        ("1", 1),
        ("2", 2),
        ("100n", Fraction(1, 10**7)),
        ("250u", Fraction(1, 4000)),
        ("1k", 1000),
        ("128Mi", 128 * 2**20),
        ("1Ki", 1024),
        ("1.5Gi", 3 * 2**29),
        ("2Ti", 2 * 2**40),
        ("1Pi", 2**50),
        ("1Ei", 2**60),
        ("1G", 10**9),
        ("1M", 10**6),
        ("1T", 10**12),
        ("1P", 10**15),
        ("1E", 10**18),  # a bare E is exa ...
        ("1e3", 1000),  # ... followed by digits it is an exponent
        ("1E3", 1000),
        ("12E-1", Fraction(6, 5)),
        ("1e+2", 100),
        ("1.5e1", 15),
        (".5", Fraction(1, 2)),
        ("1.", 1),
        ("+1", 1),
        ("-1", -1),
        ("0", 0),
        ("007", 7),
        (" 1Gi ", 2**30),
    ],
)
def test_parse_string(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "number, value",
    [(1, 1), (0, 0), (0.5, Fraction(1, 2)), (0.1, Fraction(1, 10)), (1.5e3, 1500)],
)
def test_parse_yaml_numbers(number, value):
    # `cpu: 0.5` and `cpu: 1` reach us as float and int
    assert parse_quantity(number) == value


@pytest.mark.parametrize(
    "bad",
    [
        "", "12x", "1.5.5", "Mi", "m", "1 Mi", "1mi", "1KI", "1K", "1e", "1e1.5", "--1",
        "1Mi1", "0x10", "1_000", "e3", ".", "+", "½", "１",
        None, True, [1], {"cpu": 1}, float("nan"), float("inf"),
    ],
)
def test_bad_quantities(bad):
    with pytest.raises(ValueError):
        parse_quantity(bad)


def test_error_message_quotes_the_value():
    with pytest.raises(ValueError, match='"12x" is not a quantity'):
        parse_quantity("12x")


def test_huge_exponent_is_refused_quickly():
    with pytest.raises(ValueError, match="out of range"):
        parse_quantity("1e999999999")


@pytest.mark.parametrize(
    "text, millicores",
    [
        ("500m", 500), ("0.5", 500), ("1", 1000), ("2.5", 2500), ("100m", 100),
        ("0.0001", 1),  # rounded up: never less CPU than asked for
        ("1500u", 2), ("1n", 1), ("0", 0), ("1e-3", 1),
    ],
)
def test_cpu_millicores(text, millicores):
    assert cpu_millicores(text) == millicores
    assert cpu_millicores(parse_quantity(text)) == millicores


@pytest.mark.parametrize(
    "text, size",
    [
        ("128Mi", 134217728), ("1G", 1000000000), ("1Gi", 1073741824), ("1.5Gi", 1610612736),
        ("100", 100), ("1k", 1000), ("0.5", 1), ("1500m", 2), ("1e3", 1000), ("0", 0),
    ],
)
def test_memory_bytes(text, size):
    assert memory_bytes(text) == size
    assert memory_bytes(parse_quantity(text)) == size


def test_results_are_ints():
    assert type(cpu_millicores("0.5")) is int
    assert type(memory_bytes("1.5Gi")) is int
