"""Canonical geometry text: ``PROFILE:COUNT`` joined by commas, larger instances first.

A *geometry* is a multiset of GPU-instance profiles, held as ``dict[str, int]``
(profile name -> count). Its canonical text is used everywhere migctl prints or reads one::

    2g.10gb:3,1g.5gb:1

- "Larger instances first": compute slices descending, then memory descending, then name.
  Without a model the order comes from the names themselves (``Gg`` then ``NNgb``); with a
  model, from its profiles (so a REV2 ``1g.10gb`` sorts before ``1g.5gb`` by memory).
- The empty geometry is the empty string.
- Profile names are canonicalised (``1c.1g.5gb`` -> ``1g.5gb``, attributes sorted); repeated
  profiles add up (``1g.5gb:1,1g.5gb:2`` -> ``1g.5gb:3``).
- A profile with attributes may itself contain a comma (``1g.5gb+me,gfx``); the parser rejoins
  a piece without ``:`` to the next piece when that piece starts with a letter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from migctl.hardware.profile_name import parse_profile_name

if TYPE_CHECKING:
    from migctl.hardware.catalogue import GpuModel

__all__ = ["Geometry", "parse_geometry", "format_geometry", "sort_geometry", "geometry_from_names"]

Geometry = dict[str, int]


def _split_items(text: str) -> list[str]:
    pieces = [p.strip() for p in text.split(",")]
    items: list[str] = []
    i = 0
    while i < len(pieces):
        piece = pieces[i]
        while ":" not in piece and i + 1 < len(pieces) and pieces[i + 1][:1].isalpha():
            i += 1
            piece = piece + "," + pieces[i]
        items.append(piece)
        i += 1
    return items


def parse_geometry(text: str) -> Geometry:
    """``"2g.10gb:3,1g.5gb:1"`` -> ``{"2g.10gb": 3, "1g.5gb": 1}`` in canonical order.

    ``ValueError`` names the bad item. ``""`` (or only whitespace) is the empty geometry.
    """
    if not isinstance(text, str):
        raise ValueError(f"geometry must be text like '2g.10gb:3,1g.5gb:1', not {type(text).__name__}")
    if not text.strip():
        return {}
    counts: dict[str, int] = {}
    for position, item in enumerate(_split_items(text), start=1):
        if not item:
            raise ValueError(f"invalid geometry {text!r}: item {position} is empty (expected PROFILE:COUNT)")
        name, sep, count_text = item.rpartition(":")
        if not sep:
            raise ValueError(f"invalid geometry {text!r}: item {item!r} has no ':COUNT' (expected e.g. '1g.5gb:1')")
        name, count_text = name.strip(), count_text.strip()
        if not count_text.isdigit():
            raise ValueError(f"invalid geometry {text!r}: count {count_text!r} of {name!r} is not a whole number")
        count = int(count_text)
        if count < 1:
            raise ValueError(f"invalid geometry {text!r}: count of {name!r} must be at least 1")
        try:
            canonical = str(parse_profile_name(name))
        except ValueError as exc:
            raise ValueError(f"invalid geometry {text!r}: {exc}") from None
        counts[canonical] = counts.get(canonical, 0) + count
    return sort_geometry(counts)


def _name_key(name: str, memory_unit: int = 1) -> tuple[int, int, str]:
    try:
        parsed = parse_profile_name(name)
    except ValueError:
        return (0, 0, name)
    return (-parsed.gpu_slices, -parsed.memory_gb * memory_unit, name)


def sort_geometry(counts: Mapping[str, int], model: GpuModel | None = None) -> Geometry:
    """The same geometry in canonical order, without zero counts."""

    def key(name: str) -> tuple[int, int, str]:
        if model is not None:
            profile = model.profile(name)
            if profile is not None:
                return profile.sort_key[:2] + (name,)
            return _name_key(name, 1024)  # same unit as Profile.sort_key (MiB)
        return _name_key(name)

    return {name: int(counts[name]) for name in sorted(counts, key=key) if counts[name]}


def format_geometry(counts: Mapping[str, int], model: GpuModel | None = None) -> str:
    """``{"1g.5gb": 1, "2g.10gb": 3}`` -> ``"2g.10gb:3,1g.5gb:1"``; ``{}`` -> ``""``."""
    return ",".join(f"{name}:{count}" for name, count in sort_geometry(counts, model).items())


def geometry_from_names(names: Iterable[str]) -> Geometry:
    """Count a sequence of profile names: ``["1g.5gb", "1g.5gb"]`` -> ``{"1g.5gb": 2}``."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return sort_geometry(counts)
