"""The placement values: THE placement range and THE placed instance.

A GPU instance occupies the placement units ``[start, start + size)`` (nvml.h
``nvmlGpuInstancePlacement_t``, ``nvmlDeviceCreateGpuInstanceWithPlacement``); two instances may not
overlap (NVIDIA MIG User Guide, "A100 MIG Profiles" placement diagrams). :class:`Placement` is that
range, :class:`PlacedInstance` a profile at one, and :class:`HasPlacement` the base of values that add
live facts around a placed instance. Pure and light (no catalogue, no solver), so the annotation codecs
and ``migctl status`` import it without the solver (``migctl.hardware.solver``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Placement", "PlacedInstance", "HasPlacement"]


class _UnitRange:
    """The rules of a range ``[start, start + size)`` of placement units, shared by :class:`Placement`
    and :class:`PlacedInstance` (so either may be tested against the other)."""

    __slots__ = ()
    start: int
    size: int

    @property
    def end(self) -> int:
        """One past the last unit used."""
        return self.start + self.size

    @property
    def mask(self) -> int:
        return ((1 << self.size) - 1) << self.start

    def overlaps(self, other: _UnitRange) -> bool:
        """``a.start < b.end and b.start < a.end``: NVML's rule, and HAMi's (HAMi v2.10.0
        pkg/device/nvidia/device.go selectMigCandidate)."""
        return self.start < other.start + other.size and other.start < self.start + self.size


@dataclass(frozen=True, slots=True)
class Placement(_UnitRange):
    """THE placement range ``{start, size}`` in placement units: NVML's ``nvmlGpuInstancePlacement_t``
    (nvml.h), which HAMi's ``device.MigPlacement{Start, Size}`` mirrors (HAMi v2.10.0 pkg/device; published
    per profile by plugin/register.go RegisterInAnnotation).

    One type for every placement: a placed instance's :attr:`PlacedInstance.placement`, the register
    annotation's ``migProfiles`` placements and the ``hami.io/vgpu-mig-allocations`` entries
    (``migctl.cluster.codecs``), the simulator's reservations and the instances ``migctl status`` shows.
    """

    start: int
    size: int


@dataclass(frozen=True, order=True)
class PlacedInstance(_UnitRange):
    """One GPU instance of ``profile`` at NVML placement ``start`` (occupying ``size`` units)."""

    profile: str
    start: int
    size: int

    @property
    def placement(self) -> Placement:
        """Where it sits, as THE placement value."""
        return Placement(self.start, self.size)

    def __str__(self) -> str:
        return f"{self.profile}@{self.start}:{self.size}"

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "start": self.start, "size": self.size}


class HasPlacement:
    """Base of a value built around one :class:`PlacedInstance` (``placed``): its profile, start, size and placement.

    The apply planner's ``Current`` and the NVML adapter's ``GpuInstance`` add live facts (IDs,
    processes) around the one placed-instance value.
    """

    __slots__ = ()
    placed: PlacedInstance

    @property
    def profile(self) -> str:
        return self.placed.profile

    @property
    def start(self) -> int:
        return self.placed.start

    @property
    def size(self) -> int:
        return self.placed.size

    @property
    def placement(self) -> Placement:
        return self.placed.placement
