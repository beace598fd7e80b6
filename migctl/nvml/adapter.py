"""The NVML edge: one NVML session per command, reads of the MIG state, and the MIG writes.

Everything goes through pynvml (nvidia-ml-py). The traps handled here (nvml.h; NVIDIA/mig-parted ``pkg/mig/config/config.go``):

- two numberings of GI profiles: ``nvmlDeviceGetGpuInstanceProfileInfo`` takes the enum
  ``NVML_GPU_INSTANCE_PROFILE_*`` and answers the board profile ID (``info.id``) that every other
  call takes; profiles are identified by (compute slices, placement size, attribute), not by the
  name string, and then named from the catalogue (names drift between drivers);
- placements are NVML memory-slice units and are read from ``...PossiblePlacements``;
- creating on an occupied placement is ``INSUFFICIENT_RESOURCES``, not "already exists";
- ``nvmlDeviceSetMigMode`` returns an *activation status* that must be checked by hand
  (``IN_USE``: pending until the GPU is idle or reset; ``RESET_REQUIRED``: reboot/passthrough);
- the full compute instance of a GI uses the lowest CI profile enum the GI accepts
  (dra-driver-nvidia-gpu #1480 picked ``7_SLICE_NVL``);
- one session per command: init/shutdown can take a minute without persistence mode, and the
  session must be closed before a GPU reset.

Every NVML error becomes :class:`NvmlCallError` naming the GPU and the operation. Sessions are
opened by :func:`migctl.nvml.session.open_session`, which chooses the simulator
(:mod:`migctl.nvml.fake`, ``MIGCTL_FAKE_NVML``) or the real driver and calls :func:`open_nvml`.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from migctl.errors import CheckFailed, InputError, UnreachableError
from migctl.hardware.geometry import MIG_OFF, Geometry, geometry_from_names
from migctl.hardware.placement import HasPlacement, PlacedInstance
from migctl.nvml.tables import CI_PROFILE_COUNT, GI_ENUM_ATTRIBUTE, GI_PROFILE_COUNT

if TYPE_CHECKING:
    from migctl.hardware.catalogue import GpuModel, Profile
    from migctl.nvml.fake import FakeNvml

__all__ = [
    "ComputeInstance",
    "GpuInfo",
    "GpuInstance",
    "ModeChange",
    "NvmlCallError",
    "NvmlSession",
    "open_nvml",
]

class NvmlCallError(CheckFailed):
    """An NVML call failed; ``operation`` and ``gpu`` say which, ``code`` is the NVML return code."""

    def __init__(self, message: str, *, code: int, operation: str, gpu: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.operation = operation
        self.gpu = gpu
        for listener in tuple(ERROR_LISTENERS):  # the daemon's metrics count NVML errors by operation
            listener(self)


#: Called with every :class:`NvmlCallError` made (``migctl node daemon``: ``migctl_daemon_nvml_errors_total``).
ERROR_LISTENERS: list[Callable[[NvmlCallError], None]] = []


#: Operation names of the MIG writes (nvml.h: root only); everything else is a read.
_WRITES = ("create ", "destroy ", "enable MIG", "disable MIG")


def _nvml_error(exc: Exception, operation: str, gpu: str) -> NvmlCallError:
    import pynvml

    code = int(getattr(exc, "value", -1))
    hint = None
    if code == pynvml.NVML_ERROR_NO_PERMISSION and operation.startswith(_WRITES):
        hint = "MIG changes need root (run with sudo, or as a privileged container)"
    elif code == pynvml.NVML_ERROR_NO_PERMISSION:
        hint = (
            "reading MIG instances needs root or the MIG monitor capability "
            "(/proc/driver/nvidia/capabilities/mig/monitor; in a container NVIDIA_MIG_MONITOR_DEVICES=all)"
        )
    elif code == pynvml.NVML_ERROR_INSUFFICIENT_RESOURCES:
        hint = "the placement is occupied or the profile's instance count is used up"
    elif code == pynvml.NVML_ERROR_IN_USE:
        hint = "processes or another client are using it"
    return NvmlCallError(f"{gpu}: {operation} failed: {exc} (NVML error {code})", code=code, operation=operation, gpu=gpu, hint=hint)


@dataclass(frozen=True)
class ComputeInstance:
    """A compute instance; ``processes`` is ``None`` when NVML would not say (treated as busy)."""

    id: int
    profile_id: int
    slices: int
    mig_uuid: str | None
    processes: tuple[int, ...] | None


@dataclass(frozen=True)
class GpuInstance(HasPlacement):
    """A live GPU instance: NVML ``id`` and board ``profile_id`` around its :class:`PlacedInstance`
    (catalogue ``profile`` name, placement ``start``/``size``), with its compute instances."""

    id: int
    placed: PlacedInstance
    profile_id: int
    compute_instances: tuple[ComputeInstance, ...] = ()

    @property
    def processes(self) -> tuple[int, ...] | None:
        pids: list[int] = []
        for ci in self.compute_instances:
            if ci.processes is None:
                return None
            pids.extend(ci.processes)
        return tuple(pids)


@dataclass(frozen=True)
class GpuInfo:
    """One physical GPU as read in one session."""

    index: int
    uuid: str
    name: str
    memory_mib: int
    pci_bus_id: str
    pci_device_id: int
    mig_capable: bool
    mig_enabled: bool
    mig_pending_mode: bool  # the mode after the next reset (== mig_enabled when nothing is pending)
    model: GpuModel | None  # the catalogue model, with placements and board IDs as this GPU reports them
    instances: tuple[GpuInstance, ...] = ()
    resetless: bool | None = None

    @property
    def mig_pending(self) -> bool:
        return self.mig_capable and self.mig_pending_mode != self.mig_enabled

    @property
    def mig_geometry(self) -> Geometry:
        """The geometry in place as a value: :data:`MIG_OFF` when MIG is off, empty when on with no instances."""
        if not self.mig_enabled:
            return MIG_OFF
        return Geometry(geometry_from_names(gi.profile for gi in self.instances))

    @property
    def geometry(self) -> str | None:
        """The geometry's text for output (ordered by this GPU's model); ``None`` when MIG is off."""
        if not self.mig_enabled:
            return None
        return self.mig_geometry.format(self.model)

    @property
    def label(self) -> str:
        return f"GPU {self.index} ({self.name}, {self.uuid})"


@dataclass(frozen=True)
class ModeChange:
    """The answer of :meth:`NvmlSession.set_mig_mode`."""

    enabled: bool  # current mode after the call
    pending: bool  # pending mode after the call
    activation_status: int  # NVML_SUCCESS, NVML_ERROR_IN_USE or NVML_ERROR_RESET_REQUIRED

    @property
    def took_effect(self) -> bool:
        return self.enabled == self.pending


class NvmlSession:
    """An open NVML session. Use :func:`open_session`; all methods name the GPU in their errors."""

    def __init__(self, fake: FakeNvml | None = None) -> None:
        import pynvml

        self._nvml = pynvml
        self.fake = fake
        self.writes = 0
        self._labels: dict[int, str] = {}

    # ---- helpers

    def _label(self, index: int) -> str:
        if index not in self._labels:
            return f"GPU {index}"
        return self._labels[index]

    def _call(self, operation: str, index: int, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except self._nvml.NVMLError as exc:
            raise _nvml_error(exc, operation, self._label(index)) from None
        except getattr(self._nvml, "NVMLLibraryMismatchError", ()) as exc:  # driver older than nvidia-ml-py
            raise NvmlCallError(
                f"{self._label(index)}: {operation} failed: {exc}", code=-1, operation=operation, gpu=self._label(index),
                hint="the NVIDIA driver is older than this nvidia-ml-py expects",
            ) from None

    def _handle(self, index: int) -> Any:
        return self._call("get device handle", index, self._nvml.nvmlDeviceGetHandleByIndex, index)

    def refresh(self) -> None:
        """Re-read the simulator's state file (a no-op on real NVML, which is always live)."""
        if self.fake is not None:
            self.fake.reload()

    # ---- reads

    def device_count(self) -> int:
        try:
            return int(self._nvml.nvmlDeviceGetCount())
        except self._nvml.NVMLError as exc:
            raise _nvml_error(exc, "count GPUs", "NVML") from None

    def select(self, selector: str | int | None = "all") -> list[int]:
        """GPU indices for ``all``, an index or a UUID (``InputError`` when none matches)."""
        count = self.device_count()
        if selector is None or str(selector) == "all":
            return list(range(count))
        text = str(selector).strip()
        if text.isdigit():
            if int(text) >= count:
                raise InputError(f"--gpu {text}: no such GPU (this node has {count}: 0..{count - 1})" if count else f"--gpu {text}: this node has no GPUs")
            return [int(text)]
        for index in range(count):
            uuid = self._call("read UUID", index, self._nvml.nvmlDeviceGetUUID, self._handle(index))
            if _text(uuid) == text:
                return [index]
        raise InputError(f"--gpu {text}: no GPU with this index or UUID (expected all, 0..{count - 1} or GPU-...)")

    def uuid(self, index: int) -> str:
        """The GPU's UUID alone (when the full read of :meth:`gpu` fails)."""
        return _text(self._call("read UUID", index, self._nvml.nvmlDeviceGetUUID, self._handle(index)))

    def gpus(self, selector: str | int | None = "all") -> list[GpuInfo]:
        return [self.gpu(i) for i in self.select(selector)]

    def gpu(self, index: int) -> GpuInfo:
        """Read one GPU: identity, MIG mode, profiles, GPU/compute instances, MIG UUIDs, processes."""
        nv = self._nvml
        handle = self._handle(index)
        name = _text(self._call("read name", index, nv.nvmlDeviceGetName, handle))
        uuid = _text(self._call("read UUID", index, nv.nvmlDeviceGetUUID, handle))
        self._labels[index] = f"GPU {index} ({name}, {uuid})"
        memory = self._call("read memory", index, nv.nvmlDeviceGetMemoryInfo, handle)
        pci = self._call("read PCI info", index, nv.nvmlDeviceGetPciInfo, handle)
        try:
            current, pending = nv.nvmlDeviceGetMigMode(handle)
            capable = True
        except nv.NVMLError_NotSupported:
            current = pending = 0
            capable = False
        except nv.NVMLError as exc:
            raise _nvml_error(exc, "read MIG mode", self._labels[index]) from None
        from migctl.hardware.catalogue import load_catalogue

        match = load_catalogue().lookup(name) if capable else None
        model = match.model if match is not None else None
        resetless = self._resetless(handle) if capable else None
        if capable:
            model = self._live_model(index, handle, name, model)
        instances: tuple[GpuInstance, ...] = ()
        if capable and current:
            instances = self._instances(index, handle, model)
        return GpuInfo(
            index=index,
            uuid=uuid,
            name=name,
            memory_mib=int(memory.total) // (1024 * 1024),
            pci_bus_id=_text(pci.busId),
            pci_device_id=int(pci.pciDeviceId),
            mig_capable=capable,
            mig_enabled=bool(current),
            mig_pending_mode=bool(pending),
            model=model,
            instances=instances,
            resetless=resetless,
        )

    def _resetless(self, handle: Any) -> bool | None:
        nv = self._nvml
        try:
            value = nv.nvmlDeviceGetFieldValues(handle, [nv.NVML_FI_DEV_IS_RESETLESS_MIG_SUPPORTED])[0]
        except (nv.NVMLError, AttributeError):
            return None
        if value.nvmlReturn != nv.NVML_SUCCESS:
            return None
        return bool(value.value.uiVal)

    def _profile_infos(self, index: int, handle: Any) -> list[tuple[int, Any, tuple[tuple[int, int], ...]]]:
        """(enum, profile info, placements) for every GI profile this GPU answers for."""
        nv = self._nvml
        found = []
        for enum in range(GI_PROFILE_COUNT):
            try:
                info = nv.nvmlDeviceGetGpuInstanceProfileInfo(handle, enum)
            except nv.NVMLError_FunctionNotFound:
                try:
                    info = nv.nvmlDeviceGetGpuInstanceProfileInfo(handle, enum, version=1)
                except nv.NVMLError:
                    continue
            except nv.NVMLError:
                continue  # NOT_SUPPORTED / INVALID_ARGUMENT: this board has no such profile
            found.append((enum, info, self._placements(index, handle, int(info.id))))
        return found

    def _placements(self, index: int, handle: Any, profile_id: int) -> tuple[tuple[int, int], ...]:
        nv = self._nvml
        count = ctypes.c_uint(0)
        try:
            nv.nvmlDeviceGetGpuInstancePossiblePlacements(handle, profile_id, None, ctypes.byref(count))
            array = (nv.c_nvmlGpuInstancePlacement_t * max(count.value, 1))()
            nv.nvmlDeviceGetGpuInstancePossiblePlacements(handle, profile_id, array, ctypes.byref(count))
        except nv.NVMLError:
            return ()
        return tuple((int(array[i].start), int(array[i].size)) for i in range(count.value))

    def _live_model(self, index: int, handle: Any, name: str, model: GpuModel | None) -> GpuModel | None:
        """The catalogue model with this GPU's own board IDs and placements (or one built from NVML)."""
        from migctl.hardware.catalogue import GpuModel, Profile

        infos = self._profile_infos(index, handle)
        if not infos:
            return model  # e.g. older drivers cannot answer while MIG is disabled
        live: list[Profile] = []
        for enum, info, placements in infos:
            if not placements:
                continue
            size = placements[0][1]
            starts = tuple(start for start, _ in placements)
            attribute = GI_ENUM_ATTRIBUTE.get(enum, "")
            known = _match_profile(model, int(info.sliceCount), size, attribute, enum) if model else None
            if known is not None:
                live.append(dataclasses.replace(known, board_profile_id=int(info.id), placement_size=size, placement_starts=starts))
                continue
            live.append(
                Profile(
                    name=_profile_name_from_nvml(info, attribute),
                    nvml_profile=f"NVML_GPU_INSTANCE_PROFILE enum {enum}",
                    nvml_profile_value=enum,
                    board_profile_id=int(info.id),
                    compute_slices=int(info.sliceCount),
                    placement_size=size,
                    placement_starts=starts,
                    max_instances=int(info.instanceCount),
                    memory_mib=int(info.memorySizeMB),
                    status="from NVML",
                )
            )
        if not live:
            return model
        units = max(start + size for p in live for start, size in p.placements)
        if model is not None:
            return dataclasses.replace(model, profiles=tuple(live), placement_units=max(units, model.placement_units))
        slices = max(p.compute_slices for p in live)
        return GpuModel(
            key=f"nvml:{name}",
            title=name,
            nvml_names=(name,),
            hami_models=(),
            compute_slices=slices,
            memory_slices=units,
            placement_units=units,
            max_gpu_instances=max(p.max_instances for p in live if p.compute_slices == min(q.compute_slices for q in live)),
            profiles=tuple(live),
            architecture="",
            confidence="from NVML",
        )

    def _instances(self, index: int, handle: Any, model: GpuModel | None) -> tuple[GpuInstance, ...]:
        nv = self._nvml
        label = self._labels.get(index, f"GPU {index}")
        profiles = [p for p in (model.profiles if model else ()) if p.board_profile_id is not None]
        result: list[GpuInstance] = []
        for profile in profiles:
            capacity = max(profile.max_instances, len(profile.placement_starts), 8)  # NVML wants >= instanceCount
            array = (nv.c_nvmlGpuInstance_t * capacity)()
            count = ctypes.c_uint(capacity)
            try:
                nv.nvmlDeviceGetGpuInstances(handle, profile.board_profile_id, array, ctypes.byref(count))
            except nv.NVMLError_NotSupported:
                continue
            except nv.NVMLError as exc:
                raise _nvml_error(exc, f"list {profile.name} GPU instances", label) from None
            for i in range(count.value):
                gi = array[i]
                info = self._call("read GPU instance info", index, nv.nvmlGpuInstanceGetInfo, gi)
                result.append(
                    GpuInstance(
                        id=int(info.id),
                        placed=PlacedInstance(profile.name, int(info.placement.start), int(info.placement.size)),
                        profile_id=int(info.profileId),
                        compute_instances=self._compute_instances(index, handle, gi),
                    )
                )
        return tuple(sorted(result, key=lambda g: (g.start, g.id)))

    def _compute_instances(self, index: int, handle: Any, gi: Any) -> tuple[ComputeInstance, ...]:
        nv = self._nvml
        result: list[ComputeInstance] = []
        for enum in range(CI_PROFILE_COUNT):
            try:
                info = nv.nvmlGpuInstanceGetComputeInstanceProfileInfo(gi, enum, nv.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED)
            except nv.NVMLError:
                continue
            capacity = max(int(info.instanceCount), 8)
            array = (nv.c_nvmlComputeInstance_t * capacity)()
            count = ctypes.c_uint(capacity)
            try:
                nv.nvmlGpuInstanceGetComputeInstances(gi, int(info.id), array, ctypes.byref(count))
            except nv.NVMLError:
                continue
            for i in range(count.value):
                ci_info = self._call("read compute instance info", index, nv.nvmlComputeInstanceGetInfo, array[i])
                mig_uuid, processes = self._mig_device(ci_info.device)
                result.append(ComputeInstance(int(ci_info.id), int(ci_info.profileId), int(info.sliceCount), mig_uuid, processes))
        return tuple(sorted(result, key=lambda c: c.id))

    def _mig_device(self, device: Any) -> tuple[str | None, tuple[int, ...] | None]:
        """MIG UUID and PIDs (compute and graphics) via the MIG device handle ``nvmlComputeInstanceGetInfo`` gives
        (nvml.h)."""
        nv = self._nvml
        try:
            uuid: str | None = _text(nv.nvmlDeviceGetUUID(device))
        except nv.NVMLError:
            uuid = None
        try:
            procs: tuple[int, ...] | None = tuple(sorted(int(p.pid) for p in nv.nvmlDeviceGetComputeRunningProcesses(device)))
        except Exception:  # noqa: BLE001 - NVMLError, or a library too old for _v3: unknown, treated as busy
            return uuid, None
        try:  # graphics contexts (+gfx instances) are not in the compute list
            graphics = {int(p.pid) for p in nv.nvmlDeviceGetGraphicsRunningProcesses(device)}
        except Exception:  # noqa: BLE001 - not supported for this instance or driver: the compute list stands
            graphics = set()
        return uuid, tuple(sorted(set(procs) | graphics))

    # ---- writes

    def set_mig_mode(self, index: int, enabled: bool) -> ModeChange:
        nv = self._nvml
        handle = self._handle(index)
        mode = nv.NVML_DEVICE_MIG_ENABLE if enabled else nv.NVML_DEVICE_MIG_DISABLE
        what = "enable MIG mode" if enabled else "disable MIG mode"
        status = self._call(what, index, nv.nvmlDeviceSetMigMode, handle, mode)
        self.writes += 1
        current, pending = self._call("read MIG mode", index, nv.nvmlDeviceGetMigMode, handle)
        return ModeChange(bool(current), bool(pending), int(status))

    def create_gpu_instance(self, index: int, profile_id: int, start: int, size: int, *, name: str = "") -> int:
        """Create a GI of board profile ``profile_id`` at exactly ``start``; returns the GI ID."""
        nv = self._nvml
        placement = nv.c_nvmlGpuInstancePlacement_t(start, size)
        what = f"create GPU instance {name or profile_id} at {start}:{size}"
        gi = self._call(what, index, nv.nvmlDeviceCreateGpuInstanceWithPlacement, self._handle(index), profile_id, ctypes.byref(placement))
        self.writes += 1
        return int(self._call("read GPU instance info", index, nv.nvmlGpuInstanceGetInfo, gi).id)

    def create_compute_instance(self, index: int, gi_id: int) -> int:
        """Create the full compute instance of GI ``gi_id`` with the lowest CI enum it accepts."""
        nv = self._nvml
        gi = self._call(f"find GPU instance {gi_id}", index, nv.nvmlDeviceGetGpuInstanceById, self._handle(index), gi_id)
        gi_info = self._call("read GPU instance info", index, nv.nvmlGpuInstanceGetInfo, gi)
        gi_slices = self._gi_slice_count(index, int(gi_info.profileId))
        chosen = None
        for enum in range(CI_PROFILE_COUNT):
            try:
                info = nv.nvmlGpuInstanceGetComputeInstanceProfileInfo(gi, enum, nv.NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED)
            except nv.NVMLError:
                continue
            if int(info.sliceCount) == gi_slices:
                chosen = int(info.id)
                break
        if chosen is None:
            raise NvmlCallError(
                f"{self._label(index)}: create compute instance in GPU instance {gi_id} failed: no full compute-instance profile",
                code=-1, operation="create compute instance", gpu=self._label(index),
            )
        ci = self._call(f"create compute instance in GPU instance {gi_id}", index, nv.nvmlGpuInstanceCreateComputeInstance, gi, chosen)
        self.writes += 1
        return int(self._call("read compute instance info", index, nv.nvmlComputeInstanceGetInfo, ci).id)

    def _gi_slice_count(self, index: int, profile_id: int) -> int:
        """Compute slices of board profile ``profile_id``.

        ``nvmlDeviceGetGpuInstanceProfileInfoByIdV`` is a recent addition to NVML (drivers such as 535
        lack it: FUNCTION_NOT_FOUND); the enum walk of ``nvmlDeviceGetGpuInstanceProfileInfo`` works
        on every MIG driver.
        """
        nv = self._nvml
        handle = self._handle(index)
        try:
            return int(nv.nvmlDeviceGetGpuInstanceProfileInfoById(handle, profile_id).sliceCount)
        except nv.NVMLError_FunctionNotFound:
            pass
        except nv.NVMLError as exc:
            raise _nvml_error(exc, "read GPU instance profile", self._label(index)) from None
        for _enum, info, _placements in self._profile_infos(index, handle):
            if int(info.id) == profile_id:
                return int(info.sliceCount)
        raise NvmlCallError(
            f"{self._label(index)}: read GPU instance profile failed: NVML lists no profile with ID {profile_id}",
            code=-1, operation="read GPU instance profile", gpu=self._label(index),
        )

    def destroy_compute_instance(self, index: int, gi_id: int, ci_id: int) -> None:
        nv = self._nvml
        gi = self._call(f"find GPU instance {gi_id}", index, nv.nvmlDeviceGetGpuInstanceById, self._handle(index), gi_id)
        ci = self._call(f"find compute instance {ci_id} of GPU instance {gi_id}", index, nv.nvmlGpuInstanceGetComputeInstanceById, gi, ci_id)
        self._call(f"destroy compute instance {ci_id} of GPU instance {gi_id}", index, nv.nvmlComputeInstanceDestroy, ci)
        self.writes += 1

    def destroy_gpu_instance(self, index: int, gi_id: int) -> None:
        nv = self._nvml
        gi = self._call(f"find GPU instance {gi_id}", index, nv.nvmlDeviceGetGpuInstanceById, self._handle(index), gi_id)
        self._call(f"destroy GPU instance {gi_id}", index, nv.nvmlGpuInstanceDestroy, gi)
        self.writes += 1


def _match_profile(model: GpuModel, slices: int, size: int, attribute: str, enum: int) -> Profile | None:
    candidates = [p for p in model.profiles if p.compute_slices == slices and p.placement_size == size and p.attribute == attribute]
    if not candidates:
        candidates = [p for p in model.profiles if p.nvml_profile_value == enum]
    if not candidates:
        return None
    return next((p for p in candidates if p.nvml_profile_value == enum), candidates[0])


def _profile_name_from_nvml(info: Any, attribute: str) -> str:
    """A profile the catalogue does not know: NVML's own name (``MIG 1g.18gb-me``) if it parses."""
    from migctl.hardware.profile_name import parse_profile_name

    name = _text(getattr(info, "name", b"")).removeprefix("MIG ").strip()
    try:
        return str(parse_profile_name(name))
    except ValueError:
        gb = max(1, round(int(info.memorySizeMB) / 1024))
        return f"{int(info.sliceCount)}g.{gb}gb{attribute}"


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


# --------------------------------------------------------------------------------------------
# Sessions


@contextlib.contextmanager
def open_nvml(fake: FakeNvml | None = None) -> Iterator[NvmlSession]:
    """One NVML session: ``nvmlInit`` on entry, ``nvmlShutdown`` on exit.

    ``fake`` is installed under pynvml for the session (the simulator); ``None`` is the real
    NVML. The environment is not read here: :func:`migctl.nvml.session.open_session` (the edge)
    chooses. NVML missing or the driver not loaded is :class:`UnreachableError` (exit 3).
    """
    import pynvml

    if fake is not None and fake.path is not None:
        fake.reload()
    if fake is not None:
        fake.install()
    try:
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            code = int(getattr(exc, "value", -1))
            if code in (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, pynvml.NVML_ERROR_DRIVER_NOT_LOADED):
                raise UnreachableError(
                    f"NVML is not available: {exc}",
                    hint="is the NVIDIA driver installed and loaded (nvidia-smi works)? "
                    "To rehearse without a GPU set MIGCTL_FAKE_NVML=state.json",
                ) from None
            if code == pynvml.NVML_ERROR_NO_PERMISSION:
                raise UnreachableError(f"NVML refused access: {exc}", hint="run as root (or with access to /dev/nvidia*)") from None
            raise UnreachableError(f"NVML could not be initialised: {exc} (NVML error {code})") from None
        try:
            yield NvmlSession(fake)
        finally:
            with contextlib.suppress(pynvml.NVMLError):
                pynvml.nvmlShutdown()
    finally:
        if fake is not None:
            fake.uninstall()
