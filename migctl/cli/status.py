"""``migctl status``: what is on the GPUs right now, from HAMi's node and pod annotations.

Sources: the live cluster (kubeconfig / in-cluster, ``--kubeconfig``, ``--context``) or a snapshot file
(``--cluster FILE``: ``kubectl get nodes,pods -A -o yaml`` or ``migctl cluster snapshot``).
Exit codes: 0 shown; 2 unreadable snapshot / config or unknown ``--node``; 3 cluster unreachable.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from migctl.cli.choices import (
    ConfigMapOption,
    ContextOption,
    KubeconfigOption,
    NamespaceOption,
    SelectorOption,
)
from migctl.cli.main import app
from migctl.cli.output import NoHeadersOption

if TYPE_CHECKING:  # imported lazily at run time
    from migctl.cluster.status import ClusterStatus, GpuStatus, NodeStatus


class StatusFormat(str, Enum):
    text = "text"
    wide = "wide"
    json = "json"
    yaml = "yaml"


StatusOutput = Annotated[
    StatusFormat,
    typer.Option(
        "-o",
        "--output",
        help="text: one row per node; wide: also one block per GPU; json/yaml for programs (stdout only).",
        case_sensitive=False,
    ),
]


@app.command("status")
def status_command(
    cluster_file: Annotated[
        Path | None,
        typer.Option("--cluster", metavar="FILE", dir_okay=False,
                     help="Read a snapshot file (kubectl get nodes,pods -A -o yaml) instead of the live cluster."),
    ] = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", metavar="FILE", dir_okay=False,
                     help="HAMi device-config.yaml to use instead of the cluster's hami-scheduler-device ConfigMap."),
    ] = None,
    node: Annotated[str | None, typer.Option("--node", metavar="NAME", help="Show one node, one block per GPU.")] = None,
    output: StatusOutput = StatusFormat.text,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=10000,
                                           help="Objects per LIST page from the API server.")] = 500,
    namespace: NamespaceOption = None,
    config_map: ConfigMapOption = None,
    selector: SelectorOption = None,
    no_headers: NoHeadersOption = False,
) -> None:
    """Show the GPU state HAMi records: per node, per GPU, MIG geometry and slots, and problems."""
    from migctl.api import cluster_status
    from migctl.cli.output import leave_to_process_end
    from migctl.cluster.snapshot import gc_paused

    with gc_paused():  # millions of small acyclic objects: the cyclic collector only costs time here
        cluster = load_cluster(cluster_file, kubeconfig=kubeconfig, context=context, config=config,
                               page_size=page_size, namespace=namespace, config_map=config_map,
                               selector=selector)
        wide = output is StatusFormat.wide or node is not None
        # the node table alone shows no GPU's pods: they are not listed for it
        report = cluster_status(cluster, node=node, gpu_pods=wide or output is not StatusFormat.text)
        # still paused: a collection while the output is built would walk the whole model again
        if output in (StatusFormat.json, StatusFormat.yaml):
            write_document(report, output.value)
        else:
            render_text(report, wide=wide, no_headers=no_headers)
    leave_to_process_end(cluster, report)


def load_cluster(cluster_file: Path | None, *, kubeconfig: str | None = None, context: str | None = None,
                 config: Path | None = None, page_size: int = 500, namespace: str | None = None,
                 config_map: str | None = None, selector: str | None = None) -> Any:
    """:func:`migctl.api.load_cluster` with a progress display, saying on stderr which ConfigMap of a live
    cluster was used (status, simulate and capacity read the cluster through it)."""
    from migctl.api import load_cluster as load
    from migctl.cli.output import progress

    label = f"Reading {cluster_file}" if cluster_file is not None else "Listing nodes and pods"
    with progress(label) as bar:
        cluster = load(cluster_file, kubeconfig, context, config, page_size=page_size,
                       on_item=bar.advance if bar.shown else None,
                       namespace=namespace, config_map=config_map, selector=selector)
    if cluster_file is None and cluster.device_config_source:
        sys.stderr.write(f"found HAMi's device-config in {cluster.device_config_source}\n")
    return cluster


def _catalogue() -> Any:
    from migctl.api import _catalogue as catalogue

    return catalogue()


def write_document(report: ClusterStatus, fmt: str) -> None:
    """The same document as ``emit(report.to_dict())``, written node by node so 5,000 nodes never sit in
    memory as one string (the document's keys: source, generation, config, summary, nodes, warnings).
    JSON: compact, one node per line (:func:`node_json_text`); YAML: libyaml's emitter."""
    from migctl.cli.output import json_text, yaml_text

    head = report.to_dict(with_nodes=False)
    out = sys.stdout
    if fmt == "json":
        node_json = node_json_text(len(report.nodes))
        out.write("{" + ",".join(f"{json_text(k)}:{json_text(head[k])}"
                                 for k in ("source", "generation", "config", "summary")))
        out.write(',"nodes":[')
        for i, node in enumerate(report.nodes):
            out.write(("," if i else "") + "\n" + node_json(node.to_dict()))
        out.write("\n]," if report.nodes else "],")
        out.write(f'"warnings":{json_text(head["warnings"])}}}\n')
    else:
        out.write(yaml_text({k: head[k] for k in ("source", "generation", "config", "summary")}))
        if report.nodes:
            out.write("nodes:\n")
            for node in report.nodes:
                out.write(yaml_text([node.to_dict()]))
        else:
            out.write("nodes: []\n")
        out.write(yaml_text({"warnings": head["warnings"]}))
    out.flush()


#: From this many nodes on, node documents are encoded by msgspec (already loaded for a JSON snapshot).
MSGSPEC_NODES = 256


def node_json_text(nodes: int) -> Callable[[Any], str]:
    """The encoder of one node's document: :func:`~migctl.cli.output.json_text` (the C ``json`` encoder),
    or for ``nodes >= MSGSPEC_NODES`` msgspec's, 4x faster (0.10 vs 0.43 s for 5,000 nodes) and byte-for-byte
    the same for what a node document holds (text, integers, booleans, null, lists, text-keyed objects;
    no floats, whose spelling differs: ``1e16`` vs ``1e+16``). A document msgspec refuses (text with a
    lone surrogate, from a ``\\ud800`` escape in the snapshot) is encoded by ``json``."""
    from migctl.cli.output import json_text

    if nodes < MSGSPEC_NODES and "msgspec" not in sys.modules:
        return json_text  # msgspec's import (~20 ms) would cost more than it saves
    import msgspec

    encode = msgspec.json.Encoder().encode

    def node_json(doc: Any) -> str:
        try:
            return encode(doc).decode()
        except (ValueError, TypeError, msgspec.EncodeError):
            return json_text(doc)

    return node_json


# --- text rendering ------------------------------------------------------------------------------------

_STYLE = {"bad": "bold red", "warn": "yellow", "ok": "green", "dim": "dim", "head": "bold", "used": "bold cyan"}


class _Out:
    """Lines of (text, style) segments printed through rich (colour only on a terminal)."""

    def __init__(self) -> None:
        self.color = sys.stdout.isatty()
        self._plain: list[str] = []
        if self.color:  # rich only for a terminal (it costs half a second to import and set up)
            from migctl.cli.output import stdout_console

            self.console = stdout_console()
            self.color = not self.console.no_color

    def line(self, *segments: tuple[str, str | None] | str) -> None:
        if not self.color:  # a pipe or a file: plain text, fast for thousands of nodes
            self._plain.append("".join(seg if isinstance(seg, str) else seg[0] for seg in segments))
            if len(self._plain) >= 1000:
                self.flush()
            return
        from rich.text import Text

        text = Text(no_wrap=True, overflow="ignore")
        for seg in segments:
            if isinstance(seg, str):
                text.append(seg)
            else:
                text.append(seg[0], style=_STYLE.get(seg[1] or "", seg[1]) if seg[1] else None)
        self.console.print(text, crop=False, soft_wrap=True)

    def flush(self) -> None:
        if self._plain:
            sys.stdout.write("\n".join(self._plain) + "\n")
            self._plain = []


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _gib(mib: int) -> str:
    return f"{mib / 1024:.1f}"


def _pct(used: int, total: int) -> str:
    return f"{100 * used // total}%" if total else "-"


def _node_row(n: NodeStatus) -> list[tuple[str, str | None]]:
    models = n.gpu_models
    gpus = ", ".join(f"{count}× {model}" for model, count in models.items()) if n.gpus else "-"
    bad = sum(not g.health for g in n.gpus)
    health = ("-", None) if not n.gpus else ((f"{bad} unhealthy", "bad") if bad else ("ok", "ok"))
    if n.ready is False:
        health = ("NotReady" + (f", {bad} unhealthy" if bad else ""), "bad")
    if n.unschedulable:
        health = (health[0] + ", cordoned" if health[0] != "-" else "cordoned", health[1] or "warn")
    in_use = f"{sum(g.in_use for g in n.gpus)}/{len(n.gpus)}" if n.gpus else "-"
    total = sum(g.memory_total_mib for g in n.gpus)
    used = sum(g.memory_used_mib for g in n.gpus)
    memory = f"{_gib(used)}/{_gib(total)} GiB {_pct(used, total)}" if n.gpus else "-"
    mig = "-"
    if n.mode in ("mig", "mixed"):
        geometries = n.geometries
        if geometries:
            mig = "; ".join(f"{g}" + (f" ×{c}" if c > 1 else "") for g, c in geometries.items())
            idle = sum(1 for g in n.gpus if g.mode == "mig" and g.geometry is None)
            if idle:
                mig += f"; {idle} idle"
        else:
            instances: dict[str, int] = {}
            for g in n.gpus:
                for inst in g.instances:
                    instances[inst.profile] = instances.get(inst.profile, 0) + 1
            mig = ", ".join(f"{c}× {p}" for p, c in instances.items()) if instances else "no instances"
    return [
        (n.name, None),
        (n.generation, None),
        (n.mode or "-", None),
        (gpus, None),
        health,
        (in_use, None),
        (memory, None),
        (mig, None),
    ]


def _migctl_cell(n: NodeStatus) -> tuple[str, str | None]:
    """``desired -> applied [state]`` of the migctl node daemon (applied summarised over the GPUs)."""
    m = n.migctl
    if not m.present:
        return ("-", None)
    state = m.state or "no answer"
    style = {"success": "ok", "failed": "bad", "refused": "bad"}.get(state, "warn")
    applied: dict[str, int] = {}
    for geometry in m.applied.values():
        applied[geometry or "(empty)"] = applied.get(geometry or "(empty)", 0) + 1
    shown = "; ".join(g + (f" ×{c}" if c > 1 else "") for g, c in applied.items()) or "-"
    return (f"{m.desired or '-'} -> {shown} [{state}]", style)


def _table(out: _Out, headers: list[str], rows: list[list[tuple[str, str | None]]], *,
           no_headers: bool = False) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, (text, _) in enumerate(row):
            widths[i] = max(widths[i], len(text))
    if not no_headers:
        out.line(*[(h.ljust(widths[i] + 2) if i < len(headers) - 1 else h, "head") for i, h in enumerate(headers)])
    for row in rows:
        segments: list[tuple[str, str | None] | str] = []
        for i, (text, style) in enumerate(row):
            last = i == len(row) - 1
            segments.append((text, style))
            if not last:
                segments.append(" " * (widths[i] - len(text) + 2))
        out.line(*segments)


def render_text(report: ClusterStatus, *, wide: bool, no_headers: bool = False) -> None:
    out = _Out()
    nodes = report.nodes
    if not nodes:
        out.line(("no nodes", "dim"))
    else:
        headers = ["NODE", "HAMI", "MODE", "GPUS", "HEALTH", "IN USE", "GPU MEMORY", "MIG GEOMETRY"]
        rows = [_node_row(n) for n in nodes]
        if any(n.migctl.present for n in nodes):
            headers.append("MIGCTL DESIRED -> APPLIED [STATE]")
            for row, n in zip(rows, nodes):
                row.append(_migctl_cell(n))
        _table(out, headers, rows, no_headers=no_headers)
    if wide:
        for n in nodes:
            out.line()
            _render_node_block(out, n)
    _render_warnings(out, report, with_nodes=True)
    s = report.summary()
    out.line()
    out.line((f"{_n(s['nodes'], 'node')} ({s['gpu_nodes']} with GPUs), {_n(s['gpus'], 'GPU')}: {s['gpus_in_use']} in use, "
              f"{s['gpus_unhealthy']} unhealthy; GPU memory {_gib(s['memory_used_mib'])}/"
              f"{_gib(s['memory_total_mib'])} GiB used; "
              f"{_n(s['gpu_pods'], 'GPU pod')} of {s['pods']}", None))
    out.line((f"HAMi generation {report.generation}; device config: {report.config_source or 'none'}; "
              f"source: {report.source}", "dim"))
    out.flush()


def _render_warnings(out: _Out, report: ClusterStatus, *, with_nodes: bool) -> None:
    lines: list[tuple[str, str]] = [("cluster", w.message) for w in report.warnings]
    if with_nodes:
        for n in report.nodes:
            lines.extend((n.name, w.message) for w in n.warnings)
    if not lines:
        return
    out.line()
    out.line((f"Problems ({len(lines)}):", "warn"))
    limit = 50
    for where, message in lines[:limit]:
        out.line("  ", ("!", "warn"), f" {where}: {message}")
    if len(lines) > limit:
        out.line((f"  ... and {len(lines) - limit} more (use -o json for all)", "dim"))


def _render_node_block(out: _Out, n: NodeStatus) -> None:
    ready = {True: ("Ready", "ok"), False: ("NotReady", "bad"), None: ("Ready unknown", "dim")}[n.ready]
    out.line((n.name, "head"), f"  HAMi {n.generation}  mode {n.mode or '-'}  ", ready,
             ("  cordoned (unschedulable)", "warn") if n.unschedulable else "")
    u = n.usage
    if u.cpu_allocatable_millis is not None or u.memory_allocatable_bytes is not None:
        cpu = f"cpu {u.cpu_requested_millis / 1000:g}/{(u.cpu_allocatable_millis or 0) / 1000:g} requested"
        mem = f"memory {u.memory_requested_bytes / 2**30:.1f}/{(u.memory_allocatable_bytes or 0) / 2**30:.1f} GiB requested"
        out.line("  ", (f"{cpu}, {mem}", "dim"))
    if n.lock is not None:
        out.line("  ", (f"node lock: {n.lock.holder} since {n.lock.at.isoformat()}", "warn"))
    m = n.migctl
    if m.present:
        applied = ", ".join(f"{k}: {v or '(empty)'}" for k, v in sorted(m.applied.items())) or "-"
        state, style = _migctl_cell(n)
        out.line("  migctl node daemon: desired ", (m.desired or "-", "head"), "  state ",
                 (m.state or "no answer", style), f"  applied {applied}")
        if m.message:
            out.line("          ", (m.message, "dim"))
    if not n.gpus:
        out.line("  ", ("no GPUs registered by HAMi", "dim"))
    for g in n.gpus:
        _render_gpu(out, g, n.usage.design)


def _render_gpu(out: _Out, g: GpuStatus, design: str | None) -> None:
    from migctl.cluster.status import short_model

    health = ("healthy", "ok") if g.health else ("UNHEALTHY", "bad")
    out.line(f"  GPU {g.index}  ", (g.uuid, "dim"), f"  {short_model(g.type)}  {g.mode}  ", health,
             ("  cordoned", "warn") if g.cordoned else "")
    out.line(f"    memory {g.memory_used_mib}/{g.memory_total_mib} MiB ({_pct(g.memory_used_mib, g.memory_total_mib)})"
             f"   cores {g.cores_used}/{g.cores_total}   slots {g.slots_used}/{g.slots_total}")
    if g.mode == "mig":
        if g.geometry is not None:
            out.line("    geometry ", (g.geometry, "head"), (f"  (template {g.geometry_template} of the device config)", "dim"))
        elif not g.instances and design == "current":
            out.line("    ", ("no MIG reservations: all slices free (HAMi creates an instance per pod)", "dim"))
        elif not g.instances:
            out.line("    ", ("no MIG pods: no geometry in effect (HAMi picks one with the next pod)", "dim"))
        if g.instances:
            _render_slot_bar(out, g)
    else:
        width = 30
        filled = round(width * g.memory_used_mib / g.memory_total_mib) if g.memory_total_mib else 0
        filled = max(0, min(width, filled))
        out.line("    [", ("█" * filled, "used"), ("░" * (width - filled), "dim"), "] memory")
    for p in g.pods:
        extra = ""
        if p.get("mig_slots"):
            extra = "  slots " + ", ".join(p["mig_slots"])
        if p.get("mig_instances"):
            extra = "  " + ", ".join(f"{i['profile']}@{i['placement']['start']}" for i in p["mig_instances"])
        out.line(f"    pod {p['pod']}  {p['memory_mib']} MiB  {p['cores']}% cores{extra}")


def _render_slot_bar(out: _Out, g: GpuStatus) -> None:
    """Draw the GPU's placement grid: each instance spans its units, ● in use, ○ free, · not carved."""
    placed = [i for i in g.instances if i.placement is not None]
    units = g.placement_units or (max((i.placement.start + i.placement.size for i in placed), default=0))
    if not placed or not units:
        items = ", ".join(f"{i.profile} {'●' if i.used else '○'}" for i in g.instances)
        out.line(f"    instances {items}")
        return
    labels = {id(i): f"{i.profile} {'●' if i.used else '○'}" for i in placed}
    unit_width = max(3, max(-(-(len(labels[id(i)]) + 2) // i.placement.size) for i in placed))
    by_start = {i.placement.start: i for i in placed}
    segments: list[tuple[str, str | None] | str] = ["    "]
    ruler = "    "
    pos = 0
    while pos < units:
        inst = by_start.get(pos)
        if inst is None:
            segments.append(("·" * unit_width, "dim"))
            ruler += str(pos).ljust(unit_width)
            pos += 1
            continue
        width = unit_width * inst.placement.size
        segments.append(("[" + labels[id(inst)].center(width - 2) + "]", "used" if inst.used else None))
        ruler += str(pos).ljust(width)
        pos += inst.placement.size
    out.line(*segments)
    out.line((ruler.rstrip() + "  (placement units; ● in use, ○ free, · not carved)", "dim"))
    unplaced = [i for i in g.instances if i.placement is None]
    if unplaced:
        out.line("    not on the grid: " + ", ".join(f"{i.profile} {'●' if i.used else '○'}" for i in unplaced))

