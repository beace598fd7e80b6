"""Properties of the pure reconcile decision over random nodes, requests and GPU states."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from migctl import node_protocol as protocol
from migctl.daemon.contract import GpuState
from migctl.node_protocol import GpuRef, ProtocolError, State, parse_desired
from migctl.daemon.reconcile import decide, read_request, same_geometry

GEOMETRIES = ["1g.5gb:7", "2g.10gb:3,1g.5gb:1", "1g.5gb:1,2g.10gb:3", "3g.20gb:2", "7g.40gb:1", "", "disabled"]


@st.composite
def scenarios(draw):
    count = draw(st.integers(1, 8))
    gpus = [
        GpuState(i, f"GPU-{i:04d}", "NVIDIA A100-SXM4-40GB", draw(st.sampled_from(GEOMETRIES)), interrupted=draw(st.booleans()))
        for i in range(count)
    ]
    selectors = st.one_of(st.integers(0, 9).map(str), st.sampled_from(["*"] + [g.uuid for g in gpus]))
    desired = draw(
        st.one_of(
            st.sampled_from(GEOMETRIES[:-2] + ["disabled", "bogus:1"]),
            st.dictionaries(selectors, st.sampled_from(GEOMETRIES), min_size=1, max_size=4).map(json.dumps),
        )
    )
    return gpus, desired, draw(st.booleans()), draw(st.booleans())


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_decide_is_total_and_consistent(scenario) -> None:
    gpus, text, hami, allow = scenario
    node = {"metadata": {"annotations": {protocol.DESIRED: text}}}
    request = read_request(node)
    assert request is not None and request.observed == text
    decision = decide(request, gpus, hami_reason="HAMi owns it" if hami else None, allow_hami_managed=allow)
    report = decision.report
    assert report.observed == text
    assert dict(report.applied) == {g.index: g.geometry for g in gpus}  # what is in place, before any change
    try:
        wanted = parse_desired(text).targets([GpuRef(g.index, g.uuid) for g in gpus])
    except ProtocolError:
        assert report.state is State.failed and not decision.needs_apply and "invalid request" in report.message
        return
    by_index = {g.index: g for g in gpus}
    differing = {i: t for i, t in wanted.items() if by_index[i].interrupted or not same_geometry(by_index[i].geometry, t)}
    if not differing:
        assert report.state is State.success and not decision.needs_apply
    elif hami and not allow:
        assert report.state is State.refused and not decision.needs_apply and report.message == "HAMi owns it"
    else:
        assert report.state is State.applying and dict(decision.targets) == differing


def test_equal_geometries_in_any_order_need_no_apply() -> None:
    gpus = [GpuState(0, "GPU-0", geometry="2g.10gb:3,1g.5gb:1")]
    decision = decide(read_request({"metadata": {"annotations": {protocol.DESIRED: "1g.5gb:1,2g.10gb:3"}}}), gpus)
    assert decision.report.state is State.success
    assert not same_geometry("", "disabled") and same_geometry("disabled", "disabled")


def test_migctl_annotation_wins_over_the_nvidia_label_and_the_label_needs_a_config() -> None:
    from migctl.config.migparted import parse_mig_parted_config

    config = parse_mig_parted_config(
        "version: v1\nmig-configs:\n  all-disabled:\n    - devices: all\n      mig-enabled: false\n", "c.yaml")
    labelled = {"metadata": {"labels": {protocol.MIG_CONFIG_LABEL: "all-disabled"}}}
    assert read_request(labelled) is None  # without --mig-parted-config the label is not ours
    request = read_request(labelled, mig_parted=config)
    assert request is not None and request.source == protocol.MIG_CONFIG_LABEL
    decision = decide(request, [GpuState(0, "GPU-0", geometry="1g.5gb:7")], mig_parted=config)
    assert dict(decision.targets) == {0: "disabled"}
    both = {"metadata": {"labels": labelled["metadata"]["labels"], "annotations": {protocol.DESIRED: "7g.40gb:1"}}}
    assert read_request(both, mig_parted=config).source == protocol.DESIRED
    unknown = read_request({"metadata": {"labels": {protocol.MIG_CONFIG_LABEL: "nope"}}}, mig_parted=config)
    assert decide(unknown, [GpuState(0, "GPU-0")], mig_parted=config).report.state is State.failed


# --- the reconcile step as a state machine: admin edits, busy GPUs, NVML faults, API outages ---------

import copy  # noqa: E402

from hypothesis.stateful import RuleBasedStateMachine, invariant, rule  # noqa: E402
from daemon_support import FakeEngine  # noqa: E402

from migctl.daemon.kube import KubeError  # noqa: E402
from migctl.daemon.loop import Daemon, DaemonOptions  # noqa: E402

REQUESTS = ["1g.5gb:7", "3g.20gb:2", "7g.40gb:1", "disabled", '{"0":"2g.10gb:3,1g.5gb:1"}', '{"1":"1g.5gb:7","*":"3g.20gb:2"}',
            "bogus"]


class FlakyNodeApi:
    """An in-memory Node behind an API that can be down; merge patches like the API server."""

    name = "n1"

    def __init__(self) -> None:
        self.node = {"metadata": {"name": "n1", "annotations": {}}}
        self.down = False
        self.events: list[str] = []

    def _check(self) -> None:
        if self.down:
            raise KubeError("connection refused")

    def get(self):
        self._check()
        return copy.deepcopy(self.node)

    def patch(self, patch):
        self._check()
        annotations = self.node["metadata"]["annotations"]
        for key, value in patch["metadata"].get("annotations", {}).items():
            if value is None:
                annotations.pop(key, None)
            else:
                annotations[key] = value
        return copy.deepcopy(self.node)

    def event(self, node, reason, message, *, warning=False):
        self._check()
        self.events.append(reason)

    def watch(self, *a, **k):  # pragma: no cover - the machine drives reconcile_once directly
        return iter(())

    def interrupt(self):
        pass


class DaemonMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.api = FlakyNodeApi()
        self.engine = FakeEngine({0: "disabled", 1: "disabled"})
        self.now = 0.0
        self.daemon = Daemon(self.api, self.engine, DaemonOptions(retry_base=10, retry_max=10), clock=lambda: self.now)

    @rule(text=st.sampled_from(REQUESTS))
    def admin_sets(self, text):
        self.api.node["metadata"]["annotations"][protocol.DESIRED] = text

    @rule(gpu=st.sampled_from([0, 1]))
    def toggle_busy(self, gpu):
        self.engine.busy ^= {gpu}

    @rule()
    def nvml_fault_next(self):
        self.engine.fail_next = "injected NVML fault"

    @rule()
    def api_flaps(self):
        self.api.down = not self.api.down

    @rule(seconds=st.sampled_from([0.0, 5.0, 11.0]))
    def time_passes(self, seconds):
        self.now += seconds

    @rule(fresh=st.booleans())
    def step(self, fresh):
        snapshot = copy.deepcopy(self.api.node)  # what the watch last delivered
        try:
            self.daemon.reconcile_once(None if fresh else snapshot)
        except KubeError:
            assert self.api.down and fresh

    @invariant()
    def a_success_report_is_true(self):
        annotations = self.api.node["metadata"]["annotations"]
        if annotations.get(protocol.STATE) != "success" or self.daemon.reporter.pending:
            return
        applied = json.loads(annotations[protocol.APPLIED])
        assert applied == {str(i): g for i, g in self.engine.geometries.items()}

    def teardown(self):
        # Everything heals: the daemon must end up answering the newest request truthfully.
        self.api.down, self.engine.busy, self.engine.fail_next = False, set(), None
        self.now += 1000
        for _ in range(2):
            self.daemon.reconcile_once()
        annotations = self.api.node["metadata"]["annotations"]
        desired = annotations.get(protocol.DESIRED)
        if desired is None:
            return
        assert annotations[protocol.OBSERVED] == desired
        if desired == "bogus":
            assert annotations[protocol.STATE] == "failed"
            return
        assert annotations[protocol.STATE] == "success", annotations
        wanted = parse_desired(desired).targets([GpuRef(0, "GPU-0000"), GpuRef(1, "GPU-0001")])
        assert all(same_geometry(self.engine.geometries[i], g) for i, g in wanted.items())
        assert protocol.MESSAGE not in annotations


DaemonMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
test_daemon_state_machine = DaemonMachine.TestCase
