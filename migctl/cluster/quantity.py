"""Kubernetes resource quantities (``500m``, ``2``, ``16Gi``, ``1e3``) as exact numbers: the one parser.

It reads text exactly as the official Python client's ``kubernetes.utils.parse_quantity`` does (a
test holds it to that function: ``1_000``, ``1 Gi``, ``1.5e3m``, ``1e3Gi``, the ``K`` suffix, signs),
but answers an exact :class:`fractions.Fraction` and rejects ``NaN``/``Infinity``. It does not import
the client: that costs a third of a second, and ``migctl simulate --cluster FILE`` never needs it.
A float (a YAML ``cpu: 0.1``) is taken as written (``str``), not as its binary value.

The views the schedulers use (apimachinery ``pkg/api/resource/quantity.go``): ``MilliValue``
(rounded up; kube-scheduler's CPU), ``Value`` (rounded up; memory in bytes) and ``AsInt64``
(whole values only).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from fractions import Fraction

_EXPONENTS = {"n": -3, "u": -2, "m": -1, "K": 1, "k": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
_BINARY_PREFIXES = "KMGTPE"
_BINARY = {f"{p}i": 2 ** (10 * _EXPONENTS[p]) for p in _BINARY_PREFIXES}

#: Bounds on what is read at all (far beyond any real quantity; Kubernetes caps values at 2^63-1):
#: longer text, or a decimal exponent beyond this, is "not a quantity" rather than unbounded work.
MAX_TEXT = 100
MAX_EXPONENT = 1000


def parse_quantity(value: object) -> Fraction:
    """The exact value of a quantity; ``ValueError`` with a readable message when it is not one."""
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a quantity: {value!r}")
        return Fraction(str(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a quantity: {value!r}")
        return Fraction(value)
    text = str(value)
    if len(text) > MAX_TEXT:
        raise ValueError(f"not a quantity: {text[:20]!r}... is {len(text)} characters long (at most {MAX_TEXT})")
    if not text.isascii():  # Go's parser reads ASCII digits only ("１" is not 1)
        raise ValueError(f"not a quantity: {value!r} (ASCII digits only)")
    number, factor = text, Fraction(1)
    if len(text) >= 2 and text[-1] == "i" and text[-2] in _EXPONENTS:
        if text[-2] not in _BINARY_PREFIXES:  # "ki", "mi", "ni", "ui" are not binary suffixes
            raise ValueError(f"not a quantity: {value!r} (unknown suffix {text[-2:]!r})")
        number, factor = text[:-2], Fraction(_BINARY[text[-2:]])
    elif text[-1:] in _EXPONENTS:
        number, factor = text[:-1], Fraction(1000) ** _EXPONENTS[text[-1]]
    try:
        parsed = Decimal(number)
    except InvalidOperation:
        raise ValueError(f"not a quantity: {value!r}") from None
    if not parsed.is_finite():
        raise ValueError(f"not a quantity: {value!r}")
    if parsed and abs(parsed.adjusted()) > MAX_EXPONENT:
        raise ValueError(f"not a quantity: {value!r} (out of range)")
    return Fraction(parsed) * factor


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
    """``resource.Quantity.MilliValue`` (rounded up): CPU ``"500m"`` -> 500, ``"2"`` -> 2000."""
    if isinstance(value, str) and value.isascii() and len(value) <= 18:  # fast paths for the common forms
        if value.isdigit():
            return int(value) * 1000
        if value[-1:] == "m" and value[:-1].isdigit():
            return int(value[:-1])
    return math.ceil(parse_quantity(value) * 1000)


def int_value(value: object) -> int:
    """``resource.Quantity.Value`` (rounded up): memory ``"1Gi"`` -> 1073741824 bytes."""
    if isinstance(value, str) and value.isascii() and len(value) <= 18:  # fast paths for the common forms
        if value.isdigit():
            return int(value)
        factor = _BINARY.get(value[-2:])
        if factor is not None and value[:-2].isdigit():
            return int(value[:-2]) * factor
    return math.ceil(parse_quantity(value))


#: The names the cluster model reads with: CPU in millicores, memory in bytes.
cpu_millis = milli_value
memory_bytes = int_value
