"""``migctl simulate``: where HAMi would place pods, or why they would stay Pending.

The edge: read the pod files, the cluster (snapshot or live, read-only) and the device-config,
pick the HAMi generation, run :class:`migctl.simulate.Simulator`, print. Only typer and the
standard library are imported at module level.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from migctl.cli.main import app
from migctl.cli.output import OutputFormat, OutputOption, emit, progress, warn
from migctl.errors import CheckFailed, InputError, UnreachableError

if TYPE_CHECKING:
    from migctl.simulate.result import SimulationResult
    from migctl.simulate.scheduler_config import SchedulerConfig
    from migctl.simulate.workloads import Document

CONFIG_KEY = "device-config.yaml"
MAX_NOTES = 20  # cluster notes printed on stderr; the JSON output has them all


class Policy(str, Enum):
    binpack = "binpack"
    spread = "spread"


class GpuPolicy(str, Enum):
    binpack = "binpack"
    spread = "spread"
    topology_aware = "topology-aware"
    mutex = "mutex"  # HAMi 2.10


class VersionChoice(str, Enum):
    auto = "auto"
    v2_9 = "2.9"
    v2_10 = "2.10"


class NodeScore(str, Enum):
    hami = "hami"
    combined = "combined"


def _warn(message: str) -> None:
    """``warn`` with our text taken literally (``[t-s]`` is not rich markup)."""
    from rich.markup import escape

    warn(escape(message))


# --- reading inputs ----------------------------------------------------------------------------


def _read_text(path: Path, what: str) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file ({what})") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a {what}") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text ({what})") from None


def _yaml_documents(text: str, name: str) -> list[Document]:
    """Every YAML document of a file with the line it starts on; InputError names file and line."""
    import yaml

    from migctl.simulate.workloads import Document

    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_cls(text)
    docs = []
    try:
        while loader.check_node():
            node = loader.get_node()
            line = node.start_mark.line + 1 if node is not None else 1
            docs.append(Document(loader.construct_document(node) if node is not None else None, name, line))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"{where}: not valid YAML: {problem}") from None
    finally:
        loader.dispose()
    return docs


def _read_pods(paths: list[Path], repeat: int) -> list[Any]:
    from migctl.simulate.workloads import WorkloadError, pods_from_documents

    documents = []
    for path in paths:
        documents += _yaml_documents(_read_text(path, "pod file"), str(path))
    try:
        pods = pods_from_documents(documents, repeat=repeat)
    except WorkloadError as exc:
        raise InputError(str(exc)) from None
    if not pods:
        raise InputError(f"no pods in {', '.join(str(p) for p in paths)}",
                         hint="give Pod, Deployment, StatefulSet, ReplicaSet or Job objects")
    return pods


def _read_cluster(cluster_file: Path | None, kubeconfig: str | None = None, context: str | None = None,
                  namespace: str | None = None, config_map: str | None = None) -> Any:
    if cluster_file is not None:
        from migctl.cluster.snapshot import load_snapshot

        if namespace is not None or config_map is not None:
            raise InputError("-n/--namespace and --config-map choose HAMi's ConfigMap in the live cluster",
                             hint="with --cluster FILE, give the device-config with --config FILE")
        with progress(f"reading {cluster_file}") as bar:
            return load_snapshot(cluster_file, on_item=bar.advance)
    try:
        from migctl.cluster.kube import read_cluster
    except ImportError:
        raise UnreachableError("the live cluster reader is not available in this build",
                               hint="pass a snapshot: --cluster FILE (kubectl get nodes,pods -A -o yaml)") from None
    with progress("reading the cluster") as bar:
        cluster = read_cluster(kubeconfig=kubeconfig, context=context, on_item=bar.advance, namespace=namespace,
                               config_map=config_map)
    if cluster.device_config_source:
        sys.stderr.write(f"found HAMi's device-config in {cluster.device_config_source}\n")
    return cluster


def _format_diagnostic(d: Any, source: str) -> tuple[str, bool]:
    severity = getattr(d.severity, "value", str(d.severity))
    where = source + (f":{d.line}" if d.line else "") + (f":{d.column}" if d.line and d.column else "")
    hint = f" (hint: {d.hint})" if getattr(d, "hint", None) else ""
    return f"{where}: {severity}: {d.message} [{d.code}]{hint}", severity == "error"


def _load_config(source: Path | str, name: str, version: str) -> tuple[Any, list[str], list[Any]]:
    """(DeviceConfig, findings as sentences, the diagnostics) through validate's loader.

    ``source`` is a path (``--config``: a raw device-config.yaml or a ConfigMap holding one) or the
    text of the cluster's ConfigMap. A config that cannot be read or holds no device-config is an
    input error: HAMi itself would not start with it.
    """
    from migctl.config.load import load_device_config

    loaded = load_device_config(source, name=name, hami_version=version)  # type: ignore[arg-type]
    findings = [_format_diagnostic(d, name)[0] for d in loaded.diagnostics]
    if loaded.unreadable or loaded.config is None:
        detail = "; ".join(findings) or "no device-config found"
        raise InputError(f"{name}: no usable device-config ({detail})",
                         hint=f"give a device-config.yaml, or a ConfigMap with the key {CONFIG_KEY}")
    return loaded.config, findings, list(loaded.diagnostics)


def _print_findings(findings: list[str], diagnostics: list[Any], source: str, explain: bool) -> None:
    """Config findings on stderr, above the result: errors in full, warnings in full with
    ``--explain`` or when few, else counted by code (``-o json`` keeps every one)."""
    if not findings:
        return
    severities = [getattr(d.severity, "value", str(d.severity)) for d in diagnostics]
    errors = [line for line, sev in zip(findings, severities) if sev == "error"]
    others = [(line, d.code) for line, d, sev in zip(findings, diagnostics, severities) if sev != "error"]
    out = [f"device-config {source}: {len(errors)} error(s), {len(others)} warning(s)/note(s); "
           "HAMi still schedules with this config (--strict-config stops on errors)\n"]
    out += [f"  {line}\n" for line in errors]
    if explain or len(others) <= 3:
        out += [f"  {line}\n" for line, _ in others]
    elif others:
        counts: dict[str, int] = {}
        for _, code in others:
            counts[code] = counts.get(code, 0) + 1
        summary = ", ".join(f"{code} x{n}" for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        out.append(f"  warnings: {summary}\n  (--explain or 'migctl validate config' shows each one)\n")
    sys.stderr.write("".join(out))
    sys.stderr.flush()


# --- the command -----------------------------------------------------------------------------------


@app.command("simulate")
def simulate_command(
    pod_files: Annotated[list[Path], typer.Argument(metavar="PODS.yaml", show_default=False,
                                                    help="Pod specs (Pods, Deployments, StatefulSets, ReplicaSets, "
                                                         "Jobs; multi-document files; - for stdin).")],
    cluster_file: Annotated[Path | None, typer.Option("--cluster", metavar="FILE", help=(
        "Cluster snapshot (kubectl get nodes,pods -A -o yaml). Default: the live cluster, read-only."))] = None,
    kubeconfig: Annotated[str | None, typer.Option("--kubeconfig", help="Kubeconfig for the live cluster.")] = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubeconfig context for the live cluster.")] = None,
    namespace: Annotated[str | None, typer.Option("-n", "--namespace", metavar="NAMESPACE", show_default=False, help=(
        "Namespace HAMi is installed in, where its ConfigMap is found (default: every namespace)."))] = None,
    config_map: Annotated[str | None, typer.Option("--config-map", metavar="NAMESPACE/NAME", show_default=False, help=(
        "HAMi's scheduler device ConfigMap (default: found by the Helm chart's name or labels)."))] = None,
    config_file: Annotated[Path | None, typer.Option("--config", metavar="FILE", help=(
        "HAMi device-config.yaml (raw or the ConfigMap). Default: the ConfigMap in the cluster, else HAMi's "
        "built-in defaults."))] = None,
    node_policy: Annotated[Policy, typer.Option("--node-policy", help="Scheduler default node policy "
                                                "(pods override with hami.io/node-scheduler-policy).")] = Policy.binpack,
    gpu_policy: Annotated[GpuPolicy, typer.Option("--gpu-policy", help="Scheduler default GPU policy "
                                                  "(pods override with hami.io/gpu-scheduler-policy).")] = GpuPolicy.spread,
    hami_version: Annotated[VersionChoice, typer.Option("--hami-version", help=(
        "HAMi generation to follow: 2.9 (knownMigGeometries templates) or 2.10 (migProfiles + placements); "
        "auto infers it from the cluster and config."))] = VersionChoice.auto,
    node_score: Annotated[NodeScore, typer.Option("--node-score", help=(
        "hami: what HAMi does (GPU usage only); combined: the seed's target, GPU memory + CPU + memory."))]
    = NodeScore.hami,
    repeat: Annotated[int, typer.Option("--repeat", min=1, metavar="N", help="Submit the pods N times.")] = 1,
    explain: Annotated[bool, typer.Option("--explain", help="Show every node's and GPU's verdict and score.")] = False,
    strict_config: Annotated[bool, typer.Option("--strict-config", help=(
        "Stop when the device-config has errors (default: report them and simulate what HAMi would do)."))] = False,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Simulate HAMi's scheduler: per pod the node, GPUs, MIG profile and geometry, or why it stays Pending.

    Nothing in the cluster is changed. Exit 0 when every pod is scheduled, 1 when any is not.
    """
    from migctl.hardware.catalogue import load_catalogue
    from migctl.simulate import SimulationOptions, Simulator
    from migctl.simulate.build import evidence_from_cluster, state_from_cluster
    from migctl.simulate.feasibility import geometry_problems
    from migctl.simulate.scheduler_config import SchedulerConfig, from_device_config
    from migctl.simulate.version import HamiVersion, infer_version

    pods = _read_pods(pod_files, repeat)
    cluster = _read_cluster(cluster_file, kubeconfig, context, namespace, config_map)

    findings: list[str] = []
    diagnostics: list[Any] = []
    device_config = None
    lint_version = "auto" if hami_version is VersionChoice.auto else hami_version.value
    source = str(config_file) if config_file is not None else (
        getattr(cluster, "device_config_source", None) or "the cluster's ConfigMap")
    if config_file is not None:
        device_config, findings, diagnostics = _load_config(config_file, source, lint_version)
    elif getattr(cluster, "device_config_text", None):
        device_config, findings, diagnostics = _load_config(cluster.device_config_text, source, lint_version)
    _print_findings(findings, diagnostics, source, explain)
    config_errors = any(getattr(d.severity, "value", str(d.severity)) == "error" for d in diagnostics)
    if config_errors and strict_config:
        raise CheckFailed("the device-config has errors (--strict-config)", hint="run 'migctl validate config'")
    config: SchedulerConfig = (from_device_config(device_config) if device_config is not None
                               else SchedulerConfig.hami_defaults())
    if not config.resource_count_name:
        _warn("the device-config has no nvidia.resourceCountName: HAMi sees no pod as requesting NVIDIA GPUs")

    if hami_version is VersionChoice.auto:
        version, version_note = infer_version(evidence_from_cluster(cluster, config))
    else:
        version, version_note = HamiVersion(hami_version.value), f"HAMi {hami_version.value} (--hami-version)"
    _warn(version_note)

    notes: list[str] = []
    catalogue = load_catalogue()
    state = state_from_cluster(cluster, config, version, catalogue=catalogue, notes=notes)
    notes = list(dict.fromkeys(notes))
    for note in notes[:MAX_NOTES]:
        _warn(note)
    if len(notes) > MAX_NOTES:
        _warn(f"... and {len(notes) - MAX_NOTES} more notes about the cluster (all are in -o json: 'cluster_notes')")
    if not state.nodes:
        _warn(f"the cluster ({getattr(cluster, 'source', '') or 'live'}) has no nodes: every pod stays Pending")

    options = SimulationOptions(version=version, node_policy=node_policy.value, gpu_policy=gpu_policy.value,
                                node_score=node_score.value, explain=explain)
    simulator = Simulator(state, config, options)
    from migctl.simulate.result import SimulationResult

    result = SimulationResult(version, version_note)
    with progress("simulating", total=len(pods)) as bar:
        for pod in pods:
            result.pods.append(simulator.place(pod))
            bar.advance()
    result.final_gpus = simulator.touched_gpus()
    problems = geometry_problems(result.final_gpus, catalogue) if version.legacy else []
    result.config_findings = findings
    for p in result.pods:
        for w in p.warnings:
            _warn(w)
    for problem in problems:
        _warn(problem)

    data = result.to_dict(explain=explain)
    data["hami_version_note"] = version_note
    data["node_problems"] = problems
    data["config_findings"] = findings
    data["cluster_notes"] = notes
    emit(data, output, lambda: _render_text(result, explain, problems))
    if result.scheduled != len(result.pods):
        raise typer.Exit(1)


# --- text output -------------------------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [[("-" if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return lines


def _render_text(result: SimulationResult, explain: bool, problems: list[str]) -> None:
    out: list[str] = []
    rows = []
    for p in result.pods:
        if not p.scheduled:
            continue
        if not p.allocations:
            rows.append([p.pod, p.node, None, None, None, None, None, None, None])
        d = p.to_dict()["devices"]
        for a, dev in zip(p.allocations, d):
            layout = dev["geometry"]
            if dev["placement"] is not None:
                layout = f"start {dev['placement']['start']} size {dev['placement']['size']}"
            rows.append([p.pod, p.node, f"{a.gpu_index} {a.gpu_id}", a.mode, a.profile, layout, a.slot,
                         a.memory_mib, a.cores])
    if rows:
        out += _table(["POD", "NODE", "GPU", "MODE", "PROFILE", "GEOMETRY/PLACEMENT", "SLOT", "MEM(MiB)", "CORES"],
                      rows)
    pending = [p for p in result.pods if not p.scheduled]
    if pending:
        out += ["", "Unschedulable:"]
        out += [f"  {p.pod}: {p.reason}" for p in pending]
    if result.final_gpus:
        out += ["", "GPU layouts the plan would create:" if result.version.legacy else
                "GPUs after the plan (MIG reservations as profile@start):"]
        for g in result.final_gpus:
            head = f"  {g['node']} GPU {g['gpu_index']} ({g['gpu_uuid']}, {g['mode']})"
            if g["mode"] != "mig":
                out.append(f"{head}: {g['used']} task(s), {g['memory_used_mib']}/{g['memory_total_mib']} MiB, "
                           f"{g['cores_used']}% cores")
            elif result.version.legacy:
                in_use = [str(i["slot"]) for i in g["instances"] if i["in_use"]]
                out.append(f"{head}: {g['geometry'] or 'no geometry (raw GPU)'}"
                           + (f" (slots in use: {', '.join(in_use)})" if in_use else ""))
            else:
                inst = ", ".join(f"{i['profile']}@{i['start']}" for i in g["instances"])
                out.append(f"{head}: {inst}")
    if problems:
        out += ["", "Where the node would fail:"] + [f"  {p}" for p in problems]
    if explain:
        for p in result.pods:
            out += ["", f"{p.pod}:" + (f" tie between {', '.join(p.tie)} (HAMi picks at random; first by name here)"
                                       if p.tie else "")]
            for v in p.verdicts:
                verdict = f"ok, score {v.score}" if v.ok else ", ".join(v.reasons)
                if v.detail:
                    verdict += f" ({v.detail})"
                out.append(f"  node {v.node}: {verdict}")
                for g in v.gpus:
                    out.append(f"    GPU {g['gpu_index']} {g['gpu_uuid']} [{g['container']}]: score {g['score']}, "
                               f"{g['verdict']}")
    out += ["", f"{len(result.pods)} pod(s): {result.scheduled} scheduled, "
                f"{len(result.pods) - result.scheduled} unschedulable ({result.version_note})"]
    sys.stdout.write("\n".join(out).lstrip("\n") + "\n")
