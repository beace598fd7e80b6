"""migctl's Python API: the functions behind ``migctl validate config``, ``status`` and ``simulate``.

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
    from migctl.cluster.model import Cluster
    from migctl.cluster.status import ClusterStatus
    from migctl.config.diagnostics import Diagnostic
    from migctl.config.load import LoadedConfig
    from migctl.config.model import DeviceConfig
    from migctl.simulate.pod import PodSpec
    from migctl.simulate.result import SimulationResult

__all__ = [
    "ConfigFindings", "ValidationReport", "cluster_status", "load_cluster", "read_pods", "simulate", "validate_config",
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
) -> Cluster:
    """The cluster as HAMi records it: from a ``snapshot`` file (``kubectl get nodes,pods -A -o yaml`` or
    ``migctl cluster snapshot``) or, without one, the live API (read-only; ``kubeconfig``/``context``).

    The device-config is attached (``cluster.device_config``): ``config`` (a device-config.yaml or the
    ConfigMap manifest) replaces the cluster's ``hami-scheduler-device`` ConfigMap. An unreadable
    snapshot or ``config`` raises :class:`~migctl.errors.InputError`; an unreachable cluster
    :class:`~migctl.errors.UnreachableError`. ``on_item`` is called per object read. On a live cluster,
    HAMi's ConfigMap is found by its Helm chart name or labels in any namespace (``namespace`` narrows the
    search; ``config_map="NAMESPACE/NAME"`` names it); the one used is ``cluster.device_config_source``.
    """
    from migctl.cluster.device_config import attach_device_config

    config_text = None
    if config is not None:
        config_text = _config_text(Path(config))
    if snapshot is not None:
        from migctl.cluster.snapshot import load_snapshot

        if namespace is not None or config_map is not None:
            raise InputError("-n/--namespace and --config-map choose HAMi's ConfigMap in the live cluster",
                             hint="with --cluster FILE, give the device-config with --config FILE")
        cluster = load_snapshot(Path(snapshot), on_item=on_item)
    else:
        try:
            from migctl.cluster.kube import read_cluster
        except ImportError:  # pragma: no cover - a build without the kubernetes client
            raise UnreachableError("the live cluster reader is not available in this build",
                                   hint="pass a snapshot: --cluster FILE (kubectl get nodes,pods -A -o yaml)") from None
        cluster = read_cluster(kubeconfig=kubeconfig, context=context, page_size=page_size, on_item=on_item,
                               namespace=namespace, config_map=config_map)
    attach_device_config(cluster, config_text, str(config) if config is not None else None)
    return cluster


def _config_text(path: Path) -> str:
    """``--config`` of status: read it and make sure it holds a device-config (InputError otherwise)."""
    from migctl.config.load import load_device_config

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"--config: {path}: no such file") from None
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
) -> ClusterStatus:
    """What is on the GPUs right now, per node and GPU, from HAMi's annotations (``migctl status``).

    Give a ``cluster`` from :func:`load_cluster`, or the arguments of :func:`load_cluster` to read one.
    ``node`` keeps one node (InputError naming the nodes there are when it is unknown). The result's
    ``to_dict()`` is the ``status -o json`` document.
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
        return build_status(cluster, now=now or datetime.now(timezone.utc), catalogue=_catalogue(), only_node=node)


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

    @property
    def errors(self) -> bool:
        return any(_severity(d) == "error" for d in self.diagnostics)


def _severity(d: Any) -> str:
    return getattr(d.severity, "value", str(d.severity))


def read_pods(paths: PathLike | Sequence[PathLike], *, repeat: int = 1) -> list[PodSpec]:
    """Pods from YAML files (Pods, Deployments, StatefulSets, ReplicaSets, Jobs, Lists; ``-`` is stdin),
    each workload expanded into its replicas, everything ``repeat`` times. InputError names file and line."""
    from migctl.simulate.workloads import Document, WorkloadError, pods_from_documents
    from migctl.yamlio.documents import read_text, yaml_documents

    files = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    documents = []
    for path in files:
        name = str(path)
        documents += [Document(obj, name, line) for obj, line in yaml_documents(read_text(path, "pod file"), name)]
    try:
        pods = pods_from_documents(documents, repeat=repeat)
    except WorkloadError as exc:
        raise InputError(str(exc)) from None
    if not pods:
        raise InputError(f"no pods in {', '.join(str(p) for p in files)}",
                         hint="give Pod, Deployment, StatefulSet, ReplicaSet or Job objects")
    return pods


def _pods(pods: Any, repeat: int) -> list[PodSpec]:
    from migctl.simulate.pod import PodSpec
    from migctl.simulate.workloads import Document, WorkloadError, pods_from_documents

    if isinstance(pods, (str, os.PathLike)) or (isinstance(pods, Sequence) and pods
                                                 and isinstance(pods[0], (str, os.PathLike))):
        return read_pods(pods, repeat=repeat)
    items = list(pods)
    if all(isinstance(p, PodSpec) for p in items):
        return items * repeat if repeat > 1 else items
    try:
        return pods_from_documents([Document(obj, "<pods>", i + 1) for i, obj in enumerate(items)], repeat=repeat)
    except WorkloadError as exc:
        raise InputError(str(exc)) from None


def _check_gpu_requests(pods: Sequence[PodSpec], scheduler: Any) -> None:
    """Every GPU resource of every pod a whole quantity >= 0 (as the API server insists), else InputError."""
    from migctl.simulate.requests import InvalidGpuRequest, check_gpu_requests

    for pod in pods:
        try:
            check_gpu_requests(pod, scheduler)
        except InvalidGpuRequest as exc:
            raise InputError(str(exc), hint="the API server accepts only whole numbers >= 0 for GPU resources") from None


def _config_findings(source: Any, name: str, version: HamiVersionChoice) -> ConfigFindings:
    """The device-config through validate's loader; a config that cannot be read or holds no device-config
    is an input error: HAMi itself would not start with it."""
    from migctl.config.load import load_device_config

    loaded = load_device_config(source, name=name, hami_version=version)
    findings = [_format_diagnostic(d, name) for d in loaded.diagnostics]
    if loaded.unreadable or loaded.config is None:
        detail = "; ".join(findings) or "no device-config found"
        raise InputError(f"{name}: no usable device-config ({detail})",
                         hint="give a device-config.yaml, or a ConfigMap with the key device-config.yaml")
    return ConfigFindings(name, loaded.config, findings, list(loaded.diagnostics))


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
    with errors raises :class:`~migctl.errors.CheckFailed` then.
    """
    from migctl.config.model import DeviceConfig
    from migctl.hardware.catalogue import load_catalogue
    from migctl.simulate.build import evidence_from_cluster, state_from_cluster
    from migctl.simulate.engine import SimulationOptions, Simulator
    from migctl.simulate.feasibility import geometry_problems
    from migctl.simulate.result import SimulationResult
    from migctl.simulate.scheduler_config import SchedulerConfig, from_device_config
    from migctl.simulate.version import HamiVersion, infer_version

    pod_specs = _pods(pods, repeat)
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
        found = _config_findings(Path(config), source, hami_version)
    elif getattr(cluster, "device_config_text", None):
        found = _config_findings(cluster.device_config_text, source, hami_version)
    if on_config is not None:
        on_config(found)
    if found.errors and strict_config:
        raise CheckFailed("the device-config has errors (--strict-config)", hint="run 'migctl validate config'")
    scheduler = from_device_config(found.config) if found.config is not None else SchedulerConfig.hami_defaults()
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
    for pod in pod_specs:
        result.pods.append(simulator.place(pod))
        if on_pod is not None:
            on_pod()
    result.final_gpus = simulator.touched_gpus()
    result.node_problems = geometry_problems(simulator.touched(), catalogue) if version.legacy else []
    result.warnings = warnings + [w for p in result.pods for w in p.warnings] + result.node_problems
    return result
