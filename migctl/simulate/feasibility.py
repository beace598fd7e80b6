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
    problems = []
    # the verdict is the same for every GPU of one type and geometry: a cluster has few such pairs
    verdicts: dict[tuple[str, object], str | None] = {}
    for node, gpu in gpus:
        geometry = gpu.geometry()
        if not geometry:
            continue
        key = (gpu.type, geometry)
        if key not in verdicts:
            verdicts[key] = _verdict(gpu.type, geometry, catalogue)
        problem = verdicts[key]
        if problem is not None:
            problems.append(f"node {node} GPU {gpu.index} ({gpu.id}): {problem}")
    return problems


def _verdict(gpu_type: str, geometry: Any, catalogue: Any) -> str | None:
    """Why ``geometry`` cannot be created on a GPU of ``gpu_type`` (None: it can)."""
    from migctl.hardware.solver import solve

    match = catalogue.lookup(gpu_type) if catalogue is not None else None
    if match is None:
        return f"GPU type {gpu_type!r} is not in the hardware catalogue; geometry {geometry} was not checked"
    solution = solve(match.model, geometry)
    if not solution.feasible:
        return f"the device plugin could not create geometry {geometry} on {match.model.key}: {solution.reason}"
    return None
