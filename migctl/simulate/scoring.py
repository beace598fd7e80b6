"""GPU and node scores and the sorts built on them (HAMi pkg/scheduler/policy/gpu_policy.go; HAMi pkg/scheduler/policy/node_policy.go).

HAMi keeps scores as Go ``float32``; :func:`f32` rounds every step the same way so that ties (and
near-ties) fall exactly as they do in HAMi. Sorts are stable, which matches Go's ``sort.Sort`` for
the 12 or fewer elements of a node's GPU list (insertion sort), so among equal keys the GPU listed
*last* in the register annotation is the one Fit meets first.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable, Sequence

from migctl.simulate.state import Gpu, Node
from migctl.simulate.version import HamiVersion

_F = struct.Struct("f")


def f32(x: float) -> float:
    """Round a Python float to the nearest IEEE-754 single (Go's ``float32(x)``)."""
    return _F.unpack(_F.pack(x))[0]


@functools.lru_cache(maxsize=1 << 16)
def _ratio(num: int, den: int) -> float:
    return f32(f32(float(num)) / f32(float(den)))


def device_score(gpu: Gpu, weights: tuple[int, int, int] = (1, 1, 1), *, legacy: bool = False) -> float:
    """``DeviceListsScore.ComputeScore``: current utilisation only (the request terms never apply
    to NVIDIA because request.Type "NVIDIA" never equals the device type; HAMi pkg/scheduler/policy/gpu_policy.go)."""
    return _device_score(gpu.used, gpu.count, gpu.usedcores, gpu.totalcore, gpu.usedmem, gpu.totalmem, weights, legacy)


@functools.lru_cache(maxsize=1 << 16)
def _device_score(used_n: int, count: int, usedcores: int, totalcore: int, usedmem: int, totalmem: int,
                  weights: tuple[int, int, int], legacy: bool) -> float:
    # pure function of small integers: cached (scores are recomputed for every GPU on every fit)
    if count == 0 or totalcore == 0 or totalmem == 0:
        return 0.0
    used = _ratio(used_n, count)
    core = _ratio(usedcores, totalcore)
    mem = _ratio(usedmem, totalmem)
    if legacy:
        return f32(10.0 * f32(f32(used + core) + mem))
    ws, wc, wm = weights
    total = f32(f32(f32(ws * used) + f32(wc * core)) + f32(wm * mem))
    return f32(10.0 * total)


def sort_gpus(gpus: Sequence[Gpu], scores: dict[int, float], policy: str, *, numa_bind: bool,
              version: HamiVersion) -> list[Gpu]:
    """``sort.Sort(DeviceUsageList)`` under the pod's GPU policy; ``scores`` is keyed by ``id(gpu)``.

    v2.9: NUMA is the primary key (binpack: NUMA descending then score ascending; spread: NUMA
    ascending then score descending). v2.10: the score is primary with NUMA ascending as the
    tie-break; ``mutex`` sorts by Used descending; comma chains (``binpack,numa``) compare key by
    key and end on the device index; ``numa-bind`` keeps NUMA groups contiguous
    (:func:`_current_sort_key` has the details).
    """
    if version.legacy:
        if policy == "binpack":
            key = lambda g: (-g.numa, scores[id(g)])  # noqa: E731
        else:
            key = lambda g: (g.numa, -scores[id(g)])  # noqa: E731
        return sorted(gpus, key=key)
    return sorted(gpus, key=_current_sort_key(policy, scores, numa_bind))


SORT_KEYS = ("binpack", "spread", "numa")


def policy_tokens(policy: str) -> list[str]:
    """The comma-separated tokens of a v2.10 GPU policy, trimmed (``util.PolicyContains``)."""
    return [p.strip() for p in policy.split(",")]


def _current_sort_key(policy: str, scores: dict[int, float], numa_bind: bool):
    """v2.10 ``DeviceUsageList.Less`` as a sort key (gpu_policy.go):

    - the policy is trimmed; one with a comma, or bare ``numa``, is a chain of the sort keys
      binpack/spread/numa it names, in order, deduplicated (mutex and topology-aware are Fit
      filters, not sort keys); no key left means spread; numa-bind forces numa to the front; the
      device index breaks what the chain leaves tied;
    - ``mutex``: Used descending, then NUMA ascending;
    - numa-bind with a single policy: NUMA groups first (binpack: NUMA descending then score
      ascending; anything else: NUMA ascending then score descending);
    - otherwise the score first (binpack ascending, anything else descending), NUMA ascending.
    """
    policy = policy.strip()
    if "," in policy or policy == "numa":
        chain: list[str] = []
        for token in policy_tokens(policy):
            if token in SORT_KEYS and token not in chain:
                chain.append(token)
        chain = chain or ["spread"]
        if numa_bind and chain[0] != "numa":
            chain = ["numa"] + [k for k in chain if k != "numa"]

        def chained(g: Gpu) -> tuple:
            parts: list = []
            for k in chain:
                if k == "binpack":
                    parts.append(scores[id(g)])
                elif k == "spread":
                    parts.append(-scores[id(g)])
                else:
                    parts.append(g.numa)
            parts.append(g.index)
            return tuple(parts)

        return chained
    if policy == "mutex":
        return lambda g: (-g.used, g.numa)
    binpack = policy == "binpack"
    if numa_bind:
        if binpack:
            return lambda g: (-g.numa, scores[id(g)])
        return lambda g: (g.numa, -scores[id(g)])
    if binpack:
        return lambda g: (scores[id(g)], g.numa)
    return lambda g: (-scores[id(g)], g.numa)


def node_score(gpus: Iterable[Gpu]) -> float:
    """``ComputeDefaultScore``: 10 * (ΣUsed/ΣCount + ΣUsedcores/ΣTotalcore + ΣUsedmem/ΣTotalmem),
    before the pod is placed; CPU and host memory do not count (HAMi pkg/scheduler/policy/node_policy.go)."""
    used = count = cores = totalcore = mem = totalmem = 0
    for g in gpus:
        used += g.used
        count += g.count
        cores += g.usedcores
        totalcore += g.totalcore
        mem += g.usedmem
        totalmem += g.totalmem
    score = 0.0
    if count:
        score = f32(score + _ratio(used, count))
    if totalcore:
        score = f32(score + _ratio(cores, totalcore))
    if totalmem:
        score = f32(score + _ratio(mem, totalmem))
    return f32(10.0 * score)


def combined_node_score(node: Node) -> float:
    """HAMi's dynamic MIG design (``--node-score combined``): GPU memory plus CPU and host memory together.

    10 * (ΣUsedmem/ΣTotalmem + CPU requested/allocatable + memory requested/allocatable), before
    the pod; a term whose capacity is unknown or zero counts 0. Binpack picks the highest.
    """
    mem = sum(g.usedmem for g in node.gpus)
    total = sum(g.totalmem for g in node.gpus)
    score = mem / total if total else 0.0
    if node.cpu_allocatable_m:
        score += node.cpu_requested_m / node.cpu_allocatable_m
    if node.memory_allocatable:
        score += node.memory_requested / node.memory_allocatable
    return 10.0 * score
