"""The cluster model: Nodes, Pods and the device config as HAMi sees them.

Built from Kubernetes objects as plain dicts (what ``kubectl get -o yaml`` prints, or what the API returns).
Only the fields ``migctl`` needs are kept, so a 100,000-pod cluster stays small in memory. Every HAMi
annotation is decoded once here (:mod:`migctl.cluster.codecs`); a value that does not decode becomes a
:class:`ClusterWarning` on that node or pod, and the rest of the cluster is still usable.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from migctl.cluster import codecs
from migctl.cluster.codecs import (
    AnnotationError,
    ContainerDevice,
    DeviceInfo,
    Handshake,
    MigAllocation,
    MigctlGeometry,
    NodeLock,
    RegisterAnnotation,
)
from migctl.cluster.quantity import cpu_millis, memory_bytes
from migctl.config.model import DEVICE_CONFIG_KEY as DEVICE_CONFIGMAP_KEY

#: Annotation prefixes kept on nodes and pods; everything else (last-applied-configuration...) is dropped.
KEPT_ANNOTATION_PREFIXES = ("hami.io/", "nvidia.com/", "migctl.io/")

#: Pod phases HAMi's scheduler drops from its pod cache (HAMi pkg/scheduler/scheduler.go onUpdatePod).
TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})

#: The scheduler's device ConfigMap (HAMi charts/hami/templates/scheduler/device-configmap.yaml).
DEVICE_CONFIGMAP_NAME = "hami-scheduler-device"


@dataclass(slots=True)
class ClusterWarning:
    """A problem found in the cluster: ``code`` is stable (for scripts), ``message`` is for people."""

    code: str
    message: str
    node: str | None = None
    pod: str | None = None  # "namespace/name"
    gpu: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        for key in ("node", "pod", "gpu"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def kept_annotations(annotations: Any) -> dict[str, str]:
    """The annotations the model keeps (:data:`KEPT_ANNOTATION_PREFIXES`), values as text, ``None`` dropped."""
    if not annotations or not isinstance(annotations, dict):
        return {}
    prefixes = KEPT_ANNOTATION_PREFIXES
    return {
        str(k): v if isinstance(v, str) else str(v)
        for k, v in annotations.items()
        if isinstance(k, str) and k.startswith(prefixes) and v is not None
    }


def kept_text_annotations(annotations: dict[str, str]) -> dict[str, str]:
    """:func:`kept_annotations` of a map already of text keys and values (the typed readers'): the map
    itself when every key is kept (a pod's annotations usually are all HAMi's)."""
    prefixes = KEPT_ANNOTATION_PREFIXES
    for key in annotations:
        if not key.startswith(prefixes):
            return {k: v for k, v in annotations.items() if k.startswith(prefixes)}
    return annotations


def _str_map(value: Any) -> dict[str, str]:
    if not value or not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# --- nodes -----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Node:
    """A Kubernetes Node with HAMi's annotations decoded."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    allocatable: dict[str, str] = field(default_factory=dict)
    capacity: dict[str, str] = field(default_factory=dict)
    unschedulable: bool = False
    ready: bool | None = None
    taints: tuple[dict[str, Any], ...] = ()
    register: RegisterAnnotation | None = None
    handshake: Handshake | None = None
    lock: NodeLock | None = None
    cordoned: frozenset[str] = frozenset()
    scores: dict[str, dict[str, int]] = field(default_factory=dict)  # hami.io/node-nvidia-score
    migctl: MigctlGeometry = field(default_factory=MigctlGeometry)
    warnings: list[ClusterWarning] = field(default_factory=list)

    @property
    def devices(self) -> tuple[DeviceInfo, ...]:
        """The GPUs the device plugin registered (empty when the annotation is missing or bad)."""
        return self.register.devices if self.register else ()

    @property
    def registered(self) -> bool:
        return self.register is not None

    def allocatable_count(self, resource: str = "nvidia.com/gpu") -> int | None:
        value = self.allocatable.get(resource)
        if value is None:
            return None
        try:
            return int(memory_bytes(value))
        except ValueError:
            return None

    def warn(self, code: str, message: str, *, gpu: str | None = None) -> None:
        self.warnings.append(ClusterWarning(code, message, node=self.name, gpu=gpu))

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> Node:
        """Build from a Node object (dict); bad annotations become warnings, never exceptions."""
        meta = _mapping(obj.get("metadata"))
        spec = _mapping(obj.get("spec"))
        status = _mapping(obj.get("status"))
        ready = None
        for cond in _list(status.get("conditions")):
            if isinstance(cond, dict) and cond.get("type") == "Ready":
                ready = cond.get("status") == "True"
        return cls.build(
            name=str(meta.get("name") or ""),
            labels=_str_map(meta.get("labels")),
            annotations=kept_annotations(meta.get("annotations")),
            allocatable=_str_map(status.get("allocatable")),
            capacity=_str_map(status.get("capacity")),
            unschedulable=bool(spec.get("unschedulable")),
            ready=ready,
            taints=tuple(t for t in _list(spec.get("taints")) if isinstance(t, dict)),
        )

    @classmethod
    def build(cls, **fields: Any) -> Node:
        """A Node from its object's fields, already read (plain ``str`` maps, kept annotations only),
        with its annotations decoded: :meth:`from_object` reads a dict into these, the typed JSON reader
        of snapshots and live LIST pages (:mod:`migctl.cluster.kube_json`) its structs."""
        node = cls(**fields)
        node._decode_annotations()
        return node

    def _decode_annotations(self) -> None:
        ann = self.annotations

        def decode(key: str, fn: Any) -> Any:
            text = ann.get(key)
            if text is None:
                return None
            try:
                return fn(text)
            except AnnotationError as exc:
                self.warn("bad-annotation", f"annotation {key} does not decode: {exc}")
                return None

        self.register = decode(codecs.NODE_REGISTER, codecs.decode_node_register)
        if self.register is not None:
            seen: set[str] = set()
            for d in self.register.devices:
                if d.id in seen:
                    self.warn("gpu-disagreement", f"GPU {d.id} is registered twice", gpu=d.id)
                seen.add(d.id)
        self.handshake = decode(codecs.NODE_HANDSHAKE, codecs.decode_handshake)
        self.lock = decode(codecs.NODE_LOCK, codecs.decode_node_lock)
        self.cordoned = decode(codecs.DEVICE_CORDON, codecs.decode_device_cordon) or frozenset()
        self.scores = decode(codecs.NODE_SCORE, codecs.decode_node_score) or {}
        applied = decode(codecs.MIGCTL_GEOMETRY_APPLIED, codecs.decode_geometry_applied) or {}
        self.migctl = MigctlGeometry(
            desired=ann.get(codecs.MIGCTL_GEOMETRY),
            state=ann.get(codecs.MIGCTL_GEOMETRY_STATE),
            applied=applied,
            message=ann.get(codecs.MIGCTL_GEOMETRY_MESSAGE),
        )


# --- pods ------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ContainerResources:
    """A container's name and resources, enough to rebuild HAMi's device requests (HAMi pkg/device/nvidia/device.go GenerateResourceRequests)."""

    name: str
    requests: dict[str, str]
    limits: dict[str, str]
    sidecar: bool = False  # an init container with restartPolicy: Always


def _containers(raw: Any, *, init: bool) -> tuple[ContainerResources, ...]:
    if not raw or not isinstance(raw, list):
        return ()
    out = []
    for c in raw:
        if not isinstance(c, dict):
            continue
        res = c.get("resources")
        if res and isinstance(res, dict):
            requests, limits = _str_map(res.get("requests")), _str_map(res.get("limits"))
        else:
            requests, limits = {}, {}
        out.append(ContainerResources(str(c.get("name") or ""), requests, limits,
                                      init and c.get("restartPolicy") == "Always"))
    return tuple(out)


@dataclass(slots=True)
class Pod:
    """A Pod with its HAMi annotations decoded and its CPU/memory requests summed."""

    namespace: str
    name: str
    uid: str = ""
    node_name: str | None = None  # spec.nodeName (bound)
    phase: str = ""
    deleting: bool = False
    scheduler_name: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    node_selector: dict[str, str] = field(default_factory=dict)
    init_containers: tuple[ContainerResources, ...] = ()
    containers: tuple[ContainerResources, ...] = ()
    devices: tuple[tuple[ContainerDevice, ...], ...] | None = None  # hami.io/vgpu-devices-allocated
    mig_allocations: tuple[MigAllocation, ...] | None = None  # hami.io/vgpu-mig-allocations (v2.10)
    cpu_request_millis: int = 0
    memory_request_bytes: int = 0
    vgpu_node: str | None = None  # the node HAMi's scheduler assigned (hami.io/vgpu-node)
    warnings: list[ClusterWarning] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.vgpu_node is None:
            self.vgpu_node = self.annotations.get(codecs.POD_VGPU_NODE) or None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES

    @property
    def counts_for_usage(self) -> bool:
        """In HAMi's pod cache: has ``hami.io/vgpu-node`` and is not Succeeded/Failed (HAMi pkg/scheduler/scheduler.go getNodesUsage)."""
        return self.vgpu_node is not None and not self.terminal

    @property
    def has_legacy_slots(self) -> bool:
        devices = self.devices
        if not devices:
            return False
        if len(devices) == 1 and len(devices[0]) == 1:  # the usual pod: one container, one device
            return bool(devices[0][0].mig_slot)
        return any(d.mig_slot for ctr in devices for d in ctr)

    def warn(self, code: str, message: str, *, node: str | None = None, gpu: str | None = None) -> None:
        self.warnings.append(ClusterWarning(code, message, node=node or self.vgpu_node or self.node_name,
                                            pod=self.key, gpu=gpu))

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> Pod:
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = {}
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            spec = {}
        status = obj.get("status")
        return cls.build(
            str(meta.get("namespace") or "default"),
            str(meta.get("name") or ""),
            str(meta.get("uid") or ""),
            spec.get("nodeName") or None,
            str(status.get("phase") or "") if isinstance(status, dict) else "",
            bool(meta.get("deletionTimestamp")),
            str(spec.get("schedulerName") or ""),
            kept_annotations(meta.get("annotations")),
            _str_map(spec.get("nodeSelector")),
            _containers(spec.get("initContainers"), init=True),
            _containers(spec.get("containers"), init=False),
        )

    @classmethod
    def build(cls, namespace: str, name: str, uid: str, node_name: str | None, phase: str, deleting: bool,
              scheduler_name: str, annotations: dict[str, str], node_selector: dict[str, str],
              init_containers: tuple[ContainerResources, ...],
              containers: tuple[ContainerResources, ...]) -> Pod:
        """A Pod from its object's fields, already read (see :meth:`Node.build`), with its annotations
        decoded and its CPU/memory requests summed."""
        pod = cls(namespace, name, uid, node_name, phase, deleting, scheduler_name, annotations, node_selector,
                  init_containers, containers)
        if annotations:
            pod._decode_annotations()
        pod._sum_requests()
        return pod

    def _decode_annotations(self) -> None:
        text = self.annotations.get(codecs.POD_DEVICES_ALLOCATED)
        if text is not None:
            try:
                self.devices = codecs.decode_pod_devices(text)
            except AnnotationError as exc:
                self.warn("undecodable-pod",
                          f"annotation {codecs.POD_DEVICES_ALLOCATED} does not decode: {exc}; "
                          "its GPU usage is not counted")
        text = self.annotations.get(codecs.POD_MIG_ALLOCATIONS)
        if text is not None:
            try:
                self.mig_allocations = codecs.decode_mig_allocations(text)
            except AnnotationError as exc:
                self.warn("undecodable-pod",
                          f"annotation {codecs.POD_MIG_ALLOCATIONS} does not decode: {exc}; "
                          "HAMi ignores it and marks the MIG GPU unhealthy")

    def _sum_requests(self) -> None:
        """Effective requests as kube-scheduler counts them: max(app + sidecars, each init + sidecars)."""
        side_cpu = side_mem = init_cpu = init_mem = 0
        for c in self.init_containers:
            cpu, mem = self._amounts(c)
            if c.sidecar:
                side_cpu, side_mem = side_cpu + cpu, side_mem + mem
            else:
                init_cpu, init_mem = max(init_cpu, side_cpu + cpu), max(init_mem, side_mem + mem)
        app_cpu = app_mem = 0
        for c in self.containers:
            cpu, mem = self._amounts(c)
            app_cpu, app_mem = app_cpu + cpu, app_mem + mem
        self.cpu_request_millis = max(init_cpu, side_cpu + app_cpu)
        self.memory_request_bytes = max(init_mem, side_mem + app_mem)

    def _amounts(self, c: ContainerResources) -> tuple[int, int]:
        requests, limits = c.requests, c.limits
        cpu = requests.get("cpu", limits.get("cpu")) if limits else requests.get("cpu")
        mem = requests.get("memory", limits.get("memory")) if limits else requests.get("memory")
        try:
            return _request_amounts(cpu, mem)
        except ValueError:
            self.warn("bad-quantity", f"container {c.name!r} has an unreadable cpu/memory request")
            return (0, 0)


@functools.lru_cache(maxsize=1024)
def _request_amounts(cpu: str | None, memory: str | None) -> tuple[int, int]:
    """A container's (CPU millicores, memory bytes) from its request texts: a cluster's pods repeat a
    handful of pairs, so each is parsed once (a ValueError is not cached)."""
    return (cpu_millis(cpu) if cpu is not None else 0, memory_bytes(memory) if memory is not None else 0)


# --- the cluster -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Cluster:
    """Nodes, pods, and the scheduler device config text when the source had it.

    ``device_config`` holds a ``migctl.config.model.DeviceConfig`` when one was loaded (from the
    ``hami-scheduler-device`` ConfigMap in the snapshot, or ``--config``), otherwise None.
    """

    nodes: list[Node] = field(default_factory=list)
    pods: list[Pod] = field(default_factory=list)
    device_config: Any = None
    device_config_text: str | None = None
    device_config_source: str | None = None
    source: str = ""
    warnings: list[ClusterWarning] = field(default_factory=list)
    _by_name: dict[str, Node] = field(default_factory=dict, repr=False)

    def node(self, name: str) -> Node | None:
        if len(self._by_name) != len(self.nodes):
            self._by_name = {n.name: n for n in self.nodes}
        return self._by_name.get(name)

    def pods_by_node(self) -> dict[str, list[Pod]]:
        """Pods grouped by the node HAMi assigned (``hami.io/vgpu-node``), falling back to spec.nodeName."""
        out: dict[str, list[Pod]] = {}
        for pod in self.pods:
            target = pod.vgpu_node or pod.node_name
            if target:
                out.setdefault(target, []).append(pod)
        return out

    def all_warnings(self) -> list[ClusterWarning]:
        out = list(self.warnings)
        for n in self.nodes:
            out.extend(n.warnings)
        for p in self.pods:
            out.extend(p.warnings)
        return out

    @classmethod
    def from_objects(
        cls,
        objects: Iterable[dict[str, Any]],
        *,
        source: str = "",
    ) -> Cluster:
        """Build from Node, Pod and ConfigMap objects (other kinds are ignored)."""
        cluster = cls(source=source)
        for obj in objects:
            cluster.add_object(obj)
        cluster.finish()
        return cluster

    def add_object(self, obj: dict[str, Any]) -> None:
        kind = obj.get("kind") if isinstance(obj, dict) else None
        if kind == "Node":
            self.nodes.append(Node.from_object(obj))
        elif kind == "Pod":
            self.pods.append(Pod.from_object(obj))
        elif kind == "ConfigMap":
            meta = _mapping(obj.get("metadata"))
            self.add_config_map(str(meta.get("name") or ""), meta.get("namespace"), _mapping(obj.get("data")))

    def add_config_map(self, name: str, namespace: Any, data: dict[str, Any]) -> None:
        """Keep the first scheduler device ConfigMap's device-config text (other ConfigMaps are ignored)."""
        # "{{release}}-scheduler-device": normally hami-scheduler-device (HAMi charts/hami/templates/scheduler/device-configmap.yaml)
        if name.endswith("-scheduler-device") and DEVICE_CONFIGMAP_KEY in data:
            if self.device_config_text is None:
                self.device_config_text = str(data[DEVICE_CONFIGMAP_KEY])
                self.device_config_source = f"ConfigMap {namespace or 'default'}/{name}"

    def finish(self) -> None:
        """Sort nodes by name and drop duplicate nodes/pods (the later object wins)."""
        nodes: dict[str, Node] = {}
        for n in self.nodes:
            nodes[n.name] = n
        self.nodes = sorted(nodes.values(), key=lambda n: n.name)
        pods: dict[str, Pod] = {}
        for p in self.pods:
            pods[p.key] = p
        if len(pods) != len(self.pods):
            self.pods = list(pods.values())
        self._by_name = {n.name: n for n in self.nodes}
