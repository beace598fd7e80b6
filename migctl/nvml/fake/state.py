"""The simulated GPUs' state (MIG mode, GPU/compute instances, processes, users) and its JSON file.

The file is read when a session opens and written after every change, under an ``fcntl`` lock,
so several processes (a CLI run and the daemon) share one simulated node.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migctl.hardware.placement import PlacedInstance
from migctl.nvml.fake.boards import (
    _CI_ENUMS_UNSUPPORTED,
    BoardProfile,
    FakeStateError,
    _architecture,
    _int,
    board_table,
)
from migctl.nvml.tables import CI_ENUM_SLICES, ERROR_INSUFFICIENT_RESOURCES, ERROR_INVALID_ARGUMENT, SUCCESS


#: Who the process runs as (state ``user``): ``root`` may do everything; ``monitor`` is a non-root
#: user with the MIG monitor capability (``/proc/driver/nvidia/capabilities/mig/monitor``; in a
#: container ``NVIDIA_MIG_MONITOR_DEVICES=all``): it may list instances but not change them;
#: ``unprivileged`` may not even list them (nvml.h: "Requires privileged user",
#: ``NVML_ERROR_NO_PERMISSION``).
USERS = ("root", "monitor", "unprivileged")

#: nvmlDeviceGetMaxMigDeviceCount of every MIG board here (7 compute slices at most).
MAX_MIG_DEVICES = 7

#: The most GPUs one simulated node has (``MIGCTL_FAKE_NVML_GPUS`` and the state file); real nodes have 8-16.
MAX_GPUS = 64

#: The largest state file read (a node's state is a few kilobytes).
MAX_STATE_BYTES = 16 << 20

#: PIDs are positive and fit NVML's ``unsigned int pid`` (nvml.h ``nvmlProcessInfo_t``).
MAX_PID = 2**32 - 1


@dataclass
class FakeComputeInstance:
    id: int
    profile: int  # CI profile enum (== its ID in the fake)
    uuid: str
    processes: list[int] = field(default_factory=list)
    mig_index: int = -1  # its MIG device index (nvmlDeviceGetMigDeviceHandleByIndex); -1: not given yet
    graphics_processes: list[int] = field(default_factory=list)  # graphics contexts (+gfx instances)

    @property
    def busy(self) -> bool:
        return bool(self.processes or self.graphics_processes)


@dataclass
class FakeGpuInstance:
    id: int
    profile: BoardProfile
    start: int
    compute_instances: list[FakeComputeInstance] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.profile.size

    @property
    def placed(self) -> PlacedInstance:
        """The shared placed-instance value (profile name, start, size)."""
        return PlacedInstance(self.profile.name, self.start, self.size)


@dataclass
class FakeGpu:
    index: int
    name: str
    uuid: str
    pci_bus_id: str
    pci_device_id: int
    memory_mib: int
    board: dict[int, BoardProfile]
    architecture: int
    compute_capability: tuple[int, int]
    resetless: bool
    mig_current: bool = False
    mig_pending: bool = False
    clients_holding: bool = False
    passthrough: bool = False
    gpu_instances: list[FakeGpuInstance] = field(default_factory=list)
    model_key: str | None = None  # set when the state file names the board explicitly
    #: profile name -> the ``instanceCount`` NVML reports instead of the real one (the A30 trap,
    #: NVIDIA/mig-parted hard-codes A30 profiles in ``pkg/mig/discovery``); the board still enforces its real limits
    nvml_instance_count: dict[str, int] = field(default_factory=dict)

    @property
    def mig_capable(self) -> bool:
        return bool(self.board)

    def profile_by_id(self, board_id: int) -> BoardProfile | None:
        return next((p for p in self.board.values() if p.board_id == board_id), None)

    def profile_by_name(self, name: str) -> BoardProfile | None:
        return next((p for p in self.board.values() if p.name == name), None)

    def gpu_instance(self, gi_id: int) -> FakeGpuInstance | None:
        return next((gi for gi in self.gpu_instances if gi.id == gi_id), None)

    def compute_instances(self) -> list[tuple[FakeGpuInstance, FakeComputeInstance]]:
        return [(gi, ci) for gi in self.gpu_instances for ci in gi.compute_instances]

    def free_mig_index(self) -> int:
        """The lowest MIG device index not in use: indices of destroyed devices leave gaps and are reused."""
        used = {ci.mig_index for _gi, ci in self.compute_instances()}
        return next(i for i in range(MAX_MIG_DEVICES + 0x100) if i not in used)

    @property
    def placement_units(self) -> int:
        return max((start + p.size for p in self.board.values() for start in p.starts), default=0)

    def new_gpu_instance_id(self, profile: BoardProfile, start: int) -> int:
        """The GI ID a real board gives an instance at ``start``: its slot in the placement tree.

        On boards with 2^k memory slices the IDs are the slots of a binary tree, root first
        (``nvidia-smi mig -lgi`` on A100/H100: 7g is GI 0, 4g/3g at 0 and 4 are 1 and 2, the 2-slice
        slots 3..6, 1g at 0..6 are 7..13; A30: 4g 0, 2g 1..2, 1g 3..6). Other boards: the lowest free ID.
        """
        used = {gi.id for gi in self.gpu_instances}
        units, size = self.placement_units, profile.size
        if units and units & (units - 1) == 0 and size & (size - 1) == 0 and start % size == 0:
            slot = units // size - 1 + start // size
            if slot not in used:
                return slot
        return next(i for i in range(0x100) if i not in used)

    def busy_slots(self, ignore: FakeGpuInstance | None = None) -> set[int]:
        slots: set[int] = set()
        for gi in self.gpu_instances:
            if gi is not ignore:
                slots.update(range(gi.start, gi.start + gi.size))
        return slots

    def why_not(self, profile: BoardProfile, start: int) -> int:
        """SUCCESS if ``profile`` can be created at ``start`` now, else the NVML error."""
        if start not in profile.starts:
            return ERROR_INVALID_ARGUMENT
        if sum(1 for gi in self.gpu_instances if gi.profile.enum == profile.enum) >= profile.max_instances:
            return ERROR_INSUFFICIENT_RESOURCES
        if self.busy_slots() & set(range(start, start + profile.size)):
            return ERROR_INSUFFICIENT_RESOURCES
        attrs = {gi.profile.attribute for gi in self.gpu_instances}
        if profile.attribute == "+me.all" and attrs - {"-me"}:
            return ERROR_INSUFFICIENT_RESOURCES
        if "+me.all" in attrs and profile.attribute != "-me":
            return ERROR_INSUFFICIENT_RESOURCES
        return SUCCESS


@dataclass
class FakeState:
    """Everything the simulator knows; round-trips through the JSON state file."""

    gpus: list[FakeGpu]
    driver_version: str = "570.133.20"
    serial: int = 0  # bumps on every create so MIG UUIDs change on re-create
    user: str = "root"  # one of USERS
    driver_loaded: bool = True  # False: nvmlInit answers DRIVER_NOT_LOADED
    profiles_need_mig_on: bool = False  # older drivers (535): no GI profile info while MIG is off

    # ---- construction

    @classmethod
    def from_spec(cls, spec: str, catalogue: Any = None) -> FakeState:
        """``"NVIDIA A100-SXM4-40GB:2,NVIDIA H100 80GB HBM3:1"`` -> GPUs with MIG enabled and no instances."""
        gpus: list[dict[str, Any]] = []
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            name, sep, count_text = part.rpartition(":")
            if not sep:
                name, count_text = part, "1"
            count_text = count_text.strip()
            if not (count_text.isascii() and count_text.isdigit()) or len(count_text) > 6:
                shown = count_text if len(count_text) <= 20 else count_text[:20] + "..."
                raise FakeStateError(f"MIGCTL_FAKE_NVML_GPUS: {name.strip()!r}: count {shown!r} is not a number "
                                     f"from 1 to {MAX_GPUS}")
            count = int(count_text)
            if count < 1:
                raise FakeStateError(f"MIGCTL_FAKE_NVML_GPUS: {name.strip()!r}: count must be at least 1")
            if len(gpus) + count > MAX_GPUS:
                raise FakeStateError(f"MIGCTL_FAKE_NVML_GPUS: {name.strip()!r}: {len(gpus) + count} GPUs is more than "
                                     f"the {MAX_GPUS} a simulated node may have")
            for _ in range(count):
                gpus.append({"name": name.strip(), "mig_current": True, "mig_pending": True})
        if not gpus:
            raise FakeStateError("MIGCTL_FAKE_NVML_GPUS is empty; expected e.g. 'NVIDIA A100-SXM4-40GB:2'")
        return cls.from_dict({"gpus": gpus}, catalogue=catalogue, source="MIGCTL_FAKE_NVML_GPUS")

    @classmethod
    def from_dict(cls, data: Any, *, catalogue: Any = None, source: str = "state") -> FakeState:
        if catalogue is None:
            from migctl.hardware.catalogue import load_catalogue

            catalogue = load_catalogue()
        if not isinstance(data, dict) or not isinstance(data.get("gpus"), list):
            raise FakeStateError(f"{source}: expected an object with a 'gpus' list")
        if len(data["gpus"]) > MAX_GPUS:
            raise FakeStateError(f"{source}: gpus: {len(data['gpus'])} GPUs is more than the {MAX_GPUS} a simulated "
                                 "node may have")
        gpus = [_gpu_from_dict(g, i, catalogue, f"{source}: gpus[{i}]") for i, g in enumerate(data["gpus"])]
        _check_unique_uuids(gpus, source)
        user = data.get("user", "root")
        if user not in USERS:
            raise FakeStateError(f"{source}: user: {str(user)[:40]!r} is not one of {', '.join(USERS)}")
        driver_version = data.get("driver_version", "570.133.20")
        if not isinstance(driver_version, str):
            raise FakeStateError(f"{source}: driver_version: expected text such as '570.133.20'")
        return cls(
            gpus=gpus,
            driver_version=driver_version,
            serial=_count(data, "serial", 0, f"{source}: state"),
            user=user,
            driver_loaded=_bool(data, "driver_loaded", True, f"{source}: state"),
            profiles_need_mig_on=_bool(data, "profiles_need_mig_on", False, f"{source}: state"),
        )

    @classmethod
    def load(cls, path: str | Path, *, catalogue: Any = None) -> FakeState:
        from migctl.yamlio.documents import NotRegularFileError, open_regular

        path = Path(path)
        try:
            with _file_lock(path), open_regular(path, "rb") as fh:
                raw = fh.read(MAX_STATE_BYTES + 1)
        except (NotRegularFileError, IsADirectoryError) as exc:
            raise FakeStateError(f"{path}: {exc.strerror}, not a simulated NVML state file") from None
        if len(raw) > MAX_STATE_BYTES:
            raise FakeStateError(f"{path}: larger than {MAX_STATE_BYTES >> 20} MiB; not a simulated NVML state file")
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise FakeStateError(f"{path}: not UTF-8 text (byte {exc.start}); not a simulated NVML state file") from None
        except json.JSONDecodeError as exc:
            raise FakeStateError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from None
        except (RecursionError, ValueError) as exc:
            raise FakeStateError(f"{path}: not a simulated NVML state file ({type(exc).__name__}: nested too deeply "
                                 "or a number too long)") from None
        return cls.from_dict(data, catalogue=catalogue, source=str(path))

    # ---- output

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": 1,
            "driver_version": self.driver_version,
            "serial": self.serial,
            "user": self.user,
            "driver_loaded": self.driver_loaded,
            "profiles_need_mig_on": self.profiles_need_mig_on,
            "gpus": [_gpu_to_dict(g) for g in self.gpus],
        }

    def save(self, path: str | Path) -> None:
        """Write atomically (temp file, fsync, rename) under the state file's lock."""
        path = Path(path)
        text = json.dumps(self.to_dict(), indent=2) + "\n"
        with _file_lock(path):
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise


class _file_lock:
    """An advisory lock on ``PATH.lock`` so readers never see a half-written state file."""

    def __init__(self, path: Path) -> None:
        self._path = path.with_name(path.name + ".lock")
        self._fd = -1

    def __enter__(self) -> None:
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
                           | getattr(os, "O_CLOEXEC", 0), 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def _bool(data: dict[str, Any], key: str, default: bool, where: str) -> bool:
    """A JSON boolean (``"false"`` or ``0`` is not one: it would read as the opposite)."""
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise FakeStateError(f"{where}.{key}: expected true or false, got {str(value)[:40]!r}")
    return value


def _count(data: dict[str, Any], key: str, default: int, where: str, *, low: int = 0, high: int = 2**31 - 1) -> int:
    """A whole number from ``low`` to ``high`` (a boolean is not one); ``default`` when absent or null."""
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FakeStateError(f"{where}.{key}: expected a whole number from {low} to {high}, got {str(value)[:40]!r}")
    return value


def _pids(value: Any, where: str) -> list[int]:
    """A list of PIDs: whole numbers from 1 to 2^32-1."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(
            isinstance(p, int) and not isinstance(p, bool) and 0 < p <= MAX_PID for p in value):
        raise FakeStateError(f"{where}: expected a list of PIDs (whole numbers from 1 to {MAX_PID})")
    return list(value)


def _uuid(value: Any, default: str, where: str) -> str:
    if value is None or value == "":
        return default
    if not isinstance(value, str) or len(value) > 256:
        raise FakeStateError(f"{where}: expected text (at most 256 characters), got {str(value)[:40]!r}")
    return value


def _check_unique_uuids(gpus: list[FakeGpu], source: str) -> None:
    """NVML UUIDs name one device each (nvml.h ``nvmlDeviceGetHandleByUUID``): no GPU or MIG UUID twice."""
    seen: dict[str, str] = {}
    for gpu in gpus:
        names = [(gpu.uuid, f"gpus[{gpu.index}].uuid")] + [
            (ci.uuid, f"gpus[{gpu.index}] GPU instance {gi.id} compute instance {ci.id} uuid")
            for gi, ci in gpu.compute_instances()]
        for uuid, where in names:
            if uuid in seen:
                raise FakeStateError(f"{source}: {where}: {uuid[:80]!r} is also {seen[uuid]}; UUIDs are unique")
            seen[uuid] = where


def _stable_uuid(prefix: str, *parts: object) -> str:
    h = hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()
    return f"{prefix}-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def _gpu_from_dict(data: Any, position: int, catalogue: Any, where: str) -> FakeGpu:
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise FakeStateError(f"{where}: expected an object with a 'name' (the NVML device name)")
    name = data["name"]
    if data.get("model"):  # a board from the catalogue under another name (e.g. a GPU the catalogue lacks)
        try:
            model = catalogue.model(str(data["model"]))
        except KeyError:
            raise FakeStateError(f"{where}.model: {data['model']!r} is not a catalogue model key") from None
    else:
        match = catalogue.lookup(name)
        model = match.model if match is not None else None
    board = board_table(model) if model is not None else {}
    arch, cc, resetless = _architecture(model) if model is not None else (10, (8, 9), True)
    index = position  # NVML enumeration order is the list order
    pci_ids = list(getattr(model, "pci_device_ids", ()) or ()) if model is not None else []
    try:
        device_id = int(str(pci_ids[0]), 16) if pci_ids else 0x2BB5
    except ValueError:
        device_id = 0
    total = getattr(model, "total_memory_mib", None) if model is not None else None
    gpu = FakeGpu(
        index=index,
        name=name,
        uuid=_uuid(data.get("uuid"), _stable_uuid("GPU", name, index), f"{where}.uuid"),
        pci_bus_id=_uuid(data.get("pci_bus_id"), f"00000000:{0x07 + index * 0x10:02X}:00.0", f"{where}.pci_bus_id"),
        pci_device_id=(device_id << 16) | 0x10DE,
        memory_mib=_count(data, "memory_mib", _int(total, 81920), where, low=1),
        board=board,
        architecture=arch,
        compute_capability=cc,
        resetless=_bool(data, "resetless", resetless, where),
        mig_current=_bool(data, "mig_current", False, where) and bool(board),
        mig_pending=_bool(data, "mig_pending", _bool(data, "mig_current", False, where), where) and bool(board),
        clients_holding=_bool(data, "clients_holding", False, where),
        passthrough=_bool(data, "passthrough", False, where),
        model_key=str(data["model"]) if data.get("model") else None,
        nvml_instance_count=_instance_counts(data.get("nvml_instance_count"), board, f"{where}.nvml_instance_count"),
    )
    for j, gi_data in enumerate(data.get("gpu_instances") or []):
        gi_where = f"{where}.gpu_instances[{j}]"
        if not isinstance(gi_data, dict):
            raise FakeStateError(f"{gi_where}: expected an object")
        requested = str(gi_data.get("profile"))
        canonical = model.profile(requested) if model is not None else None  # aliases and other spellings too
        profile = gpu.profile_by_name(canonical.name if canonical else requested)
        if profile is None:
            known = ", ".join(sorted(p.name for p in board.values())) or "none: not a MIG GPU"
            raise FakeStateError(f"{gi_where}.profile: {gi_data.get('profile')!r} is not a profile of {name} ({known})")
        start = gi_data.get("start")
        if not isinstance(start, int) or start not in profile.starts:
            raise FakeStateError(f"{gi_where}.start: {start!r} is not a placement of {profile.name} {list(profile.starts)}")
        if gpu.why_not(profile, start) != SUCCESS:
            raise FakeStateError(f"{gi_where}: {profile.name} at {start} overlaps another instance or exceeds its count")
        gi_id = gi_data.get("id")
        if gi_id is not None:
            gi_id = _count(gi_data, "id", 0, gi_where, high=0xFF)
        if gi_id is None:
            gi_id = gpu.new_gpu_instance_id(profile, start)
        elif gpu.gpu_instance(gi_id) is not None:
            raise FakeStateError(f"{gi_where}.id: GPU instance {gi_id} is used twice")
        gi = FakeGpuInstance(id=gi_id, profile=profile, start=start)
        for k, ci_data in enumerate(gi_data.get("compute_instances") or []):
            ci_where = f"{gi_where}.compute_instances[{k}]"
            if not isinstance(ci_data, dict):
                raise FakeStateError(f"{ci_where}: expected an object")
            procs = _pids(ci_data.get("processes"), f"{ci_where}.processes")
            graphics = _pids(ci_data.get("graphics_processes"), f"{ci_where}.graphics_processes")
            ci_id = _count(ci_data, "id", k, ci_where, high=0xFF)
            ci_profile = _count(ci_data, "profile", _full_ci_enum(profile), ci_where, high=0xFF)
            used = sum(CI_ENUM_SLICES[c.profile] for c in gi.compute_instances)
            if ci_profile not in CI_ENUM_SLICES or used + CI_ENUM_SLICES[ci_profile] > profile.compute_slices:
                raise FakeStateError(
                    f"{ci_where}.profile: CI profile {ci_profile} does not fit in {profile.name} "
                    f"({profile.compute_slices} compute slices, {used} used)"
                )
            gi.compute_instances.append(
                FakeComputeInstance(
                    id=ci_id,
                    profile=ci_profile,
                    uuid=_uuid(ci_data.get("uuid"), _stable_uuid("MIG", gpu.uuid, gi.id, ci_id), f"{ci_where}.uuid"),
                    processes=list(procs),
                    mig_index=_count(ci_data, "mig_index", -1, ci_where, low=-1, high=0xFF),
                    graphics_processes=list(graphics),
                )
            )
        gpu.gpu_instances.append(gi)
    for _gi, ci in gpu.compute_instances():
        if ci.mig_index < 0:
            ci.mig_index = gpu.free_mig_index()
    return gpu


def _gpu_to_dict(gpu: FakeGpu) -> dict[str, Any]:
    data: dict[str, Any] = {"index": gpu.index, "name": gpu.name}
    if gpu.model_key:
        data["model"] = gpu.model_key
    if gpu.nvml_instance_count:
        data["nvml_instance_count"] = dict(gpu.nvml_instance_count)
    return data | {
        "uuid": gpu.uuid,
        "pci_bus_id": gpu.pci_bus_id,
        "memory_mib": gpu.memory_mib,
        "mig_current": gpu.mig_current,
        "mig_pending": gpu.mig_pending,
        "clients_holding": gpu.clients_holding,
        "passthrough": gpu.passthrough,
        "resetless": gpu.resetless,
        "gpu_instances": [
            {
                "id": gi.id,
                "profile": gi.profile.name,
                "start": gi.start,
                "size": gi.size,
                "compute_instances": [
                    {"id": ci.id, "profile": ci.profile, "uuid": ci.uuid, "processes": list(ci.processes), "mig_index": ci.mig_index}
                    | ({"graphics_processes": list(ci.graphics_processes)} if ci.graphics_processes else {})
                    for ci in gi.compute_instances
                ],
            }
            for gi in gpu.gpu_instances
        ],
    }


def _instance_counts(data: Any, board: dict[int, BoardProfile], where: str) -> dict[str, int]:
    if data is None:
        return {}
    names = {p.name for p in board.values()}
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, int) and v >= 0 for k, v in data.items()):
        raise FakeStateError(f"{where}: expected an object of profile name -> count")
    unknown = sorted(set(data) - names)
    if unknown:
        raise FakeStateError(f"{where}: {', '.join(unknown)} is not a profile of this GPU ({', '.join(sorted(names))})")
    return dict(data)


def _full_ci_enum(profile: BoardProfile) -> int:
    """The lowest CI profile enum that spans all of the GI's compute slices."""
    full = (e for e, slices in CI_ENUM_SLICES.items() if slices == profile.compute_slices and e not in _CI_ENUMS_UNSUPPORTED)
    return min(full, default=0)


def reset_gpu(state: FakeState, index: int) -> None:
    """What ``nvidia-smi -r -i INDEX`` does: a pending mode takes effect; a mode change wipes geometry."""
    gpu = state.gpus[index]
    if gpu.mig_current != gpu.mig_pending:
        gpu.mig_current = gpu.mig_pending
        gpu.gpu_instances.clear()


def reboot(state: FakeState) -> None:
    """A node reboot: geometry is lost everywhere; Ampere keeps the (pending) mode, Hopper+ boots MIG off."""
    for gpu in state.gpus:
        gpu.gpu_instances.clear()
        gpu.mig_current = gpu.mig_pending = gpu.mig_pending if not gpu.resetless else False
