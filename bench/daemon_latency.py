"""How fast the node daemon answers, and what one reconcile decision costs.

1. ``decide``: the pure decision for a node of N GPUs (parse the annotation, compare every GPU).
2. End to end: annotation patched with the real ``kubernetes`` client against kmock → the daemon
   (in-process, real threads, watch) → the NVML engine over the simulated NVML (lock, journal)
   → ``migctl.io/geometry-state: success`` visible on the Node. Requests alternate between two
   geometries so every one really changes the GPUs.
3. Memory: the outbox stays bounded while the API server is down (reports are collapsed).

    .venv/bin/python bench/daemon_latency.py [--gpus 8] [--requests 20]

Goal: an answer within 1 s of the annotation on an 8-GPU node (the simulated NVML costs nothing,
so this measures migctl's own overhead: watch, plan, journal, reports).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def bench_decide(gpus: int, rounds: int) -> None:
    from migctl.daemon.contract import GpuState
    from migctl.daemon.reconcile import decide, read_request

    inventory = [GpuState(i, f"GPU-{i:04d}", "NVIDIA A100-SXM4-40GB", "1g.5gb:7") for i in range(gpus)]
    node = {"metadata": {"annotations": {"migctl.io/geometry": '{"*": "2g.10gb:3,1g.5gb:1", "0": "7g.40gb:1"}'}}}
    start = time.perf_counter()
    for _ in range(rounds):
        decide(read_request(node), inventory)
    per = (time.perf_counter() - start) / rounds
    print(f"decide ({gpus} GPUs): {per * 1e6:.0f} µs per decision ({rounds} rounds)")


def bench_end_to_end(gpus: int, requests: int) -> list[float]:
    from daemon_support import create_node, patch_annotations
    from kube_emulator import KubeEmulator

    from migctl import node_protocol as protocol
    from migctl.daemon.engine import NvmlEngine
    from migctl.daemon.kube import NodeApi
    from migctl.daemon.loop import Daemon, DaemonOptions
    from migctl.nvml.fake import FakeNvml, FakeState

    fake = FakeNvml(FakeState.from_spec(f"NVIDIA A100-SXM4-40GB:{gpus}"))
    kube = KubeEmulator()
    latencies: list[float] = []
    engine_seconds: list[float] = []
    try:
        create_node(kube.api_client(), "bench-node")
        with tempfile.TemporaryDirectory() as state:
            engine = NvmlEngine(state_dir=state, fake=fake)
            daemon = Daemon(NodeApi(kube.api_client(), "bench-node"), engine, DaemonOptions(resync_interval=30))
            stop = threading.Event()
            thread = threading.Thread(target=daemon.run, args=(stop,), daemon=True)
            thread.start()
            admin = kube.api_client()
            for i in range(requests):
                desired = "2g.10gb:3,1g.5gb:1" if i % 2 == 0 else "3g.20gb:2"
                started = time.perf_counter()
                patch_annotations(admin, "bench-node", {protocol.DESIRED: desired})
                while protocol.answer_for(kube.annotations("bench-node"), desired) is None:
                    if time.perf_counter() - started > 30:
                        raise SystemExit(f"no answer to {desired!r} within 30 s")
                    time.sleep(0.002)
                latencies.append(time.perf_counter() - started)
                engine_seconds.append(daemon.metrics.last_apply_seconds or 0.0)
            stop.set()
            thread.join(10)
    finally:
        kube.close()
    latencies_in_order = list(latencies)
    latencies.sort()
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
    print(f"annotation -> success ({gpus} GPUs, {requests} requests): median {statistics.median(latencies) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")
    overhead = [total - engine for total, engine in zip(latencies_in_order, engine_seconds)]
    print(f"  of which the apply engine (plan, NVML, journal fsyncs): median {statistics.median(engine_seconds) * 1000:.0f} ms; "
          f"the daemon's own part (watch, decide, reports): median {statistics.median(overhead) * 1000:.0f} ms")
    return latencies


def bench_outbox_memory(reports: int) -> None:
    from migctl.daemon.kube import KubeError
    from migctl.daemon.loop import Backoff, Reporter
    from migctl.daemon.metrics import DaemonMetrics
    from migctl.node_protocol import Report, State

    class DownApi:
        name = "n"

        def patch(self, patch):
            raise KubeError("connection refused")

        def event(self, *a, **k):
            raise KubeError("connection refused")

    clock = [0.0]
    reporter = Reporter(DownApi(), DaemonMetrics("n"), lambda: clock[0], Backoff(0.0, 0.0))
    tracemalloc.start()
    for i in range(reports):
        report = Report(State.failed, f"request-{i}", {0: "1g.5gb:7"}, f"failure {i}")
        reporter.publish(report.to_annotations(), None, ("MigGeometryFailed", f"failure {i}" * 10, True))
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"outbox during an outage after {reports} reports: {current / 1024:.0f} KiB held, peak {peak / 1024:.0f} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--strict", action="store_true", help="exit 1 when the median is above 1 s")
    args = parser.parse_args()
    import logging

    logging.getLogger("migctl").setLevel(logging.CRITICAL)  # the outage part logs every failed write
    bench_decide(args.gpus, 2000)
    latencies = bench_end_to_end(args.gpus, args.requests)
    bench_outbox_memory(10000)
    if args.strict and statistics.median(latencies) > 1.0:
        sys.exit(1)


if __name__ == "__main__":
    main()
