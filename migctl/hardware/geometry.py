"""The geometry value and its canonical text: ``PROFILE:COUNT`` joined by commas, larger instances first.

A *geometry* is a multiset of GPU-instance profiles. It travels through migctl as one frozen,
hashable :class:`Geometry` value (parsed from text once, at the edge); "MIG mode off" is the one
value :data:`MIG_OFF` (text ``disabled``). Its canonical text is used everywhere migctl prints or
reads one::

    2g.10gb:3,1g.5gb:1

``parse_geometry``/``format_geometry`` are the plain-``dict`` forms of the same grammar.

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

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from migctl.hardware.profile_name import parse_profile_name

if TYPE_CHECKING:
    from migctl.hardware.catalogue import GpuModel

__all__ = [
    "Geometry",
    "MIG_OFF",
    "DISABLED_TEXT",
    "GeometryCounts",
    "parse_geometry",
    "format_geometry",
    "sort_geometry",
    "geometry_from_names",
]

#: The plain-dict form of a geometry (profile name -> count) that older callers build and read.
GeometryCounts = dict[str, int]

#: The one text of "MIG mode off" (annotations, CLI arguments, JSON output).
DISABLED_TEXT = "disabled"

#: A count has at most this many digits (no GPU holds more than a few dozen instances).
MAX_COUNT_DIGITS = 6


def _cut(text: str, limit: int = 60) -> str:
    """``repr`` of ``text`` for a message, cut when long (a 5,000-character value is not echoed)."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


class Geometry(Mapping[str, int]):
    """One GPU's desired or actual MIG layout as a value: profile counts in canonical order, or MIG off.

    Frozen and hashable. It is a read-only ``Mapping[str, int]`` (profile -> count, larger profiles
    first), so ``geometry.items()``, ``dict(geometry)`` and ``geometry == {"1g.5gb": 7}`` work.
    ``str(geometry)`` is the canonical text (``2g.10gb:3,1g.5gb:1``); ``""`` is MIG on with no
    instances; :data:`MIG_OFF` (``Geometry.disabled()``) is MIG mode off, text ``disabled``; it
    equals no mapping (not even ``{}``) and ``.enabled`` is ``False``. A geometry also equals its
    canonical text (``Geometry.parse("1g.5gb:7") == "1g.5gb:7"``, hash included), so a value and
    the text it prints as are one key; non-canonical text is not equal (parse it first).

    Parse text once at the edge with :meth:`parse`; pass the value everywhere else.
    """

    __slots__ = ("_counts", "_enabled", "_hash")

    _counts: tuple[tuple[str, int], ...]
    _enabled: bool
    _hash: int

    def __init__(self, counts: Mapping[str, int] | Iterable[tuple[str, int]] = (), *, enabled: bool = True) -> None:
        pairs = counts.items() if isinstance(counts, Mapping) else counts
        merged: dict[str, int] = {}
        for name, count in pairs:
            if not isinstance(name, str) or isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(f"geometry: {name!r}: {count!r} is not a profile name with a whole count >= 0")
            merged[name] = merged.get(name, 0) + count
        if not enabled and any(merged.values()):
            raise ValueError("geometry: MIG off has no instances")
        object.__setattr__(self, "_counts", tuple(sort_geometry(merged).items()))
        object.__setattr__(self, "_enabled", bool(enabled))
        object.__setattr__(self, "_hash", hash(str(self)))

    # -- construction at the edge

    @classmethod
    def parse(cls, text: str) -> Geometry:
        """``"2g.10gb:3,1g.5gb:1"`` -> that geometry; ``"disabled"`` -> :data:`MIG_OFF`; ``""`` -> empty.

        Strict: counts are ASCII digits, ``disabled`` is the only word for MIG off (any case,
        surrounding blanks ignored). ``ValueError`` names the bad item.
        """
        if isinstance(text, str) and text.strip().lower() == DISABLED_TEXT:
            return MIG_OFF
        return cls(parse_geometry(text))

    @classmethod
    def disabled(cls) -> Geometry:
        """MIG mode off (the same value as :data:`MIG_OFF`)."""
        return MIG_OFF

    @classmethod
    def of(cls, value: Geometry | Mapping[str, int] | str | None) -> Geometry:
        """Coerce at an edge: a :class:`Geometry` as is, a mapping, text (:meth:`parse`), ``None`` = MIG off."""
        if isinstance(value, Geometry):
            return value
        if value is None:
            return MIG_OFF
        if isinstance(value, Mapping):
            return cls(value)
        return cls.parse(value)

    # -- the value

    @property
    def enabled(self) -> bool:
        """``False`` only for :data:`MIG_OFF`."""
        return self._enabled

    @property
    def is_disabled(self) -> bool:
        return not self._enabled

    @property
    def counts(self) -> dict[str, int]:
        """A fresh ``dict`` copy in canonical order (``{}`` for MIG off)."""
        return dict(self._counts)

    def instance_count(self) -> int:
        return sum(count for _, count in self._counts)

    def canonical(self, model: GpuModel | None = None) -> Geometry:
        """Profile aliases resolved through ``model`` (``1g.10gb`` alias -> the model's name), counts merged."""
        if model is None or not self._enabled:
            return self
        merged: dict[str, int] = {}
        for name, count in self._counts:
            profile = model.profile(name)
            key = profile.name if profile is not None else name
            merged[key] = merged.get(key, 0) + count
        result = Geometry(merged)
        return self if result == self else result

    def format(self, model: GpuModel | None = None) -> str:
        """The canonical text; with ``model``, ordered by the model's profiles (as :func:`format_geometry`)."""
        if not self._enabled:
            return DISABLED_TEXT
        if model is None:
            return str(self)
        return format_geometry(dict(self._counts), model)

    def __str__(self) -> str:
        if not self._enabled:
            return DISABLED_TEXT
        return ",".join(f"{name}:{count}" for name, count in self._counts)

    def __repr__(self) -> str:
        return "MIG_OFF" if not self._enabled else f"Geometry({str(self)!r})"

    # -- Mapping

    def __getitem__(self, name: str) -> int:
        for key, count in self._counts:
            if key == name:
                return count
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._counts)

    def __len__(self) -> int:
        return len(self._counts)

    def __contains__(self, name: object) -> bool:
        return any(key == name for key, _ in self._counts)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Geometry):
            return self._enabled == other._enabled and self._counts == other._counts
        if isinstance(other, str):  # its canonical text (the hash is the text's: consistent)
            return str(self) == other
        if isinstance(other, Mapping):
            return self._enabled and dict(self._counts) == dict(other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        return self._hash

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Geometry is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self._counts, self._enabled))


def _rebuild(counts: tuple[tuple[str, int], ...], enabled: bool) -> Geometry:
    return MIG_OFF if not enabled else Geometry(counts)


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


def parse_geometry(text: str) -> GeometryCounts:
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
            raise ValueError(f"invalid geometry {_cut(text)}: item {position} is empty (expected PROFILE:COUNT)")
        name, sep, count_text = item.rpartition(":")
        if not sep:
            raise ValueError(f"invalid geometry {_cut(text)}: item {_cut(item)} has no ':COUNT' (expected e.g. '1g.5gb:1')")
        name, count_text = name.strip(), count_text.strip()
        if not (count_text.isascii() and count_text.isdigit()):
            raise ValueError(f"invalid geometry {_cut(text)}: count {_cut(count_text)} of {_cut(name)} is not a whole number")
        if len(count_text) > MAX_COUNT_DIGITS:
            raise ValueError(f"invalid geometry {_cut(text)}: count of {_cut(name)} has {len(count_text)} digits "
                             f"(at most {MAX_COUNT_DIGITS})")
        count = int(count_text)
        if count < 1:
            raise ValueError(f"invalid geometry {_cut(text)}: count of {name!r} must be at least 1")
        try:
            canonical = str(parse_profile_name(name))
        except ValueError as exc:
            raise ValueError(f"invalid geometry {_cut(text)}: {exc}") from None
        counts[canonical] = counts.get(canonical, 0) + count
    return sort_geometry(counts)


def _name_key(name: str, memory_unit: int = 1) -> tuple[int, int, str]:
    try:
        parsed = parse_profile_name(name)
    except ValueError:
        return (0, 0, name)
    return (-parsed.gpu_slices, -parsed.memory_gb * memory_unit, name)


def sort_geometry(counts: Mapping[str, int], model: GpuModel | None = None) -> GeometryCounts:
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


def geometry_from_names(names: Iterable[str]) -> GeometryCounts:
    """Count a sequence of profile names: ``["1g.5gb", "1g.5gb"]`` -> ``{"1g.5gb": 2}``."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return sort_geometry(counts)


#: MIG mode off: the one representation (text ``disabled``).
MIG_OFF: Geometry = Geometry(enabled=False)
