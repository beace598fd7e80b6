"""The whole ``migctl capacity`` report for one cluster: headroom per shape, now and on an empty cluster,
and the fragmentation measure, with a one-node drill-down.

API (stable)::

    from migctl.capacity.report import capacity_report, CapacityReport
    report = capacity_report(cluster, hami_version="auto", node_policy="binpack", gpu_policy="spread",
                             node_score="hami", shapes=None, workload=None, node=None, catalogue=None)
    report.to_dict()   # the `migctl capacity -o json` document (README, "migctl capacity")

``cluster`` is a :class:`migctl.cluster.model.Cluster` with its device-config attached (what
``migctl status``/``simulate`` load); ``shapes`` a list of ``(Shape, weight)`` (default:
:func:`~migctl.capacity.shapes.default_shapes`), ``workload`` a list of pod specs whose distinct shapes
are used instead (weights: their share). "Empty" is the same nodes and config with no pod that holds
GPUs (pods without ``hami.io/vgpu-node`` stay, so the nodes' pod counts and CPU stay as they are).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from migctl.capacity.fragmentation import Fragmentation, FragmentationCache, NodeFragmentation, cluster_fragmentation
from migctl.capacity.headroom import Headroom, headroom
from migctl.capacity.shapes import Shape, ShapeError, default_shapes, shapes_from_pods


@dataclass(frozen=True, slots=True)
class ShapeCapacity:
    shape: Shape
    weight: float
    now: Headroom
    empty: Headroom

    def to_dict(self) -> dict[str, Any]:
        return {
            "shape": str(self.shape), "weight": round(self.weight, 4),
            "fits_now": self.now.fits, "fits_empty": self.empty.fits,
            "by_node": dict(self.now.by_node), "next_failure": self.now.next_failure,
            "by_node_empty": dict(self.empty.by_node), "next_failure_empty": self.empty.next_failure,
            "method": self.now.method,
        }


@dataclass(frozen=True, slots=True)
class SlotDrawing:
    """One MIG GPU's placement grid for the drill-down: instances and the free units nothing can use."""

    units: int
    instances: tuple[tuple[str, int, int, bool], ...]  # (profile, start, size, in use)
    unplaced: tuple[tuple[str, bool], ...] = ()  # legacy slots the solver could not put on the grid
    stranded_units: tuple[int, ...] = ()  # free units no shape in scope can use now

    def to_dict(self) -> dict[str, Any]:
        return {"units": self.units,
                "instances": [{"profile": p, "start": s, "size": z, "in_use": u} for p, s, z, u in self.instances],
                "unplaced": [{"profile": p, "in_use": u} for p, u in self.unplaced],
                "stranded_units": list(self.stranded_units)}


@dataclass(slots=True)
class CapacityReport:
    version: str
    version_note: str
    source: str
    shapes: list[ShapeCapacity]
    fragmentation: Fragmentation
    notes: list[str] = field(default_factory=list)
    node: NodeFragmentation | None = None
    drawings: dict[str, SlotDrawing] = field(default_factory=dict)  # gpu id -> grid (with --node)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "hami_version": self.version,
            "hami_version_note": self.version_note,
            "source": self.source,
            "shapes": [s.to_dict() for s in self.shapes],
            "fragmentation": self.fragmentation.to_dict(),
            "notes": list(self.notes),
        }
        if self.node is not None:
            node = self.node.to_dict()
            for g in node["gpus"]:
                d = self.drawings.get(g["uuid"])
                g["layout"] = d.to_dict() if d is not None else None
            out["node"] = node
        return out


def scheduler_config(cluster: Any) -> Any:
    """The ``nvidia`` section of the cluster's device-config the scheduler runs with (HAMi's defaults without one)."""
    from migctl.config.model import scheduler_nvidia_config

    return scheduler_nvidia_config(getattr(cluster, "device_config", None))


def capacity_report(cluster: Any, *, hami_version: str = "auto", node_policy: str = "binpack",
                    gpu_policy: str = "spread", node_score: str = "hami",
                    shapes: Sequence[tuple[Shape, float]] | None = None, workload: Sequence[Any] | None = None,
                    node: str | None = None, catalogue: Any = None, config: Any = None,
                    on_step: Callable[[str], None] | None = None) -> CapacityReport:
    """Headroom per shape (now and empty) and fragmentation; ``ShapeError`` for a shape HAMi cannot
    be asked for under this config, ``KeyError`` for an unknown ``node``."""
    from migctl.simulate import HamiVersion, SimulationOptions
    from migctl.simulate.build import evidence_from_cluster, state_from_cluster
    from migctl.simulate.version import infer_version

    config = config if config is not None else scheduler_config(cluster)
    if hami_version == "auto":
        version, version_note = infer_version(evidence_from_cluster(cluster, config))
    else:
        version, version_note = HamiVersion(hami_version), f"HAMi {hami_version} (--hami-version)"
    options = SimulationOptions(version=version, node_policy=node_policy, gpu_policy=gpu_policy, node_score=node_score)
    notes: list[str] = []
    state = state_from_cluster(cluster, config, version, catalogue=catalogue, notes=notes)
    if node is not None and node not in state.nodes:
        raise KeyError(node)
    empty_cluster = replace(cluster, pods=[p for p in cluster.pods if not p.counts_for_usage])
    empty = state_from_cluster(empty_cluster, config, version, catalogue=catalogue, notes=[])
    if workload is not None:
        chosen, wnotes = shapes_from_pods(list(workload), config)
        notes += wnotes
        if not chosen:
            raise ShapeError("no pod in the workload asks for a GPU")
    elif shapes:
        chosen = list(shapes)
    else:
        chosen = default_shapes(state, config)
        if not chosen:
            notes.append("the cluster has no GPUs HAMi registered: no default shapes")
    for s, _ in chosen:
        s.to_pod(config)  # a shape the config cannot express fails here, before any work
    results = []
    for s, w in chosen:
        if on_step:
            on_step(str(s))
        results.append(ShapeCapacity(s, w, headroom(state, config, options, s),
                                     headroom(empty, config, options, s)))
    total = sum(w for _, w in chosen)
    results = [replace(r, weight=r.weight / total) if total else r for r in results]
    if on_step:
        on_step("fragmentation")
    frag = (cluster_fragmentation(state, config, options, chosen, cache=FragmentationCache()) if chosen
            else Fragmentation(0, 0.0, 0.0, ()))
    report = CapacityReport(version.value, version_note, getattr(cluster, "source", "") or "live cluster",
                            results, frag, list(dict.fromkeys(notes)))
    if node is not None:
        report.node = frag.node(node) or NodeFragmentation(node, 0, 0.0, ())
        report.drawings = _drawings(state.nodes[node], report.node, version, catalogue)
    return report


# ---------------------------------------------------------------------- the drill-down's slot drawing


def _drawings(node: Any, nf: NodeFragmentation, version: Any, catalogue: Any) -> dict[str, SlotDrawing]:
    out: dict[str, SlotDrawing] = {}
    by_id = {g.gpu_id: g for g in nf.gpus}
    for gpu in node.gpus:
        if not gpu.is_mig:
            continue
        frag = by_id.get(gpu.id)
        nothing_runs = frag is not None and frag.in_scope and not any(frag.runs)
        if version.legacy:
            out[gpu.id] = _legacy_drawing(gpu, catalogue, nothing_runs)
        else:
            units = max((p.start + p.size for prof in gpu.profiles for p in prof.placements), default=0)
            inst = tuple(sorted(((a.profile, a.placement.start, a.placement.size, True) for a in gpu.allocations),
                                key=lambda i: i[1]))
            free = frag.free_units or () if frag else ()
            stranded = tuple(free) if nothing_runs else tuple(frag.uncovered_units or ()) if frag else ()
            out[gpu.id] = SlotDrawing(units, inst, (), stranded)
    return out


def _legacy_drawing(gpu: Any, catalogue: Any, nothing_runs: bool) -> SlotDrawing:
    """The geometry in effect on the model's grid (slot k of a profile at that profile's k-th placement
    where the solver puts the geometry, as ``migctl status`` draws it); uncarved units are stranded
    while the geometry is locked, free slots too when no shape in scope can run on the GPU."""
    slots = gpu.usage_list
    match = catalogue.lookup(gpu.type) if catalogue is not None else None
    model = match.model if match is not None else None
    units = getattr(model, "placement_units", 0) or 0
    spots: dict[str, list[tuple[int, int]]] = {}
    if model is not None and slots:
        counts: dict[str, int] = {}
        for s in slots:
            counts[s.name] = counts.get(s.name, 0) + 1
        try:
            from migctl.hardware.solver import solve

            solution = solve(model, counts)
            if solution.feasible:
                for p in sorted(solution.placements, key=lambda p: p.start):
                    spots.setdefault(p.profile, []).append((p.start, p.size))
        except (ValueError, KeyError):
            spots = {}
    taken: dict[str, int] = {}
    placed, unplaced = [], []
    for s in slots:
        k = taken.get(s.name, 0)
        taken[s.name] = k + 1
        where = spots.get(s.name) or spots.get(_canonical(model, s.name)) or []
        if k < len(where):
            placed.append((s.name, where[k][0], where[k][1], s.in_use))
        else:
            unplaced.append((s.name, s.in_use))
    locked = any(s.in_use for s in slots)
    covered = {u for _, start, size, _ in placed for u in range(start, start + size)}
    stranded = set()
    if locked:
        stranded = {u for u in range(units) if u not in covered}
        if nothing_runs:
            stranded |= {u for _, start, size, used in placed if not used for u in range(start, start + size)}
    return SlotDrawing(units, tuple(sorted(placed, key=lambda i: i[1])), tuple(unplaced), tuple(sorted(stranded)))


def _canonical(model: Any, name: str) -> str:
    profile = model.profile(name) if model is not None else None
    return profile.name if profile is not None else name
