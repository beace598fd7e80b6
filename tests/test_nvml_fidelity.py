"""Where the simulated NVML must behave like the real C library (mig-parted.md §2, §1.4, §5; nvml.h).

Each test here pins one behaviour of the real library that the simulator once got wrong (or did not
model), and what the adapter and the apply engine do with it.
"""

from __future__ import annotations

import ctypes

import pynvml
import pytest

from migctl.apply.engine import apply_geometry
from migctl.errors import ExitCode, UnreachableError
from migctl.nvml.adapter import NvmlCallError
from migctl.nvml.session import open_session
from migctl.nvml.fake import FakeNvml, FakeState, reset_gpu

A100 = "NVIDIA A100-SXM4-40GB"
A30 = "NVIDIA A30"


def _placement(start: int, size: int):
    return ctypes.byref(pynvml.c_nvmlGpuInstancePlacement_t(start, size))


@pytest.fixture
def nvml():
    fake = FakeNvml(FakeState.from_spec(f"{A100}:1,{A30}:1,NVIDIA H200:1"))
    fake.install()
    pynvml.nvmlInit()
    yield fake
    try:
        pynvml.nvmlShutdown()
    except pynvml.NVMLError_Uninitialized:
        pass
    fake.uninstall()
    assert not fake.callback_errors


# ---- GPU instance IDs: fixed by the placement, the full GPU instance is ID 0


def _gi_id(handle, profile_id: int, start: int, size: int) -> int:
    gi = pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(handle, profile_id, _placement(start, size))
    return int(pynvml.nvmlGpuInstanceGetInfo(gi).id)


def test_gpu_instance_ids_follow_the_placement(nvml):
    """Real boards number GIs by slot (nvidia-smi: 7g is GI 0, 3g at 4 is GI 2, 1g at 0..6 are GI 7..13)."""
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    gi = pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(h, 0, _placement(0, 8))
    assert pynvml.nvmlGpuInstanceGetInfo(gi).id == 0  # the full GPU instance is GI 0
    by_id = pynvml.nvmlDeviceGetGpuInstanceById(h, 0)
    assert ctypes.cast(by_id, ctypes.c_void_p).value == ctypes.cast(gi, ctypes.c_void_p).value
    pynvml.nvmlGpuInstanceDestroy(gi)
    ids = [_gi_id(h, 9, 4, 4), _gi_id(h, 14, 0, 2), _gi_id(h, 19, 3, 1), _gi_id(h, 19, 2, 1)]
    assert ids == [2, 3, 10, 9]
    a30 = pynvml.nvmlDeviceGetHandleByIndex(1)  # 4 memory slices: 4g is 0, 2g 1..2, 1g 3..6
    assert [_gi_id(a30, 5, 2, 2), _gi_id(a30, 14, 1, 1), _gi_id(a30, 14, 0, 1)] == [2, 4, 3]


def test_state_file_instances_get_slot_ids_too():
    state = FakeState.from_dict({"gpus": [{"name": A100, "mig_current": True, "gpu_instances": [
        {"profile": "4g.20gb", "start": 0}, {"profile": "1g.5gb", "start": 6}, {"id": 3, "profile": "2g.10gb", "start": 4}]}]})
    assert [(gi.profile.name, gi.id) for gi in state.gpus[0].gpu_instances] == [("4g.20gb", 1), ("1g.5gb", 13), ("2g.10gb", 3)]


def test_engine_replaces_gpu_instance_zero(tmp_path):
    """GI ID 0 is a real ID (the 7g on every 8-slice board), never "no instance"."""
    state = FakeState.from_spec(f"{A100}:1")
    with open_session(FakeNvml(state)) as s:
        assert apply_geometry(s, "7g.40gb:1", gpu=0, state_dir_path=tmp_path).gpus[0].status == "applied"
        gpu = s.gpu(0)
        assert [(g.id, g.profile) for g in gpu.instances] == [(0, "7g.40gb")]
        report = apply_geometry(s, "3g.20gb:2", gpu=0, state_dir_path=tmp_path)
        assert report.gpus[0].status == "applied", report.gpus[0].message
        assert [a.gpu_instance_id for a in report.gpus[0].actions if a.op == "destroy"] == [0]
        assert [(g.id, g.profile, g.start) for g in s.gpu(0).instances] == [(1, "3g.20gb", 0), (2, "3g.20gb", 4)]


# ---- nvmlDeviceSetMigMode: a busy GPU leaves the change pending (activation status), ret is success


def test_set_mig_mode_on_a_busy_gpu_is_pending_not_an_error(nvml):
    """nvml.h: "if device unbind fails because the device isn't idle, NVML_ERROR_IN_USE would be
    returned" in activationStatus; the call itself succeeds and the new mode is pending."""
    h = pynvml.nvmlDeviceGetHandleByIndex(2)  # H200: reset-less, so an idle GPU would switch at once
    gi = pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(h, 0, _placement(0, 8))
    pynvml.nvmlGpuInstanceCreateComputeInstance(gi, pynvml.NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE)
    nvml.state.gpus[2].gpu_instances[0].compute_instances[0].processes.append(77)
    assert pynvml.nvmlDeviceSetMigMode(h, pynvml.NVML_DEVICE_MIG_DISABLE) == pynvml.NVML_ERROR_IN_USE
    assert pynvml.nvmlDeviceGetMigMode(h) == [1, 0]
    assert len(nvml.state.gpus[2].gpu_instances) == 1  # nothing lost while the change waits
    nvml.state.gpus[2].gpu_instances[0].compute_instances[0].processes.clear()
    reset_gpu(nvml.state, 2)
    assert pynvml.nvmlDeviceGetMigMode(h) == [0, 0] and nvml.state.gpus[2].gpu_instances == []


# ---- the library after nvmlShutdown, NULL arguments


def test_calls_after_shutdown_are_uninitialized(nvml):
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    pynvml.nvmlShutdown()
    for call in (lambda: pynvml.nvmlDeviceGetMigMode(h), lambda: pynvml.nvmlDeviceGetName(h),
                 lambda: pynvml.nvmlDeviceGetGpuInstanceProfileInfo(h, 0)):
        with pytest.raises(pynvml.NVMLError_Uninitialized):
            call()


def test_null_count_pointers_are_invalid_argument(nvml):
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    count = ctypes.c_uint(0)
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        pynvml.nvmlDeviceGetGpuInstancePossiblePlacements(h, 0, None, None)
    array = (pynvml.c_nvmlGpuInstance_t * 8)()
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        pynvml.nvmlDeviceGetGpuInstances(h, 0, array, None)
    gi = pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(h, 0, _placement(0, 8))
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        pynvml.nvmlGpuInstanceGetComputeInstances(gi, 4, None, ctypes.byref(count))
    cis = (pynvml.c_nvmlComputeInstance_t * 8)()
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        pynvml.nvmlGpuInstanceGetComputeInstances(gi, 4, cis, None)
    fn = pynvml._nvmlGetFunctionPointer("nvmlDeviceGetComputeRunningProcesses_v3")
    assert fn(h, None, None) == pynvml.NVML_ERROR_INVALID_ARGUMENT
    assert not nvml.callback_errors  # answered, not crashed inside the callback


# ---- permissions: MIG changes need root; listing instances needs root or the MIG monitor capability


def test_mig_writes_need_root(tmp_path):
    state = FakeState.from_dict({"user": "monitor", "gpus": [{"name": A100, "mig_current": True}]})
    with open_session(FakeNvml(state)) as s:
        assert s.gpu(0).geometry == ""  # reading works with the monitor capability
        with pytest.raises(NvmlCallError) as err:
            s.create_gpu_instance(0, 9, 0, 4, name="3g.20gb")
        with pytest.raises(NvmlCallError) as mode_err:
            s.set_mig_mode(0, False)
        report = apply_geometry(s, "3g.20gb:2", gpu=0, state_dir_path=tmp_path)
    assert err.value.code == pynvml.NVML_ERROR_NO_PERMISSION and "root" in (err.value.hint or "")
    assert mode_err.value.code == pynvml.NVML_ERROR_NO_PERMISSION
    assert report.gpus[0].status in ("rolled-back", "failed") and report.exit_code == ExitCode.FAILED
    assert "Insufficient Permissions" in report.gpus[0].message and state.gpus[0].gpu_instances == []
    assert "root" in (report.gpus[0].hint or "")  # the rolled-back GPU still says why and what to do


def test_listing_instances_without_privilege_says_what_is_missing():
    state = FakeState.from_dict({"user": "unprivileged", "gpus": [{"name": A100, "mig_current": True, "gpu_instances": [
        {"profile": "3g.20gb", "start": 0, "compute_instances": [{"id": 0, "processes": [5]}]}]}]})
    with FakeNvml(state):
        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        assert pynvml.nvmlDeviceGetMigMode(h) == [1, 1]  # not privileged
        assert pynvml.nvmlDeviceGetGpuInstanceProfileInfo(h, 2).id == 9
        with pytest.raises(pynvml.NVMLError_NoPermission):
            pynvml.nvmlDeviceGetGpuInstances(h, 9, (pynvml.c_nvmlGpuInstance_t * 8)(), ctypes.byref(ctypes.c_uint(8)))
        with pytest.raises(pynvml.NVMLError_NoPermission):  # aggregate processes of a MIG GPU: privileged only
            pynvml.nvmlDeviceGetComputeRunningProcesses(h)
        pynvml.nvmlShutdown()
    with open_session(FakeNvml(state)) as s:
        with pytest.raises(NvmlCallError) as err:
            s.gpu(0)
    assert err.value.code == pynvml.NVML_ERROR_NO_PERMISSION
    assert "list 1g.5gb GPU instances failed" in err.value.message  # the first board profile read
    assert "NVIDIA_MIG_MONITOR_DEVICES" in (err.value.hint or "") and "MIG changes" not in (err.value.hint or "")


def test_processes_are_read_per_mig_device_without_root():
    """The adapter asks each MIG device handle, which works for a non-root user with the monitor capability."""
    state = FakeState.from_dict({"user": "monitor", "gpus": [{"name": A100, "mig_current": True, "gpu_instances": [
        {"profile": "3g.20gb", "start": 0, "compute_instances": [{"id": 0, "processes": [5, 6]}]}]}]})
    with open_session(FakeNvml(state)) as s:
        assert s.gpu(0).instances[0].processes == (5, 6)


# ---- NVML not loaded, older drivers


def test_driver_not_loaded_is_unreachable():
    state = FakeState.from_dict({"driver_loaded": False, "gpus": [{"name": A100}]})
    with pytest.raises(UnreachableError) as err:
        with open_session(FakeNvml(state)):
            pass
    assert err.value.exit_code == ExitCode.UNREACHABLE and "Driver Not Loaded" in err.value.message
    assert pynvml.nvmlLib is None or not isinstance(pynvml.nvmlLib, type(FakeNvml(state).lib))


def test_older_driver_cannot_list_profiles_while_mig_is_off(tmp_path):
    """mig-parted.md §2: drivers such as 535 answer GetGpuInstanceProfileInfo only with MIG on."""
    state = FakeState.from_dict({"driver_version": "535.183.01", "profiles_need_mig_on": True,
                                 "gpus": [{"name": A100, "mig_current": False}]})
    with FakeNvml(state):
        pynvml.nvmlInit()
        with pytest.raises(pynvml.NVMLError_NotSupported):
            pynvml.nvmlDeviceGetGpuInstanceProfileInfo(pynvml.nvmlDeviceGetHandleByIndex(0), 0)
        pynvml.nvmlShutdown()
    with open_session(FakeNvml(state)) as s:
        gpu = s.gpu(0)
        assert gpu.mig_enabled is False and gpu.model is not None and gpu.model.key == "a100-40gb"  # from the catalogue
        planned = apply_geometry(s, "3g.20gb:2", gpu=0, dry_run=True, state_dir_path=tmp_path).gpus[0]
        assert planned.status == "planned" and [a.op for a in planned.actions] == ["enable-mig", "create", "create"]
        applied = apply_geometry(s, "3g.20gb:2", gpu=0, state_dir_path=tmp_path).gpus[0]
        assert applied.status == "applied" and s.gpu(0).geometry == "3g.20gb:2"


# ---- the A30 trap: NVML's instanceCount is not to be trusted (mig-parted.md §2, §5)


def test_a_wrong_nvml_instance_count_does_not_limit_the_plan(tmp_path):
    """mig-parted hard-codes the A30 because NVML reports wrong profile data; the fake can report a
    wrong ``instanceCount`` while the board keeps its real limits, and the adapter plans from the catalogue."""
    state = FakeState.from_dict({"gpus": [{"name": A30, "mig_current": True, "nvml_instance_count": {"1g.6gb": 1}}]})
    with FakeNvml(state):
        pynvml.nvmlInit()
        info = pynvml.nvmlDeviceGetGpuInstanceProfileInfo(pynvml.nvmlDeviceGetHandleByIndex(0), 0)
        assert (info.id, info.instanceCount) == (14, 1)  # what NVML says, wrongly
        pynvml.nvmlShutdown()
    assert FakeState.from_dict(state.to_dict()).gpus[0].nvml_instance_count == {"1g.6gb": 1}
    with open_session(FakeNvml(state)) as s:
        assert s.gpu(0).model.profile("1g.6gb").max_instances == 4
        report = apply_geometry(s, "1g.6gb:4", gpu=0, state_dir_path=tmp_path)
        assert report.gpus[0].status == "applied" and s.gpu(0).geometry == "1g.6gb:4"


# ---- a pending MIG enable is activated by calling nvmlDeviceSetMigMode again once the GPU is idle


def test_a_pending_enable_is_retried_when_the_gpu_is_idle_again(tmp_path):
    """On a reset-less GPU (Hopper+) the activation only failed because the GPU was busy; the hint says
    "stop the processes and run migctl again", so the rerun must ask NVML again, not report the old state."""
    state = FakeState.from_dict({"gpus": [{"name": "NVIDIA H200", "mig_current": False, "clients_holding": True}]})
    fake = FakeNvml(state)
    with open_session(fake) as s:
        first = apply_geometry(s, "3g.71gb:2", gpu=0, state_dir_path=tmp_path).gpus[0]
        assert first.status == "reset-required" and "run migctl again" in (first.hint or "")
        assert (state.gpus[0].mig_current, state.gpus[0].mig_pending) == (False, True)
        dry = apply_geometry(s, "3g.71gb:2", gpu=0, dry_run=True, state_dir_path=tmp_path).gpus[0]
        assert dry.status == "reset-required" and fake.writes == 1  # a dry run never writes
        state.gpus[0].clients_holding = False  # the user stopped the clients
        again = apply_geometry(s, "3g.71gb:2", gpu=0, state_dir_path=tmp_path).gpus[0]
        assert again.status == "applied", again.message
        assert s.gpu(0).geometry == "3g.71gb:2" and [a.op for a in again.actions][0] == "enable-mig"


# ---- MIG device indices have gaps after a destroy, and a freed index is reused


def test_mig_device_indices_have_gaps_and_are_reused(nvml):
    """mig-parted.md §2: GetMigDeviceHandleByIndex has gaps (go-nvlib skips NOT_FOUND); handles are reused."""
    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    uuids = []
    for start in (0, 1, 2):
        gi = pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(h, 19, _placement(start, 1))
        ci = pynvml.nvmlGpuInstanceCreateComputeInstance(gi, 0)
        uuids.append(pynvml.nvmlDeviceGetUUID(pynvml.nvmlComputeInstanceGetInfo(ci).device))
    assert [pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetMigDeviceHandleByIndex(h, i)) for i in range(3)] == uuids
    first = pynvml.nvmlDeviceGetGpuInstanceById(h, 7)  # the 1g at slice 0
    pynvml.nvmlComputeInstanceDestroy(pynvml.nvmlGpuInstanceGetComputeInstanceById(first, 0))
    pynvml.nvmlGpuInstanceDestroy(first)
    with pytest.raises(pynvml.NVMLError_NotFound):  # a gap where the destroyed device was
        pynvml.nvmlDeviceGetMigDeviceHandleByIndex(h, 0)
    assert pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetMigDeviceHandleByIndex(h, 2)) == uuids[2]
    gi = pynvml.nvmlDeviceCreateGpuInstanceWithPlacement(h, 19, _placement(6, 1))
    ci = pynvml.nvmlGpuInstanceCreateComputeInstance(gi, 0)
    reused = pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetMigDeviceHandleByIndex(h, 0))
    assert reused == pynvml.nvmlDeviceGetUUID(pynvml.nvmlComputeInstanceGetInfo(ci).device) != uuids[0]
    with pytest.raises(pynvml.NVMLError_InvalidArgument):  # past the GPU's maximum
        pynvml.nvmlDeviceGetMigDeviceHandleByIndex(h, pynvml.nvmlDeviceGetMaxMigDeviceCount(h))


# ---- older drivers lack nvmlDeviceGetGpuInstanceProfileInfoByIdV (a recent addition to NVML)


def test_compute_instances_are_created_without_the_by_id_profile_query(tmp_path):
    """The adapter finds the GI's slice count by the enum walk every MIG driver answers."""
    state = FakeState.from_spec(f"{A100}:1")
    fake = FakeNvml(state)
    delattr(fake.lib, "nvmlDeviceGetGpuInstanceProfileInfoByIdV")
    with open_session(fake) as s:
        report = apply_geometry(s, "3g.20gb:1,2g.10gb:1,1g.5gb:1", gpu=0, state_dir_path=tmp_path)
        assert report.gpus[0].status == "applied", report.gpus[0].message
        assert all(len(gi.compute_instances) == 1 for gi in s.gpu(0).instances)


# ---- graphics work on a +gfx instance is a process too (nvmlDeviceGetGraphicsRunningProcesses)


def test_graphics_processes_on_a_gfx_instance_make_it_busy(tmp_path):
    """RTX PRO Blackwell ``+gfx`` instances run graphics contexts, which the compute process list omits."""
    rtx = "NVIDIA RTX PRO 6000 Blackwell Server Edition"
    state = FakeState.from_dict({"gpus": [{"name": rtx, "mig_current": True, "gpu_instances": [
        {"profile": "2g.48gb+gfx", "start": 0, "compute_instances": [{"id": 0, "graphics_processes": [900]}]}]}]})
    with open_session(FakeNvml(state)) as s:
        gpu = s.gpu(0)
        assert gpu.instances[0].processes == (900,)
        report = apply_geometry(s, "4g.96gb:1", gpu=0, state_dir_path=tmp_path)
        assert report.gpus[0].status == "refused" and "900" in report.gpus[0].message
    with FakeNvml(state):
        pynvml.nvmlInit()
        gi = pynvml.nvmlDeviceGetGpuInstanceById(pynvml.nvmlDeviceGetHandleByIndex(0), state.gpus[0].gpu_instances[0].id)
        with pytest.raises(pynvml.NVMLError_InUse):  # the board refuses too
            pynvml.nvmlComputeInstanceDestroy(pynvml.nvmlGpuInstanceGetComputeInstanceById(gi, 0))
        pynvml.nvmlShutdown()
    assert FakeState.from_dict(state.to_dict()).gpus[0].gpu_instances[0].compute_instances[0].graphics_processes == [900]
