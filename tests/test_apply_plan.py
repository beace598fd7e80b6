"""The pure planner, with a property test over every model of the catalogue."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from migctl.apply.plan import Current, plan_geometry, plan_layout, teardown_writes
from migctl.hardware.catalogue import load_catalogue
from migctl.hardware.placement import PlacedInstance
from migctl.hardware.solver import solve

CATALOGUE = load_catalogue()
MODELS = [m for m in CATALOGUE if m.profiles]


def _a100():
    return CATALOGUE.model("a100-40gb")


def test_unchanged_when_layout_matches():
    current = [Current.of("3g.20gb", 4, 4, 1), Current.of("2g.10gb", 0, 2, 2)]
    plan = plan_geometry(_a100(), current, {"2g.10gb": 1, "3g.20gb": 1})
    assert plan.unchanged and plan.actions == () and plan.writes == 0


def test_keeps_what_fits_and_orders_destroys_first():
    current = [Current.of("1g.5gb", 0, 1, 1), Current.of("1g.5gb", 1, 1, 2), Current.of("3g.20gb", 4, 4, 3)]
    plan = plan_geometry(_a100(), current, {"3g.20gb": 1, "2g.10gb": 2})
    assert plan.feasible
    assert [c.gpu_instance_id for c in plan.keep] == [3]
    assert [a.op for a in plan.actions] == ["destroy", "destroy", "create", "create"]
    assert plan.writes == 8 < teardown_writes(current, 3) == 12


def test_aliases_and_infeasible_reason():
    plan = plan_geometry(_a100(), [], {"3g.20gb": 2, "1g.5gb": 1})
    assert not plan.feasible and not plan.refused
    assert "3g.20gb" in plan.reason or "1g.5gb" in plan.reason
    plan = plan_geometry(_a100(), [], {"9g.99gb": 1})
    assert not plan.feasible and "9g.99gb" in plan.reason


def test_busy_instance_blocks_unless_forced():
    current = [Current.of("1g.5gb", 0, 1, 1, processes=(7,)), Current.of("1g.5gb", 1, 1, 2)]
    plan = plan_geometry(_a100(), current, {"7g.40gb": 1})
    assert plan.refused and [c.gpu_instance_id for c in plan.busy] == [1] and "7" in plan.reason
    forced = plan_geometry(_a100(), current, {"7g.40gb": 1}, force=True)
    assert forced.feasible and len(forced.destroy) == 2
    # busy instance has the right profile but sits where the target cannot keep it
    current = [Current.of("1g.5gb", 3, 1, 1, processes=(7,))]
    plan = plan_geometry(_a100(), current, {"4g.20gb": 1, "1g.5gb": 1})
    assert plan.refused and "move" in plan.reason
    # unknown processes (NVML would not say) count as busy
    plan = plan_geometry(_a100(), [Current.of("1g.5gb", 0, 1, 1, processes=None)], {"7g.40gb": 1})
    assert plan.refused and "unknown" in plan.reason


def test_plan_layout_restores_exactly():
    current = [Current.of("2g.10gb", 0, 2, 5), Current.of("1g.5gb", 6, 1, 6)]
    target = [PlacedInstance("2g.10gb", 0, 2), PlacedInstance("3g.20gb", 4, 4)]
    plan = plan_layout(current, target)
    assert [c.gpu_instance_id for c in plan.keep] == [5]
    assert [c.gpu_instance_id for c in plan.destroy] == [6]
    assert [(p.profile, p.start) for p in plan.create] == [("3g.20gb", 4)]


# ---- property: random current and desired geometries on every model


@st.composite
def scenario(draw):
    model = draw(st.sampled_from(MODELS))
    names = [p.name for p in model.profiles]
    current: list[Current] = []
    for i, name in enumerate(draw(st.lists(st.sampled_from(names), max_size=8))):
        profile = model.profile(name)
        start = draw(st.sampled_from(profile.placement_starts))
        placed = PlacedInstance(name, start, profile.placement_size)
        existing = [c.placed for c in current]
        if any(placed.overlaps(e) for e in existing):
            continue
        if not solve(model, {}, existing=existing + [placed]).feasible:
            continue
        busy = draw(st.booleans()) and draw(st.booleans())
        current.append(Current.of(name, start, profile.placement_size, i + 1, processes=(1000 + i,) if busy else ()))
    desired: dict[str, int] = {}
    for name in draw(st.lists(st.sampled_from(names), max_size=7)):
        desired[name] = desired.get(name, 0) + 1
    force = draw(st.booleans()) and draw(st.booleans())
    return model, current, desired, force


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_plan_reaches_desired_and_never_touches_busy(case):
    model, current, desired, force = case
    plan = plan_geometry(model, current, desired, force=force)
    event("feasible" if plan.feasible else ("refused" if plan.refused else "infeasible"))
    feasible_from_empty = solve(model, desired).feasible
    if not feasible_from_empty:
        assert not plan.feasible and not plan.refused
        return
    if not plan.feasible:
        # only busy instances may stand in the way, and never with --force
        assert plan.refused and not force and plan.busy
        assert all(c.busy for c in plan.busy)
        return
    # 1. the result is exactly the desired geometry, on valid non-overlapping placements
    result = [c.placed for c in plan.keep] + list(plan.create)
    counts: dict[str, int] = {}
    for p in result:
        counts[p.profile] = counts.get(p.profile, 0) + 1
    assert counts == {model.profile(n).name: k for n, k in desired.items()}
    assert solve(model, {}, existing=result).feasible
    for p in plan.create:
        profile = model.profile(p.profile)
        assert p.start in profile.placement_starts and p.size == profile.placement_size
    for a, b in ((a, b) for i, a in enumerate(result) for b in result[i + 1:]):
        assert not a.overlaps(b)
    # 2. keep + destroy partition the current instances; busy ones are never destroyed
    ids = sorted(c.gpu_instance_id for c in plan.keep + plan.destroy)
    assert ids == sorted(c.gpu_instance_id for c in current)
    if not force:
        assert not any(c.busy for c in plan.destroy)
    # 3. never worse than tearing everything down
    assert plan.writes <= teardown_writes(current, sum(desired.values())) or not current


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.key)
def test_every_model_plans_its_full_geometries(model):
    from migctl.hardware.solver import maximal_geometries

    for geometry in maximal_geometries(model)[:5]:
        plan = plan_geometry(model, [], geometry)
        assert plan.feasible and len(plan.create) == sum(geometry.values())


# ---- the same property end to end: engine -> adapter -> pynvml -> simulated NVML


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(scenario())
def test_engine_on_simulator_reaches_desired_and_spares_busy(tmp_path_factory, case):
    from migctl.apply.engine import apply_geometry
    from migctl.nvml.session import open_session
    from migctl.nvml.fake import FakeNvml, FakeState

    model, current, desired, _force = case
    workdir = tmp_path_factory.mktemp("engine")
    data = {"gpus": [{"name": model.nvml_names[0] if model.nvml_names else model.key, "mig_current": True,
                      "gpu_instances": [{"id": c.gpu_instance_id, "profile": c.profile, "start": c.start,
                                         "compute_instances": [{"id": 0, "processes": list(c.processes or ())}]}
                                        for c in current]}]}
    state = FakeState.from_dict(data)
    fake = FakeNvml(state)
    with open_session(fake) as session:
        report = apply_geometry(session, desired, gpu=0, state_dir_path=workdir)
    gpu = report.gpus[0]
    event(gpu.status)
    after = {(gi.profile.name, gi.start) for gi in fake.state.gpus[0].gpu_instances}
    busy = {(c.profile, c.start) for c in current if c.busy}
    assert busy <= after  # an instance with processes is never destroyed
    if gpu.status in ("applied", "unchanged"):
        counts: dict[str, int] = {}
        for name, _ in after:
            counts[name] = counts.get(name, 0) + 1
        assert counts == {model.profile(n).name: k for n, k in desired.items()}
        assert all(len(gi.compute_instances) >= 1 for gi in fake.state.gpus[0].gpu_instances)
    else:
        assert gpu.status in ("refused", "failed")
        assert after == {(c.profile, c.start) for c in current}  # nothing changed
    assert not fake.callback_errors


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(scenario(), st.sampled_from(["create_gpu_instance", "create_compute_instance", "destroy_compute_instance",
                                    "destroy_gpu_instance"]), st.integers(1, 2))
def test_a_fault_anywhere_leaves_the_exact_previous_layout(tmp_path_factory, case, operation, nth):
    from migctl.apply.engine import apply_geometry
    from migctl.nvml.session import open_session
    from migctl.nvml.fake import Fault, FakeNvml, FakeState

    model, current, desired, force = case
    current = [Current.of(c.profile, c.start, c.size, c.gpu_instance_id, ()) for c in current]  # idle: destroys allowed
    data = {"gpus": [{"name": model.nvml_names[0] if model.nvml_names else model.key, "mig_current": True,
                      "gpu_instances": [{"id": c.gpu_instance_id, "profile": c.profile, "start": c.start,
                                         "compute_instances": [{"id": 0}]} for c in current]}]}
    fake = FakeNvml(FakeState.from_dict(data), faults=[Fault(operation, nth)])
    with open_session(fake) as session:
        report = apply_geometry(session, desired, gpu=0, state_dir_path=tmp_path_factory.mktemp("fault"))
    gpu = report.gpus[0]
    event(gpu.status)
    after = sorted((gi.profile.name, gi.start) for gi in fake.state.gpus[0].gpu_instances)
    if gpu.status == "rolled-back":
        assert after == sorted((c.profile, c.start) for c in current)
        assert fake.calls[operation] >= nth
    elif gpu.status in ("applied", "unchanged"):
        assert fake.calls[operation] < nth  # the fault was never reached
    else:
        assert gpu.status == "failed" and after == sorted((c.profile, c.start) for c in current)
    assert all(len(gi.compute_instances) == 1 for gi in fake.state.gpus[0].gpu_instances)
