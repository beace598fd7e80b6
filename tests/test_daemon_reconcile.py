"""Properties of the pure reconcile decision over random nodes, requests and GPU states."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from migctl.daemon import protocol
from migctl.daemon.engine import GpuInfo
from migctl.daemon.protocol import GpuRef, ProtocolError, State, parse_desired
from migctl.daemon.reconcile import decide, read_request, same_geometry

GEOMETRIES = ["1g.5gb:7", "2g.10gb:3,1g.5gb:1", "1g.5gb:1,2g.10gb:3", "3g.20gb:2", "7g.40gb:1", "", "disabled"]


@st.composite
def scenarios(draw):
    count = draw(st.integers(1, 8))
    gpus = [
        GpuInfo(i, f"GPU-{i:04d}", "NVIDIA A100-SXM4-40GB", draw(st.sampled_from(GEOMETRIES)), interrupted=draw(st.booleans()))
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
    gpus = [GpuInfo(0, "GPU-0", geometry="2g.10gb:3,1g.5gb:1")]
    decision = decide(read_request({"metadata": {"annotations": {protocol.DESIRED: "1g.5gb:1,2g.10gb:3"}}}), gpus)
    assert decision.report.state is State.success
    assert not same_geometry("", "disabled") and same_geometry("disabled", "disabled")


def test_migctl_annotation_wins_over_the_nvidia_label_and_the_label_needs_a_config() -> None:
    from migctl.daemon.migparted import parse_mig_parted_config

    config = parse_mig_parted_config(
        "version: v1\nmig-configs:\n  all-disabled:\n    - devices: all\n      mig-enabled: false\n", "c.yaml")
    labelled = {"metadata": {"labels": {protocol.MIG_CONFIG_LABEL: "all-disabled"}}}
    assert read_request(labelled) is None  # without --mig-parted-config the label is not ours
    request = read_request(labelled, mig_parted=config)
    assert request is not None and request.source == protocol.MIG_CONFIG_LABEL
    decision = decide(request, [GpuInfo(0, "GPU-0", geometry="1g.5gb:7")], mig_parted=config)
    assert dict(decision.targets) == {0: "disabled"}
    both = {"metadata": {"labels": labelled["metadata"]["labels"], "annotations": {protocol.DESIRED: "7g.40gb:1"}}}
    assert read_request(both, mig_parted=config).source == protocol.DESIRED
    unknown = read_request({"metadata": {"labels": {protocol.MIG_CONFIG_LABEL: "nope"}}}, mig_parted=config)
    assert decide(unknown, [GpuInfo(0, "GPU-0")], mig_parted=config).report.state is State.failed
