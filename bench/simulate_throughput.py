"""Throughput of the HAMi scheduler simulation: pods placed per second, and peak memory (RSS).

A generated cluster (default 1,000 nodes x 8 GPUs, half MIG A100-40GB, half hami-core) and a mix
of 10,000 pods (MIG, hami-core, unpinned, exclusive, multi-GPU, spread-annotated, node-selected,
CPU-only), placed one after another as ``migctl simulate`` does. Goal: >= 1,000 pods/s on one core.

    .venv/bin/python bench/simulate_throughput.py [--nodes 1000] [--gpus 8] [--pods 10000]
        [--version 2.10|2.9|both] [--check N]

``--check N`` also runs the simple full-scan reference (every node evaluated for every pod) on the
first N pods and reports whether the placements are identical (the unit tests do the same on a
smaller cluster).
"""

from __future__ import annotations

import argparse
import sys
import time
import resource
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from migctl.simulate import HamiVersion, SimulationOptions, Simulator  # noqa: E402
from migctl.simulate.synthetic import synthetic_cluster, synthetic_config, synthetic_pods  # noqa: E402


def placements(result) -> list[tuple]:
    return [(p.node, tuple((a.gpu_id, a.profile, a.slot, a.placement) for a in p.allocations)) for p in result.pods]


def run(version: str, nodes: int, gpus: int, pods: int, check: int) -> bool:
    config = synthetic_config()
    pod_list = synthetic_pods(pods)
    state = synthetic_cluster(nodes, gpus)
    t0 = time.perf_counter()
    sim = Simulator(state, config, SimulationOptions(version=HamiVersion(version)))
    result = sim.run(pod_list)
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    rate = len(pod_list) / elapsed
    print(f"HAMi {version}: {nodes} nodes x {gpus} GPUs, {len(pod_list)} pods: {elapsed:.2f} s, "
          f"{rate:,.0f} pods/s, {result.scheduled} scheduled, {len(pod_list) - result.scheduled} unschedulable, "
          f"peak RSS {peak / 2**20:.0f} MiB (goal >= 1,000 pods/s: {'met' if rate >= 1000 else 'NOT met'})")
    ok = True
    if check:
        ref_state = synthetic_cluster(nodes, gpus)
        t0 = time.perf_counter()
        ref = Simulator(ref_state, config, SimulationOptions(version=HamiVersion(version), full_scan=True))
        ref_result = ref.run(pod_list[:check])
        ref_elapsed = time.perf_counter() - t0
        ok = placements(ref_result) == placements(result)[:check]
        print(f"  full-scan reference on the first {check} pods: {check / ref_elapsed:,.0f} pods/s; "
              f"placements {'identical' if ok else 'DIFFER'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--version", choices=("2.9", "2.10", "both"), default="both")
    parser.add_argument("--check", type=int, default=0, metavar="N")
    args = parser.parse_args()
    versions = ("2.10", "2.9") if args.version == "both" else (args.version,)
    ok = all([run(v, args.nodes, args.gpus, args.pods, args.check) for v in versions])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
