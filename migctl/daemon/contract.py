"""What the reconcile loop and its engine exchange (pure: no NVML, no Kubernetes).

:class:`Engine` is the small interface the loop drives; :class:`~migctl.daemon.engine.NvmlEngine`
implements it over NVML, tests give it an in-memory fake. Geometries are
:class:`~migctl.hardware.geometry.Geometry` values (:data:`~migctl.hardware.geometry.MIG_OFF`
for MIG off); text appears only when a report is written to the Node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from migctl.node_protocol import State
from migctl.hardware.geometry import MIG_OFF, Geometry

__all__ = ["ApplyOutcome", "Engine", "EngineUnavailable", "GpuState"]


@dataclass(frozen=True)
class GpuState:
    """One physical GPU as the daemon needs it: identity and the geometry in place (the NVML
    adapter's full read is :class:`migctl.nvml.adapter.GpuInfo`; this is the part the loop decides on).

    ``geometry`` is a :class:`Geometry`; text given here (fakes, tests) is parsed once.
    """

    index: int
    uuid: str
    model: str = ""
    geometry: Geometry = MIG_OFF
    pci_device_id: int | None = None  # 0xDDDDVVVV as mig-parted's device-filter writes it
    interrupted: bool = False  # an apply died midway on this GPU (its journal is still there)

    def __post_init__(self) -> None:
        if not isinstance(self.geometry, Geometry):
            object.__setattr__(self, "geometry", Geometry.of(self.geometry))


@dataclass(frozen=True)
class ApplyOutcome:
    """How one apply went. ``applied``: the geometry in place afterwards, every GPU."""

    state: State  # success | failed | refused
    applied: Mapping[int, Geometry] = field(default_factory=dict)
    message: str | None = None
    changed: bool = False
    details: Mapping[str, object] = field(default_factory=dict)  # the engine's own report, for logs


class EngineUnavailable(Exception):
    """The GPUs cannot be read at all (NVML missing, driver not loaded)."""


class EngineStopped(Exception):
    """The apply did not start because the daemon is stopping (it gave up waiting for the node lock);
    nothing changed, and the request stays for the next start to answer."""


class Engine(Protocol):
    def inventory(self) -> Sequence[GpuState]:
        """The node's GPUs in index order. Raises :class:`EngineUnavailable`."""
        ...

    def plan(self, targets: Mapping[int, Geometry]) -> ApplyOutcome | None:
        """Check ``targets`` without changing anything: ``None`` when the apply may go ahead, else
        the ``refused``/``failed`` outcome it would have (busy instances, impossible geometry)."""
        ...

    def apply(self, targets: Mapping[int, Geometry]) -> ApplyOutcome:
        """Make each GPU index in ``targets`` hold its geometry; never leave a GPU half-changed."""
        ...
