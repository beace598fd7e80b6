"""Fitting one pod's GPU requests onto one node: ``scoreNode`` → ``fitInDevices`` → ``Fit``.

Follows HAMi pkg/scheduler/scheduler.go Filter; HAMi v2.9.0 pkg/device/nvidia/device.go; HAMi v2.10.0 pkg/device/nvidia/device.go selectMigCandidate.
Containers, per generation:

- v2.9.0 (``calcScore`` in pkg/scheduler/score.go): every container, init containers first, in order on
  one shared copy of the node's GPUs: an init container's devices count for the containers after it.
- v2.10.0 (``scoreNode`` / ``allocateInitContainers`` / ``allocateAppContainers`` in pkg/scheduler/score.go):
  each init container on a fresh copy of the node's GPUs, app containers in order on one shared copy.

Per container the GPUs are scored and sorted by the pod's GPU policy, then walked from the *end* of
the sorted list; a MIG GPU that accepts a device is visited again (``i++``) so one GPU can give a
container several instances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

from migctl.simulate import mig
from migctl.simulate.requests import UNSET_PERCENTAGE, ContainerRequest, ContainerRequests, PodOptions
from migctl.simulate.scoring import device_score, policy_tokens, sort_gpus
from migctl.simulate.state import MIG_MODE, Gpu, Placement
from migctl.simulate.version import HamiVersion

# Reason names from HAMi's pkg/device/common/common.go (HAMi pkg/device/nvidia/device.go Fit)
CARD_NOT_HEALTH = "CardNotHealth"
CARD_CORDONED = "CardCordoned"
CARD_TYPE_MISMATCH = "CardTypeMismatch"
NUMA_NOT_FIT = "NumaNotFit"
CARD_UUID_MISMATCH = "CardUuidMismatch"
CARD_TIME_SLICING_EXHAUSTED = "CardTimeSlicingExhausted"
EXCLUSIVE_CONFLICT = "ExclusiveDeviceAllocateConflict"
CARD_INSUFFICIENT_MEMORY = "CardInsufficientMemory"
CARD_INSUFFICIENT_CORE = "CardInsufficientCore"
CARD_COMPUTE_EXHAUSTED = "CardComputeUnitsExhausted"
CARD_CUSTOM_FILTER = "CardNotFoundCustomFilterRule"
CARD_MIG_INFEASIBLE = "CardMigTopologyInfeasible"
NODE_INSUFFICIENT_DEVICE = "NodeInsufficientDevice"
MIG_ALLOCATE_FAIL = "MigTemplateAllocateFail"
ALLOCATED_INSUFFICIENT = "AllocatedCardsInsufficientRequest"

TOPOLOGY_AWARE = "topology-aware"


@dataclass(slots=True)
class Selected:
    """A device Fit queued for a container (``ContainerDevice`` before AddResourceUsage)."""

    gpu: Gpu
    usedmem: int
    usedcores: int


@dataclass(slots=True)
class DeviceVerdict:
    """One step of Fit's walk, for ``--explain``."""

    gpu_index: int
    gpu_id: str
    score: float
    verdict: str  # a reason name, or "selected"


@dataclass(slots=True)
class Allocation:
    """One device given to a container, after AddResourceUsage."""

    container: str
    container_index: int
    init: bool
    gpu_id: str
    gpu_index: int
    mode: str
    memory_mib: int
    cores: int
    profile: str | None = None
    template: int | None = None  # legacy [t-s]
    slot: int | None = None
    placement: Placement | None = None  # v2.10
    instance: int | None = None  # legacy: the slot AddResourceUsage took (``slot`` is what the suffix says)
    entry: int = -1  # the container's entry in hami.io/vgpu-devices-allocated (-1: its own index)
    rebuilt_as_init: bool | None = None  # how the next cycle counts it (None: as ``init`` says)

    @property
    def entry_index(self) -> int:
        """Where HAMi writes this device: the container's entry in ``hami.io/vgpu-devices-allocated``
        and the MIG ``containerIndex`` (see :func:`annotation_layout`)."""
        return self.container_index if self.entry < 0 else self.entry

    @property
    def counted_as_init(self) -> bool:
        """Whether the next scheduling cycle counts this device as an init container's (its entry
        index is below the pod's number of init containers, HAMi v2.10.0 pkg/device/initContainer.go
        CollapseInitContainerUsage)."""
        return self.init if self.rebuilt_as_init is None else self.rebuilt_as_init

    @property
    def uuid_text(self) -> str:
        """The UUID as written into ``hami.io/vgpu-devices-allocated`` (legacy ``[t-s]`` suffix)."""
        if self.template is not None and self.slot is not None:
            return f"{self.gpu_id}[{self.template}-{self.slot}]"
        return self.gpu_id


@dataclass(slots=True)
class ContainerFit:
    ok: bool
    reason: str = ""  # dominant reason when not ok
    reasons: dict[str, int] = field(default_factory=dict)  # device reason -> devices that gave it
    total: int = 0  # devices on the node (GenReason's denominator)
    walk: list[DeviceVerdict] = field(default_factory=list)
    note: str = ""  # something the user should know about the choice (topology-aware quirks)

    def detail(self) -> str:
        """``common.GenReason``: "3/4 CardInsufficientMemory, 1/4 CardTypeMismatch"."""
        if not self.reasons:
            return self.reason
        items = sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        return ", ".join(f"{n}/{self.total} {name}" for name, n in items)


@dataclass(slots=True)
class NodeFit:
    """The outcome of fitting a pod's GPU requests on one node; :attr:`detail` says why it fails."""

    ok: bool
    reason: str = ""
    error: str = ""  # the detail of a failure that is not a container's device walk (MIG allocation)
    allocations: list[Allocation] = field(default_factory=list)
    containers: list[tuple[str, ContainerFit]] = field(default_factory=list)
    entries: int | None = None  # entries HAMi writes in hami.io/vgpu-devices-allocated (None: one per container)
    layout_note: str = ""  # set when HAMi writes devices against the wrong container index

    @property
    def detail(self) -> str:
        """``container NAME: <GenReason>`` for the container that does not fit (``error`` for a failed
        MIG allocation, "" when the pod fits); worked out when asked, as only ``--explain`` shows it."""
        if self.ok:
            return ""
        if self.error:
            return self.error
        name, cfit = self.containers[-1]
        return f"container {name}: {cfit.detail()}"


def _type_ok(gpu: Gpu, opts: PodOptions) -> bool:
    """``checkType``: use/nouse gputype (case-insensitive substring) and vgpu-mode ⊇ mode."""
    if opts.use_gputype is not None and not any(u.upper() in gpu.type.upper() for u in opts.use_gputype):
        return False
    if opts.nouse_gputype is not None and any(u.upper() in gpu.type.upper() for u in opts.nouse_gputype):
        return False
    if opts.vgpu_mode is not None and gpu.mode not in opts.vgpu_mode:
        return False
    return True


def _uuid_ok(gpu: Gpu, opts: PodOptions) -> bool:
    if opts.use_uuid is not None and gpu.id not in opts.use_uuid:
        return False
    if opts.nouse_uuid is not None and gpu.id in opts.nouse_uuid:
        return False
    return True


def device_order(gpus: list[Gpu], opts: PodOptions, version: HamiVersion) -> list[Gpu]:
    """The GPUs in the order ``fitInDevices`` sorts them for this pod's GPU policy (``sort.Sort``
    over the device scores, HAMi pkg/scheduler/policy/gpu_policy.go); Fit walks it from the end."""
    legacy = version.legacy
    scores = {id(g): device_score(g, opts.weights, legacy=legacy) for g in gpus}
    return sort_gpus(gpus, scores, opts.gpu_policy, numa_bind=opts.numa_bind, version=version)


def fit_container(gpus: list[Gpu], req: ContainerRequest, opts: PodOptions, version: HamiVersion,
                  *, explain: bool = False, in_place: bool = False,
                  order: list[Gpu] | None = None) -> tuple[ContainerFit, list[Selected]]:
    """``fitInDevices`` up to (not including) AddResourceUsage: sort, count check, ``Fit``.

    ``in_place``: leave ``gpus`` in the sorted order, as ``sort.Sort(node.Devices)`` does on the
    pod's shared app copy; the next container's (stable) sort starts from that order, which decides
    its ties (HAMi pkg/scheduler/scheduler.go Filter; HAMi pkg/scheduler/policy/gpu_policy.go).
    ``order``: :func:`device_order` of ``gpus`` for these options, already computed (not with
    ``explain``, whose walk shows the scores, nor ``in_place``).
    """
    legacy = version.legacy
    if order is not None and not explain and not in_place:
        devices = order
    else:
        scores = {id(g): device_score(g, opts.weights, legacy=legacy) for g in gpus}
        devices = sort_gpus(gpus, scores, opts.gpu_policy, numa_bind=opts.numa_bind, version=version)
    if in_place:
        gpus[:] = devices
    result = ContainerFit(ok=False, total=len(devices))
    if legacy:
        if req.nums > len(gpus):
            result.reason = NODE_INSUFFICIENT_DEVICE
            return result, []
    else:
        type_devices = [g for g in devices if "nvidia" in g.type.lower()]
        if req.nums > len(type_devices):
            mig_request = (opts.vgpu_mode is None or "mig" in opts.vgpu_mode) and any(g.is_mig for g in devices)
            if not mig_request:
                result.reason = NODE_INSUFFICIENT_DEVICE
                return result, []
    reasons = result.reasons
    walk = result.walk
    # v2.9 compares the policy as a whole; v2.10 reads mutex and topology-aware as tokens of a chain
    tokens = () if legacy else policy_tokens(opts.gpu_policy)
    topology = opts.gpu_policy == TOPOLOGY_AWARE if legacy else TOPOLOGY_AWARE in tokens
    mutex = "mutex" in tokens
    nums = req.nums
    cores = min(req.coresreq, 100)
    selected: list[Selected] = []
    prev_numa = None
    i = len(devices) - 1
    while i >= 0:
        dev = devices[i]
        verdict = ""
        if not dev.health:
            verdict = CARD_NOT_HEALTH
        elif not legacy and dev.cordoned:
            verdict = CARD_CORDONED
        elif not _type_ok(dev, opts):
            verdict = CARD_TYPE_MISMATCH
        if not verdict and opts.numa_bind and prev_numa != dev.numa:
            if nums != req.nums:
                # v2.9 adds len(tmpDevs), the vendor map (1 once anything was queued); v2.10 the devices queued
                reasons[NUMA_NOT_FIT] = reasons.get(NUMA_NOT_FIT, 0) + (1 if legacy else len(selected))
            nums = req.nums
            prev_numa = dev.numa
            selected = []
        if not verdict:
            verdict = _check_capacity(dev, req, cores, opts, selected, version, mutex)
        if verdict:
            reasons[verdict] = reasons.get(verdict, 0) + 1
            if explain:
                walk.append(DeviceVerdict(dev.index, dev.id, scores[id(dev)], verdict))
            i -= 1
            continue
        memreq = _memreq(dev, req)
        if not topology:
            nums -= 1
        selected.append(Selected(dev, memreq, cores))
        if explain:
            walk.append(DeviceVerdict(dev.index, dev.id, scores[id(dev)], "selected"))
        if nums == 0:
            result.ok = True
            result.reasons = {}
            if explain:  # the GPUs Fit never reached, in the order it would have met them
                walk += [DeviceVerdict(d.index, d.id, scores[id(d)], "not reached") for d in reversed(devices[:i])]
            return result, selected
        if dev.mode == MIG_MODE:
            i += 1
        i -= 1
    if topology and len(selected) >= req.nums:
        result.ok = True
        result.reasons = {}
        if len(selected) > req.nums:
            selected, result.note = _topology_choice(selected, req.nums, legacy)
        return result, selected
    if selected:
        reasons[ALLOCATED_INSUFFICIENT] = 1 if legacy else len(selected)  # len(tmpDevs) / len(tmpDevs[type])
    result.reason = _dominant(reasons) if reasons else ALLOCATED_INSUFFICIENT
    return result, []


#: The device verdicts that read only what a device is (see :func:`static_failure`).
STATIC_REASONS = frozenset({CARD_NOT_HEALTH, CARD_CORDONED, CARD_TYPE_MISMATCH, CARD_UUID_MISMATCH,
                            NODE_INSUFFICIENT_DEVICE})


def static_failure(gpus: list[Gpu], requests: tuple[ContainerRequests, ...], opts: PodOptions,
                   version: HamiVersion) -> bool:
    """Whether :func:`fit_pod` fails on these GPUs for reasons that no usage change can lift: the first
    GPU container (the one Fit tries first, on the node's GPUs or a copy with the same devices) asks
    more devices than the node has (``NodeInsufficientDevice``), or every device fails one of Fit's
    checks that read only what a device *is* (health, cordon, type and vgpu-mode, UUID: HAMi
    pkg/device/nvidia/device.go Fit, before any usage is read). Such a verdict, and its reason counts,
    stay the same whatever lands on or leaves the node, so the simulator need not fit the node again
    for the same requests while its GPUs are the same devices. (Only a fit whose reason is one of
    :data:`STATIC_REASONS` can be one: every device's verdict is then static.)"""
    first = next((cr.request for cr in requests if cr.request is not None), None)
    if first is None:
        return False
    legacy = version.legacy
    if legacy:
        if first.nums > len(gpus):
            return True
    elif first.nums > sum(1 for g in gpus if "nvidia" in g.type.lower()):
        mig_request = (opts.vgpu_mode is None or "mig" in opts.vgpu_mode) and any(g.is_mig for g in gpus)
        if not mig_request:
            return True
    for dev in gpus:
        if dev.health and (legacy or not dev.cordoned) and _type_ok(dev, opts) and _uuid_ok(dev, opts):
            return False
    return True


def _topology_choice(collected: list[Selected], nums: int, legacy: bool) -> tuple[list[Selected], str]:
    """topology-aware: Fit collected every fitting device (a MIG GPU once per instance it can still
    give); keep the ones that talk best (HAMi pkg/device/nvidia/device.go Fit, ``computeWorstSingleCard`` /
    ``computeBestCombination`` over ``hami.io/node-nvidia-score``; a missing score counts 0).

    One device: the one with the lowest total score to the others, first met on ties. Several: the
    combination (in collection order) with the highest pairwise sum, first met on ties. v2.9 starts
    the best sum at 0 and keeps only a combination scoring above it, so with no topology scores
    published every combination scores 0 and the container is given no device at all; v2.9's
    single-card search also treats a running total of -1 as "none yet". v2.10 takes the first
    combination or card whatever its score.
    """
    def score(a: Selected, b: Selected) -> int:
        return a.gpu.pair_scores.get(b.gpu.id, 0)

    if nums == 1:
        worst: Selected | None = None
        worst_total = -1 if legacy else 0
        for a in collected:
            total = sum(score(a, b) for b in collected if b.gpu.id != a.gpu.id)
            if (worst_total == -1 if legacy else worst is None) or total < worst_total:
                worst, worst_total = a, total
        return ([worst] if worst is not None else []), ""
    best: list[Selected] | None = None
    best_total = 0 if legacy else -1
    for combo in combinations(collected, nums):
        total = sum(score(combo[i], combo[z]) for i in range(len(combo) - 1) for z in range(i + 1, len(combo)))
        if (best is None and not legacy) or total > best_total:
            best, best_total = list(combo), total
    if not best:
        return [], (f"topology-aware: no combination of {nums} GPUs scores above 0 (is hami.io/node-nvidia-score "
                    "published?), so HAMi 2.9 gives this container no GPU at all")
    return best, ""


def _memreq(dev: Gpu, req: ContainerRequest) -> int:
    if req.memreq > 0:
        return req.memreq
    if req.mem_percentage != UNSET_PERCENTAGE:
        # int32 arithmetic in Go: the product wraps, the division truncates toward zero
        product = (dev.totalmem * req.mem_percentage + 2**31) % 2**32 - 2**31
        return product // 100 if product >= 0 else -(-product // 100)
    return 0


def _check_capacity(dev: Gpu, req: ContainerRequest, cores: int, opts: PodOptions, selected: list[Selected],
                    version: HamiVersion, mutex: bool) -> str:
    """Steps 5–14 of Fit (HAMi pkg/device/nvidia/device.go Fit); the empty string when the device passes."""
    if not _uuid_ok(dev, opts):
        return CARD_UUID_MISMATCH
    if dev.count <= dev.used:
        return CARD_TIME_SLICING_EXHAUSTED
    if mutex and dev.used > 0:
        return EXCLUSIVE_CONFLICT
    memreq = _memreq(dev, req)
    if dev.totalmem - dev.usedmem < memreq:
        return CARD_INSUFFICIENT_MEMORY
    if dev.totalcore - dev.usedcores < cores:
        return CARD_INSUFFICIENT_CORE
    if dev.totalcore == 100 and cores == 100 and dev.used > 0:
        return EXCLUSIVE_CONFLICT
    if dev.totalcore != 0 and dev.usedcores == dev.totalcore and cores == 0:
        return CARD_COMPUTE_EXHAUSTED
    if dev.is_mig:
        if version.legacy:
            # v2.9 passes the raw request (0 for a percentage request) and counts queued devices
            # on every GPU, not only this one
            if not mig.legacy_filter(dev, req.memreq, [s.usedmem for s in selected]):
                return CARD_CUSTOM_FILTER
        elif not mig.current_filter(dev, memreq, [s.usedmem for s in selected if s.gpu is dev]):
            return CARD_MIG_INFEASIBLE
    return ""


def _dominant(reasons: dict[str, int]) -> str:
    """The node's one-word reason: the most frequent device reason (the generic
    AllocatedCardsInsufficientRequest only when it is the only one)."""
    specific = {k: v for k, v in reasons.items() if k != ALLOCATED_INSUFFICIENT} or reasons
    return min(specific.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def add_usage(selected: list[Selected], version: HamiVersion, container: str, container_index: int,
              init: bool) -> list[Allocation]:
    """``AddResourceUsage`` for each queued device, in order; may raise :class:`mig.MigAllocateError`."""
    out = []
    for s in selected:
        gpu = s.gpu
        a = Allocation(container, container_index, init, gpu.id, gpu.index, gpu.mode, s.usedmem, s.usedcores)
        if gpu.is_mig and version.legacy:
            choice = mig.legacy_add_usage(gpu, s.usedmem, s.usedcores)
            a.memory_mib, a.cores, a.profile = choice.memory, choice.core, choice.profile
            a.template, a.slot, a.instance = choice.template, choice.slot, choice.instance
        elif gpu.is_mig:
            profile, placement = mig.current_add_usage(gpu, s.usedmem)
            a.memory_mib, a.cores, a.profile, a.placement = profile.memory_mib, profile.core, profile.name, placement
        else:
            gpu.used += 1
            gpu.usedmem += s.usedmem
            gpu.usedcores += s.usedcores
        out.append(a)
    return out


#: The request's device type (``nvidia.NvidiaGPUDevice``): the only key of ``PodDevices`` that
#: ``PatchAnnotations`` encodes (HAMi v2.10.0 pkg/device/nvidia/device.go PatchAnnotations).
NVIDIA_TYPE = "NVIDIA"


@dataclass(frozen=True, slots=True)
class AnnotationLayout:
    """Where each container's devices go in ``hami.io/vgpu-devices-allocated``.

    ``entries``: per container (init first), its entry index, or None when HAMi writes no entry for
    it; ``length``: how many entries are written.
    """

    entries: tuple[int | None, ...]
    length: int

    @property
    def shifted(self) -> bool:
        return any(e is not None and e != i for i, e in enumerate(self.entries))


def annotation_layout(gpus: list[Gpu], requests: tuple[ContainerRequests, ...],
                      version: HamiVersion) -> AnnotationLayout:
    """The container layout HAMi writes for a pod placed on these GPUs.

    v2.9.0 (``calcScore``, pkg/scheduler/score.go) pads under the request's type, ``"NVIDIA"``: one entry
    per container, empty for a container without a GPU request. v2.10.0 (``allocateInitContainers`` and
    ``allocateAppContainers``, pkg/scheduler/score.go) pads only under ``nodeDeviceBaseTypes``, the
    devices' registered ``Type`` (the model string, e.g. ``NVIDIA A100-PCIE-40GB``), while
    ``fitInDevices`` appends the devices under ``"NVIDIA"``; ``PatchAnnotations`` encodes that list
    alone. Unless a GPU of the node registers the type ``"NVIDIA"`` itself (HAMi's unit tests do), only
    the containers that request GPUs get an entry, in order: a HAMi bug that the simulation keeps.
    """
    n = len(requests)
    if version.legacy or all(cr.request is not None for cr in requests) or any(g.type == NVIDIA_TYPE for g in gpus):
        return AnnotationLayout(tuple(range(n)), n)
    entries: list[int | None] = []
    k = 0
    for cr in requests:
        if cr.request is None:
            entries.append(None)
        else:
            entries.append(k)
            k += 1
    return AnnotationLayout(tuple(entries), k)


def _layout_note(gpus: list[Gpu], requests: tuple[ContainerRequests, ...], layout: AnnotationLayout) -> str:
    types = ", ".join(repr(t) for t in sorted({g.type for g in gpus}))
    moved = [f"{requests[i].container!r} (container {i}) as entry {e}" for i, e in enumerate(layout.entries)
             if e is not None and e != i]
    num_init = sum(1 for cr in requests if cr.init)
    as_init = [requests[i].container for i, e in enumerate(layout.entries)
               if e is not None and not requests[i].init and e < num_init]
    note = (f"HAMi v2.10.0 records the devices against the wrong container index: the node's GPUs "
            f"register as type {types}, not 'NVIDIA', so its Filter writes entries only for containers that "
            f"request GPUs (pkg/scheduler/score.go pads under the registered type): {', '.join(moved)}; the "
            "MIG containerIndex is shifted alike")
    if as_init:
        note += (f"; the next scheduling cycle counts {', '.join(repr(n) for n in as_init)} as init container(s) "
                 "(per-GPU peak, one slot: pkg/device/initContainer.go CollapseInitContainerUsage)")
    return note


def fit_pod(gpus: list[Gpu], requests: tuple[ContainerRequests, ...], opts: PodOptions, version: HamiVersion,
            *, explain: bool = False, order: list[Gpu] | None = None) -> NodeFit:
    """``calcScore`` / ``scoreNode`` for one node; ``gpus`` is never modified.

    v2.9.0 (``calcScore``, pkg/scheduler/score.go): every container, init containers first, on one copy of
    the node, one after another (an init container's devices count for the containers after it; no
    peak). v2.10.0 (``scoreNode``): each init container on a fresh copy (``allocateInitContainers``), the
    app containers in order on one shared copy (``allocateAppContainers``).

    On success the allocations carry what AddResourceUsage chose, and where HAMi writes them
    (:func:`annotation_layout`). A pod with a single GPU container (the common case) is fitted on the
    node's GPUs read-only and only the GPUs it selects are copied for AddResourceUsage; ``order`` is
    then :func:`device_order` of ``gpus`` when the caller keeps it (a node unchanged since).
    """
    result = NodeFit(ok=True)
    gpu_requests = [(i, cr) for i, cr in enumerate(requests) if cr.request is not None]
    single = len(gpu_requests) == 1
    fresh_init_copies = not version.legacy
    app_copy: list[Gpu] | None = None
    for index, cr in gpu_requests:
        if single:
            work = gpus
        elif cr.init and fresh_init_copies:
            work = [g.copy() for g in gpus]
        else:
            if app_copy is None:
                app_copy = [g.copy() for g in gpus]
            work = app_copy
        cfit, selected = fit_container(work, cr.request, opts, version, explain=explain,  # type: ignore[arg-type]
                                       in_place=work is app_copy, order=order if single else None)
        result.containers.append((cr.container, cfit))
        if not cfit.ok:
            result.ok = False
            result.reason = cfit.reason
            return result
        if single:
            copies: dict[int, Gpu] = {}
            for s in selected:
                s.gpu = copies.setdefault(id(s.gpu), s.gpu.copy())
        try:
            result.allocations += add_usage(selected, version, cr.container, index, cr.init)
        except mig.MigAllocateError as exc:
            result.ok = False
            result.reason = MIG_ALLOCATE_FAIL
            result.error = f"container {cr.container}: {exc}"
            return result
    if len(gpu_requests) < len(requests) and not version.legacy:
        layout = annotation_layout(gpus, requests, version)
        if layout.length != len(requests) or layout.shifted:
            num_init = sum(1 for cr in requests if cr.init)
            for a in result.allocations:
                a.entry = layout.entries[a.container_index]  # type: ignore[assignment]
                a.rebuilt_as_init = a.entry < num_init
            result.entries = layout.length
            if layout.shifted:
                result.layout_note = _layout_note(gpus, requests, layout)
    return result
