"""Pods placed one after another, each seeing the ones before (HAMi's ``Filter`` per pod).

For each pod: the webhook (:func:`~migctl.simulate.requests.mutate`), kube-scheduler's filters,
HAMi's per-node fit and node score, the node choice (HAMi pkg/scheduler/policy/node_policy.go: binpack takes the highest
score, spread the lowest; HAMi breaks ties by Go map order, we by node name and say so), then the
pod is recorded on the node as the next scheduling cycle would rebuild it from its annotations.

Speed: a node's verdict for a pod depends only on the node's state and on the pod's scheduling
signature (requests, options, selectors, tolerations, CPU/memory). Per signature the nodes sit in a
heap ordered by the node-choice key; nodes changed since the signature was last used go back in
unverified, and HAMi's Fit runs only on the node at the top until one fits (see :meth:`_fast_choice`).
A pod that fits nowhere gets kube-scheduler's ``FailedScheduling`` text from the count of each reason
kept per signature (:class:`_FailedNodes`), not from a verdict per node; the same signature on an
unchanged cluster reuses it. kube-scheduler's filter verdicts are kept per (filter signature, node version).
``full_scan=True`` (and ``--explain``) evaluates every node for every pod; the tests check that
both give the same placements.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from migctl.config.model import NvidiaConfig
from migctl.simulate.fit import STATIC_REASONS, Allocation, NodeFit, device_order, fit_pod, static_failure
from migctl.simulate.kube_filters import kube_filter, least_allocated_score
from migctl.simulate.mig import legacy_mark
from migctl.simulate.pod import PodSpec
from migctl.simulate.requests import ContainerRequests, Denied, PodOptions, mutate, pod_options, pod_requests
from migctl.simulate.result import (
    NodeVerdict, PodResult, SimulationResult, aggregate_reason, encode_annotations, failure_text,
)
from migctl.simulate.scoring import combined_node_score, node_score
from migctl.simulate.state import MIG_MODE, ClusterState, Gpu, MigAllocationUsage, Node
from migctl.simulate.version import HamiVersion


#: The most pod shapes whose webhook result and signature are kept (a real trace may have a shape per pod).
MAX_SHAPES = 8192


@dataclass(frozen=True, slots=True)
class SimulationOptions:
    version: HamiVersion = HamiVersion.V2_10
    node_policy: str = "binpack"  # scheduler default (--node-scheduler-policy)
    gpu_policy: str = "spread"  # scheduler default (--gpu-scheduler-policy)
    node_score: str = "hami"  # or "combined": HAMi's dynamic MIG design, GPU memory plus CPU and memory
    explain: bool = False
    full_scan: bool = False


@dataclass(slots=True)
class _Prepared:
    """A pod after the webhook, with everything the per-node verdict depends on; shared by the pods of
    one :meth:`~migctl.simulate.pod.PodSpec.scheduling_shape` (``pod`` is the first of them, mutated:
    only its scheduling fields are read)."""

    pod: PodSpec
    requests: tuple[ContainerRequests, ...]
    options: PodOptions
    cpu_m: int
    memory: int
    gpu_pod: bool
    signature: tuple  # everything a node's verdict and score depend on
    cache: _SignatureCache  # the signature's heap and failing nodes (shared by every pod of the signature)
    gpu_key: int  # what HAMi's fit depends on, interned (shared by pods that differ only in CPU, selectors...)
    kube_key: int  # what kube-scheduler's filters depend on, interned (shared by pods that differ only in GPUs)


class _FailedNodes:
    """The nodes that fail one signature, with their reasons, and the count of each reason kept as
    nodes come and go, so the ``FailedScheduling`` text of a pod that fits nowhere costs the number
    of distinct reasons, not a pass over every node (kube-scheduler's ``FitError`` likewise keeps a
    count per reason: kubernetes pkg/scheduler/framework/types.go, ``Diagnosis.NodeToStatusMap`` and
    ``FitError.Error``)."""

    __slots__ = ("reasons", "counts")

    def __init__(self) -> None:
        self.reasons: dict[str, list[str]] = {}  # node -> reasons, at its current version
        self.counts: dict[str, int] = {}  # reason -> number of failing nodes giving it

    def set(self, name: str, reasons: list[str]) -> None:
        old = self.reasons.get(name)
        if old is not None:
            self._drop(old)
        self.reasons[name] = reasons
        counts = self.counts
        for r in reasons:
            counts[r] = counts.get(r, 0) + 1

    def discard(self, name: str) -> None:
        old = self.reasons.pop(name, None)
        if old is not None:
            self._drop(old)

    def _drop(self, reasons: list[str]) -> None:
        counts = self.counts
        for r in reasons:
            n = counts[r] - 1
            if n:
                counts[r] = n
            else:
                del counts[r]


@dataclass(slots=True)
class _SignatureCache:
    heap: list = field(default_factory=list)  # (order key, node name, node version) of candidate nodes
    failed: _FailedNodes = field(default_factory=_FailedNodes)
    verified: dict[str, int] = field(default_factory=dict)  # node -> version at which it was seen to fit
    seen_changes: int = -1  # len(change log) when a pod of the signature last looked (-1: never)
    reason: tuple[int, str] | None = None  # (changes seen, FailedScheduling text) when nothing fitted then


class Simulator:
    """Places pods on a :class:`ClusterState`, mutating it as each pod lands."""

    def __init__(self, state: ClusterState, config: NvidiaConfig, options: SimulationOptions | None = None) -> None:
        self.state = state
        self.config = config
        self.options = options or SimulationOptions()
        self._changes: list[str] = []
        self._caches: dict[tuple, _SignatureCache] = {}
        self._names: set[str] = set(state.pod_names)
        self._touched: dict[tuple[str, str], None] = {}
        # per key, then per node (one dict per key: no (key, node) tuple to build and hash per lookup)
        self._fit_cache: dict[int, dict[str, tuple[int, list[str]]]] = {}  # gpu key -> node -> (version, reasons)
        self._node_scores: dict[str, tuple[int, float]] = {}  # node -> (version, HAMi node score)
        self._gpu_keys: dict[tuple, int] = {}
        self._kube_keys: dict[tuple, int] = {}
        self._kube_cache: dict[int, dict[str, tuple[int, list[str]]]] = {}  # kube key -> node -> (version, reasons)
        # gpu key -> node -> (the node's GPU list, reasons): HAMi's Fit fails there whatever the usage
        # (fit.static_failure), for as long as the node holds the same GPU list
        self._static_fail: dict[int, dict[str, tuple[list[Gpu], list[str]]]] = {}
        # (node, GPU policy, numa-bind, weights) -> (version, GPU list, fit.device_order): the GPUs as
        # Fit sorts them, shared by every signature that fits the node at that version
        self._orders: dict[tuple, tuple[int, list[Gpu], list[Gpu]]] = {}
        self._shapes: dict[tuple, _Prepared] = {}  # PodSpec.scheduling_shape() -> the webhook's pod, prepared

    # ------------------------------------------------------------------ public

    def run(self, pods: Iterable[PodSpec], *, version_note: str = "") -> SimulationResult:
        result = SimulationResult(self.options.version, version_note)
        for pod in pods:
            result.pods.append(self.place(pod))
        result.final_gpus = self.touched_gpus()
        return result

    def place(self, pod: PodSpec) -> PodResult:
        version = self.options.version
        result = PodResult(pod.key, False, containers=tuple(c.name for c in pod.containers), source=pod.source)
        if pod.key in self._names:
            result.warnings.append(
                f"pod {pod.key} already exists: the API server would reject it (AlreadyExists); simulated anyway")
        self._names.add(pod.key)
        try:
            shape: tuple | None = pod.scheduling_shape()
            prepared = self._shapes.get(shape)  # type: ignore[arg-type]
        except TypeError:  # an unhashable value somewhere: prepared on its own
            shape = prepared = None
        if prepared is None:
            try:
                mutated = mutate(pod, self.config, version)
            except Denied as exc:
                result.reason = f"admission webhook denied the pod: {exc}"
                return result
            prepared = self._prepare(mutated)
            if shape is not None and len(self._shapes) < MAX_SHAPES:
                self._shapes[shape] = prepared
        ignored = [f"container {r.container}: {r.ignored}" for r in prepared.requests if r.ignored]
        if ignored:
            result.reason = "; ".join(ignored)
            return result
        if self.options.explain or self.options.full_scan:
            choice, fit, verdicts, tie = self._full_scan(prepared, explain=self.options.explain)
            result.verdicts = verdicts if self.options.explain else []
            result.tie = tie
        else:
            choice, fit, reason = self._fast_choice(prepared)
            if choice is None:
                result.reason = reason
                return result
            if prepared.gpu_pod and fit is None:
                fit = fit_pod(choice.gpus, prepared.requests, prepared.options, version)
        if choice is None:
            result.reason = aggregate_reason(len(self.state.nodes), [v.reasons for v in verdicts])
            return result
        self._commit(choice, prepared, fit.allocations if fit else [])
        result.scheduled = True
        result.node = choice.name
        if fit is not None:
            result.allocations = fit.allocations
            result.warnings += _legacy_mig_warnings(fit.allocations, version)
            result.warnings += [f"container {name}: {cfit.note}" for name, cfit in fit.containers if cfit.note]
            if fit.layout_note:
                result.warnings.append(f"pod {pod.key}: {fit.layout_note}")
            by_id = {g.id: g for g in choice.gpus}
            result.geometries = {a.gpu_id: by_id[a.gpu_id].geometry_text() for a in fit.allocations}
        result.annotations = encode_annotations(choice.name, result.containers, result.allocations, version,
                                                entries=fit.entries if fit is not None else None)
        if not prepared.gpu_pod:
            result.annotations = {}  # HAMi's Filter patches nothing on pods that request no GPU
        return result

    def touched(self) -> list[tuple[str, Gpu]]:
        """The GPUs the simulated pods landed on, as ``(node name, Gpu)`` in the order they were first used."""
        out = []
        for node_name, gpu_id in self._touched:
            out.append((node_name, next(g for g in self.state.nodes[node_name].gpus if g.id == gpu_id)))
        return out

    def touched_gpus(self) -> list[dict[str, Any]]:
        """The GPUs the simulated pods landed on, with the layout the plan would create (output form)."""
        out = []
        for node_name, gpu in self.touched():
            entry: dict[str, Any] = {
                "node": node_name, "gpu_uuid": gpu.id, "gpu_index": gpu.index, "type": gpu.type, "mode": gpu.mode,
                "used": gpu.used, "memory_used_mib": gpu.usedmem, "memory_total_mib": gpu.totalmem,
                "cores_used": gpu.usedcores, "geometry": gpu.geometry_text(), "instances": [],
            }
            if gpu.is_mig and self.options.version.legacy:
                entry["instances"] = [
                    {"slot": i, "profile": s.name, "in_use": s.in_use} for i, s in enumerate(gpu.usage_list)
                ]
            elif gpu.is_mig:
                entry["instances"] = [
                    {"profile": a.profile, "start": a.placement.start, "size": a.placement.size}
                    for a in sorted(gpu.allocations, key=lambda a: a.placement.start)
                ]
            out.append(entry)
        return out

    # ------------------------------------------------------------------ internals

    def _prepare(self, pod: PodSpec) -> _Prepared:
        version = self.options.version
        requests = pod_requests(pod, self.config, version)
        options = pod_options(pod, version, gpu_policy=self.options.gpu_policy, node_policy=self.options.node_policy)
        cpu_m, memory = pod.cpu_request_m(), pod.memory_request()
        gpu_pod = any(r.request is not None for r in requests)
        signature = (
            requests if gpu_pod else None, options if gpu_pod else None, cpu_m, memory, gpu_pod,
            tuple(sorted(pod.node_selector.items())), pod.affinity_terms, pod.tolerations,
        )
        gpu_key = self._gpu_keys.setdefault(signature[:2], len(self._gpu_keys))
        kube_key = self._kube_keys.setdefault(signature[2:], len(self._kube_keys))
        cache = self._caches.get(signature)
        if cache is None:
            cache = self._caches[signature] = _SignatureCache()
        return _Prepared(pod, requests, options, cpu_m, memory, gpu_pod, signature, cache, gpu_key, kube_key)

    def _score(self, node: Node, p: _Prepared) -> float:
        if not p.gpu_pod:
            return least_allocated_score(node, p.cpu_m, p.memory)
        if self.options.node_score == "combined":
            return combined_node_score(node)
        hit = self._node_scores.get(node.name)
        if hit is not None and hit[0] == node.version:
            return hit[1]
        score = node_score(node.gpus)
        self._node_scores[node.name] = (node.version, score)
        return score

    def _order_key(self, score: float, p: _Prepared) -> float:
        """Smaller is better: binpack takes the highest score, spread the lowest (HAMi pkg/scheduler/policy/node_policy.go)."""
        if p.gpu_pod and p.options.node_policy == "spread":
            return score
        return -score

    def _evaluate(self, node: Node, p: _Prepared, *, explain: bool, cached: bool = False) -> tuple[list[str], NodeFit | None]:
        """Reasons the node fails (empty: it fits) and HAMi's fit; ``cached`` reuses (and keeps) verdicts
        per GPU signature and node version, without the fit itself, for a node known to pass
        kube-scheduler's filters at this version (a heap entry of :meth:`_fast_choice`)."""
        if not cached:
            reasons = kube_filter(p.pod, node, p.cpu_m, p.memory)
            if reasons or not p.gpu_pod:
                return reasons, None
        if cached:
            fits = self._fit_cache.get(p.gpu_key)
            if fits is None:
                fits = self._fit_cache[p.gpu_key] = {}
            hit = fits.get(node.name)
            if hit is not None and hit[0] == node.version:
                return hit[1], None
        order = None
        if cached:
            opts = p.options
            okey = (node.name, opts.gpu_policy, opts.numa_bind, opts.weights)
            known = self._orders.get(okey)
            if known is None or known[0] != node.version or known[1] is not node.gpus:
                known = self._orders[okey] = (node.version, node.gpus,
                                              device_order(node.gpus, opts, self.options.version))
            order = known[2]
        fit = fit_pod(node.gpus, p.requests, p.options, self.options.version, explain=explain, order=order)
        reasons = [] if fit.ok else [fit.reason]
        if cached:
            fits[node.name] = (node.version, reasons)
            if (reasons and fit.reason in STATIC_REASONS
                    and static_failure(node.gpus, p.requests, p.options, self.options.version)):
                self._static_fail.setdefault(p.gpu_key, {})[node.name] = (node.gpus, reasons)
        return reasons, fit

    def _fast_choice(self, p: _Prepared) -> tuple[Node | None, NodeFit | None, str]:
        """The best node for the pod's signature, from a heap ordered by the node-choice key.

        Nodes changed since the signature was last used are pushed again *unverified* (their score
        is cheap, their HAMi fit is not); an unverified node is fitted only when it reaches the top.
        Every other heap entry is at least as far from the top, so the first node that fits at the
        top is the node a full scan would choose. Returns the node and its fit when it was just
        computed, or no node and kube-scheduler's ``FailedScheduling`` text, counted from the
        failing nodes' reasons kept per signature (:class:`_FailedNodes`); a pod of a signature that
        found no node on an unchanged cluster gets the same text without any work.
        """
        nodes = self.state.nodes
        cache = p.cache
        if cache.seen_changes < 0:
            todo: Iterable[str] = nodes
        else:
            if cache.reason is not None and cache.reason[0] == len(self._changes):
                return None, None, cache.reason[1]
            todo = dict.fromkeys(self._changes[cache.seen_changes:])
        cache.seen_changes = len(self._changes)
        heap, failed, verified = cache.heap, cache.failed, cache.verified
        kube_cache = self._kube_cache.get(p.kube_key)
        if kube_cache is None:
            kube_cache = self._kube_cache[p.kube_key] = {}
        static_fail, gpu_pod = self._static_fail.get(p.gpu_key), p.gpu_pod
        # the node-choice key (_order_key of _score), inlined for HAMi's node score: this loop runs for
        # every node changed since the signature's last pod
        node_scores = self._node_scores if gpu_pod and self.options.node_score == "hami" else None
        sign = 1.0 if gpu_pod and p.options.node_policy == "spread" else -1.0
        failing = failed.reasons
        fresh = []
        for name in todo:
            node = nodes[name]
            version = node.version
            hit = kube_cache.get(name)
            if hit is not None and hit[0] == version:
                reasons = hit[1]
            else:
                reasons = kube_filter(p.pod, node, p.cpu_m, p.memory)
                kube_cache[name] = (version, reasons)
            if reasons:
                failed.set(name, reasons)
                continue
            if static_fail is not None:
                static = static_fail.get(name)
                if static is not None and static[0] is node.gpus:
                    failed.set(name, static[1])  # fails whatever the usage: not a candidate
                    continue
            if name in failing:
                failed.discard(name)
            if node_scores is None:
                fresh.append((self._order_key(self._score(node, p), p), name, version))
                continue
            scored = node_scores.get(name)
            if scored is None or scored[0] != version:
                scored = node_scores[name] = (version, node_score(node.gpus))
            fresh.append((sign * scored[1], name, version))
        if len(fresh) > len(heap):
            heap.extend(fresh)
            heapq.heapify(heap)
        else:
            for entry in fresh:
                heapq.heappush(heap, entry)
        while heap:
            _, name, version = heap[0]
            node = nodes[name]
            if node.version != version:
                heapq.heappop(heap)
                continue
            if verified.get(name) == version:
                return node, None, ""
            if not p.gpu_pod:
                verified[name] = version
                return node, None, ""
            reasons, fit = self._evaluate(node, p, explain=False, cached=True)
            if not reasons:
                verified[name] = version
                return node, fit, ""
            failed.set(name, reasons)
            heapq.heappop(heap)
        reason = failure_text(len(nodes), failed.counts)
        cache.reason = (len(self._changes), reason)
        return None, None, reason

    def _full_scan(self, p: _Prepared, *, explain: bool) -> tuple[Node | None, NodeFit | None, list[NodeVerdict], list[str]]:
        verdicts: list[NodeVerdict] = []
        best: tuple[float, str] | None = None
        best_fit: NodeFit | None = None
        keys: dict[str, float] = {}
        for name, node in self.state.nodes.items():
            reasons, fit = self._evaluate(node, p, explain=explain)
            verdict = NodeVerdict(name, not reasons, reasons, fit.detail if fit and not fit.ok else "")
            if explain and fit is not None:
                verdict.gpus = [
                    {"container": cname, "gpu_index": w.gpu_index, "gpu_uuid": w.gpu_id, "score": round(w.score, 4),
                     "verdict": w.verdict}
                    for cname, cfit in fit.containers for w in cfit.walk
                ]
            if not reasons:
                score = self._score(node, p)
                verdict.score = round(score, 4)
                key = self._order_key(score, p)
                keys[name] = key
                if best is None or (key, name) < best:
                    best, best_fit = (key, name), fit
            verdicts.append(verdict)
        if best is None:
            return None, None, verdicts, []
        tie = sorted(n for n, k in keys.items() if k == best[0]) if sum(1 for k in keys.values() if k == best[0]) > 1 else []
        return self.state.nodes[best[1]], best_fit, verdicts, tie

    def _commit(self, node: Node, p: _Prepared, allocations: list[Allocation]) -> None:
        node.cpu_requested_m += p.cpu_m
        node.memory_requested += p.memory
        node.pods += 1
        if allocations:
            record_pod_devices(node.gpus, allocations, self.options.version)
            for a in allocations:
                self._touched[(node.name, a.gpu_id)] = None
        self.node_changed(node)

    def node_changed(self, node: Node) -> None:
        """``node`` of the state changed (a pod landed, or left: :mod:`migctl.simulate.release`): a new
        node version (the per-node verdict and score caches key on it) and the node named in the change
        log the per-signature heaps replay, so it is considered again for every pod signature."""
        node.version += 1
        self._changes.append(node.name)


def _legacy_mig_warnings(allocations: list[Allocation], version: HamiVersion) -> list[str]:
    """v2.9 quirks worth a sentence (HAMi v2.9.0 pkg/device/nvidia/device.go; HAMi pkg/device/nvidia/device.go, vgpu-mode): the reset-branch bug (HAMi's issue tracker PR #2513) writes a
    slot other than the one taken, so the next scheduling cycle believes the written slot is in use
    and the taken one free; and when no geometry has a large enough instance, v2.9.0 hands the
    MIG-mode GPU out whole, without a ``[t-s]`` suffix."""
    out: list[str] = []
    if not version.legacy:
        return out
    for a in allocations:
        if a.mode == MIG_MODE and a.template is None:
            out.append(
                f"{a.gpu_id}: no MIG geometry has an instance of {a.memory_mib} MiB or more; HAMi 2.9.0 hands the "
                "mig-mode GPU out whole, without a [t-s] suffix (no MIG instance is created for it)")
        elif a.template is not None and a.instance is not None and a.instance != a.slot:
            out.append(
                f"{a.uuid_text}: HAMi 2.9 wrote the geometry entry index, but the {a.profile} instance taken is "
                f"slot {a.instance}; the next scheduling cycle sees slot {a.slot} in use and slot {a.instance} free, "
                "so a later pod can be given the same MIG instance (PR #2513, unmerged)")
    return out


def record_pod_devices(gpus: list[Gpu], allocations: list[Allocation], version: HamiVersion) -> None:
    """Add one pod's devices to the node as the next scheduling cycle rebuilds them from the annotations.

    v2.9 (HAMi v2.9.0 pkg/scheduler/scheduler.go ``onAddPod`` and ``getNodesUsage``): no collapse. Every
    device entry, init containers' included, adds one slot, its memory and its cores; ``[t-s]`` slots
    are marked in annotation order (the first suffix met on an idle GPU picks the template that is
    expanded).

    v2.10 (HAMi v2.10.0 pkg/device/initContainer.go ``CollapseInitContainerUsage``): per device UUID,
    app entries are summed; init entries (those whose *entry index* is below the pod's number of init
    containers, :attr:`Allocation.counted_as_init`) run one at a time, so HAMi takes their peak (one
    slot, the largest entry's memory and cores, even when one init container holds several
    instances); each GPU counts ``max(init peak, app sum)`` per field, at least one slot. Every
    reservation the pod names is put in use.
    """
    by_id = {g.id: g for g in gpus}
    if version.legacy:
        for a in allocations:
            gpu = by_id.get(a.gpu_id)
            if gpu is None:
                continue
            gpu.used += 1
            gpu.usedmem += a.memory_mib
            gpu.usedcores += a.cores
            legacy_mark(gpu, a.template, a.slot)
        return
    states: dict[str, tuple[list[int], list[int]]] = {}
    for a in allocations:
        peak, app = states.setdefault(a.uuid_text, ([0, 0, 0], [0, 0, 0]))
        if a.counted_as_init:
            peak[0] = 1
            peak[1] = max(peak[1], a.memory_mib)
            peak[2] = max(peak[2], a.cores)
        else:
            app[0] += 1
            app[1] += a.memory_mib
            app[2] += a.cores
    for key, (peak, app) in states.items():
        gpu = by_id.get(key)
        if gpu is None:
            continue
        gpu.used += max(peak[0], app[0], 1)
        gpu.usedmem += max(peak[1], app[1])
        gpu.usedcores += max(peak[2], app[2])
    for a in allocations:
        gpu = by_id.get(a.gpu_id)
        if gpu is not None and a.placement is not None and a.profile is not None:
            gpu.allocations.append(MigAllocationUsage.reserve(gpu.id, a.profile, a.placement))
