"""A bounded defragmentation plan: at most N pod moves that make the most pending GPU pods schedulable.

A *move* deletes a running pod that a controller recreates (owner ``ReplicaSet``, ``StatefulSet`` or
``Job``); HAMi then places the new pod. The plan is simulated in its own order on a
:class:`~migctl.advise.world.World`: the deleted pod's node is rebuilt as HAMi's next cycle rebuilds
it (a legacy MIG GPU whose last slot holder left unlocks its geometry), then the recreated pod is
placed by the simulator; it must land, or the move is not a move. Pods that are never moved, listed
as *blocked*: bare pods (no controller owner), pods of other owners (a DaemonSet pod comes back on the
same node), pods covered by a PodDisruptionBudget with no disruption left in the snapshot (the
plan also spends one disruption per move from every budget covering the moved pod), pods already
terminating.

Search (greedy, deterministic, bounded): each step considers *units*, one movable pod or all the
movable pods of one GPU (a locked MIG geometry unlocks only when its last holder leaves, so two moves
may be needed before anything improves; the pods of a unit are deleted together, then recreated in
order). Only units that pass a one-node test (without them, some pending pod fits on their node) are
evaluated in full when any does, in order of promise (pods asking for less than the pending pods,
fewer pods, source nodes the node policy likes least). A full evaluation places the recreated pods on
the whole cluster, then the pending pods on the nodes where one could fit plus the nodes the unit
changed (exact: HAMi's fit on a node depends on that node alone), and scores (pending pods placed,
FGD stranded memory for the pending pods' shapes, fewer moves). A step takes the best of the first
improving unit and the ``PATIENCE`` units after it. The search stops at ``max_moves``, when no unit
improves, or at the deadline (the best plan so far).

Proof: :func:`replay_plan` applies the moves in plan order on a fresh world, checks every recreated
pod lands where the plan says, then places every pending pod: the before/after per pending pod and
the figures reported come from that replay, never from the search.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from migctl.advise.world import Spot, World, _copy_node, spot_of, spot_of_pod
from migctl.simulate.pod import PodSpec, pod_from_object
from migctl.simulate.state import ClusterState

CONTROLLERS = ("ReplicaSet", "StatefulSet", "Job")

#: annotations HAMi's scheduler and device plugin write on a pod; a recreated pod does not carry them
_RUNTIME_ANNOTATIONS = (
    "hami.io/vgpu-devices-to-allocate", "hami.io/vgpu-devices-allocated", "hami.io/vgpu-node",
    "hami.io/vgpu-time", "hami.io/bind-time", "hami.io/bind-phase", "hami.io/vgpu-mig-allocations",
)


class DefragError(ValueError):
    """A plan that does not replay as it claims (a bug, never a user error)."""


# ------------------------------------------------------------------ inputs


@dataclass(frozen=True, slots=True)
class RunningPod:
    """A running pod as defrag sees it: who owns it, its labels, and the pod its controller recreates."""

    namespace: str
    name: str
    owner_kind: str | None
    owner_name: str | None
    labels: dict[str, str]
    recreated: PodSpec  # the same spec, not bound, without HAMi's runtime annotations
    deleting: bool = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def from_object(cls, obj: dict[str, Any], *, source: str = "") -> RunningPod:
        """From a Pod object (a dict as ``kubectl get -o yaml`` prints it); ValueError naming the field."""
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        owner_kind = owner_name = None
        for ref in meta.get("ownerReferences") or ():
            if isinstance(ref, dict) and ref.get("controller"):
                owner_kind, owner_name = str(ref.get("kind") or ""), str(ref.get("name") or "")
                break
        else:
            refs = [r for r in meta.get("ownerReferences") or () if isinstance(r, dict)]
            if refs:  # an owner that is not marked controller still owns it; report it as such
                owner_kind, owner_name = str(refs[0].get("kind") or ""), str(refs[0].get("name") or "")
        labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        spec = pod_from_object(obj, source=source)
        annotations = {k: v for k, v in spec.annotations.items() if k not in _RUNTIME_ANNOTATIONS}
        recreated = dataclasses.replace(spec, node_name="", annotations=annotations,
                                        source=source or f"recreated {spec.namespace}/{spec.name}")
        return cls(spec.namespace, spec.name, owner_kind, owner_name, labels, recreated,
                   bool(meta.get("deletionTimestamp")))


@dataclass(frozen=True, slots=True)
class DisruptionBudget:
    """A PodDisruptionBudget: which pods it covers and how many disruptions it allows now."""

    namespace: str
    name: str
    match_labels: tuple[tuple[str, str], ...]
    match_expressions: tuple[tuple[str, str, tuple[str, ...]], ...]
    disruptions_allowed: int

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> DisruptionBudget:
        """``status.disruptionsAllowed`` as the disruption controller computed it in the snapshot;
        without a status, ``currentHealthy - desiredHealthy`` when given, else 0 (nothing allowed)."""
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
        selector = spec.get("selector") if isinstance(spec.get("selector"), dict) else {}
        labels = tuple(sorted((str(k), str(v)) for k, v in (selector.get("matchLabels") or {}).items()))
        exprs = []
        for e in selector.get("matchExpressions") or ():
            if isinstance(e, dict):
                exprs.append((str(e.get("key") or ""), str(e.get("operator") or ""),
                              tuple(str(v) for v in e.get("values") or ())))
        allowed = status.get("disruptionsAllowed")
        if not isinstance(allowed, int):
            healthy, desired = status.get("currentHealthy"), status.get("desiredHealthy")
            allowed = healthy - desired if isinstance(healthy, int) and isinstance(desired, int) else 0
        return cls(str(meta.get("namespace") or "default"), str(meta.get("name") or ""), labels,
                   tuple(exprs), max(int(allowed), 0))

    def covers(self, pod: RunningPod) -> bool:
        """The policy/v1 selector rule: an empty selector selects every pod of the namespace."""
        if pod.namespace != self.namespace:
            return False
        for k, v in self.match_labels:
            if pod.labels.get(k) != v:
                return False
        for k, op, values in self.match_expressions:
            has = k in pod.labels
            if op == "In" and not (has and pod.labels[k] in values):
                return False
            if op == "NotIn" and has and pod.labels[k] in values:
                return False
            if op == "Exists" and not has:
                return False
            if op == "DoesNotExist" and has:
                return False
        return True


# ------------------------------------------------------------------ outputs


@dataclass(frozen=True, slots=True)
class Move:
    """One pod moved. Moves of one ``step`` are deleted together (all of them before the scheduler
    places the first recreated pod: emptying a GPU can take more than one pod), then the recreated
    pods are placed in plan order."""

    pod: str
    from_node: str
    from_gpus: tuple[str, ...]
    to: Spot
    step: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"pod": self.pod, "from_node": self.from_node, "from_gpus": list(self.from_gpus),
                "to_node": self.to.node, "to_gpus": list(self.to.gpus), "to_mig_slots": list(self.to.slots),
                "step": self.step}


@dataclass(frozen=True, slots=True)
class Blocked:
    pod: str
    node: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"pod": self.pod, "node": self.node, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class PendingChange:
    pod: str
    before: Spot
    after: Spot

    def to_dict(self) -> dict[str, Any]:
        return {"pod": self.pod, "before": self.before.to_dict(), "after": self.after.to_dict()}


@dataclass(slots=True)
class DefragPlan:
    moves: list[Move]
    blocked: list[Blocked]
    pending: list[PendingChange]
    fgd_before: float
    fgd_after: float
    steps: list[dict[str, Any]] = field(default_factory=list)  # the proof: pending placed after each move
    tried: int = 0
    stopped: str = "no move improves"  # or "max moves", "deadline"
    explain: list[str] = field(default_factory=list)

    @property
    def pending_before(self) -> int:
        return sum(1 for p in self.pending if p.before.node is None)

    @property
    def pending_after(self) -> int:
        return sum(1 for p in self.pending if p.after.node is None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "moves": [m.to_dict() for m in self.moves], "blocked": [b.to_dict() for b in self.blocked],
            "pending_pods": len(self.pending), "pending_before": self.pending_before,
            "pending_after": self.pending_after, "fgd_before": round(self.fgd_before, 6),
            "fgd_after": round(self.fgd_after, 6), "pending": [p.to_dict() for p in self.pending],
            "steps": self.steps, "tried": self.tried, "stopped": self.stopped,
        }

    def kubectl(self) -> list[str]:
        """The commands that carry the plan out, in order (``kubectl delete pod -n NS NAME``); the pods of
        one step are deleted together (``--wait=false`` on all but the last, so none is recreated and
        placed before the others are gone)."""
        out = []
        for i, m in enumerate(self.moves):
            ns, _, name = m.pod.partition("/")
            together = i + 1 < len(self.moves) and self.moves[i + 1].step == m.step
            out.append(f"kubectl delete pod -n {ns} {name}" + (" --wait=false" if together else ""))
        return out


# ------------------------------------------------------------------ the search


@dataclass(frozen=True, slots=True)
class _Unit:
    pods: tuple[str, ...]  # running pod keys, deleted in this order
    label: str


@dataclass(slots=True)
class _Base:
    open: set[str]
    placed: int
    stranded: float
    per_node: dict[str, float]


PATIENCE = 6  # candidates tried after the first that improves, before a step takes the best of them


@dataclass(slots=True)
class _Outcome:
    world: World  # after the unit's moves (pending pods not placed)
    moves: list[Move]
    placed: int  # pending pods placed afterwards
    stranded: float


class Defragmenter:
    """Plans moves on one snapshot. ``fgd`` maps a ClusterState to ``(fgd, stranded MiB)`` for the
    pending pods' shapes (the caller binds config, options and shapes); ``clock`` returns seconds
    (``time.monotonic``), only read against ``deadline``."""

    def __init__(self, world: World, pending: Sequence[PodSpec], running: Sequence[RunningPod],
                 budgets: Sequence[DisruptionBudget], fgd: FgdMeter, *,
                 clock: Callable[[], float] | None = None, deadline: float | None = None) -> None:
        self.world0 = world
        self.pending = list(pending)
        self.running = {p.key: p for p in running}
        self.budgets = list(budgets)
        self.fgd = fgd
        self.clock = clock
        self.deadline = deadline
        self.tried = 0
        self.explain: list[str] = []
        self._distinct: list[PodSpec] | None = None
        self._unlock_cache: dict[tuple, bool] = {}
        self._asks: dict[str, float] = {}
        self._landing: dict[tuple, list[tuple[float, str]]] = {}  # per step: GPU request -> fitting nodes
        self.skipped = 0
        self._pending_floor: float | None = None

    # -- who may move

    def classify(self) -> tuple[list[str], list[Blocked]]:
        """Movable running GPU pods (keys, snapshot order) and the blocked ones with the reason."""
        movable, blocked = [], []
        for node, pods in self.world0.running.items():
            for p in pods:
                if not p.counts_for_usage or not (p.devices or p.mig_allocations):
                    continue
                info = self.running.get(p.key)
                reason = self._blocked_reason(info)
                if reason:
                    blocked.append(Blocked(p.key, node, reason))
                else:
                    movable.append(p.key)
        return movable, blocked

    def _blocked_reason(self, info: RunningPod | None) -> str:
        if info is None:
            return "no Pod object in the snapshot for this pod (owner unknown)"
        if info.deleting:
            return "already terminating"
        if info.owner_kind is None:
            return "bare pod: no controller recreates it"
        if info.owner_kind not in CONTROLLERS:
            if info.owner_kind == "DaemonSet":
                return "owned by DaemonSet: it comes back on the same node"
            return f"owned by {info.owner_kind} {info.owner_name}: not a controller known to recreate it elsewhere"
        for b in self.budgets:
            if b.covers(info) and b.disruptions_allowed <= 0:
                return f"PodDisruptionBudget {b.key} allows no disruption in the snapshot"
        return ""

    def _budget_ok(self, keys: Sequence[str], spent: dict[str, int]) -> bool:
        need: dict[str, int] = {}
        for key in keys:
            for b in self.budgets:
                if b.covers(self.running[key]):
                    need[b.key] = need.get(b.key, 0) + 1
        return all(spent.get(k, 0) + n <= next(b.disruptions_allowed for b in self.budgets if b.key == k)
                   for k, n in need.items())

    def _spend(self, keys: Sequence[str], spent: dict[str, int]) -> None:
        for key in keys:
            for b in self.budgets:
                if b.covers(self.running[key]):
                    spent[b.key] = spent.get(b.key, 0) + 1

    # -- simulation steps

    def move(self, world: World, keys: Sequence[str], step: int = 1) -> list[Move] | None:
        """Delete ``keys`` together, then place their recreated pods in order on ``world`` (mutated);
        None if one of them would not land."""
        before = []
        for key in keys:
            pod = world.running_pod(key)
            if pod is None:
                return None
            before.append(spot_of_pod(pod))
        for key in keys:
            world.delete(key)
        moves = []
        for key, b in zip(keys, before):
            result = world.place(self.running[key].recreated)
            if not result.scheduled:
                return None
            moves.append(Move(key, b.node or "", b.gpus, spot_of(result), step))
        return moves

    def _base(self, world: World) -> _Base:
        """What every candidate of a step is compared with: the nodes where some pending pod fits
        (*open*), how many pending pods are placed, and the stranded memory per node.

        Exact shortcut: a node where no pending pod fits, and that the step does not change, takes
        none of them in any order of placement (HAMi's fit on a node depends on that node alone), so
        pending pods are placed on the open nodes plus the nodes the step changes only."""
        from migctl.simulate import Simulator

        scratch = world.copy()
        sim = scratch.simulator(dataclasses.replace(world.options, explain=True))
        open_nodes: set[str] = set()
        for spec in self._distinct_pending():
            r = sim.place(spec)
            open_nodes |= {v.node for v in r.verdicts if v.ok}
            if r.node:
                open_nodes.add(r.node)
        placed = self._placed(world, open_nodes)
        per_node = {name: self.fgd.node(node) for name, node in world.state.nodes.items()}
        return _Base(open_nodes, placed, sum(per_node.values()), per_node)

    def _placed(self, world: World, names: set[str]) -> int:
        from migctl.simulate import Simulator

        order = [n for n in world.state.nodes if n in names]
        sub = ClusterState({n: _copy_node(world.state.nodes[n]) for n in order}, set(world.state.pod_names))
        sim = Simulator(sub, world.config, world.options)
        return sum(1 for p in self.pending if sim.place(p).scheduled)

    def _apply(self, world: World, unit: _Unit, step: int, base: _Base) -> _Outcome | None:
        trial = world.copy()
        moves = self.move(trial, unit.pods, step)
        self.tried += 1
        if moves is None:
            return None
        changed = {m.from_node for m in moves} | {m.to.node for m in moves if m.to.node}
        placed = self._placed(trial, base.open | changed)
        stranded = base.stranded + sum(self.fgd.node(trial.state.nodes[n]) - base.per_node.get(n, 0.0)
                                       for n in changed)
        return _Outcome(trial, moves, placed, stranded)

    def _units(self, world: World, movable: list[str], spent: dict[str, int], left: int) -> list[_Unit]:
        """Single pods, then all movable pods of one GPU (2..left of them), ranked by the one-node test."""
        still = [k for k in movable if k in world.where]
        singles = [_Unit((k,), k) for k in still if self._budget_ok((k,), spent)]
        by_gpu: dict[tuple[str, str], list[str]] = {}
        for k in still:
            pod = world.running_pod(k)
            node = world.where[k]
            for gpu in spot_of_pod(pod).gpus:
                by_gpu.setdefault((node, gpu), []).append(k)
        groups = []
        for (node, gpu), keys in by_gpu.items():
            if 2 <= len(keys) <= left and self._budget_ok(keys, spent):
                holders = [p for p in world.running.get(node, ()) if gpu in spot_of_pod(p).gpus and p.counts_for_usage]
                if len(holders) == len(keys):  # the GPU empties only if every holder moves
                    groups.append(_Unit(tuple(keys), f"{node}/{gpu}"))
        units = [u for u in singles + groups if self._may_unlock(world, u)]
        unlocks = {u: self._unlocks(world, u) for u in units}
        if any(unlocks.values()):  # only those are worth a full evaluation
            chosen = [u for u in units if unlocks[u]]
        else:
            chosen = [u for u in units if len(u.pods) == 1]  # none unlocks: single moves for less fragmentation
        return sorted(chosen, key=lambda u: self._promise(world, u))

    def _lands_elsewhere(self, world: World, unit: _Unit) -> bool:
        """Cheap forecast for a one-pod unit: does some other node that fits the recreated pod's GPU
        request come before its own node (emptier once the pod is gone) in the node policy's order?
        If not, HAMi puts it back where it was and the move gains nothing: skip it. A forecast only
        saves work; the full evaluation decides (groups are always evaluated)."""
        from migctl.simulate.scoring import node_score

        if len(unit.pods) != 1:
            return True
        key = unit.pods[0]
        spec = self.running[key].recreated
        sig = (tuple((c.init, tuple(sorted((k, str(v)) for k, v in c.limits.items()))) for c in spec.containers),
               tuple(sorted(spec.annotations.items())))
        spread = world.options.node_policy == "spread"
        fits = self._landing.get(sig)
        if fits is None:
            scratch = world.copy()
            result = scratch.simulator(dataclasses.replace(world.options, explain=True)).place(spec)
            fits = sorted(((v.score if spread else -v.score), v.node) for v in result.verdicts
                          if v.ok and v.score is not None)
            self._landing[sig] = fits
        src = world.where[key]
        fresh = world.rebuilt_without({key}, src)
        score = round(node_score(fresh.gpus), 4)
        own = (score if spread else -score, src)
        if any(entry < own for entry in fits if entry[1] != src):
            return True
        # back on its node: still worth a try if it lands on another GPU there (its own GPU may empty)
        from migctl.simulate import Simulator

        result = Simulator(ClusterState({src: _copy_node(fresh)}, set()), world.config, world.options).place(spec)
        left = set(spot_of_pod(world.running_pod(key)).gpus)
        return bool(result.scheduled and set(a.gpu_id for a in result.allocations) - left)

    def _may_unlock(self, world: World, unit: _Unit) -> bool:
        """Necessary for the one-node test to pass (cheap): some GPU the unit's pods hold has, with their
        memory given back, at least the smallest memory a pending pod asks for."""
        floor = self._smallest_pending()
        if floor <= 0 or floor == float("inf"):
            return True
        node = world.state.nodes[world.where[unit.pods[0]]]
        freed: dict[str, int] = {}
        for key in unit.pods:
            for ctr in world.running_pod(key).devices or ():
                for d in ctr:
                    freed[d.uuid] = freed.get(d.uuid, 0) + d.usedmem
        return any(g.totalmem - g.usedmem + freed.get(g.id, 0) >= floor for g in node.gpus if g.id in freed)

    def _promise(self, world: World, unit: _Unit) -> tuple:
        """Try first the units whose pods ask for less GPU memory than any pending pod (a recreated pod
        that needs as much as a pending one takes back the very slot it freed), then fewer pods, then
        the source nodes the node policy likes least (HAMi's binpack sends the recreated pod to the
        fullest node that fits it, so pods leave an emptier node more readily; spread the reverse)."""
        from migctl.simulate.scoring import node_score

        asks = [self._ask(k) for k in unit.pods]
        largest = max(asks)
        score = node_score(world.state.nodes[world.where[unit.pods[0]]].gpus)
        if self.world0.options.node_policy == "spread":
            score = -score
        return (largest >= self._smallest_pending(), len(unit.pods), round(score, 6), largest, unit.pods)

    def _ask(self, key: str) -> float:
        from migctl.capacity.shapes import shape_of_pod

        hit = self._asks.get(key)
        if hit is None:
            try:
                shape = shape_of_pod(self.running[key].recreated, self.world0.config)
            except ValueError:
                shape = None
            hit = float(shape.memory_mib) if shape is not None and shape.memory_mib and shape.count == 1 else float("inf")
            self._asks[key] = hit
        return hit

    def _smallest_pending(self) -> float:
        from migctl.capacity.shapes import shape_of_pod

        if self._pending_floor is None:
            asks = []
            for p in self.pending:
                try:
                    shape = shape_of_pod(p, self.world0.config)
                except ValueError:
                    shape = None
                asks.append(float(shape.memory_mib) if shape is not None and shape.memory_mib else 0.0)
            self._pending_floor = min(asks, default=0.0)
        return self._pending_floor

    def _unlocks(self, world: World, unit: _Unit) -> bool:
        """One-node test: without the unit's pods, does some pending pod fit on their node?"""
        from migctl.simulate import Simulator

        node_name = world.where[unit.pods[0]]
        key = (unit.pods, node_name, world.state.nodes[node_name].version)
        hit = self._unlock_cache.get(key)
        if hit is None:
            hit = self._unlock_cache[key] = self._unlocks_now(world, unit, node_name)
        return hit

    def _unlocks_now(self, world: World, unit: _Unit, node_name: str) -> bool:
        from migctl.simulate import Simulator

        node = world.rebuilt_without(set(unit.pods), node_name)
        for spec in self._distinct_pending():
            one = ClusterState({node_name: _copy_node(node)}, set())
            if Simulator(one, world.config, world.options).place(spec).scheduled:
                return True
        return False

    def _distinct_pending(self) -> list[PodSpec]:
        if self._distinct is None:
            seen: dict[tuple, PodSpec] = {}
            for p in self.pending:
                sig = (tuple((c.name, c.init, tuple(sorted((k, str(v)) for k, v in c.limits.items())),
                              tuple(sorted((k, str(v)) for k, v in c.requests.items()))) for c in p.containers),
                       tuple(sorted(p.annotations.items())), tuple(sorted(p.node_selector.items())),
                       p.affinity_terms, p.tolerations, p.node_name)
                seen.setdefault(sig, p)
            self._distinct = list(seen.values())
        return self._distinct

    def _out_of_time(self) -> bool:
        return self.clock is not None and self.deadline is not None and self.clock() >= self.deadline

    def plan(self, max_moves: int) -> DefragPlan:
        movable, blocked = self.classify()
        world = self.world0.copy()
        base = self._base(world)
        placed, stranded = base.placed, base.stranded
        self.explain.append(f"start: {placed}/{len(self.pending)} pending pods placeable, "
                            f"{len(movable)} movable pods, {len(blocked)} blocked, "
                            f"{len(base.open)} node(s) where a pending pod fits")
        moves: list[Move] = []
        spent: dict[str, int] = {}
        stopped = "no move improves"
        steps_done = 0
        while len(moves) < max_moves and placed < len(self.pending):
            left = max_moves - len(moves)
            best: tuple[tuple, _Unit, _Outcome] | None = None
            after_best = 0
            units = [u for u in self._units(world, movable, spent, left) if len(u.pods) <= left]
            later: list[_Unit] = []
            for pass_units in (units, later):  # units forecast to go back to their node come last
                for unit in pass_units:
                    if self._out_of_time():
                        stopped = "deadline"
                        break
                    if pass_units is units and not self._lands_elsewhere(world, unit):
                        later.append(unit)
                        continue
                    out = self._apply(world, unit, steps_done + 1, base)
                    if best is not None:
                        after_best += 1
                    if out is None:
                        self.explain.append(f"  {unit.label}: a recreated pod would not land anywhere (not a move)")
                    else:
                        gain = out.placed - placed
                        n = len(unit.pods)
                        score = (gain / n, -(out.stranded - stranded) / n, -n)
                        if gain > 0 or (gain == 0 and out.stranded < stranded - 1e-6):
                            if best is None or score > best[0]:
                                best = (score, unit, out)
                    if best is not None and after_best >= PATIENCE:
                        break
                if best is not None or stopped == "deadline":
                    break
                if pass_units is units:
                    self.skipped += len(later)
            if best is None:
                break
            _, unit, out = best
            world = out.world
            self._spend(unit.pods, spent)
            moves += out.moves
            steps_done += 1
            self.explain.append(
                f"step {steps_done}: move {', '.join(unit.pods)} -> {out.placed}/{len(self.pending)} pending "
                f"placeable (was {placed}), stranded {out.stranded:.0f} MiB (was {stranded:.0f})")
            if stopped == "deadline":
                break
            base = self._base(world)
            self._landing.clear()
            placed, stranded = base.placed, base.stranded
        else:
            stopped = "max moves" if len(moves) >= max_moves else "every pending pod placeable"
        plan = replay_plan(self.world0, self.pending, self.running, moves, self.fgd)
        plan.blocked = blocked
        plan.tried = self.tried
        plan.stopped = stopped
        plan.explain = list(self.explain) + [f"{self.skipped} unit(s) tried last: their recreated pod was "
                                             "forecast to go back to the GPU it left"]
        return plan


def replay_plan(world0: World, pending: Sequence[PodSpec], running: dict[str, RunningPod], moves: Sequence[Move],
                fgd: FgdMeter) -> DefragPlan:
    """Re-simulate a plan step by step from the snapshot; the figures a plan reports come from here.

    Raises :class:`DefragError` if a recreated pod does not land where the move says.
    """
    base = world0.copy()
    before = [spot_of(r) for r in base.copy().place_all(list(pending))]
    fgd_before, _ = fgd(base.state)
    steps = [{"step": 0, "moves": [], "pending_placed": sum(1 for s in before if s.node is not None)}]
    world = base
    groups: list[list[Move]] = []
    for m in moves:
        if groups and groups[-1][0].step == m.step:
            groups[-1].append(m)
        else:
            groups.append([m])
    for group in groups:
        for m in group:
            if world.running_pod(m.pod) is None:
                raise DefragError(f"move {m.pod}: no such running pod at this step")
        for m in group:
            world.delete(m.pod)
        for m in group:
            landed = spot_of(world.place(running[m.pod].recreated))
            if landed != m.to:
                raise DefragError(f"move {m.pod}: the recreated pod lands on {landed.text()}, "
                                  f"the plan says {m.to.text()}")
        trial = world.copy()
        placed = sum(1 for r in trial.place_all(list(pending)) if r.scheduled)
        steps.append({"step": group[0].step, "moves": [m.pod for m in group], "pending_placed": placed})
    fgd_after, _ = fgd(world.state)
    after = [spot_of(r) for r in world.copy().place_all(list(pending))]
    changes = [PendingChange(p.key, b, a) for p, b, a in zip(pending, before, after)]
    return DefragPlan(list(moves), [], changes, fgd_before, fgd_after, steps)


class FgdMeter:
    """The capacity fragmentation measure (FGD) for the shapes of the pending pods (their share of the
    list as weights): ``meter(state) -> (fgd, stranded MiB)`` for a cluster, ``meter.node(node)`` for
    one node's stranded MiB. ``(0, 0)`` when no pod asks for a GPU."""

    def __init__(self, config: Any, options: Any, pods: Sequence[PodSpec]) -> None:
        from migctl.capacity.fragmentation import FragmentationCache
        from migctl.capacity.shapes import shapes_from_pods

        self.config, self.options = config, options
        self.shapes, _ = shapes_from_pods(list(pods), config)
        self.cache = FragmentationCache()

    def __call__(self, state: ClusterState) -> tuple[float, float]:
        from migctl.capacity.fragmentation import cluster_fragmentation

        if not self.shapes:
            return 0.0, 0.0
        frag = cluster_fragmentation(state, self.config, self.options, self.shapes, cache=self.cache)
        return frag.fgd, frag.stranded_mib

    def node(self, node: Any) -> float:
        from migctl.capacity.fragmentation import node_fragmentation

        if not self.shapes:
            return 0.0
        return node_fragmentation(node, self.config, self.options, self.shapes, cache=self.cache).stranded_mib


def fgd_meter(config: Any, options: Any, pods: Sequence[PodSpec]) -> FgdMeter:
    return FgdMeter(config, options, pods)


def plan_defrag(cluster: Any, config: Any, options: Any, *, running: Sequence[RunningPod],
                budgets: Sequence[DisruptionBudget] = (), pending: Sequence[PodSpec] | None = None,
                max_moves: int = 5, catalogue: Any = None, clock: Callable[[], float] | None = None,
                deadline: float | None = None, notes: list[str] | None = None) -> DefragPlan:
    """The library entry point of ``migctl advise defrag``.

    ``cluster`` is a :class:`migctl.cluster.model.Cluster` (its usage is HAMi's rebuild),
    ``config``/``options`` the simulator's :class:`~migctl.config.model.NvidiaConfig` and :class:`SimulationOptions`,
    ``running`` the snapshot's Pod objects as :class:`RunningPod` (owners, labels), ``budgets`` its
    PodDisruptionBudgets. ``pending`` defaults to the snapshot's Pending pods that ask for GPUs
    (the recreated form of their Pod objects, in snapshot order).
    """
    if max_moves < 0:
        raise ValueError("max_moves must be >= 0")
    by_key = {p.key: p for p in running}
    if pending is None:
        pending = default_pending(cluster, by_key, config)
    pending_keys = {p.key for p in pending}
    world = World.build(cluster, config, options, catalogue=catalogue, notes=notes, absent=pending_keys)
    measure = fgd_meter(config, options, pending)
    planner = Defragmenter(world, pending, running, budgets, measure, clock=clock, deadline=deadline)
    return planner.plan(max_moves)


def default_pending(cluster: Any, running: dict[str, RunningPod], config: Any) -> list[PodSpec]:
    """The snapshot's Pending pods that ask for GPUs (not bound, not terminating)."""
    from migctl.capacity.shapes import shape_of_pod

    out = []
    for p in cluster.pods:
        if p.phase != "Pending" or p.node_name or p.vgpu_node or p.deleting:
            continue
        info = running.get(p.key)
        if info is None:
            continue
        try:
            if shape_of_pod(info.recreated, config) is None:
                continue
        except ValueError:
            pass  # several GPU containers: still a GPU pod
        out.append(info.recreated)
    return out
