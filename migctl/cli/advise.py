"""``migctl advise``: propose a device-config (``config``) or a few pod moves (``defrag``), proven by simulation.

The edge: read the workload, the cluster (snapshot or live, read-only) and the device-config, call
:func:`migctl.advise.config_search.advise_config` or :func:`migctl.advise.defrag.plan_defrag`, print.
Nothing in the cluster is changed: a defrag plan is printed, never carried out. Only typer and the
standard library are imported at module level.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from migctl.cli.main import app
from migctl.cli.output import OutputFormat, OutputOption, emit, progress, warn
from migctl.errors import InputError, UnreachableError

advise_app = typer.Typer(
    help="Propose a device-config and MIG split, or a few pod moves, proven by simulation.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(advise_app, name="advise")


class VersionChoice(str, Enum):
    auto = "auto"
    v2_9 = "2.9"
    v2_10 = "2.10"


class Policy(str, Enum):
    binpack = "binpack"
    spread = "spread"


class GpuPolicy(str, Enum):
    binpack = "binpack"
    spread = "spread"
    topology_aware = "topology-aware"
    mutex = "mutex"


class OnFail(str, Enum):
    queue = "queue"
    drop = "drop"


class Emit(str, Enum):
    report = "report"
    kubectl = "kubectl"


def _note(message: str) -> None:
    from rich.markup import escape

    warn(escape(message))


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


def _documents(text: str, name: str) -> list[Any]:
    """Every YAML document with its first line (``Document``); InputError names file and line."""
    import yaml

    from migctl.simulate.workloads import Document

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    docs = []
    try:
        while loader.check_node():
            node = loader.get_node()
            line = node.start_mark.line + 1 if node is not None else 1
            docs.append(Document(loader.construct_document(node) if node is not None else None, name, line))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        raise InputError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    finally:
        loader.dispose()
    return docs


def _objects(docs: list[Any]) -> list[tuple[dict[str, Any], str]]:
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

    for d in docs:
        walk(d.obj, d.where)
    return out


def _load_config(source: Path | str, name: str, version: str) -> tuple[Any, Any]:
    """(DeviceConfig, parsed document) through validate's loader; InputError when unusable."""
    from migctl.config.load import load_device_config

    loaded = load_device_config(source, name=name, hami_version=version)  # type: ignore[arg-type]
    if loaded.unreadable or loaded.config is None:
        detail = "; ".join(f"{d.code}: {d.message}" for d in loaded.errors) or "no device-config found"
        raise InputError(f"{name}: no usable device-config ({detail})",
                         hint="give a device-config.yaml, or a ConfigMap with the key device-config.yaml")
    document = None
    for found in loaded.configs:
        if found.kind == "device-config":
            document = found.document
            break
    return loaded.config, document if isinstance(document, dict) else None


# ------------------------------------------------------------------ advise config


def _read_trace(path: Path) -> Any:
    from migctl.replay.openb import looks_like_openb, parse_pod_list
    from migctl.replay.podyaml import trace_from_documents

    text = _read_text(path, "workload")
    if looks_like_openb(text):
        return parse_pod_list(text, str(path))
    return trace_from_documents(_documents(text, str(path)), str(path))


@advise_app.command("config")
def config_command(
    workload: Annotated[Path, typer.Option("--workload", metavar="W", help=(
        "The workload to design for: an openb pod list CSV or Pod YAML (migctl.io/arrival, migctl.io/duration)."))],
    nodes_file: Annotated[Path | None, typer.Option("--nodes", metavar="NODE_LIST.csv", help=(
        "openb node list; its GPUs are mapped to --gpu-model."))] = None,
    cluster_file: Annotated[Path | None, typer.Option("--cluster", metavar="FILE", help=(
        "Cluster snapshot whose nodes are used (running pods are ignored)."))] = None,
    config_file: Annotated[Path | None, typer.Option("--config", metavar="FILE", help=(
        "The current device-config. Default: the snapshot's ConfigMap, else HAMi's built-in defaults."))] = None,
    gpu_model: Annotated[str, typer.Option("--gpu-model", metavar="KEY", help=(
        "Catalogue model for the node list's GPUs (migctl hardware list)."))] = "a100-40gb",
    mig_nodes: Annotated[str, typer.Option("--mig-nodes", metavar="N|P%|NAMES", help=(
        "The current MIG node share (node list only)."))] = "50%",
    splits: Annotated[str, typer.Option("--splits", metavar="P%,...", help=(
        "MIG node shares the search may advise ('' to keep the current split)."))] = ",".join(
        ("0%", "25%", "50%", "75%", "100%")),
    hami_version: Annotated[VersionChoice, typer.Option("--hami-version", help=(
        "2.9: advise knownMigGeometries and the split; 2.10: node/GPU policies and the split."))]
    = VersionChoice.v2_9,
    node_policy: Annotated[Policy, typer.Option("--node-policy", help="The current node policy.")] = Policy.binpack,
    gpu_policy: Annotated[GpuPolicy, typer.Option("--gpu-policy", help="The current GPU policy.")] = GpuPolicy.spread,
    on_fail: Annotated[OnFail, typer.Option("--on-fail", help="Replay: a pod that does not fit waits or is dropped.")]
    = OnFail.queue,
    scale_arrivals: Annotated[float, typer.Option("--scale-arrivals", metavar="K", min=0.0, help=(
        "Replay: divide the gaps between arrivals by K."))] = 1.0,
    budget: Annotated[float, typer.Option("--budget", min=0.0, metavar="SECONDS", help=(
        "Stop the search after this long with the best so far (the two full replays come after)."))] = 60.0,
    jobs: Annotated[int, typer.Option("--jobs", min=0, metavar="N", help=(
        "Worker processes scoring candidates (0, the default: the CPU cores)."))] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same candidates, any --jobs.")] = 0,
    tries: Annotated[int | None, typer.Option("--tries", min=0, metavar="N", help=(
        "Stop after N candidates (besides the current design)."))] = None,
    screen: Annotated[int, typer.Option("--screen", min=0, metavar="K", help=(
        "Score candidates on every K-th node and task (0: automatic, 1 for traces under 2,000 tasks, else 8); "
        "the figures reported are full replays."))] = 0,
    explain: Annotated[bool, typer.Option("--explain", help="Say what the search tried and how each scored.")] = False,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Search the device-config (templates, their order, slot sizes) and the MIG/hami-core split that place the
    workload best, scored by replaying it through HAMi; report against the current design. Exit 0."""
    import time

    from migctl.advise.config_search import Problem, advise_config
    from migctl.hardware.catalogue import load_catalogue
    from migctl.replay.cluster import GpuModels, MigNodes, resolve_model
    from migctl.replay.openb import parse_node_list
    from migctl.replay.run import ClusterInput, Settings, check_settings

    if (nodes_file is None) == (cluster_file is None):
        raise InputError("give exactly one of --nodes NODE_LIST.csv or --cluster FILE")
    trace = _read_trace(workload)
    if not len(trace):
        raise InputError(f"{workload}: no tasks")
    catalogue = load_catalogue()
    device_config = document = None
    version = hami_version.value if hami_version is not VersionChoice.auto else "2.9"
    cluster = None
    if cluster_file is not None:
        from migctl.cluster.snapshot import load_snapshot

        with progress(f"reading {cluster_file}"):
            cluster = load_snapshot(cluster_file)
        cluster_input = ClusterInput(snapshot=cluster, source=str(cluster_file))
    else:
        nodes = parse_node_list(_read_text(nodes_file, "node list"), str(nodes_file))  # type: ignore[arg-type]
        cluster_input = ClusterInput(nodes=tuple(nodes), source=str(nodes_file))
    if config_file is not None:
        device_config, document = _load_config(config_file, str(config_file), version)
    elif cluster is not None and cluster.device_config_text:
        device_config, document = _load_config(cluster.device_config_text, cluster.device_config_source or "ConfigMap",
                                               version)
    if cluster is not None:
        models = []
        for node in cluster.nodes:
            for d in node.devices:
                match = catalogue.lookup(d.type)
                if match is not None and match.model not in models:
                    models.append(match.model)
    else:
        models = [resolve_model(k, catalogue) for k in GpuModels.parse(gpu_model).keys()]
    if not models:
        raise InputError("no GPU of a catalogue model in the cluster: nothing to advise")
    settings = check_settings(Settings(
        device_config=device_config, config_name=str(config_file or "current"), hami_version=version,
        node_policy=node_policy.value, gpu_policy=gpu_policy.value, gpu_model=gpu_model, mig_nodes=mig_nodes,
        on_fail=on_fail.value, scale_arrivals=scale_arrivals, keep_running=False))
    split_list = [s.strip() for s in splits.split(",") if s.strip()]
    for s in split_list:
        MigNodes.parse(s)
    if cluster is not None:
        split_list = []  # a snapshot's nodes keep their registered modes
    problem = Problem(trace, cluster_input, settings, document, version)
    every = screen or (1 if len(trace) < 2000 else 8)
    names = [n.name for n in cluster_input.nodes]

    def mig_names(share: str) -> list[str]:
        if cluster is not None:
            return sorted({n.name for n in cluster.nodes for d in n.devices if d.mode == "mig"})
        return sorted(MigNodes.parse(share).select(names))

    with progress("searching designs") as bar:
        advice = advise_config(problem, models, seed=seed, jobs=jobs or (os.cpu_count() or 1), budget_s=budget,
                               tries=tries, splits=split_list, screen_every=every, clock=time.monotonic,
                               on_round=bar.advance, mig_node_names=mig_names)
    data = advice.to_dict()
    if not explain:
        data.pop("candidates", None)
    else:
        data["explain"] = advice.search.explain
    if output is OutputFormat.yaml:
        from migctl.cli.output import to_yaml

        sys.stdout.write(to_yaml(advice.document))
        sys.stdout.flush()
        return
    current_doc = None
    if document is not None:
        current_doc = document
    emit(data, output, lambda: _render_config(advice, current_doc, explain, cluster is not None))


def _render_config(advice: Any, current_doc: Any, explain: bool, snapshot: bool) -> None:
    import difflib

    from rich.markup import escape
    from rich.table import Table

    from migctl.advise.config_search import render_yaml
    from migctl.cli.output import stdout_console

    con = stdout_console()
    if explain:
        for line in advice.search.explain:
            con.print(escape(line))
        con.print()
    t = Table(title=f"Replay of the workload: current vs advised ({len(advice.search.tried)} designs tried, "
                    f"stopped: {advice.search.stopped})", title_justify="left")
    for col in ("", "placed", "dropped", "waiting", "wait mean s", "alloc at first failure", "mean alloc"):
        t.add_column(col)
    for name, f in (("current", advice.current), ("advised", advice.advised)):
        aff = "-" if f.alloc_at_first_failure is None else f"{f.alloc_at_first_failure:.3f}"
        t.add_row(name, str(f.placed), str(f.dropped), str(f.waiting), f"{f.wait_mean_s:.1f}", aff,
                  f"{f.mean_alloc_mem:.3f}")
    con.print(t)
    described = advice.design.describe()
    if snapshot:
        described = described.replace(f"mig-nodes={advice.design.mig_nodes}", "MIG nodes as registered")
    con.print(escape(f"advised: {described}"))
    if advice.kept_current:
        con.print("no candidate beats the current design in the full replay: keep the current config "
                  "(the diff below shows the best candidate found, for reference)")
    if advice.diagnostics:
        con.print(f"validate: {len(advice.diagnostics)} finding(s) on the advised config")
    old = render_yaml(current_doc).splitlines() if current_doc is not None else []
    new = render_yaml(advice.document).splitlines()
    diff = list(difflib.unified_diff(old, new, "current device-config", "advised device-config", lineterm=""))
    if diff:
        con.print("device-config diff (-o yaml prints the whole advised config):")
        for line in diff:
            con.print(escape(line))


# ------------------------------------------------------------------ advise defrag


def _snapshot(path: Path) -> tuple[Any, list[tuple[dict[str, Any], str]]]:
    from migctl.cluster.model import Cluster

    text = _read_text(path, "cluster snapshot")
    objects = _objects(_documents(text, str(path)))
    cluster = Cluster.from_objects((o for o, _ in objects), source=f"snapshot {path}")
    if not cluster.nodes:
        raise InputError(f"{path}: no Node objects (kubectl get nodes,pods,pdb -A -o yaml)")
    return cluster, objects


def _live(kubeconfig: str | None, context: str | None) -> tuple[Any, list[tuple[dict[str, Any], str]]]:
    """The live cluster's Nodes, Pods, device ConfigMap and PodDisruptionBudgets (read-only)."""
    try:
        from migctl.cluster.kube import connect, list_objects
        from migctl.cluster.model import Cluster
    except ImportError:
        raise UnreachableError("the live cluster reader is not available in this build",
                               hint="pass a snapshot: --cluster FILE (kubectl get nodes,pods,pdb -A -o yaml)") from None
    session = connect(kubeconfig, context)
    objects = [(o, "live") for o in list_objects(session)]
    for page in session.list_pages("list_pod_disruption_budget_for_all_namespaces", 500, api=session.policy):
        objects += [({**item, "kind": "PodDisruptionBudget"}, "live") for item in page]
    cluster = Cluster.from_objects((o for o, _ in objects), source=f"live cluster, {session.where}")
    return cluster, objects


def _scheduler(cluster: Any, config_file: Path | None, hami_version: VersionChoice,
               node_policy: Policy, gpu_policy: GpuPolicy) -> tuple[Any, Any, str]:
    from migctl.simulate import SimulationOptions
    from migctl.simulate.build import evidence_from_cluster
    from migctl.simulate.scheduler_config import SchedulerConfig, from_device_config
    from migctl.simulate.version import HamiVersion, infer_version

    version_text = "auto" if hami_version is VersionChoice.auto else hami_version.value
    device_config = None
    if config_file is not None:
        device_config, _ = _load_config(config_file, str(config_file), version_text)
    elif getattr(cluster, "device_config_text", None):
        device_config, _ = _load_config(cluster.device_config_text, cluster.device_config_source or "ConfigMap",
                                        version_text)
    config = from_device_config(device_config) if device_config is not None else SchedulerConfig.hami_defaults()
    if hami_version is VersionChoice.auto:
        version, note = infer_version(evidence_from_cluster(cluster, config))
    else:
        version, note = HamiVersion(hami_version.value), f"HAMi {hami_version.value} (--hami-version)"
    options = SimulationOptions(version=version, node_policy=node_policy.value, gpu_policy=gpu_policy.value)
    return config, options, note


@advise_app.command("defrag")
def defrag_command(
    cluster_file: Annotated[Path | None, typer.Option("--cluster", metavar="FILE", help=(
        "Cluster snapshot (kubectl get nodes,pods,pdb -A -o yaml; PodDisruptionBudgets are read from it). "
        "Default: the live cluster, read-only."))] = None,
    pending_file: Annotated[Path | None, typer.Option("--pending", metavar="PODS.yaml", help=(
        "The pods to unblock (Pods or workloads). Default: the cluster's Pending pods that ask for GPUs."))] = None,
    max_moves: Annotated[int, typer.Option("--max-moves", min=0, metavar="N", help="At most N pod moves.")] = 5,
    config_file: Annotated[Path | None, typer.Option("--config", metavar="FILE", help=(
        "HAMi device-config.yaml. Default: the ConfigMap in the cluster, else HAMi's built-in defaults."))] = None,
    hami_version: Annotated[VersionChoice, typer.Option("--hami-version", help="HAMi generation (auto: inferred).")]
    = VersionChoice.auto,
    node_policy: Annotated[Policy, typer.Option("--node-policy", help="Scheduler default node policy.")]
    = Policy.binpack,
    gpu_policy: Annotated[GpuPolicy, typer.Option("--gpu-policy", help="Scheduler default GPU policy.")]
    = GpuPolicy.spread,
    budget: Annotated[float, typer.Option("--budget", min=0.0, metavar="SECONDS", help=(
        "Stop searching after this long with the best plan so far."))] = 60.0,
    emit_as: Annotated[Emit, typer.Option("--emit", help=(
        "report: the plan and its proof; kubectl: only the commands that carry it out."))] = Emit.report,
    explain: Annotated[bool, typer.Option("--explain", help="Say what the search tried, step by step.")] = False,
    kubeconfig: Annotated[str | None, typer.Option("--kubeconfig", help="Kubeconfig for the live cluster.")] = None,
    context: Annotated[str | None, typer.Option("--context", help="Kubeconfig context for the live cluster.")] = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """At most N pod moves (delete a controller-owned pod, HAMi places it again elsewhere) that make the most
    pending GPU pods schedulable, re-simulated step by step as proof. Nothing is changed; exit 0."""
    import time

    from migctl.advise.defrag import DisruptionBudget, RunningPod, plan_defrag
    from migctl.hardware.catalogue import load_catalogue
    from migctl.simulate.workloads import WorkloadError, pods_from_documents

    if cluster_file is not None:
        with progress(f"reading {cluster_file}"):
            cluster, objects = _snapshot(cluster_file)
    else:
        with progress("reading the cluster"):
            cluster, objects = _live(kubeconfig, context)
    running, budgets = [], []
    for obj, where in objects:
        try:
            if obj.get("kind") == "Pod":
                running.append(RunningPod.from_object(obj, source=where))
            elif obj.get("kind") == "PodDisruptionBudget":
                budgets.append(DisruptionBudget.from_object(obj))
        except ValueError as exc:
            raise InputError(f"{where}: {exc}") from None
    pending = None
    if pending_file is not None:
        try:
            pending = pods_from_documents(_documents(_read_text(pending_file, "pod file"), str(pending_file)))
        except WorkloadError as exc:
            raise InputError(str(exc)) from None
        if not pending:
            raise InputError(f"{pending_file}: no pods")
    config, options, note = _scheduler(cluster, config_file, hami_version, node_policy, gpu_policy)
    _note(note)
    notes: list[str] = []
    with progress("searching moves"):
        plan = plan_defrag(cluster, config, options, running=running, budgets=budgets, pending=pending,
                           max_moves=max_moves, catalogue=load_catalogue(), clock=time.monotonic,
                           deadline=time.monotonic() + budget, notes=notes)
    if emit_as is Emit.kubectl:
        for line in plan.kubectl():
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        return
    data = plan.to_dict() | {"hami_version": options.version.value}
    if explain:
        data["explain"] = plan.explain
    emit(data, output, lambda: _render_defrag(plan, explain))


def _render_defrag(plan: Any, explain: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    from migctl.cli.output import stdout_console

    con = stdout_console()
    if explain:
        for line in plan.explain:
            con.print(escape(line))
        con.print()
    if plan.moves:
        t = Table(title=f"Plan: {len(plan.moves)} move(s), in this order", title_justify="left")
        for col in ("#", "pod", "from", "to node", "to GPU / slot"):
            t.add_column(col)
        for i, m in enumerate(plan.moves, 1):
            t.add_row(str(i), escape(m.pod), escape(m.from_node), escape(m.to.node or "-"),
                      escape(", ".join(m.to.gpus) + (f" {','.join(m.to.slots)}" if m.to.slots else "")))
        con.print(t)
    else:
        con.print(f"No move helps ({plan.stopped}).")
    t = Table(title="Pending pods: before -> after (the plan re-simulated step by step)", title_justify="left")
    for col in ("pod", "before", "after"):
        t.add_column(col)
    for p in plan.pending:
        t.add_row(escape(p.pod), escape(p.before.text()), escape(p.after.text()))
    con.print(t)
    con.print(f"pending: {plan.pending_before} -> {plan.pending_after} of {len(plan.pending)};  "
              f"fragmentation (FGD, pending shapes): {plan.fgd_before:.3f} -> {plan.fgd_after:.3f};  "
              f"candidates tried: {plan.tried} ({plan.stopped})")
    if plan.blocked:
        con.print(f"blocked ({len(plan.blocked)}), never moved:")
        for b in plan.blocked:
            con.print(f"  {escape(b.pod)} on {escape(b.node)}: {escape(b.reason)}")
    if plan.moves:
        con.print("to carry it out (--emit kubectl prints only these):")
        for line in plan.kubectl():
            con.print(f"  {line}")
