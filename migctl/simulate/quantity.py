"""Kept for callers written before the parsers were merged: the one parser is :mod:`migctl.cluster.quantity`."""

from __future__ import annotations

from migctl.cluster.quantity import as_int64, int_value, milli_value, parse_quantity

__all__ = ["as_int64", "int_value", "milli_value", "parse_quantity"]
