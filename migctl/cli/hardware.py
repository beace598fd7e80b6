"""``migctl hardware``: the MIG hardware catalogue, slot grids, maximal geometries, geometry checks.

A thin edge over :mod:`migctl.hardware`. Only typer and the standard library are imported at
module level; the catalogue loads inside the commands. Text tables are plain (no rich) so the
commands start fast.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from migctl.cli.main import app
from migctl.cli.output import NoHeadersOption, OutputFormat, OutputOption, emit, text_table, warn
from migctl.errors import InputError

if TYPE_CHECKING:
    from migctl.hardware.catalogue import GpuModel, ModelMatch
    from migctl.hardware.placement import PlacedInstance
    from migctl.hardware.solver import Solution

hardware_app = typer.Typer(
    name="hardware",
    help="The MIG hardware catalogue: GPU models, profiles, placement grids and valid geometries.",
    no_args_is_help=True,
)
app.add_typer(hardware_app, name="hardware")

ModelArgument = Annotated[
    str,
    typer.Argument(
        metavar="MODEL",
        help="A catalogue key (a100-40gb), an NVML name (NVIDIA A100-PCIE-40GB) or a HAMi model string (A100-SXM4-40GB).",
        show_default=False,
    ),
]


# --- helpers ---------------------------------------------------------------------------------


def _find_model(text: str) -> tuple[GpuModel, ModelMatch]:
    from migctl.hardware.catalogue import load_catalogue

    catalogue = load_catalogue()
    match = catalogue.lookup(text)
    if match is None:
        raise InputError(
            f"unknown GPU model {text!r}",
            hint="use a catalogue key, an NVML name or a HAMi model string; 'migctl hardware list' shows them: "
            + ", ".join(catalogue.keys),
        )
    if match.rule == "hami-substring":
        warn(f"{text!r} matched {match.model.key} by HAMi's substring rule (contains {match.matched!r})")
    return match.model, match


def _echo(lines: Sequence[str]) -> None:
    sys.stdout.write("\n".join(lines) + "\n")


def _cell_width(units: int) -> int:
    return 5 if units <= 12 else 3


def _grid_header(units: int, label_width: int) -> str:
    width = _cell_width(units)
    return ("unit".ljust(label_width) + "".join(str(u).center(width) for u in range(units))).rstrip()


def _grid_row(units: int, boxes: Sequence[tuple[int, int, str]], label: str, label_width: int) -> str:
    """One row of the slot grid: each box ``(start, size, text)`` spans its units as ``[ text ]``;
    units outside every box show ``·``."""
    width = _cell_width(units)
    by_start = {start: (size, text) for start, size, text in boxes}
    line = ""
    unit = 0
    while unit < units:
        if unit in by_start:
            size, text = by_start[unit]
            span = max(1, min(size, units - unit)) * width
            line += "[" + text[: span - 2].center(span - 2) + "]"
            unit += max(1, size)
        else:
            line += "·".center(width)
            unit += 1
    return label.ljust(label_width) + line.rstrip()


def _rows_without_overlap(boxes: list[tuple[int, int, str]]) -> list[list[tuple[int, int, str]]]:
    """Split boxes into rows in which no two overlap (one row per profile on real hardware)."""
    rows: list[list[tuple[int, int, str]]] = []
    for box in sorted(boxes):
        for row in rows:
            if all(box[0] >= b[0] + b[1] or b[0] >= box[0] + box[1] for b in row):
                row.append(box)
                break
        else:
            rows.append([box])
    return rows


def _placement_drawing(model: GpuModel) -> list[str]:
    label_width = max(len(p.name) for p in model.profiles) + 2
    units = model.placement_units
    lines = [_grid_header(units, label_width)]
    for profile in sorted(model.profiles, key=lambda p: p.sort_key):
        boxes = [(start, profile.placement_size, str(start)) for start in profile.placement_starts]
        for i, row in enumerate(_rows_without_overlap(boxes)):
            lines.append(_grid_row(units, row, profile.name if i == 0 else "", label_width))
    return lines


def _layout_drawing(model: GpuModel, instances: Sequence[tuple[PlacedInstance, bool]]) -> list[str]:
    labels = [f"{p.profile} (existing)" if old else p.profile for p, old in instances]
    label_width = max([len(s) for s in labels] + [6]) + 2
    units = model.placement_units
    lines = [_grid_header(units, label_width)]
    for (placed, _), label in zip(instances, labels):
        lines.append(_grid_row(units, [(placed.start, placed.size, str(placed.start))], label, label_width))
    return lines


def _memory(value: int | None) -> str:
    return "?" if value is None else str(value)


def _engines(profile: Any) -> str:
    values = (profile.copy_engines, profile.decoders, profile.encoders, profile.jpeg, profile.ofa)
    if all(v is None for v in values):
        return "?"
    return "/".join("?" if v is None else str(v) for v in values)


# --- list ------------------------------------------------------------------------------------


@hardware_app.command("list")
def list_models(output: OutputOption = OutputFormat.text, no_headers: NoHeadersOption = False) -> None:
    """List the GPU models: catalogue key, NVML names, HAMi model strings, slices, grid, confidence."""
    from migctl.hardware.catalogue import load_catalogue

    catalogue = load_catalogue()
    data = {
        "models": [
            dict(model.to_dict(with_profiles=False), profiles=[p.name for p in model.profiles]) for model in catalogue
        ]
    }

    def render() -> None:
        rows: list[tuple[Any, ...]] = []
        for model in catalogue:
            grid = str(model.placement_units) if model.placement_units_known else f"{model.placement_units}?"
            level = model.confidence.replace(":", " ").replace(";", " ").split()[0]
            names = model.nvml_names or ("-",)
            rows.append((model.key, names[0], f"{model.compute_slices}/{model.memory_slices}", grid, len(model.profiles), level))
            rows += [("", name, "", "", "", "") for name in names[1:]]
        _echo(text_table(("MODEL", "NVML NAMES", "SLICES C/M", "GRID", "PROFILES", "CONFIDENCE"), rows,
                         no_headers=no_headers))
        _echo(["", "GRID is the NVML placement grid in units ('?': not known, normalised slots). "
               "'migctl hardware show MODEL' has the details."])

    emit(data, output, render)


# --- show ------------------------------------------------------------------------------------


@hardware_app.command("show")
def show_model(model_name: ModelArgument, output: OutputOption = OutputFormat.text,
               no_headers: NoHeadersOption = False) -> None:
    """Show a model's profiles and a drawing of its slot grid with each profile's placements."""
    model, match = _find_model(model_name)
    data = dict(model.to_dict(), match={"rule": match.rule, "matched": match.matched}, notes=list(model.notes))

    def render() -> None:
        grid = f"{model.placement_units} NVML units" + ("" if model.placement_units_known else " (unknown; normalised slots)")
        facts = [
            ("model", f"{model.key}  ({model.title})"),
            ("matched", f"{match.matched} by {match.rule}"),
            ("NVML names", ", ".join(model.nvml_names)),
            ("HAMi models", ", ".join(model.hami_models) or "-"),
            ("compute slices", f"{model.compute_slices} (memory slices {model.memory_slices}, max {model.max_gpu_instances} GPU instances)"),
            ("placement grid", grid),
            ("total memory", f"{_memory(model.total_memory_mib)} MiB"),
            ("confidence", model.confidence),
            ("placements", model.placement_status),
        ]
        lines = [f"{k + ':':<16}{v}" for k, v in facts]
        lines += [f"{'note:':<16}{note}" for note in model.notes]
        lines.append("")
        rows = []
        for p in sorted(model.profiles, key=lambda p: p.sort_key):
            rows.append(
                (
                    p.name,
                    ", ".join(p.aliases) or "-",
                    p.compute_slices,
                    f"{p.nvml_profile.removeprefix('NVML_GPU_INSTANCE_PROFILE_')} ({p.nvml_profile_value})",
                    "?" if p.board_profile_id is None else p.board_profile_id,
                    p.placement_size,
                    ",".join(str(s) for s in p.placement_starts),
                    p.max_instances,
                    _memory(p.memory_mib),
                    "?" if p.multiprocessors is None else p.multiprocessors,
                    _engines(p),
                    p.min_driver or "-",
                    p.status,
                )
            )
        headers = ("PROFILE", "ALIASES", "G", "NVML PROFILE", "ID", "SIZE", "STARTS", "MAX", "MiB", "SM", "CE/DEC/ENC/JPG/OFA", "DRIVER", "STATUS")
        lines += text_table(headers, rows, no_headers=no_headers)
        lines += ["", "Placements: each box is one possible placement of the profile, labelled with its start unit."]
        lines += _placement_drawing(model)
        _echo(lines)

    emit(data, output, render)


# --- geometries ------------------------------------------------------------------------------


def _geometry_facts(model: GpuModel, geometry: dict[str, int]) -> dict[str, Any]:
    from migctl.hardware.geometry import format_geometry
    from migctl.hardware.solver import solve

    profiles = [(model.profile(name), count) for name, count in geometry.items()]
    memories = [p.memory_mib for p, _ in profiles]
    used = None if any(m is None for m in memories) else sum(p.memory_mib * c for p, c in profiles)  # type: ignore[operator]
    unused = None if used is None or model.total_memory_mib is None else model.total_memory_mib - used
    units = sum(p.placement_size * c for p, c in profiles)
    solution = solve(model, geometry)
    return {
        "geometry": format_geometry(geometry, model),
        "profiles": dict(geometry),
        "instances": sum(geometry.values()),
        "compute_slices": sum(p.compute_slices * c for p, c in profiles),
        "units_used": units,
        "units_free": model.placement_units - units,
        "memory_mib_used": used,
        "memory_mib_unused": unused,
        "placements": [p.to_dict() for p in solution.layout],
        "warnings": list(solution.warnings),
    }


@hardware_app.command("geometries")
def list_geometries(model_name: ModelArgument, output: OutputOption = OutputFormat.text,
                    no_headers: NoHeadersOption = False) -> None:
    """Every maximal valid geometry of a model (no instance can be added), with memory used/unused."""
    from migctl.hardware.solver import maximal_geometries

    model, _ = _find_model(model_name)
    facts = [_geometry_facts(model, g) for g in maximal_geometries(model)]
    data = {"model": model.key, "total_memory_mib": model.total_memory_mib, "geometries": facts}

    def render() -> None:
        notes: list[str] = []  # distinct caveats, numbered in the NOTES column
        rows = []
        for f in facts:
            marks = []
            for message in f["warnings"]:
                if message not in notes:
                    notes.append(message)
                marks.append(str(notes.index(message) + 1))
            rows.append(
                (
                    f["geometry"],
                    f["instances"],
                    f"{f['compute_slices']}/{model.compute_slices}",
                    f"{f['units_used']}/{model.placement_units}",
                    _memory(f["memory_mib_used"]),
                    _memory(f["memory_mib_unused"]),
                    ",".join(marks),
                )
            )
        lines = [f"{len(facts)} maximal geometries of {model.key} (total memory {_memory(model.total_memory_mib)} MiB)", ""]
        lines += text_table(("GEOMETRY", "INSTANCES", "COMPUTE", "UNITS", "USED MiB", "UNUSED MiB", "NOTES"), rows,
                            no_headers=no_headers)
        if notes:
            lines.append("")
            lines += [f"[{i}] {message}" for i, message in enumerate(notes, start=1)]
        _echo(lines)

    emit(data, output, render)


# --- check -----------------------------------------------------------------------------------


def _parse_existing(text: str, model: GpuModel) -> list[PlacedInstance]:
    from migctl.hardware.placement import PlacedInstance

    instances = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, where = item.partition("@")
        start_text, _, size_text = where.partition(":")
        if not sep or not start_text.strip().isdigit() or (size_text and not size_text.strip().isdigit()):
            raise InputError(f"--existing: bad instance {item!r}", hint="write PROFILE@START[:SIZE], e.g. 1g.5gb@6")
        profile = model.profile(name.strip())
        if profile is None and not size_text:
            raise InputError(f"--existing: {model.key} has no profile {name.strip()!r}", hint=f"profiles: {', '.join(model.profile_names)}")
        size = int(size_text) if size_text else profile.placement_size  # type: ignore[union-attr]
        instances.append(PlacedInstance(name.strip(), int(start_text), size))
    return instances


def _check_data(model: GpuModel, geometry_text: str, solution: Solution, hint: str | None) -> dict[str, Any]:
    data = {"model": model.key, "geometry": geometry_text}
    data.update(solution.to_dict())
    data["layout"] = [p.to_dict() | {"existing": p in solution.existing} for p in solution.layout] if solution.feasible else []
    data["hint"] = hint
    return data


@hardware_app.command("check")
def check_geometry(
    model_name: ModelArgument,
    geometry: Annotated[
        str, typer.Argument(metavar="GEOMETRY", help="Canonical geometry text, e.g. '2g.10gb:3,1g.5gb:1'.", show_default=False)
    ],
    existing: Annotated[
        str,
        typer.Option("--existing", "-e", metavar="PROFILE@START,...", help="Instances that already exist, e.g. '1g.5gb@6'."),
    ] = "",
    output: OutputOption = OutputFormat.text,
) -> None:
    """Check that a geometry can be created; show its placements, or which instance cannot be placed.

    Exit 0 when feasible, 1 when not.
    """
    from migctl.hardware.geometry import format_geometry, parse_geometry
    from migctl.hardware.solver import solve

    model, _ = _find_model(model_name)
    try:
        wanted = parse_geometry(geometry)
    except ValueError as exc:
        raise InputError(str(exc), hint="write PROFILE:COUNT joined by commas, e.g. 2g.10gb:3,1g.5gb:1") from None
    placed = _parse_existing(existing, model)
    solution = solve(model, wanted, existing=placed)
    hint = None
    if solution.unplaced and model.profile(solution.unplaced) is None:
        resolution = model.resolve_profile(solution.unplaced)
        if resolution.profile is not None:
            hint = f"did you mean {resolution.profile.name}?"
    canonical = format_geometry(wanted, model)
    data = _check_data(model, canonical, solution, hint)

    def render() -> None:
        shown = canonical or "(empty geometry)"
        if solution.feasible:
            lines = [f"feasible: {shown} on {model.key}", ""]
            instances = [(p, p in solution.existing) for p in solution.layout]
            if instances:
                lines += _layout_drawing(model, instances)
        else:
            lines = [f"infeasible: {shown} on {model.key}", f"  {solution.reason}"]
            if hint:
                lines.append(f"  hint: {hint}")
        _echo(lines)
        for message in solution.warnings:
            warn(message)

    emit(data, output, render)
    if not solution.feasible:
        raise typer.Exit(1)
