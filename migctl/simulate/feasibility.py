"""Would the node be able to create what the scheduler decided? (hami.md §5.1)

HAMi's scheduler trusts ``knownMigGeometries`` blindly: a geometry that does not fit the GPU is
still handed out, and the device plugin fails when ``nvidia-mig-parted apply`` runs at Allocate
time. This checks each legacy geometry the plan puts on a GPU against the hardware catalogue's
exact placement solver, so the simulation can say where the node would fail.
"""

from __future__ import annotations

from typing import Any

from migctl.hardware.geometry import parse_geometry


def geometry_problems(gpus: list[dict[str, Any]], catalogue: Any) -> list[str]:
    """One sentence per GPU whose planned legacy geometry cannot be created on its hardware."""
    from migctl.hardware.solver import solve

    problems = []
    for gpu in gpus:
        text = gpu.get("geometry")
        if not text:
            continue
        match = catalogue.lookup(gpu.get("type", "")) if catalogue is not None else None
        where = f"node {gpu['node']} GPU {gpu['gpu_index']} ({gpu['gpu_uuid']})"
        if match is None:
            problems.append(f"{where}: GPU type {gpu.get('type')!r} is not in the hardware catalogue; "
                            f"geometry {text} was not checked")
            continue
        try:
            wanted = parse_geometry(text)
        except ValueError as exc:
            problems.append(f"{where}: geometry {text} is not valid ({exc})")
            continue
        solution = solve(match.model, wanted)
        if not solution.feasible:
            problems.append(f"{where}: the device plugin could not create geometry {text} on "
                            f"{match.model.key}: {solution.reason}")
    return problems
