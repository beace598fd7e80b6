"""``migctl capacity``: how many more pods of each shape HAMi would place, and how much GPU is stranded.

The edge: parse the options, read the cluster (snapshot or live, read-only, the loader ``status`` and
``simulate`` use), call :func:`migctl.api.capacity_report`, render.
Only typer and the standard library are imported at module level.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from migctl.cli.choices import (
    ConfigMapOption, ContextOption, DEFAULT_MAX_PODS, GpuPolicy, GpuPolicyOption, HamiVersionChoice,
    KubeconfigOption, NamespaceOption, NodePolicyOption, NodeScore, NodeScoreOption, Policy, SelectorOption,
)
from migctl.cli.main import app
from migctl.cli.output import NoHeadersOption, OutputFormat, OutputOption, emit, leave_to_process_end, progress, warn

if TYPE_CHECKING:
    from migctl.capacity.report import CapacityReport


@app.command("capacity")
def capacity_command(
    cluster_file: Annotated[Path | None, typer.Option("--cluster", metavar="FILE", dir_okay=False, help=(
        "Cluster snapshot (kubectl get nodes,pods -A -o yaml). Default: the live cluster, read-only."))] = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    config_file: Annotated[Path | None, typer.Option("--config", metavar="FILE", dir_okay=False, help=(
        "HAMi device-config.yaml (raw or the ConfigMap). Default: the cluster's ConfigMap, else HAMi's defaults."))] = None,
    namespace: NamespaceOption = None,
    config_map: ConfigMapOption = None,
    selector: SelectorOption = None,
    hami_version: Annotated[HamiVersionChoice, typer.Option("--hami-version", help=(
        "HAMi generation: 2.9 (knownMigGeometries) or 2.10 (migProfiles); auto infers it as simulate does."))]
    = HamiVersionChoice.auto,
    shape: Annotated[list[str] | None, typer.Option("--shape", metavar="SPEC", help=(
        "A pod's GPU request, e.g. gpu=1,gpumem=10000,mode=mig (keys gpu, gpumem MiB or N%, cores, "
        "mode mig|hami-core|either); repeat for several. Default: the MIG slot sizes and hami-core 1/4, 1/2, 1."))] = None,
    workload: Annotated[Path | None, typer.Option("--workload", metavar="PODS.yaml", dir_okay=False, help=(
        "Use the distinct GPU requests of these pods (Pods, Deployments, ...; - for stdin) as shapes, "
        "weighted by their share."))] = None,
    node: Annotated[str | None, typer.Option("--node", metavar="NAME", help=(
        "Drill into one node: its GPUs, slot grids and stranded units."))] = None,
    node_policy: NodePolicyOption = Policy.binpack,
    gpu_policy: GpuPolicyOption = GpuPolicy.spread,
    node_score: NodeScoreOption = NodeScore.hami,
    max_pods: Annotated[int, typer.Option("--max-pods", min=1, metavar="N", help=(
        "The most pods --workload expands (replicas included); more is refused (exit 2)."))] = DEFAULT_MAX_PODS,
    output: OutputOption = OutputFormat.text,
    no_headers: NoHeadersOption = False,
) -> None:
    """How many more pods of each shape HAMi would place, and how much GPU sits free but unusable.

    Per shape: the pods HAMi would still place one after another (exactly what simulate --repeat places),
    where, why the next one stays Pending, and the same on an empty cluster; then the GPU memory
    stranded by fragmentation (FGD). Read-only. Exit 0 shown, 2 bad input, 3 cluster unreachable.
    """
    from migctl.api import capacity_report
    from migctl.cli.status import load_cluster
    from migctl.errors import InputError

    if shape and workload is not None:
        raise InputError("--shape and --workload: give one or the other")
    cluster = load_cluster(cluster_file, kubeconfig=kubeconfig, context=context, config=config_file,
                           namespace=namespace, config_map=config_map, selector=selector)
    with progress("counting headroom", total=max(1, len(shape or ())) + 1) as bar:
        report = capacity_report(cluster, shapes=shape or (), workload=workload, hami_version=hami_version.value,
                                 node_policy=node_policy.value, gpu_policy=gpu_policy.value,
                                 node_score=node_score.value, node=node, max_pods=max_pods,
                                 on_step=lambda what: (bar.update(f"counting {what}"), bar.advance()))
    warn(report.version_note)
    for note in report.notes[:20]:
        warn(note)
    emit(report.to_dict(), output, lambda: render_text(report, no_headers=no_headers))
    leave_to_process_end(cluster, report)


# --- text output ------------------------------------------------------------------------------------


def _mib(v: float) -> str:
    return f"{round(v):,}"


def _causes(causes: dict[str, int]) -> str:
    items = sorted(((k, v) for k, v in causes.items() if v), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {_mib(v)}" for k, v in items) or "-"


def _where(by_node: dict[str, int], limit: int = 3) -> str:
    items = sorted(by_node.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{n} {c}" for n, c in items[:limit])
    if len(items) > limit:
        text += f", +{len(items) - limit} nodes"
    return text or "-"


def render_text(report: CapacityReport, *, no_headers: bool = False) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from rich.console import Console

    from migctl.cli.output import stdout_console

    # a pipe or a file gets lines as wide as they need (no wrapping at 80 columns)
    console = stdout_console() if sys.stdout.isatty() else Console(width=240, highlight=False, emoji=False,
                                                                     soft_wrap=True, no_color=True)
    data = report.to_dict()
    table = Table(title="Headroom: pods of each shape HAMi would still place, one after another",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_header=not no_headers)
    table.add_column("SHAPE", no_wrap=True)
    for header in ("WEIGHT", "FITS NOW", "FITS EMPTY"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("WHERE (NOW)", overflow="fold")
    for s in data["shapes"]:
        table.add_row(s["shape"], f"{s['weight']:.2f}", str(s["fits_now"]), str(s["fits_empty"]), _where(s["by_node"]))
    if not data["shapes"]:
        console.print(Text("No shapes to count: the cluster has no GPUs HAMi registered (give --shape)."))
        console.print(Text(report.version_note, style="dim"))
        return
    console.print(table)
    console.print(Text("Why the next one stays Pending:"))
    for s in data["shapes"]:
        console.print(Text(f"  {s['shape']}: {s['next_failure'] or '-'}"))
    console.print()
    cl = data["fragmentation"]["cluster"]
    pct = f"{100 * cl['fgd']:.0f}%"
    console.print(Text(f"Fragmentation (FGD, weighted by shape): {_mib(cl['stranded_mib'])} of {_mib(cl['free_mib'])} "
                       f"MiB free GPU memory is stranded ({pct}); causes: {_causes(cl['causes'])}"))
    nodes = [n for n in data["fragmentation"]["nodes"] if n["stranded_mib"] > 0]
    nodes.sort(key=lambda n: (-n["stranded_mib"], n["name"]))
    if nodes:
        worst = Table(title="Worst nodes", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                      show_header=not no_headers)
        for header in ("NODE", "FREE MiB", "STRANDED MiB", "FGD", "CAUSES"):
            worst.add_column(header, justify="left" if header in ("NODE", "CAUSES") else "right", overflow="fold")
        for n in nodes[:10]:
            worst.add_row(n["name"], _mib(n["free_mib"]), _mib(n["stranded_mib"]), f"{100 * n['fgd']:.0f}%",
                          _causes(n["causes"]))
        console.print(worst)
        if len(nodes) > 10:
            console.print(Text(f"... and {len(nodes) - 10} more nodes with stranded memory (-o json lists all)"))
    if "node" in data:
        _render_node(console, data["node"], [s["shape"] for s in data["shapes"]])
    console.print(Text(report.version_note, style="dim"))


def _render_node(console: Any, node: dict[str, Any], shapes: list[str]) -> None:
    from rich.text import Text

    console.print(Text(f"Node {node['name']}: {_mib(node['stranded_mib'])} of {_mib(node['free_mib'])} MiB free "
                       f"is stranded ({100 * node['fgd']:.0f}%); causes: {_causes(node['causes'])}", style="bold"))
    for g in node["gpus"]:
        console.print(Text(f"  GPU {g['index']}  {g['uuid']}  {g['mode']}  free {_mib(g['free_mib'])} MiB, "
                           f"stranded {_mib(g['stranded_mib'])} MiB" + ("" if g["in_scope"] else "  (no shape uses it)")))
        if g.get("free_slots") is not None and "uncarved_mib" in g:
            console.print(Text(f"    free slots: {', '.join(g['free_slots']) or 'none'}; "
                               f"not carved by the locked geometry: {_mib(g['uncarved_mib'] or 0)} MiB"))
        if g.get("layout"):
            _render_grid(console, g["layout"])
        fits = [s for s, ok in zip(shapes, g["fits"]) if ok]
        fails = [f"{s} ({r})" if r else s for s, ok, r in zip(shapes, g["fits"], g["reasons"]) if ok is False]
        console.print(Text(f"    fits: {', '.join(fits) or 'none'}"))
        if fails:
            console.print(Text(f"    cannot run: {', '.join(fails)}"))
        if g["causes"]:
            console.print(Text(f"    stranded by: {_causes(g['causes'])}"))


def _render_grid(console: Any, layout: dict[str, Any]) -> None:
    """The slot bar ``migctl status --node`` draws (● in use, ○ free, · not carved), stranded units ×."""
    from rich.text import Text

    units = layout["units"]
    stranded = set(layout["stranded_units"])
    placed = layout["instances"]
    if not units:
        return
    labels = {i["start"]: f"{i['profile']} {'●' if i['in_use'] else '○'}" for i in placed}
    width = max([3] + [-(-(len(labels[i["start"]]) + 2) // i["size"]) for i in placed])
    by_start = {i["start"]: i for i in placed}
    bar = Text("    ")
    ruler = "    "
    pos = 0
    while pos < units:
        inst = by_start.get(pos)
        if inst is None:
            bar.append(("×" if pos in stranded else "·") * width, style="red" if pos in stranded else "dim")
            ruler += str(pos).ljust(width)
            pos += 1
            continue
        span = width * inst["size"]
        mark = any(u in stranded for u in range(inst["start"], inst["start"] + inst["size"]))
        label = labels[pos] + (" ×" if mark else "")
        bar.append("[" + label.center(span - 2) + "]", style="bold cyan" if inst["in_use"] else ("red" if mark else None))
        ruler += str(pos).ljust(span)
        pos += inst["size"]
    console.print(bar, crop=False, soft_wrap=True)
    console.print(Text(ruler.rstrip() + "  (placement units; ● in use, ○ free, · not carved, × stranded)", style="dim"),
                  crop=False, soft_wrap=True)
    for u in layout.get("unplaced") or ():
        console.print(Text(f"    not on the grid: {u['profile']} {'●' if u['in_use'] else '○'}"))
