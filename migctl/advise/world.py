"""A cluster the advisor may change: delete running pods, place pods, copy itself to try things.

The state is the simulator's (:class:`migctl.simulate.ClusterState`) built the way ``migctl
simulate`` builds it (:func:`migctl.simulate.build.state_from_cluster`). Deleting a running pod of
the snapshot rebuilds its node exactly as HAMi's next scheduling cycle does: HAMi keeps no running
tally, ``getNodesUsage`` (``pkg/scheduler/scheduler.go`` at v2.9.0; ``buildNodeUsage`` at v2.10.0)
rebuilds each node's ``DeviceUsage`` from the annotations of the pods still in its cache. So the
node is rebuilt from the snapshot pods that remain (the same :func:`migctl.cluster.usage.build_node_usage`
the snapshot went through) and the pods placed here since are recorded on top, in the order they
landed: the simulator's one release mechanism, :mod:`migctl.simulate.release` (:class:`Residents`,
:func:`~migctl.simulate.release.rebuild`). A legacy MIG GPU's geometry therefore unlocks when its
last ``[t-s]`` holder leaves, v2.10 reservations go with their pod, hami-core counters fall.

Pure: no I/O. A :class:`World` is cheap to :meth:`World.copy` (nodes and GPUs are copied, the
snapshot's pod objects are shared and never mutated).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from migctl.simulate import Simulator
from migctl.simulate.fit import Allocation
from migctl.simulate.pod import PodSpec
from migctl.simulate.release import Resident, Residents
from migctl.simulate.result import PodResult
from migctl.simulate.state import ClusterState, Node


@dataclass(frozen=True, slots=True)
class Spot:
    """Where a pod runs: node, GPUs (UUIDs, in allocation order) and MIG slots (``profile`` or
    ``profile[t-s]`` for v2.9, ``profile@start`` for v2.10)."""

    node: str | None
    gpus: tuple[str, ...] = ()
    slots: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "gpus": list(self.gpus), "mig_slots": list(self.slots)}

    def text(self) -> str:
        if self.node is None:
            return "Pending"
        where = self.node
        if self.gpus:
            where += " " + ",".join(self.gpus)
        if self.slots:
            where += " (" + ",".join(self.slots) + ")"
        return where


def spot_of(result: PodResult) -> Spot:
    """Where a simulated pod landed (node None when it stays Pending)."""
    if not result.scheduled:
        return Spot(None)
    gpus = tuple(dict.fromkeys(a.gpu_id for a in result.allocations))
    slots = []
    for a in result.allocations:
        if a.profile is None:
            continue
        if a.template is not None and a.slot is not None:
            slots.append(f"{a.profile}[{a.template}-{a.slot}]")
        elif a.placement is not None:
            slots.append(f"{a.profile}@{a.placement.start}")
        else:
            slots.append(a.profile)
    return Spot(result.node, gpus, tuple(slots))


def spot_of_pod(pod: Any) -> Spot:
    """Where a running snapshot pod (:class:`migctl.cluster.model.Pod`) holds its devices."""
    gpus: list[str] = []
    slots: list[str] = []
    for ctr in pod.devices or ():
        for d in ctr:
            uuid = getattr(d, "uuid", None) or getattr(d, "id", None) or ""
            if uuid and uuid not in gpus:
                gpus.append(uuid)
            slot = getattr(d, "mig_slot", None)
            if slot:
                slots.append(f"[{slot[0]}-{slot[1]}]" if isinstance(slot, tuple) else str(slot))
    for a in pod.mig_allocations or ():
        slots.append(f"{getattr(a, 'profile', '?')}@{getattr(getattr(a, 'placement', None), 'start', '?')}")
    return Spot(pod.vgpu_node or pod.node_name, tuple(gpus), tuple(slots))


def _copy_node(node: Node) -> Node:
    return dataclasses.replace(node, gpus=node.copy_gpus())


@dataclass(slots=True)
class World:
    """The cluster, its running snapshot pods per node, and the pods placed since (per node, in order)."""

    state: ClusterState
    config: Any  # migctl.config.model.NvidiaConfig
    options: Any  # SimulationOptions
    cluster: Any  # migctl.cluster.model.Cluster (nodes; pods are those in ``running``)
    catalogue: Any
    running: dict[str, list[Any]]  # node -> snapshot pods (cluster model Pods) that count for usage
    landed: Residents = field(default_factory=Residents)  # pods placed here since (recorded again on a rebuild)
    where: dict[str, str] = field(default_factory=dict)  # running pod key -> node
    shared: set[str] = field(default_factory=set)  # nodes whose objects another world holds too (copy on write)

    def __post_init__(self) -> None:
        if not self.where:
            self.where = {p.key: n for n, pods in self.running.items() for p in pods}

    @classmethod
    def build(cls, cluster: Any, config: Any, options: Any, *, catalogue: Any = None,
              notes: list[str] | None = None, absent: set[str] | frozenset[str] = frozenset()) -> World:
        """The world of a snapshot; ``absent`` are pod keys left out (the pending pods, which the
        advisor places itself)."""
        from migctl.cluster.model import Cluster
        from migctl.simulate.build import state_from_cluster

        pods = [p for p in cluster.pods if p.key not in absent]
        view = Cluster(nodes=list(cluster.nodes), pods=pods, source=cluster.source)
        view.finish()
        state = state_from_cluster(view, config, options.version, catalogue=catalogue, notes=notes)
        state.pod_names -= set(absent)
        running: dict[str, list[Any]] = {}
        for name, on_node in view.pods_by_node().items():
            running[name] = list(on_node)
        return cls(state, config, options, view, catalogue, running)

    def copy(self) -> World:
        """An independent world. Nodes are shared with this one until either side changes them (copy
        on write: :meth:`delete` rebuilds a node into a new object, and placements go through
        :meth:`simulator`, which copies a shared node before recording a pod on it)."""
        names = set(self.state.nodes)
        self.shared = names
        state = ClusterState(dict(self.state.nodes), set(self.state.pod_names))
        return World(state, self.config, self.options, self.cluster, self.catalogue,
                     {n: list(p) for n, p in self.running.items()}, self.landed.copy(),
                     dict(self.where), set(names))

    def own(self, name: str) -> Node:
        """Node ``name`` of this world, copied first if another world holds the same object."""
        node = self.state.nodes[name]
        if name in self.shared:
            node = self.state.nodes[name] = _copy_node(node)
            self.shared.discard(name)
        return node

    def simulator(self, options: Any = None) -> Simulator:
        return _OwnSimulator(self, options or self.options)

    def place(self, pod: PodSpec, simulator: Simulator | None = None) -> PodResult:
        """Place one pod as HAMi would (a fresh simulator unless one over this world is given)."""
        sim = simulator if simulator is not None else self.simulator()
        result = sim.place(pod)
        resident = Resident.landed(pod, result)
        if resident is not None:
            self.landed.add(resident)
        return result

    def place_all(self, pods: list[PodSpec]) -> list[PodResult]:
        """Pods one after another on this world (it is mutated)."""
        sim = self.simulator()
        return [self.place(p, sim) for p in pods]

    def running_pod(self, key: str) -> Any | None:
        name = self.where.get(key)
        if name is None:
            return None
        return next((p for p in self.running[name] if p.key == key), None)

    def delete(self, key: str) -> str:
        """A running snapshot pod is deleted: its node is rebuilt without it. Returns the node name."""
        name = self.where.pop(key)
        self.running[name] = [p for p in self.running[name] if p.key != key]
        self.state.pod_names.discard(key)
        self._rebuild(name)
        return name

    def rebuilt_without(self, keys: set[str] | frozenset[str], name: str) -> Node:
        """Node ``name`` as it would be without the running pods ``keys`` (this world is not changed)."""
        return self._fresh(name, [p for p in self.running.get(name, ()) if p.key not in keys])

    def _fresh(self, name: str, pods: list[Any]) -> Node:
        from migctl.cluster.model import Cluster
        from migctl.simulate.build import state_from_cluster

        knode = self.cluster.node(name)
        one = Cluster(nodes=[knode], pods=pods, source=self.cluster.source)
        fresh = state_from_cluster(one, self.config, self.options.version, catalogue=self.catalogue,
                                   notes=[]).nodes[name]
        self.landed.restore(fresh, self.options.version)
        old = self.state.nodes.get(name)
        fresh.version = (old.version + 1) if old is not None else 0
        return fresh

    def _rebuild(self, name: str) -> None:
        self.state.nodes[name] = self._fresh(name, self.running.get(name, []))
        self.shared.discard(name)


class _OwnSimulator(Simulator):
    """The simulator over a :class:`World` whose nodes may be shared with other worlds: the node a pod
    lands on is made the world's own (copied) before the pod is recorded on it. ``Simulator._commit``
    is the one place a placement changes a node."""

    def __init__(self, world: World, options: Any) -> None:
        super().__init__(world.state, world.config, options)
        self._world = world

    def _commit(self, node: Node, p: Any, allocations: list[Allocation]) -> None:  # type: ignore[override]
        # (``Simulator.place`` reads the chosen object's GPUs afterwards only for the geometry text of
        # its result, which the advisor does not use.)
        super()._commit(self._world.own(node.name), p, allocations)
