"""The daemon's files are root-safe: state directory, lock and journals (issue 12)."""

from __future__ import annotations

import os
import stat

import pytest

from migctl.apply.journal import Journal, node_lock
from migctl.errors import ExitCode, InputError, RefusedError
from migctl.nvml.fake import FakeState

A100 = "NVIDIA A100-SXM4-40GB"


@pytest.fixture
def fake_env(tmp_path, monkeypatch):
    path = tmp_path / "nvml.json"
    monkeypatch.setenv("MIGCTL_FAKE_NVML", str(path))
    monkeypatch.setenv("MIGCTL_FAKE_NVML_GPUS", f"{A100}:1")
    monkeypatch.delenv("MIGCTL_FAKE_NVML_FAIL", raising=False)
    FakeState.from_spec(f"{A100}:1").save(path)
    return path


def test_the_state_dir_is_created_0700_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        with node_lock(tmp_path / "a" / "state"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a" / "state").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "a" / "state" / "apply.lock").st_mode) & 0o077 == 0


@pytest.mark.parametrize("mode, word", [(0o777, "others"), (0o770, "group"), (0o1777, "others")])
def test_a_state_dir_others_can_write_is_refused(tmp_path, mode, word):
    state = tmp_path / "state"
    state.mkdir()
    os.chmod(state, mode)
    with pytest.raises(RefusedError, match=word) as err, node_lock(state):
        pass
    assert err.value.exit_code == ExitCode.REFUSED
    assert not (state / "apply.lock").exists()


def test_a_state_dir_owned_by_another_user_is_refused(tmp_path, monkeypatch):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(state).st_uid + 1)
    with pytest.raises(RefusedError, match="owned by uid"), node_lock(state):
        pass


def test_a_planted_symlink_lock_is_never_followed_or_truncated(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("precious\n", encoding="utf-8")
    (state / "apply.lock").symlink_to(victim)
    with pytest.raises(RefusedError, match="symbolic link"), node_lock(state):
        pass
    assert victim.read_text(encoding="utf-8") == "precious\n"


def test_a_hard_linked_or_special_lock_is_refused(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    other = tmp_path / "other"
    other.write_text("x", encoding="utf-8")
    os.link(other, state / "apply.lock")
    with pytest.raises(RefusedError, match="hard links"), node_lock(state):
        pass
    assert other.read_text(encoding="utf-8") == "x"
    (state / "apply.lock").unlink()
    os.mkfifo(state / "apply.lock")
    with pytest.raises(RefusedError, match="not a regular file"), node_lock(state):
        pass


def test_the_busy_message_names_the_current_holder(tmp_path):
    state = tmp_path / "state"
    with node_lock(state):
        with pytest.raises(RefusedError, match=f"held by pid {os.getpid()}"), node_lock(state, timeout=0):
            pass
    assert (state / "apply.lock").read_text(encoding="utf-8") == ""  # a released lock names no holder


@pytest.mark.parametrize("uuid", ["GPU-/../../escape", "../x", "GPU-a/b", "GPU-\x00", "." * 3, "x" * 500, "GPU-é"])
def test_journal_names_never_leave_the_state_dir(tmp_path, uuid):
    state = tmp_path / "state"
    path = Journal.path_for(state, uuid)
    assert path.parent == state and path.name.startswith("journal") and "/" not in path.name
    assert len(path.name) < 200
    state.mkdir(mode=0o700)
    journal = Journal(gpu_uuid=uuid, gpu_index=0, before=[], before_mig_enabled=True, desired=None, actions=[])
    journal.save(state)
    assert [p.parent for p in state.iterdir()] == [state]
    assert not list(tmp_path.glob("escape*")) and not (tmp_path / "x").exists()
    assert Journal.load(state, uuid).gpu_uuid == uuid
    journal.delete(state)
    assert list(state.iterdir()) == []


def test_a_plain_nvml_uuid_keeps_its_journal_name(tmp_path):
    uuid = "GPU-12345678-1234-1234-1234-123456789abc"
    assert Journal.path_for(tmp_path, uuid).name == f"journal-{uuid}.json"


def test_a_symlinked_journal_is_refused(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    target = tmp_path / "elsewhere.json"
    target.write_text("{}", encoding="utf-8")
    Journal.path_for(state, "GPU-1").symlink_to(target)
    with pytest.raises(RefusedError, match="symbolic link"):
        Journal.load(state, "GPU-1")


def test_a_journal_for_another_gpu_is_not_trusted(tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    Journal(gpu_uuid="GPU-2", gpu_index=0, before=[], before_mig_enabled=True, desired=None, actions=[]).save(state)
    os.rename(Journal.path_for(state, "GPU-2"), Journal.path_for(state, "GPU-1"))
    with pytest.raises(InputError, match="is for GPU"):
        Journal.load(state, "GPU-1")


def test_apply_geometry_refuses_an_unsafe_state_dir_with_exit_4(cli, fake_env, tmp_path):
    state = tmp_path / "shared"
    state.mkdir()
    os.chmod(state, 0o777)
    result = cli("node", "apply-geometry", "1g.5gb:1", "--gpu", "0", "--state-dir", state)
    assert result.exit_code == 4, result
    assert "writable by others" in result.stderr and "Traceback" not in result.stderr
    assert FakeState.load(fake_env).gpus[0].gpu_instances == []
