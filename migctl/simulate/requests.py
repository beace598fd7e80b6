"""What HAMi asks of the GPUs for one pod: webhook defaults, per-container requests, pod options.

- :func:`mutate` is the webhook (``nvidia.MutateAdmission``, HAMi pkg/device/nvidia/device.go MutateAdmission): it may add a count
  limit (``defaultGPUNum``) and the exclusive ``gpucores=100`` default, or deny the pod.
- :func:`container_request` is ``nvidia.GenerateResourceRequests`` (HAMi pkg/device/nvidia/device.go GenerateResourceRequests).
- :func:`pod_options` reads the pod annotations that steer Fit and the sorts (HAMi pkg/device/devices.go EncodePodSingleDevice).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from migctl.simulate.pod import ContainerSpec, PodSpec
from migctl.cluster import codecs
from migctl.cluster.quantity import as_int64, parse_quantity
from migctl.config.model import NvidiaConfig
from migctl.simulate.version import HamiVersion

UNSET_PERCENTAGE = 101  # HAMi's sentinel for "gpumem-percentage not given"
INT32_MAX = 2**31 - 1
#: Kubernetes caps every quantity at 2^63-1 (apimachinery pkg/api/resource/quantity.go, the Quantity doc).
INT64_MAX = 2**63 - 1

VGPU_MODE = codecs.POD_VGPU_MODE
USE_GPUTYPE = "nvidia.com/use-gputype"
NOUSE_GPUTYPE = "nvidia.com/nouse-gputype"
USE_GPUUUID = "nvidia.com/use-gpuuuid"
NOUSE_GPUUUID = "nvidia.com/nouse-gpuuuid"
NUMA_BIND = "nvidia.com/numa-bind"
GPU_POLICY = "hami.io/gpu-scheduler-policy"
NODE_POLICY = "hami.io/node-scheduler-policy"
SCORING_WEIGHTS = "hami.io/device-scoring-weights"


@dataclass(frozen=True, slots=True)
class ContainerRequest:
    """``ContainerDeviceRequest`` for NVIDIA (HAMi pkg/device/nvidia/device.go GenerateResourceRequests)."""

    nums: int
    memreq: int
    mem_percentage: int
    coresreq: int


@dataclass(frozen=True, slots=True)
class ContainerRequests:
    """One container and its NVIDIA request (None: it asks for no GPU)."""

    container: str
    init: bool
    request: ContainerRequest | None
    #: Why HAMi drops a GPU request the container does make (the pod then gets no GPU and fails at the
    #: kubelet): the simulation reports the pod unschedulable with this reason.
    ignored: str | None = None


@dataclass(frozen=True, slots=True)
class PodOptions:
    """Pod annotations that steer HAMi's Fit and sorts."""

    vgpu_mode: str | None = None
    use_gputype: tuple[str, ...] | None = None
    nouse_gputype: tuple[str, ...] | None = None
    use_uuid: tuple[str, ...] | None = None
    nouse_uuid: tuple[str, ...] | None = None
    numa_bind: bool = False
    gpu_policy: str = "spread"
    node_policy: str = "binpack"
    weights: tuple[int, int, int] = (1, 1, 1)  # slot, core, memory


class Denied(Exception):
    """The webhook (or the API server) would refuse the pod."""


class InvalidGpuRequest(ValueError):
    """A GPU resource value the API server would refuse (not a whole quantity >= 0); names pod, container, field."""


def gpu_resource_names(cfg: NvidiaConfig) -> tuple[str, ...]:
    """The resource names HAMi reads GPU requests from: the device-config's (``nvidia.resource*Name``)."""
    names = (cfg.resource_count_name, cfg.resource_memory_name, cfg.resource_memory_percentage_name,
             cfg.resource_core_name, cfg.resource_priority_name)
    return tuple(dict.fromkeys(n for n in names if n))


def gpu_quantity_problem(value: object) -> str | None:
    """Why ``value`` is not a valid GPU resource quantity, or None. The API server accepts only a whole,
    non-negative quantity for an extended resource (k8s pkg/apis/core/validation ValidateResourceRequirements:
    "must be an integer", "must be greater than or equal to 0"); a huge one is valid (and unschedulable)."""
    if value is None or isinstance(value, (bool, list, dict)):
        return f"expected a whole number >= 0, got {_shown(value)}"
    try:
        quantity = parse_quantity(value)
    except ValueError as exc:
        return f"{exc} (expected a whole number >= 0)"
    if quantity < 0:
        return f"{_shown(value)} is negative (expected a whole number >= 0)"
    if quantity.denominator != 1:
        return f"{_shown(value)} is not a whole number (an extended resource must be an integer)"
    return None


def _shown(value: object) -> str:
    from migctl.yamlio.numbers import shorten

    return "null" if value is None else shorten(value)


def check_gpu_requests(pods: Iterable[PodSpec], cfg: NvidiaConfig) -> None:
    """:class:`InvalidGpuRequest` for the first GPU resource of ``pods`` that is not a whole quantity >= 0.

    A text or integer found valid once is not parsed again: a pod file repeats a few quantities."""
    names = gpu_resource_names(cfg)
    valid: set[str | int] = set()
    for pod in pods:
        for c in pod.containers:
            for where, values in (("limits", c.limits), ("requests", c.requests)):
                for name in names:
                    if name not in values:
                        continue
                    value = values[name]
                    plain = value.__class__ is str or value.__class__ is int  # not bool, not float: 1 == True == 1.0
                    if plain and value in valid:
                        continue
                    problem = gpu_quantity_problem(value)
                    if problem is not None:
                        source = f"{pod.source}: " if pod.source else ""
                        raise InvalidGpuRequest(f"{source}pod {pod.key} container {c.name}: "
                                                f"resources.{where}.{name}: {problem}")
                    if plain:
                        valid.add(value)


def _count(value: object) -> int | None:
    """A whole quantity as the API server stores it (capped at 2^63-1), None when it is not one."""
    try:
        quantity = parse_quantity(value)
    except ValueError:
        return None
    if quantity.denominator != 1:
        return None
    return min(quantity.numerator, INT64_MAX)


def _get(c: ContainerSpec, name: str, *, limits_only: bool = False):
    if not name:
        return None
    if name in c.limits:
        return c.limits[name]
    if limits_only:
        return None
    return c.requests.get(name)


def mutate(pod: PodSpec, cfg: NvidiaConfig, version: HamiVersion) -> PodSpec:
    """The webhook's mutation of the containers (HAMi pkg/device/nvidia/device.go MutateAdmission); raises :class:`Denied`.

    v2.9.0's ``Handle`` (pkg/scheduler/webhook.go) loops over ``pod.Spec.Containers`` only: init
    containers keep their resources as written (no ``defaultGPUNum``, no exclusive ``gpucores: 100``).
    v2.10.0's ``Handle`` mutates ``pod.Spec.InitContainers`` too.
    """
    if pod.node_name:
        raise Denied("the HAMi webhook denies pods that already have spec.nodeName")
    out = []
    for c in pod.containers:
        if c.init and version.legacy:
            out.append(c)
            continue
        limits = dict(c.limits)
        pct_name = cfg.resource_memory_percentage_name
        if not version.legacy and pct_name and (pct_name in limits or pct_name in c.requests):
            pct = as_int64(_get(c, pct_name))
            if pct is None or not 0 <= pct <= 100:
                raise Denied(f"container {c.name}: {pct_name} must be between 0 and 100")
        count_name = cfg.resource_count_name
        if count_name not in limits:
            others = (cfg.resource_core_name, cfg.resource_memory_name, pct_name)
            if any(n and n in limits for n in others) and cfg.default_gpu_num > 0:
                limits[count_name] = cfg.default_gpu_num
        has_count = count_name in limits or count_name in c.requests
        if has_count and _get(c, cfg.resource_core_name) is None:
            # defaultExclusiveCoreIfNeeded (v2.7+): defaultMemory is not looked at (quirk)
            pct = as_int64(_get(c, pct_name)) if _get(c, pct_name) is not None else None
            no_mem = _get(c, cfg.resource_memory_name) is None and _get(c, pct_name) is None
            if pct == 100 or not cfg.resource_memory_name or no_mem:
                if cfg.resource_core_name:
                    limits[cfg.resource_core_name] = 100
        if has_count and c.privileged:
            raise Denied(f"container {c.name}: the HAMi webhook denies privileged containers that request GPUs")
        out.append(ContainerSpec(c.name, limits, c.requests, c.init, c.privileged, c.sidecar))
    return PodSpec(pod.namespace, pod.name, pod.annotations, tuple(out), pod.node_selector, pod.affinity_terms,
                   pod.tolerations, pod.node_name, pod.source)


def _int32(value: int) -> int:
    """Go's ``int32(x)`` conversion (wraps around), as v2.9 applies it to the quantities it reads."""
    return (value + 2**31) % 2**32 - 2**31


def container_request(c: ContainerSpec, cfg: NvidiaConfig, version: HamiVersion) -> ContainerRequest | None:
    """``GenerateResourceRequests``: None when the container asks for no NVIDIA GPU."""
    count = _get(c, cfg.resource_count_name)
    if count is None:
        return None
    nums = _count(count)  # a huge count stays huge: more GPUs than any node has
    if nums is None or nums <= 0:
        return None
    factor = max(cfg.memory_factor, 1)
    memnum = 0
    mem_raw = _get(c, cfg.resource_memory_name)
    if mem_raw is not None:
        mem = as_int64(mem_raw)
        if version.legacy:
            memnum = (mem or 0) * factor  # a Go int here; int32() only when the request is built
        else:
            if mem is None or mem < 0 or mem > INT32_MAX // factor:
                return None  # HEAD: an unreadable gpumem empties the whole request
            memnum = mem * factor
    pct = UNSET_PERCENTAGE
    pct_raw = _get(c, cfg.resource_memory_percentage_name)
    if pct_raw is not None:
        value = as_int64(pct_raw)
        if value is not None:
            pct = _int32(value) if version.legacy else value
            if not version.legacy:
                if pct > 100:
                    pct = 100
                elif pct <= 0:
                    pct = UNSET_PERCENTAGE
    if pct == UNSET_PERCENTAGE and memnum == 0:
        if cfg.default_memory != 0:
            memnum = cfg.default_memory
        else:
            pct = 100
    cores = cfg.default_cores
    core_raw = _get(c, cfg.resource_core_name)
    if core_raw is not None:
        value = as_int64(core_raw)
        if value is not None:
            cores = _int32(value)
    if version.legacy:
        memnum = _int32(memnum)
    return ContainerRequest(nums=int(nums), memreq=int(memnum), mem_percentage=int(pct), coresreq=int(cores))


def pod_requests(pod: PodSpec, cfg: NvidiaConfig, version: HamiVersion) -> tuple[ContainerRequests, ...]:
    """Per-container requests, init containers first (``device.Resourcereqs``, HAMi pkg/scheduler/scheduler.go Filter)."""
    out = []
    for c in pod.containers:
        request = container_request(c, cfg, version)
        out.append(ContainerRequests(c.name, c.init, request,
                                     _ignored_reason(c, cfg, version) if request is None else None))
    return tuple(out)


def _ignored_reason(c: ContainerSpec, cfg: NvidiaConfig, version: HamiVersion) -> str | None:
    """Why a container that asks for GPUs gets no request from HAMi (v2.10: a gpumem it cannot read)."""
    count = _get(c, cfg.resource_count_name)
    if count is None or not (_count(count) or 0) > 0 or version.legacy:
        return None
    mem_raw = _get(c, cfg.resource_memory_name)
    if mem_raw is None:
        return None
    limit = INT32_MAX // max(cfg.memory_factor, 1)
    return (f"{cfg.resource_memory_name} {_shown(mem_raw)} is more than the {limit} MiB HAMi reads: HAMi drops the "
            "GPU request and the pod would be bound without a GPU (the kubelet then fails it)")


def _split(value: str, *, trim: bool) -> tuple[str, ...]:
    parts = value.split(",")
    if trim:
        parts = [p.strip() for p in parts]
        parts = [p for p in parts if p]
    return tuple(parts)


def _parse_bool(value: str) -> bool:
    """Go's ``strconv.ParseBool`` (false on anything unparseable)."""
    return value in ("1", "t", "T", "TRUE", "true", "True")


def _parse_weights(value: str) -> tuple[int, int, int] | None:
    """``util.ParseDeviceScoringWeights``: ``slot=1,core=1,memory=3`` (all keys, ints >= 0, one > 0)."""
    found: dict[str, int] = {}
    for part in value.split(","):
        k, sep, v = part.partition("=")
        k = k.strip()
        if not sep or k not in ("slot", "core", "memory") or k in found:
            return None
        try:
            n = int(v.strip())
        except ValueError:
            return None
        if n < 0:
            return None
        found[k] = n
    if len(found) != 3 or not any(found.values()):
        return None
    return found["slot"], found["core"], found["memory"]


def pod_options(pod: PodSpec, version: HamiVersion, *, gpu_policy: str, node_policy: str) -> PodOptions:
    """Annotations that steer the scheduler, with HAMi's per-version parsing (HAMi pkg/device/devices.go EncodePodSingleDevice)."""
    a = pod.annotations
    trim = not version.legacy

    def lst(key: str) -> tuple[str, ...] | None:
        if key not in a:
            return None
        parts = _split(a[key], trim=trim)
        return parts if (parts or version.legacy) else None

    use_uuid = lst(USE_GPUUUID)
    nouse_uuid = lst(NOUSE_GPUUUID)
    if version.legacy and use_uuid is not None:
        nouse_uuid = None  # v2.9: when use-gpuuuid is present nouse-gpuuuid is ignored
    weights = (1, 1, 1)
    if not version.legacy and SCORING_WEIGHTS in a:
        weights = _parse_weights(a[SCORING_WEIGHTS]) or weights
    return PodOptions(
        vgpu_mode=a.get(VGPU_MODE),
        use_gputype=lst(USE_GPUTYPE),
        nouse_gputype=lst(NOUSE_GPUTYPE),
        use_uuid=use_uuid,
        nouse_uuid=nouse_uuid,
        numa_bind=_parse_bool(a.get(NUMA_BIND, "")),
        # present means used, even when empty (GetGPUSchedulerPolicyByPod / resolveNodeSchedulerPolicy):
        # "" then sorts as spread for GPUs and as binpack for nodes, whatever the scheduler's flags say
        gpu_policy=a[GPU_POLICY] if GPU_POLICY in a else gpu_policy,
        node_policy=a[NODE_POLICY] if NODE_POLICY in a else node_policy,
        weights=weights,
    )
