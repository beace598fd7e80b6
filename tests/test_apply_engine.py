"""The apply engine through pynvml on the simulated NVML (pynvml's own marshalling runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from migctl.apply.engine import apply_geometry
from migctl.apply.journal import Journal
from migctl.apply.plan import teardown_writes
from migctl.errors import ExitCode
from migctl.nvml.session import open_session
from migctl.nvml.fake import FakeNvml, FakeState, parse_faults, reset_gpu

REPO = Path(__file__).resolve().parent.parent
A100 = "NVIDIA A100-SXM4-40GB"


@pytest.fixture
def node(tmp_path):
    """``node(spec)`` -> a FakeNvml whose state lives in a file under tmp_path."""

    def make(spec: str = f"{A100}:1") -> FakeNvml:
        path = tmp_path / "nvml.json"
        FakeState.from_spec(spec).save(path)
        return FakeNvml(FakeState.load(path), path=path)

    return make


def layout(fake: FakeNvml, index: int = 0) -> list[tuple[str, int, int]]:
    fake.reload()
    return sorted((gi.profile.name, gi.start, gi.size) for gi in fake.state.gpus[index].gpu_instances)


def apply(fake: FakeNvml, desired, tmp_path, **kw):
    with open_session(fake) as session:
        return apply_geometry(session, desired, gpu=kw.pop("gpu", 0), state_dir_path=tmp_path / "state", **kw)


def test_fresh_apply_creates_with_placements(node, tmp_path):
    fake = node()
    report = apply(fake, "3g.20gb:1,2g.10gb:1,1g.5gb:2", tmp_path)
    gpu = report.gpus[0]
    assert gpu.status == "applied" and report.exit_code == 0
    assert gpu.before == "" and gpu.after == "3g.20gb:1,2g.10gb:1,1g.5gb:2"
    assert [a.op for a in gpu.actions] == ["create"] * 4
    assert layout(fake) == [("1g.5gb", 2, 1), ("1g.5gb", 3, 1), ("2g.10gb", 0, 2), ("3g.20gb", 4, 4)]
    # every GI got exactly one full compute instance with a MIG UUID
    assert all(len(gi.compute_instances) == 1 for gi in fake.state.gpus[0].gpu_instances)
    assert fake.writes == 8 == gpu.writes
    assert not (tmp_path / "state" / f"journal-{gpu.uuid}.json").exists()


def test_reapply_makes_no_nvml_write(node, tmp_path):
    fake = node()
    apply(fake, "2g.10gb:3,1g.5gb:1", tmp_path)
    writes, calls = fake.writes, dict(fake.calls)
    report = apply(fake, "1g.5gb:1,2g.10gb:3", tmp_path)  # same geometry, other order
    assert report.gpus[0].status == "unchanged"
    assert report.gpus[0].actions == () and report.gpus[0].writes == 0
    assert fake.writes == writes
    assert fake.calls == calls  # not even a failed write was attempted


def test_change_keeps_instances_that_fit(node, tmp_path):
    fake = node()
    apply(fake, "3g.20gb:1,2g.10gb:1,1g.5gb:2", tmp_path)
    before = layout(fake)
    with open_session(fake) as s:
        from migctl.apply.engine import current_instances

        current = current_instances(s.gpu(0))
    fake.writes = 0
    report = apply(fake, "3g.20gb:1,2g.10gb:2", tmp_path)
    gpu = report.gpus[0]
    assert gpu.status == "applied" and gpu.after == "3g.20gb:1,2g.10gb:2"
    # the 3g.20gb at 4 and the 2g.10gb at 0 stay; the two 1g go, one 2g comes
    assert ("3g.20gb", 4, 4) in before and ("3g.20gb", 4, 4) in layout(fake)
    assert ("2g.10gb", 0, 2) in layout(fake)
    assert [a.op for a in gpu.actions] == ["destroy", "destroy", "create"]
    teardown = teardown_writes(current, 3)
    assert fake.writes == 6 and teardown == 14 and fake.writes < teardown


def test_infeasible_geometry_changes_nothing(node, tmp_path):
    fake = node()
    apply(fake, "1g.5gb:3", tmp_path)
    before, writes = layout(fake), fake.writes
    report = apply(fake, "3g.20gb:2,1g.5gb:1", tmp_path)
    assert report.gpus[0].status == "failed" and report.exit_code == ExitCode.FAILED
    assert "3g.20gb" in report.gpus[0].message or "1g.5gb" in report.gpus[0].message
    assert layout(fake) == before and fake.writes == writes
    report = apply(fake, "7g.40gb:1,1g.5gb:1", tmp_path, dry_run=True)
    assert report.gpus[0].status == "failed"


def _add_process(fake: FakeNvml, start: int, pid: int) -> None:
    fake.reload()
    gi = next(g for g in fake.state.gpus[0].gpu_instances if g.start == start)
    gi.compute_instances[0].processes.append(pid)
    fake.save()


def test_busy_instance_is_refused_and_kept(node, tmp_path):
    fake = node()
    apply(fake, "2g.10gb:3,1g.5gb:1", tmp_path)
    _add_process(fake, 2, 4242)
    before, writes = layout(fake), fake.writes
    report = apply(fake, "3g.20gb:2", tmp_path)
    gpu = report.gpus[0]
    assert gpu.status == "refused" and report.exit_code == ExitCode.REFUSED
    assert "4242" in gpu.message and "2g.10gb@2:2" in gpu.message
    assert [(c.profile, c.start, c.processes) for c in gpu.busy] == [("2g.10gb", 2, (4242,))]
    assert layout(fake) == before and fake.writes == writes
    # a change that does not touch the busy instance goes through and keeps it
    report = apply(fake, "2g.10gb:2,1g.5gb:3", tmp_path)
    assert report.gpus[0].status == "applied"
    assert ("2g.10gb", 2, 2) in layout(fake)
    # --force destroys it
    report = apply(fake, "3g.20gb:2", tmp_path, force=False)
    assert report.gpus[0].status == "refused"
    fake.reload()
    for gi in fake.state.gpus[0].gpu_instances:  # NVML itself refuses to destroy a CI with processes
        gi.compute_instances[0].processes.clear()
    fake.save()
    assert apply(fake, "3g.20gb:2", tmp_path, force=True).gpus[0].status == "applied"


@pytest.mark.parametrize(
    "fault",
    ["create_gpu_instance:2", "create_compute_instance:3", "destroy_compute_instance:2", "destroy_gpu_instance:3",
     "create_gpu_instance:1:INSUFFICIENT_RESOURCES"],
)
def test_fault_at_each_operation_rolls_back_exactly(node, tmp_path, fault):
    fake = node()
    apply(fake, "3g.20gb:1,2g.10gb:1,1g.5gb:2", tmp_path)
    before = layout(fake)
    fake.faults = parse_faults(fault)
    fake.calls = {op: 0 for op in fake.calls}
    report = apply(fake, "2g.10gb:3,1g.10gb:1", tmp_path)
    gpu = report.gpus[0]
    assert gpu.status == "rolled-back", gpu.message
    assert report.exit_code == ExitCode.FAILED
    assert "rolled back" in gpu.message and "failed" in gpu.message
    assert f"GPU 0 ({A100}" in gpu.message  # names the GPU and the operation
    assert layout(fake) == before
    assert gpu.after == gpu.before == "3g.20gb:1,2g.10gb:1,1g.5gb:2"
    assert not (tmp_path / "state" / f"journal-{gpu.uuid}.json").exists()
    # every restored GI has its compute instance again
    assert all(len(gi.compute_instances) == 1 for gi in fake.state.gpus[0].gpu_instances)


def test_set_mig_mode_fault_on_disable_rolls_back(node, tmp_path):
    fake = node()
    apply(fake, "3g.20gb:2", tmp_path)
    before = layout(fake)
    fake.faults = parse_faults("set_mig_mode:1")
    report = apply(fake, "disabled", tmp_path)
    assert report.gpus[0].status == "rolled-back"
    assert layout(fake) == before and fake.state.gpus[0].mig_current is True


def _cli_env(tmp_path: Path, state: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"MIGCTL_FAKE_NVML": str(state), "MIGCTL_STATE_DIR": str(tmp_path / "state"), "PYTHONPATH": str(REPO)})
    env.pop("MIGCTL_FAKE_NVML_FAIL", None)
    env.update(extra)
    return env


def _migctl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migctl", *args], env=env, capture_output=True, text=True, timeout=120)


def test_journal_left_by_a_killed_run_is_recovered(node, tmp_path):
    fake = node()
    apply(fake, "3g.20gb:1,2g.10gb:1,1g.5gb:2", tmp_path)
    before = layout(fake)
    # the run is killed right after its second create took effect
    env = _cli_env(tmp_path, fake.path, MIGCTL_FAKE_NVML_FAIL="create_gpu_instance:2:crash")
    killed = _migctl("node", "apply-geometry", "2g.10gb:3,1g.10gb:1", "--gpu", "0", env=env)
    assert killed.returncode == 137
    journals = list((tmp_path / "state").glob("journal-*.json"))
    assert len(journals) == 1
    half = layout(fake)
    assert half != before
    # a run with another target rolls the interrupted one back first, then applies its own
    report = apply(fake, "3g.20gb:1,2g.10gb:1,1g.5gb:2", tmp_path)
    gpu = report.gpus[0]
    assert gpu.recovered == "rolled-back"
    assert layout(fake) == before
    assert not list((tmp_path / "state").glob("journal-*.json"))

    # killed again; this time the next run has the same target and completes it
    killed = _migctl("node", "apply-geometry", "2g.10gb:3,1g.10gb:1", "--gpu", "0", env=env)
    assert killed.returncode == 137
    report = apply(fake, "2g.10gb:3,1g.10gb:1", tmp_path)
    assert report.gpus[0].recovered == "completed" and report.gpus[0].status == "applied"
    assert layout(fake) == [("1g.10gb", 6, 2), ("2g.10gb", 0, 2), ("2g.10gb", 2, 2), ("2g.10gb", 4, 2)]


def test_two_concurrent_runs_are_serialised(node, tmp_path):
    import time

    from migctl.apply.journal import node_lock

    fake = node(f"{A100}:1")
    env = _cli_env(tmp_path, fake.path)
    with node_lock(tmp_path / "state"):  # hold the lock so both runs start and queue up behind it
        procs = [
            subprocess.Popen([sys.executable, "-m", "migctl", "node", "apply-geometry", geometry, "-o", "json"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for geometry in ("1g.5gb:7", "3g.20gb:2")
        ]
        time.sleep(1.5)
        assert [p.poll() for p in procs] == [None, None]  # both waiting, neither changed anything
        assert layout(fake) == []
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    reports = [json.loads(out)["gpus"][0] for out, _ in outs]
    # one ran first on the empty GPU; the other saw its result and planned from it
    first, second = sorted(reports, key=lambda r: r["before"] != "")
    assert first["before"] == ""
    assert second["before"] == first["after"]
    final = layout(fake)
    assert {p for p, _, _ in final} == {"1g.5gb"} or {p for p, _, _ in final} == {"3g.20gb"}
    assert len(final) in (7, 2)
    assert FakeState.load(fake.path).gpus[0].gpu_instances  # state file intact


def test_mig_enable_pending_needs_reset_on_ampere(node, tmp_path):
    fake = node()
    fake.state.gpus[0].mig_current = fake.state.gpus[0].mig_pending = False
    fake.state.gpus[0].clients_holding = True  # e.g. nvidia-persistenced holds the GPU
    fake.save()
    report = apply(fake, "7g.40gb:1", tmp_path)
    gpu = report.gpus[0]
    assert gpu.status == "reset-required" and report.exit_code == ExitCode.RESET_REQUIRED
    assert "nvidia-smi -r -i 0" in gpu.hint
    fake.reload()
    assert fake.state.gpus[0].mig_current is False and fake.state.gpus[0].mig_pending is True
    # rerun before the reset: nothing new to do but still pending
    assert apply(fake, "7g.40gb:1", tmp_path).gpus[0].status == "reset-required"
    reset_gpu(fake.state, 0)
    fake.save()
    report = apply(fake, "7g.40gb:1", tmp_path)
    assert report.gpus[0].status == "applied" and layout(fake) == [("7g.40gb", 0, 8)]


def test_mig_enable_and_disable_take_effect_when_idle(node, tmp_path):
    fake = node("NVIDIA H100 80GB HBM3:1")
    fake.state.gpus[0].mig_current = fake.state.gpus[0].mig_pending = False
    fake.save()
    report = apply(fake, "3g.40gb:1,1g.10gb:2", tmp_path)
    gpu = report.gpus[0]
    assert gpu.status == "applied" and gpu.before is None and gpu.actions[0].op == "enable-mig"
    assert gpu.after == "3g.40gb:1,1g.10gb:2"
    report = apply(fake, "disabled", tmp_path)
    gpu = report.gpus[0]
    assert gpu.status == "applied" and gpu.after is None
    assert [a.op for a in gpu.actions] == ["destroy", "destroy", "destroy", "disable-mig"]
    fake.reload()
    assert fake.state.gpus[0].mig_current is False and not fake.state.gpus[0].gpu_instances
    assert apply(fake, "disabled", tmp_path).gpus[0].status == "unchanged"


def test_mig_disable_pending_and_busy(node, tmp_path):
    fake = node()
    apply(fake, "3g.20gb:2", tmp_path)
    _add_process(fake, 0, 99)
    report = apply(fake, "disabled", tmp_path)
    assert report.gpus[0].status == "refused" and "99" in report.gpus[0].message
    fake.reload()
    fake.state.gpus[0].gpu_instances[0].compute_instances[0].processes.clear()
    fake.state.gpus[0].passthrough = True
    fake.save()
    report = apply(fake, "disabled", tmp_path)
    assert report.gpus[0].status == "reset-required" and report.exit_code == ExitCode.RESET_REQUIRED
    fake.reload()
    assert fake.state.gpus[0].mig_current is True and fake.state.gpus[0].mig_pending is False


def test_journal_written_before_change(node, tmp_path):
    fake = node()
    seen = []
    original = fake._create_gi

    def spy(*args):
        seen.append([p.name for p in (tmp_path / "state").glob("journal-*.json")])
        return original(*args)

    fake._create_gi = spy  # type: ignore[method-assign]
    apply(fake, "1g.5gb:1", tmp_path)
    assert seen and seen[0] and seen[0][0].startswith("journal-GPU-")
    journal = Journal(gpu_uuid="GPU-x", gpu_index=0, before=[], before_mig_enabled=True, desired="", actions=[])
    journal.save(tmp_path / "j")
    assert Journal.load(tmp_path / "j", "GPU-x") == journal


def test_enable_then_failed_create_restores_mig_off(node, tmp_path):
    fake = node("NVIDIA H200:1")
    fake.state.gpus[0].mig_current = fake.state.gpus[0].mig_pending = False
    fake.save()
    fake.faults = parse_faults("create_gpu_instance:2")
    report = apply(fake, "3g.71gb:2", tmp_path)
    gpu = report.gpus[0]
    assert gpu.status == "rolled-back" and gpu.before is None and gpu.after is None
    assert "MIG mode turned off again" in gpu.message
    fake.reload()
    assert fake.state.gpus[0].mig_current is False and not fake.state.gpus[0].gpu_instances


def test_lock_timeout_is_refused(tmp_path):
    from migctl.apply.journal import node_lock
    from migctl.errors import RefusedError

    with node_lock(tmp_path):
        code = (
            "import sys; from pathlib import Path; from migctl.apply.journal import node_lock\n"
            "from migctl.errors import RefusedError\n"
            "try:\n    with node_lock(Path(sys.argv[1]), timeout=0.2): sys.exit(0)\n"
            "except RefusedError as e:\n    print(e.message); sys.exit(int(e.exit_code))\n"
        )
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == ExitCode.REFUSED and f"pid {os.getpid()}" in done.stdout
    assert RefusedError.exit_code == ExitCode.REFUSED


@pytest.mark.parametrize("crash", ["create_gpu_instance:1:crash", "destroy_compute_instance:2:crash", "destroy_gpu_instance:1:crash"])
def test_killed_anywhere_then_completed_or_rolled_back(node, tmp_path, crash):
    """Killed after a GI create (GI without CI), or between a CI and its GI destroy: both ways out work."""
    fake = node()
    apply(fake, "3g.20gb:1,2g.10gb:1,1g.5gb:2", tmp_path)
    before = layout(fake)
    env = _cli_env(tmp_path, fake.path, MIGCTL_FAKE_NVML_FAIL=crash)
    assert _migctl("node", "apply-geometry", "2g.10gb:3,1g.5gb:1", "--gpu", "0", env=env).returncode == 137
    report = apply(fake, "3g.20gb:1,2g.10gb:1,1g.5gb:2", tmp_path)  # another target: roll back
    assert report.gpus[0].recovered == "rolled-back" and layout(fake) == before
    assert all(len(gi.compute_instances) == 1 for gi in fake.state.gpus[0].gpu_instances)
    assert _migctl("node", "apply-geometry", "2g.10gb:3,1g.5gb:1", "--gpu", "0", env=env).returncode == 137
    report = apply(fake, "2g.10gb:3,1g.5gb:1", tmp_path)  # same target: complete
    assert report.gpus[0].recovered == "completed" and report.gpus[0].after == "2g.10gb:3,1g.5gb:1"
    assert all(len(gi.compute_instances) == 1 for gi in fake.state.gpus[0].gpu_instances)
    assert not list((tmp_path / "state").glob("journal-*.json"))


# --- several GPUs as one request (apply_geometries): plan all, apply, undo earlier GPUs ---------------------


def _apply_all(fake: FakeNvml, targets, tmp_path, **kw):
    from migctl.apply.engine import apply_geometries

    with open_session(fake) as session:
        return apply_geometries(session, targets, state_dir=tmp_path / "state", **kw)


def test_apply_geometries_fault_on_the_second_gpu_puts_the_first_back(node, tmp_path):
    from migctl.hardware.geometry import Geometry

    fake = node(f"{A100}:2")
    assert _apply_all(fake, {0: "3g.20gb:2", 1: "3g.20gb:2"}, tmp_path).exit_code == 0
    before = [layout(fake, 0), layout(fake, 1)]
    # GPU 0 needs 7 creates; the 8th create is GPU 1's first: it fails there
    fake.faults = tuple(parse_faults(f"create_gpu_instance:{fake.calls['create_gpu_instance'] + 8}"))
    report = _apply_all(fake, {0: Geometry.parse("1g.5gb:7"), 1: Geometry.parse("1g.5gb:7")}, tmp_path)
    assert [g.status for g in report.gpus] == ["applied", "rolled-back"]
    assert [(g.index, g.status, g.after) for g in report.undo] == [(0, "applied", "3g.20gb:2")]
    assert report.exit_code == ExitCode.FAILED and not report.blocked
    assert [layout(fake, 0), layout(fake, 1)] == before  # nothing of the request is left
    assert report.to_dict()["undo"][0]["index"] == 0


def test_apply_geometries_plans_every_gpu_before_changing_any(node, tmp_path):
    fake = node(f"{A100}:2")
    report = _apply_all(fake, {0: "1g.5gb:7", "1": "7g.40gb:2"}, tmp_path)  # GPU 1's is infeasible
    assert report.blocked and [g.status for g in report.gpus] == ["planned", "failed"]
    assert "not applied" in report.gpus[0].message
    assert layout(fake, 0) == [] and fake.writes == 0
    dry = _apply_all(fake, {0: "1g.5gb:7"}, tmp_path, dry_run=True)
    assert [g.status for g in dry.gpus] == ["planned"] and fake.writes == 0 and not dry.blocked
