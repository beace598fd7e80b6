"""The one place where :mod:`migctl.capacity` reaches past ``migctl.simulate``'s package-level names.

Capacity asks the simulator's own questions, never an estimate: the webhook and HAMi's per-container
requests (``mutate``, ``pod_requests``, ``pod_options``), HAMi's per-node ``Fit`` on a list of GPUs
(``fit_pod``, which never mutates its input), kube-scheduler's filters and an idle copy of a GPU
(``blank``, the base :mod:`migctl.simulate.release` rebuilds on). If the simulate package moves
these, only this module changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from migctl.simulate.fit import fit_pod
from migctl.simulate.kube_filters import TOO_MANY_PODS, kube_filter
from migctl.cluster.quantity import as_int64
from migctl.simulate.release import blank
from migctl.simulate.requests import Denied, mutate, pod_options, pod_requests

__all__ = ["Prepared", "prepare", "fits_on", "kube_reasons", "gpu_state_key", "as_int64", "TOO_MANY_PODS", "blank"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A pod after HAMi's webhook: what ``Fit`` needs (``denied`` set when the webhook refuses it)."""

    pod: Any
    requests: tuple
    options: Any
    denied: str | None = None


def prepare(pod: Any, config: Any, options: Any) -> Prepared:
    """The webhook, the requests and the pod options, as :class:`migctl.simulate.Simulator` builds them."""
    try:
        mutated = mutate(pod, config, options.version)
    except Denied as exc:
        return Prepared(pod, (), None, f"admission webhook denied the pod: {exc}")
    requests = pod_requests(mutated, config, options.version)
    opts = pod_options(mutated, options.version, gpu_policy=options.gpu_policy, node_policy=options.node_policy)
    return Prepared(mutated, requests, opts)


def fits_on(gpus: list, prepared: Prepared, version: Any) -> tuple[bool, str]:
    """HAMi's ``Fit`` of the pod on these GPUs (one node, or one GPU alone): (ok, reason)."""
    if prepared.denied is not None:
        return False, prepared.denied
    fit = fit_pod(gpus, prepared.requests, prepared.options, version)
    return fit.ok, fit.reason


def kube_reasons(prepared: Prepared, node: Any) -> list[str]:
    """kube-scheduler's filter reasons for the pod on the node (CPU, memory, pods, taints, selectors)."""
    pod = prepared.pod
    return kube_filter(pod, node, pod.cpu_request_m(), pod.memory_request())


def gpu_state_key(g: Any) -> tuple:
    """Everything a one-device ``Fit`` and its placement read from a :class:`migctl.simulate.Gpu` (not its
    id, index, NUMA node or topology scores): equal keys, equal answers."""
    return (g.type, g.mode, g.count, g.totalmem, g.totalcore, g.health, g.cordoned, g.used, g.usedmem,
            g.usedcores, g.templates, g.mig_index, tuple((s.name, s.memory, s.core, s.in_use) for s in g.usage_list),
            g.profiles, tuple((a.profile, a.placement) for a in g.allocations))
