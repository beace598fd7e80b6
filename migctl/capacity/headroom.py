"""How many more pods of one shape HAMi would place, where, and why the next one stays Pending.

The definition is repeated placement: identical pods submitted one after another to
:class:`migctl.simulate.Simulator` under the same options, exactly what ``migctl simulate --repeat N``
does, until one stays Pending. :func:`headroom` computes that number faster where it is provably the
same:

- **per node** (any shape): a node's verdict for a pod depends only on that node's state (HAMi's
  ``Fit`` and kube-scheduler's filters read nothing else), and a placement changes only the node it
  lands on. So every node takes, over the whole sequence, exactly the pods it would take alone, in the
  same order, whichever node the scheduler prefers at each step: the count is the sum over nodes of a
  one-node simulation. One-node simulations are memoised by the node's GPU states (every idle node of
  a kind fills once).
- **per GPU** (shapes asking for one GPU; v2.9: with a memory figure, see :func:`_single_gpu_request`):
  within a node, a one-device request is checked against each GPU on its own (``Fit``'s per-device
  checks; v2.9 queues no other device for it), and placing it changes only the GPU it lands on; so a
  GPU takes exactly the pods it would take alone, and the node takes the sum over its GPUs, capped by
  its free pod count (the only kube-scheduler filter a shape's pod can meet that changes with
  placements: shape pods ask for no CPU or memory). One-GPU simulations are memoised by the GPU's
  state, so identical GPUs are simulated once. (v2.10 counts GPUs whose type
  contains "nvidia" before ``Fit``; a cluster with other GPU types takes the per-node path.)

``method="repeat"`` forces the definition; tests hold the three to the same answers on generated
clusters. The reason the next pod stays Pending is always the simulator's own, computed on the final
state (one more placement).

API (stable)::

    from migctl.capacity.headroom import headroom, Headroom
    h = headroom(state, config, options, shape, method="auto" | "repeat" | "per-node" | "per-gpu")
    h.fits          # int: pods placed before the first Pending one
    h.by_node       # {node: pods} (nodes that take at least one, in the state's node order)
    h.next_failure  # str: the simulator's reason for the next pod (None only when ``limit`` stopped it)
    h.method        # the method used

``state`` is never modified.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from migctl.capacity import _hami
from migctl.capacity.shapes import Shape

METHODS = ("auto", "repeat", "per-node", "per-gpu")
NAMESPACE = "migctl-capacity"


@dataclass(frozen=True, slots=True)
class Headroom:
    shape: Shape
    fits: int
    by_node: dict[str, int] = field(default_factory=dict)
    next_failure: str | None = None
    method: str = "repeat"

    def to_dict(self) -> dict[str, Any]:
        return {"shape": str(self.shape), "fits": self.fits, "by_node": dict(self.by_node),
                "next_failure": self.next_failure}


def copy_state(state: Any) -> Any:
    """An independent copy of a ClusterState (nodes and GPUs copied; labels and taints shared, never mutated)."""
    from migctl.simulate import ClusterState

    out = ClusterState(pod_names=set(state.pod_names))
    for name, node in state.nodes.items():
        out.nodes[name] = replace(node, gpus=node.copy_gpus())
    return out


def headroom(state: Any, config: Any, options: Any, shape: Shape, *, method: str = "auto",
             limit: int | None = None) -> Headroom:
    """How many pods of ``shape`` HAMi would still place (see the module docstring)."""
    if method not in METHODS:
        raise ValueError(f"method: one of {', '.join(METHODS)}")
    pod = shape.to_pod(config, name="capacity-0", namespace=NAMESPACE)
    prepared = _hami.prepare(pod, config, options)
    if prepared.denied is None and not any(r.request is not None for r in prepared.requests):
        from migctl.capacity.shapes import ShapeError  # kube-scheduler alone would place it, without bound

        raise ShapeError(f"{shape}: asks for no GPU under this device-config (resourceCountName "
                         f"{getattr(config, 'resource_count_name', '')!r}); HAMi would not see it")
    if limit is not None or method == "repeat":
        return _repeat(state, config, options, shape, pod, limit)
    single = _single_gpu_request(prepared, options.version.legacy)
    if method == "per-gpu" and not single:
        raise ValueError(f"{shape}: the per-GPU path needs a one-GPU request")
    if prepared.denied is not None:
        return _repeat(state, config, options, shape, pod, limit)
    if method == "per-node" or not single or (not options.version.legacy and not _all_nvidia(state)):
        if method == "per-gpu":
            raise ValueError("the per-GPU path needs every GPU type to contain 'nvidia' for HAMi 2.10")
        return _per_node(state, config, options, shape, pod, prepared)
    return _per_gpu(state, config, options, shape, pod, prepared)


# ---------------------------------------------------------------------- the definition


def _pods(pod: Any, start: int = 0):
    i = start
    while True:
        yield replace(pod, name=f"capacity-{i}")
        i += 1


def _repeat(state: Any, config: Any, options: Any, shape: Shape, pod: Any, limit: int | None) -> Headroom:
    from migctl.simulate import Simulator

    sim = Simulator(copy_state(state), config, options)
    by_node: dict[str, int] = {}
    placed = 0
    for p in _pods(pod):
        if limit is not None and placed >= limit:
            return Headroom(shape, placed, _ordered(state, by_node), None, "repeat")
        r = sim.place(p)
        if not r.scheduled:
            return Headroom(shape, placed, _ordered(state, by_node), r.reason, "repeat")
        placed += 1
        by_node[r.node] = by_node.get(r.node, 0) + 1
    raise AssertionError("unreachable")  # pragma: no cover


def _ordered(state: Any, by_node: dict[str, int]) -> dict[str, int]:
    return {name: by_node[name] for name in state.nodes if by_node.get(name)}


# ---------------------------------------------------------------------- per node


def _fill(node: Any, config: Any, options: Any, pod: Any) -> int:
    """Place pods on this one node (mutated) until one stays Pending; the count."""
    from migctl.simulate import ClusterState, Simulator

    alone = ClusterState()
    alone.add(node)
    sim = Simulator(alone, config, options)
    n = 0
    for p in _pods(pod):
        if not sim.place(p).scheduled:
            return n
        n += 1
    raise AssertionError("unreachable")  # pragma: no cover


def _node_key(node: Any) -> tuple:
    """What a one-node fill of a shape's pod reads from a node: its GPUs in order (states, index, NUMA,
    topology scores by position; not their ids) and its free pod count (shape pods ask no CPU or memory)."""
    position = {g.id: i for i, g in enumerate(node.gpus)}
    room = None if node.pods_allocatable is None else node.pods_allocatable - node.pods
    return room, tuple(
        (_hami.gpu_state_key(g), g.index, g.numa,
         tuple(sorted(((position[k], "") if k in position else (-1, k)) + (v,) for k, v in g.pair_scores.items())))
        for g in node.gpus)


def _per_node(state: Any, config: Any, options: Any, shape: Shape, pod: Any, prepared: Any) -> Headroom:
    """One-node fills, memoised by :func:`_node_key` (identical nodes, e.g. every idle one, fill once)."""
    final = copy_state(state)
    by_node = {}
    memo: dict[tuple, tuple[int, list[Any]]] = {}
    for name, node in final.nodes.items():
        if prepared.denied is None and [r for r in _hami.kube_reasons(prepared, node) if r != _hami.TOO_MANY_PODS]:
            continue  # unschedulable, tainted: no pod of the shape lands here
        key = _node_key(node)
        hit = memo.get(key)
        if hit is None:
            probe = replace(node, gpus=node.copy_gpus())
            n = _fill(probe, config, options, pod)
            hit = memo[key] = (n, probe.gpus)
        n, ends = hit
        if not n:
            continue
        node.gpus = [replace(end.copy(), id=g.id, index=g.index, numa=g.numa, pair_scores=g.pair_scores)
                     for g, end in zip(node.gpus, ends)]
        node.pods += n
        node.version += 1
        by_node[name] = n
    return _finish(state, final, config, options, shape, pod, by_node, "per-node")


# ---------------------------------------------------------------------- per GPU


def _single_gpu_request(prepared: Any, legacy: bool) -> bool:
    """One container asking one GPU, and (v2.9) with a memory figure: v2.9's MIG filter checks the raw
    ``Memreq``, 0 for a percentage (or default 100%) request, while ``AddResourceUsage`` needs the
    resolved memory; when the GPU Fit picked has no slot that large the whole node fails
    (``MigTemplateAllocateFail``) although another of its GPUs could take the pod, so GPUs are not
    independent there and the per-node path is used."""
    gpu = [r.request for r in prepared.requests if r.request is not None]
    return len(gpu) == 1 and gpu[0].nums == 1 and not (legacy and gpu[0].memreq == 0)


def _all_nvidia(state: Any) -> bool:
    return all("nvidia" in g.type.lower() for n in state.nodes.values() for g in n.gpus)


def _per_gpu(state: Any, config: Any, options: Any, shape: Shape, pod: Any, prepared: Any) -> Headroom:
    from migctl.simulate import Node

    memo: dict[tuple, tuple[int, Any]] = {}
    final = copy_state(state)
    by_node = {}
    for name, node in final.nodes.items():
        if [r for r in _hami.kube_reasons(prepared, node) if r != _hami.TOO_MANY_PODS]:
            continue  # unschedulable, tainted: no pod of the shape lands here
        counts = []
        for g in node.gpus:
            key = _hami.gpu_state_key(g)
            hit = memo.get(key)
            if hit is None:
                probe = Node("capacity-probe", [g.copy()])
                n = _fill(probe, config, options, pod)
                hit = memo[key] = (n, probe.gpus[0])
            counts.append(hit)
        total = sum(n for n, _ in counts)
        room = None if node.pods_allocatable is None else max(0, node.pods_allocatable - node.pods)
        taken = total if room is None else min(total, room)
        if not taken:
            continue
        if taken == total:  # every GPU reached its own end state
            for i, (n, end) in enumerate(counts):
                if n:
                    g = node.gpus[i]
                    node.gpus[i] = replace(end.copy(), id=g.id, index=g.index, numa=g.numa, pair_scores=g.pair_scores)
        # else the pod count binds: the node fails on "Too many pods" before any GPU is looked at
        node.pods += taken
        node.version += 1
        by_node[name] = taken
    return _finish(state, final, config, options, shape, pod, by_node, "per-gpu")


def _finish(state: Any, final: Any, config: Any, options: Any, shape: Shape, pod: Any,
            by_node: dict[str, int], method: str) -> Headroom:
    """The next pod on the final state: the simulator's reason (and a check that nothing fits)."""
    from migctl.simulate import Simulator

    r = Simulator(final, config, options).place(replace(pod, name="capacity-next"))
    if r.scheduled:  # the decomposition's premise does not hold for this cluster: use the definition
        return _repeat(state, config, options, shape, pod, None)
    return Headroom(shape, sum(by_node.values()), by_node, r.reason, method)
