"""Throughput of the HAMi scheduler simulation: ``migctl simulate`` end to end, per cluster size.

For each size N: a generated N-node x 8-GPU snapshot (``bench/gen_cluster.py``: half MIG A100-40GB,
half hami-core, HAMi 2.9 with its device ConfigMap, no pods yet) and a pod file of 10 x N pods (the
simulator's mix, ``migctl.simulate.synthetic``: MIG, hami-core, unpinned, exclusive, multi-GPU,
spread-annotated, node-selected, never-fitting and CPU-only); then ``migctl simulate PODS --cluster
SNAPSHOT -o json`` in a fresh process, stdout to /dev/null, and the same with one pod (start-up, reading
the cluster and config: paid once per run). Prints wall time, the process's CPU time
(user + system, from ``wait4``: the machine is shared, wall time alone misleads), pods/s on CPU time
the CPU cost per pod, and that cost net of the one-pod run, so the scaling curve is visible. **Goal: >= 2,500 pods/s, and a flat cost
per pod from 100 to 5,000 nodes.**

    .venv/bin/python bench/simulate_throughput.py [--sizes 100 1000 3000 5000] [--pods-per-node 10]
        [--pod-format yaml|json] [--version 2.10|2.9] [--repeat N] [--keep DIR]
    .venv/bin/python bench/simulate_throughput.py --engine [--nodes 1000] [--pods 10000] [--check N]

``--engine`` runs the engine alone in this process (no file reading, no output), as the first
version of this bench did; ``--check N`` then also runs the simple full-scan reference (every node
evaluated for every pod) on the first N pods and reports whether placements and reasons are
identical (the unit tests do the same on smaller clusters).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from migctl.simulate import HamiVersion, SimulationOptions, Simulator  # noqa: E402
from migctl.simulate.synthetic import (  # noqa: E402
    synthetic_cluster, synthetic_config, synthetic_pod_objects, synthetic_pods,
)


def outcome(result) -> list[tuple]:
    return [(p.node, tuple((a.gpu_id, a.profile, a.slot, a.placement) for a in p.allocations), p.reason)
            for p in result.pods]


def run_engine(version: str, nodes: int, gpus: int, pods: int, check: int) -> bool:
    config = synthetic_config()
    pod_list = synthetic_pods(pods)
    state = synthetic_cluster(nodes, gpus)
    t0, c0 = time.perf_counter(), time.process_time()
    sim = Simulator(state, config, SimulationOptions(version=HamiVersion(version)))
    result = sim.run(pod_list)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    print(f"engine, HAMi {version}: {nodes} nodes x {gpus} GPUs, {len(pod_list)} pods: {elapsed:.2f} s wall, "
          f"{cpu:.2f} s CPU, {len(pod_list) / cpu:,.0f} pods/s (CPU), {result.scheduled} scheduled, "
          f"peak RSS {peak / 2**20:.0f} MiB")
    ok = True
    if check:
        ref_state = synthetic_cluster(nodes, gpus)
        t0 = time.process_time()
        ref = Simulator(ref_state, config, SimulationOptions(version=HamiVersion(version), full_scan=True))
        ref_result = ref.run(pod_list[:check])
        ref_cpu = time.process_time() - t0
        ok = outcome(ref_result) == outcome(result)[:check]
        print(f"  full-scan reference on the first {check} pods: {check / ref_cpu:,.0f} pods/s (CPU); "
              f"placements and reasons {'identical' if ok else 'DIFFER'}")
    return ok


def write_inputs(folder: Path, nodes: int, gpus: int, pods: int, pod_format: str) -> tuple[Path, Path]:
    from gen_cluster import generate, write

    snapshot = folder / f"cluster-{nodes}.json"
    if not snapshot.exists():
        write(snapshot, generate(nodes, gpus, 0, generation="v2.9"), "json")
    pod_file = folder / f"pods-{pods}.{pod_format}"
    if not pod_file.exists():
        objects = synthetic_pod_objects(pods)
        if pod_format == "json":
            pod_file.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
        else:
            import yaml

            dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
            pod_file.write_text(yaml.dump_all(objects, Dumper=dumper, sort_keys=False))
    return snapshot, pod_file


def measure(argv: list[str]) -> tuple[float, float, int, int, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss * 1024, proc.returncode, proc.stderr.decode(errors="replace")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 3000], metavar="NODES")
    parser.add_argument("--pods-per-node", type=int, default=10)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--pod-format", choices=("yaml", "json"), default="yaml")
    parser.add_argument("--version", choices=("2.9", "2.10"), default="2.9")
    parser.add_argument("--output", choices=("json", "text", "yaml"), default="json")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size; the least CPU time is kept")
    parser.add_argument("--keep", type=Path, help="write (and reuse) the inputs in this folder")
    parser.add_argument("--engine", action="store_true", help="time the engine alone, in this process")
    parser.add_argument("--nodes", type=int, default=1000, help="--engine: nodes")
    parser.add_argument("--pods", type=int, default=10000, help="--engine: pods")
    parser.add_argument("--check", type=int, default=0, metavar="N", help="--engine: full-scan reference on N pods")
    args = parser.parse_args()
    if args.engine:
        return 0 if run_engine(args.version, args.nodes, args.gpus, args.pods, args.check) else 1

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"python {sys.version.split()[0]}; migctl simulate -o {args.output}, HAMi {args.version}, "
              f"{args.gpus} GPUs per node, {args.pods_per_node} pods per node ({args.pod_format} pod file); "
              "goal >= 2,500 pods/s and a flat cost per pod")
        print(f"{'nodes':>6}{'pods':>8}{'wall s':>8}{'CPU s':>7}{'pods/s (CPU)':>14}{'µs/pod':>8}"
              f"{'start-up s':>11}{'net µs/pod':>11}{'peak RSS':>10}  exit")
        for nodes in args.sizes:
            pods = nodes * args.pods_per_node
            snapshot, pod_file = write_inputs(folder, nodes, args.gpus, pods, args.pod_format)
            argv = [sys.executable, "-m", "migctl", "simulate", str(pod_file), "--cluster", str(snapshot),
                    "--hami-version", args.version, "-o", args.output]
            runs = [measure(argv) for _ in range(args.repeat)]
            wall, cpu, peak, rc, err = min(runs, key=lambda r: r[1])
            # the same run with one pod: start-up, reading the cluster and the config (paid once per run)
            _, one_pod = write_inputs(folder, nodes, args.gpus, 1, args.pod_format)
            fixed = min(measure(argv[:4] + [str(one_pod)] + argv[5:])[1] for _ in range(args.repeat))
            if rc not in (0, 1):
                print(err, file=sys.stderr)
                return 2
            rate = pods / cpu
            mark = "" if rate >= 2500 else "  below goal"
            net = max(cpu - fixed, 0.0) / max(pods - 1, 1) * 1e6
            print(f"{nodes:>6}{pods:>8}{wall:>8.2f}{cpu:>7.2f}{rate:>14,.0f}{cpu / pods * 1e6:>8.0f}"
                  f"{fixed:>11.2f}{net:>11.0f}{peak / 2**20:>8.0f}Mi  {rc}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
