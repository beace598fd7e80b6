"""Placement-solver speed: one ``solve()`` call per geometry, and ``maximal_geometries()`` per model.

    python bench/solver_speed.py [--repeat 2000]

Goal (issue 2): an 8-slot GPU geometry solves in well under a millisecond. The cases include
the ones the exact search works hardest on: infeasible geometries (the solver then searches
again for the instance that cannot be placed) and fragmented existing instances.
"""

from __future__ import annotations

import argparse
import time

from migctl.hardware.catalogue import load_catalogue
from migctl.hardware.geometry import parse_geometry
from migctl.hardware.placement import PlacedInstance
from migctl.hardware.solver import maximal_geometries, solve

CASES = [
    ("a100-40gb", "1g.5gb:7", ()),
    ("a100-40gb", "3g.20gb:1,2g.10gb:1,1g.5gb:2", ()),
    ("a100-40gb", "2g.10gb:3,1g.5gb:1", ()),
    ("a100-40gb", "1g.10gb:3,1g.5gb:2", ()),
    ("a100-40gb", "3g.20gb:2,1g.5gb:1", ()),  # infeasible
    ("a100-40gb", "2g.10gb:2,1g.10gb:1,1g.5gb:3", ()),  # infeasible after a deep search
    ("a100-40gb", "3g.20gb:1", ((0, 1), (1, 1), (5, 1))),  # fragmented: infeasible
    ("h100-80gb", "1g.20gb:2,2g.20gb:1,1g.10gb:2", ()),
    ("rtx-pro-6000-blackwell", "2g.48gb:1,1g.24gb:2", ()),
    ("a30-24gb", "2g.12gb:1,1g.6gb:2", ()),
]


def _per_call(fn, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    catalogue = load_catalogue()
    print(f"{'model':<24}{'geometry (existing)':<44}{'feasible':>9}{'us/solve':>10}")
    worst = 0.0
    for key, text, existing in CASES:
        model = catalogue.model(key)
        wanted = parse_geometry(text)
        placed = [PlacedInstance("1g.5gb", start, size) for start, size in existing]
        feasible = solve(model, wanted, placed).feasible
        seconds = _per_call(lambda: solve(model, wanted, placed), args.repeat)
        worst = max(worst, seconds)
        label = text + (f" ({','.join(f'1g@{s}' for s, _ in existing)})" if existing else "")
        print(f"{key:<24}{label:<44}{str(feasible):>9}{seconds * 1e6:>10.1f}")
    print(f"slowest solve: {worst * 1e6:.1f} us (goal: well under 1000 us)")
    print()
    print(f"{'model':<24}{'maximal geometries':>19}{'ms':>8}")
    for model in catalogue:
        start = time.perf_counter()
        found = maximal_geometries(model)
        print(f"{model.key:<24}{len(found):>19}{(time.perf_counter() - start) * 1000:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
