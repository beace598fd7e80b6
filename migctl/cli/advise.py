"""``migctl advise``: propose a device-config (``config``) or a few pod moves (``defrag``), proven by simulation.

The edge: read the workload, the cluster (snapshot or live, read-only) and the device-config, call
:func:`migctl.advise.config_search.advise_config` or :func:`migctl.advise.defrag.plan_defrag`, print.
Nothing in the cluster is changed: a defrag plan is printed, never carried out. Only typer and the
standard library are imported at module level.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from migctl.cli.choices import (
    ContextOption,
    GpuModelOption,
    GpuPolicy,
    GpuPolicyOption,
    KubeconfigOption,
    MigNodesOption,
    NodePolicyOption,
    OnFail,
    OnFailOption,
    Policy,
)
from migctl.cli.choices import HamiVersionChoice as VersionChoice
from migctl.cli.main import app
from migctl.cli.output import OutputFormat, OutputOption, emit, progress, warn

advise_app = typer.Typer(
    help="Propose a device-config and MIG split, or a few pod moves, proven by simulation.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(advise_app, name="advise")


class Emit(str, Enum):
    report = "report"
    kubectl = "kubectl"


# ------------------------------------------------------------------ advise config


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
    gpu_model: GpuModelOption = "a100-40gb",
    mig_nodes: MigNodesOption = "50%",
    splits: Annotated[str, typer.Option("--splits", metavar="P%,...", help=(
        "MIG node shares the search may advise ('' to keep the current split)."))] = ",".join(
        ("0%", "25%", "50%", "75%", "100%")),
    hami_version: Annotated[VersionChoice, typer.Option("--hami-version", help=(
        "2.9: advise knownMigGeometries and the split; 2.10: node/GPU policies and the split."))]
    = VersionChoice.v2_9,
    node_policy: NodePolicyOption = Policy.binpack,
    gpu_policy: GpuPolicyOption = GpuPolicy.spread,
    on_fail: OnFailOption = OnFail.queue,
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
    from migctl.api import advise_config

    with progress("searching designs") as bar:
        found = advise_config(
            workload, nodes=nodes_file, cluster=cluster_file, config=config_file, gpu_model=gpu_model,
            mig_nodes=mig_nodes, splits=splits.split(","),
            hami_version="2.9" if hami_version is VersionChoice.auto else hami_version.value,  # type: ignore[arg-type]
            node_policy=node_policy.value, gpu_policy=gpu_policy.value, on_fail=on_fail.value,
            scale_arrivals=scale_arrivals, budget=budget, jobs=jobs, seed=seed, tries=tries, screen=screen,
            on_round=bar.advance)
    if output is OutputFormat.yaml:
        from migctl.cli.output import to_yaml

        sys.stdout.write(to_yaml(found.advice.document))
        sys.stdout.flush()
        return
    emit(found.to_dict(explain), output,
         lambda: _render_config(found.advice, found.current_document, explain, found.snapshot))


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
    node_policy: NodePolicyOption = Policy.binpack,
    gpu_policy: GpuPolicyOption = GpuPolicy.spread,
    budget: Annotated[float, typer.Option("--budget", min=0.0, metavar="SECONDS", help=(
        "Stop searching after this long with the best plan so far."))] = 60.0,
    emit_as: Annotated[Emit, typer.Option("--emit", help=(
        "report: the plan and its proof; kubectl: only the commands that carry it out."))] = Emit.report,
    explain: Annotated[bool, typer.Option("--explain", help="Say what the search tried, step by step.")] = False,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """At most N pod moves (delete a controller-owned pod, HAMi places it again elsewhere) that make the most
    pending GPU pods schedulable, re-simulated step by step as proof. Nothing is changed; exit 0."""
    from migctl.api import advise_defrag

    with progress(f"reading {cluster_file}" if cluster_file is not None else "reading the cluster") as bar:
        found = advise_defrag(cluster_file, kubeconfig=kubeconfig, context=context, pending=pending_file,
                              max_moves=max_moves, config=config_file, hami_version=hami_version.value,
                              node_policy=node_policy.value, gpu_policy=gpu_policy.value, budget=budget,
                              on_read=lambda: bar.update("searching moves"))
    warn(found.version_note)
    if emit_as is Emit.kubectl:
        for line in found.kubectl():
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
        return
    emit(found.to_dict(explain), output, lambda: _render_defrag(found.plan, explain))


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
