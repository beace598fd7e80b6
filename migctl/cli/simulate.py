"""``migctl simulate``: where HAMi would place pods, or why they would stay Pending.

The edge over :func:`migctl.api.simulate`: parse the options, call it, print. Only typer and the
standard library are imported at module level.
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
from migctl.cli.output import (
    NoHeadersOption, OutputFormat, OutputOption, emit, leave_to_process_end, progress, text_table, warn,
)

if TYPE_CHECKING:
    from migctl.api import ConfigFindings
    from migctl.simulate.result import SimulationResult

MAX_NOTES = 20  # cluster notes printed on stderr; the JSON output has them all


def _print_findings(found: ConfigFindings, explain: bool) -> None:
    """Config findings on stderr, above the result: errors in full, warnings in full with
    ``--explain`` or when few, else counted by code (``-o json`` keeps every one)."""
    findings, diagnostics, source = found.findings, found.diagnostics, found.source
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
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    config_map: ConfigMapOption = None,
    selector: SelectorOption = None,
    config_file: Annotated[Path | None, typer.Option("--config", metavar="FILE", help=(
        "HAMi device-config.yaml (raw or the ConfigMap). Default: the ConfigMap in the cluster, else HAMi's "
        "built-in defaults."))] = None,
    node_policy: NodePolicyOption = Policy.binpack,
    gpu_policy: GpuPolicyOption = GpuPolicy.spread,
    hami_version: Annotated[HamiVersionChoice, typer.Option("--hami-version", help=(
        "HAMi generation to follow: 2.9 (knownMigGeometries templates) or 2.10 (migProfiles + placements); "
        "auto infers it from the cluster and config."))] = HamiVersionChoice.auto,
    node_score: NodeScoreOption = NodeScore.hami,
    repeat: Annotated[int, typer.Option("--repeat", min=1, metavar="N", help="Submit the pods N times.")] = 1,
    max_pods: Annotated[int, typer.Option("--max-pods", min=1, metavar="N", help=(
        "The most pods to expand (replicas x --repeat); more is refused (exit 2)."))] = DEFAULT_MAX_PODS,
    explain: Annotated[bool, typer.Option("--explain", help="Show every node's and GPU's verdict and score.")] = False,
    strict_config: Annotated[bool, typer.Option("--strict-config", help=(
        "Stop when the device-config has errors (default: report them and simulate what HAMi would do)."))] = False,
    output: OutputOption = OutputFormat.text,
    no_headers: NoHeadersOption = False,
) -> None:
    """Simulate HAMi's scheduler: per pod the node, GPUs, MIG profile and geometry, or why it stays Pending.

    Nothing in the cluster is changed. Exit 0 when every pod is scheduled, 1 when any is not.
    """
    from migctl.api import read_pods, simulate
    from migctl.cli.status import load_cluster

    pods = read_pods(pod_files, repeat=repeat, max_pods=max_pods)
    cluster = load_cluster(cluster_file, kubeconfig=kubeconfig, context=context, namespace=namespace,
                           config_map=config_map, selector=selector)
    with progress("simulating", total=len(pods)) as bar:
        result = simulate(cluster, pods, config=config_file, hami_version=hami_version.value,  # type: ignore[arg-type]
                          node_policy=node_policy.value, gpu_policy=gpu_policy.value,  # type: ignore[arg-type]
                          node_score=node_score.value, explain=explain, strict_config=strict_config,  # type: ignore[arg-type]
                          on_config=lambda found: _print_findings(found, explain), on_pod=bar.advance)
    _print_warnings(result.warnings, set(result.cluster_notes))
    emit(result.to_dict(explain=explain), output, lambda: _render_text(result, explain, result.node_problems, no_headers))
    all_scheduled = result.all_scheduled
    leave_to_process_end(cluster, pods, result)
    if not all_scheduled:
        raise typer.Exit(1)


def _print_warnings(warnings: list[str], notes: set[str]) -> None:
    """Every warning on stderr, in order; notes about the cluster capped at MAX_NOTES (-o json has all)."""
    shown = skipped = 0
    for w in warnings:
        if w in notes:
            if shown >= MAX_NOTES:
                skipped += 1
                continue
            shown += 1
        elif skipped:
            warn(f"... and {skipped} more notes about the cluster (all are in -o json: 'cluster_notes')")
            skipped = 0
        warn(w)
    if skipped:
        warn(f"... and {skipped} more notes about the cluster (all are in -o json: 'cluster_notes')")


# --- text output -------------------------------------------------------------------------------------


def _render_text(result: SimulationResult, explain: bool, problems: list[str], no_headers: bool = False) -> None:
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
        out += text_table(["POD", "NODE", "GPU", "MODE", "PROFILE", "GEOMETRY/PLACEMENT", "SLOT", "MEM(MiB)", "CORES"],
                          rows, none="-", no_headers=no_headers)
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
