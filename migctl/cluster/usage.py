"""Per-GPU usage rebuilt from pods the way HAMi's scheduler does it (HAMi pkg/scheduler/scheduler.go getNodesUsage).

:class:`DeviceUsage` mirrors HAMi's ``device.DeviceUsage`` for both MIG generations, so that
``migctl simulate`` can run HAMi's ``Fit`` on exactly these structures:

- legacy (v2.5–v2.9): ``templates`` (the config's geometries for the GPU model, attached by the
  first-substring rule), ``mig_index`` and ``usage_list`` (HAMi's ``MigInUse{Index, UsageList}``), expanded by
  :func:`platter_mig` (HAMi's ``PlatternMIG``) and marked from the pods' ``[t-s]`` suffixes;
- current (v2.10+): ``profiles`` (published by the device plugin) and ``allocations``
  (from the pods' ``hami.io/vgpu-mig-allocations``).

Everything is a plain mutable dataclass with a cheap ``copy()`` (simulate copies a node per candidate).
Problems found while rebuilding (stale devices, out-of-range slots, missing reservations) are kept in
``NodeUsage.warnings`` beside the numbers, never raised.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from migctl.cluster.codecs import ContainerDevice, MigAllocation, MigProfile
from migctl.cluster.model import TERMINAL_PHASES, ClusterWarning, Node, Pod
from migctl.cluster.quantity import as_int64, cpu_millis, memory_bytes
from migctl.config.model import Geometry
from migctl.hardware.geometry import Geometry as HwGeometry
from migctl.hardware.placement import Placement

MODE_HAMI_CORE = "hami-core"
MODE_MIG = "mig"

DESIGN_LEGACY = "legacy"  # knownMigGeometries, [t-s] slot suffixes (v2.5-v2.9)
DEFAULT_COUNT_NAME = "nvidia.com/gpu"  # HAMi's default resourceCountName
DESIGN_CURRENT = "current"  # migProfiles + hami.io/vgpu-mig-allocations (v2.10+)


#: Given a device type, the geometries HAMi attaches to it (or None when no model entry matches).
TemplatesFor = Callable[[str], "Sequence[Geometry] | None"]


@dataclass(slots=True)
class MigTemplateUsage:
    """HAMi's ``MigTemplateUsage{Name, Core, Memory, InUse}``: one slot of the expanded geometry."""

    name: str
    memory: int
    core: int
    in_use: bool = False


@dataclass(slots=True)
class MigInUse:
    """HAMi's ``MigInUse{Index, UsageList}``: the geometry in effect and its slots."""

    index: int = 0
    usage_list: list[MigTemplateUsage] = field(default_factory=list)

    def copy(self) -> MigInUse:
        return MigInUse(self.index, [MigTemplateUsage(u.name, u.memory, u.core, u.in_use) for u in self.usage_list])


@dataclass(slots=True)
class MigAllocationUsage:
    """One entry of HAMi's ``DeviceUsage.MigAllocationsInUse`` (v2.10): THE ``MigAllocation`` value
    (:class:`migctl.cluster.codecs.MigAllocation`) and who holds it.

    HAMi copies each decoded ``hami.io/vgpu-mig-allocations`` entry into the usage (runtime IDs as zero
    values beside a ``RuntimeReady`` flag; HAMi v2.10.0 pkg/scheduler/scheduler.go getNodesUsage); here the
    usage holds the decoded value itself, and :meth:`reserve` makes the one a scheduler adds.
    """

    allocation: MigAllocation
    pod: str | None = None  # "namespace/name"; None for a reservation simulate adds

    @classmethod
    def reserve(cls, gpu_uuid: str, profile: str, placement: Placement) -> MigAllocationUsage:
        """A reservation the scheduler adds (HAMi v2.10.0 pkg/device/nvidia/device.go AddResourceUsage: a
        profile at a placement): no annotation entry numbers it yet (container and device index -1, which
        no decoded entry has) and no instance is realised (no runtime identity)."""
        return cls(MigAllocation(-1, -1, gpu_uuid, profile, placement))

    @property
    def profile(self) -> str:
        return self.allocation.profile

    @property
    def placement(self) -> Placement:
        return self.allocation.placement

    @property
    def mig_uuid(self) -> str | None:
        return self.allocation.mig_uuid

    @property
    def runtime_ready(self) -> bool:
        return self.allocation.runtime_ready


@dataclass(slots=True)
class PodOnDevice:
    """One pod's collapsed usage of one GPU (for display), with its MIG slot or reservation."""

    pod: str
    usedmem: int
    usedcores: int
    slots: int = 1
    mig_slots: list[tuple[int, int]] = field(default_factory=list)  # legacy [t-s]
    mig_instances: list[MigAllocationUsage] = field(default_factory=list)  # v2.10


@dataclass(slots=True)
class DeviceUsage:
    """HAMi's scheduler ``device.DeviceUsage`` for one GPU (HAMi ``pkg/device/devices.go``, v2.9.0 and v2.10.0).

    The one GPU-usage type: ``migctl status`` rebuilds it from the pods, ``migctl simulate`` places pods
    on it (``migctl.simulate.state.Gpu`` is this class). MIG state in both generations:

    - legacy (v2.5-v2.9): ``templates`` (the config's ``knownMigGeometries`` for the model),
      ``mig_index`` (the geometry in effect, -1 for none) and ``usage_list`` (HAMi's ``MigUsage.UsageList``,
      one :class:`MigTemplateUsage` per instance, ``PlatternMIG`` order);
    - current (v2.10+): ``profiles`` (``migProfiles`` of the register annotation) and ``allocations``
      (``MigAllocationsInUse``).

    ``pair_scores`` are topology scores to the node's other GPUs (``hami.io/node-nvidia-score``; shared,
    never mutated); ``pods`` who uses the GPU (for display).
    """

    id: str
    index: int
    count: int
    totalmem: int
    totalcore: int
    type: str = ""
    mode: str = MODE_HAMI_CORE
    numa: int = 0
    health: bool = True
    cordoned: bool = False
    used: int = 0
    usedmem: int = 0
    usedcores: int = 0
    # legacy MIG (v2.5-v2.9)
    templates: Sequence[Geometry] = ()
    mig_index: int = -1
    usage_list: list[MigTemplateUsage] = field(default_factory=list)
    # current MIG (v2.10+)
    profiles: tuple[MigProfile, ...] = ()
    allocations: list[MigAllocationUsage] = field(default_factory=list)
    pair_scores: dict[str, int] = field(default_factory=dict)
    pods: list[PodOnDevice] = field(default_factory=list)

    def copy(self) -> DeviceUsage:
        """An independent copy of the mutable usage (templates, profiles, allocations and scores are shared,
        read-only); simulate copies a GPU per placement attempt, so this stays cheap."""
        return DeviceUsage(
            self.id, self.index, self.count, self.totalmem, self.totalcore, self.type, self.mode,
            self.numa, self.health, self.cordoned, self.used, self.usedmem, self.usedcores,
            self.templates, self.mig_index,
            [MigTemplateUsage(s.name, s.memory, s.core, s.in_use) for s in self.usage_list],
            self.profiles, list(self.allocations), self.pair_scores, list(self.pods),
        )

    @property
    def is_mig(self) -> bool:
        return self.mode == MODE_MIG

    def legacy_geometry(self) -> dict[str, int] | None:
        """The legacy geometry in effect as profile counts, or None when none is."""
        if not self.usage_list:
            return None
        counts: dict[str, int] = {}
        for slot in self.usage_list:
            counts[slot.name] = counts.get(slot.name, 0) + 1
        return counts

    def geometry(self) -> HwGeometry | None:
        """The legacy geometry in effect as a value (larger profiles first), or None when none is."""
        if self.mig_index < 0:
            return None
        counts = self.legacy_geometry()
        return None if counts is None else HwGeometry(counts)

    def geometry_text(self) -> str | None:
        """The canonical text of :meth:`geometry` (for output), or None."""
        if self.mig_index < 0 or not self.usage_list:
            return None
        return _geometry_text(tuple([slot.name for slot in self.usage_list]))

    # HAMi's Go field names, as read-only views of the fields above
    @property
    def mig_templates(self) -> Sequence[Geometry]:
        return self.templates

    @property
    def mig_usage(self) -> MigInUse:
        """``MigUsage{Index, UsageList}`` (the list is this GPU's own, not a copy)."""
        return MigInUse(max(self.mig_index, 0), self.usage_list)

    @property
    def mig_profiles(self) -> tuple[MigProfile, ...]:
        return self.profiles

    @property
    def mig_allocations_in_use(self) -> list[MigAllocationUsage]:
        return self.allocations


@dataclass(slots=True)
class NodeUsage:
    """HAMi's ``NodeUsage``: the node's GPUs with usage, plus node CPU/memory and decode warnings."""

    node: str
    devices: list[DeviceUsage] = field(default_factory=list)
    design: str | None = None  # DESIGN_LEGACY | DESIGN_CURRENT | None (no MIG evidence)
    cpu_allocatable_millis: int | None = None
    cpu_requested_millis: int = 0
    memory_allocatable_bytes: int | None = None
    memory_requested_bytes: int = 0
    warnings: list[ClusterWarning] = field(default_factory=list)

    def copy(self) -> NodeUsage:
        return NodeUsage(
            node=self.node, devices=[d.copy() for d in self.devices], design=self.design,
            cpu_allocatable_millis=self.cpu_allocatable_millis, cpu_requested_millis=self.cpu_requested_millis,
            memory_allocatable_bytes=self.memory_allocatable_bytes,
            memory_requested_bytes=self.memory_requested_bytes, warnings=list(self.warnings),
        )

    def device(self, uuid: str) -> DeviceUsage | None:
        for d in self.devices:
            if d.id == uuid:
                return d
        return None


# --- HAMi helpers ----------------------------------------------------------------------------------------


def platter_mig(templates: Sequence[Geometry], index: int) -> MigInUse:
    """HAMi's ``PlatternMIG``: geometry ``index`` flattened in order, each entry repeated ``count`` times.

    ``[1g.5gb×1, 2g.10gb×3]`` -> slots ``[1g, 2g, 2g, 2g]`` (HAMi pkg/scheduler/scheduler.go getNodesUsage). Raises IndexError for a bad index.
    """
    if not 0 <= index < len(templates):
        raise IndexError(index)
    usage = []
    for t in templates[index]:
        for _ in range(max(int(t.count or 0), 0)):
            usage.append(MigTemplateUsage(t.name, int(t.memory or 0), int(t.core or 0)))
    return MigInUse(index, usage)


@dataclass(slots=True)
class CollapsedDevice:
    """One pod's effective use of one device (``CollapseInitContainerUsage`` result)."""

    raw_uuid: str
    uuid: str
    mig_slot: tuple[int, int] | None
    usedmem: int
    usedcores: int
    slots: int


def pod_device_entries(pod: Pod) -> list[ContainerDevice]:
    """HAMi v2.9.0's view of a pod's devices: no collapse. ``onAddPod`` / ``PodManager.AddPod``
    (pkg/scheduler/scheduler.go, pkg/device/pods.go) keep the decoded devices unchanged and
    ``getNodesUsage`` adds every entry, init containers' included, as one slot with its memory and
    cores, in annotation order (containers, then devices): the decoded devices themselves, each one slot."""
    return [dev for ctr in pod.devices or () for dev in ctr]


def collapse_pod_devices(pod: Pod, *, exact_v2_10: bool = False) -> list[CollapsedDevice]:
    """HAMi's ``CollapseInitContainerUsage``: per device UUID, the usage is ``max(init-phase peak,
    sidecars + app containers)``; init containers run one at a time.

    ``exact_v2_10``: exactly HAMi v2.10.0's (pkg/device/initContainer.go CollapseInitContainerUsage): an
    entry whose index is below the number of init containers is an init container's, whatever the
    containers that request GPUs (so a v2.10.0 layout without padding, see
    :func:`shifted_layout`, counts app devices as init ones), and sidecars are init containers like the
    others. Otherwise (the default, for records of unknown generation) sidecars (restartPolicy: Always)
    add to the app sum, and entries are aligned to containers: surplus trailing empties are dropped and
    an annotation shorter than the container list (≤ v2.8, app containers only) is aligned from the end.
    """
    if not pod.devices:
        return []
    num_init = len(pod.init_containers)
    if num_init == 0 and len(pod.devices) == 1 and len(pod.devices[0]) == 1:  # the common case
        dev = pod.devices[0][0]
        return [CollapsedDevice(dev.raw_uuid, dev.uuid, dev.mig_slot, dev.usedmem, dev.usedcores, 1)]
    total = num_init + len(pod.containers)
    entries = list(pod.devices)
    if exact_v2_10:
        offset = 0
    else:
        while len(entries) > total and not entries[-1]:
            entries.pop()
        offset = max(total - len(entries), 0)

    # per raw UUID: [sidecar mem, cores, slots], [peak ...], [app ...]
    states: dict[str, list[list[int]]] = {}
    first_seen: dict[str, Any] = {}
    for cidx, devices in enumerate(entries):
        eidx = cidx + offset
        sidecar = eidx < num_init and pod.init_containers[eidx].sidecar and not exact_v2_10
        for dev in devices:
            key = dev.raw_uuid
            first_seen.setdefault(key, dev)
            sc, peak, app = states.setdefault(key, [[0, 0, 0], [0, 0, 0], [0, 0, 0]])
            if eidx < num_init and sidecar:
                sc[0] += dev.usedmem
                sc[1] += dev.usedcores
                sc[2] += 1
                for k in range(3):
                    peak[k] = max(peak[k], sc[k])
            elif eidx < num_init:
                peak[0] = max(peak[0], sc[0] + dev.usedmem)
                peak[1] = max(peak[1], sc[1] + dev.usedcores)
                peak[2] = max(peak[2], sc[2] + 1)
            else:
                app[0] += dev.usedmem
                app[1] += dev.usedcores
                app[2] += 1
    out = []
    for key in sorted(states):
        sc, peak, app = states[key]
        dev = first_seen[key]
        out.append(
            CollapsedDevice(
                raw_uuid=key,
                uuid=dev.uuid,
                mig_slot=dev.mig_slot,
                usedmem=max(peak[0], sc[0] + app[0]),
                usedcores=max(peak[1], sc[1] + app[1]),
                slots=max(peak[2], sc[2] + app[2], 1),
            )
        )
    return out


def _requests_gpu(c: Any, resource_count_name: str) -> bool:
    """``GenerateResourceRequests``' test: the count resource (limits, else requests) is an integer > 0."""
    value = c.limits.get(resource_count_name, c.requests.get(resource_count_name))
    count = as_int64(value) if value is not None else None
    return count is not None and count > 0


def shifted_layout(pod: Pod, resource_count_name: str = DEFAULT_COUNT_NAME) -> tuple[int, ...] | None:
    """The containers (indexes, init first) that request GPUs, when the pod's devices annotation lists
    them as entries 0, 1, ... instead of at their own indexes; None when it does not.

    That is what HAMi v2.10.0 writes on every node whose GPUs register a type other than ``NVIDIA``
    (pkg/scheduler/score.go ``allocateInitContainers`` / ``allocateAppContainers`` pad only under the
    registered type, ``PatchAnnotations`` encodes the ``NVIDIA`` list alone); a ≤ v2.8 record (app
    containers only) can look the same.
    """
    if not pod.devices:
        return None
    gpu = [i for i, c in enumerate(pod.init_containers + pod.containers) if _requests_gpu(c, resource_count_name)]
    filled = [i for i, entry in enumerate(pod.devices) if entry]
    if not gpu or filled == gpu or filled != list(range(len(gpu))):
        return None
    return tuple(gpu)


def templates_from_config(config: Any) -> TemplatesFor | None:
    """``knownMigGeometries`` lookup by HAMi's first-substring rule, from a ``DeviceConfig`` (or None)."""
    return None if config is None else config.nvidia.mig_geometries


def detect_design(node: Node, pods: Iterable[Pod]) -> str | None:
    """Which MIG design the node's records follow (HAMi v2.9.0 and v2.10.0 (PR #2378)); None without MIG evidence."""
    if node.register is not None and node.register.has_mig_profiles:
        return DESIGN_CURRENT
    legacy = False
    for pod in pods:
        if pod.mig_allocations:
            return DESIGN_CURRENT
        legacy = legacy or pod.has_legacy_slots
    if legacy:
        return DESIGN_LEGACY
    if any(d.mode == MODE_MIG for d in node.devices):
        return DESIGN_LEGACY  # a v2.10 plugin always publishes migProfiles for its mig GPUs (HAMi plugin/register.go RegisterInAnnotation)
    return None


# --- the rebuild -----------------------------------------------------------------------------------------


def build_node_usage(
    node: Node,
    pods: Iterable[Pod],
    *,
    templates_for: TemplatesFor | None = None,
    design: str | None = None,
    resource_count_name: str = DEFAULT_COUNT_NAME,
) -> NodeUsage:
    """Rebuild ``NodeUsage`` for ``node`` from ``pods`` (any pods; only those HAMi counts are used).

    ``templates_for`` attaches legacy geometries to mig-mode GPUs (see :func:`templates_from_config`);
    ``design`` forces the MIG generation (default: :func:`detect_design`). Per generation:

    - legacy (v2.9.0 ``getNodesUsage``): no collapse, every device entry adds (:func:`pod_device_entries`);
      a pod whose slots on one GPU name two geometries is warned about (v2.9.0 cannot rebuild it);
    - current (v2.10.0): :func:`collapse_pod_devices` exactly as v2.10.0 (``exact_v2_10``);
    - unknown: :func:`collapse_pod_devices` with sidecars and ≤ v2.8 alignment.

    Outside legacy, a pod whose annotation shows v2.10.0's unpadded layout (:func:`shifted_layout`,
    with ``resource_count_name``) is warned about.
    """
    pods = list(pods)
    name = node.name
    # Pod.counts_for_usage, inlined (100,000 pods): assigned to this node and not Succeeded/Failed
    counted = [p for p in pods if p.vgpu_node == name and p.phase not in TERMINAL_PHASES]
    usage = NodeUsage(node=node.name, design=design or detect_design(node, counted))
    _node_resources(usage, node, pods)

    for info in node.devices:
        templates: Sequence[Geometry] = ()
        if info.mode == MODE_MIG and templates_for is not None:
            templates = templates_for(info.type) or ()
        usage.devices.append(
            DeviceUsage(
                id=info.id, index=info.index, count=info.count, totalmem=info.devmem, totalcore=info.devcore,
                mode=info.mode, type=info.type, numa=info.numa, health=info.health,
                cordoned=info.id in node.cordoned, templates=templates, profiles=info.mig_profiles,
            )
        )
    by_id = {d.id: d for d in usage.devices}

    def warn(code: str, message: str, pod: Pod | None = None, gpu: str | None = None) -> None:
        usage.warnings.append(ClusterWarning(code, message, node=node.name, pod=pod.key if pod else None, gpu=gpu))

    legacy = usage.design == DESIGN_LEGACY
    current = usage.design == DESIGN_CURRENT
    on_devices: dict[tuple[str, str], PodOnDevice] = {}  # (GPU, pod) -> its entry in dev.pods
    for pod in counted:
        if pod.devices is None:
            continue
        pod_key = pod.key
        allocations: dict[str, list[MigAllocation]] = {}
        if not legacy:  # v2.9 does not know hami.io/vgpu-mig-allocations
            for a in pod.mig_allocations or ():
                allocations.setdefault(a.gpu_uuid, []).append(a)
            shifted = shifted_layout(pod, resource_count_name)
            if shifted is not None:
                _warn_shifted(pod, shifted, usage.design, warn)
        entries: Sequence[ContainerDevice | CollapsedDevice]
        if legacy:
            entries = pod_device_entries(pod)
        else:
            entries = collapse_pod_devices(pod, exact_v2_10=current)
        for entry in entries:
            slots = 1 if legacy else entry.slots  # type: ignore[union-attr]  # v2.9: each entry is one slot
            if entry.mig_slot is not None and current:
                # v2.10 compares the UUID as written: a leftover GPU-…[t-s] matches no GPU
                warn("unknown-gpu", f"pod {pod.key} holds legacy MIG slot {entry.raw_uuid}, which HAMi v2.10 "
                                    "does not match to any GPU (its usage is not counted)", pod, entry.uuid)
                continue
            dev = by_id.get(entry.uuid)
            if dev is None:
                warn("unknown-gpu", f"pod {pod.key} holds {entry.raw_uuid}, which the node does not register "
                                    "(stale allocation; HAMi ignores it)", pod, entry.uuid)
                continue
            dev.used += slots
            dev.usedmem += entry.usedmem
            dev.usedcores += entry.usedcores
            on_device = on_devices.get((dev.id, pod_key))
            if on_device is None:
                on_device = on_devices[dev.id, pod_key] = PodOnDevice(pod_key, 0, 0, 0, [], [])
                dev.pods.append(on_device)
            on_device.usedmem += entry.usedmem
            on_device.usedcores += entry.usedcores
            on_device.slots += slots
            if entry.mig_slot is not None:
                _mark_legacy_slot(dev, entry.mig_slot, pod, on_device, warn)
            elif allocations.get(entry.uuid):
                if dev.mode == MODE_HAMI_CORE:
                    dev.health = False
                    warn("gpu-disagreement", f"pod {pod.key} has a MIG reservation on hami-core GPU {dev.id}; "
                                             "HAMi marks the GPU unhealthy", pod, dev.id)
                    continue
                a = allocations[entry.uuid].pop(0)
                held = MigAllocationUsage(a, pod.key)
                dev.allocations.append(held)
                on_device.mig_instances.append(held)
            elif dev.mode == MODE_MIG and current:
                dev.health = False
                warn("gpu-disagreement", f"pod {pod.key} uses MIG GPU {dev.id} without a matching "
                                         f"hami.io/vgpu-mig-allocations reservation; HAMi marks the GPU unhealthy",
                     pod, dev.id)
        for gpu_uuid, left in allocations.items():
            if not left:
                continue
            dev = by_id.get(gpu_uuid)
            if dev is None:
                for d in usage.devices:
                    if d.mode == MODE_MIG:
                        d.health = False
                warn("gpu-disagreement", f"pod {pod.key} has MIG reservations on unknown GPU {gpu_uuid}; "
                                         "HAMi marks every MIG GPU of the node unhealthy", pod, gpu_uuid)
            elif dev.mode != MODE_MIG:
                dev.health = False
                warn("gpu-disagreement", f"pod {pod.key} has MIG reservations on non-MIG GPU {gpu_uuid}; "
                                         "HAMi marks the GPU unhealthy", pod, gpu_uuid)
            else:
                for a in left:
                    held = MigAllocationUsage(a, pod_key)
                    dev.allocations.append(held)
                    on_device = on_devices.get((dev.id, pod_key))
                    if on_device is not None:
                        on_device.mig_instances.append(held)
    return usage


def _warn_shifted(pod: Pod, gpu_containers: tuple[int, ...], design: str | None, warn: Callable[..., None]) -> None:
    """The running pod's devices sit at entries 0, 1, ... rather than at their containers' indexes."""
    names = [c.name for c in pod.init_containers + pod.containers]
    moved = ", ".join(f"{names[i]!r} (container {i}) at entry {k}" for k, i in enumerate(gpu_containers) if k != i)
    num_init = len(pod.init_containers)
    as_init = [names[i] for k, i in enumerate(gpu_containers) if k < num_init <= i]
    message = (f"pod {pod.key}: hami.io/vgpu-devices-allocated lists only the containers that request GPUs, "
               f"shifted ({moved}): HAMi v2.10.0 writes this layout when the GPUs register a type other than "
               "'NVIDIA' (a <= v2.8 record looks the same), and its MIG containerIndex is shifted alike")
    if as_init:
        counted = "counts" if design == DESIGN_CURRENT else "would count (v2.10)"
        message += (f"; HAMi {counted} the devices of {', '.join(repr(n) for n in as_init)} as an init "
                    "container's (per-GPU peak, one slot: CollapseInitContainerUsage)")
    warn("shifted-containers", message, pod)


def _mark_legacy_slot(
    dev: DeviceUsage,
    slot: tuple[int, int],
    pod: Pod,
    on_device: PodOnDevice,
    warn: Callable[..., None],
) -> None:
    """v2.9 ``getNodesUsage``: expand template ``t`` on an empty list, then mark slot ``s`` in use."""
    t, s = slot
    earlier = {ot for ot, _ in on_device.mig_slots}  # this pod's slots on this GPU so far
    on_device.mig_slots.append(slot)
    if earlier and t not in earlier:
        warn("gpu-disagreement", f"pod {pod.key} holds slots of geometries {', '.join(map(str, sorted(earlier)))} "
                                 f"and {t} on {dev.id}: its containers were given different MIG geometries of one "
                                 "GPU (as init-container accounting on a fresh copy does); HAMi v2.9.0 cannot "
                                 "rebuild this (getNodesUsage expands the first geometry met and marks the other "
                                 "slots in it unchecked; a slot outside it panics)", pod, dev.id)
    if dev.mode == MODE_HAMI_CORE:
        dev.health = False
        warn("gpu-disagreement", f"pod {pod.key} holds MIG slot [{t}-{s}] on hami-core GPU {dev.id}; "
                                 "HAMi marks the GPU unhealthy", pod, dev.id)
        return
    if not dev.usage_list:
        if not dev.templates:
            warn("config-missing-model", f"pod {pod.key} holds MIG slot [{t}-{s}] on {dev.id} but no "
                                         f"knownMigGeometries entry covers {dev.type!r}", pod, dev.id)
            return
        try:
            expanded = platter_mig(dev.templates, t)
        except IndexError:
            warn("gpu-disagreement", f"pod {pod.key} holds MIG slot [{t}-{s}] on {dev.id} but the config has "
                                     f"only {len(dev.templates)} geometries for {dev.type!r} "
                                     "(HAMi v2.9.0 panics on this)", pod, dev.id)
            return
        dev.mig_index, dev.usage_list = expanded.index, expanded.usage_list
    elif t != dev.mig_index and dev.mig_index not in earlier:
        warn("gpu-disagreement", f"pod {pod.key} holds slot [{t}-{s}] of geometry {t} on {dev.id}, but other pods "
                                 f"hold geometry {dev.mig_index}", pod, dev.id)
    if 0 <= s < len(dev.usage_list):
        if dev.usage_list[s].in_use and slot in on_device.mig_slots[:-1]:
            warn("gpu-disagreement", f"pod {pod.key} holds MIG slot [{t}-{s}] on {dev.id} more than once",
                 pod, dev.id)
        elif dev.usage_list[s].in_use:
            warn("gpu-disagreement", f"MIG slot [{t}-{s}] on {dev.id} is held by more than one pod "
                                     f"(the last is {pod.key})", pod, dev.id)
        dev.usage_list[s].in_use = True
    else:
        warn("gpu-disagreement", f"pod {pod.key} holds MIG slot [{t}-{s}] on {dev.id}, outside the "
                                 f"{len(dev.usage_list)} slots of geometry {dev.mig_index} "
                                 "(HAMi v2.9.0 panics on this)", pod, dev.id)


def _node_resources(usage: NodeUsage, node: Node, pods: list[Pod]) -> None:
    try:
        if "cpu" in node.allocatable:
            usage.cpu_allocatable_millis = cpu_millis(node.allocatable["cpu"])
        if "memory" in node.allocatable:
            usage.memory_allocatable_bytes = memory_bytes(node.allocatable["memory"])
    except ValueError:
        usage.warnings.append(ClusterWarning("bad-quantity", "node allocatable cpu/memory does not parse",
                                             node=node.name))
    name = node.name
    for pod in pods:
        if pod.node_name == name and pod.phase not in TERMINAL_PHASES:
            usage.cpu_requested_millis += pod.cpu_request_millis
            usage.memory_requested_bytes += pod.memory_request_bytes


@functools.lru_cache(maxsize=4096)
def _geometry_text(names: tuple[str, ...]) -> str:
    """The canonical geometry text of a legacy slot list (profile names, one per slot); a simulation
    asks it once per placed pod, of a handful of layouts."""
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return str(HwGeometry(counts))
