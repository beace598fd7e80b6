"""``migctl replay``: run a workload trace through HAMi's scheduler over time; compare designs.

The edge: read the trace, the node list or snapshot and the device-configs, call
:func:`migctl.replay.run.compare`, print (and ``--plot``). Only typer and the standard library are
imported at module level.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from migctl.cli.main import app
from migctl.cli.output import OutputFormat, OutputOption, emit, progress, warn
from migctl.errors import InputError

OPENB_NODE_LIST = "openb_node_list_gpu_node.csv"


class OnFail(str, Enum):
    queue = "queue"
    drop = "drop"


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


def _read_text(path: Path, what: str) -> str:
    from migctl.cli.simulate import _read_text as read

    return read(path, what)


def _load_config(path: str) -> tuple[Any, str]:
    from migctl.cli.simulate import _load_config as load

    config, _findings, _diagnostics = load(Path(path), path, "auto")
    return config, path


def _read_trace(path: Path) -> Any:
    from migctl.replay.openb import looks_like_openb, parse_pod_list

    text = _read_text(path, "trace")
    if looks_like_openb(text):
        return parse_pod_list(text, str(path))
    from migctl.cli.simulate import _yaml_documents
    from migctl.replay.podyaml import trace_from_documents

    return trace_from_documents(_yaml_documents(text, str(path)), str(path))


def _cluster_input(trace: Any, trace_path: Path, nodes: Path | None, cluster_file: Path | None) -> Any:
    from migctl.replay.openb import parse_node_list
    from migctl.replay.run import ClusterInput

    if nodes is not None and cluster_file is not None:
        raise InputError("give --nodes or --cluster, not both")
    if cluster_file is not None:
        from migctl.cli.simulate import _read_cluster

        return ClusterInput(snapshot=_read_cluster(cluster_file), source=str(cluster_file))
    if nodes is None:
        sibling = trace_path.with_name(OPENB_NODE_LIST)
        if trace.kind == "openb" and sibling.is_file():
            nodes = sibling
        else:
            raise InputError("no nodes to replay on", hint="give --nodes NODE_LIST.csv (openb node list) or "
                                                           "--cluster FILE (a kubectl snapshot)")
    return ClusterInput(nodes=tuple(parse_node_list(_read_text(nodes, "node list"), str(nodes))), source=str(nodes))


@app.command("replay")
def replay_command(
    trace_file: Annotated[Path, typer.Argument(metavar="TRACE", show_default=False, help=(
        "The workload: an openb pod list CSV, or Pod YAML with migctl.io/arrival and migctl.io/duration "
        "annotations (seconds)."))],
    nodes: Annotated[Path | None, typer.Option("--nodes", metavar="NODE_LIST.csv", help=(
        "openb node list (default for an openb trace: openb_node_list_gpu_node.csv beside it)."))] = None,
    cluster_file: Annotated[Path | None, typer.Option("--cluster", metavar="FILE", help=(
        "Replay on a snapshot's nodes as they are (kubectl get nodes,pods -A -o yaml) instead of a node list."))] = None,
    keep_running: Annotated[bool, typer.Option("--keep-running", help=(
        "With --cluster: keep the snapshot's running pods (they never leave). Default: ignore them."))] = False,
    config_file: Annotated[Path | None, typer.Option("--config", metavar="FILE", help=(
        "HAMi device-config.yaml (raw or the ConfigMap). Default: HAMi's built-in defaults."))] = None,
    gpu_model: Annotated[str, typer.Option("--gpu-model", metavar="KEY", help=(
        "Catalogue model for every trace GPU, or TRACE_MODEL=KEY,... ('migctl hardware list')."))] = "a100-40gb",
    mig_nodes: Annotated[str, typer.Option("--mig-nodes", metavar="N|P%|NAME,...", help=(
        "Nodes of the node list in MIG mode (the others hami-core); a count or share is spread evenly."))] = "50%",
    hami_version: Annotated[VersionChoice, typer.Option("--hami-version", help=(
        "HAMi generation; auto infers it from the config (knownMigGeometries: 2.9)."))] = VersionChoice.auto,
    node_policy: Annotated[Policy, typer.Option("--node-policy", help="Scheduler node policy.")] = Policy.binpack,
    gpu_policy: Annotated[GpuPolicy, typer.Option("--gpu-policy", help="Scheduler GPU policy.")] = GpuPolicy.spread,
    on_fail: Annotated[OnFail, typer.Option("--on-fail", help=(
        "queue: a pod that does not fit waits and is retried after each departure; drop: it is counted "
        "and dropped."))] = OnFail.queue,
    scale_arrivals: Annotated[float, typer.Option("--scale-arrivals", metavar="K", min=1e-9, help=(
        "Divide the gaps between arrivals by K (durations stay) to stress the cluster."))] = 1.0,
    variants: Annotated[list[str] | None, typer.Option("--variant", metavar="KEY=VALUE[,KEY=VALUE]", help=(
        "A variant to run (repeatable): config=FILE, hami-version=, node-policy=, gpu-policy=, node-score=, "
        "gpu-model=, mig-nodes=, on-fail=, scale-arrivals=."))] = None,
    compare: Annotated[bool, typer.Option("--compare", help=(
        "Also run the options as given (the base) first, beside the --variant runs."))] = False,
    samples: Annotated[int, typer.Option("--samples", min=2, max=100000, help=(
        "Points of the time series."))] = 200,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, max=256, help=(
        "Run the variants in this many processes (same figures)."))] = 1,
    fgd: Annotated[bool, typer.Option("--fgd/--no-fgd", help=(
        "Measure fragmentation (FGD, as 'migctl capacity') at each sample."))] = True,
    plot: Annotated[Path | None, typer.Option("--plot", metavar="FILE.png|svg", help=(
        "Draw allocation, fragmentation and waiting pods over time (needs 'migctl[plot]')."))] = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Replay a workload trace through HAMi's scheduler over time and compare designs side by side.

    Pods arrive and leave as in the trace; every placement is the simulator's ('migctl simulate').
    Reports per variant: pods placed, dropped and still waiting, wait times, GPU allocation and
    fragmentation over time, and the allocation at the first failed arrival.
    """
    import dataclasses

    from migctl.replay.run import Settings, apply_variant, check_settings, compare as run_compare

    if plot is not None:
        from migctl.replay.plot import require_matplotlib

        require_matplotlib(plot)
    trace = _read_trace(trace_file)
    cluster_input = _cluster_input(trace, trace_file, nodes, cluster_file)
    if cluster_input.snapshot is None and keep_running:
        raise InputError("--keep-running needs --cluster (a node list has no running pods)")
    base = Settings(hami_version=hami_version.value, node_policy=node_policy.value, gpu_policy=gpu_policy.value,
                    gpu_model=gpu_model, mig_nodes=mig_nodes, on_fail=on_fail.value, scale_arrivals=scale_arrivals,
                    samples=samples, keep_running=keep_running, fgd=fgd)
    if config_file is not None:
        config, name = _load_config(str(config_file))
        base = dataclasses.replace(base, device_config=config, config_name=name)
    elif cluster_input.snapshot is not None and getattr(cluster_input.snapshot, "device_config_text", None):
        from migctl.cli.simulate import _load_config as load

        config, _f, _d = load(cluster_input.snapshot.device_config_text, cluster_input.snapshot.device_config_source
                              or "the snapshot's ConfigMap", "auto")
        base = dataclasses.replace(base, device_config=config,
                                   config_name=cluster_input.snapshot.device_config_source or "snapshot")
    check_settings(base)
    runs: list[tuple[str, Settings]] = []
    if compare or not variants:
        runs.append(("base", base))
    for text in variants or ():
        runs.append((text, apply_variant(base, text, _load_config)))
    if cluster_input.snapshot is not None and any(s.mig_nodes != "50%" for _, s in runs):
        warn("--mig-nodes applies to a node list; a snapshot's nodes keep their registered modes")
    with progress("replaying", total=len(trace) * len(runs)) as bar:
        figures = run_compare(trace, cluster_input, runs, jobs=jobs, on_progress=bar.advance)
    data = {
        "trace": {"source": trace.source, "kind": trace.kind, "pods": len(trace)},
        "nodes": cluster_input.source,
        "variants": [f.to_dict() for f in figures],
    }
    if plot is not None:
        from migctl.replay.plot import render

        render(figures, plot, title=f"migctl replay {Path(trace.source).name}")
    emit(data, output, lambda: _render_text(figures, trace))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _secs(value: float) -> str:
    if value < 120:
        return f"{value:.0f}s"
    if value < 7200:
        return f"{value / 60:.1f}m"
    return f"{value / 3600:.1f}h"


def _render_text(figures: list[Any], trace: Any) -> None:
    rows: list[tuple[str, list[str]]] = [
        ("HAMi", [f.settings.get("hami_version", "") for f in figures]),
        ("MIG GPUs", [f"{f.settings.get('mig_gpus', 0)}/{f.settings.get('gpus', 0)}" for f in figures]),
        ("pods", [str(f.pods) for f in figures]),
        ("placed", [str(f.placed) for f in figures]),
        ("dropped", [str(f.dropped) for f in figures]),
        ("waiting at end", [str(f.waiting) for f in figures]),
        ("wait mean / p95", [f"{_secs(f.wait_mean_s)} / {_secs(f.wait_p95_s)}" for f in figures]),
        ("alloc at 1st failure", [_pct(f.alloc_at_first_failure) for f in figures]),
        ("peak GPU mem alloc", [_pct(f.peak_alloc_mem) for f in figures]),
        ("peak MIG slices", [_pct(max((s.alloc_slices or 0.0 for s in f.series), default=None)
                                  if any(s.alloc_slices is not None for s in f.series) else None)
                             for f in figures]),
        ("peak pods waiting", [str(max((s.pending for s in f.series), default=0)) for f in figures]),
        ("FGD at 1st failure", [_pct(f.fgd_at_first_failure) for f in figures]),
        ("FGD at last arrival", [_pct(f.series[-1].fgd if f.series else None) for f in figures]),
    ]
    headers = ["", *[f.name for f in figures]]
    widths = [max(len(headers[0]), *(len(r[0]) for r in rows))]
    for i in range(len(figures)):
        widths.append(max(len(headers[i + 1]), *(len(r[1][i]) for r in rows)))
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for label, cells in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip([label, *cells], widths)).rstrip())
    lines += ["", f"{len(trace)} task(s) from {trace.source}; {len(figures)} variant(s)"]
    sys.stdout.write("\n".join(lines) + "\n")

