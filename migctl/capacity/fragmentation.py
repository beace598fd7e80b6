"""Stranded GPU capacity: the fragmentation measure of FGD (Weng et al., USENIX ATC'23).

FGD ("Beware of Fragmentation: Scheduling GPU-Sharing Workloads with Fragmentation Gradient Descent",
https://www.usenix.org/conference/atc23/presentation/weng) defines a GPU's *fragment* for a task as its
free capacity when the task cannot run there, else 0, and the *expected fragmentation* as that fragment
weighted by each task shape's share of the workload. Here:

- free capacity is free GPU memory, ``totalmem - usedmem`` of HAMi's ``DeviceUsage``;
- "can run there" is the simulator's own per-GPU answer, HAMi's ``Fit`` on that GPU alone (MIG template
  or profile choice included) for one device of the shape; a shape asking for several GPUs also needs the
  whole node to fit it, or every GPU of the node is a fragment for it;
- a shape that could not run on the GPU even when it is idle (another ``vgpu-mode``, a GPU type it
  excludes, more memory than the GPU has) is *out of scope* for that GPU: the GPU's fragment weighs only
  the shapes in scope (weights renormalised). FGD's tasks have no vgpu-mode; without this rule a
  MIG/hami-core split would read as fragmentation. A GPU no shape can use reports ``in_scope: false``
  and strands nothing;
- MIG GPUs name the cause: ``locked_geometry`` (v2.9: memory a locked geometry does not carve, given
  out only when the GPU is idle again), ``small_slots`` (v2.9: free carved slots too small for the
  shape), ``uncovered_units`` (v2.10: free placement units no profile placement covers) and
  ``small_placements`` (v2.10: free placements too small); hami-core GPUs ``memory``, ``slots``,
  ``cores``; also ``unhealthy``, ``cordoned``, ``node_gpus`` (the node cannot give a multi-GPU shape
  its GPUs), or HAMi's reason name.

API (stable; ``migctl replay`` calls it per event)::

    from migctl.capacity.fragmentation import cluster_fragmentation, FragmentationCache, Fragmentation
    frag = cluster_fragmentation(state, config, options, [(shape, weight), ...], cache=None)
    frag.fgd            # float 0..1: expected stranded free memory / free memory (0 when nothing is free)
    frag.free_mib       # int: free GPU memory in the cluster
    frag.stranded_mib   # float: expected fragmented free memory (MiB)
    frag.nodes          # tuple[NodeFragmentation(name, free_mib, stranded_mib, gpus)]
    frag.nodes[0].gpus  # tuple[GpuFragmentation(node, gpu_id, index, mode, type, total_mib, free_mib,
                        #   stranded_mib, in_scope, runs, reasons, causes, free_slots, uncarved_mib,
                        #   free_units, uncovered_units)]
    frag.to_dict()      # the JSON form `migctl capacity -o json` prints under "fragmentation"

``state`` is a :class:`migctl.simulate.ClusterState`, ``config`` a :class:`migctl.config.model.NvidiaConfig`,
``options`` a :class:`migctl.simulate.SimulationOptions` (version and policies), shapes
:class:`~migctl.capacity.shapes.Shape` with weights (normalised here). Nothing is mutated.

Speed: pass one :class:`FragmentationCache` to every call for the same config, options and shapes. GPU
answers are memoised by the GPU's state (identical GPUs are computed once), node answers by node
object and ``Node.version``: whoever changes a node must bump ``version``, as
:class:`migctl.simulate.Simulator` does (its own caches rely on it too). A call after one placement then
recomputes one node.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from migctl.capacity import _hami
from migctl.capacity.shapes import Shape

# HAMi's reason names (pkg/device/common/common.go) mapped to the plain causes reported for hami-core GPUs
_REASON_CAUSE = {
    "CardInsufficientMemory": "memory",
    "CardTimeSlicingExhausted": "slots",
    "CardInsufficientCore": "cores",
    "CardComputeUnitsExhausted": "cores",
    "ExclusiveDeviceAllocateConflict": "cores",
}


@dataclass(frozen=True, slots=True)
class GpuFragmentation:
    node: str
    gpu_id: str
    index: int
    mode: str
    type: str
    total_mib: int
    free_mib: int
    stranded_mib: float
    in_scope: bool
    runs: tuple[bool | None, ...]  # per shape: can run now; None: out of scope for this GPU
    reasons: tuple[str, ...]  # per shape: HAMi's reason when it cannot run ("" when it can)
    causes: dict[str, float]  # stranded MiB by cause (sums to stranded_mib)
    free_slots: tuple[str, ...] = ()  # v2.9 MIG: free carved slots (profile names) of the locked geometry
    uncarved_mib: int | None = None  # v2.9 MIG, locked: memory the geometry does not carve
    free_units: tuple[int, ...] | None = None  # v2.10 MIG: placement units no reservation holds
    uncovered_units: tuple[int, ...] | None = None  # v2.10 MIG: free units no free profile placement covers

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "uuid": self.gpu_id, "index": self.index, "mode": self.mode, "type": self.type,
            "total_mib": self.total_mib, "free_mib": self.free_mib, "stranded_mib": round(self.stranded_mib),
            "in_scope": self.in_scope, "fits": list(self.runs), "reasons": list(self.reasons),
            "causes": _rounded(self.causes),
        }
        if self.uncarved_mib is not None or self.free_slots:
            out["free_slots"] = list(self.free_slots)
            out["uncarved_mib"] = self.uncarved_mib
        if self.free_units is not None:
            out["free_units"] = list(self.free_units)
            out["uncovered_units"] = list(self.uncovered_units or ())
        return out


def _sum_causes(gpus: Iterable[GpuFragmentation]) -> dict[str, float]:
    """The stranded MiB per cause over ``gpus``, added up in their order."""
    out: dict[str, float] = {}
    for g in gpus:
        for k, v in g.causes.items():
            out[k] = out.get(k, 0.0) + v
    return out


def _rounded(causes: dict[str, float]) -> dict[str, int]:
    """Causes as reported: whole MiB, by name."""
    return {k: round(v) for k, v in sorted(causes.items())}


@dataclass(frozen=True, slots=True)
class NodeFragmentation:
    name: str
    free_mib: int
    stranded_mib: float
    gpus: tuple[GpuFragmentation, ...]

    @property
    def ratio(self) -> float:
        return self.stranded_mib / self.free_mib if self.free_mib else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "free_mib": self.free_mib, "stranded_mib": round(self.stranded_mib),
                "fgd": round(self.ratio, 4), "causes": _rounded(_sum_causes(self.gpus)),
                "gpus": [g.to_dict() for g in self.gpus]}


@dataclass(frozen=True, slots=True)
class Fragmentation:
    free_mib: int
    stranded_mib: float
    fgd: float
    nodes: tuple[NodeFragmentation, ...]
    shapes: tuple[tuple[Shape, float], ...] = ()  # normalised weights

    def causes(self) -> dict[str, float]:
        return _sum_causes(g for n in self.nodes for g in n.gpus)

    def node(self, name: str) -> NodeFragmentation | None:
        return next((n for n in self.nodes if n.name == name), None)

    def to_dict(self, *, nodes: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cluster": {"free_mib": self.free_mib, "stranded_mib": round(self.stranded_mib),
                        "fgd": round(self.fgd, 4), "causes": _rounded(self.causes())},
            "weights": [{"shape": str(s), "weight": round(w, 4)} for s, w in self.shapes],
        }
        if nodes:
            out["nodes"] = [n.to_dict() for n in self.nodes]
        return out


@dataclass(slots=True)
class FragmentationCache:
    """Memo for repeated calls with the same config, options and shapes (see the module docstring)."""

    binding: tuple = ()
    prepared: list = field(default_factory=list)  # per shape: (one-GPU pod, whole pod or None)
    weights: tuple[float, ...] = ()
    gpus: dict[tuple, tuple] = field(default_factory=dict)  # GPU state key -> per-GPU answer
    scope: dict[tuple, tuple[bool, ...]] = field(default_factory=dict)  # static GPU key -> in scope per shape
    nodes: dict[str, tuple[Any, int, NodeFragmentation]] = field(default_factory=dict)  # name -> (node, version, answer)

    def bind(self, config: Any, options: Any, shapes: Sequence[tuple[Shape, float]]) -> None:
        binding = (id(config), config, options, tuple(shapes))
        if binding == self.binding:
            return
        self.binding = binding
        self.gpus.clear()
        self.scope.clear()
        self.nodes.clear()
        total = sum(max(float(w), 0.0) for _, w in shapes)
        if total <= 0:
            raise ValueError("shape weights must add up to more than 0")
        self.weights = tuple(max(float(w), 0.0) / total for _, w in shapes)
        self.prepared = []
        for i, (shape, _) in enumerate(shapes):
            one = _hami.prepare(shape.with_count(1).to_pod(config, name=f"fgd-{i}"), config, options)
            whole = _hami.prepare(shape.to_pod(config, name=f"fgd-{i}"), config, options) if shape.count > 1 else None
            self.prepared.append((one, whole))


def cluster_fragmentation(state: Any, config: Any, options: Any, shapes: Sequence[tuple[Shape, float]],
                          *, cache: FragmentationCache | None = None) -> Fragmentation:
    """Per GPU, node and cluster: free memory and the expected stranded part (see the module docstring)."""
    shapes = tuple(shapes)
    if not shapes:
        raise ValueError("fragmentation needs at least one shape")
    cache = cache if cache is not None else FragmentationCache()
    cache.bind(config, options, shapes)
    nodes = []
    free = 0
    stranded = 0.0
    for name, node in state.nodes.items():
        hit = cache.nodes.get(name)
        if hit is not None and hit[0] is node and hit[1] == node.version:
            nf = hit[2]
        else:
            nf = _node_fragmentation(node, cache, options)
            cache.nodes[name] = (node, node.version, nf)
        nodes.append(nf)
        free += nf.free_mib
        stranded += nf.stranded_mib
    return Fragmentation(free, stranded, stranded / free if free else 0.0, tuple(nodes),
                         tuple((s, w) for (s, _), w in zip(shapes, cache.weights)))


def node_fragmentation(node: Any, config: Any, options: Any, shapes: Sequence[tuple[Shape, float]],
                       *, cache: FragmentationCache | None = None) -> NodeFragmentation:
    """One node's fragmentation (what :func:`cluster_fragmentation` computes per node)."""
    cache = cache if cache is not None else FragmentationCache()
    cache.bind(config, options, tuple(shapes))
    return _node_fragmentation(node, cache, options)


# ---------------------------------------------------------------------- internals


def _static_key(g: Any) -> tuple:
    return (g.type, g.mode, g.count, g.totalmem, g.totalcore, g.templates, g.profiles)


def _idle(g: Any) -> Any:
    c = _hami.blank(g)
    c.health, c.cordoned = True, False
    return c


def _in_scope(g: Any, cache: FragmentationCache, version: Any) -> tuple[bool, ...]:
    key = _static_key(g)
    hit = cache.scope.get(key)
    if hit is None:
        idle = [_idle(g)]
        hit = cache.scope[key] = tuple(_hami.fits_on(idle, one, version)[0] for one, _ in cache.prepared)
    return hit


def _gpu_answer(g: Any, cache: FragmentationCache, version: Any) -> tuple:
    """(free, runs, reasons, mig facts, per-shape cause split) for one GPU state, memoised."""
    key = _hami.gpu_state_key(g)
    hit = cache.gpus.get(key)
    if hit is not None:
        return hit
    scope = _in_scope(g, cache, version)
    free = max(0, g.totalmem - g.usedmem)
    runs: list[bool | None] = []
    reasons: list[str] = []
    for (one, _), ok_idle in zip(cache.prepared, scope):
        if not ok_idle:
            runs.append(None)
            reasons.append("")
            continue
        ok, reason = _hami.fits_on([g], one, version)
        runs.append(ok)
        reasons.append("" if ok else reason)
    facts, split = _mig_facts(g, free, version)
    answer = (free, tuple(runs), tuple(reasons), facts, split)
    cache.gpus[key] = answer
    return answer


def _mig_facts(g: Any, free: int, version: Any) -> tuple[dict[str, Any], dict[str, float] | None]:
    """MIG facts for the report and how a MIG GPU's stranded memory divides between causes (shares)."""
    if not g.is_mig:
        return {}, None
    if version.legacy:
        locked = any(s.in_use for s in g.usage_list)
        if not locked:
            return {}, None
        free_slots = tuple(s.name for s in g.usage_list if not s.in_use)
        slot_mem = min(free, sum(s.memory for s in g.usage_list if not s.in_use))
        uncarved = max(0, g.totalmem - sum(s.memory for s in g.usage_list))
        split = {"small_slots": slot_mem / free, "locked_geometry": 1 - slot_mem / free} if free else {}
        return {"free_slots": free_slots, "uncarved_mib": uncarved}, split
    units = max((p.start + p.size for prof in g.profiles for p in prof.placements), default=0)
    held = [a.placement for a in g.allocations]
    free_units = [u for u in range(units) if not any(p.start <= u < p.start + p.size for p in held)]
    covered: set[int] = set()
    for prof in g.profiles:
        for p in prof.placements:
            if not any(p.overlaps(h) for h in held):
                covered.update(range(p.start, p.start + p.size))
    uncovered = tuple(u for u in free_units if u not in covered)
    share = len(uncovered) / len(free_units) if free_units else 0.0
    split = {"uncovered_units": share, "small_placements": 1 - share} if held else None
    return {"free_units": tuple(free_units), "uncovered_units": uncovered}, split


def _node_fragmentation(node: Any, cache: FragmentationCache, options: Any) -> NodeFragmentation:
    version = options.version
    weights = cache.weights
    node_fails: list[bool] = []
    for one, whole in cache.prepared:
        node_fails.append(whole is not None and not _hami.fits_on(node.gpus, whole, version)[0])
    gpus = []
    free_total = 0
    stranded_total = 0.0
    for g in node.gpus:
        free, runs, reasons, facts, split = _gpu_answer(g, cache, version)
        scope_w = sum(w for w, r in zip(weights, runs) if r is not None)
        causes: dict[str, float] = {}
        stranded = 0.0
        if scope_w > 0 and free > 0:
            for w, r, reason, nfail in zip(weights, runs, reasons, node_fails):
                if r is None or (r and not nfail):
                    continue
                amount = free * w / scope_w
                stranded += amount
                for cause, share in _causes(g, r, reason, split).items():
                    if share:
                        causes[cause] = causes.get(cause, 0.0) + amount * share
        free_total += free
        stranded_total += stranded
        gpus.append(GpuFragmentation(
            node.name, g.id, g.index, g.mode, g.type, g.totalmem, free, stranded, scope_w > 0,
            tuple(None if r is None else (r and not nf) for r, nf in zip(runs, node_fails)),
            tuple(reason if reason or not nf or r is None else "node_gpus"
                  for reason, r, nf in zip(reasons, runs, node_fails)),
            causes, **facts))
    return NodeFragmentation(node.name, free_total, stranded_total, tuple(gpus))


def _causes(g: Any, runs_alone: bool, reason: str, split: dict[str, float] | None) -> dict[str, float]:
    if runs_alone:
        return {"node_gpus": 1.0}  # this GPU could take a device; the node cannot give them all
    if not g.health:
        return {"unhealthy": 1.0}
    if g.cordoned:
        return {"cordoned": 1.0}
    if split:
        return split
    return {_REASON_CAUSE.get(reason, reason or "other"): 1.0}
