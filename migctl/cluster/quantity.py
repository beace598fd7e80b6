"""Kubernetes resource quantities (``500m``, ``2``, ``16Gi``, ``1e3``) as exact numbers.

Only what ``migctl`` needs: CPU in millicores and memory in bytes, rounded up like the API server does.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
            "P": Decimal("1e15"), "E": Decimal("1e18")}


def parse_quantity(text: str | int | float) -> Decimal:
    """Parse a quantity into a Decimal; ``ValueError`` on anything else."""
    if isinstance(text, bool):
        raise ValueError(f"not a quantity: {text!r}")
    if isinstance(text, (int, float)):
        return Decimal(str(text))
    value = text.strip()
    if not value:
        raise ValueError("empty quantity")
    for suffix, factor in _BINARY.items():
        if value.endswith(suffix):
            return _number(value[: -len(suffix)], text) * factor
    if value[-1] in "numkMGTPE":
        return _number(value[:-1], text) * _DECIMAL[value[-1]]
    return _number(value, text)


def _number(text: str, original: str | int | float) -> Decimal:
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a quantity: {original!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a quantity: {original!r}")
    return number


def cpu_millis(text: str | int | float) -> int:
    """CPU quantity in millicores, rounded up (``100m`` -> 100, ``0.5`` -> 500)."""
    if isinstance(text, str):  # fast paths for the common forms
        if text.isdigit():
            return int(text) * 1000
        if text[-1:] == "m" and text[:-1].isdigit():
            return int(text[:-1])
    return math.ceil(parse_quantity(text) * 1000)


def memory_bytes(text: str | int | float) -> int:
    """Memory quantity in bytes, rounded up (``1Gi`` -> 1073741824)."""
    if isinstance(text, str):  # fast paths for the common forms
        if text.isdigit():
            return int(text)
        factor = _BINARY.get(text[-2:])
        if factor is not None and text[:-2].isdigit():
            return int(text[:-2]) * factor
    return math.ceil(parse_quantity(text))
