"""``migctl advise`` on the openb trace: is the advice worth shipping, and is it found in time?

1. advise config: the trace's 1,213 nodes mapped to A100-40GB, half of them MIG, HAMi v2.9, the
   example device-config as the current design. The search runs within ``--budget`` seconds on
   ``--jobs`` processes (screening candidates on every ``--screen``-th node and task), then the
   current and the advised design are replayed in full. Goal: +5 % pods placed, or 30 % lower
   fragmentation (FGD) at the first failed arrival.
2. advise defrag: a saturated snapshot from the same replay (current design, queueing): the moment
   ``--pending`` sub-GPU pods wait; they are made MIG pods (``nvidia.com/vgpu-mode: mig``) and every
   running pod is owned by a ReplicaSet. ``--max-moves`` moves. Goal: at least half of those pending
   MIG pods placed.

Run from the repository root:  .venv/bin/python bench/advise_quality.py [--part config|defrag|both]
"""

from __future__ import annotations

import argparse
import os
import dataclasses
import heapq
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPENB = Path(os.environ.get("MIGCTL_OPENB", "/work/shared/data/openb"))


def load(args):
    import yaml

    from migctl.config.load import load_device_config
    from migctl.replay.openb import parse_node_list, parse_pod_list

    trace = parse_pod_list((OPENB / "openb_pod_list_default.csv").read_text(), "openb_pod_list_default.csv")
    nodes = parse_node_list((OPENB / "openb_node_list_gpu_node.csv").read_text(), "openb_node_list_gpu_node.csv")
    config_path = ROOT / "examples" / "device-config.yaml"
    config = load_device_config(config_path).config
    document = yaml.safe_load(config_path.read_text())
    return trace, nodes, config, document


def fgd_at(figures, t):
    """FGD of the last sample at or before ``t`` (the first failed arrival)."""
    if t is None:
        return None
    best = None
    for s in figures.series:
        if s.t <= t and s.fgd is not None:
            best = s.fgd
    return best


def part_config(args, trace, nodes, config, document):
    from migctl.advise.config_search import Problem, advise_config
    from migctl.hardware.catalogue import load_catalogue
    from migctl.replay.run import ClusterInput, Settings

    settings = Settings(device_config=config, config_name="examples/device-config.yaml", hami_version="2.9",
                        gpu_model="a100-40gb", mig_nodes="50%", on_fail=args.on_fail,
                        scale_arrivals=args.scale_arrivals)
    problem = Problem(trace, ClusterInput(nodes=tuple(nodes), source="openb"), settings, document, "2.9")
    model = load_catalogue().model("a100-40gb")
    names = [n.name for n in nodes]
    from migctl.replay.cluster import MigNodes

    t0 = time.perf_counter()
    splits = [x for x in args.splits.split(",") if x]
    advice = advise_config(problem, [model], seed=args.seed, jobs=args.jobs, budget_s=args.budget,
                           screen_every=args.screen, clock=time.monotonic, splits=splits,
                           mig_node_names=lambda share: sorted(MigNodes.parse(share).select(names)))
    total = time.perf_counter() - t0
    cur, adv = advice.current, advice.advised
    print(f"advise config: {len(advice.search.tried)} designs tried in {advice.search.elapsed_s:.1f} s "
          f"(stopped: {advice.search.stopped}, screen 1/{args.screen}, jobs {args.jobs}); "
          f"total with the two full replays {total:.1f} s")
    print(f"  advised: {advice.design.describe()}")
    print("| design | placed | dropped | waiting | alloc at first failure | FGD at first failure | mean FGD |")
    print("|---|---|---|---|---|---|---|")
    for name, f in (("current (examples/device-config.yaml, 50% MIG)", cur), ("advised", adv)):
        fgds = [s.fgd for s in f.series if s.fgd is not None]
        aff = "-" if f.alloc_at_first_failure is None else f"{f.alloc_at_first_failure:.3f}"
        ff = fgd_at(f, f.first_failure_t)
        print(f"| {name} | {f.placed} | {f.dropped} | {f.waiting} | {aff} | "
              f"{'-' if ff is None else f'{ff:.4f}'} | {sum(fgds) / len(fgds) if fgds else 0:.4f} |")
    gain = (adv.placed - cur.placed) / cur.placed * 100 if cur.placed else 0.0
    f_cur, f_adv = fgd_at(cur, cur.first_failure_t), fgd_at(adv, adv.first_failure_t)
    frag = (1 - f_adv / f_cur) * 100 if f_cur and f_adv is not None else None
    print(f"  pods placed: {gain:+.2f} % (goal +5 %); FGD at first failure: "
          f"{'-' if frag is None else f'{-frag:+.1f} %'} (goal -30 %)")
    print(f"  validator findings on the advised config: {len(advice.diagnostics)}; "
          f"kept_current (no candidate beats the current design in full): {advice.kept_current}")


def saturate(args, trace, nodes, config):
    """Replay with queueing until ``args.pending`` sub-GPU pods wait; the cluster objects at that moment."""
    from migctl.cluster.model import Cluster
    from migctl.hardware.catalogue import load_catalogue
    from migctl.replay.cluster import GpuModels, MigNodes, node_objects
    from migctl.replay.run import ClusterInput, Settings, prepare
    from migctl.simulate.release import Departures

    settings = Settings(device_config=config, hami_version="2.9", gpu_model="a100-40gb", mig_nodes="50%",
                        scale_arrivals=args.scale_arrivals, fgd=False)
    prepared = prepare(trace, ClusterInput(nodes=tuple(nodes)), settings)
    sim, pods = prepared.simulator, prepared.pods
    departures = Departures(sim)
    k = args.scale_arrivals
    t0 = min(t.arrival for t in trace.tasks)
    arrive = [t0 + (t.arrival - t0) / k for t in trace.tasks]
    order = sorted(range(len(pods)), key=lambda i: (arrive[i], i))
    leaving: list = []
    waiting: dict[int, None] = {}
    results = {}
    seq = 0

    def place(i, now):
        nonlocal seq
        r = departures.place(pods[i])
        if r.scheduled:
            results[i] = r
            d = trace.tasks[i].duration
            if d is not None:
                seq += 1
                heapq.heappush(leaving, (now + d, seq, i))
        return r.scheduled

    def sub_gpu_waiting():
        return [i for i in waiting if trace.tasks[i].ask and trace.tasks[i].ask.num_gpu == 1
                and trace.tasks[i].ask.gpu_milli < 1000]

    for i in order:
        t = arrive[i]
        while leaving and leaving[0][0] <= t:
            _, _, j = heapq.heappop(leaving)
            departures.release(pods[j].key)
            del results[j]
            for w in list(waiting):
                if place(w, t):
                    del waiting[w]
        if not place(i, t):
            waiting[i] = None
        if len(sub_gpu_waiting()) >= args.pending:
            break
    pending_idx = sub_gpu_waiting()[: args.pending]
    catalogue = load_catalogue()
    names = [n.name for n in nodes]
    objects = node_objects(nodes, GpuModels.parse("a100-40gb"), MigNodes.parse("50%").select(names), catalogue, 10)

    def pod_object(spec, annotations, node, phase):
        containers = [{"name": c.name, "resources": {"limits": {k: str(v) for k, v in c.limits.items()},
                                                      "requests": {k: str(v) for k, v in c.requests.items()}}}
                      for c in spec.containers]
        meta = {"name": spec.name, "namespace": spec.namespace, "annotations": dict(annotations),
                "labels": {"app": spec.name},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"rs-{spec.name}",
                                     "uid": f"uid-{spec.name}", "controller": True}]}
        body = {"containers": containers}
        if node:
            body["nodeName"] = node
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": body, "status": {"phase": phase}}

    for i, r in results.items():
        objects.append(pod_object(pods[i], r.annotations, r.node, "Running"))
    pending = []
    for i in pending_idx:
        spec = dataclasses.replace(pods[i], annotations={**pods[i].annotations, "nvidia.com/vgpu-mode": "mig"})
        pending.append(spec)
    return Cluster.from_objects(objects, source="openb saturated"), objects, pending, arrive[i] - t0


def part_defrag(args, trace, nodes, config):
    from migctl.advise.defrag import RunningPod, plan_defrag
    from migctl.hardware.catalogue import load_catalogue
    from migctl.simulate import HamiVersion, SimulationOptions
    from migctl.config.model import scheduler_nvidia_config

    t0 = time.perf_counter()
    cluster, objects, pending, at = saturate(args, trace, nodes, config)
    t1 = time.perf_counter()
    running = [RunningPod.from_object(o) for o in objects if o.get("kind") == "Pod"]
    sched = scheduler_nvidia_config(config)
    options = SimulationOptions(version=HamiVersion("2.9"))
    plan = plan_defrag(cluster, sched, options, running=running, pending=pending, max_moves=args.max_moves,
                       catalogue=load_catalogue(), clock=time.monotonic, deadline=time.monotonic() + args.budget)
    t2 = time.perf_counter()
    mig_gpus_busy = sum(1 for n in cluster.nodes for d in n.devices if d.mode == "mig")
    print(f"advise defrag: snapshot at t={at:.0f} s of the scaled replay: {len(running)} running pods on "
          f"{len(cluster.nodes)} nodes ({mig_gpus_busy} MIG GPUs), {len(pending)} pending MIG pods "
          f"(built in {t1 - t0:.1f} s)")
    print(f"  plan: {len(plan.moves)} move(s) in {len({m.step for m in plan.moves})} step(s), "
          f"{plan.tried} candidates tried in {t2 - t1:.1f} s (stopped: {plan.stopped})")
    print(f"  pending MIG pods placed: {plan.pending_before and len(plan.pending) - plan.pending_before} before -> "
          f"{len(plan.pending) - plan.pending_after} after, of {len(plan.pending)} (goal >= {len(plan.pending) / 2:g})")
    print(f"  FGD (pending shapes): {plan.fgd_before:.4f} -> {plan.fgd_after:.4f}")
    for line in plan.explain[:12]:
        print(f"  {line}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("config", "defrag", "both"), default="both")
    ap.add_argument("--scale-arrivals", type=float, default=20000.0)
    ap.add_argument("--on-fail", choices=("queue", "drop"), default="drop")
    ap.add_argument("--budget", type=float, default=60.0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--screen", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pending", type=int, default=20)
    ap.add_argument("--max-moves", type=int, default=10)
    ap.add_argument("--splits", default="0%,25%,50%,75%,100%", help="MIG shares the search may advise ('' keeps 50%%)")
    args = ap.parse_args(argv)
    if not OPENB.is_dir():
        print(f"the openb trace is not at {OPENB}", file=sys.stderr)
        return 2
    trace, nodes, config, document = load(args)
    if args.part in ("config", "both"):
        part_config(args, trace, nodes, config, document)
    if args.part in ("defrag", "both"):
        part_defrag(args, trace, nodes, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
