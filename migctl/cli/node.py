"""``migctl node status`` and ``migctl node apply-geometry``: this node's GPUs through NVML.

Imports only typer and the standard library at module level; pynvml, rich and the domain
packages are imported inside the commands. ``node_app`` is shared: the daemon commands
(``migctl.cli.node_daemon``) add themselves to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

# Defined before importing the app: importing migctl.cli.main registers migctl.cli.node_daemon,
# which adds its commands to this node_app.
node_app = typer.Typer(
    name="node",
    help="This node's GPUs through NVML: show MIG state, apply MIG geometry safely.",
    no_args_is_help=True,
)

from migctl.cli.main import app  # noqa: E402
from migctl.cli.output import NoHeadersOption, OutputFormat, OutputOption, emit  # noqa: E402
from migctl.cli.duration import DurationOption  # noqa: E402

if TYPE_CHECKING:
    from migctl.apply.engine import ApplyReport
    from migctl.hardware.geometry import Geometry
    from migctl.nvml.adapter import GpuInfo
    from migctl.nvml.session import NvmlSessionLike

app.add_typer(node_app, name="node")

GpuOption = Annotated[str, typer.Option("--gpu", help="GPU index, GPU UUID, or 'all'.")]


# --------------------------------------------------------------------------------------------
# node status


def status_dict(gpus: list[GpuInfo]) -> dict[str, Any]:
    """The ``-o json`` document of ``node status``."""
    return {
        "gpus": [
            {
                "index": g.index,
                "uuid": g.uuid,
                "name": g.name,
                "mig_enabled": g.mig_enabled,
                "mig_pending": g.mig_pending,
                "geometry": g.geometry,
                "instances": [
                    {
                        "profile": gi.profile,
                        "start": gi.start,
                        "size": gi.size,
                        "gpu_instance_id": gi.id,
                        "compute_instance_ids": [ci.id for ci in gi.compute_instances],
                        "mig_uuid": gi.compute_instances[0].mig_uuid if gi.compute_instances else None,
                        # null when NVML would not report them (e.g. without root): apply treats that as busy
                        "processes": None if gi.processes is None else len(gi.processes),
                    }
                    for gi in g.instances
                ],
            }
            for g in gpus
        ]
    }


def slot_grid(gpu: GpuInfo, width: int = 5) -> list[str]:
    """Two lines drawing the placement grid: unit numbers, then each instance across its units."""
    units = gpu.model.placement_units if gpu.model is not None else 8
    units = max([units] + [gi.start + gi.size for gi in gpu.instances])
    header = "".join(f"{u:<{width}}" for u in range(units)).rstrip()
    cells: list[str] = []
    u = 0
    by_start = {gi.start: gi for gi in gpu.instances}
    while u < units:
        gi = by_start.get(u)
        if gi is None:
            cells.append("·".ljust(width))
            u += 1
            continue
        span = gi.size * width - 1
        label = gi.profile if len(gi.profile) <= span - 2 else gi.profile.split(".")[0]
        cells.append("[" + label.center(span - 2, "─")[: span - 2] + "]" + " ")
        u += gi.size
    return [header, "".join(cells).rstrip()]


def _render_status(gpus: list[GpuInfo], no_headers: bool = False) -> None:
    from rich.table import Table

    from migctl.cli.output import stdout_console

    console = stdout_console()
    if not gpus:
        console.print("no GPUs")
    for g in gpus:
        console.print(f"[bold]GPU {g.index}[/bold]  {g.name}  {g.uuid}")
        if not g.mig_capable:
            console.print("  MIG: not supported on this GPU")
            continue
        mode = "enabled" if g.mig_enabled else "disabled"
        pending = ""
        if g.mig_pending:
            pending = f"  (pending: {'enabled' if g.mig_pending_mode else 'disabled'} after a GPU reset)"
        console.print(f"  MIG: {mode}{pending}")
        if not g.mig_enabled:
            continue
        console.print(f"  geometry: {g.geometry or '(empty)'}")
        for line in slot_grid(g):
            console.print(f"    {line}", markup=False)
        if g.instances:
            table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), show_header=not no_headers)
            for column in ("profile", "placement", "GI", "CI", "MIG UUID", "processes"):
                table.add_column(column)
            for gi in g.instances:
                count = "?" if gi.processes is None else str(len(gi.processes))
                table.add_row(
                    gi.profile,
                    f"{gi.start}:{gi.size}",
                    str(gi.id),
                    ",".join(str(ci.id) for ci in gi.compute_instances) or "-",
                    ", ".join(ci.mig_uuid or "?" for ci in gi.compute_instances) or "-",
                    count,
                )
            console.print(table)


@node_app.command("status")
def status_command(
    gpu: GpuOption = "all",
    output: OutputOption = OutputFormat.text,
    no_headers: NoHeadersOption = False,
) -> None:
    """Show each GPU's MIG mode, geometry, instances (placement, IDs, MIG UUID, processes)."""
    from migctl.nvml.session import open_session

    with open_session() as session:
        gpus = session.gpus(gpu)
    emit(status_dict(gpus), output, lambda: _render_status(gpus, no_headers))


# --------------------------------------------------------------------------------------------
# node apply-geometry


def _render_report(report: ApplyReport) -> None:
    from migctl.cli.output import stdout_console

    console = stdout_console()
    for g in report.gpus:
        before = "MIG disabled" if g.before is None else (g.before or "(empty)")
        after = "MIG disabled" if g.after is None else (g.after or "(empty)")
        change = "(its MIG state could not be read)" if g.state_unknown else f"{before} -> {after}"
        uuid = f" {g.uuid}" if g.uuid else ""
        console.print(f"[bold]GPU {g.index}[/bold]{uuid}: [bold]{g.status}[/bold]  {change}", soft_wrap=True)
        for action in g.actions:
            console.print(f"  {action}", markup=False)
        if g.message:
            console.print(f"  {g.message}", markup=False, soft_wrap=True)
        if g.hint:
            console.print(f"  hint: {g.hint}", markup=False, soft_wrap=True)
        if g.writes:
            console.print(f"  NVML writes: {g.writes}")
    if report.undo:
        console.print("[bold]put back after the failure[/bold] (GPUs changed earlier in this request):")
        for g in report.undo:
            console.print(f"  GPU {g.index}: {g.status}  {g.message}", markup=False, soft_wrap=True)


def _template_geometry(template: str, config: Path | None) -> Geometry:
    """``--template MODEL:INDEX``: that entry of ``nvidia.knownMigGeometries`` in the device-config ``config``."""
    from migctl.config.load import load_device_config
    from migctl.hardware.geometry import Geometry

    if config is None:
        raise _usage("--template needs --config FILE (the HAMi device-config holding knownMigGeometries)")
    model, sep, index_text = template.rpartition(":")
    if not sep or not (index_text.isascii() and index_text.isdigit()) or not model:
        raise _usage(f"--template {template!r}: expected MODEL:INDEX, e.g. 'A100-SXM4-40GB:0'")
    loaded = load_device_config(config)
    cfg = loaded.config
    if loaded.unreadable or cfg is None:
        problem = next((d for d in loaded.diagnostics if d.severity == "error"), None)
        where = f"{config}:{problem.line}" if problem is not None and problem.line else str(config)
        raise _usage(f"{where}: {problem.message if problem is not None else 'no HAMi device-config found'}")
    entry = cfg.nvidia.geometries_for(model)
    if entry is None:
        raise _usage(f"{config}: nvidia.knownMigGeometries has no entry whose models match {model!r}")
    index = int(index_text)
    if index >= len(entry.geometries):
        raise _usage(f"{config}: the entry for {model!r} has {len(entry.geometries)} geometries; index {index} is out of range")
    return Geometry((t.name, t.count) for t in entry.geometries[index])


def _usage(message: str) -> Exception:
    from migctl.errors import InputError

    return InputError(message)


def _mig_parted_targets(session: NvmlSessionLike, file: Path, name: str | None) -> dict[int | str, Geometry]:
    """The GPUs a mig-parted config (``-f FILE -c NAME``) selects on this node, with their geometries."""
    from migctl.config.migparted import load_mig_parted_config
    from migctl.node_protocol import ProtocolError

    config = load_mig_parted_config(file)
    if name is None:
        if len(config.configs) != 1:
            raise _usage(f"{file}: holds {len(config.configs)} configs; choose one with -c ({', '.join(sorted(config.configs))})")
        name = next(iter(config.configs))
    gpus = session.gpus("all")
    try:
        targets = config.targets(name, gpus)
    except ProtocolError as exc:
        raise _usage(str(exc)) from None
    # like mig-parted: a GPU without MIG is skipped unless an entry names its index and wants MIG on
    named = {i for e in config.configs.get(name, ()) if e.devices is not None and e.mig_enabled for i in e.devices}
    capable = {g.index for g in gpus if g.mig_capable}
    return {i: geometry for i, geometry in targets.items() if i in capable or i in named}


@node_app.command("apply-geometry")
def apply_geometry_command(
    geometry: Annotated[
        Optional[str],
        typer.Argument(help="Canonical geometry text ('2g.10gb:3,1g.5gb:1'), '' for MIG on and empty, or 'disabled'.", show_default=False),
    ] = None,
    gpu: GpuOption = "all",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Destroy instances even when processes run on them.")] = False,
    template: Annotated[Optional[str], typer.Option("--template", help="MODEL:INDEX of nvidia.knownMigGeometries in --config.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="HAMi device-config (for --template).")] = None,
    file: Annotated[Optional[Path], typer.Option("-f", "--config-file", help="A mig-parted config file (drop-in for 'nvidia-mig-parted apply').")] = None,
    selected: Annotated[Optional[str], typer.Option("-c", "--selected-config", help="The config name in the mig-parted file.")] = None,
    state_dir: Annotated[
        Optional[Path], typer.Option("--state-dir", help="Lock and journal directory (default: $MIGCTL_STATE_DIR, else /var/lib/migctl).")
    ] = None,
    lock_timeout: Annotated[float, DurationOption("--lock-timeout", help="Seconds to wait for another apply to finish.")] = 600.0,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Apply a MIG geometry: plan first, change only what differs, never destroy busy instances, roll back on failure.

    With -f the GPUs the mig-parted config selects change as one request: all are planned first, and
    when one fails the GPUs changed before it are put back.

    Exit codes: 0 applied or unchanged; 1 infeasible or failed (rolled back); 2 bad input; 3 NVML unreachable; 4 refused (busy instances, lock held); 5 a GPU reset or reboot is needed.
    """
    from migctl.apply.engine import apply_geometries, apply_geometry, desired_geometry
    from migctl.cli.output import progress
    from migctl.nvml.session import open_session

    sources = [s for s in (geometry is not None, template is not None, file is not None) if s]
    if len(sources) != 1:
        raise _usage("give exactly one of GEOMETRY, --template MODEL:INDEX (with --config) or -f FILE [-c NAME]")
    if selected is not None and file is None:
        raise _usage("-c/--selected-config goes with -f FILE")
    if file is not None and gpu != "all":
        raise _usage("--gpu cannot be combined with -f: the mig-parted config selects the GPUs")
    wanted = _template_geometry(template, config) if template is not None else desired_geometry(geometry or "")
    with open_session() as session:
        if file is not None:
            targets = _mig_parted_targets(session, file, selected)
            with progress("applying MIG geometry", total=len(targets)) as bar:
                report = apply_geometries(session, targets, dry_run=dry_run, force=force, state_dir=state_dir,
                                          lock_timeout=lock_timeout, on_result=lambda _: bar.advance())
        else:
            with progress("applying MIG geometry", total=1):
                report = apply_geometry(session, wanted, gpu=gpu, dry_run=dry_run, force=force,
                                        state_dir_path=state_dir, lock_timeout=lock_timeout)
    emit(report.to_dict(), output, lambda: _render_report(report))
    if report.exit_code:
        raise typer.Exit(int(report.exit_code))
