"""Crash-loop back-off and Go durations."""

import pytest

from nspod.backoff import (BackOff, crash_loop_message, format_duration, parse_duration,
                           should_restart)

SEQUENCE = [0, 10, 20, 40, 80, 160, 300, 300]


def test_delay_sequence():
    b = BackOff()
    assert [b.delay(n) for n in range(1, 9)] == SEQUENCE
    assert b.delay(0) == 0
    assert b.delay(10_000) == 300


def test_base_scales_the_sequence_cap_does_not():
    b = BackOff(base=0.1)
    assert [b.delay(n) for n in range(1, 6)] == pytest.approx([0, 0.1, 0.2, 0.4, 0.8])
    assert b.delay(20) == 300
    small = BackOff(base=0.1, cap=0.5)
    assert [small.delay(n) for n in range(1, 6)] == pytest.approx([0, 0.1, 0.2, 0.4, 0.5])


def test_base_zero_always_restarts_at_once():
    b = BackOff(base=0)
    assert [b.next_delay(1.0) for _ in range(10)] == [0] * 10


def test_next_delay_counts_consecutive_exits():
    b = BackOff()
    assert [b.next_delay(1.0) for _ in range(8)] == SEQUENCE
    assert b.consecutive() == 8


def test_next_delay_is_per_container():
    b = BackOff()
    assert [b.next_delay(1.0, "web") for _ in range(3)] == [0, 10, 20]
    assert b.next_delay(1.0, "sidecar") == 0
    assert b.next_delay(1.0, "web") == 40
    b.reset("web")
    assert b.next_delay(1.0, "web") == 0
    assert b.next_delay(1.0, "sidecar") == 10


def test_a_sequence_taken_up_goes_on_where_it_was():
    b = BackOff(base=10)
    b.set_consecutive(3)  # three exits counted by a supervisor that left
    assert b.next_delay(5) == 40
    b.set_consecutive(0)
    assert b.consecutive() == 0 and b.next_delay(5) == 0


def test_ten_minutes_of_running_resets_the_sequence():
    b = BackOff()
    for _ in range(6):
        b.next_delay(5.0)
    assert b.next_delay(599.0) == 300
    assert b.next_delay(600.0) == 0  # ran 10 minutes: a fresh start
    assert b.next_delay(5.0) == 10
    assert b.next_delay(5.0) == 20


def test_reset_after_is_configurable():
    b = BackOff(base=0.1, reset_after=2.0)
    assert [b.next_delay(0.5) for _ in range(3)] == pytest.approx([0, 0.1, 0.2])
    assert b.next_delay(2.5) == 0


def test_negative_settings_are_refused():
    with pytest.raises(ValueError, match="base"):
        BackOff(base=-1)


@pytest.mark.parametrize("policy, code, expected", [
    ("Always", 0, True), ("Always", 1, True),
    ("OnFailure", 0, False), ("OnFailure", 137, True),
    ("Never", 0, False), ("Never", 1, False),
])
def test_should_restart(policy, code, expected):
    assert should_restart(policy, code) is expected


def test_should_restart_bad_policy():
    with pytest.raises(ValueError):
        should_restart("always", 0)


def test_crash_loop_message():
    assert crash_loop_message(20, "web", "demo_default(1234)") == (
        "back-off 20s restarting failed container=web pod=demo_default(1234)")
    assert crash_loop_message(300, "web", "demo").startswith("back-off 5m0s ")


@pytest.mark.parametrize("text, seconds", [
    ("0", 0.0), ("10s", 10.0), ("100ms", 0.1), ("1.5s", 1.5), ("1m", 60.0),
    ("5m0s", 300.0), ("1h2m3s", 3723.0), ("1.5h", 5400.0), (".5s", 0.5), ("1.s", 1.0),
    ("250us", 0.00025), ("250\u00b5s", 0.00025), ("7ns", 7e-9), ("+2s", 2.0),
    ("-1.5s", -1.5), ("0s", 0.0), ("1m30.25s", 90.25),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", [
    "", "10", "1", "s", ".s", "10x", "1d", "1S", " 1s", "1s ", "1s2", "--1s", "1..5s",
    "ten seconds", "-", "1,5s",
])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_parse_duration_rejects_non_strings():
    with pytest.raises(ValueError):
        parse_duration(10)


@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (10, "10s"), (300, "5m0s"), (3600, "1h0m0s"), (1.5, "1.5s"),
    (0.1, "100ms"), (90.25, "1m30.25s"), (0.0000015, "1.5\u00b5s"), (5e-9, "5ns"),
    (-2, "-2s"),
])
def test_format_duration_like_go(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)
