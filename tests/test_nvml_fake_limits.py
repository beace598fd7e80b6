"""The simulated NVML is bounded and strict about its state file: exit 2 with the field named (issue 12)."""

from __future__ import annotations

import json

import pytest

from migctl.errors import InputError
from migctl.nvml.fake import FakeState
from migctl.nvml.fake.boards import FakeStateError
from migctl.nvml.fake.env import simulator_from_env
from migctl.nvml.fake.state import MAX_GPUS

A100 = "NVIDIA A100-SXM4-40GB"


@pytest.mark.parametrize("spec", [f"{A100}:99999999", f"{A100}:{'9' * 5000}", f"{A100}:40,{A100}:40", f"{A100}:１"])
def test_gpu_spec_is_bounded(spec):
    with pytest.raises(FakeStateError, match="MIGCTL_FAKE_NVML_GPUS"):
        FakeState.from_spec(spec)


def test_gpu_spec_up_to_the_limit_works():
    assert len(FakeState.from_spec(f"{A100}:{MAX_GPUS}").gpus) == MAX_GPUS


def _gpu(**extra):
    return {"name": A100, "mig_current": True, **extra}


def _ci(**extra):
    return {"gpus": [_gpu(gpu_instances=[{"profile": "1g.5gb", "start": 0, "compute_instances": [extra]}])]}


@pytest.mark.parametrize("data, field", [
    ({"gpus": [_gpu(mig_current="false")]}, "gpus[0].mig_current"),
    ({"gpus": [_gpu(passthrough=1)]}, "gpus[0].passthrough"),
    ({"gpus": [], "driver_loaded": "no"}, "driver_loaded"),
    ({"gpus": [_gpu(uuid="GPU-1"), _gpu(uuid="GPU-1")]}, "gpus[1].uuid"),
    ({"gpus": [_gpu(uuid=5)]}, "gpus[0].uuid"),
    (_ci(processes=[-5]), "processes"),
    (_ci(processes=[0]), "processes"),
    (_ci(processes=[True]), "processes"),
    (_ci(graphics_processes=[2**40]), "graphics_processes"),
    (_ci(id=True), "compute_instances[0].id"),
    (_ci(uuid="GPU-x"), "uuid"),  # a MIG UUID equal to... itself is fine; see the duplicate case below
    ({"gpus": [_gpu(memory_mib=-1)]}, "memory_mib"),
    ({"gpus": [_gpu()] * (MAX_GPUS + 1)}, "gpus"),
])
def test_bad_state_is_a_clear_error(data, field):
    if field == "uuid":  # a MIG UUID that repeats the GPU's
        data["gpus"][0]["uuid"] = "GPU-x"
    with pytest.raises(FakeStateError, match=field.replace("[", r"\[").replace("]", r"\]")):
        FakeState.from_dict(data, source="state.json")


@pytest.mark.parametrize("text", ["[" * 100000 + "]" * 100000, "\xff\xfe", '{"gpus": [], "serial": 1e400}'])
def test_corrupt_state_files_are_exit_2_from_the_cli(cli, tmp_path, monkeypatch, text):
    path = tmp_path / "nvml.json"
    path.write_bytes(text.encode("latin-1"))
    monkeypatch.setenv("MIGCTL_FAKE_NVML", str(path))
    result = cli("node", "status")
    assert result.exit_code == 2, result
    assert str(path) in result.stderr and "internal error" not in result.stderr


def test_a_huge_gpu_count_from_the_environment_is_exit_2_at_once(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MIGCTL_FAKE_NVML", str(tmp_path / "nvml.json"))
    monkeypatch.setenv("MIGCTL_FAKE_NVML_GPUS", f"{A100}:99999999")
    result = cli("node", "status")
    assert result.exit_code == 2 and "MIGCTL_FAKE_NVML_GPUS" in result.stderr
    assert not (tmp_path / "nvml.json").exists()


def test_a_state_file_that_turns_bad_during_a_session_is_an_input_error(tmp_path):
    path = tmp_path / "nvml.json"
    fake = simulator_from_env({"MIGCTL_FAKE_NVML": str(path), "MIGCTL_FAKE_NVML_GPUS": f"{A100}:1"})
    path.write_text(json.dumps({"gpus": [_gpu(mig_current="yes")]}), encoding="utf-8")
    with pytest.raises(InputError, match="mig_current"):
        fake.reload()
