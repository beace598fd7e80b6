"""Durations on the command line: one option type for every "seconds" option (only typer and the standard
library, as every command module).

A duration is a finite number of seconds, never negative (``nan``, ``inf`` and ``-1`` are usage errors,
exit 2): a non-finite timeout would wait forever, a negative one is a typo. ``positive=True`` also refuses 0
(intervals: a zero interval is a busy loop).
"""

from __future__ import annotations

import math
from typing import Any

import typer

__all__ = ["DurationOption", "parse_duration", "positive_duration"]


def parse_duration(value: Any, *, positive: bool = False) -> float:
    """``value`` (text or a number) as seconds; :class:`typer.BadParameter` (exit 2) unless finite and >= 0
    (> 0 with ``positive``)."""
    if isinstance(value, bool):
        raise typer.BadParameter(f"{value!r} is not a number of seconds")
    try:
        seconds = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        raise typer.BadParameter(f"{str(value)[:40]!r} is not a number of seconds") from None
    if not math.isfinite(seconds):
        raise typer.BadParameter(f"{str(value)[:40]!r}: a duration must be a finite number of seconds")
    if seconds < 0 or (positive and seconds == 0):
        raise typer.BadParameter(f"{str(value)[:40]!r}: a duration must be {'above 0' if positive else '0 or more'} "
                                 "seconds")
    return seconds


def positive_duration(value: Any) -> float:
    return parse_duration(value, positive=True)


def DurationOption(*names: str, help: str, positive: bool = False, hidden: bool = False) -> Any:  # noqa: N802, A002
    """``typer.Option`` for a duration in seconds (use as ``Annotated[float, DurationOption("--timeout", help=...)]``)."""
    return typer.Option(*names, help=help, hidden=hidden, metavar="SECONDS",
                        parser=positive_duration if positive else parse_duration)
