"""Kubernetes resource quantities (``500m``, ``2``, ``1Gi``, ``1e3``) as exact numbers.

Only what the simulation needs: the value as a :class:`fractions.Fraction`, plus the two views
the schedulers use — whole units (``Quantity.AsInt64``, which fails on fractions) and milli-units
rounded up (``MilliValue``, what kube-scheduler compares for CPU).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

_SUFFIXES = {
    "": Fraction(1),
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}

_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$")


def parse_quantity(value: object) -> Fraction:
    """Parse a quantity; ``ValueError`` with a readable message when it is not one."""
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a quantity: {value!r}")
        return Fraction(str(value))
    text = str(value).strip()
    m = _QUANTITY.match(text)
    if not m:
        raise ValueError(f"not a quantity: {value!r}")
    number = Fraction(m.group(1))
    if m.group(2):
        return number * Fraction(10) ** int(m.group(2)[1:])
    return number * _SUFFIXES[m.group(3) or ""]


def as_int64(value: object) -> int | None:
    """``resource.Quantity.AsInt64``: the whole value, or None if it has a fraction or is unreadable."""
    try:
        q = parse_quantity(value)
    except ValueError:
        return None
    if q.denominator != 1 or not -(2**63) <= q.numerator < 2**63:
        return None
    return q.numerator


def milli_value(value: object) -> int:
    """``resource.Quantity.MilliValue`` (rounded up), e.g. CPU ``"500m"`` -> 500, ``"2"`` -> 2000."""
    return math.ceil(parse_quantity(value) * 1000)


def int_value(value: object) -> int:
    """``resource.Quantity.Value`` (rounded up), e.g. memory ``"1Gi"`` -> 1073741824."""
    return math.ceil(parse_quantity(value))
