"""The daemon's liveness, readiness and metrics (issue 14): a hung step restarts the pod, metrics are scraped."""

from __future__ import annotations

import contextlib
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

from prometheus_client.parser import text_string_to_metric_families
from daemon_support import FakeEngine, create_node, patch_annotations, wait_for

from migctl import node_protocol as protocol
from migctl.daemon.engine import NvmlEngine
from migctl.daemon.kube import NodeApi
from migctl.daemon.loop import Backoff, Daemon, DaemonOptions
from migctl.daemon.metrics import HealthServer, nvml_operation
from migctl.nvml.fake import FakeNvml, FakeState, parse_faults

NODE = "gpu-node-1"
FAST = dict(resync_interval=0.5, backoff_initial=0.05, backoff_max=0.2, retry_base=60, retry_max=60, shutdown_grace=3)


@contextlib.contextmanager
def serving(kube, engine, **options) -> Iterator[tuple[Daemon, str]]:
    daemon = Daemon(NodeApi(kube.api_client(), NODE, request_timeout=2), engine, DaemonOptions(**{**FAST, **options}))
    stop = threading.Event()
    thread = threading.Thread(target=daemon.run, args=(stop,), daemon=True)
    with HealthServer(daemon.metrics, daemon.health, port=0, ready=daemon.ready) as server:
        thread.start()
        try:
            yield daemon, f"http://127.0.0.1:{server.port}"
        finally:
            stop.set()
            thread.join(15)
    assert not thread.is_alive()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_backoff_has_jitter_and_stays_under_the_cap() -> None:
    low, high = Backoff(1, 8, rand=lambda: 1.0), Backoff(1, 8, rand=lambda: 0.0)
    assert [high.next() for _ in range(5)] == [1, 2, 4, 8, 8]
    assert [low.next() for _ in range(5)] == [0.8, 1.6, 3.2, 6.4, 6.4]
    real = [Backoff(10, 10).next() for _ in range(50)]
    assert all(8 <= d <= 10 for d in real) and len(set(real)) > 1  # daemons do not retry in lockstep


def test_a_hung_reconcile_step_fails_liveness_and_readiness_stays_separate(kube) -> None:
    create_node(kube.api_client(), NODE)
    engine = FakeEngine({0: "disabled"})
    engine.release = threading.Event()
    with serving(kube, engine, stall_timeout=0.5) as (daemon, base):
        wait_for(lambda: get(f"{base}/readyz")[0] == 200)  # the first step (nothing asked) completed
        assert get(f"{base}/healthz")[0] == 200
        patch_annotations(kube.api_client(), NODE, {protocol.DESIRED: "1g.5gb:7"})
        assert engine.entered.wait(5)  # the apply hangs, as a hung NVML call would
        status, body = wait_for(lambda: (r := get(f"{base}/healthz"))[0] == 503 and r)
        assert "stalled" in body and "reconcile step" in body
        assert get(f"{base}/readyz")[0] == 503  # not ready while not live
        engine.release.set()
        wait_for(lambda: get(f"{base}/healthz")[0] == 200)
        wait_for(lambda: kube.annotations(NODE).get(protocol.STATE) == "success")


def test_not_ready_before_the_first_step_but_alive(kube) -> None:
    engine = FakeEngine({0: "disabled"})
    daemon = Daemon(NodeApi(kube.api_client(), NODE, request_timeout=2), engine, DaemonOptions(**FAST))
    assert daemon.health()[0] is True
    ready, message = daemon.ready()
    assert ready is False and "no reconcile step" in message


def test_metrics_histogram_nvml_errors_by_operation_and_process(kube, tmp_path) -> None:
    gpu = {"name": "NVIDIA A100-SXM4-40GB", "mig_current": True, "mig_pending": True, "gpu_instances": []}
    fake = FakeNvml(FakeState.from_dict({"gpus": [gpu]}), faults=parse_faults("create_gpu_instance:2"))
    create_node(kube.api_client(), NODE, {protocol.DESIRED: "3g.20gb:2"})
    with serving(kube, NvmlEngine(state_dir=str(tmp_path), fake=fake)) as (daemon, base):
        wait_for(lambda: kube.annotations(NODE).get(protocol.STATE) == "failed")
        # the report is written inside the step; the step's duration is counted when it returns
        wait_for(lambda: daemon.metrics.reconciles >= 1 and daemon.metrics.failures >= 1)
        status, text = get(f"{base}/metrics")
    assert status == 200
    values = samples(text)
    node = (("node", NODE),)
    assert values[("migctl_daemon_reconcile_duration_seconds_count", node)] >= 1
    assert values[("migctl_daemon_reconcile_duration_seconds_bucket", (("le", "+Inf"), ("node", NODE)))] >= 1
    errors = {dict(labels)["operation"]: v for (name, labels), v in values.items()
              if name == "migctl_daemon_nvml_errors_total"}
    assert errors and all(v >= 1 for v in errors.values()), errors
    assert any(op.startswith("create") and "PROFILE" in op for op in errors), errors
    assert values[("migctl_daemon_apply_failures_total", node)] == 1
    assert values[("process_resident_memory_bytes", ())] > 10 * 2**20
    assert ("process_cpu_seconds_total", ()) in values
    assert ("migctl_daemon_reconcile_errors_total", node) in values


def test_nvml_operation_labels_stay_bounded() -> None:
    assert nvml_operation("create 1g.5gb GPU instance at 3") == "create PROFILE GPU instance at 3"
    assert nvml_operation("list 1g.10gb+me GPU instances") == "list PROFILE GPU instances"
    assert nvml_operation("enable MIG") == "enable MIG"
