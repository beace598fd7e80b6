"""How long ``migctl status`` takes, and how much memory, on a 5,000-node / 40,000-GPU / 100,000-pod snapshot.

Generates the snapshot with ``bench/gen_cluster.py`` (once per settings, in a temp directory), then runs
``migctl status --cluster FILE`` in a fresh process per format and repeat, stdout to /dev/null, and prints
wall time, CPU time and peak RSS (``ru_maxrss`` of that child, from ``wait4``). In the same run it times the floor,
``json.load`` of the same data as JSON in a fresh process (``python -c "import json; json.load(...)"``;
for a YAML snapshot its JSON twin is generated too), and prints each run's CPU ratio to it, and the
ratio of ``-o json`` / ``-o yaml`` to plain ``status``. ``--repeat N`` runs N rounds, each the floor then
every output back to back (the shared machine's speed drifts), and prints the median ratios. Goals: text
summary under 5 s and under 1 GiB on one core; ``status`` <= 2x the ``json.load`` floor; ``-o json`` <=
1.2x plain ``status``.

    .venv/bin/python bench/status_scale.py                       # JSON snapshot, v2.9, text output
    .venv/bin/python bench/status_scale.py --snapshot-format yaml --outputs text json
    .venv/bin/python bench/status_scale.py --generation v2.10 --realistic --repeat 3
    .venv/bin/python bench/status_scale.py --snapshot-format yaml --keep /tmp/big.yaml       # keep the file
    .venv/bin/python bench/status_scale.py --snapshot /tmp/big.yaml --yaml-parser exact     # before/after
    .venv/bin/python bench/status_scale.py --snapshot /tmp/big.yaml --twin /tmp/big.json    # with the floor
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from gen_cluster import generate, write  # noqa: E402


#: ``migctl`` with every YAML item read by the exact libyaml path (the reference the line parser is
#: tested against): ``--yaml-parser exact`` shows what the line parser saves.
EXACT_YAML = (
    "import functools, sys; import migctl.yamlio.kube_list as s; "
    "s.yaml_batches = functools.partial(s.yaml_batches, line_parser=False); "
    "from migctl.cli.main import run; sys.argv[0] = 'migctl'; run()"
)


def _child(argv: list[str], stdout: int | None = None) -> tuple[float, float, float, int, bytes]:
    """(wall s, cpu s, peak MiB, exit code, stderr) of one child process, from its own ``wait4`` rusage
    (``RUSAGE_CHILDREN``'s peak would be the largest of every child so far, the floor's included)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, cwd=REPO,
                            env={**os.environ, "COLUMNS": "160"})
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, err


def run_once(snapshot: Path, output: str, yaml_parser: str = "lines") -> tuple[float, float, float, int]:
    """(wall s, cpu s, peak MiB, exit code) of one ``migctl status`` run in a fresh process."""
    program = ["-m", "migctl"] if yaml_parser == "lines" else ["-c", EXACT_YAML]
    with open(os.devnull, "w") as devnull:
        wall, cpu, peak, code, err = _child(
            [sys.executable, *program, "status", "--cluster", str(snapshot), "-o", output], devnull.fileno())
    if code:
        sys.stderr.write(err.decode(errors="replace"))
    return wall, cpu, peak, code


FLOOR = "import json, sys; json.load(open(sys.argv[1], encoding='utf-8'))"


def floor_once(snapshot_json: Path) -> tuple[float, float, float]:
    """(wall s, cpu s, peak MiB) of ``json.load`` of the JSON snapshot in a fresh process."""
    wall, cpu, peak, code, err = _child([sys.executable, "-c", FLOOR, str(snapshot_json)])
    if code:
        raise SystemExit(f"the floor failed: {err.decode(errors='replace')}")
    return wall, cpu, peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--gpus-per-node", type=int, default=8)
    parser.add_argument("--pods", type=int, default=100_000)
    parser.add_argument("--generation", choices=["v2.9", "v2.10"], default="v2.9")
    parser.add_argument("--snapshot-format", choices=["json", "yaml"], default="json")
    parser.add_argument("--realistic", action="store_true", help="kubectl-sized objects (about 4x the bytes)")
    parser.add_argument("--outputs", nargs="+", default=["text"], choices=["text", "wide", "json", "yaml"])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="write the snapshot here (and keep it) instead of a temp dir")
    parser.add_argument("--snapshot", type=Path, help="use this existing snapshot file instead of generating one")
    parser.add_argument("--twin", type=Path, help="with a YAML --snapshot: its data as JSON, for the floor")
    parser.add_argument("--yaml-parser", choices=["lines", "exact"], default="lines",
                        help="exact: read every YAML item with libyaml, as before the line parser")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        twin: Path | None = None
        if args.snapshot:
            snapshot = args.snapshot
            twin = snapshot if snapshot.suffix == ".json" else args.twin
            print(f"snapshot: {snapshot}, {snapshot.stat().st_size / 2**20:.1f} MiB")
        else:
            snapshot = args.keep or Path(tmp) / f"cluster.{args.snapshot_format}"
            start = time.perf_counter()

            def objects():
                return generate(args.nodes, args.gpus_per_node, args.pods, generation=args.generation,
                                realistic=args.realistic)

            write(snapshot, objects(), args.snapshot_format)
            size = snapshot.stat().st_size / 2**20
            print(f"snapshot: {args.nodes} nodes, {args.nodes * args.gpus_per_node} GPUs, {args.pods} pods, "
                  f"{args.generation}, {args.snapshot_format}{' realistic' if args.realistic else ''}, "
                  f"{size:.1f} MiB (generated in {time.perf_counter() - start:.1f} s)")
            if args.snapshot_format == "json":
                twin = snapshot
            else:
                twin = Path(tmp) / "twin.json"
                write(twin, objects(), "json")
        if args.yaml_parser == "exact":
            print("YAML items read by the exact libyaml path (--yaml-parser exact)")
        # The machine is shared and its speed drifts by tens of percent within minutes: each round runs the
        # floor and every output back to back, and each ratio is to the floor of its own round.
        print(f"{'round':5} {'output':8} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9} {'x floor':>8} {'x text':>7}"
              "  goals: text < 5 s, < 1024 MiB, <= 2x floor; json <= 1.2x text")
        failed = False
        ratios: dict[str, list[float]] = {}
        for round_ in range(1, args.repeat + 1):
            floor_cpu = text_cpu = None
            if twin is not None:
                wall, floor_cpu, floor_peak = floor_once(twin)
                print(f"{round_:<5} {'floor':8} {wall:8.2f} {floor_cpu:8.2f} {floor_peak:9.0f} {'':>8} {'':>7}  "
                      f"json.load of the same data as JSON ({twin.stat().st_size / 2**20:.1f} MiB)")
            for output in args.outputs:
                wall, cpu, peak, code = run_once(snapshot, output, args.yaml_parser)
                flag = "" if code == 0 else f"  exit {code}"
                if output == "text" and (wall >= 5 or peak >= 1024):
                    flag += "  over the goal"
                failed = failed or code != 0
                ratio = f"{cpu / floor_cpu:7.2f}x" if floor_cpu else f"{'-':>8}"
                vs_text = f"{cpu / text_cpu:6.2f}x" if text_cpu and output != "text" else f"{'':>7}"
                print(f"{round_:<5} {output:8} {wall:8.2f} {cpu:8.2f} {peak:9.0f} {ratio} {vs_text}{flag}")
                if floor_cpu:
                    ratios.setdefault(f"{output} x floor", []).append(cpu / floor_cpu)
                if text_cpu and output != "text":
                    ratios.setdefault(f"{output} x text", []).append(cpu / text_cpu)
                if output == "text":
                    text_cpu = cpu
        for name, values in ratios.items():
            print(f"median {name}: {statistics.median(values):.2f}x (range {min(values):.2f}-{max(values):.2f}x, "
                  f"{len(values)} rounds)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
