"""CLI start-up latency: ``migctl --help`` and ``migctl hardware list`` against the import floor.

The floor is ``python -c "import typer, rich, yaml"``: the libraries every migctl run loads
anyway. Goal: each migctl command takes at most 1.3x the floor (README "bench/README.md").

    python bench/cli_latency.py [--runs 15] [--goal 1.3] [--strict]

Runs every command ``--runs`` times, interleaved (so machine noise hits all alike), and prints
the median and minimum wall time of each and the ratios of the medians to the floor's.
Set ``TYPER_USE_RICH=0`` to see the cost of typer's rich help formatting.
``--strict`` exits 1 when a ratio is above the goal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

FLOOR = ("import floor", [sys.executable, "-c", "import typer, rich, yaml"])
# typer >= 0.2x coerces every non-bool parameter through pydantic, imported on first use: this
# is the floor any typer command with an option pays. Shown for reference, not a goal.
TYPER_FLOOR = ("  (+ typer._adapters)", [sys.executable, "-c", "import typer, rich, yaml, typer._adapters"])
COMMANDS = [
    ("migctl --help", [sys.executable, "-m", "migctl", "--help"]),
    ("migctl hardware list", [sys.executable, "-m", "migctl", "hardware", "list"]),
]


def _time_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--goal", type=float, default=1.3)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a ratio is above the goal")
    args = parser.parse_args()

    env = dict(os.environ, COLUMNS="120")
    env.pop("MIGCTL_DEBUG", None)
    import importlib.util

    has_adapters = importlib.util.find_spec("typer._adapters") is not None  # typer 0.29+ only
    everything = [FLOOR] + ([TYPER_FLOOR] if has_adapters else []) + COMMANDS
    for _, argv in everything:  # warm the OS file cache and .pyc files
        _time_once(argv, env)
    samples: dict[str, list[float]] = {name: [] for name, _ in everything}
    for _ in range(args.runs):
        for name, argv in everything:
            samples[name].append(_time_once(argv, env))

    floor = statistics.median(samples[FLOOR[0]])
    print(f"python {sys.version.split()[0]}, {args.runs} runs each, interleaved; goal <= {args.goal:.2f}x the import floor")
    print(f"{'command':<24}{'median ms':>11}{'min ms':>9}{'ratio':>8}")
    worst = 0.0
    for name, _ in everything:
        median = statistics.median(samples[name])
        ratio = median / floor
        reference = name in (FLOOR[0], TYPER_FLOOR[0])
        if not reference:
            worst = max(worst, ratio)
        mark = "" if reference else ("  ok" if ratio <= args.goal else "  ABOVE GOAL")
        print(f"{name:<24}{median * 1000:>11.1f}{min(samples[name]) * 1000:>9.1f}{ratio:>7.2f}x{mark}")
    return 1 if args.strict and worst > args.goal else 0


if __name__ == "__main__":
    sys.exit(main())
