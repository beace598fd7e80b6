"""CLI start-up latency: every command against the import floor of the libraries it needs.

Floors (the libraries a run loads anyway): ``python -c "import typer, rich.console, yaml"`` for every
command, plus ``jsonschema`` for ``validate config`` (it validates against the JSON Schema).
Goals: ``validate config`` <= 1.5x its floor; ``--help``, ``hardware list``, ``hardware check`` <= 1.3x;
the commands that read a cluster (``status``, ``simulate``, ``capacity`` and, where present,
``replay`` / ``advise``) on the small example cluster are shown against the same floor, for reference.

    python bench/cli_latency.py [--runs 15] [--strict]

Each command runs ``--runs`` times, interleaved (machine noise hits all alike). Printed: the median
CPU time (user + system of the child, ``RUSAGE_CHILDREN``: the machine is shared, wall time misleads)
and the median wall time, and the ratio of the CPU medians to the floor's. Bytecode is compiled first and
``PYTHONDONTWRITEBYTECODE`` is cleared for the children: an installed package has its ``.pyc`` files,
and without them every migctl module is compiled on each run (about 60 ms here), which the floor
(site-packages, compiled at install) never pays. ``--strict`` exits 1 when a ratio is above its goal.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
FLOOR = [PY, "-c", "import typer, rich.console, yaml"]
FLOOR_JS = [PY, "-c", "import typer, rich.console, yaml, jsonschema"]
MIGCTL = [PY, "-m", "migctl"]
EXAMPLES = ROOT / "examples"

# (name, argv, floor name, goal or None for reference only)
COMMANDS: list[tuple[str, list[str], str, float | None]] = [
    ("migctl --help", MIGCTL + ["--help"], "floor", 1.3),
    ("hardware list", MIGCTL + ["hardware", "list"], "floor", 1.3),
    ("hardware check", MIGCTL + ["hardware", "check", "a100-40gb", "2g.10gb:3,1g.5gb:1"], "floor", 1.3),
    ("validate config", MIGCTL + ["validate", "config", str(EXAMPLES / "device-config.yaml")], "floor+jsonschema", 1.5),
    ("status", MIGCTL + ["status", "--cluster", str(EXAMPLES / "cluster.yaml")], "floor", None),
    ("simulate", MIGCTL + ["simulate", str(EXAMPLES / "pods.yaml"), "--cluster", str(EXAMPLES / "cluster.yaml")],
     "floor", None),
    ("capacity", MIGCTL + ["capacity", "--cluster", str(EXAMPLES / "cluster.yaml")], "floor", None),
]


def _optional_commands() -> list[tuple[str, list[str], str, float | None]]:
    """``replay`` and ``advise`` where this checkout has them (``--help``: their start-up only)."""
    out = []
    for name in ("replay", "advise"):
        if (ROOT / "migctl" / "cli" / f"{name}.py").exists():
            out.append((f"{name} --help", MIGCTL + [name, "--help"], "floor", 1.3))
    return out


def _time_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a ratio is above its goal")
    args = parser.parse_args()

    env = dict(os.environ, COLUMNS="120")
    env.pop("MIGCTL_DEBUG", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    compileall.compile_dir(str(ROOT / "migctl"), quiet=1)
    floors = {"floor": FLOOR, "floor+jsonschema": FLOOR_JS}
    everything = [(name, argv) for name, argv in floors.items()]
    commands = COMMANDS + _optional_commands()
    everything += [(name, argv) for name, argv, _, _ in commands]
    for _, argv in everything:  # warm the OS file cache
        _time_once(argv, env)
    wall: dict[str, list[float]] = {name: [] for name, _ in everything}
    cpu: dict[str, list[float]] = {name: [] for name, _ in everything}
    for _ in range(args.runs):
        for name, argv in everything:
            w, c = _time_once(argv, env)
            wall[name].append(w)
            cpu[name].append(c)

    print(f"python {sys.version.split()[0]}, {args.runs} runs each, interleaved; medians; ratio = CPU / floor CPU")
    print(f"{'command':<22}{'CPU ms':>8}{'wall ms':>9}{'floor':>18}{'ratio':>8}  goal")
    for name in floors:
        print(f"{name:<22}{statistics.median(cpu[name]) * 1000:>8.0f}{statistics.median(wall[name]) * 1000:>9.0f}")
    missed = False
    for name, _, floor, goal in commands:
        ratio = statistics.median(cpu[name]) / statistics.median(cpu[floor])
        if goal is None:
            mark = "(reference)"
        elif ratio <= goal:
            mark = f"<= {goal}x ok"
        else:
            mark, missed = f"<= {goal}x ABOVE GOAL", True
        print(f"{name:<22}{statistics.median(cpu[name]) * 1000:>8.0f}{statistics.median(wall[name]) * 1000:>9.0f}"
              f"{floor:>18}{ratio:>7.2f}x  {mark}")
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())
