"""Codecs for the annotations HAMi writes on Nodes and Pods (HAMi ``pkg/device/devices.go``, ``plugin/register.go``).

Every decoder takes the annotation text and returns plain frozen dataclasses, or raises
:class:`AnnotationError` with a message that says what is wrong. Callers (the cluster model) turn that
error into a warning on the node or pod; nothing here ever crashes on garbage.

Formats covered:

- node register ``hami.io/node-nvidia-register``: colon text (≤ v2.7, 7 or 9 fields per device),
  JSON ``DeviceInfo`` list (v2.8+), JSON with ``migProfiles`` (v2.10+) — HAMi plugin/register.go RegisterInAnnotation;
- handshake ``hami.io/node-handshake``: ``Reported <go time>``, ``Requesting_<ts>``, ``Deleted_<ts>`` — HAMi pkg/device/devices.go, node annotations;
- node lock ``hami.io/mutex.lock``: ``<RFC3339>,<ns>,<pod>`` or a bare RFC3339 time — HAMi pkg/device/devices.go, node annotations;
- device cordon ``hami.io/device-cordon``: comma list of GPU UUIDs — HAMi pkg/device/devices.go, node annotations;
- pod devices ``hami.io/vgpu-devices-allocated`` / ``-to-allocate``: ``UUID,Type,mem,cores:`` per device,
  ``;`` after each container, legacy ``GPU-…[t-s]`` MIG slot suffixes — HAMi pkg/device/devices.go EncodePodSingleDevice;
- MIG allocations ``hami.io/vgpu-mig-allocations`` (v2.10+) — HAMi pkg/device/devices.go EncodePodSingleDevice;
- the migctl node daemon's ``migctl.io/geometry-applied`` (JSON GPU → geometry text).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from migctl import node_protocol
from migctl.hardware.placement import Placement
from migctl.yamlio.numbers import NumberTooLong, loads_json

# --- annotation keys (HAMi pkg/device/devices.go, node annotations; HAMi pkg/device/devices.go EncodePodSingleDevice) ---

NODE_REGISTER = "hami.io/node-nvidia-register"
NODE_HANDSHAKE = "hami.io/node-handshake"
NODE_SCORE = "hami.io/node-nvidia-score"
NODE_LOCK = "hami.io/mutex.lock"
DEVICE_CORDON = "hami.io/device-cordon"

POD_DEVICES_TO_ALLOCATE = "hami.io/vgpu-devices-to-allocate"
POD_DEVICES_ALLOCATED = "hami.io/vgpu-devices-allocated"
POD_VGPU_NODE = "hami.io/vgpu-node"
POD_VGPU_TIME = "hami.io/vgpu-time"
POD_BIND_TIME = "hami.io/bind-time"
POD_BIND_PHASE = "hami.io/bind-phase"
POD_MIG_ALLOCATIONS = "hami.io/vgpu-mig-allocations"
POD_VGPU_MODE = "nvidia.com/vgpu-mode"

# The migctl node daemon's protocol: its one home is migctl.node_protocol (re-exported for `migctl status`).
MIGCTL_GEOMETRY = node_protocol.DESIRED
MIGCTL_GEOMETRY_STATE = node_protocol.STATE
MIGCTL_GEOMETRY_APPLIED = node_protocol.APPLIED
MIGCTL_GEOMETRY_MESSAGE = node_protocol.MESSAGE

#: HAMi releases a node lock after ``--node-lock-timeout`` (default 5 minutes, HAMi pkg/device/devices.go, node annotations).
NODE_LOCK_TIMEOUT = timedelta(minutes=5)
#: The scheduler calls a ``Requesting_`` handshake stale after 60 seconds (HAMi pkg/device/devices.go, node annotations).
HANDSHAKE_TIMEOUT = timedelta(seconds=60)


class AnnotationError(ValueError):
    """An annotation value that does not decode; the message says why (no key, no value dump)."""


# --- node register (HAMi plugin/register.go RegisterInAnnotation) ----------------------------------------


@dataclass(frozen=True, slots=True)
class MigProfile:
    """One entry of ``migProfiles`` in a v2.10 register annotation (``MemoryMB`` etc. from NVML)."""

    name: str
    memory_mib: int
    core: int
    slice_count: int
    placements: tuple[Placement, ...] = ()  # HAMi's MigPlacement{start, size}: the one Placement

    @property
    def memory_mb(self) -> int:
        """HAMi's field name (``MemoryMB``; the value is MiB, from NVML)."""
        return self.memory_mib


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """HAMi's ``DeviceInfo`` as published by the device plugin (HAMi plugin/register.go RegisterInAnnotation)."""

    id: str
    index: int = 0
    count: int = 0
    devmem: int = 0
    devcore: int = 0
    type: str = ""
    numa: int = 0
    mode: str = ""
    health: bool = False
    mig_profiles: tuple[MigProfile, ...] = ()


REGISTER_COLON = "colon"  # ≤ v2.7
REGISTER_JSON = "json"  # v2.8+


@dataclass(frozen=True)
class RegisterAnnotation:
    """A decoded register annotation: its devices and which format it was written in."""

    devices: tuple[DeviceInfo, ...]
    format: str  # REGISTER_COLON | REGISTER_JSON
    colon_fields: int | None = None  # 7 or 9 for the colon format (the lowest seen)

    @property
    def has_mig_profiles(self) -> bool:
        return any(d.mig_profiles for d in self.devices)


_INT32 = (-(2**31), 2**31 - 1)


def _int_field(obj: dict[str, Any], key: str, where: str, *, lo: int = _INT32[0], hi: int = _INT32[1]) -> int:
    value = obj.get(key, 0)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise AnnotationError(f"{where}: {key!r} must be an integer, got {_show(value)}")
    if not lo <= value <= hi:
        raise AnnotationError(f"{where}: {key!r} = {value} is out of range")
    return value


def _str_field(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise AnnotationError(f"{where}: {key!r} must be a string, got {_show(value)}")
    return value


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _fold(obj: dict[str, Any], expected: frozenset[str]) -> dict[str, Any]:
    """Go's encoding/json matches keys case-insensitively (an exact match wins): return ``obj`` keyed by
    the ``expected`` spellings. The usual case, every key spelled as expected, costs one set comparison."""
    if obj.keys() <= expected:
        return obj
    canonical = {k.lower(): k for k in expected}
    folded: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() in canonical:
            folded.setdefault(canonical[key.lower()], value)
    for key in expected:
        if key in obj:
            folded[key] = obj[key]
    return folded


_PLACEMENT_KEYS = frozenset({"start", "size"})
_PROFILE_KEYS = frozenset({"name", "memoryMB", "core", "sliceCount", "placements"})
_DEVICE_KEYS = frozenset({"id", "index", "count", "devmem", "devcore", "type", "numa", "mode", "health",
                          "migProfiles", "migtemplate", "custominfo", "devicevendor"})
_ALLOCATION_KEYS = frozenset({"containerIndex", "deviceIndex", "gpuUUID", "profile", "placement", "migUUID",
                              "gpuInstanceID", "computeInstanceID"})


def _decode_mig_profile(raw: Any, where: str) -> MigProfile:
    if not isinstance(raw, dict):
        raise AnnotationError(f"{where}: a MIG profile must be an object, got {_show(raw)}")
    obj = _fold(raw, _PROFILE_KEYS)
    placements_raw = obj.get("placements")
    placements_raw = [] if placements_raw is None else placements_raw
    if not isinstance(placements_raw, list):
        raise AnnotationError(f"{where}: 'placements' must be a list")
    placements = []
    for i, p in enumerate(placements_raw):
        if not isinstance(p, dict):
            raise AnnotationError(f"{where}: placement {i} must be an object")
        p = _fold(p, _PLACEMENT_KEYS)
        placements.append(
            Placement(
                _int_field(p, "start", f"{where} placement {i}", lo=0, hi=2**32 - 1),
                _int_field(p, "size", f"{where} placement {i}", lo=0, hi=2**32 - 1),
            )
        )
    return MigProfile(
        name=_str_field(obj, "name", where),
        memory_mib=_int_field(obj, "memoryMB", where),
        core=_int_field(obj, "core", where),
        slice_count=_int_field(obj, "sliceCount", where),
        placements=tuple(placements),
    )


def _decode_device_json(raw: Any, i: int, profiles_seen: tuple[Any, tuple[MigProfile, ...]] | None = None) -> DeviceInfo:
    """One ``DeviceInfo``; ``profiles_seen`` = (raw list, decoded) of the previous GPU, reused when equal
    (every GPU of a node usually publishes the same ``migProfiles``)."""
    if raw.__class__ is dict and raw.keys() <= _DEVICE_KEYS:
        device = _plain_device(raw, profiles_seen)
        if device is not None:
            return device
    where = f"device {i}"
    if not isinstance(raw, dict):
        raise AnnotationError(f"{where} must be an object, got {_show(raw)}")
    obj = _fold(raw, _DEVICE_KEYS)
    health = obj.get("health", False)
    if health is None:
        health = False
    if not isinstance(health, bool):
        raise AnnotationError(f"{where}: 'health' must be true or false, got {_show(health)}")
    profiles_raw = obj.get("migProfiles")
    profiles_raw = [] if profiles_raw is None else profiles_raw
    if not isinstance(profiles_raw, list):
        raise AnnotationError(f"{where}: 'migProfiles' must be a list")
    return DeviceInfo(
        id=_str_field(obj, "id", where),
        index=_int_field(obj, "index", where, lo=0, hi=2**63 - 1),
        count=_int_field(obj, "count", where),
        devmem=_int_field(obj, "devmem", where),
        devcore=_int_field(obj, "devcore", where),
        type=_str_field(obj, "type", where),
        numa=_int_field(obj, "numa", where, lo=-(2**63), hi=2**63 - 1),
        mode=_str_field(obj, "mode", where),
        health=health,
        mig_profiles=(
            profiles_seen[1] if profiles_seen is not None and profiles_raw and profiles_seen[0] == profiles_raw
            else tuple(_decode_mig_profile(p, f"{where} MIG profile {k}") for k, p in enumerate(profiles_raw))
        ),
    )


def _plain_device(raw: dict[str, Any], profiles_seen: tuple[Any, tuple[MigProfile, ...]] | None) -> DeviceInfo | None:
    """The device as :func:`_decode_device_json` decodes it when every field is what the plugin writes (keys
    spelled as in Go, text, in-range integers that are not booleans, a boolean ``health``, no ``migProfiles``
    or the previous GPU's); None for anything else, which takes the checked path and its messages."""
    get = raw.get
    uuid, kind, mode, health = get("id", ""), get("type", ""), get("mode", ""), get("health", False)
    index, count, devmem, devcore, numa = (get("index", 0), get("count", 0), get("devmem", 0), get("devcore", 0),
                                           get("numa", 0))
    if not (uuid.__class__ is str and kind.__class__ is str and mode.__class__ is str and health.__class__ is bool
            and index.__class__ is int and count.__class__ is int and devmem.__class__ is int
            and devcore.__class__ is int and numa.__class__ is int):
        return None
    lo, hi = _INT32
    if not (0 <= index <= 2**63 - 1 and lo <= count <= hi and lo <= devmem <= hi and lo <= devcore <= hi
            and -(2**63) <= numa <= 2**63 - 1):
        return None
    profiles_raw = get("migProfiles")
    profiles: tuple[MigProfile, ...] = ()
    if profiles_raw:
        if profiles_seen is None or profiles_seen[0] != profiles_raw:
            return None
        profiles = profiles_seen[1]
    elif profiles_raw is not None and profiles_raw != []:
        return None
    return DeviceInfo(uuid, index, count, devmem, devcore, kind, numa, mode, health, profiles)


def _decode_register_colon(text: str) -> RegisterAnnotation:
    """``UUID,count,devmem,devcore,type,numa,health[,index,mode]:`` per device (HAMi plugin/register.go RegisterInAnnotation)."""
    if ":" not in text:
        raise AnnotationError("neither a JSON list nor colon-separated device records")
    devices = []
    widths = set()
    for i, record in enumerate(p for p in text.split(":") if "," in p):
        items = record.split(",")
        if len(items) not in (7, 9):
            raise AnnotationError(f"device {i} has {len(items)} comma fields, expected 7 or 9")
        widths.add(len(items))
        where = f"device {i}"
        try:
            count, devmem, devcore, numa = (int(items[k]) for k in (1, 2, 3, 5))
        except ValueError:
            raise AnnotationError(f"{where}: count, devmem, devcore and numa must be integers") from None
        health_text = items[6].strip().lower()
        if health_text not in ("true", "false", "1", "0", "t", "f"):
            raise AnnotationError(f"{where}: health must be true or false, got {items[6]!r}")
        index, mode = 0, "hami-core"
        if len(items) == 9:
            try:
                index = int(items[7])
            except ValueError:
                raise AnnotationError(f"{where}: index must be an integer, got {items[7]!r}") from None
            mode = items[8]
        devices.append(
            DeviceInfo(
                id=items[0],
                index=index,
                count=count,
                devmem=devmem,
                devcore=devcore,
                type=items[4],
                numa=numa,
                mode=mode,
                health=health_text in ("true", "1", "t"),
            )
        )
    if not devices:
        raise AnnotationError("no device records")
    return RegisterAnnotation(tuple(devices), REGISTER_COLON, colon_fields=min(widths))


def decode_node_register(text: str) -> RegisterAnnotation:
    """Decode ``hami.io/node-nvidia-register`` in any generation (HAMi plugin/register.go RegisterInAnnotation).

    JSON is recognised by a leading ``[``; anything else is the ≤ v2.7 colon format. In JSON a missing
    ``health`` means *unhealthy* and a missing ``index``/``numa`` means 0, exactly as Go decodes it.
    """
    stripped = text.strip()
    if not stripped:
        raise AnnotationError("empty value")
    if stripped.startswith("[") or stripped.startswith("{") or stripped == "null":
        try:
            raw = loads_json(stripped)
        except json.JSONDecodeError as exc:
            raise AnnotationError(f"invalid JSON at character {exc.pos}: {exc.msg}") from None
        except NumberTooLong as exc:
            raise AnnotationError(str(exc)) from None
        if raw is None:
            raise AnnotationError("the device list is null")
        if not isinstance(raw, list):
            raise AnnotationError("expected a JSON list of devices")
        if not raw:
            raise AnnotationError("the device list is empty")
        devices = []
        profiles_seen: tuple[Any, tuple[MigProfile, ...]] | None = None
        for i, d in enumerate(raw):
            device = _decode_device_json(d, i, profiles_seen)
            if device.mig_profiles:
                profiles_seen = (d.get("migProfiles"), device.mig_profiles)
            devices.append(device)
        return RegisterAnnotation(tuple(devices), REGISTER_JSON)
    return _decode_register_colon(stripped)


def _profile_to_json(p: MigProfile) -> dict[str, Any]:
    return {
        "name": p.name,
        "memoryMB": p.memory_mib,
        "core": p.core,
        "sliceCount": p.slice_count,
        "placements": [{"start": pl.start, "size": pl.size} for pl in p.placements],
    }


def encode_node_register_json(devices: tuple[DeviceInfo, ...] | list[DeviceInfo]) -> str:
    """Encode like HAMi's ``MarshalNodeDevices`` (v2.8+): every field ``omitempty``."""
    out = []
    for d in devices:
        obj: dict[str, Any] = {}
        for key, value in (
            ("id", d.id),
            ("index", d.index),
            ("count", d.count),
            ("devmem", d.devmem),
            ("devcore", d.devcore),
            ("type", d.type),
            ("numa", d.numa),
            ("mode", d.mode),
        ):
            if value:
                obj[key] = value
        if d.mig_profiles:
            obj["migProfiles"] = [_profile_to_json(p) for p in d.mig_profiles]
        if d.health:
            obj["health"] = True
        out.append(obj)
    return json.dumps(out, separators=(",", ":"))


def encode_node_register_colon(devices: tuple[DeviceInfo, ...] | list[DeviceInfo], *, fields: int = 9) -> str:
    """Encode the ≤ v2.7 colon format with 7 or 9 fields per device."""
    if fields not in (7, 9):
        raise ValueError("fields must be 7 or 9")
    parts = []
    for d in devices:
        items = [d.id, str(d.count), str(d.devmem), str(d.devcore), d.type, str(d.numa), str(d.health).lower()]
        if fields == 9:
            items += [str(d.index), d.mode]
        parts.append(",".join(items) + ":")
    return "".join(parts)


def decode_node_score(text: str) -> dict[str, dict[str, int]]:
    """``hami.io/node-nvidia-score`` (topology scores, HAMi pkg/device/devices.go, node annotations): GPU -> {other GPU: score}."""
    try:
        raw = loads_json(text)
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"invalid JSON at character {exc.pos}: {exc.msg}") from None
    except NumberTooLong as exc:
        raise AnnotationError(str(exc)) from None
    if not isinstance(raw, list):
        raise AnnotationError("expected a JSON list of {uuid, score}")
    out: dict[str, dict[str, int]] = {}
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("uuid"), str):
            raise AnnotationError(f"entry {i} must be an object with a string 'uuid'")
        scores = entry.get("score") or {}
        if not isinstance(scores, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in scores.values()
        ):
            raise AnnotationError(f"entry {i}: 'score' must map GPU UUIDs to integers")
        out[entry["uuid"]] = {str(k): v for k, v in scores.items()}
    return out


def encode_node_score(scores: dict[str, dict[str, int]]) -> str:
    return json.dumps([{"uuid": u, "score": s} for u, s in scores.items()], separators=(",", ":"))


# --- handshake and node lock (HAMi pkg/device/devices.go, node annotations) ------------------------------

HANDSHAKE_REPORTED = "reported"  # ≤ v2.7 device plugin
HANDSHAKE_REQUESTING = "requesting"  # scheduler
HANDSHAKE_DELETED = "deleted"  # v2.9 cleanup


@dataclass(frozen=True)
class Handshake:
    state: str  # HANDSHAKE_*
    at: datetime | None  # timezone-aware; None when the time does not parse
    raw: str

    def is_stale(self, now: datetime) -> bool:
        """A ``Requesting_`` handshake older than 60 s: the device plugin stopped answering."""
        return self.state == HANDSHAKE_REQUESTING and self.at is not None and now - self.at > HANDSHAKE_TIMEOUT


_GO_TIME = re.compile(
    r"^(?P<date>\d{4}[-.]\d{2}[-.]\d{2})[ T](?P<time>\d{2}:\d{2}:\d{2})(?P<frac>\.\d+)?"
    r"(?:\s*(?P<off>Z|[+-]\d{2}:?\d{2}))?"
)


def _parse_go_time(text: str) -> datetime | None:
    """Parse Go's ``time.Time.String()``, ``time.DateTime``, ``2006.01.02 15:04:05`` (older HAMi) or RFC3339
    text; naive times are taken as UTC (HAMi writes the scheduler's local time)."""
    m = _GO_TIME.match(text.strip())
    if not m:
        return None
    frac = (m["frac"] or "")[:7].ljust(7, "0") if m["frac"] else ""  # Python keeps microseconds
    try:
        at = datetime.fromisoformat(f"{m['date'].replace('.', '-')}T{m['time']}{frac}")
    except ValueError:
        return None
    off = m["off"]
    if off and off != "Z":
        sign = 1 if off[0] == "+" else -1
        digits = off[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    else:
        tz = timezone.utc
    return at.replace(tzinfo=tz)


def decode_handshake(text: str) -> Handshake:
    """Decode ``hami.io/node-handshake``: ``Reported <t>``, ``Requesting_<t>`` or ``Deleted_<t>``."""
    stripped = text.strip()
    for prefix, state in (
        ("Reported", HANDSHAKE_REPORTED),
        ("Requesting_", HANDSHAKE_REQUESTING),
        ("Deleted_", HANDSHAKE_DELETED),
    ):
        if stripped.startswith(prefix):
            return Handshake(state, _parse_go_time(stripped[len(prefix) :]), text)
    raise AnnotationError("expected 'Reported <time>', 'Requesting_<time>' or 'Deleted_<time>'")


def encode_handshake(state: str, at: datetime) -> str:
    stamp = at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    prefix = {HANDSHAKE_REPORTED: "Reported ", HANDSHAKE_REQUESTING: "Requesting_", HANDSHAKE_DELETED: "Deleted_"}
    return prefix[state] + stamp


@dataclass(frozen=True)
class NodeLock:
    """``hami.io/mutex.lock``: who holds the node between Bind and Allocate."""

    at: datetime
    namespace: str | None = None  # None in the legacy bare-time form
    pod: str | None = None

    def is_expired(self, now: datetime) -> bool:
        return now - self.at > NODE_LOCK_TIMEOUT

    @property
    def holder(self) -> str:
        return f"{self.namespace}/{self.pod}" if self.pod else "(unknown pod)"


def _parse_rfc3339(text: str) -> datetime:
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise AnnotationError(f"{text.strip()!r} is not an RFC3339 time") from None
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def decode_node_lock(text: str) -> NodeLock:
    """``<RFC3339>,<namespace>,<pod>`` or a bare RFC3339 time (legacy)."""
    parts = text.strip().split(",")
    if len(parts) == 1:
        return NodeLock(_parse_rfc3339(parts[0]))
    if len(parts) == 3 and parts[2]:
        return NodeLock(_parse_rfc3339(parts[0]), parts[1], parts[2])
    raise AnnotationError("expected '<RFC3339 time>,<namespace>,<pod>' or a bare RFC3339 time")


def encode_node_lock(lock: NodeLock) -> str:
    stamp = lock.at.isoformat().replace("+00:00", "Z")
    return stamp if lock.pod is None else f"{stamp},{lock.namespace or ''},{lock.pod}"


def decode_device_cordon(text: str) -> frozenset[str]:
    """``hami.io/device-cordon``: comma-separated GPU UUIDs, spaces trimmed, empties dropped."""
    return frozenset(u.strip() for u in text.split(",") if u.strip())


def encode_device_cordon(uuids: frozenset[str] | set[str] | list[str]) -> str:
    return ",".join(sorted(uuids))


# --- pod device strings (HAMi pkg/device/devices.go EncodePodSingleDevice) -------------------------------

_MIG_SUFFIX = re.compile(r"^(?P<uuid>[^\[\]]*)\[(?P<t>-?\d+)-(?P<s>-?\d+)\]$")


@dataclass(frozen=True, slots=True)
class ContainerDevice:
    """One device of one container: ``UUID,Type,Usedmem,Usedcores``.

    ``uuid`` is the physical GPU UUID; a legacy MIG slot suffix ``[t-s]`` is split off into
    ``mig_slot = (template index, slot index)``. ``raw_uuid`` keeps the text as written.
    """

    uuid: str
    type: str
    usedmem: int
    usedcores: int
    mig_slot: tuple[int, int] | None = None

    @property
    def raw_uuid(self) -> str:
        return self.uuid if self.mig_slot is None else f"{self.uuid}[{self.mig_slot[0]}-{self.mig_slot[1]}]"


def split_mig_suffix(raw_uuid: str) -> tuple[str, tuple[int, int] | None]:
    """``GPU-aaa[1-2]`` -> (``GPU-aaa``, (1, 2)); a plain UUID -> (uuid, None)."""
    if "[" not in raw_uuid and "]" not in raw_uuid:
        return raw_uuid, None
    m = _MIG_SUFFIX.match(raw_uuid)
    if not m:
        raise AnnotationError(f"malformed MIG slot suffix in {raw_uuid!r} (expected GPU-…[<template>-<slot>])")
    return m["uuid"], (int(m["t"]), int(m["s"]))


def _int32(text: str, what: str, where: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise AnnotationError(f"{where}: {what} must be an integer, got {text!r}") from None
    if not _INT32[0] <= value <= _INT32[1]:
        raise AnnotationError(f"{where}: {what} {value} is out of range")
    return value


def decode_pod_devices(text: str) -> tuple[tuple[ContainerDevice, ...], ...]:
    """Decode ``hami.io/vgpu-devices-allocated`` into per-container device tuples.

    Containers are in HAMi's order: init containers first (v2.9.0+), then app containers. The encoder
    ends every container with ``;``, so ``"a:;b:;"`` is two containers and ``";;"`` two empty ones.
    """
    if text == "":
        return ()
    plain = _plain_pod_device(text)
    if plain is not None:
        return plain
    body = text[:-1] if text.endswith(";") else text
    lo, hi = _INT32
    containers = []
    for c, chunk in enumerate(body.split(";")):
        devices = []
        d = 0
        for record in chunk.split(":"):
            if not record or record.isspace():
                continue
            items = record.split(",")
            if len(items) < 4:
                raise AnnotationError(f"container {c} device {d}: expected 'UUID,Type,Usedmem,Usedcores', "
                                      f"got {record!r}")
            raw = items[0].strip()
            uuid, slot = split_mig_suffix(raw) if "[" in raw or "]" in raw else (raw, None)
            if not uuid:
                raise AnnotationError(f"container {c} device {d}: empty GPU UUID")
            try:
                mem, cores = int(items[2]), int(items[3])
            except ValueError:
                where = f"container {c} device {d}"
                _int32(items[2].strip(), "Usedmem", where)
                _int32(items[3].strip(), "Usedcores", where)
                raise  # pragma: no cover - one of the two above raised
            if not (lo <= mem <= hi and lo <= cores <= hi):
                where = f"container {c} device {d}"
                _int32(items[2].strip(), "Usedmem", where)
                _int32(items[3].strip(), "Usedcores", where)
            devices.append(ContainerDevice(uuid, items[1], mem, cores, slot))
            d += 1
        containers.append(tuple(devices))
    return tuple(containers)


#: The usual ``hami.io/vgpu-devices-allocated`` value: one container holding one device, its UUID without
#: spaces, possibly with a legacy slot ``[t-s]`` of ASCII digits, exactly four fields, ASCII numbers of at
#: most nine digits (so within int32).
_USUAL_POD_DEVICE = re.compile(r"([^\s,:;\[\]]+)(?:\[([0-9]+)-([0-9]+)\])?,([^,:;]*),([0-9]{1,9}),([0-9]{1,9}):;")


def _plain_pod_device(text: str) -> tuple[tuple[ContainerDevice, ...], ...] | None:
    """The usual value (:data:`_USUAL_POD_DEVICE`), decoded in one match as :func:`decode_pod_devices`
    decodes it; None for anything else, which that decoder reads (or refuses) itself."""
    found = _USUAL_POD_DEVICE.fullmatch(text)
    if found is None:
        return None
    uuid, template, slot, kind, mem, cores = found.groups()
    mig_slot = None if template is None else (int(template), int(slot))
    return ((ContainerDevice(uuid, kind, int(mem), int(cores), mig_slot),),)


def encode_pod_devices(containers: tuple[tuple[ContainerDevice, ...], ...] | list) -> str:
    """Encode like HAMi's ``EncodePodSingleDevice``: ``dev:`` per device and ``;`` after each container."""
    return "".join(
        "".join(f"{d.raw_uuid},{d.type},{d.usedmem},{d.usedcores}:" for d in ctr) + ";" for ctr in containers
    )


# --- MIG allocations (v2.10, HAMi pkg/device/devices.go EncodePodSingleDevice) ---------------------------


@dataclass(frozen=True)
class MigAllocation:
    """One entry of ``hami.io/vgpu-mig-allocations`` (HAMi v2.10.0 pkg/device/nvidia/mig_allocations.go
    MigAllocation); the runtime identity is all-or-nothing.

    THE MIG allocation value: a GPU's allocations in use (``cluster.usage.MigAllocationUsage``) hold it as
    decoded, and the simulator's reservations are built as one (``MigAllocationUsage.reserve``).
    """

    container_index: int
    device_index: int
    gpu_uuid: str
    profile: str
    placement: Placement
    mig_uuid: str | None = None
    gpu_instance_id: int | None = None
    compute_instance_id: int | None = None

    @property
    def runtime_ready(self) -> bool:
        return bool(self.mig_uuid) and self.gpu_instance_id is not None and self.compute_instance_id is not None


def decode_mig_allocations(text: str) -> tuple[MigAllocation, ...]:
    """Decode with the checks of HAMi's ``DecodeMigAllocations``: one bad entry rejects the whole value."""
    if text == "":
        return ()
    try:
        raw = loads_json(text)
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"invalid JSON at character {exc.pos}: {exc.msg}") from None
    except NumberTooLong as exc:
        raise AnnotationError(str(exc)) from None
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise AnnotationError("expected a JSON list of allocations")
    out = []
    seen: set[tuple[int, int]] = set()
    for i, entry in enumerate(raw):
        where = f"allocation {i}"
        if not isinstance(entry, dict):
            raise AnnotationError(f"{where} must be an object")
        obj = _fold(entry, _ALLOCATION_KEYS)
        placement = obj.get("placement")
        placement = {} if placement is None else placement
        if not isinstance(placement, dict):
            raise AnnotationError(f"{where}: 'placement' must be an object")
        placement = _fold(placement, _PLACEMENT_KEYS)
        uint32 = {"lo": 0, "hi": 2**32 - 1}
        start = _int_field(placement, "start", where, **uint32)
        size = _int_field(placement, "size", where, **uint32)
        gi = obj.get("gpuInstanceID")
        ci = obj.get("computeInstanceID")
        alloc = MigAllocation(
            container_index=_int_field(obj, "containerIndex", where, lo=-(2**63), hi=2**63 - 1),
            device_index=_int_field(obj, "deviceIndex", where, lo=-(2**63), hi=2**63 - 1),
            gpu_uuid=_str_field(obj, "gpuUUID", where),
            profile=_str_field(obj, "profile", where),
            placement=Placement(start, size),
            mig_uuid=_str_field(obj, "migUUID", where) or None,
            gpu_instance_id=None if gi is None else _int_field(obj, "gpuInstanceID", where, **uint32),
            compute_instance_id=None if ci is None else _int_field(obj, "computeInstanceID", where, **uint32),
        )
        if alloc.container_index < 0 or alloc.device_index < 0 or not alloc.gpu_uuid or not alloc.profile or size == 0:
            raise AnnotationError(f"MIG allocation {i} is incomplete")
        runtime = sum(x is not None for x in (alloc.mig_uuid, alloc.gpu_instance_id, alloc.compute_instance_id))
        if runtime not in (0, 3):
            raise AnnotationError(f"MIG allocation {i} has partial runtime identity")
        key = (alloc.container_index, alloc.device_index)
        if key in seen:
            raise AnnotationError(f"duplicate MIG allocation for container {key[0]} device {key[1]}")
        seen.add(key)
        out.append(alloc)
    return tuple(out)


def encode_mig_allocations(allocations: tuple[MigAllocation, ...] | list[MigAllocation]) -> str:
    out = []
    for a in allocations:
        obj: dict[str, Any] = {
            "containerIndex": a.container_index,
            "deviceIndex": a.device_index,
            "gpuUUID": a.gpu_uuid,
            "profile": a.profile,
            "placement": {"start": a.placement.start, "size": a.placement.size},
        }
        if a.mig_uuid:
            obj["migUUID"] = a.mig_uuid
        if a.gpu_instance_id is not None:
            obj["gpuInstanceID"] = a.gpu_instance_id
        if a.compute_instance_id is not None:
            obj["computeInstanceID"] = a.compute_instance_id
        out.append(obj)
    return json.dumps(out, separators=(",", ":"))


# --- migctl node daemon protocol -------------------------------------------------------------------------


@dataclass(frozen=True)
class MigctlGeometry:
    """What the migctl node daemon was asked for and what it reports (``migctl.io/*`` annotations)."""

    desired: str | None = None
    state: str | None = None
    applied: dict[str, str] = field(default_factory=dict)  # GPU (UUID or index) -> canonical geometry
    message: str | None = None

    @property
    def present(self) -> bool:
        return any((self.desired, self.state, self.applied, self.message))


def decode_geometry_applied(text: str) -> dict[str, str]:
    """``migctl.io/geometry-applied`` (:func:`migctl.node_protocol.decode_applied`) as an :class:`AnnotationError` decoder."""
    try:
        return node_protocol.decode_applied(text)
    except node_protocol.ProtocolError as exc:
        raise AnnotationError(str(exc)) from None
