"""Option choices shared by several commands (only the standard library: command modules import it at load)."""

from __future__ import annotations

from enum import Enum


class HamiVersionChoice(str, Enum):
    """``--hami-version``: the HAMi generation to follow (``auto`` infers it)."""

    auto = "auto"
    v2_9 = "2.9"
    v2_10 = "2.10"
