"""Speed of ``migctl capacity``: headroom for 8 shapes (now and on the empty cluster) plus fragmentation.

A generated cluster (default 1,000 nodes x 8 GPUs, half MIG A100-40GB, half hami-core,
``migctl.simulate.synthetic``) is filled to about half its GPU memory with the simulator's pod mix; then
the library computes what ``migctl capacity`` reports, on one core (CPU time of this process, so a
busy shared machine does not inflate the figures). Goal: under 10 s, and within 3x of
one ``simulate`` pass over the same number of pods (the pods that half-fill the cluster, the baseline
printed first).

    .venv/bin/python bench/capacity_scale.py [--nodes 1000] [--gpus 8] [--version 2.9|2.10|both]
        [--check-exact SHAPES]

``--check-exact K`` also counts the first K shapes by the definition (repeated placement, one
``Simulator.place`` per pod, on the full cluster) and reports whether the answers are identical and how
long the definition takes (the per-shape pass the fast paths replace).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from migctl.capacity.fragmentation import FragmentationCache, cluster_fragmentation  # noqa: E402
from migctl.capacity.headroom import copy_state, headroom  # noqa: E402
from migctl.capacity.shapes import Shape  # noqa: E402
from migctl.simulate import HamiVersion, SimulationOptions, Simulator  # noqa: E402
from migctl.simulate.synthetic import synthetic_cluster, synthetic_config, synthetic_pods  # noqa: E402

SHAPES = [
    "gpu=1,gpumem=4864,mode=mig", "gpu=1,gpumem=9984,mode=mig", "gpu=1,gpumem=19968,mode=mig",
    "gpu=1,gpumem=40192,mode=mig", "gpu=1,gpumem=10240,cores=25,mode=hami-core",
    "gpu=1,gpumem=20480,cores=50,mode=hami-core", "gpu=1,gpumem=40960,cores=100,mode=hami-core",
    "gpu=2,gpumem=8000,cores=20,mode=hami-core",
]


def half_full(nodes: int, gpus: int, options: SimulationOptions) -> tuple:
    """The cluster with pods placed until half its GPU memory is used: (state, pods placed, seconds)."""
    state = synthetic_cluster(nodes, gpus)
    total = sum(g.totalmem for n in state.nodes.values() for g in n.gpus)
    sim = Simulator(state, synthetic_config(), options)
    used = 0
    count = 0
    t0 = time.process_time()
    for pod in synthetic_pods(nodes * gpus * 10, seed=3):
        r = sim.place(pod)
        count += 1
        used += sum(a.memory_mib for a in r.allocations)
        if used >= total / 2:
            break
    return state, count, time.process_time() - t0


def empty_of(state):
    out = copy_state(state)
    for node in out.nodes.values():
        for g in node.gpus:
            g.used = g.usedmem = g.usedcores = 0
            g.usage_list, g.mig_index, g.allocations = [], -1, []
    return out


def run(version: str, nodes: int, gpus: int, check: int) -> bool:
    options = SimulationOptions(version=HamiVersion(version))
    config = synthetic_config()
    state, pods, fill_s = half_full(nodes, gpus, options)
    empty = empty_of(state)
    shapes = [(Shape.parse(s), 1.0) for s in SHAPES]
    print(f"HAMi {version}: {nodes} nodes x {gpus} GPUs half full: one simulate pass over its {pods:,} pods "
          f"took {fill_s:.2f} s")
    t0 = time.process_time()
    rows = []
    for shape, _ in shapes:
        t = time.process_time()
        now = headroom(state, config, options, shape)
        emp = headroom(empty, config, options, shape)
        rows.append((shape, now, emp, time.process_time() - t))
    t = time.process_time()
    frag = cluster_fragmentation(state, config, options, shapes, cache=FragmentationCache())
    frag_s = time.process_time() - t
    elapsed = time.process_time() - t0
    for shape, now, emp, secs in rows:
        print(f"  {str(shape):45s} fits now {now.fits:6,}  empty {emp.fits:6,}  {now.method:8s} {secs:5.2f} s")
    print(f"  fragmentation: fgd {frag.fgd:.3f}, {frag.stranded_mib / 1024:,.0f} of {frag.free_mib / 1024:,.0f} GiB "
          f"free stranded, {frag_s:.2f} s")
    # one more placement, then the fragmentation again with the cache (what a replay pays per event)
    cache = FragmentationCache()
    busy = copy_state(state)
    cluster_fragmentation(busy, config, options, shapes, cache=cache)
    sim = Simulator(busy, config, options)
    extra = synthetic_pods(200, seed=99)
    t = time.process_time()
    for pod in extra:
        sim.place(pod)
        cluster_fragmentation(busy, config, options, shapes, cache=cache)
    per_event = (time.process_time() - t) / len(extra)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    ratio = elapsed / fill_s
    print(f"  total {elapsed:.2f} s (goal < 10 s: {'met' if elapsed < 10 else 'NOT met'}), {ratio:.1f}x the simulate "
          f"pass (goal <= 3x: {'met' if ratio <= 3 else 'NOT met'}); fragmentation after each placement with the "
          f"cache: {per_event * 1000:.1f} ms per event (placement included); peak RSS {peak / 2**20:.0f} MiB")
    ok = True
    for shape, now, _, secs in rows[:check]:
        t = time.process_time()
        slow = headroom(state, config, options, shape, method="repeat")
        slow_s = time.process_time() - t
        same = (slow.fits, slow.by_node, slow.next_failure) == (now.fits, now.by_node, now.next_failure)
        ok &= same
        print(f"  exact check {shape}: repeated placement {slow.fits:,} pods in {slow_s:.2f} s "
              f"({slow.fits / max(slow_s, 1e-9):,.0f} pods/s) vs {secs:.2f} s: {'identical' if same else 'DIFFER'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--version", choices=["2.9", "2.10", "both"], default="both")
    parser.add_argument("--check-exact", type=int, default=0, metavar="K")
    args = parser.parse_args()
    ok = True
    for version in (["2.10", "2.9"] if args.version == "both" else [args.version]):
        ok &= run(version, args.nodes, args.gpus, args.check_exact)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
