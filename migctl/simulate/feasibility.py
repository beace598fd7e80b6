"""Would the node be able to create what the scheduler decided? (HAMi v2.9.0 plugin/server.go, nvidia-mig-parted)

HAMi's scheduler trusts ``knownMigGeometries`` blindly: a geometry that does not fit the GPU is
still handed out, and the device plugin fails when ``nvidia-mig-parted apply`` runs at Allocate
time. This checks each legacy geometry the plan puts on a GPU against the hardware catalogue's
exact placement solver, so the simulation can say where the node would fail.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from migctl.simulate.state import Gpu


def geometry_problems(gpus: Iterable[tuple[str, Gpu]], catalogue: Any) -> list[str]:
    """One sentence per GPU (``(node, gpu)``) whose planned legacy geometry cannot be created on its hardware."""
    from migctl.hardware.solver import solve

    problems = []
    for node, gpu in gpus:
        geometry = gpu.geometry()
        if not geometry:
            continue
        match = catalogue.lookup(gpu.type) if catalogue is not None else None
        where = f"node {node} GPU {gpu.index} ({gpu.id})"
        if match is None:
            problems.append(f"{where}: GPU type {gpu.type!r} is not in the hardware catalogue; "
                            f"geometry {geometry} was not checked")
            continue
        solution = solve(match.model, geometry)
        if not solution.feasible:
            problems.append(f"{where}: the device plugin could not create geometry {geometry} on "
                            f"{match.model.key}: {solution.reason}")
    return problems
