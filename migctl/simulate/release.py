"""Departures: a placed pod leaves and its devices are free again, as HAMi's next cycle sees it.

HAMi keeps no running tally of GPU usage: every ``Filter`` call rebuilds each node's
``DeviceUsage`` from the annotations of the pods still in its cache (``getNodesUsage`` in
``pkg/scheduler/scheduler.go`` at v2.9.0, ``buildNodeUsage`` at v2.10.0). A pod that is deleted
(or Succeeded/Failed) simply drops out of that rebuild. So a departure here does the same: the
GPUs the pod held are rebuilt from their state before any tracked pod landed plus the devices of
the tracked pods that remain, in placement order, with the very function the simulator uses to
record a placement (:func:`~migctl.simulate.engine.record_pod_devices`). That is exact for both
generations, quirks included: a legacy GPU's geometry unlocks when the last pod naming one of its
``[t-s]`` slots leaves (and a slot two pods named through the v2.9 reset-branch bug stays in use
until both are gone); v2.10 reservations are dropped with their pod; hami-core counters fall back.

Use :class:`Departures` for every placement whose pod may later leave; placing pods on the same
simulator without it would make the rebuild forget them.
"""

from __future__ import annotations

from dataclasses import dataclass

from migctl.simulate.engine import Simulator, record_pod_devices
from migctl.simulate.fit import Allocation
from migctl.simulate.pod import PodSpec
from migctl.simulate.result import PodResult
from migctl.simulate.state import Gpu


@dataclass(frozen=True, slots=True)
class Resident:
    """A placed pod as the rebuild needs it."""

    key: str
    node: str
    cpu_m: int
    memory: int
    allocations: tuple[Allocation, ...]


def _blank(gpu: Gpu) -> Gpu:
    """The GPU as registered, with no pod on it."""
    g = gpu.copy()
    g.used = g.usedmem = g.usedcores = 0
    g.mig_index = -1
    g.usage_list = []
    g.allocations = []
    return g


def _idle(gpu: Gpu) -> bool:
    return (gpu.used == 0 and gpu.usedmem == 0 and gpu.usedcores == 0 and gpu.mig_index < 0
            and not gpu.usage_list and not gpu.allocations)


class Departures:
    """Places pods through a :class:`Simulator` and takes them away again.

    The GPUs that already carry usage when this object is made (running pods of a snapshot, which
    never leave) are remembered as they are; every other GPU starts blank.
    """

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self._base: dict[tuple[str, str], Gpu] = {}
        for node in simulator.state.nodes.values():
            for gpu in node.gpus:
                if not _idle(gpu):
                    self._base[(node.name, gpu.id)] = gpu.copy()
        self._residents: dict[str, Resident] = {}
        self._on_gpu: dict[tuple[str, str], dict[str, None]] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._residents

    def __len__(self) -> int:
        return len(self._residents)

    def place(self, pod: PodSpec) -> PodResult:
        """:meth:`Simulator.place`, remembering the pod when it lands."""
        result = self.simulator.place(pod)
        if result.scheduled and result.node is not None:
            if pod.key in self._residents:
                raise ValueError(f"pod {pod.key} is already placed")
            resident = Resident(pod.key, result.node, pod.cpu_request_m(), pod.memory_request(),
                                tuple(result.allocations))
            self._residents[pod.key] = resident
            for gpu_id in dict.fromkeys(a.gpu_id for a in resident.allocations):
                self._on_gpu.setdefault((result.node, gpu_id), {})[pod.key] = None
        return result

    def release(self, key: str) -> list[Gpu]:
        """The pod leaves; returns the GPUs it held, rebuilt (the live objects of the state)."""
        resident = self._residents.pop(key)
        node = self.simulator.state.nodes[resident.node]
        node.cpu_requested_m -= resident.cpu_m
        node.memory_requested -= resident.memory
        node.pods -= 1
        by_id = {g.id: g for g in node.gpus}
        version = self.simulator.options.version
        changed = []
        for gpu_id in dict.fromkeys(a.gpu_id for a in resident.allocations):
            where = (resident.node, gpu_id)
            holders = self._on_gpu[where]
            del holders[key]
            live = by_id[gpu_id]
            base = self._base.get(where)
            fresh = base.copy() if base is not None else _blank(live)
            for other in holders:
                record_pod_devices([fresh], list(self._residents[other].allocations), version)
            live.used, live.usedmem, live.usedcores = fresh.used, fresh.usedmem, fresh.usedcores
            live.mig_index, live.usage_list, live.allocations = fresh.mig_index, fresh.usage_list, fresh.allocations
            if not holders:
                del self._on_gpu[where]
            changed.append(live)
        _note_change(self.simulator, node)
        return changed


def _note_change(simulator: Simulator, node) -> None:  # type: ignore[no-untyped-def]
    """What :meth:`Simulator._commit` does after a placement: a new node version (per-node verdict
    and score caches key on it) and the node named in the change log its per-signature heaps
    replay, so the node is considered again for every pod signature."""
    node.version += 1
    simulator._changes.append(node.name)
