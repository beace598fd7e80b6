"""Cheap per-node questions that let the replay skip placements it knows will fail.

``Simulator.place`` is exact but reports a failing pod with every node's reason (work in the number
of nodes). In a saturated replay most attempts fail, so the replay first asks, for the few nodes that
got freer since the pod (or an identical one) last failed everywhere, whether the pod could fit there:
kube-scheduler's filters and HAMi's ``Fit`` on that node alone, with the same functions the simulator
uses (the webhook, the requests, ``fit_pod``, ``kube_filter``). Only when one could does the replay
call ``place``. This is exact because both filters are monotone in usage: a node that did not fit a
pod does not fit it after more pods land on it, and only a departure makes a node freer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from migctl.simulate.fit import fit_pod
from migctl.simulate.kube_filters import kube_filter
from migctl.simulate.pod import PodSpec
from migctl.simulate.requests import Denied, mutate, pod_options, pod_requests


@dataclass(frozen=True, slots=True)
class Prepared:
    pod: PodSpec
    gpu_key: Any  # (requests, options): what HAMi's fit depends on; None when the webhook denies the pod
    cpu_m: int
    memory: int
    gpu_pod: bool
    kube_key: Any = None  # what kube-scheduler's filters read of the pod
    gpu_id: int = -1  # gpu_key interned (-1: denied)
    kube_id: int = -1  # kube_key interned


class Probe:
    def __init__(self, simulator: Any) -> None:
        self.simulator = simulator
        self._fits: dict[tuple[Any, str], tuple[int, bool]] = {}
        self._kube: dict[tuple[Any, str], tuple[int, bool]] = {}
        self._interned: dict[Any, int] = {}

    def prepare(self, pod: PodSpec) -> Prepared:
        sim = self.simulator
        version = sim.options.version
        try:
            mutated = mutate(pod, sim.config, version)
        except Denied:
            return Prepared(pod, None, 0, 0, False)
        requests = pod_requests(mutated, sim.config, version)
        options = pod_options(mutated, version, gpu_policy=sim.options.gpu_policy,
                              node_policy=sim.options.node_policy)
        gpu_pod = any(r.request is not None for r in requests)
        cpu_m, memory = mutated.cpu_request_m(), mutated.memory_request()
        kube_key = (cpu_m, memory, tuple(sorted(mutated.node_selector.items())), mutated.affinity_terms,
                    mutated.tolerations)
        gpu_key = (requests, options) if gpu_pod else ()
        intern = self._interned
        return Prepared(mutated, gpu_key, cpu_m, memory, gpu_pod, kube_key,
                        intern.setdefault(("gpu", gpu_key), len(intern)), intern.setdefault(("kube", kube_key), len(intern)))

    def gpu_fits(self, p: Prepared, node: Any) -> bool:
        """HAMi's Fit of the pod's GPU requests on this node alone (cached per node version)."""
        if p.gpu_key is None:
            return False
        if not p.gpu_pod:
            return True
        key = (p.gpu_id, node.name)
        hit = self._fits.get(key)
        if hit is not None and hit[0] == node.version:
            return hit[1]
        requests, options = p.gpu_key
        ok = fit_pod(node.gpus, requests, options, self.simulator.options.version).ok
        self._fits[key] = (node.version, ok)
        return ok

    def fits(self, p: Prepared, node: Any) -> bool:
        """kube-scheduler's filters and HAMi's Fit on this node alone."""
        if p.gpu_key is None or not self.gpu_fits(p, node):
            return False
        key = (p.kube_id, node.name)
        hit = self._kube.get(key)
        if hit is not None and hit[0] == node.version:
            return hit[1]
        ok = not kube_filter(p.pod, node, p.cpu_m, p.memory)
        self._kube[key] = (node.version, ok)
        return ok


def gpu_only_failure(reason: str | None) -> bool:
    """True when a failure text says every node failed on HAMi's GPU fit (no kube-scheduler reason).

    The simulator words a failure as kube-scheduler does: ``0/N nodes are available: 5
    CardInsufficientMemory, 2 Insufficient cpu.``; HAMi's reasons are single CamelCase names,
    kube-scheduler's are phrases. Anything else (or no node at all) answers False: no shortcut.
    """
    if not reason or not reason.startswith("0/") or ": " not in reason:
        return False
    parts = reason.split(": ", 1)[1].rstrip(".").split(", ")
    for part in parts:
        count, _, token = part.partition(" ")
        if not count.isdigit() or not token or " " in token:
            return False
    return True
