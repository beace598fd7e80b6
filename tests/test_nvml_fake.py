"""The simulated NVML under pynvml, and the adapter reading it (pynvml's ctypes marshalling runs)."""

from __future__ import annotations

import ctypes
import json

import pynvml
import pytest

from migctl.errors import ExitCode, InputError, MigctlError, UnreachableError
from migctl.nvml.adapter import NvmlCallError
from migctl.nvml.session import open_session
from migctl.nvml.fake import FakeNvml, FakeState, FakeStateError, parse_faults, reboot, reset_gpu

A100 = "NVIDIA A100-SXM4-40GB"


@pytest.fixture
def nvml():
    """pynvml with the simulator installed (2x A100-40GB, 1x H100, 1x L4 without MIG)."""
    fake = FakeNvml(FakeState.from_spec(f"{A100}:2,NVIDIA H100 80GB HBM3:1,NVIDIA L4:1"))
    fake.install()
    pynvml.nvmlInit()
    yield fake
    pynvml.nvmlShutdown()
    fake.uninstall()
    assert not fake.callback_errors


def _placement(start: int, size: int):
    return ctypes.byref(pynvml.c_nvmlGpuInstancePlacement_t(start, size))


def test_installs_under_pynvml_function_table(nvml):
    assert pynvml.nvmlLib is nvml.lib
    fn = pynvml._nvmlGetFunctionPointer("nvmlDeviceGetMigMode")
    assert isinstance(fn, ctypes._CFuncPtr)  # a real C callback, not a Python patch
    assert pynvml.nvmlDeviceGetCount() == 4
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    assert pynvml.nvmlDeviceGetName(h) == A100
    assert pynvml.nvmlDeviceGetUUID(h).startswith("GPU-")
    assert pynvml.nvmlDeviceGetMigMode(h) == [1, 1]
    assert pynvml.nvmlDeviceGetPciInfo(h).pciDeviceId == 0x20B010DE
    assert pynvml.nvmlDeviceGetHandleByUUID(pynvml.nvmlDeviceGetUUID(h))  # by UUID too


def test_board_ids_differ_from_enums_and_placements_are_memory_slices(nvml):
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    info = pynvml.nvmlDeviceGetGpuInstanceProfileInfo(h, pynvml.NVML_GPU_INSTANCE_PROFILE_7_SLICE)
    assert (info.id, info.sliceCount, info.instanceCount) == (0, 7, 1)
    info = pynvml.nvmlDeviceGetGpuInstanceProfileInfo(h, pynvml.NVML_GPU_INSTANCE_PROFILE_1_SLICE)
    assert info.id == 19 and info.name == "MIG 1g.5gb"  # _PrintableStructure decodes char arrays
    count = ctypes.c_uint(0)
    pynvml.nvmlDeviceGetGpuInstancePossiblePlacements(h, 0, None, ctypes.byref(count))
    array = (pynvml.c_nvmlGpuInstancePlacement_t * count.value)()
    pynvml.nvmlDeviceGetGpuInstancePossiblePlacements(h, 0, array, ctypes.byref(count))
    assert [(p.start, p.size) for p in array] == [(0, 8)]  # 7g is {0,8}
    with pytest.raises(pynvml.NVMLError_NotSupported):
        pynvml.nvmlDeviceGetGpuInstanceProfileInfo(h, pynvml.NVML_GPU_INSTANCE_PROFILE_8_SLICE)


def test_placement_rules(nvml):
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    gi = pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(h, 9, _placement(4, 4))  # 3g.20gb at 4
    assert pynvml.nvmlGpuInstanceGetInfo(gi).placement.start == 4
    with pytest.raises(pynvml.NVMLError_InsufficientResources):  # occupied: not "already exists"
        pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(h, 9, _placement(4, 4))
    with pytest.raises(pynvml.NVMLError_InvalidArgument):  # not a placement of 3g
        pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(h, 9, _placement(2, 4))
    pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(h, 20, _placement(0, 1))  # 1g.5gb+me
    with pytest.raises(pynvml.NVMLError_InsufficientResources):  # +me: at most one
        pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(h, 20, _placement(1, 1))
    assert pynvml.nvmlDeviceGetGpuInstanceRemainingCapacity(h, 9) == 0


def test_instances_compute_instances_processes_and_mig_devices(nvml):
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    gi = pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(h, 14, _placement(2, 2))  # 2g.10gb
    # lowest CI enum with the GI's slices; the REV1/NVL variants are refused like on real boards
    with pytest.raises(pynvml.NVMLError_NotSupported):
        pynvml.nvmlGpuInstanceGetComputeInstanceProfileInfo(gi, pynvml.NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE_REV1, 0)
    ci_info = pynvml.nvmlGpuInstanceGetComputeInstanceProfileInfo(gi, pynvml.NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE, 0)
    ci = pynvml.nvmlGpuInstanceCreateComputeInstance(gi, ci_info.id)
    info = pynvml.nvmlComputeInstanceGetInfo(ci)
    mig_uuid = pynvml.nvmlDeviceGetUUID(info.device)
    assert mig_uuid.startswith("MIG-")
    assert pynvml.nvmlDeviceGetMaxMigDeviceCount(h) == 7
    mig = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(h, 0)
    assert bool(pynvml.nvmlDeviceIsMigDeviceHandle(mig))
    assert pynvml.nvmlDeviceGetUUID(mig) == mig_uuid
    with pytest.raises(pynvml.NVMLError_InUse):  # GI with a CI left
        pynvml.nvmlGpuInstanceDestroy(gi)
    nvml.state.gpus[0].gpu_instances[0].compute_instances[0].processes[:] = [4242, 4243]
    procs = pynvml.nvmlDeviceGetComputeRunningProcesses(info.device)
    assert sorted(p.pid for p in procs) == [4242, 4243]
    # the 2g at memory slice 2 is GI 4 on a real A100 (GI IDs are placement slots), its full CI is CI 0
    assert {(p.gpuInstanceId, p.computeInstanceId) for p in pynvml.nvmlDeviceGetComputeRunningProcesses(h)} == {(4, 0)}
    with pytest.raises(pynvml.NVMLError_InUse):  # CI with processes
        pynvml.nvmlComputeInstanceDestroy(ci)
    nvml.state.gpus[0].gpu_instances[0].compute_instances[0].processes.clear()
    pynvml.nvmlComputeInstanceDestroy(ci)
    pynvml.nvmlGpuInstanceDestroy(gi)
    # re-create: a new MIG UUID
    gi = pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(h, 14, _placement(2, 2))
    ci = pynvml.nvmlGpuInstanceCreateComputeInstance(gi, ci_info.id)
    assert pynvml.nvmlDeviceGetUUID(pynvml.nvmlComputeInstanceGetInfo(ci).device) != mig_uuid


def test_mig_mode_rules(nvml):
    l4 = pynvml.nvmlDeviceGetHandleByIndex(3)
    with pytest.raises(pynvml.NVMLError_NotSupported):  # not a MIG board
        pynvml.nvmlDeviceGetMigMode(l4)
    h = pynvml.nvmlDeviceGetHandleByIndex(1)
    gi = pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(h, 0, _placement(0, 8))
    pynvml.nvmlGpuInstanceCreateComputeInstance(gi, pynvml.NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE)
    nvml.state.gpus[1].gpu_instances[0].compute_instances[0].processes.append(5)
    # work is running: the call succeeds, the activation status is IN_USE and the change stays pending
    assert pynvml.nvmlDeviceSetMigMode(h, pynvml.NVML_DEVICE_MIG_DISABLE) == pynvml.NVML_ERROR_IN_USE
    assert pynvml.nvmlDeviceGetMigMode(h) == [1, 0] and len(nvml.state.gpus[1].gpu_instances) == 1
    nvml.state.gpus[1].gpu_instances[0].compute_instances[0].processes.clear()
    assert pynvml.nvmlDeviceSetMigMode(h, pynvml.NVML_DEVICE_MIG_DISABLE) == 0  # idle: at once
    assert pynvml.nvmlDeviceGetMigMode(h) == [0, 0] and nvml.state.gpus[1].gpu_instances == []  # instances lost
    pynvml.nvmlDeviceSetMigMode(h, pynvml.NVML_DEVICE_MIG_ENABLE)
    nvml.state.gpus[1].clients_holding = True
    status = pynvml.nvmlDeviceSetMigMode(h, pynvml.NVML_DEVICE_MIG_DISABLE)
    assert status == pynvml.NVML_ERROR_IN_USE  # ret is success; the activation status says pending
    assert pynvml.nvmlDeviceGetMigMode(h) == [1, 0]
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        pynvml.nvmlDeviceSetMigMode(h, 7)
    reset_gpu(nvml.state, 1)
    assert pynvml.nvmlDeviceGetMigMode(h) == [0, 0]
    with pytest.raises(pynvml.NVMLError_NotSupported):  # GI calls need MIG on
        pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(h, 0, _placement(0, 8))
    nvml.state.gpus[1].clients_holding = False
    nvml.state.gpus[1].passthrough = True
    assert pynvml.nvmlDeviceSetMigMode(h, pynvml.NVML_DEVICE_MIG_ENABLE) == pynvml.NVML_ERROR_RESET_REQUIRED
    field = pynvml.nvmlDeviceGetFieldValues(h, [pynvml.NVML_FI_DEV_IS_RESETLESS_MIG_SUPPORTED])[0]
    assert field.nvmlReturn == 0 and field.value.uiVal == 0  # Ampere needs a reset
    hopper = pynvml.nvmlDeviceGetHandleByIndex(2)
    assert pynvml.nvmlDeviceGetFieldValues(hopper, [pynvml.NVML_FI_DEV_IS_RESETLESS_MIG_SUPPORTED])[0].value.uiVal == 1


def test_reboot_wipes_geometry_and_hopper_mode():
    state = FakeState.from_spec(f"{A100}:1,NVIDIA H100 80GB HBM3:1")
    with FakeNvml(state) as fake:
        pynvml.nvmlInit()
        for i in range(2):
            pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(pynvml.nvmlDeviceGetHandleByIndex(i), 0, _placement(0, 8))
        pynvml.nvmlShutdown()
    reboot(fake.state)
    assert [g.gpu_instances for g in state.gpus] == [[], []]
    assert [(g.mig_current, g.mig_pending) for g in state.gpus] == [(True, True), (False, False)]


def test_faults_and_crash_spec():
    assert parse_faults("create_gpu_instance:2") [0].nth == 2
    fault = parse_faults("destroy_gpu_instance:1:IN_USE,set_mig_mode:3:crash")
    assert fault[0].code == pynvml.NVML_ERROR_IN_USE and fault[1].crash
    for bad in ("create:1", "create_gpu_instance:0", "create_gpu_instance:x", "set_mig_mode:1:NOPE"):
        with pytest.raises(FakeStateError):
            parse_faults(bad)
    state = FakeState.from_spec(f"{A100}:1")
    with FakeNvml(state, faults=parse_faults("create_gpu_instance:2")) as fake:
        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(h, 19, _placement(0, 1))
        with pytest.raises(pynvml.NVMLError_Unknown):
            pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(h, 19, _placement(1, 1))
        pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(h, 19, _placement(1, 1))
        pynvml.nvmlShutdown()
    assert fake.calls["create_gpu_instance"] == 3 and fake.writes == 2


def test_state_file_round_trip_and_errors(tmp_path):
    path = tmp_path / "nvml.json"
    state = FakeState.from_spec(f"{A100}:1")
    fake = FakeNvml(state, path=path)
    with open_session(fake) as s:
        gi = s.create_gpu_instance(0, 9, 0, 4, name="3g.20gb")
        s.create_compute_instance(0, gi)
    data = json.loads(path.read_text())
    assert data["gpus"][0]["gpu_instances"][0]["profile"] == "3g.20gb"
    assert data["gpus"][0]["gpu_instances"][0]["compute_instances"][0]["processes"] == []
    assert FakeState.load(path).to_dict() == data
    data["gpus"][0]["gpu_instances"][0]["start"] = 2
    path.write_text(json.dumps(data))
    with pytest.raises(FakeStateError, match=r"gpus\[0\]\.gpu_instances\[0\]\.start"):
        FakeState.load(path)
    data["gpus"][0]["gpu_instances"][0].update(start=0, profile="9g.1gb")
    path.write_text(json.dumps(data))
    with pytest.raises(FakeStateError, match="not a profile of"):
        FakeState.load(path)
    path.write_text("{not json")
    with pytest.raises(FakeStateError, match="line 1"):
        FakeState.load(path)
    with pytest.raises(FakeStateError, match="count"):
        FakeState.from_spec(f"{A100}:x")


def test_env_creates_state_file(tmp_path, monkeypatch):
    path = tmp_path / "nvml.json"
    monkeypatch.setenv("MIGCTL_FAKE_NVML", str(path))
    monkeypatch.delenv("MIGCTL_FAKE_NVML_GPUS", raising=False)
    with pytest.raises(InputError, match="MIGCTL_FAKE_NVML_GPUS"):
        with open_session():
            pass
    monkeypatch.setenv("MIGCTL_FAKE_NVML_GPUS", "NVIDIA H200:2")
    with open_session() as s:
        gpus = s.gpus()
    assert [(g.name, g.mig_enabled, g.geometry) for g in gpus] == [("NVIDIA H200", True, "")] * 2
    assert path.exists() and len(json.loads(path.read_text())["gpus"]) == 2
    assert pynvml.nvmlLib is None or pynvml.nvmlLib is not gpus  # uninstalled after the session


def test_adapter_reads_everything(tmp_path):
    state = FakeState.from_dict(
        {"gpus": [{"name": A100, "mig_current": True, "gpu_instances": [
            {"id": 3, "profile": "3g.20gb", "start": 4, "compute_instances": [{"id": 0, "processes": [11, 12]}]},
            {"id": 5, "profile": "1g.10gb", "start": 0, "compute_instances": []},
        ]}, {"name": "NVIDIA L4"}]}
    )
    with open_session(FakeNvml(state)) as s:
        gpu, l4 = s.gpus()
        assert s.select("1") == [1] and s.select(gpu.uuid) == [0]
        with pytest.raises(InputError, match="no such GPU"):
            s.select(7)
        with pytest.raises(InputError, match="no GPU with this index or UUID"):
            s.select("GPU-nope")
    assert gpu.geometry == "3g.20gb:1,1g.10gb:1" and gpu.mig_pending is False and gpu.resetless is False
    assert [(g.id, g.profile, g.profile_id, g.start, g.size) for g in gpu.instances] == [(5, "1g.10gb", 15, 0, 2), (3, "3g.20gb", 9, 4, 4)]
    assert gpu.instances[1].processes == (11, 12) and gpu.instances[1].compute_instances[0].mig_uuid.startswith("MIG-")
    assert gpu.model.profile("3g.20gb").board_profile_id == 9
    assert l4.mig_capable is False and l4.geometry is None and l4.model is None


def test_nvml_errors_name_gpu_and_operation():
    state = FakeState.from_spec(f"{A100}:1")
    with open_session(FakeNvml(state)) as s:
        s.gpu(0)
        gi = s.create_gpu_instance(0, 9, 4, 4, name="3g.20gb")
        with pytest.raises(NvmlCallError) as err:
            s.create_gpu_instance(0, 9, 4, 4, name="3g.20gb")
    assert err.value.exit_code == ExitCode.FAILED
    assert f"GPU 0 ({A100}" in err.value.message and "create GPU instance 3g.20gb at 4:4" in err.value.message
    assert "Insufficient Resources" in err.value.message and err.value.hint
    assert gi >= 1


def test_no_nvml_library_is_exit_3(monkeypatch):
    monkeypatch.delenv("MIGCTL_FAKE_NVML", raising=False)
    if pynvml.nvmlLib is not None:  # pragma: no cover - a machine with a driver
        pytest.skip("a real NVML is loaded here")
    with pytest.raises(UnreachableError) as err:
        with open_session():
            pass
    assert err.value.exit_code == ExitCode.UNREACHABLE and "NVML" in err.value.message
    assert isinstance(err.value, MigctlError)


def test_gpu_unknown_to_the_catalogue_uses_nvml_profiles(tmp_path):
    """A MIG GPU the catalogue lacks: profiles, names, board IDs and placements come from NVML itself."""
    from migctl.apply.engine import apply_geometry

    state = FakeState.from_dict({"gpus": [{"name": "NVIDIA Hypothetical X100", "model": "h100-80gb", "mig_current": True}]})
    with open_session(FakeNvml(state)) as s:
        gpu = s.gpu(0)
        assert gpu.model is not None and gpu.model.key == "nvml:NVIDIA Hypothetical X100"
        assert gpu.model.placement_units == 8
        assert gpu.model.profile("3g.40gb").board_profile_id == 9
        report = apply_geometry(s, "3g.40gb:1,2g.20gb:1,1g.10gb:2", gpu=0, state_dir_path=tmp_path)
        assert report.gpus[0].status == "applied"
        assert s.gpu(0).geometry == "3g.40gb:1,2g.20gb:1,1g.10gb:2"


def test_processes_nvml_will_not_report_count_as_busy(tmp_path):
    """A driver without nvmlDeviceGetComputeRunningProcesses_v3: processes unknown -> never destroyed."""
    from migctl.apply.engine import apply_geometry
    from migctl.cli.node import status_dict

    state = FakeState.from_dict({"gpus": [{"name": A100, "mig_current": True, "gpu_instances": [
        {"profile": "3g.20gb", "start": 0, "compute_instances": [{"id": 0}]}]}]})
    fake = FakeNvml(state)
    delattr(fake.lib, "nvmlDeviceGetComputeRunningProcesses_v3")
    with open_session(fake) as s:
        gpu = s.gpu(0)
        assert gpu.instances[0].processes is None
        assert status_dict([gpu])["gpus"][0]["instances"][0]["processes"] is None
        report = apply_geometry(s, "7g.40gb:1", gpu=0, state_dir_path=tmp_path)
        assert report.gpus[0].status == "refused" and "unknown processes" in report.gpus[0].message
        assert apply_geometry(s, "3g.20gb:2", gpu=0, state_dir_path=tmp_path).gpus[0].status == "applied"  # kept


def test_state_accepts_aliases_and_checks_compute_instances():
    state = FakeState.from_dict({"gpus": [{"name": A100, "mig_current": True, "gpu_instances": [
        {"profile": "3g.21gb", "start": 4, "compute_instances": [{"id": 0, "profile": 0}, {"id": 1, "profile": 0}]}]}]})
    assert state.gpus[0].gpu_instances[0].profile.name == "3g.20gb"
    with pytest.raises(FakeStateError, match=r"compute_instances\[1\]\.profile: CI profile 2 does not fit"):
        FakeState.from_dict({"gpus": [{"name": A100, "mig_current": True, "gpu_instances": [
            {"profile": "3g.20gb", "start": 4, "compute_instances": [{"id": 0}, {"id": 1}]}]}]})
