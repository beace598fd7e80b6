"""``migctl replay``: run a workload trace through HAMi's scheduler over time; compare designs.

The edge: read the trace, the node list or snapshot and the device-configs, call
:func:`migctl.api.replay_trace`, print (and ``--plot``). Only typer and the standard library are
imported at module level.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from migctl.cli.choices import (
    GpuModelOption,
    GpuPolicy,
    GpuPolicyOption,
    MigNodesOption,
    NodePolicyOption,
    OnFail,
    OnFailOption,
    Policy,
)
from migctl.cli.choices import HamiVersionChoice as VersionChoice
from migctl.cli.main import app
from migctl.cli.output import OutputFormat, OutputOption, emit, progress, warn

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
    gpu_model: GpuModelOption = "a100-40gb",
    mig_nodes: MigNodesOption = "50%",
    hami_version: Annotated[VersionChoice, typer.Option("--hami-version", help=(
        "HAMi generation; auto infers it from the config (knownMigGeometries: 2.9)."))] = VersionChoice.auto,
    node_policy: NodePolicyOption = Policy.binpack,
    gpu_policy: GpuPolicyOption = GpuPolicy.spread,
    on_fail: OnFailOption = OnFail.queue,
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
    from migctl.api import replay_trace

    if plot is not None:
        from migctl.replay.plot import require_matplotlib

        require_matplotlib(plot)
    with contextlib.ExitStack() as stack:
        bars: list[Any] = []  # the bar opens once replay knows the number of steps

        def start(total: int) -> None:
            bars.append(stack.enter_context(progress("replaying", total=total)))

        report = replay_trace(
            trace_file, nodes=nodes, cluster=cluster_file, config=config_file, variants=variants or (),
            compare=compare, keep_running=keep_running, hami_version=hami_version.value,
            node_policy=node_policy.value, gpu_policy=gpu_policy.value, gpu_model=gpu_model, mig_nodes=mig_nodes,
            on_fail=on_fail.value, scale_arrivals=scale_arrivals, samples=samples, jobs=jobs, fgd=fgd,
            on_start=start, on_progress=lambda n=1: bars[-1].advance(n))
    for message in report.warnings:
        warn(message)
    if plot is not None:
        from migctl.replay.plot import render

        render(report.figures, plot, title=f"migctl replay {Path(report.trace.source).name}")
    emit(report.to_dict(), output, lambda: _render_text(report.figures, report.trace))


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

