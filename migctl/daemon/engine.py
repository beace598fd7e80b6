"""The apply engine as the daemon sees it: read the GPUs, apply geometries, say how it went.

:class:`Engine` is the small interface the reconcile loop drives; tests give it a fake, and
:class:`NvmlEngine` implements it with the node engineer's ``migctl.apply.engine`` over an NVML
session (real, or simulated with ``MIGCTL_FAKE_NVML=PATH``). Nothing here imports ``pynvml`` at
module level.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from migctl.daemon.protocol import DISABLED, State


@dataclass(frozen=True)
class GpuInfo:
    """One physical GPU and the geometry in place on it (canonical text, or ``disabled``)."""

    index: int
    uuid: str
    model: str = ""
    geometry: str = DISABLED
    pci_device_id: int | None = None  # 0xDDDDVVVV as mig-parted's device-filter writes it


@dataclass(frozen=True)
class ApplyOutcome:
    """How one apply went. ``applied``: the geometry in place afterwards, every GPU."""

    state: State  # success | failed | refused
    applied: Mapping[int, str] = field(default_factory=dict)
    message: str | None = None
    changed: bool = False
    details: Mapping[str, object] = field(default_factory=dict)  # the engine's own report, for logs


class EngineUnavailable(Exception):
    """The GPUs cannot be read at all (NVML missing, driver not loaded)."""


class Engine(Protocol):
    def inventory(self) -> Sequence[GpuInfo]:
        """The node's GPUs in index order. Raises :class:`EngineUnavailable`."""
        ...

    def apply(self, targets: Mapping[int, str]) -> ApplyOutcome:
        """Make each GPU index in ``targets`` hold its geometry; never leave a GPU half-changed."""
        ...
