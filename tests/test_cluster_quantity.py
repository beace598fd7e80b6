"""The one Kubernetes quantity parser, held to the official client's ``kubernetes.utils.parse_quantity``."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from kubernetes.utils import parse_quantity as reference

from migctl.cluster.quantity import MAX_EXPONENT, as_int64, cpu_millis, int_value, memory_bytes, milli_value, parse_quantity


def _reference(text: str) -> Fraction | None:
    try:
        value = reference(text)
    except ValueError:
        return None
    return Fraction(value) if value.is_finite() else None


def _ours(text: str) -> Fraction | None:
    try:
        return parse_quantity(text)
    except ValueError:
        return None


@pytest.mark.parametrize("text", [
    "1_000", "1 Gi", " 1Gi", "1.5e3m", "1e3Gi", "1e3", "1E3", "500m", "0.5", ".5", "+1", "-1", "2K", "2k", "2Ki",
    "16Gi", "1Ei", "3E", "7n", "7u", "1ki", "1mi", "1ni", "1ui", "1e", "m", "", "Gi", "1.Gi", "1..0", "NaN",
    "Infinity", "-Infinity", "nanm", "1Gb", "1 ", "0x10", "1e-3", "12.5Mi", "1i", "i", "1_0_0m",
])
def test_agrees_with_the_kubernetes_client(text: str) -> None:
    assert _ours(text) == _reference(text)


_PIECES = st.sampled_from(list("0123456789") + [".", "e", "E", "-", "+", "_", " ", "i", "m", "k", "K", "M", "G",
                                               "T", "P", "n", "u", "x"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=10).map("".join))
def test_agrees_with_the_kubernetes_client_on_any_text(text: str) -> None:
    ref = _reference(text)
    # near migctl's documented exponent limit (README "Limits": MAX_EXPONENT) ours refuses by design
    assume(ref is None or not ref or abs(Decimal(ref.numerator).adjusted() - Decimal(ref.denominator).adjusted())
           < MAX_EXPONENT - 30)
    assert _ours(text) == ref


@settings(max_examples=200, deadline=None)
@given(st.integers(-10**12, 10**12), st.integers(0, 6), st.sampled_from(["", "m", "k", "M", "G", "Ki", "Mi", "Gi",
                                                                          "Ti", "e3", "e-2"]))
def test_agrees_on_well_formed_quantities(whole: int, decimals: int, suffix: str) -> None:
    text = f"{Decimal(whole).scaleb(-decimals)}{suffix}"
    assert _ours(text) == _reference(text)


def test_numbers_and_the_scheduler_views() -> None:
    assert parse_quantity(2) == 2 and parse_quantity(0.1) == Fraction(1, 10)  # a YAML float as written
    assert parse_quantity(Decimal("1.5")) == Fraction(3, 2)
    for bad in (True, float("nan"), float("inf"), Decimal("NaN")):
        with pytest.raises(ValueError):
            parse_quantity(bad)
    assert milli_value("500m") == cpu_millis("500m") == 500 and milli_value("2") == 2000 and milli_value("1.5m") == 2
    assert int_value("1Gi") == memory_bytes("1Gi") == 2**30 and int_value("1.5") == 2 and int_value("1_000") == 1000
    assert as_int64("1k") == 1000 and as_int64("1.5") is None and as_int64("x") is None
    assert as_int64(str(2**63)) is None
