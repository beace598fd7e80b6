"""A simulated NVML placed *under* pynvml, so pynvml's own ctypes marshalling runs for real.

pynvml looks every C function up by name in ``pynvml.nvmlLib`` (through ``_nvmlGetFunctionPointer``,
which caches what it finds). :class:`FakeNvml` replaces that library object with one whose attributes
are ``ctypes.CFUNCTYPE`` callbacks named like the C functions: pointer arguments are ``c_void_p`` and
results are written through casts into the very structs pynvml allocated. Nothing of pynvml's Python
layer is patched.

What is modelled (mig-parted.md §5 "Recommended Python fake", mig-profiles.md "Validity rules"):

- per model, from the hardware catalogue: GI profiles by NVML enum, the board profile IDs every other
  call takes (mig-parted.md §2 "two numberings"), possible placements in NVML memory-slice units,
  ``instanceCount`` caps (``+me`` at most one), ``+me.all`` exclusivity (only ``-me`` beside it);
- placement rules: a placement not in the list is ``INVALID_ARGUMENT``; an occupied one
  ``INSUFFICIENT_RESOURCES`` (not "already exists", mig-parted.md §2);
- CIs inside a GI (capacity in slices), GI destroy with CIs left is ``IN_USE``, destroying a CI with
  processes is ``IN_USE``, any GI/CI call while MIG is off is ``NOT_SUPPORTED``, ``GetMigMode`` on a
  non-MIG board is ``NOT_SUPPORTED``;
- ``nvmlDeviceSetMigMode``: applied at once when the GPU is idle; with ``clients_holding`` or
  processes running the call succeeds, the mode stays *pending* and the activation status is
  ``IN_USE`` (nvml.h); with ``passthrough`` it is ``RESET_REQUIRED``; when MIG goes off, the instances
  are lost (k8s-test-infra's mock does the same). :func:`reset_gpu` and
  :func:`reboot` finish pending changes (a reboot wipes geometry, and on Hopper+ also the mode,
  mig-parted.md §1.4);
- GPU instance IDs are placement slots as on real boards (the full GPU instance is GI 0);
- MIG device handles and UUIDs (new UUID on every re-create), compute and graphics processes per
  compute instance (both make it busy); MIG device indices keep gaps where a device was destroyed
  and reuse the lowest free one;
- a wrong ``instanceCount`` reported by NVML (``nvml_instance_count``, the A30 trap) while the board
  keeps enforcing its real limits;
- permissions (state ``user``, :data:`USERS`): MIG writes need root, listing instances root or the
  MIG monitor capability, aggregate processes of a MIG GPU root; ``driver_loaded: false`` makes
  ``nvmlInit`` fail with ``DRIVER_NOT_LOADED``; ``profiles_need_mig_on: true`` is an older driver
  (535) that answers no GI profile info while MIG is off; every call outside an
  ``nvmlInit``/``nvmlShutdown`` pair is ``UNINITIALIZED``; NULL count/output pointers are
  ``INVALID_ARGUMENT``;
- injected faults: the N-th call of an operation fails with an NVML error, or "crashes" the process
  (``os._exit``) right after the call took effect, to leave a half-done apply behind.

The state is a JSON document (see :class:`FakeState`, README "fake NVML state file"); with a path it
is read when the session opens (and on :meth:`FakeNvml.reload`) and written after every change.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from ctypes import CFUNCTYPE, POINTER, c_int, c_uint, c_void_p, cast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pynvml

from migctl.hardware.solver import PlacedInstance

# NVML return codes (nvml.h; mig-parted.md §2 "Return codes that matter").
SUCCESS = 0
ERROR_UNINITIALIZED = 1
ERROR_INVALID_ARGUMENT = 2
ERROR_NOT_SUPPORTED = 3
ERROR_NO_PERMISSION = 4
ERROR_NOT_FOUND = 6
ERROR_INSUFFICIENT_SIZE = 7
ERROR_DRIVER_NOT_LOADED = 9
ERROR_RESET_REQUIRED = 16
ERROR_IN_USE = 19
ERROR_INSUFFICIENT_RESOURCES = 23
ERROR_ARGUMENT_VERSION_MISMATCH = 25
ERROR_UNKNOWN = 999

#: Operations whose calls can be made to fail (``MIGCTL_FAKE_NVML_FAIL=OP:N``).
FAULT_OPERATIONS = (
    "create_gpu_instance",
    "create_compute_instance",
    "destroy_gpu_instance",
    "destroy_compute_instance",
    "set_mig_mode",
)

#: GI profile enum -> name suffix (mig-parted.md §2 "GI profile enums").
GI_ENUM_ATTRIBUTE = {
    7: "+me", 8: "+me", 10: "+gfx", 11: "+gfx", 12: "+gfx", 17: "+gfx",
    13: "-me", 14: "-me", 15: "+me.all", 16: "+me.all",
}
#: CI profile enum -> compute slices (mig-parted.md §2 "CI profile enums").
CI_ENUM_SLICES = {0: 1, 1: 2, 2: 3, 3: 4, 4: 7, 5: 8, 6: 6, 7: 1, 8: 7}
#: CI enums the fake refuses, like real boards do for the REV1/NVL variants (dra-driver #1480).
_CI_ENUMS_UNSUPPORTED = {7, 8}

_DEVICE, _GI, _CI, _MIG = 0x100000, 0x200000, 0x300000, 0x400000

#: Who the process runs as (state ``user``): ``root`` may do everything; ``monitor`` is a non-root
#: user with the MIG monitor capability (``/proc/driver/nvidia/capabilities/mig/monitor``; in a
#: container ``NVIDIA_MIG_MONITOR_DEVICES=all``): it may list instances but not change them;
#: ``unprivileged`` may not even list them (nvml.h: "Requires privileged user"; mig-parted.md §2
#: ``ERROR_NO_PERMISSION``).
USERS = ("root", "monitor", "unprivileged")

#: nvmlDeviceGetMaxMigDeviceCount of every MIG board here (7 compute slices at most).
MAX_MIG_DEVICES = 7


class FakeStateError(ValueError):
    """The fake NVML state (file or GPU spec) cannot be used; the message names the field."""


# --------------------------------------------------------------------------------------------
# Board tables from the catalogue


@dataclass(frozen=True)
class BoardProfile:
    """One GPU-instance profile as a board publishes it through NVML."""

    enum: int
    board_id: int
    name: str
    compute_slices: int
    size: int
    starts: tuple[int, ...]
    max_instances: int
    memory_mib: int
    multiprocessors: int
    copy_engines: int
    decoders: int
    encoders: int
    jpeg: int
    ofa: int
    attribute: str

    @property
    def nvml_name(self) -> str:
        return f"MIG {self.name}"


def _int(value: Any, default: int = 0) -> int:
    return int(value) if isinstance(value, int) else default


def board_table(model: Any) -> dict[int, BoardProfile]:
    """GI profiles of a catalogue model keyed by NVML enum (profiles without placements are left out).

    Profiles whose board ID is not known get the synthetic ID ``100 + enum``.
    """
    table: dict[int, BoardProfile] = {}
    for p in getattr(model, "profiles", ()):
        enum = getattr(p, "nvml_profile_value", None)
        if not isinstance(enum, int) or enum in table or not p.placement_size or not p.placement_starts:
            continue
        board_id = p.board_profile_id if isinstance(p.board_profile_id, int) else 100 + enum
        table[enum] = BoardProfile(
            enum=enum,
            board_id=board_id,
            name=p.name,
            compute_slices=p.compute_slices,
            size=p.placement_size,
            starts=tuple(p.placement_starts),
            max_instances=_int(p.max_instances, len(p.placement_starts)),
            memory_mib=_int(p.memory_mib),
            multiprocessors=_int(p.multiprocessors),
            copy_engines=_int(p.copy_engines),
            decoders=_int(p.decoders),
            encoders=_int(p.encoders),
            jpeg=_int(p.jpeg),
            ofa=_int(p.ofa),
            attribute=GI_ENUM_ATTRIBUTE.get(enum, ""),
        )
    return table


def _architecture(model: Any) -> tuple[int, tuple[int, int], bool]:
    """(NVML architecture constant, compute capability, reset-less MIG mode change)."""
    text = str(getattr(model, "architecture", "") or "")
    key = str(getattr(model, "key", ""))
    if "Ampere" in text or key.startswith(("a100", "a30")):
        return 7, (8, 0), False
    if "Hopper" in text or key.startswith(("h1", "h2", "gh2")):
        return 9, (9, 0), True
    if "CC 12" in text:
        return 10, (12, 0), True
    return 10, (10, 0), True


# --------------------------------------------------------------------------------------------
# State


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
    #: mig-parted.md §2); the board still enforces its real limits
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
            try:
                count = int(count_text)
            except ValueError:
                raise FakeStateError(f"MIGCTL_FAKE_NVML_GPUS: {part!r}: count {count_text!r} is not a number") from None
            if count < 1:
                raise FakeStateError(f"MIGCTL_FAKE_NVML_GPUS: {part!r}: count must be at least 1")
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
        gpus = [_gpu_from_dict(g, i, catalogue, f"{source}: gpus[{i}]") for i, g in enumerate(data["gpus"])]
        user = data.get("user", "root")
        if user not in USERS:
            raise FakeStateError(f"{source}: user: {user!r} is not one of {', '.join(USERS)}")
        return cls(
            gpus=gpus,
            driver_version=str(data.get("driver_version", "570.133.20")),
            serial=_int(data.get("serial")),
            user=user,
            driver_loaded=bool(data.get("driver_loaded", True)),
            profiles_need_mig_on=bool(data.get("profiles_need_mig_on", False)),
        )

    @classmethod
    def load(cls, path: str | Path, *, catalogue: Any = None) -> FakeState:
        path = Path(path)
        with _file_lock(path):
            text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FakeStateError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from None
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
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


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
        uuid=str(data.get("uuid") or _stable_uuid("GPU", name, index)),
        pci_bus_id=str(data.get("pci_bus_id") or f"00000000:{0x07 + index * 0x10:02X}:00.0"),
        pci_device_id=(device_id << 16) | 0x10DE,
        memory_mib=_int(data.get("memory_mib"), _int(total, 81920)),
        board=board,
        architecture=arch,
        compute_capability=cc,
        resetless=bool(data.get("resetless", resetless)),
        mig_current=bool(data.get("mig_current", False)) and bool(board),
        mig_pending=bool(data.get("mig_pending", data.get("mig_current", False))) and bool(board),
        clients_holding=bool(data.get("clients_holding", False)),
        passthrough=bool(data.get("passthrough", False)),
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
        if not isinstance(gi_id, int):
            gi_id = gpu.new_gpu_instance_id(profile, start)
        elif gpu.gpu_instance(gi_id) is not None:
            raise FakeStateError(f"{gi_where}.id: GPU instance {gi_id} is used twice")
        gi = FakeGpuInstance(id=gi_id, profile=profile, start=start)
        for k, ci_data in enumerate(gi_data.get("compute_instances") or []):
            ci_where = f"{gi_where}.compute_instances[{k}]"
            if not isinstance(ci_data, dict):
                raise FakeStateError(f"{ci_where}: expected an object")
            procs = ci_data.get("processes") or []
            if not isinstance(procs, list) or not all(isinstance(p, int) for p in procs):
                raise FakeStateError(f"{ci_where}.processes: expected a list of PIDs (integers)")
            graphics = ci_data.get("graphics_processes") or []
            if not isinstance(graphics, list) or not all(isinstance(p, int) for p in graphics):
                raise FakeStateError(f"{ci_where}.graphics_processes: expected a list of PIDs (integers)")
            ci_id = _int(ci_data.get("id"), k)
            ci_profile = _int(ci_data.get("profile"), _full_ci_enum(profile))
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
                    uuid=str(ci_data.get("uuid") or _stable_uuid("MIG", gpu.uuid, gi.id, ci_id)),
                    processes=list(procs),
                    mig_index=_int(ci_data.get("mig_index"), -1),
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


# --------------------------------------------------------------------------------------------
# Faults


@dataclass(frozen=True)
class Fault:
    """The ``nth`` call of ``operation`` returns ``code`` (or, with ``crash``, exits the process after it)."""

    operation: str
    nth: int
    code: int = ERROR_UNKNOWN
    crash: bool = False


def parse_faults(text: str) -> tuple[Fault, ...]:
    """``"create_gpu_instance:2,destroy_gpu_instance:1:IN_USE,set_mig_mode:1:crash"`` -> faults."""
    faults = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        bits = part.split(":")
        if len(bits) not in (2, 3) or bits[0] not in FAULT_OPERATIONS or not bits[1].isdigit() or int(bits[1]) < 1:
            raise FakeStateError(
                f"MIGCTL_FAKE_NVML_FAIL: {part!r}: expected OP:N[:ERROR|crash] with OP one of {', '.join(FAULT_OPERATIONS)}"
            )
        code, crash = ERROR_UNKNOWN, False
        if len(bits) == 3:
            if bits[2] == "crash":
                crash = True
            else:
                code_value = getattr(pynvml, f"NVML_ERROR_{bits[2].upper()}", None)
                if not isinstance(code_value, int):
                    raise FakeStateError(f"MIGCTL_FAKE_NVML_FAIL: {part!r}: unknown NVML error {bits[2]!r}")
                code = code_value
        faults.append(Fault(bits[0], int(bits[1]), code, crash))
    return tuple(faults)


# --------------------------------------------------------------------------------------------
# The library object


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
            self.state = FakeState.load(self.path)

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
