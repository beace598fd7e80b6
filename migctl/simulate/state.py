"""The scheduler's view of a cluster while pods are being placed.

These classes mirror HAMi's scheduler structures (``device.DeviceUsage``, ``NodeUsage``;
HAMi pkg/scheduler/scheduler.go getNodesUsage) plus what kube-scheduler needs from a Node (allocatable, labels, taints). They are
small mutable objects with cheap ``copy()`` so that a placement attempt copies only the node being
tried, never the whole cluster.

MIG state comes in the two generations of HAMi:

- legacy (v2.5–v2.9, HAMi v2.9.0 pkg/device/nvidia/device.go): ``templates`` (the geometries from ``knownMigGeometries``),
  ``mig_index`` (the geometry in effect) and ``usage_list`` (one :class:`MigSlot` per instance of
  that geometry, ``PlatternMIG`` order);
- current (v2.10, HAMi v2.10.0 pkg/device/nvidia/device.go selectMigCandidate): ``profiles`` (``migProfiles`` of the register annotation) and
  ``allocations`` (the reservations in use, each a profile name and a placement).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migctl.cluster.codecs import MigProfile
from migctl.cluster.usage import MODE_HAMI_CORE, MODE_MIG, DeviceUsage, MigAllocationUsage, MigTemplateUsage
from migctl.config.model import Geometry as _TemplateGeometry
from migctl.config.model import MigTemplate as _MigTemplate
from migctl.hardware.placement import Placement

MIG_MODE = MODE_MIG
HAMI_CORE_MODE = MODE_HAMI_CORE


# One type per HAMi concept, shared with the cluster reader (the names here are the simulation's):
#: a legacy geometry line ``count`` x ``name`` (HAMi ``pkg/device/nvidia`` ``MigTemplate``): the config's type
MigTemplate = _MigTemplate
#: a whole-GPU legacy geometry: its template lines (the config's ``knownMigGeometries`` entry)
Geometry = _TemplateGeometry
#: one instance of the legacy geometry in effect (HAMi ``MigTemplateUsage``)
MigSlot = MigTemplateUsage
#: a ``migProfiles`` entry published by the v2.10 device plugin
MigProfileSpec = MigProfile
# Imported above under their own names: ``Placement``, THE placement value (HAMi's ``MigPlacement{start,
# size}``, hardware.placement), and ``MigAllocationUsage``, a v2.10 reservation in use on a GPU
# (``DeviceUsage.MigAllocationsInUse``; the simulator adds one with ``MigAllocationUsage.reserve``).


def expand_geometry(geometry: Geometry) -> list[MigSlot]:
    """``PlatternMIG``: one slot per instance, in geometry order (HAMi pkg/scheduler/scheduler.go getNodesUsage)."""
    return [MigSlot(t.name, t.memory, t.core) for t in geometry for _ in range(max(t.count, 0))]


#: One GPU as HAMi's scheduler sees it (``device.DeviceUsage``): the cluster reader's type, shared.
Gpu = DeviceUsage


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str = ""
    effect: str = "NoSchedule"


@dataclass(slots=True)
class Node:
    """A node: what kube-scheduler's filters read and the GPUs HAMi registered on it."""

    name: str
    gpus: list[Gpu] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    unschedulable: bool = False
    ready: bool = True
    cpu_allocatable_m: int | None = None  # millicores; None = not limited
    memory_allocatable: int | None = None  # bytes; None = not limited
    pods_allocatable: int | None = None
    cpu_requested_m: int = 0
    memory_requested: int = 0
    pods: int = 0
    version: int = 0  # bumped on every change; lets the engine cache per-node verdicts

    def copy_gpus(self) -> list[Gpu]:
        return [g.copy() for g in self.gpus]


@dataclass(slots=True)
class ClusterState:
    """All nodes, by name, in a stable order (the order they were given)."""

    nodes: dict[str, Node] = field(default_factory=dict)
    pod_names: set[str] = field(default_factory=set)  # "namespace/name" of pods already in the cluster

    def add(self, node: Node) -> None:
        self.nodes[node.name] = node
