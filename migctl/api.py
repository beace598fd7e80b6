"""migctl's Python API: the functions behind ``migctl validate config``, ``status``, ``simulate`` and the
planning commands ``capacity``, ``replay`` and ``advise config|defrag``.

Each command is a thin adapter over one function here: it parses its options, calls the function and
renders what comes back. Text is read here (files, the cluster) and returned as values; nothing is
printed. Failures are :class:`~migctl.errors.MigctlError` subclasses carrying the CLI's exit code.

Long work reports progress through optional callbacks (``on_item``, ``on_pod``, ``on_input``) so a
caller may draw a progress bar; the functions never touch the terminal.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from migctl.errors import CheckFailed, InputError, UnreachableError

if TYPE_CHECKING:
    from migctl.advise.config_search import Advice
    from migctl.advise.defrag import DefragPlan
    from migctl.capacity.report import CapacityReport
    from migctl.cluster.model import Cluster
    from migctl.cluster.status import ClusterStatus
    from migctl.config.diagnostics import Diagnostic
    from migctl.config.load import LoadedConfig
    from migctl.config.model import DeviceConfig
    from migctl.replay.engine import ReplayFigures
    from migctl.replay.trace import Trace
    from migctl.simulate.pod import PodSpec
    from migctl.simulate.result import SimulationResult

__all__ = [
    "ConfigAdvice", "ConfigFindings", "DefragAdvice", "ReplayReport", "advise_config", "advise_defrag", "ValidationReport", "capacity_report", "cluster_status", "load_cluster", "read_pods",
    "read_trace", "replay_trace", "simulate", "validate_config",
]

PathLike = str | os.PathLike[str]
HamiVersionChoice = Literal["auto", "2.9", "2.10"]
ConfigKind = Literal["auto", "device-config", "node-config"]


# --- validate ---------------------------------------------------------------------------------------------


@dataclass
class ValidationReport:
    """Every input checked by :func:`validate_config`, with its configs and located findings."""

    results: list[LoadedConfig]
    strict: bool = False

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.results)

    @property
    def warnings(self) -> int:
        return sum(r.warnings for r in self.results)

    @property
    def unreadable(self) -> bool:
        """An input could not be read at all (the CLI exits 2 rather than 1)."""
        return any(r.unreadable for r in self.results)

    @property
    def valid(self) -> bool:
        return self.errors == 0 and not (self.strict and self.warnings) and not self.unreadable

    def to_dict(self) -> dict[str, Any]:
        """The ``migctl validate config -o json`` document."""
        diagnostics = []
        for result in self.results:
            for d in result.diagnostics:
                item = d.to_dict()
                item["file"] = result.source
                diagnostics.append(item)
        return {
            "valid": self.valid,
            "errors": self.errors,
            "warnings": self.warnings,
            "diagnostics": diagnostics,
            "files": [
                {"file": r.source,
                 "configs": [{"kind": c.kind, "origin": c.origin, "hami_version": c.version} for c in r.configs]}
                for r in self.results
            ],
        }

    def to_sarif(self) -> dict[str, Any]:
        """The report as SARIF 2.1.0 (code scanning)."""
        from migctl import __version__
        from migctl.config.sarif import to_sarif

        return to_sarif(self.results, version=__version__, strict=self.strict)


def validate_config(
    files: PathLike | Iterable[PathLike] = (),
    *,
    text: str | bytes | None = None,
    name: str = "<text>",
    stdin: bytes | None = None,
    from_cluster: bool = False,
    namespace: str | None = None,
    configmap: str | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
    kind: ConfigKind = "auto",
    hami_version: HamiVersionChoice = "auto",
    strict: bool = False,
    on_input: Callable[[str], None] | None = None,
) -> ValidationReport:
    """Lint HAMi device-configs (and the device plugin's node config) against the schema and MIG hardware rules.

    ``files`` are paths (a device-config.yaml, a ConfigMap manifest, ``kubectl get cm -o yaml`` output,
    config.json); ``"-"`` among them stands for ``stdin`` (bytes; read from ``sys.stdin`` when not given).
    ``text`` (with its ``name``) is checked after the files; ``from_cluster`` adds the ConfigMap
    ``configmap`` (``NAME`` or ``NAMESPACE/NAME``; default: found by the Helm chart's name or labels, in
    ``namespace`` or any namespace) read from the cluster. Unreadable inputs become diagnostics, never
    exceptions; an unreachable cluster raises :class:`~migctl.errors.UnreachableError`.
    """
    from migctl.config.load import load_bytes, load_path, load_text

    paths = [files] if isinstance(files, (str, os.PathLike)) else list(files)
    results: list[LoadedConfig] = []
    for path in paths:
        if on_input is not None:
            on_input(f"validating {path}")
        if str(path) == "-":
            data = stdin if stdin is not None else _read_stdin()
            results.append(load_bytes(data, name="<stdin>", kind=kind, hami_version=hami_version))
        else:
            results.append(load_path(path, kind=kind, hami_version=hami_version))
    if text is not None:
        if on_input is not None:
            on_input(f"validating {name}")
        load = load_bytes if isinstance(text, bytes) else load_text
        results.append(load(text, name=name, kind=kind, hami_version=hami_version))  # type: ignore[arg-type]
    if from_cluster:
        from migctl.cluster.kube import parse_config_map_ref

        if on_input is not None:
            on_input("reading HAMi's ConfigMap from the cluster")
        cm_namespace, cm_name = parse_config_map_ref(configmap, namespace)
        results.extend(_configmap_inputs(cm_namespace, cm_name, kubeconfig, context, kind, hami_version))
    return ValidationReport(results, strict)


def _read_stdin() -> bytes:
    from migctl.config.load import MAX_BYTES

    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        raise InputError("'-' reads the config from stdin, but there is no stdin")
    try:
        return stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read stdin: {exc}") from exc


def read_configmap(namespace: str | None, name: str | None, kubeconfig: str | None, context: str | None,
                   kind: ConfigKind = "device-config") -> tuple[str, dict[str, Any]]:
    """``(NAMESPACE/NAME, data)`` of HAMi's ConfigMap, found like ``status`` finds it
    (:func:`migctl.cluster.kube.find_config_map`: the chart's names and labels, any namespace unless given)."""
    from migctl.cluster.kube import DEVICE_PLUGIN_CONFIG, SCHEDULER_DEVICE_CONFIG, find_config_map
    from migctl.kube import connect

    wanted = DEVICE_PLUGIN_CONFIG if kind == "node-config" else SCHEDULER_DEVICE_CONFIG
    client = connect(kubeconfig, context)
    try:
        found = find_config_map(client, wanted, namespace=namespace, name=name)
    finally:
        client.close()
    if found is None:
        where = f"namespace {namespace}" if namespace else "any namespace"
        default = f"{namespace or 'kube-system'}/{name or wanted.default_name}"
        raise InputError(f"ConfigMap {default} not found, nor any other {wanted.what} in {where} "
                         f"(named <release>{wanted.suffix} or labelled app.kubernetes.io/component={wanted.component},"
                         f" with the key {wanted.key})",
                         hint="choose it with --config-map NAMESPACE/NAME; kubectl get cm -A lists them")
    meta = found.get("metadata") or {}
    ref = f"{meta.get('namespace') or 'default'}/{meta.get('name')}"
    sys.stderr.write(f"using ConfigMap {ref}\n")
    data = found.get("data") if isinstance(found.get("data"), dict) else {}
    return ref, dict(data)


def _configmap_inputs(namespace: str | None, name: str | None, kubeconfig: str | None, context: str | None,
                      kind: ConfigKind, version: HamiVersionChoice) -> list[LoadedConfig]:
    from migctl.config.diagnostics import diag
    from migctl.config.load import DEVICE_CONFIG_KEY, NODE_CONFIG_KEY, LoadedConfig, load_text

    ref, data = read_configmap(namespace, name, kubeconfig, context, kind)
    keys = {"device-config": (DEVICE_CONFIG_KEY,), "node-config": (NODE_CONFIG_KEY,)}.get(
        kind, (DEVICE_CONFIG_KEY, NODE_CONFIG_KEY))
    present = [k for k in keys if k in data]
    if not present:
        wanted = " or ".join(repr(k) for k in keys)
        return [LoadedConfig(f"configmap/{ref}", None, [], [
            diag("configmap-key-missing", "", f"ConfigMap {ref} has no key {wanted}",
                 f"data keys: {', '.join(sorted(data)) or 'none'}")])]
    return [
        load_text(str(data[key]), name=f"configmap/{ref}/{key}",
                  kind="node-config" if key == NODE_CONFIG_KEY else "device-config", hami_version=version)
        for key in present
    ]


# --- the cluster ------------------------------------------------------------------------------------------


def load_cluster(
    snapshot: PathLike | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
    config: PathLike | None = None,
    *,
    page_size: int = 500,
    on_item: Callable[[], None] | None = None,
    namespace: str | None = None,
    config_map: str | None = None,
    selector: str | None = None,
) -> Cluster:
    """The cluster as HAMi records it: from a ``snapshot`` file (``kubectl get nodes,pods -A -o yaml`` or
    ``migctl cluster snapshot``) or, without one, the live API (read-only; ``kubeconfig``/``context``).

    The device-config is attached (``cluster.device_config``): ``config`` (a device-config.yaml or the
    ConfigMap manifest) replaces the cluster's ``hami-scheduler-device`` ConfigMap. An unreadable
    snapshot or ``config`` raises :class:`~migctl.errors.InputError`; an unreachable cluster
    :class:`~migctl.errors.UnreachableError`. ``on_item`` is called per object read. On a live cluster,
    HAMi's ConfigMap is found by its Helm chart name or labels in any namespace (``namespace`` narrows the
    search; ``config_map="NAMESPACE/NAME"`` names it); the one used is ``cluster.device_config_source``. ``selector`` (kubectl's label-selector grammar,
    e.g. ``"gpu=a100,zone in (a,b)"``) keeps only matching nodes and the pods on them (server-side on a live
    cluster); a malformed one raises :class:`~migctl.errors.InputError`.
    """
    from migctl.cluster.device_config import attach_device_config
    from migctl.cluster.selector import parse_selector, restrict

    parsed = parse_selector(selector)

    config_text = None
    if config is not None:
        config_text = _config_text(Path(config))
    if snapshot is not None:
        from migctl.cluster.snapshot import load_snapshot

        if namespace is not None or config_map is not None:
            raise InputError("-n/--namespace and --config-map choose HAMi's ConfigMap in the live cluster",
                             hint="with --cluster FILE, give the device-config with --config FILE")
        cluster = restrict(load_snapshot(Path(snapshot), on_item=on_item), parsed)
    else:
        try:
            from migctl.cluster.kube import read_cluster
        except ImportError:  # pragma: no cover - a build without the kubernetes client
            raise UnreachableError("the live cluster reader is not available in this build",
                                   hint="pass a snapshot: --cluster FILE (kubectl get nodes,pods -A -o yaml)") from None
        cluster = read_cluster(kubeconfig=kubeconfig, context=context, page_size=page_size, on_item=on_item,
                               namespace=namespace, config_map=config_map,
                               selector=parsed.text if parsed is not None else None)
    attach_device_config(cluster, config_text, str(config) if config is not None else None)
    return cluster


def _config_text(path: Path) -> str:
    """``--config`` of status: read it and make sure it holds a device-config (InputError otherwise)."""
    from migctl.config.load import load_device_config
    from migctl.yamlio.documents import NotRegularFileError, open_regular

    try:
        with open_regular(path, "rb") as fh:
            text = fh.read().decode("utf-8")
    except FileNotFoundError:
        raise InputError(f"--config: {path}: no such file") from None
    except NotRegularFileError as exc:
        raise InputError(f"--config: {path}: {exc.strerror}; give a regular file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--config: {path}: cannot read it ({type(exc).__name__})") from None
    problem = load_device_config(text, name=str(path), kind="device-config", lint=False).problem()
    if problem is not None:
        raise InputError(f"--config: {problem}")
    return text


def cluster_status(
    cluster: Cluster | None = None,
    *,
    snapshot: PathLike | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
    config: PathLike | None = None,
    node: str | None = None,
    now: datetime | None = None,
    page_size: int = 500,
    on_item: Callable[[], None] | None = None,
    namespace: str | None = None,
    config_map: str | None = None,
    gpu_pods: bool = True,
) -> ClusterStatus:
    """What is on the GPUs right now, per node and GPU, from HAMi's annotations (``migctl status``).

    Give a ``cluster`` from :func:`load_cluster`, or the arguments of :func:`load_cluster` to read one.
    ``node`` keeps one node (InputError naming the nodes there are when it is unknown). The result's
    ``to_dict()`` is the ``status -o json`` document. ``gpu_pods=False`` leaves each GPU's pod list
    empty (a summary that does not show it: ``migctl status``'s node table).
    """
    from migctl.cluster.snapshot import gc_paused
    from migctl.cluster.status import build_status

    with gc_paused():  # millions of small acyclic objects: the cyclic collector only costs time here
        if cluster is None:
            cluster = load_cluster(snapshot, kubeconfig, context, config, page_size=page_size, on_item=on_item,
                                   namespace=namespace, config_map=config_map)
        if node is not None and cluster.node(node) is None:
            names = ", ".join(n.name for n in cluster.nodes[:10]) or "none"
            more = f" and {len(cluster.nodes) - 10} more" if len(cluster.nodes) > 10 else ""
            raise InputError(f"--node: no node {node!r} in {cluster.source} (nodes: {names}{more})")
        return build_status(cluster, now=now or datetime.now(timezone.utc), catalogue=_catalogue(), only_node=node,
                            gpu_pods=gpu_pods)


def _catalogue() -> Any:
    try:
        from migctl.hardware.catalogue import load_catalogue

        return load_catalogue()
    except Exception:  # noqa: BLE001 - status still works without the slot grid
        return None


# --- simulate ---------------------------------------------------------------------------------------------


@dataclass
class ConfigFindings:
    """The device-config a simulation follows: where it came from and what the linter says about it."""

    source: str
    config: DeviceConfig | None = None
    findings: list[str] = field(default_factory=list)  # one sentence per diagnostic: file:line: severity: ...
    diagnostics: list[Diagnostic] = field(default_factory=list)
    document: dict[str, Any] | None = None  # the device-config as parsed (a mapping), when read from text

    @property
    def errors(self) -> bool:
        return any(_severity(d) == "error" for d in self.diagnostics)


def _severity(d: Any) -> str:
    return getattr(d.severity, "value", str(d.severity))


def read_pods(paths: PathLike | Sequence[PathLike], *, repeat: int = 1, max_pods: int | None = None) -> list[PodSpec]:
    """Pods from YAML files (Pods, Deployments, StatefulSets, ReplicaSets, Jobs, Lists; ``-`` is stdin),
    each workload expanded into its replicas, everything ``repeat`` times, at most ``max_pods`` pods in all
    (default ``migctl.simulate.workloads.MAX_PODS``). InputError names file, line and field."""
    from migctl.cluster.snapshot import gc_paused
    from migctl.simulate.workloads import MAX_PODS, Document, WorkloadError, pods_from_documents
    from migctl.yamlio.documents import read_text, yaml_documents

    files = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    documents = []
    with gc_paused():  # many small acyclic objects, as for a snapshot
        for path in files:
            name = str(path)
            documents += [Document(obj, name, line) for obj, line in yaml_documents(read_text(path, "pod file"), name)]
        try:
            pods = pods_from_documents(documents, repeat=repeat, max_pods=max_pods or MAX_PODS)
        except WorkloadError as exc:
            raise InputError(str(exc)) from None
    if not pods:
        raise InputError(f"no pods in {', '.join(str(p) for p in files)}",
                         hint="give Pod, Deployment, StatefulSet, ReplicaSet or Job objects")
    return pods


def _pods(pods: Any, repeat: int, max_pods: int | None = None) -> list[PodSpec]:
    from migctl.simulate.pod import PodSpec
    from migctl.simulate.workloads import MAX_PODS, Document, WorkloadError, check_repeat, pods_from_documents

    limit = max_pods or MAX_PODS
    if isinstance(pods, (str, os.PathLike)) or (isinstance(pods, Sequence) and pods
                                                 and isinstance(pods[0], (str, os.PathLike))):
        return read_pods(pods, repeat=repeat, max_pods=limit)
    items = list(pods)
    try:
        if all(isinstance(p, PodSpec) for p in items):
            check_repeat(len(items), repeat, limit)
            return items * repeat if repeat > 1 else items
        return pods_from_documents([Document(obj, "<pods>", i + 1) for i, obj in enumerate(items)], repeat=repeat,
                                   max_pods=limit)
    except WorkloadError as exc:
        raise InputError(str(exc)) from None


def _check_gpu_requests(pods: Sequence[PodSpec], scheduler: Any) -> None:
    """Every GPU resource of every pod a whole quantity >= 0 (as the API server insists), else InputError."""
    from migctl.simulate.requests import InvalidGpuRequest, check_gpu_requests

    try:
        check_gpu_requests(pods, scheduler)
    except InvalidGpuRequest as exc:
        raise InputError(str(exc), hint="the API server accepts only whole numbers >= 0 for GPU resources") from None


def read_device_config(source: Any, name: str, version: HamiVersionChoice = "auto") -> ConfigFindings:
    """A device-config (a path, or the text of a ConfigMap's key) through validate's loader, with its findings; a config that cannot be read or holds no device-config
    is an input error: HAMi itself would not start with it."""
    from migctl.config.load import load_device_config

    loaded = load_device_config(source, name=name, hami_version=version)
    findings = [_format_diagnostic(d, name) for d in loaded.diagnostics]
    if loaded.unreadable or loaded.config is None:
        detail = "; ".join(findings) or "no device-config found"
        raise InputError(f"{name}: no usable device-config ({detail})",
                         hint="give a device-config.yaml, or a ConfigMap with the key device-config.yaml")
    document = next((c.document for c in loaded.configs if c.kind == "device-config"), None)
    return ConfigFindings(name, loaded.config, findings, list(loaded.diagnostics),
                          document if isinstance(document, dict) else None)


def _format_diagnostic(d: Any, source: str) -> str:
    where = source + (f":{d.line}" if d.line else "") + (f":{d.column}" if d.line and d.column else "")
    hint = f" (hint: {d.hint})" if getattr(d, "hint", None) else ""
    return f"{where}: {_severity(d)}: {d.message} [{d.code}]{hint}"


def simulate(
    cluster: Cluster | PathLike,
    pods: PathLike | Sequence[PathLike] | Sequence[Mapping[str, Any]] | Sequence[PodSpec],
    *,
    config: PathLike | DeviceConfig | None = None,
    hami_version: HamiVersionChoice = "auto",
    node_policy: Literal["binpack", "spread"] = "binpack",
    gpu_policy: Literal["binpack", "spread", "topology-aware", "mutex"] = "spread",
    node_score: Literal["hami", "combined"] = "hami",
    repeat: int = 1,
    explain: bool = False,
    strict_config: bool = False,
    on_config: Callable[[ConfigFindings], None] | None = None,
    on_pod: Callable[[], None] | None = None,
    max_pods: int | None = None,
) -> SimulationResult:
    """Where HAMi's scheduler would place ``pods`` on ``cluster``, or why they would stay Pending.

    ``cluster``: a :func:`load_cluster` result or a snapshot path. ``pods``: YAML file paths, Kubernetes
    objects (dicts: Pods and workloads) or :class:`~migctl.simulate.pod.PodSpec`. ``config``: a
    device-config path (raw or the ConfigMap) or a :class:`~migctl.config.model.DeviceConfig`; default
    the cluster's ConfigMap, else HAMi's built-in defaults. ``hami_version="auto"`` infers the generation
    from the cluster and config. ``node_score="combined"`` scores nodes as HAMi's dynamic MIG design
    proposes: GPU memory plus CPU and memory (``"hami"``: GPU usage only, what HAMi does).

    Nothing in the cluster changes. The result holds every pod's verdict, the final GPU layouts, the
    config findings and every warning; ``result.to_dict(explain=...)`` is ``migctl simulate -o json``.
    ``on_config`` sees the config findings before the pods are placed; with ``strict_config`` a config
    with errors raises :class:`~migctl.errors.CheckFailed` then. At most ``max_pods`` pods (replicas and
    ``repeat`` included; default ``migctl.simulate.workloads.MAX_PODS``) are expanded: more is an InputError.
    """
    from migctl.cluster.snapshot import gc_paused
    from migctl.config.model import DeviceConfig, scheduler_nvidia_config
    from migctl.hardware.catalogue import load_catalogue
    from migctl.simulate.build import evidence_from_cluster, state_from_cluster
    from migctl.simulate.engine import SimulationOptions, Simulator
    from migctl.simulate.feasibility import geometry_problems
    from migctl.simulate.result import SimulationResult
    from migctl.simulate.version import HamiVersion, infer_version

    pod_specs = _pods(pods, repeat, max_pods)
    if isinstance(cluster, (str, os.PathLike)):
        cluster = load_cluster(cluster)
    warnings: list[str] = []

    source = str(config) if isinstance(config, (str, os.PathLike)) else (
        "the config given" if config is not None else
        (getattr(cluster, "device_config_source", None) or "the cluster's ConfigMap"))
    found = ConfigFindings(source)
    if isinstance(config, DeviceConfig):
        found.config = config
    elif config is not None:
        found = read_device_config(Path(config), source, hami_version)
    elif getattr(cluster, "device_config_text", None):
        found = read_device_config(cluster.device_config_text, source, hami_version)
    if on_config is not None:
        on_config(found)
    if found.errors and strict_config:
        raise CheckFailed("the device-config has errors (--strict-config)", hint="run 'migctl validate config'")
    scheduler = scheduler_nvidia_config(found.config)
    _check_gpu_requests(pod_specs, scheduler)
    if not scheduler.resource_count_name:
        warnings.append("the device-config has no nvidia.resourceCountName: HAMi sees no pod as requesting NVIDIA GPUs")

    if hami_version == "auto":
        version, version_note = infer_version(evidence_from_cluster(cluster, scheduler))
    else:
        version, version_note = HamiVersion(hami_version), f"HAMi {hami_version} (--hami-version)"
    warnings.append(version_note)

    notes: list[str] = []
    catalogue = load_catalogue()
    state = state_from_cluster(cluster, scheduler, version, catalogue=catalogue, notes=notes)
    notes = list(dict.fromkeys(notes))
    warnings += notes
    if not state.nodes:
        warnings.append(f"the cluster ({getattr(cluster, 'source', '') or 'live'}) has no nodes: every pod stays Pending")

    options = SimulationOptions(version=version, node_policy=node_policy, gpu_policy=gpu_policy,
                                node_score=node_score, explain=explain)
    simulator = Simulator(state, scheduler, options)
    result = SimulationResult(version, version_note, config_findings=found.findings,
                              config_diagnostics=found.diagnostics, config_source=found.source, cluster_notes=notes)
    # placing pods builds no reference cycles (tests/test_api.py holds it): the cyclic collector
    # would only walk the growing state again and again (a quarter of the run at 1,000 nodes)
    with gc_paused():
        for pod in pod_specs:
            result.pods.append(simulator.place(pod))
            if on_pod is not None:
                on_pod()
    result.final_gpus = simulator.touched_gpus()
    result.node_problems = geometry_problems(simulator.touched(), catalogue) if version.legacy else []
    result.warnings = warnings + [w for p in result.pods for w in p.warnings] + result.node_problems
    return result


# --- capacity ---------------------------------------------------------------------------------------------


def capacity_report(
    cluster: Cluster | PathLike,
    *,
    shapes: Iterable[Any] = (),
    workload: PathLike | Sequence[PathLike] | Sequence[Mapping[str, Any]] | Sequence[PodSpec] | None = None,
    config: PathLike | None = None,
    hami_version: HamiVersionChoice = "auto",
    node_policy: Literal["binpack", "spread"] = "binpack",
    gpu_policy: Literal["binpack", "spread", "topology-aware", "mutex"] = "spread",
    node_score: Literal["hami", "combined"] = "hami",
    node: str | None = None,
    max_pods: int | None = None,
    on_step: Callable[[str], None] | None = None,
) -> CapacityReport:
    """How many more pods of each shape HAMi would place, and how much GPU memory is stranded (``migctl capacity``).

    ``cluster``: a :func:`load_cluster` result or a snapshot path (``config`` then replaces its
    device-config). ``shapes``: texts like ``"gpu=1,gpumem=10000,mode=mig"`` or
    :class:`~migctl.capacity.shapes.Shape` values (weight 1 each); ``workload``: pods (paths, objects or
    PodSpecs) whose distinct requests become the shapes, weighted by share. Neither: the MIG slot sizes
    and hami-core 1/4, 1/2, 1. ``node`` adds a drill-down into one node. The result's ``to_dict()`` is
    ``migctl capacity -o json``. Bad shapes, pods or node names raise :class:`~migctl.errors.InputError`.
    """
    from migctl.capacity.report import capacity_report as report
    from migctl.capacity.shapes import Shape, ShapeError
    from migctl.cluster.snapshot import gc_paused

    shape_list = list(shapes)
    if shape_list and workload is not None:
        raise InputError("--shape and --workload: give one or the other")
    parsed = []
    for item in shape_list:
        if isinstance(item, Shape):
            parsed.append((item, 1.0))
            continue
        try:
            parsed.append((Shape.parse(str(item)), 1.0))
        except ShapeError as exc:
            from migctl.yamlio.numbers import shorten

            raise InputError(f"--shape {shorten(str(item), 80)}: {exc}",
                             hint="e.g. --shape gpu=1,gpumem=10000,mode=mig") from None
    pods = _pods(workload, 1, max_pods) if workload is not None else None
    if isinstance(cluster, (str, os.PathLike)):
        cluster = load_cluster(cluster, config=config)
    elif config is not None:
        from migctl.cluster.device_config import attach_device_config

        attach_device_config(cluster, _config_text(Path(config)), str(config))
    if node is not None and cluster.node(node) is None:
        names = ", ".join(n.name for n in cluster.nodes[:10]) or "none"
        more = f" and {len(cluster.nodes) - 10} more" if len(cluster.nodes) > 10 else ""
        raise InputError(f"--node: no node {node!r} in {cluster.source or 'the cluster'} (nodes: {names}{more})")
    try:
        with gc_paused():  # repeated placement builds no reference cycles (tests/test_api.py)
            return report(cluster, hami_version=hami_version, node_policy=node_policy, gpu_policy=gpu_policy,
                          node_score=node_score, shapes=parsed or None, workload=pods, node=node,
                          catalogue=_catalogue(), on_step=on_step)
    except ShapeError as exc:
        where = f"--workload {workload}: " if isinstance(workload, (str, os.PathLike)) else (
            "--workload: " if workload is not None else "--shape: ")
        raise InputError(f"{where}{exc}") from None


# --- replay -----------------------------------------------------------------------------------------------

#: the openb node list an openb trace is replayed on when no nodes are given (beside the trace)
OPENB_NODE_LIST = "openb_node_list_gpu_node.csv"


@dataclass
class ReplayReport:
    """The figures of every variant of a :func:`replay_trace`, with what was replayed on what."""

    trace: Trace
    nodes: str  # where the nodes came from: the node list or the snapshot
    figures: list[ReplayFigures]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The ``migctl replay -o json`` document."""
        return {
            "trace": {"source": self.trace.source, "kind": self.trace.kind, "pods": len(self.trace)},
            "nodes": self.nodes,
            "variants": [f.to_dict() for f in self.figures],
        }


def read_trace(path: PathLike) -> Trace:
    """A workload trace: an openb pod list CSV, or Pod YAML with ``migctl.io/arrival`` and
    ``migctl.io/duration`` annotations (``-``: stdin). InputError names the file and line."""
    from migctl.replay.openb import looks_like_openb, parse_pod_list
    from migctl.replay.podyaml import trace_from_documents
    from migctl.simulate.workloads import Document
    from migctl.yamlio.documents import read_text, yaml_documents

    text = read_text(path, "trace")
    if looks_like_openb(text):
        return parse_pod_list(text, str(path))
    docs = [Document(value, str(path), line) for value, line in yaml_documents(text, str(path))]
    return trace_from_documents(docs, str(path))


def _replay_config(path: str) -> tuple[DeviceConfig | None, str]:
    return read_device_config(Path(path), path).config, path


def replay_trace(
    trace: PathLike | Trace,
    *,
    nodes: PathLike | None = None,
    cluster: Cluster | PathLike | None = None,
    config: PathLike | None = None,
    variants: Iterable[str] = (),
    compare: bool = False,
    keep_running: bool = False,
    hami_version: HamiVersionChoice = "auto",
    node_policy: Literal["binpack", "spread"] = "binpack",
    gpu_policy: Literal["binpack", "spread", "topology-aware", "mutex"] = "spread",
    node_score: Literal["hami", "combined"] = "hami",
    gpu_model: str = "a100-40gb",
    mig_nodes: str = "50%",
    on_fail: Literal["queue", "drop"] = "queue",
    scale_arrivals: float = 1.0,
    samples: int = 200,
    jobs: int = 1,
    fgd: bool = True,
    on_progress: Callable[[int], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Replay a workload trace through HAMi's scheduler over time, once per variant (``migctl replay``).

    ``trace``: a path (see :func:`read_trace`) or a :class:`~migctl.replay.trace.Trace`. The nodes: an
    openb node list CSV (``nodes``; default for an openb trace: ``openb_node_list_gpu_node.csv`` beside it)
    or a snapshot (``cluster``: a path or a :func:`load_cluster` result; ``keep_running`` keeps its running
    pods). ``config``: a device-config path (default: the snapshot's ConfigMap, else HAMi's defaults).
    ``variants``: texts like ``"node-policy=spread,config=other.yaml"`` applied over the base options;
    the base itself runs when ``compare`` is set or no variant is given. ``on_start`` is told the number
    of steps (pods x variants) before the first; ``on_progress`` the steps done since the last call.
    The result's ``to_dict()`` is ``migctl replay -o json``.
    """
    import dataclasses

    from migctl.cluster.snapshot import gc_paused
    from migctl.replay.openb import parse_node_list
    from migctl.replay.run import ClusterInput, Settings, apply_variant, check_settings
    from migctl.replay.run import compare as run_compare
    from migctl.yamlio.documents import read_text

    if not isinstance(trace, (str, os.PathLike)):
        trace_value, trace_path = trace, Path(getattr(trace, "source", "") or ".")
    else:
        trace_value, trace_path = read_trace(trace), Path(trace)
    if nodes is not None and cluster is not None:
        raise InputError("give --nodes or --cluster, not both")
    if cluster is not None:
        snapshot = load_cluster(cluster) if isinstance(cluster, (str, os.PathLike)) else cluster
        cluster_input = ClusterInput(snapshot=snapshot, source=str(cluster) if isinstance(
            cluster, (str, os.PathLike)) else (getattr(snapshot, "source", "") or "the cluster"))
    else:
        if nodes is None:
            sibling = trace_path.with_name(OPENB_NODE_LIST)
            if trace_value.kind == "openb" and sibling.is_file():
                nodes = sibling
            else:
                raise InputError("no nodes to replay on", hint="give --nodes NODE_LIST.csv (openb node list) or "
                                                               "--cluster FILE (a kubectl snapshot)")
        cluster_input = ClusterInput(nodes=tuple(parse_node_list(read_text(nodes, "node list"), str(nodes))),
                                     source=str(nodes))
    if cluster_input.snapshot is None and keep_running:
        raise InputError("--keep-running needs --cluster (a node list has no running pods)")
    base = Settings(hami_version=hami_version, node_policy=node_policy, gpu_policy=gpu_policy, node_score=node_score,
                    gpu_model=gpu_model, mig_nodes=mig_nodes, on_fail=on_fail, scale_arrivals=scale_arrivals,
                    samples=samples, keep_running=keep_running, fgd=fgd)
    snapshot = cluster_input.snapshot
    if config is not None:
        loaded, name = _replay_config(str(config))
        base = dataclasses.replace(base, device_config=loaded, config_name=name)
    elif snapshot is not None and getattr(snapshot, "device_config_text", None):
        loaded = read_device_config(snapshot.device_config_text,
                                    snapshot.device_config_source or "the snapshot's ConfigMap").config
        base = dataclasses.replace(base, device_config=loaded, config_name=snapshot.device_config_source or "snapshot")
    check_settings(base)
    variant_list = list(variants)
    runs: list[tuple[str, Settings]] = []
    if compare or not variant_list:
        runs.append(("base", base))
    for text in variant_list:
        runs.append((text, apply_variant(base, text, _replay_config)))
    warnings = []
    if snapshot is not None and any(s.mig_nodes != "50%" for _, s in runs):
        warnings.append("--mig-nodes applies to a node list; a snapshot's nodes keep their registered modes")
    if on_start is not None:
        on_start(len(trace_value) * len(runs))
    with gc_paused():  # arrivals and departures build no reference cycles (tests/test_api.py)
        figures = run_compare(trace_value, cluster_input, runs, jobs=jobs, on_progress=on_progress)
    return ReplayReport(trace_value, cluster_input.source, figures, warnings)


# --- advise -----------------------------------------------------------------------------------------------

DEFAULT_SPLITS = ("0%", "25%", "50%", "75%", "100%")


def _config_and_document(source: Any, name: str, version: str) -> tuple[DeviceConfig | None, dict[str, Any] | None]:
    """(DeviceConfig, its parsed document) through validate's loader (:func:`read_device_config`)."""
    found = read_device_config(source, name, version)  # type: ignore[arg-type]
    return found.config, found.document


@dataclass
class ConfigAdvice:
    """What :func:`advise_config` found: the search's :class:`~migctl.advise.config_search.Advice`, and the
    current device-config document it is compared with."""

    advice: Advice
    current_document: dict[str, Any] | None
    snapshot: bool  # the nodes came from a snapshot (their MIG modes stay as registered)

    def to_dict(self, explain: bool = False) -> dict[str, Any]:
        """The ``migctl advise config -o json`` document (``explain``: with the candidates and the search log)."""
        data = self.advice.to_dict()
        if not explain:
            data.pop("candidates", None)
        else:
            data["explain"] = self.advice.search.explain
        return data


def advise_config(
    workload: PathLike | Trace,
    *,
    nodes: PathLike | None = None,
    cluster: Cluster | PathLike | None = None,
    config: PathLike | None = None,
    gpu_model: str = "a100-40gb",
    mig_nodes: str = "50%",
    splits: Iterable[str] = DEFAULT_SPLITS,
    hami_version: Literal["2.9", "2.10"] = "2.9",
    node_policy: Literal["binpack", "spread"] = "binpack",
    gpu_policy: Literal["binpack", "spread", "topology-aware", "mutex"] = "spread",
    on_fail: Literal["queue", "drop"] = "queue",
    scale_arrivals: float = 1.0,
    budget: float = 60.0,
    jobs: int = 0,
    seed: int = 0,
    tries: int | None = None,
    screen: int = 0,
    on_round: Callable[[int], None] | None = None,
) -> ConfigAdvice:
    """Search the device-config and MIG/hami-core split that place ``workload`` best, scored by replaying it
    through HAMi, against the current design (``migctl advise config``).

    ``workload``: a trace path (see :func:`read_trace`) or a Trace. Exactly one of ``nodes`` (an openb node
    list CSV, GPUs mapped to ``gpu_model``, ``mig_nodes`` of them in MIG mode now) or ``cluster`` (a snapshot
    path or a :func:`load_cluster` result; running pods ignored). ``config``: the current device-config
    (default: the snapshot's ConfigMap, else HAMi's defaults). The search stops after ``budget`` seconds or
    ``tries`` candidates; ``jobs`` worker processes (0: the CPU cores), ``seed`` fixes the candidates,
    ``screen`` scores on every K-th node and task (0: automatic). Nothing is changed.
    """
    import time

    from migctl.advise.config_search import Problem
    from migctl.advise.config_search import advise_config as search
    from migctl.hardware.catalogue import load_catalogue
    from migctl.replay.cluster import GpuModels, MigNodes, resolve_model
    from migctl.replay.openb import parse_node_list
    from migctl.replay.run import ClusterInput, Settings, check_settings
    from migctl.yamlio.documents import read_text

    if (nodes is None) == (cluster is None):
        raise InputError("give exactly one of --nodes NODE_LIST.csv or --cluster FILE")
    trace = read_trace(workload) if isinstance(workload, (str, os.PathLike)) else workload
    if not len(trace):
        raise InputError(f"{trace.source}: no tasks")
    catalogue = load_catalogue()
    device_config = document = None
    version = hami_version if hami_version != "auto" else "2.9"
    snapshot = None
    if cluster is not None:
        snapshot = load_cluster(cluster) if isinstance(cluster, (str, os.PathLike)) else cluster
        cluster_input = ClusterInput(snapshot=snapshot, source=str(cluster) if isinstance(
            cluster, (str, os.PathLike)) else (getattr(snapshot, "source", "") or "the cluster"))
    else:
        node_list = parse_node_list(read_text(nodes, "node list"), str(nodes))  # type: ignore[arg-type]
        cluster_input = ClusterInput(nodes=tuple(node_list), source=str(nodes))
    if config is not None:
        device_config, document = _config_and_document(Path(config), str(config), version)
    elif snapshot is not None and snapshot.device_config_text:
        device_config, document = _config_and_document(snapshot.device_config_text,
                                                       snapshot.device_config_source or "ConfigMap", version)
    if snapshot is not None:
        models = []
        for node in snapshot.nodes:
            for d in node.devices:
                match = catalogue.lookup(d.type)
                if match is not None and match.model not in models:
                    models.append(match.model)
    else:
        models = [resolve_model(k, catalogue) for k in GpuModels.parse(gpu_model).keys()]
    if not models:
        raise InputError("no GPU of a catalogue model in the cluster: nothing to advise")
    settings = check_settings(Settings(
        device_config=device_config, config_name=str(config or "current"), hami_version=version,
        node_policy=node_policy, gpu_policy=gpu_policy, gpu_model=gpu_model, mig_nodes=mig_nodes,
        on_fail=on_fail, scale_arrivals=scale_arrivals, keep_running=False))
    split_list = [s.strip() for s in splits if s.strip()]
    for s in split_list:
        MigNodes.parse(s)
    if snapshot is not None:
        split_list = []  # a snapshot's nodes keep their registered modes
    problem = Problem(trace, cluster_input, settings, document, version)
    names = [n.name for n in cluster_input.nodes]

    def mig_names(share: str) -> list[str]:
        if snapshot is not None:
            return sorted({n.name for n in snapshot.nodes for d in n.devices if d.mode == "mig"})
        return sorted(MigNodes.parse(share).select(names))

    advice = search(problem, models, seed=seed, jobs=jobs or (os.cpu_count() or 1), budget_s=budget, tries=tries,
                    splits=split_list, screen_every=screen or (1 if len(trace) < 2000 else 8), clock=time.monotonic,
                    on_round=on_round, mig_node_names=mig_names)
    return ConfigAdvice(advice, document, snapshot is not None)


@dataclass
class DefragAdvice:
    """What :func:`advise_defrag` found: the plan, with the HAMi generation it was simulated as."""

    plan: DefragPlan
    hami_version: str
    version_note: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self, explain: bool = False) -> dict[str, Any]:
        """The ``migctl advise defrag -o json`` document (``explain``: with the search log)."""
        data = self.plan.to_dict() | {"hami_version": self.hami_version}
        if explain:
            data["explain"] = self.plan.explain
        return data

    def kubectl(self) -> list[str]:
        """The commands that carry the plan out (``--emit kubectl``)."""
        return list(self.plan.kubectl())


def _cluster_objects(docs: Iterable[tuple[Any, str]]) -> list[tuple[dict[str, Any], str]]:
    """Kubernetes objects of the documents (``List`` items opened), with where each is."""
    out: list[tuple[dict[str, Any], str]] = []

    def walk(obj: Any, where: str) -> None:
        if not isinstance(obj, dict):
            return
        if obj.get("kind") == "List" or (obj.get("kind") is None and isinstance(obj.get("items"), list)):
            for i, item in enumerate(obj.get("items") or ()):
                walk(item, f"{where} items[{i}]")
            return
        out.append((obj, where))

    for obj, where in docs:
        walk(obj, where)
    return out


def _defrag_snapshot(path: PathLike) -> tuple[Cluster, list[tuple[dict[str, Any], str]]]:
    """A snapshot's cluster with its objects (Pods and PodDisruptionBudgets included)."""
    from migctl.cluster.model import Cluster
    from migctl.yamlio.documents import read_text, yaml_documents

    name = str(path)
    objects = _cluster_objects((obj, f"{name}:{line}") for obj, line in
                               yaml_documents(read_text(path, "cluster snapshot"), name))
    cluster = Cluster.from_objects((o for o, _ in objects), source=f"snapshot {path}")
    if not cluster.nodes:
        raise InputError(f"{path}: no Node objects (kubectl get nodes,pods,pdb -A -o yaml)")
    return cluster, objects


def _defrag_live(kubeconfig: str | None, context: str | None) -> tuple[Cluster, list[tuple[dict[str, Any], str]]]:
    """The live cluster's Nodes, Pods, device ConfigMap and PodDisruptionBudgets (read-only)."""
    try:
        from migctl.cluster.kube import connect, list_objects
        from migctl.cluster.model import Cluster
    except ImportError:  # pragma: no cover - a build without the kubernetes client
        raise UnreachableError("the live cluster reader is not available in this build",
                               hint="pass a snapshot: --cluster FILE (kubectl get nodes,pods,pdb -A -o yaml)") from None
    session = connect(kubeconfig, context)
    objects = [(o, "live") for o in list_objects(session)]
    for page in session.list_pages("list_pod_disruption_budget_for_all_namespaces", 500, api=session.policy):
        objects += [({**item, "kind": "PodDisruptionBudget"}, "live") for item in page]
    cluster = Cluster.from_objects((o for o, _ in objects), source=f"live cluster, {session.where}")
    return cluster, objects


def advise_defrag(
    cluster: PathLike | None = None,
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    pending: PathLike | Sequence[PathLike] | Sequence[Mapping[str, Any]] | Sequence[PodSpec] | None = None,
    max_moves: int = 5,
    config: PathLike | None = None,
    hami_version: HamiVersionChoice = "auto",
    node_policy: Literal["binpack", "spread"] = "binpack",
    gpu_policy: Literal["binpack", "spread", "topology-aware", "mutex"] = "spread",
    budget: float = 60.0,
    on_read: Callable[[], None] | None = None,
) -> DefragAdvice:
    """At most ``max_moves`` pod moves that make the most pending GPU pods schedulable, re-simulated step by
    step as proof (``migctl advise defrag``). Nothing is changed.

    ``cluster``: a snapshot path (``kubectl get nodes,pods,pdb -A -o yaml``; its PodDisruptionBudgets are
    honoured) or None for the live cluster (read-only). ``pending``: the pods to unblock (paths, objects or
    PodSpecs; default: the cluster's Pending GPU pods). ``config``: the device-config (default: the
    cluster's ConfigMap, else HAMi's defaults). The search stops after ``budget`` seconds with the best plan.
    ``on_read`` is called once the cluster is read.
    """
    import time

    from migctl.advise.defrag import DisruptionBudget, RunningPod, plan_defrag
    from migctl.config.model import scheduler_nvidia_config
    from migctl.hardware.catalogue import load_catalogue
    from migctl.simulate import SimulationOptions
    from migctl.simulate.build import evidence_from_cluster
    from migctl.simulate.version import HamiVersion, infer_version

    found, objects = _defrag_snapshot(cluster) if cluster is not None else _defrag_live(kubeconfig, context)
    if on_read is not None:
        on_read()
    running, budgets = [], []
    for obj, where in objects:
        try:
            if obj.get("kind") == "Pod":
                running.append(RunningPod.from_object(obj, source=where))
            elif obj.get("kind") == "PodDisruptionBudget":
                budgets.append(DisruptionBudget.from_object(obj))
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from None
    pending_pods = None
    if pending is not None:
        pending_pods = _pods(pending, 1)
    device_config = None
    if config is not None:
        device_config = read_device_config(Path(config), str(config), hami_version).config
    elif getattr(found, "device_config_text", None):
        device_config = read_device_config(found.device_config_text, found.device_config_source or "ConfigMap",
                                           hami_version).config
    scheduler = scheduler_nvidia_config(device_config)
    if hami_version == "auto":
        version, note = infer_version(evidence_from_cluster(found, scheduler))
    else:
        version, note = HamiVersion(hami_version), f"HAMi {hami_version} (--hami-version)"
    options = SimulationOptions(version=version, node_policy=node_policy, gpu_policy=gpu_policy)
    notes: list[str] = []
    plan = plan_defrag(found, scheduler, options, running=running, budgets=budgets, pending=pending_pods,
                       max_moves=max_moves, catalogue=load_catalogue(), clock=time.monotonic,
                       deadline=time.monotonic() + budget, notes=notes)
    return DefragAdvice(plan, version.value, note, notes)
