"""The C-function table: ``ctypes`` callbacks named like NVML's C functions, installed as ``pynvml.nvmlLib``.

Each callback writes its results through the pointers pynvml passes, so pynvml's own marshalling
runs for real (nvml.h gives every signature).
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Iterable
from ctypes import CFUNCTYPE, POINTER, c_int, c_uint, c_void_p, cast
from pathlib import Path
from typing import Any

import pynvml

from migctl.nvml.fake.boards import _CI_ENUMS_UNSUPPORTED, BoardProfile
from migctl.nvml.fake.faults import FAULT_OPERATIONS, Fault
from migctl.nvml.fake.state import (
    FakeComputeInstance,
    FakeGpu,
    FakeGpuInstance,
    FakeState,
    MAX_MIG_DEVICES,
    _stable_uuid,
)
from migctl.nvml.tables import (
    CI_ENUM_SLICES,
    ERROR_ARGUMENT_VERSION_MISMATCH,
    ERROR_DRIVER_NOT_LOADED,
    ERROR_INSUFFICIENT_RESOURCES,
    ERROR_INSUFFICIENT_SIZE,
    ERROR_INVALID_ARGUMENT,
    ERROR_IN_USE,
    ERROR_NOT_FOUND,
    ERROR_NOT_SUPPORTED,
    ERROR_NO_PERMISSION,
    ERROR_RESET_REQUIRED,
    ERROR_UNINITIALIZED,
    ERROR_UNKNOWN,
    SUCCESS,
)


_DEVICE, _GI, _CI, _MIG = 0x100000, 0x200000, 0x300000, 0x400000


def _export(name: str, *argtypes: Any) -> Callable[[Callable[..., int]], Callable[..., int]]:
    def mark(method: Callable[..., int]) -> Callable[..., int]:
        method._nvml_export = (name, argtypes)  # type: ignore[attr-defined]
        return method

    return mark


_LIFECYCLE = frozenset({"nvmlInitWithFlags", "nvmlInit_v2", "nvmlShutdown"})


class _ErrorString:
    """``nvmlErrorString``: pynvml sets ``restype = c_char_p`` on it, so it is a plain callable."""

    restype: Any = None

    def __call__(self, code: int) -> bytes:
        for name in dir(pynvml):
            if name.startswith("NVML_ERROR_") and getattr(pynvml, name) == code:
                return name[len("NVML_ERROR_"):].replace("_", " ").title().encode()
        return b"Unknown Error"


class _Library:
    """Stands in for the ``CDLL`` object: attributes named like the C functions."""


def _put(ptr: int | None, ctype: Any, value: Any) -> None:
    cast(ptr, POINTER(ctype))[0] = value


def _struct(ptr: int | None, ctype: Any) -> Any:
    return cast(ptr, POINTER(ctype)).contents


def _put_text(ptr: int | None, length: int, text: str) -> int:
    data = text.encode()
    if len(data) + 1 > length:
        return ERROR_INSUFFICIENT_SIZE
    ctypes.memmove(ptr, data + b"\0", len(data) + 1)
    return SUCCESS


class FakeNvml:
    """The simulator. ``install()`` puts it under pynvml; ``uninstall()`` puts the old library back.

    ``path``: the JSON state file, written after every change (``None`` keeps the state in memory).
    ``calls``: how many times each fault-able operation was called; ``writes``: NVML writes that
    took effect (GI/CI create/destroy, mode changes).
    """

    def __init__(self, state: FakeState, *, path: str | Path | None = None, faults: Iterable[Fault] = ()) -> None:
        self.state = state
        self.path = Path(path) if path is not None else None
        self.faults = tuple(faults)
        self.calls: dict[str, int] = {op: 0 for op in FAULT_OPERATIONS}
        self.writes = 0
        self.callback_errors: list[BaseException] = []
        self.initialized = 0
        self._saved: tuple[Any, dict[str, Any]] | None = None
        self._depth = 0
        self.lib = _Library()
        for attr in dir(type(self)):
            method = getattr(self, attr)
            spec = getattr(method, "_nvml_export", None)
            if spec is not None:
                name, argtypes = spec
                setattr(self.lib, name, CFUNCTYPE(c_int, *argtypes)(self._guard(method, name)))
        self.lib.nvmlErrorString = _ErrorString()

    # ---- lifecycle

    def install(self) -> FakeNvml:
        """Put the simulator under pynvml (nested installs are counted; the last uninstall restores)."""
        self._depth += 1
        if self._saved is None:
            self._saved = (pynvml.nvmlLib, dict(pynvml._nvmlGetFunctionPointer_cache))
        with pynvml.libLoadLock:
            pynvml.nvmlLib = self.lib
            pynvml._nvmlGetFunctionPointer_cache.clear()
        return self

    def uninstall(self) -> None:
        self._depth = max(0, self._depth - 1)
        if self._saved is None or self._depth:
            return
        lib, cache = self._saved
        with pynvml.libLoadLock:
            pynvml.nvmlLib = lib
            pynvml._nvmlGetFunctionPointer_cache.clear()
            pynvml._nvmlGetFunctionPointer_cache.update(cache)
        self._saved = None

    def __enter__(self) -> FakeNvml:
        return self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    def reload(self) -> None:
        """Re-read the state file (another process may have changed it)."""
        if self.path is not None and self.path.exists():
            from migctl.errors import InputError
            from migctl.nvml.fake.boards import FakeStateError

            try:
                self.state = FakeState.load(self.path)
            except FakeStateError as exc:  # changed under us into something unusable: the user's input, exit 2
                raise InputError(str(exc)) from None

    def save(self) -> None:
        if self.path is not None:
            self.state.save(self.path)

    # ---- plumbing

    def _guard(self, method: Callable[..., int], name: str) -> Callable[..., int]:
        needs_init = name not in _LIFECYCLE

        def call(*args: Any) -> int:
            if needs_init and not self.initialized:
                return ERROR_UNINITIALIZED  # like the real library between nvmlShutdown and nvmlInit
            try:
                return int(method(*args))
            except Exception as exc:  # noqa: BLE001 - an exception must not cross the C boundary
                self.callback_errors.append(exc)
                return ERROR_UNKNOWN

        return call

    def _fault(self, op: str) -> Fault | None:
        self.calls[op] += 1
        return next((f for f in self.faults if f.operation == op and f.nth == self.calls[op]), None)

    def _root(self) -> int:
        """MIG changes: root only (nvml.h "Requires root user" / "Requires privileged user")."""
        return SUCCESS if self.state.user == "root" else ERROR_NO_PERMISSION

    def _monitor(self) -> int:
        """Listing GPU/compute instances: root, or a user with the MIG monitor capability."""
        return ERROR_NO_PERMISSION if self.state.user == "unprivileged" else SUCCESS

    def _changed(self, fault: Fault | None = None) -> None:
        self.writes += 1
        self.save()
        if fault is not None and fault.crash:
            os._exit(137)  # simulate a process killed right after NVML did the work

    def _gpu(self, handle: int | None) -> FakeGpu | None:
        if not self.initialized or handle is None:
            return None
        index = handle - _DEVICE
        return self.state.gpus[index] if 0 <= index < len(self.state.gpus) and handle < _GI else None

    def _gi(self, handle: int | None) -> tuple[FakeGpu, FakeGpuInstance] | None:
        if not self.initialized or handle is None or not _GI <= handle < _CI:
            return None
        gpu_index, gi_id = divmod(handle - _GI, 0x100)
        if gpu_index >= len(self.state.gpus):
            return None
        gpu = self.state.gpus[gpu_index]
        gi = gpu.gpu_instance(gi_id) if gpu.mig_current else None
        return (gpu, gi) if gi is not None else None

    def _ci(self, handle: int | None, base: int = _CI) -> tuple[FakeGpu, FakeGpuInstance, FakeComputeInstance] | None:
        if not self.initialized or handle is None or not base <= handle < base + 0x100000:
            return None
        gpu_index, rest = divmod(handle - base, 0x10000)
        gi_id, ci_id = divmod(rest, 0x100)
        if gpu_index >= len(self.state.gpus):
            return None
        gpu = self.state.gpus[gpu_index]
        gi = gpu.gpu_instance(gi_id) if gpu.mig_current else None
        ci = next((c for c in gi.compute_instances if c.id == ci_id), None) if gi else None
        return (gpu, gi, ci) if gi is not None and ci is not None else None

    @staticmethod
    def _gi_handle(gpu: FakeGpu, gi: FakeGpuInstance) -> int:
        return _GI + gpu.index * 0x100 + gi.id

    @staticmethod
    def _ci_handle(gpu: FakeGpu, gi: FakeGpuInstance, ci: FakeComputeInstance, base: int = _CI) -> int:
        return base + gpu.index * 0x10000 + gi.id * 0x100 + ci.id

    def _mig_devices(self, gpu: FakeGpu) -> list[tuple[FakeGpuInstance, FakeComputeInstance]]:
        return [(gi, ci) for gi in sorted(gpu.gpu_instances, key=lambda g: g.id) for ci in sorted(gi.compute_instances, key=lambda c: c.id)]

    # ---- init, system

    @_export("nvmlInitWithFlags", c_uint)
    def _init(self, flags: int) -> int:
        if not self.state.driver_loaded:
            return ERROR_DRIVER_NOT_LOADED
        self.initialized += 1
        return SUCCESS

    @_export("nvmlInit_v2")
    def _init_v2(self) -> int:
        return self._init(0)

    @_export("nvmlShutdown")
    def _shutdown(self) -> int:
        if not self.initialized:
            return ERROR_UNINITIALIZED
        self.initialized -= 1
        return SUCCESS

    @_export("nvmlSystemGetDriverVersion", c_void_p, c_uint)
    def _driver_version(self, buf: int, length: int) -> int:
        return _put_text(buf, length, self.state.driver_version) if self.initialized else ERROR_UNINITIALIZED

    # ---- devices

    @_export("nvmlDeviceGetCount_v2", c_void_p)
    def _count(self, count: int) -> int:
        if not self.initialized:
            return ERROR_UNINITIALIZED
        _put(count, c_uint, len(self.state.gpus))
        return SUCCESS

    @_export("nvmlDeviceGetHandleByIndex_v2", c_uint, c_void_p)
    def _handle_by_index(self, index: int, out: int) -> int:
        if not self.initialized:
            return ERROR_UNINITIALIZED
        if index >= len(self.state.gpus):
            return ERROR_INVALID_ARGUMENT
        _put(out, c_void_p, _DEVICE + index)
        return SUCCESS

    @_export("nvmlDeviceGetHandleByUUID", c_void_p, c_void_p)
    def _handle_by_uuid(self, uuid: int, out: int) -> int:
        if not self.initialized:
            return ERROR_UNINITIALIZED
        text = ctypes.string_at(uuid).decode()
        for gpu in self.state.gpus:
            if gpu.uuid == text:
                _put(out, c_void_p, _DEVICE + gpu.index)
                return SUCCESS
            for gi, ci in self._mig_devices(gpu) if gpu.mig_current else []:
                if ci.uuid == text:
                    _put(out, c_void_p, self._ci_handle(gpu, gi, ci, _MIG))
                    return SUCCESS
        return ERROR_NOT_FOUND

    @_export("nvmlDeviceGetName", c_void_p, c_void_p, c_uint)
    def _name(self, handle: int, buf: int, length: int) -> int:
        gpu = self._gpu(handle)
        if gpu is not None:
            return _put_text(buf, length, gpu.name)
        mig = self._ci(handle, _MIG)
        if mig is not None:
            return _put_text(buf, length, f"{mig[0].name} MIG {mig[1].profile.name}")
        return ERROR_INVALID_ARGUMENT

    @_export("nvmlDeviceGetUUID", c_void_p, c_void_p, c_uint)
    def _uuid(self, handle: int, buf: int, length: int) -> int:
        gpu = self._gpu(handle)
        if gpu is not None:
            return _put_text(buf, length, gpu.uuid)
        mig = self._ci(handle, _MIG)
        if mig is not None:
            return _put_text(buf, length, mig[2].uuid)
        return ERROR_INVALID_ARGUMENT

    @_export("nvmlDeviceGetMemoryInfo", c_void_p, c_void_p)
    def _memory(self, handle: int, out: int) -> int:
        gpu = self._gpu(handle)
        if gpu is None:
            return ERROR_INVALID_ARGUMENT
        info = _struct(out, pynvml.c_nvmlMemory_t)
        info.total = gpu.memory_mib * 1024 * 1024
        info.used = 0
        info.free = info.total
        return SUCCESS

    @_export("nvmlDeviceGetPciInfo_v3", c_void_p, c_void_p)
    def _pci(self, handle: int, out: int) -> int:
        gpu = self._gpu(handle)
        if gpu is None:
            return ERROR_INVALID_ARGUMENT
        info = _struct(out, pynvml.nvmlPciInfo_t)
        domain, bus, rest = gpu.pci_bus_id.split(":")
        info.domain, info.bus, info.device = int(domain, 16), int(bus, 16), int(rest.split(".")[0], 16)
        info.pciDeviceId = gpu.pci_device_id
        info.busId = gpu.pci_bus_id.encode()
        info.busIdLegacy = gpu.pci_bus_id[-12:].encode()
        return SUCCESS

    @_export("nvmlDeviceGetArchitecture", c_void_p, c_void_p)
    def _arch(self, handle: int, out: int) -> int:
        gpu = self._gpu(handle)
        if gpu is None:
            return ERROR_INVALID_ARGUMENT
        _put(out, c_uint, gpu.architecture)
        return SUCCESS

    @_export("nvmlDeviceGetCudaComputeCapability", c_void_p, c_void_p, c_void_p)
    def _cc(self, handle: int, major: int, minor: int) -> int:
        gpu = self._gpu(handle)
        if gpu is None:
            return ERROR_INVALID_ARGUMENT
        _put(major, c_int, gpu.compute_capability[0])
        _put(minor, c_int, gpu.compute_capability[1])
        return SUCCESS

    @_export("nvmlDeviceGetFieldValues", c_void_p, c_int, c_void_p)
    def _field_values(self, handle: int, count: int, values: int) -> int:
        gpu = self._gpu(handle)
        if gpu is None:
            return ERROR_INVALID_ARGUMENT
        array = cast(values, POINTER(pynvml.c_nvmlFieldValue_t))
        for i in range(count):
            value = array[i]
            if value.fieldId == pynvml.NVML_FI_DEV_IS_RESETLESS_MIG_SUPPORTED and gpu.mig_capable:
                value.nvmlReturn = SUCCESS
                value.valueType = pynvml.NVML_VALUE_TYPE_UNSIGNED_INT
                value.value.uiVal = int(gpu.resetless)
            else:
                value.nvmlReturn = ERROR_NOT_SUPPORTED
        return SUCCESS

    @_export("nvmlDeviceGetComputeRunningProcesses_v3", c_void_p, c_void_p, c_void_p)
    def _processes(self, handle: int, count: int, infos: int) -> int:
        return self._running(handle, count, infos, lambda ci: ci.processes)

    @_export("nvmlDeviceGetGraphicsRunningProcesses_v3", c_void_p, c_void_p, c_void_p)
    def _graphics_processes(self, handle: int, count: int, infos: int) -> int:
        return self._running(handle, count, infos, lambda ci: ci.graphics_processes)

    def _running(self, handle: int, count: int, infos: int, pids: Callable[[FakeComputeInstance], list[int]]) -> int:
        entries: list[tuple[int, int, int]] = []
        gpu = self._gpu(handle)
        if count is None:
            return ERROR_INVALID_ARGUMENT
        if gpu is not None and gpu.mig_current and self._root() != SUCCESS:
            return ERROR_NO_PERMISSION  # nvml.h: aggregate over a MIG GPU "only if the caller has appropriate privileges"
        if gpu is not None:
            for gi, ci in self._mig_devices(gpu) if gpu.mig_current else []:
                entries += [(pid, gi.id, ci.id) for pid in pids(ci)]
        else:
            mig = self._ci(handle, _MIG)
            if mig is None:
                return ERROR_INVALID_ARGUMENT
            entries = [(pid, mig[1].id, mig[2].id) for pid in pids(mig[2])]
        capacity = cast(count, POINTER(c_uint))[0]
        _put(count, c_uint, len(entries))
        if not entries:
            return SUCCESS
        if infos is None or capacity < len(entries):
            return ERROR_INSUFFICIENT_SIZE
        array = cast(infos, POINTER(pynvml.c_nvmlProcessInfo_v3_t))
        for i, (pid, gi_id, ci_id) in enumerate(entries):
            array[i].pid, array[i].usedGpuMemory = pid, 1 << 30
            array[i].gpuInstanceId, array[i].computeInstanceId = gi_id, ci_id
        return SUCCESS

    # ---- MIG mode

    @_export("nvmlDeviceGetMigMode", c_void_p, c_void_p, c_void_p)
    def _get_mig_mode(self, handle: int, current: int, pending: int) -> int:
        gpu = self._gpu(handle)
        if gpu is None:
            return ERROR_INVALID_ARGUMENT
        if not gpu.mig_capable:
            return ERROR_NOT_SUPPORTED
        _put(current, c_uint, int(gpu.mig_current))
        _put(pending, c_uint, int(gpu.mig_pending))
        return SUCCESS

    @_export("nvmlDeviceSetMigMode", c_void_p, c_uint, c_void_p)
    def _set_mig_mode(self, handle: int, mode: int, status: int) -> int:
        gpu = self._gpu(handle)
        if gpu is None:
            return ERROR_INVALID_ARGUMENT
        if not gpu.mig_capable:
            return ERROR_NOT_SUPPORTED
        if mode not in (0, 1) or status is None:
            return ERROR_INVALID_ARGUMENT
        if self._root() != SUCCESS:
            return ERROR_NO_PERMISSION
        fault = self._fault("set_mig_mode")
        if fault is not None and not fault.crash:
            return fault.code
        want = bool(mode)
        busy = any(ci.busy for gi in gpu.gpu_instances for ci in gi.compute_instances)
        gpu.mig_pending = want
        activation = SUCCESS
        if want != gpu.mig_current:
            if gpu.passthrough:
                activation = ERROR_RESET_REQUIRED
            elif gpu.clients_holding or busy:
                # nvml.h: "if device unbind fails because the device isn't idle, NVML_ERROR_IN_USE would be
                # returned" in activationStatus; the call succeeds and the mode stays pending
                activation = ERROR_IN_USE
            else:
                gpu.mig_current = want
                gpu.gpu_instances.clear()
        _put(status, c_uint, activation)
        self._changed(fault)
        return SUCCESS

    # ---- GPU instance profiles

    def _mig_gpu(self, handle: int) -> tuple[FakeGpu | None, int]:
        gpu = self._gpu(handle)
        if gpu is None:
            return None, ERROR_INVALID_ARGUMENT
        if not gpu.mig_capable or not gpu.mig_current:
            return None, ERROR_NOT_SUPPORTED
        return gpu, SUCCESS

    def _fill_profile_info(self, out: int, profile: BoardProfile, gpu: FakeGpu) -> int:
        if out is None:
            return ERROR_INVALID_ARGUMENT
        info = _struct(out, pynvml.c_nvmlGpuInstanceProfileInfo_v2_t)
        if info.version != pynvml.nvmlGpuInstanceProfileInfo_v2:
            return ERROR_ARGUMENT_VERSION_MISMATCH
        info.id = profile.board_id
        info.isP2pSupported = 0
        info.sliceCount = profile.compute_slices
        info.instanceCount = gpu.nvml_instance_count.get(profile.name, profile.max_instances)
        info.multiprocessorCount = profile.multiprocessors
        info.copyEngineCount = profile.copy_engines
        info.decoderCount = profile.decoders
        info.encoderCount = profile.encoders
        info.jpegCount = profile.jpeg
        info.ofaCount = profile.ofa
        info.memorySizeMB = profile.memory_mib
        info.name = profile.nvml_name.encode()
        return SUCCESS

    @_export("nvmlDeviceGetGpuInstanceProfileInfoV", c_void_p, c_uint, c_void_p)
    def _profile_info(self, handle: int, enum: int, out: int) -> int:
        gpu = self._gpu(handle)
        if gpu is None:
            return ERROR_INVALID_ARGUMENT
        profile = gpu.board.get(enum)
        if profile is None:
            return ERROR_NOT_SUPPORTED if enum < pynvml.NVML_GPU_INSTANCE_PROFILE_COUNT else ERROR_INVALID_ARGUMENT
        if self.state.profiles_need_mig_on and not gpu.mig_current:
            return ERROR_NOT_SUPPORTED
        return self._fill_profile_info(out, profile, gpu)

    @_export("nvmlDeviceGetGpuInstanceProfileInfoByIdV", c_void_p, c_uint, c_void_p)
    def _profile_info_by_id(self, handle: int, board_id: int, out: int) -> int:
        gpu = self._gpu(handle)
        if gpu is None:
            return ERROR_INVALID_ARGUMENT
        profile = gpu.profile_by_id(board_id)
        if profile is not None and self.state.profiles_need_mig_on and not gpu.mig_current:
            return ERROR_NOT_SUPPORTED
        return self._fill_profile_info(out, profile, gpu) if profile else ERROR_INVALID_ARGUMENT

    @_export("nvmlDeviceGetGpuInstancePossiblePlacements_v2", c_void_p, c_uint, c_void_p, c_void_p)
    def _possible_placements(self, handle: int, board_id: int, placements: int, count: int) -> int:
        gpu = self._gpu(handle)
        if gpu is None:
            return ERROR_INVALID_ARGUMENT
        profile = gpu.profile_by_id(board_id)
        if profile is None or count is None:
            return ERROR_INVALID_ARGUMENT
        if self._monitor() != SUCCESS:
            return ERROR_NO_PERMISSION
        if placements is None:  # NULL: query the count
            _put(count, c_uint, len(profile.starts))
            return SUCCESS
        if cast(count, POINTER(c_uint))[0] < len(profile.starts):
            return ERROR_INSUFFICIENT_SIZE
        array = cast(placements, POINTER(pynvml.c_nvmlGpuInstancePlacement_t))
        for i, start in enumerate(profile.starts):
            array[i].start, array[i].size = start, profile.size
        _put(count, c_uint, len(profile.starts))
        return SUCCESS

    @_export("nvmlDeviceGetGpuInstanceRemainingCapacity", c_void_p, c_uint, c_void_p)
    def _remaining(self, handle: int, board_id: int, out: int) -> int:
        gpu, ret = self._mig_gpu(handle)
        if gpu is None:
            return ret
        profile = gpu.profile_by_id(board_id)
        if profile is None or out is None:
            return ERROR_INVALID_ARGUMENT
        if self._monitor() != SUCCESS:
            return ERROR_NO_PERMISSION
        free = [s for s in profile.starts if gpu.why_not(profile, s) == SUCCESS]
        # greedily count non-overlapping free placements
        taken: set[int] = set()
        n = 0
        for s in free:
            slots = set(range(s, s + profile.size))
            if not slots & taken:
                taken |= slots
                n += 1
        live = sum(1 for gi in gpu.gpu_instances if gi.profile.enum == profile.enum)
        _put(out, c_uint, min(n, profile.max_instances - live))
        return SUCCESS

    # ---- GPU instances

    def _create_gi(self, gpu: FakeGpu, profile: BoardProfile, start: int, out: int) -> int:
        if out is None:
            return ERROR_INVALID_ARGUMENT
        if self._root() != SUCCESS:
            return ERROR_NO_PERMISSION
        fault = self._fault("create_gpu_instance")
        if fault is not None and not fault.crash:
            return fault.code
        ret = gpu.why_not(profile, start)
        if ret != SUCCESS:
            return ret
        gi = FakeGpuInstance(id=gpu.new_gpu_instance_id(profile, start), profile=profile, start=start)
        gpu.gpu_instances.append(gi)
        _put(out, c_void_p, self._gi_handle(gpu, gi))
        self._changed(fault)
        return SUCCESS

    @_export("nvmlDeviceCreateGpuInstanceWithPlacement", c_void_p, c_uint, c_void_p, c_void_p)
    def _create_gi_with_placement(self, handle: int, board_id: int, placement: int, out: int) -> int:
        gpu, ret = self._mig_gpu(handle)
        if gpu is None:
            return ret
        profile = gpu.profile_by_id(board_id)
        if profile is None or placement is None:
            return ERROR_INVALID_ARGUMENT
        where = _struct(placement, pynvml.c_nvmlGpuInstancePlacement_t)
        if where.size != profile.size:
            return ERROR_INVALID_ARGUMENT
        return self._create_gi(gpu, profile, where.start, out)

    @_export("nvmlDeviceCreateGpuInstance", c_void_p, c_uint, c_void_p)
    def _create_gi_anywhere(self, handle: int, board_id: int, out: int) -> int:
        gpu, ret = self._mig_gpu(handle)
        if gpu is None:
            return ret
        profile = gpu.profile_by_id(board_id)
        if profile is None:
            return ERROR_INVALID_ARGUMENT
        start = next((s for s in profile.starts if gpu.why_not(profile, s) == SUCCESS), profile.starts[0])
        return self._create_gi(gpu, profile, start, out)  # first fit, like the k8s-test-infra mock

    @_export("nvmlDeviceGetGpuInstances", c_void_p, c_uint, c_void_p, c_void_p)
    def _gpu_instances(self, handle: int, board_id: int, out: int, count: int) -> int:
        gpu, ret = self._mig_gpu(handle)
        if gpu is None:
            return ret
        profile = gpu.profile_by_id(board_id)
        if profile is None:
            return ERROR_INVALID_ARGUMENT
        found = sorted((gi for gi in gpu.gpu_instances if gi.profile.enum == profile.enum), key=lambda g: g.id)
        if out is None or count is None:  # no NULL count query here, unlike most MIG list calls
            return ERROR_INVALID_ARGUMENT
        if self._monitor() != SUCCESS:
            return ERROR_NO_PERMISSION
        array = cast(out, POINTER(c_void_p))
        for i, gi in enumerate(found):
            array[i] = self._gi_handle(gpu, gi)
        _put(count, c_uint, len(found))
        return SUCCESS

    @_export("nvmlDeviceGetGpuInstanceById", c_void_p, c_uint, c_void_p)
    def _gi_by_id(self, handle: int, gi_id: int, out: int) -> int:
        gpu, ret = self._mig_gpu(handle)
        if gpu is None:
            return ret
        if out is None:
            return ERROR_INVALID_ARGUMENT
        if self._monitor() != SUCCESS:
            return ERROR_NO_PERMISSION
        gi = gpu.gpu_instance(gi_id)
        if gi is None:
            return ERROR_NOT_FOUND
        _put(out, c_void_p, self._gi_handle(gpu, gi))
        return SUCCESS

    @_export("nvmlGpuInstanceGetInfo", c_void_p, c_void_p)
    def _gi_info(self, handle: int, out: int) -> int:
        found = self._gi(handle)
        if found is None:
            return ERROR_INVALID_ARGUMENT
        gpu, gi = found
        info = _struct(out, pynvml.c_nvmlGpuInstanceInfo_t)
        info.device = cast(c_void_p(_DEVICE + gpu.index), pynvml.c_nvmlDevice_t)
        info.id = gi.id
        info.profileId = gi.profile.board_id
        info.placement.start, info.placement.size = gi.start, gi.size
        return SUCCESS

    @_export("nvmlGpuInstanceDestroy", c_void_p)
    def _destroy_gi(self, handle: int) -> int:
        found = self._gi(handle)
        if found is None:
            return ERROR_INVALID_ARGUMENT
        if self._root() != SUCCESS:
            return ERROR_NO_PERMISSION
        fault = self._fault("destroy_gpu_instance")
        if fault is not None and not fault.crash:
            return fault.code
        gpu, gi = found
        if gi.compute_instances:
            return ERROR_IN_USE
        gpu.gpu_instances.remove(gi)
        self._changed(fault)
        return SUCCESS

    # ---- compute instances

    @_export("nvmlGpuInstanceGetComputeInstanceProfileInfoV", c_void_p, c_uint, c_uint, c_void_p)
    def _ci_profile_info(self, handle: int, enum: int, engine: int, out: int) -> int:
        found = self._gi(handle)
        if found is None:
            return ERROR_INVALID_ARGUMENT
        gi = found[1]
        slices = CI_ENUM_SLICES.get(enum)
        g = gi.profile.compute_slices
        if engine != 0 or slices is None or enum in _CI_ENUMS_UNSUPPORTED:
            return ERROR_NOT_SUPPORTED
        if slices > g or (slices < g and 2 * slices > g + 1):
            return ERROR_NOT_SUPPORTED
        info = _struct(out, pynvml.c_nvmlComputeInstanceProfileInfo_v2_t)
        if info.version != pynvml.nvmlComputeInstanceProfileInfo_v2:
            return ERROR_ARGUMENT_VERSION_MISMATCH
        info.id = enum
        info.sliceCount = slices
        info.instanceCount = g // slices
        info.multiprocessorCount = gi.profile.multiprocessors * slices // max(g, 1)
        info.name = (f"MIG {gi.profile.name}" if slices == g else f"MIG {slices}c.{gi.profile.name}").encode()
        return SUCCESS

    @_export("nvmlGpuInstanceCreateComputeInstance", c_void_p, c_uint, c_void_p)
    def _create_ci(self, handle: int, ci_profile: int, out: int) -> int:
        found = self._gi(handle)
        if found is None:
            return ERROR_INVALID_ARGUMENT
        gpu, gi = found
        slices = CI_ENUM_SLICES.get(ci_profile)
        if slices is None or ci_profile in _CI_ENUMS_UNSUPPORTED or slices > gi.profile.compute_slices:
            return ERROR_INVALID_ARGUMENT
        if out is None:
            return ERROR_INVALID_ARGUMENT
        if self._root() != SUCCESS:
            return ERROR_NO_PERMISSION
        fault = self._fault("create_compute_instance")
        if fault is not None and not fault.crash:
            return fault.code
        used = sum(CI_ENUM_SLICES[ci.profile] for ci in gi.compute_instances)
        if used + slices > gi.profile.compute_slices:
            return ERROR_INSUFFICIENT_RESOURCES
        ids = {ci.id for ci in gi.compute_instances}
        ci_id = next(i for i in range(0x100) if i not in ids)
        self.state.serial += 1
        ci = FakeComputeInstance(ci_id, ci_profile, _stable_uuid("MIG", gpu.uuid, gi.id, ci_id, self.state.serial),
                                 mig_index=gpu.free_mig_index())
        gi.compute_instances.append(ci)
        _put(out, c_void_p, self._ci_handle(gpu, gi, ci))
        self._changed(fault)
        return SUCCESS

    @_export("nvmlGpuInstanceGetComputeInstances", c_void_p, c_uint, c_void_p, c_void_p)
    def _compute_instances(self, handle: int, ci_profile: int, out: int, count: int) -> int:
        found = self._gi(handle)
        if found is None:
            return ERROR_INVALID_ARGUMENT
        gpu, gi = found
        if out is None or count is None:
            return ERROR_INVALID_ARGUMENT
        if self._monitor() != SUCCESS:
            return ERROR_NO_PERMISSION
        cis = sorted((c for c in gi.compute_instances if c.profile == ci_profile), key=lambda c: c.id)
        array = cast(out, POINTER(c_void_p))
        for i, ci in enumerate(cis):
            array[i] = self._ci_handle(gpu, gi, ci)
        _put(count, c_uint, len(cis))
        return SUCCESS

    @_export("nvmlGpuInstanceGetComputeInstanceById", c_void_p, c_uint, c_void_p)
    def _ci_by_id(self, handle: int, ci_id: int, out: int) -> int:
        found = self._gi(handle)
        if found is None:
            return ERROR_INVALID_ARGUMENT
        gpu, gi = found
        if out is None:
            return ERROR_INVALID_ARGUMENT
        if self._monitor() != SUCCESS:
            return ERROR_NO_PERMISSION
        ci = next((c for c in gi.compute_instances if c.id == ci_id), None)
        if ci is None:
            return ERROR_NOT_FOUND
        _put(out, c_void_p, self._ci_handle(gpu, gi, ci))
        return SUCCESS

    @_export("nvmlComputeInstanceGetInfo_v2", c_void_p, c_void_p)
    def _ci_info(self, handle: int, out: int) -> int:
        found = self._ci(handle)
        if found is None:
            return ERROR_INVALID_ARGUMENT
        gpu, gi, ci = found
        info = _struct(out, pynvml.c_nvmlComputeInstanceInfo_t)
        info.device = cast(c_void_p(self._ci_handle(gpu, gi, ci, _MIG)), pynvml.c_nvmlDevice_t)
        info.gpuInstance = cast(c_void_p(self._gi_handle(gpu, gi)), pynvml.c_nvmlGpuInstance_t)
        info.id = ci.id
        info.profileId = ci.profile
        offset = sum(CI_ENUM_SLICES[c.profile] for c in gi.compute_instances[: gi.compute_instances.index(ci)])
        info.placement.start, info.placement.size = offset, CI_ENUM_SLICES[ci.profile]
        return SUCCESS

    @_export("nvmlComputeInstanceDestroy", c_void_p)
    def _destroy_ci(self, handle: int) -> int:
        found = self._ci(handle)
        if found is None:
            return ERROR_INVALID_ARGUMENT
        if self._root() != SUCCESS:
            return ERROR_NO_PERMISSION
        fault = self._fault("destroy_compute_instance")
        if fault is not None and not fault.crash:
            return fault.code
        _gpu, gi, ci = found
        if ci.busy:
            return ERROR_IN_USE
        gi.compute_instances.remove(ci)
        self._changed(fault)
        return SUCCESS

    # ---- MIG devices

    @_export("nvmlDeviceGetMaxMigDeviceCount", c_void_p, c_void_p)
    def _max_mig(self, handle: int, out: int) -> int:
        gpu = self._gpu(handle)
        if gpu is None:
            return ERROR_INVALID_ARGUMENT
        _put(out, c_uint, MAX_MIG_DEVICES if gpu.mig_capable else 0)
        return SUCCESS

    @_export("nvmlDeviceGetMigDeviceHandleByIndex", c_void_p, c_uint, c_void_p)
    def _mig_by_index(self, handle: int, index: int, out: int) -> int:
        gpu, ret = self._mig_gpu(handle)
        if gpu is None:
            return ret
        if index >= MAX_MIG_DEVICES or out is None:
            return ERROR_INVALID_ARGUMENT
        found = next(((gi, ci) for gi, ci in gpu.compute_instances() if ci.mig_index == index), None)
        if found is None:
            return ERROR_NOT_FOUND  # a gap: go-nvlib's VisitMigDevices skips these
        _put(out, c_void_p, self._ci_handle(gpu, found[0], found[1], _MIG))
        return SUCCESS

    @_export("nvmlDeviceIsMigDeviceHandle", c_void_p, c_void_p)
    def _is_mig(self, handle: int, out: int) -> int:
        _put(out, c_uint, int(self._ci(handle, _MIG) is not None))
        return SUCCESS

    @_export("nvmlDeviceGetGpuInstanceId", c_void_p, c_void_p)
    def _mig_gi_id(self, handle: int, out: int) -> int:
        mig = self._ci(handle, _MIG)
        if mig is None:
            return ERROR_INVALID_ARGUMENT
        _put(out, c_uint, mig[1].id)
        return SUCCESS

    @_export("nvmlDeviceGetComputeInstanceId", c_void_p, c_void_p)
    def _mig_ci_id(self, handle: int, out: int) -> int:
        mig = self._ci(handle, _MIG)
        if mig is None:
            return ERROR_INVALID_ARGUMENT
        _put(out, c_uint, mig[2].id)
        return SUCCESS

    @_export("nvmlDeviceGetDeviceHandleFromMigDeviceHandle", c_void_p, c_void_p)
    def _mig_parent(self, handle: int, out: int) -> int:
        mig = self._ci(handle, _MIG)
        if mig is None:
            return ERROR_INVALID_ARGUMENT
        _put(out, c_void_p, _DEVICE + mig[0].index)
        return SUCCESS
