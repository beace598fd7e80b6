"""``migctl capacity``: how many more pods of each shape HAMi would place, and how much GPU is stranded.

The edge: parse the options, read the cluster (snapshot or live, read-only, the loader ``status`` and
``simulate`` use) and the workload file, call :func:`migctl.capacity.report.capacity_report`, render.
Only typer and the standard library are imported at module level.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from migctl.cli.main import app
from migctl.cli.output import OutputFormat, OutputOption, emit, progress, warn

if TYPE_CHECKING:
    from migctl.capacity.report import CapacityReport

MAX_WORKLOAD_BYTES = 50 * 2**20


class Policy(str, Enum):
    binpack = "binpack"
    spread = "spread"


class GpuPolicy(str, Enum):
    binpack = "binpack"
    spread = "spread"
    topology_aware = "topology-aware"
    mutex = "mutex"


class VersionChoice(str, Enum):
    auto = "auto"
    v2_9 = "2.9"
    v2_10 = "2.10"


class NodeScore(str, Enum):
    hami = "hami"
    combined = "combined"


@app.command("capacity")
def capacity_command(
    cluster_file: Annotated[Path | None, typer.Option("--cluster", metavar="FILE", dir_okay=False, help=(
        "Cluster snapshot (kubectl get nodes,pods -A -o yaml). Default: the live cluster, read-only."))] = None,
    kubeconfig: Annotated[str | None, typer.Option("--kubeconfig", metavar="FILE", help="Kubeconfig for the live cluster.")] = None,
    context: Annotated[str | None, typer.Option("--context", metavar="NAME", help="Kubeconfig context.")] = None,
    config_file: Annotated[Path | None, typer.Option("--config", metavar="FILE", dir_okay=False, help=(
        "HAMi device-config.yaml (raw or the ConfigMap). Default: the cluster's ConfigMap, else HAMi's defaults."))] = None,
    hami_version: Annotated[VersionChoice, typer.Option("--hami-version", help=(
        "HAMi generation: 2.9 (knownMigGeometries) or 2.10 (migProfiles); auto infers it as simulate does."))]
    = VersionChoice.auto,
    shape: Annotated[list[str] | None, typer.Option("--shape", metavar="SPEC", help=(
        "A pod's GPU request, e.g. gpu=1,gpumem=10000,mode=mig (keys gpu, gpumem MiB or N%, cores, "
        "mode mig|hami-core|either); repeat for several. Default: the MIG slot sizes and hami-core 1/4, 1/2, 1."))] = None,
    workload: Annotated[Path | None, typer.Option("--workload", metavar="PODS.yaml", dir_okay=False, help=(
        "Use the distinct GPU requests of these pods (Pods, Deployments, ...; - for stdin) as shapes, "
        "weighted by their share."))] = None,
    node: Annotated[str | None, typer.Option("--node", metavar="NAME", help=(
        "Drill into one node: its GPUs, slot grids and stranded units."))] = None,
    node_policy: Annotated[Policy, typer.Option("--node-policy", help="Scheduler default node policy.")] = Policy.binpack,
    gpu_policy: Annotated[GpuPolicy, typer.Option("--gpu-policy", help="Scheduler default GPU policy.")] = GpuPolicy.spread,
    node_score: Annotated[NodeScore, typer.Option("--node-score", help=(
        "hami: what HAMi does; combined: GPU memory + CPU + memory (as simulate)."))] = NodeScore.hami,
    output: OutputOption = OutputFormat.text,
) -> None:
    """How many more pods of each shape HAMi would place, and how much GPU sits free but unusable.

    Per shape: the pods HAMi would still place one after another (exactly what simulate --repeat places),
    where, why the next one stays Pending, and the same on an empty cluster; then the GPU memory
    stranded by fragmentation (FGD). Read-only. Exit 0 shown, 2 bad input, 3 cluster unreachable.
    """
    from migctl.capacity.report import capacity_report
    from migctl.capacity.shapes import Shape, ShapeError
    from migctl.cli.status import _catalogue, load_cluster
    from migctl.errors import InputError

    if shape and workload is not None:
        raise InputError("--shape and --workload: give one or the other")
    shapes = []
    from migctl.yamlio.numbers import shorten

    for text in shape or ():
        try:
            shapes.append((Shape.parse(text), 1.0))
        except ShapeError as exc:
            raise InputError(f"--shape {shorten(text, 80)}: {exc}", hint="e.g. --shape gpu=1,gpumem=10000,mode=mig") from None
    pods = _read_workload(workload) if workload is not None else None
    cluster = load_cluster(cluster_file, kubeconfig=kubeconfig, context=context, config=config_file)
    if node is not None and cluster.node(node) is None:
        names = ", ".join(n.name for n in cluster.nodes[:10]) or "none"
        more = f" and {len(cluster.nodes) - 10} more" if len(cluster.nodes) > 10 else ""
        raise InputError(f"--node: no node {node!r} in {cluster.source or 'the cluster'} (nodes: {names}{more})")
    total = max(1, len(shapes)) + 1
    try:
        with progress("counting headroom", total=total) as bar:
            report = capacity_report(
                cluster, hami_version=hami_version.value, node_policy=node_policy.value, gpu_policy=gpu_policy.value,
                node_score=node_score.value, shapes=shapes or None, workload=pods, node=node, catalogue=_catalogue(),
                on_step=lambda what: (bar.update(f"counting {what}"), bar.advance()))
    except ShapeError as exc:
        where = f"--workload {workload}: " if workload is not None else "--shape: "
        raise InputError(f"{where}{exc}") from None
    _warn(report.version_note)
    for note in report.notes[:20]:
        _warn(note)
    emit(report.to_dict(), output, lambda: render_text(report))


def _warn(message: str) -> None:
    from rich.markup import escape

    warn(escape(message))


def _read_workload(path: Path) -> list[Any]:
    """Pods from a YAML file (``-``: stdin); InputError names the file and line."""
    import yaml

    from migctl.errors import InputError
    from migctl.simulate.workloads import Document, WorkloadError, pods_from_documents

    name = str(path)
    try:
        if name == "-":
            text = sys.stdin.read()
        else:
            if path.is_dir():
                raise InputError(f"--workload {path}: is a directory, not a pod file")
            if path.stat().st_size > MAX_WORKLOAD_BYTES:
                raise InputError(f"--workload {path}: larger than {MAX_WORKLOAD_BYTES >> 20} MiB")
            text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"--workload {path}: no such file") from None
    except UnicodeDecodeError:
        raise InputError(f"--workload {path}: not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"--workload {path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    from migctl.yamlio.numbers import Loader

    loader = Loader(text)
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
    try:
        pods = pods_from_documents(docs)
    except WorkloadError as exc:
        raise InputError(str(exc)) from None
    if not pods:
        raise InputError(f"{name}: no pods", hint="give Pod, Deployment, StatefulSet, ReplicaSet or Job objects")
    return pods


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


def render_text(report: CapacityReport) -> None:
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
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
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
        worst = Table(title="Worst nodes", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
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
