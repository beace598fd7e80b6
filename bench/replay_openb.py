"""``migctl replay`` on the full openb trace: seconds per variant, pods/s and peak memory.

The openb trace (8,152 tasks) on its 1,213 nodes mapped to A100-40GB with half the nodes in MIG mode,
the example device-config (HAMi 2.9 templates) and HAMi 2.10, as recorded (``--scale-arrivals 1``) and
stressed (``--scale-arrivals 1000000``: every task arrives within ~13 s, so the cluster fills up, pods
wait and the failure paths run). Goal: under 60 s per variant on one core and under 1 GiB.

    .venv/bin/python bench/replay_openb.py [--openb DIR] [--scale 1 1000000] [--version 2.9 2.10] [--no-fgd]

Each variant runs in a fresh process (peak RSS per variant, one core: the replay is single-threaded).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DEFAULT_OPENB = next((p for p in (REPO.parent / "shared" / "data" / "openb",
                                  REPO.parent.parent / "shared" / "data" / "openb") if p.is_dir()),
                     REPO.parent / "shared" / "data" / "openb")


def one(openb: Path, version: str, scale: float, fgd: bool) -> dict:
    from migctl.config.load import load_device_config
    from migctl.replay.openb import parse_node_list, parse_pod_list
    from migctl.replay.run import ClusterInput, Settings, run_variant

    t0 = time.perf_counter()
    trace = parse_pod_list((openb / "openb_pod_list_default.csv").read_text(), "pods")
    nodes = parse_node_list((openb / "openb_node_list_gpu_node.csv").read_text(), "nodes")
    load_s = time.perf_counter() - t0
    config = load_device_config(REPO / "examples" / "device-config.yaml").config
    settings = Settings(device_config=config, config_name="examples/device-config.yaml", hami_version=version,
                        gpu_model="a100-40gb", mig_nodes="50%", scale_arrivals=scale, fgd=fgd)
    t1 = time.perf_counter()
    figures = run_variant(trace, ClusterInput(tuple(nodes)), settings, f"{version} x{scale:g}")
    replay_s = time.perf_counter() - t1
    return {
        "version": version, "scale": scale, "fgd": fgd, "load_s": round(load_s, 2), "replay_s": round(replay_s, 1),
        "pods_per_s": round(len(trace) / replay_s), "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "placed": figures.placed, "waiting": figures.waiting, "alloc_at_first_failure": figures.alloc_at_first_failure,
        "peak_alloc_mem": round(figures.peak_alloc_mem, 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--openb", type=Path, default=DEFAULT_OPENB)
    ap.add_argument("--scale", type=float, nargs="+", default=[1.0, 1e6])
    ap.add_argument("--version", nargs="+", default=["2.9", "2.10"])
    ap.add_argument("--no-fgd", action="store_true")
    ap.add_argument("--one", nargs=2, metavar=("VERSION", "SCALE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not (args.openb / "openb_pod_list_default.csv").is_file():
        print(f"the openb trace is not in {args.openb} (--openb DIR)", file=sys.stderr)
        return 2
    if args.one:
        print(json.dumps(one(args.openb, args.one[0], float(args.one[1]), not args.no_fgd)))
        return 0
    print(f"{'HAMi':5} {'scale':>8} {'replay s':>9} {'pods/s':>7} {'peak RSS':>9} {'placed':>7} {'waiting':>7} "
          f"{'alloc@1st fail':>14}")
    for version in args.version:
        for scale in args.scale:
            cmd = [sys.executable, __file__, "--openb", str(args.openb), "--one", version, str(scale)]
            if args.no_fgd:
                cmd.append("--no-fgd")
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            first = r["alloc_at_first_failure"]
            print(f"{version:5} {scale:>8g} {r['replay_s']:>9} {r['pods_per_s']:>7} {r['peak_rss_mib']:>6} MiB "
                  f"{r['placed']:>7} {r['waiting']:>7} {'-' if first is None else f'{100 * first:.1f}%':>14}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
