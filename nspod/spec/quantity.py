"""Kubernetes resource quantities ("500m", "0.5", "128Mi", "1G", "1e3").

The grammar (from k8s.io/apimachinery resource.Quantity):

    quantity ::= [sign] number suffix
    number   ::= digits | digits "." [digits] | "." digits
    suffix   ::= binarySI | decimalSI | ("e" | "E") [sign] digits
    binarySI ::= Ki | Mi | Gi | Ti | Pi | Ei            (powers of 1024)
    decimalSI::= n | u | m | "" | k | M | G | T | P | E (powers of 1000)

Values are exact: we keep them as Fractions and round only when converting to
the integer units the kernel wants (millicores, bytes), always up, as
Kubernetes does.
"""

import math
import re
from fractions import Fraction

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 10**3),
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
}

# The exponent branch comes before the single letters so that "1E3" is 1000
# while "1E" is one exa.
_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)"
    r"(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?:(?P<binary>[KMGTPE]i)|[eE](?P<exponent>[+-]?[0-9]+)|(?P<decimal>[numkMGTPE]?))"
)

# A bound on exponents keeps "1e999999999" from building a gigantic integer.
_MAX_EXPONENT = 64


def parse_quantity(value):
    """Return the exact value of a quantity (str, or an int/float from YAML).

    Raises ValueError with a message fit for the user ('"12x" is not a quantity').
    """
    if isinstance(value, bool):  # bool is an int subclass; `cpu: yes` is a mistake
        raise ValueError(f"{value!r} is not a quantity")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} is not a quantity")
        # str() gives the shortest decimal that reads back as this float, so
        # `cpu: 0.1` means exactly 1/10, not the binary approximation.
        return Fraction(str(value))
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a quantity")

    match = _QUANTITY.fullmatch(value.strip())
    if match is None:
        raise ValueError(f'"{value}" is not a quantity')
    number = Fraction(match["number"])
    if match["binary"]:
        number *= _BINARY[match["binary"]]
    elif match["exponent"] is not None:
        exponent = int(match["exponent"])
        if abs(exponent) > _MAX_EXPONENT:
            raise ValueError(f'"{value}" is out of range')
        number *= Fraction(10) ** exponent
    else:
        number *= _DECIMAL[match["decimal"]]
    return -number if match["sign"] == "-" else number


def _exact(quantity):
    return quantity if isinstance(quantity, Fraction) else parse_quantity(quantity)


def cpu_millicores(quantity):
    """CPU in thousandths of a core, rounded up ("0.5" -> 500, "1" -> 1000)."""
    return math.ceil(_exact(quantity) * 1000)


def memory_bytes(quantity):
    """Memory in bytes, rounded up ("128Mi" -> 134217728)."""
    return math.ceil(_exact(quantity))
