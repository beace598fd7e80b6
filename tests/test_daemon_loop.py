"""The daemon loop against a real HTTP API server (kmock) and an in-memory engine.

The NVML-backed end-to-end runs are in ``test_daemon_e2e.py``; here the engine is a fake so the
loop's own promises are checked precisely: one change at a time, newest request wins, reports
survive an API outage, retries are spaced, stop finishes the apply in flight.
"""

from __future__ import annotations

import contextlib
import threading
import urllib.request
from collections.abc import Iterator

from daemon_support import FakeEngine, create_node, patch_annotations, wait_for

from migctl import node_protocol as protocol
from migctl.daemon.kube import NodeApi
from migctl.daemon.loop import Daemon, DaemonOptions
from migctl.daemon.metrics import HealthServer
from migctl.node_protocol import State
from migctl.daemon.reconcile import RetryGate, decide, hami_managed, read_request

NODE = "gpu-node-1"
FAST = dict(resync_interval=0.5, backoff_initial=0.05, backoff_max=0.2, retry_base=0.3, retry_max=1.0, shutdown_grace=3)

HAMI_MIG_REGISTER = (
    '[{"id":"GPU-aaa","count":7,"devmem":40960,"devcore":100,"type":"NVIDIA A100-PCIE-40GB","mode":"mig",'
    '"migProfiles":[{"name":"1g.5gb","memoryMB":4864,"core":15,"sliceCount":1,"placements":[{"start":0,"size":1}]}],'
    '"health":true}]'
)


@contextlib.contextmanager
def running(daemon: Daemon) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=daemon.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive(), "the daemon did not stop"


def make_daemon(kube, engine: FakeEngine, **options) -> Daemon:
    api = NodeApi(kube.api_client(), NODE, request_timeout=2)
    return Daemon(api, engine, DaemonOptions(**{**FAST, **options}))


def state_of(kube, observed: str | None = None) -> str | None:
    annotations = kube.annotations(NODE)
    if observed is not None and annotations.get(protocol.OBSERVED) != observed:
        return None
    return annotations.get(protocol.STATE)


# --- pure decision ------------------------------------------------------------------------------


def test_decide_in_sync_needs_no_apply_and_changes_only_differing_gpus() -> None:
    engine = FakeEngine({0: "1g.5gb:7", 1: "disabled"})
    node = {"metadata": {"annotations": {protocol.DESIRED: "1g.5gb:7"}}}
    request = read_request(node)
    decision = decide(request, engine.inventory())
    assert decision.needs_apply and decision.targets == {1: "1g.5gb:7"}
    engine.geometries[1] = "1g.5gb:7"
    decision = decide(request, engine.inventory())
    assert not decision.needs_apply and decision.report.state is State.success


def test_decide_refuses_hami_managed_nodes_unless_allowed() -> None:
    node = {"metadata": {"annotations": {protocol.DESIRED: "7g.40gb:1", "hami.io/node-nvidia-register": HAMI_MIG_REGISTER}}}
    reason = hami_managed(node)
    assert reason is not None and "MigInstanceManager" in reason and "GPU-aaa" in reason
    gpus = FakeEngine({0: "1g.5gb:7"}).inventory()
    assert decide(read_request(node), gpus, hami_reason=reason).report.state is State.refused
    assert decide(read_request(node), gpus, hami_reason=reason, allow_hami_managed=True).needs_apply
    # hami-core nodes (no migProfiles) are not HAMi-managed MIG nodes
    core = HAMI_MIG_REGISTER.replace('"mode":"mig"', '"mode":"hami-core"')
    assert hami_managed({"metadata": {"annotations": {"hami.io/node-nvidia-register": core}}}) is None


def test_decide_reports_invalid_requests_as_failed() -> None:
    node = {"metadata": {"annotations": {protocol.DESIRED: '{"9": "1g.5gb:7"}'}}}
    decision = decide(read_request(node), FakeEngine({0: ""}).inventory())
    assert decision.report.state is State.failed and "no GPU '9'" in (decision.report.message or "")


def test_retry_gate_backs_off_and_resets_on_a_new_request() -> None:
    gate = RetryGate(base=10, cap=25)
    assert gate.allows("a", 0)
    gate.record("a", State.refused, 0)
    assert not gate.allows("a", 9) and gate.allows("a", 10)
    gate.record("a", State.refused, 10)
    assert gate.next_retry_in(10) == 20
    gate.record("a", State.refused, 30)
    assert gate.next_retry_in(30) == 25  # capped
    assert gate.allows("b", 31)
    gate.record("a", State.success, 60)
    assert gate.allows("a", 60)


# --- the loop against the API server ------------------------------------------------------------


def test_apply_reports_applying_then_success_with_events(kube) -> None:
    create_node(kube.api_client(), NODE)
    engine = FakeEngine({0: "disabled", 1: "disabled"})
    engine.release = threading.Event()
    daemon = make_daemon(kube, engine)
    with running(daemon):
        patch_annotations(kube.api_client(), NODE, {protocol.DESIRED: "2g.10gb:3,1g.5gb:1"})
        wait_for(lambda: state_of(kube, "2g.10gb:3,1g.5gb:1") == "applying")
        engine.release.set()
        wait_for(lambda: state_of(kube, "2g.10gb:3,1g.5gb:1") == "success")
    annotations = kube.annotations(NODE)
    assert annotations[protocol.APPLIED] == '{"0":"2g.10gb:3,1g.5gb:1","1":"2g.10gb:3,1g.5gb:1"}'
    assert protocol.MESSAGE not in annotations
    assert annotations[protocol.DESIRED] == "2g.10gb:3,1g.5gb:1"  # read, never rewritten
    assert engine.calls == [{0: "2g.10gb:3,1g.5gb:1", 1: "2g.10gb:3,1g.5gb:1"}]
    reasons = [e["reason"] for e in kube.events()]
    assert reasons.count("MigGeometryApplying") == 1 and reasons.count("MigGeometryApplied") == 1
    assert all(e["involvedObject"]["name"] == NODE and e["involvedObject"]["kind"] == "Node" for e in kube.events())
    assert daemon.metrics.applies == 1


def test_busy_gpu_is_refused_with_the_process_then_retried_when_idle(kube) -> None:
    create_node(kube.api_client(), NODE, {protocol.DESIRED: "7g.40gb:1"})
    engine = FakeEngine({0: "1g.5gb:7"})
    engine.busy = {0}
    with running(make_daemon(kube, engine)):
        wait_for(lambda: state_of(kube, "7g.40gb:1") == "refused")
        assert "in use by PID 4242" in kube.annotations(NODE)[protocol.MESSAGE]
        engine.busy.clear()  # the workload ended; the next retry succeeds
        wait_for(lambda: state_of(kube) == "success")
    assert engine.geometries == {0: "7g.40gb:1"}
    warnings = [e for e in kube.events() if e["type"] == "Warning"]
    assert [e["reason"] for e in warnings] == ["MigGeometryRefused"]  # retries that fail alike add no Events


def test_invalid_request_fails_once_and_is_not_retried(kube) -> None:
    create_node(kube.api_client(), NODE, {protocol.DESIRED: "3g.20gb:banana"})
    engine = FakeEngine({0: ""})
    with running(make_daemon(kube, engine)):
        wait_for(lambda: state_of(kube) == "failed")
        assert "invalid request" in kube.annotations(NODE)[protocol.MESSAGE]
        patch_annotations(kube.api_client(), NODE, {protocol.DESIRED: "3g.20gb:2"})
        wait_for(lambda: state_of(kube, "3g.20gb:2") == "success")
    assert engine.calls == [{0: "3g.20gb:2"}]
    assert protocol.MESSAGE not in kube.annotations(NODE)


def test_hami_managed_node_is_refused(kube) -> None:
    create_node(kube.api_client(), NODE, {protocol.DESIRED: "7g.40gb:1", "hami.io/node-nvidia-register": HAMI_MIG_REGISTER})
    engine = FakeEngine({0: "1g.5gb:7"})
    with running(make_daemon(kube, engine)):
        wait_for(lambda: state_of(kube) == "refused")
    assert "--allow-hami-managed" in kube.annotations(NODE)[protocol.MESSAGE]
    assert engine.calls == []


def test_newer_request_supersedes_and_one_change_at_a_time(kube) -> None:
    create_node(kube.api_client(), NODE)
    engine = FakeEngine({0: "disabled"})
    engine.release = threading.Event()
    with running(make_daemon(kube, engine)):
        patch_annotations(kube.api_client(), NODE, {protocol.DESIRED: "1g.5gb:7"})
        assert engine.entered.wait(5)
        patch_annotations(kube.api_client(), NODE, {protocol.DESIRED: "3g.20gb:2"})
        patch_annotations(kube.api_client(), NODE, {protocol.DESIRED: "7g.40gb:1"})
        wait_for(lambda: state_of(kube, "7g.40gb:1") == "pending")
        assert len(engine.calls) == 1  # nothing else starts while an apply is in flight
        engine.release.set()
        wait_for(lambda: state_of(kube, "7g.40gb:1") == "success")
    # the middle request was superseded before it started: never applied
    assert engine.calls == [{0: "1g.5gb:7"}, {0: "7g.40gb:1"}]
    reasons = [e["reason"] for e in kube.events()]
    assert "MigGeometryPending" in reasons and reasons.count("MigGeometryApplied") == 2


def test_api_outage_mid_apply_then_recovery(kube) -> None:
    create_node(kube.api_client(), NODE)
    engine = FakeEngine({0: "disabled"})
    engine.release = threading.Event()
    daemon = make_daemon(kube, engine)
    with running(daemon):
        patch_annotations(kube.api_client(), NODE, {protocol.DESIRED: "1g.5gb:7"})
        wait_for(lambda: state_of(kube, "1g.5gb:7") == "applying")
        kube.stop_http()  # the API server goes away while the GPUs change
        engine.release.set()
        wait_for(lambda: engine.geometries[0] == "1g.5gb:7")
        wait_for(lambda: daemon.metrics.kube_errors > 0)
        assert kube.annotations(NODE)[protocol.STATE] == "applying"  # nothing could be written
        kube.start_http()
        wait_for(lambda: state_of(kube, "1g.5gb:7") == "success")
        # the watch reconnected: a new request is picked up
        patch_annotations(kube.api_client(), NODE, {protocol.DESIRED: "7g.40gb:1"})
        wait_for(lambda: state_of(kube, "7g.40gb:1") == "success")
    assert engine.geometries == {0: "7g.40gb:1"}


def test_stop_mid_apply_finishes_and_reports_before_returning(kube) -> None:
    create_node(kube.api_client(), NODE, {protocol.DESIRED: "1g.5gb:7"})
    engine = FakeEngine({0: "disabled"})
    engine.release = threading.Event()
    daemon = make_daemon(kube, engine)
    stop = threading.Event()
    thread = threading.Thread(target=daemon.run, args=(stop,), daemon=True)
    thread.start()
    assert engine.entered.wait(5)
    stop.set()  # SIGTERM while the apply is in flight
    thread.join(0.3)
    assert thread.is_alive()  # it does not abandon the GPUs half-changed
    engine.release.set()
    thread.join(5)
    assert not thread.is_alive()
    assert engine.geometries == {0: "1g.5gb:7"}
    assert state_of(kube, "1g.5gb:7") == "success"


def test_mig_parted_label_compatibility(kube, tmp_path) -> None:
    from migctl.config.migparted import parse_mig_parted_config

    config = parse_mig_parted_config(
        "version: v1\nmig-configs:\n  all-1g.5gb:\n    - devices: all\n      mig-enabled: true\n"
        "      mig-devices: {1g.5gb: 7}\n",
        "config.yaml",
    )
    create_node(kube.api_client(), NODE, labels={protocol.MIG_CONFIG_LABEL: "all-1g.5gb"})
    engine = FakeEngine({0: "disabled", 1: "disabled"})
    with running(make_daemon(kube, engine, mig_parted=config)):
        wait_for(lambda: kube.node(NODE)["metadata"]["labels"].get(protocol.MIG_CONFIG_STATE_LABEL) == "success")
    assert engine.geometries == {0: "1g.5gb:7", 1: "1g.5gb:7"}
    assert kube.annotations(NODE)[protocol.OBSERVED] == "all-1g.5gb"


def test_metrics_and_healthz_endpoints(kube) -> None:
    create_node(kube.api_client(), NODE, {protocol.DESIRED: "1g.5gb:7"})
    engine = FakeEngine({0: "disabled"})
    daemon = make_daemon(kube, engine)
    with running(daemon), HealthServer(daemon.metrics, daemon.health, port=0) as server:
        wait_for(lambda: state_of(kube) == "success")
        base = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
            assert response.status == 200 and response.read().startswith(b"ok")
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = response.read().decode()
    assert f'migctl_daemon_applies_total{{node="{NODE}"}} 1' in text
    assert f'migctl_daemon_apply_failures_total{{node="{NODE}"}} 0' in text
    assert f'migctl_daemon_state{{node="{NODE}",state="success"}} 1' in text
    assert "migctl_daemon_last_success_timestamp_seconds" in text
    # prometheus_client writes labels sorted by name: compare the sample, not its spelling
    from prometheus_client.parser import text_string_to_metric_families

    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    info = {"node": NODE, "gpu": "0", "uuid": "GPU-0000", "model": "NVIDIA A100-SXM4-40GB", "geometry": "1g.5gb:7"}
    assert samples[("migctl_daemon_gpu_geometry_info", tuple(sorted(info.items())))] == 1


def test_no_busy_loop_after_a_failed_request_goes_away(kube) -> None:
    create_node(kube.api_client(), NODE, {protocol.DESIRED: "1g.5gb:7"})
    engine = FakeEngine({0: "disabled"})
    engine.fail_next = "injected"
    with running(make_daemon(kube, engine, retry_base=0.05, resync_interval=5)):
        wait_for(lambda: state_of(kube) == "failed")
        patch_annotations(kube.api_client(), NODE, {protocol.DESIRED: None})
        wait_for(lambda: protocol.DESIRED not in kube.annotations(NODE))
        import time

        time.sleep(0.1)
        before = engine.inventory_calls
        time.sleep(0.5)
        assert engine.inventory_calls - before <= 1  # no retry timer left spinning


def test_gpus_unreadable_is_reported_and_retried(kube) -> None:
    create_node(kube.api_client(), NODE, {protocol.DESIRED: "1g.5gb:7"})
    engine = FakeEngine({0: "disabled"})
    engine.unavailable = "NVML is not available: Driver Not Loaded"
    with running(make_daemon(kube, engine, retry_base=0.1, resync_interval=5)):
        wait_for(lambda: state_of(kube) == "failed")
        assert "Driver Not Loaded" in kube.annotations(NODE)[protocol.MESSAGE]
        engine.unavailable = None  # the driver came back: the retry timer picks it up (no Node change)
        wait_for(lambda: state_of(kube) == "success")


class ScriptedApi:
    """A NodeApi stand-in whose watch follows a script, recording the resourceVersions asked for."""

    name = NODE

    def __init__(self, script: list) -> None:
        self.script = script
        self.watched: list[str | None] = []
        self.gets = 0

    def get(self):
        self.gets += 1
        return {"metadata": {"name": NODE, "resourceVersion": f"get{self.gets}"}}

    def patch(self, patch):
        return self.get()

    def event(self, node, reason, message, *, warning=False):
        pass

    def watch(self, resource_version, *, timeout_seconds=300):
        from migctl.daemon.kube import KubeError

        self.watched.append(resource_version)
        step = self.script.pop(0) if self.script else "stop"
        if step == "stop":
            self.stop.set()
            return
        if isinstance(step, Exception):
            raise step
        for version in step:
            yield "MODIFIED", {"metadata": {"name": NODE, "resourceVersion": version}}
        raise KubeError("connection reset")

    def interrupt(self):
        pass


def test_watch_resumes_from_the_last_resource_version_and_relists_on_410() -> None:
    from migctl.daemon.kube import KubeError, WatchExpired

    api = ScriptedApi([["5", "6"], KubeError("refused"), WatchExpired(), ["9"], "stop"])
    daemon = Daemon(api, FakeEngine({}), DaemonOptions(**FAST))
    api.stop = threading.Event()
    daemon.watch_forever(api.stop)
    # first get -> watch from get1; resume from 6 after the break and after the refusal;
    # 410 -> get again -> watch from get2; then from 9
    assert api.watched == ["get1", "6", "6", "get2", "9"]
    assert daemon.metrics.kube_errors == 3


def test_metrics_text_escapes_label_values() -> None:
    from migctl.daemon.metrics import DaemonMetrics, GpuGeometry

    metrics = DaemonMetrics('node"1')
    metrics.set_gpus((GpuGeometry(0, "GPU-a", 'A100 "x"\\y', "1g.5gb:7"),))
    metrics.record(State.failed, now=1700000000.5, changed=False)
    text = metrics.render()
    assert 'node="node\\"1"' in text and 'model="A100 \\"x\\"\\\\y"' in text
    assert 'migctl_daemon_apply_failures_total{node="node\\"1"} 1' in text
    assert "migctl_daemon_last_success_timestamp_seconds" not in text  # never succeeded
    assert text.count("# TYPE") == text.count("# HELP")


def test_a_crashing_step_does_not_end_the_daemon(kube) -> None:
    create_node(kube.api_client(), NODE, {protocol.DESIRED: "1g.5gb:7"})
    engine = FakeEngine({0: "disabled"})
    original, crashes = engine.inventory, []

    def flaky():
        if not crashes:
            crashes.append(1)
            raise RuntimeError("a bug")
        return original()

    engine.inventory = flaky
    with running(make_daemon(kube, engine)):
        wait_for(lambda: state_of(kube, "1g.5gb:7") == "success")  # the resync after the crash gets there
    assert crashes == [1]


def test_legacy_hami_mig_nodes_are_applied_with_a_warning(kube, caplog) -> None:
    legacy = '[{"id":"GPU-old","count":10,"devmem":40960,"devcore":100,"type":"NVIDIA A100-PCIE-40GB","mode":"mig","health":true}]'
    assert hami_managed({"metadata": {"annotations": {"hami.io/node-nvidia-register": legacy}}}) is None
    create_node(kube.api_client(), NODE, {protocol.DESIRED: "7g.40gb:1", "hami.io/node-nvidia-register": legacy})
    engine = FakeEngine({0: "1g.5gb:7"})
    with caplog.at_level("WARNING", logger="migctl.daemon"), running(make_daemon(kube, engine)):
        wait_for(lambda: state_of(kube) == "success")
    assert any("legacy HAMi" in r.getMessage() and "GPU-old" in r.getMessage() for r in caplog.records)


def test_events_the_api_refuses_for_good_are_dropped_not_retried_forever() -> None:
    from migctl.daemon.kube import KubeError
    from migctl.daemon.loop import Backoff, Reporter
    from migctl.daemon.metrics import DaemonMetrics

    class NoEventsApi:
        name = NODE
        patches = 0

        def patch(self, patch):
            self.patches += 1
            return {"metadata": {"name": NODE, "annotations": patch["metadata"]["annotations"]}}

        def event(self, node, reason, message, *, warning=False):
            raise KubeError("HTTP 403 events is forbidden", status=403, transient=False)

    api = NoEventsApi()
    reporter = Reporter(api, DaemonMetrics(NODE), lambda: 0.0, Backoff(1, 1))
    assert reporter.publish({protocol.STATE: "success"}, None, ("MigGeometryApplied", "ok", False))
    assert not reporter.pending and api.patches == 1


def test_a_watch_event_overtaken_by_a_newer_read_is_not_applied() -> None:
    class Api(ScriptedApi):
        def patch(self, patch):
            return {"metadata": {"name": NODE, "resourceVersion": "100"}}

    engine = FakeEngine({0: "disabled"})
    daemon = Daemon(Api([]), engine, DaemonOptions(**FAST))
    newer = {"metadata": {"name": NODE, "resourceVersion": "12", "annotations": {protocol.DESIRED: "7g.40gb:1"}}}
    older = {"metadata": {"name": NODE, "resourceVersion": "11", "annotations": {protocol.DESIRED: "1g.5gb:7"}}}
    daemon.reconcile_once(newer, fresh=True)
    assert daemon.reconcile_once(older) is None
    assert engine.calls == [{0: "7g.40gb:1"}]
