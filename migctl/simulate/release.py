"""Pods that landed on the simulated state, and a node or GPU rebuilt without some pod, as HAMi does.

HAMi keeps no running tally of GPU usage: every ``Filter`` call rebuilds each node's
``DeviceUsage`` from the annotations of the pods still in its cache (``getNodesUsage`` in
``pkg/scheduler/scheduler.go`` at v2.9.0, ``buildNodeUsage`` at v2.10.0). A pod that is deleted
(or Succeeded/Failed) simply drops out of that rebuild. So here a node or GPU that loses a pod is
rebuilt from a base without the pods placed since (the state as read, or as HAMi rebuilds it from
the snapshot pods that remain) plus the devices of the placed pods that remain, in placement order,
with the very function the simulator records a placement with
(:func:`~migctl.simulate.engine.record_pod_devices`). That is exact for both generations, quirks
included: a legacy GPU's geometry unlocks when the last pod naming one of its ``[t-s]`` slots leaves
(and a slot two pods named through the v2.9 reset-branch bug stays in use until both are gone);
v2.10 reservations are dropped with their pod; hami-core counters fall back.

This is the one home of that mechanism: :class:`Resident` (a placed pod as the rebuild needs it),
:class:`Residents` (them per node, in placement order), :func:`rebuild` (record them on a base) and
:class:`Departures` (place pods on a :class:`Simulator` and take them away again: trace replay).
``migctl.advise.world`` records its placed pods in a :class:`Residents` too and rebuilds a node with
:meth:`Residents.restore` after deleting a running snapshot pod.

Use :class:`Departures` for every placement whose pod may later leave; placing pods on the same
simulator without it would make the rebuild forget them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from migctl.simulate.engine import Simulator, record_pod_devices
from migctl.simulate.fit import Allocation
from migctl.simulate.pod import PodSpec
from migctl.simulate.result import PodResult
from migctl.simulate.state import Gpu, Node
from migctl.simulate.version import HamiVersion


@dataclass(frozen=True, slots=True)
class Resident:
    """A placed pod as the rebuild needs it: its node's requests and its devices (the annotations
    HAMi reads it back from)."""

    key: str
    node: str
    cpu_m: int
    memory: int
    allocations: tuple[Allocation, ...]

    @classmethod
    def landed(cls, pod: PodSpec, result: PodResult) -> Resident | None:
        """The pod as placed by ``result``; None when it did not land."""
        if not result.scheduled or result.node is None:
            return None
        return cls(pod.key, result.node, pod.cpu_request_m(), pod.memory_request(), tuple(result.allocations))

    def gpu_ids(self) -> list[str]:
        """The GPUs it holds, in allocation order, each once."""
        return list(dict.fromkeys(a.gpu_id for a in self.allocations))

    def holds(self, gpu_id: str) -> bool:
        return any(a.gpu_id == gpu_id for a in self.allocations)


def rebuild(gpus: list[Gpu], residents: Iterable[Resident], version: HamiVersion) -> None:
    """Record the residents' devices on ``gpus`` (a base without them), one pod after another in
    placement order, as HAMi's next cycle rebuilds usage from their annotations; devices on other
    GPUs are passed over."""
    for resident in residents:
        if resident.allocations:
            record_pod_devices(gpus, list(resident.allocations), version)


class Residents:
    """The pods placed since the state was read, per node in placement order (cheap to copy)."""

    __slots__ = ("_nodes",)

    def __init__(self, nodes: dict[str, list[Resident]] | None = None) -> None:
        self._nodes: dict[str, list[Resident]] = nodes if nodes is not None else {}

    def add(self, resident: Resident) -> None:
        self._nodes.setdefault(resident.node, []).append(resident)

    def remove(self, resident: Resident) -> None:
        on_node = self._nodes[resident.node]
        del on_node[next(i for i, r in enumerate(on_node) if r is resident)]
        if not on_node:
            del self._nodes[resident.node]

    def on(self, node: str) -> list[Resident]:
        """The residents of ``node``, in placement order."""
        return self._nodes.get(node, [])

    def copy(self) -> Residents:
        return Residents({n: list(rs) for n, rs in self._nodes.items()})

    def restore(self, node: Node, version: HamiVersion) -> None:
        """Add this node's residents to ``node`` (rebuilt without them): their requests and devices."""
        residents = self.on(node.name)
        for r in residents:
            node.cpu_requested_m += r.cpu_m
            node.memory_requested += r.memory
            node.pods += 1
        rebuild(node.gpus, residents, version)


def blank(gpu: Gpu) -> Gpu:
    """A copy of the GPU as registered, with no pod on it (the base of a GPU without tracked pods)."""
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
        self._by_key: dict[str, Resident] = {}
        self.residents = Residents()

    def __contains__(self, key: str) -> bool:
        return key in self._by_key

    def __len__(self) -> int:
        return len(self._by_key)

    def place(self, pod: PodSpec) -> PodResult:
        """:meth:`Simulator.place`, remembering the pod when it lands."""
        result = self.simulator.place(pod)
        resident = Resident.landed(pod, result)
        if resident is not None:
            if pod.key in self._by_key:
                raise ValueError(f"pod {pod.key} is already placed")
            self._by_key[pod.key] = resident
            self.residents.add(resident)
        return result

    def release(self, key: str) -> list[Gpu]:
        """The pod leaves; returns the GPUs it held, rebuilt (the live objects of the state)."""
        resident = self._by_key.pop(key)
        self.residents.remove(resident)
        node = self.simulator.state.nodes[resident.node]
        node.cpu_requested_m -= resident.cpu_m
        node.memory_requested -= resident.memory
        node.pods -= 1
        by_id = {g.id: g for g in node.gpus}
        version = self.simulator.options.version
        remaining = self.residents.on(node.name)
        changed = []
        for gpu_id in resident.gpu_ids():
            live = by_id[gpu_id]
            base = self._base.get((node.name, gpu_id))
            fresh = base.copy() if base is not None else blank(live)
            rebuild([fresh], (r for r in remaining if r.holds(gpu_id)), version)
            live.used, live.usedmem, live.usedcores = fresh.used, fresh.usedmem, fresh.usedcores
            live.mig_index, live.usage_list, live.allocations = fresh.mig_index, fresh.usage_list, fresh.allocations
            changed.append(live)
        self.simulator.node_changed(node)
        return changed
