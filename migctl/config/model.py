"""The HAMi device-config as HAMi itself would use it, and the device plugin's node config.

This model is lenient on purpose: it reads what HAMi's parser would take and ignores the rest, so the
simulator works from the config HAMi actually runs with. It never reports problems; the linter
(:mod:`migctl.config.checks`) does that from the raw document.

Facts (HAMi):

- ``NvidiaConfig`` (HAMi ``pkg/device/nvidia/device.go``): the ``nvidia:`` fields, their zero values when absent and the built-in defaults
  (``config.InitDefaultDevices``) that :meth:`DeviceConfig.hami_defaults` returns;
- legacy ``knownMigGeometries`` (v2.5-v2.9; HAMi v2.9.0 ``pkg/device/devices.go``): a list of ``{models, allowedGeometries}``, each
  geometry a list of templates ``{name, memory, core, count}``, matched by the first entry with a
  model string that is a substring of the device type;
- ``migProfileAllowlist`` (v2.10; HAMi v2.10.0 ``pkg/device/devices.go`` AllowedMigProfiles): ``{models, profiles}``, the same first-substring rule;
- the device plugin's node config JSON (``hami-device-plugin``/``config.json``): ``nodeconfig`` entries matched by
  exact node name, every matching entry applied in order, keys case-insensitive (Go ``encoding/json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

#: The ConfigMap key HAMi reads its scheduler device config from (``hami-scheduler-device``).
DEVICE_CONFIG_KEY = "device-config.yaml"

__all__ = [
    "CHART_MIG_PROFILE_ALLOWLIST",
    "DEFAULT_DEVICE_SPLIT_COUNT",
    "DeviceConfig",
    "NvidiaConfig",
    "MigGeometryEntry",
    "MigTemplate",
    "MigAllowlistEntry",
    "NodeConfigEntry",
    "NodeDefaultConfig",
    "NodeConfigFile",
    "VENDOR_SECTIONS",
    "scheduler_nvidia_config",
]

# HAMi pkg/scheduler/config/config.go Config: the top-level sections of config.Config (biren is HEAD only).
VENDOR_SECTIONS = (
    "nvidia", "metax", "hygon", "cambricon", "mthreads", "iluvatars", "enflame", "kunlun",
    "awsneuron", "amd", "vastai", "biren", "vnpus",
)


def _int(value: Any, default: int = 0) -> int:
    # yaml.v2 truncates an integral float into an int field; anything else is a fatal error in HAMi.
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value and abs(value) != float("inf"):
        return int(value)
    return default


def _opt_int(value: Any) -> int | None:
    return None if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) else _int(value)


def _opt_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _str(value: Any, default: str = "") -> str:
    # yaml.v2 sets a string field from any scalar's text.
    if value is None or isinstance(value, (dict, list)):
        return default
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None or isinstance(value, (dict, list)) else _str(value)


def _bool(value: Any, default: bool = False) -> bool:
    return value if isinstance(value, bool) else default


def _opt_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class MigTemplate:
    """One line of a legacy geometry: ``count`` instances of profile ``name`` (HAMi v2.9.0 pkg/device/devices.go knownMigGeometries).

    ``memory`` (MiB) drives template selection; ``core`` (percent) is what HAMi accounts as used.
    """

    name: str
    memory: int = 0
    core: int = 0
    count: int = 0

    @classmethod
    def from_dict(cls, data: Any) -> MigTemplate:
        data = _map(data)
        return cls(_str(data.get("name")), _int(data.get("memory")), _int(data.get("core")), _int(data.get("count")))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "memory": self.memory, "core": self.core, "count": self.count}


Geometry = tuple[MigTemplate, ...]


def _matches(models: tuple[str, ...], device_type: str) -> bool:
    return any(model in device_type for model in models)


@dataclass(frozen=True)
class MigGeometryEntry:
    """A legacy ``knownMigGeometries`` entry: the models it names and their whole-GPU geometries."""

    models: tuple[str, ...]
    geometries: tuple[Geometry, ...]

    @classmethod
    def from_dict(cls, data: Any) -> MigGeometryEntry:
        data = _map(data)
        models = tuple(_str(m) for m in _list(data.get("models")) if not isinstance(m, (dict, list)))
        geometries = tuple(
            tuple(MigTemplate.from_dict(t) for t in geometry if isinstance(t, dict))
            for geometry in _list(data.get("allowedGeometries"))
            if isinstance(geometry, list)
        )
        return cls(models, geometries)

    def matches(self, device_type: str) -> bool:
        """HAMi's rule: any model string is a substring of the device type (case-sensitive)."""
        return _matches(self.models, device_type)

    def to_dict(self) -> dict[str, Any]:
        return {"models": list(self.models), "allowedGeometries": [[t.to_dict() for t in g] for g in self.geometries]}


@dataclass(frozen=True)
class MigAllowlistEntry:
    """A v2.10 ``migProfileAllowlist`` entry: the models it names and the profile names allowed."""

    models: tuple[str, ...]
    profiles: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: Any) -> MigAllowlistEntry:
        data = _map(data)
        models = tuple(_str(m) for m in _list(data.get("models")) if not isinstance(m, (dict, list)))
        profiles = tuple(_str(p) for p in _list(data.get("profiles")) if not isinstance(p, (dict, list)))
        return cls(models, profiles)

    def matches(self, device_type: str) -> bool:
        return _matches(self.models, device_type)

    def to_dict(self) -> dict[str, Any]:
        return {"models": list(self.models), "profiles": list(self.profiles)}


@dataclass(frozen=True)
class NodeDefaultConfig:
    """HAMi's ``NodeDefaultConfig``: the device plugin's per-node settings, inlined in the ``nvidia:`` section
    and overridden per node by ``nodeconfig`` entries (HAMi ``pkg/device/nvidia/device.go`` NodeDefaultConfig;
    pointers in Go, so ``None`` is "not set")."""

    device_split_count: int | None = None
    device_memory_scaling: float | None = None
    device_core_scaling: float | None = None
    pre_configured_device_memory: int | None = None
    lib_cuda_log_level: str | None = None
    enable_numa_topology: bool | None = None


# YAML key -> (attribute, reader) of NodeDefaultConfig (nodeconfig entries match the keys case-insensitively).
_NODE_DEFAULT_FIELDS: dict[str, tuple[str, Any]] = {
    "deviceSplitCount": ("device_split_count", _opt_int),
    "deviceMemoryScaling": ("device_memory_scaling", _opt_float),
    "deviceCoreScaling": ("device_core_scaling", _opt_float),
    "preConfiguredDeviceMemory": ("pre_configured_device_memory", _opt_int),
    "libCudaLogLevel": ("lib_cuda_log_level", _opt_str),
    "enableNumaTopology": ("enable_numa_topology", _opt_bool),
}

# YAML key -> (attribute, reader) for the scalar fields of NvidiaConfig (HAMi pkg/device/nvidia/device.go NvidiaConfig).
_NVIDIA_FIELDS: dict[str, tuple[str, Any]] = {
    "resourceCountName": ("resource_count_name", _str),
    "resourceMemoryName": ("resource_memory_name", _str),
    "resourceMemoryPercentageName": ("resource_memory_percentage_name", _str),
    "resourceCoreName": ("resource_core_name", _str),
    "resourcePriorityName": ("resource_priority_name", _str),
    "overwriteEnv": ("overwrite_env", _bool),
    "defaultMemory": ("default_memory", _int),
    "defaultCores": ("default_cores", _int),
    "defaultGPUNum": ("default_gpu_num", _int),
    "memoryFactor": ("memory_factor", _int),
    "disableCoreLimit": ("disable_core_limit", _bool),
    "gpuCorePolicy": ("gpu_core_policy", _str),
    "runtimeClassName": ("runtime_class_name", _str),
    **_NODE_DEFAULT_FIELDS,
}


@dataclass(frozen=True)
class NvidiaConfig(NodeDefaultConfig):
    """The ``nvidia:`` section (``NvidiaConfig`` with ``NodeDefaultConfig`` inlined), absent keys at Go's zero value."""

    resource_count_name: str = ""
    resource_memory_name: str = ""
    resource_memory_percentage_name: str = ""
    resource_core_name: str = ""
    resource_priority_name: str = ""
    overwrite_env: bool = False
    default_memory: int = 0
    default_cores: int = 0
    default_gpu_num: int = 0
    memory_factor: int = 0
    disable_core_limit: bool = False
    gpu_core_policy: str = ""
    runtime_class_name: str = ""
    known_mig_geometries: tuple[MigGeometryEntry, ...] = ()
    mig_profile_allowlist: tuple[MigAllowlistEntry, ...] = ()

    @classmethod
    def from_dict(cls, data: Any) -> NvidiaConfig:
        data = _map(data)
        values: dict[str, Any] = {}
        for key, (attr, read) in _NVIDIA_FIELDS.items():
            if key in data:
                values[attr] = read(data[key])
        values["known_mig_geometries"] = tuple(
            MigGeometryEntry.from_dict(e) for e in _list(data.get("knownMigGeometries")) if isinstance(e, dict)
        )
        values["mig_profile_allowlist"] = tuple(
            MigAllowlistEntry.from_dict(e) for e in _list(data.get("migProfileAllowlist")) if isinstance(e, dict)
        )
        return cls(**values)

    @classmethod
    def hami_defaults(cls, **changes: Any) -> NvidiaConfig:
        """HAMi's built-in ``nvidia`` defaults (``config.InitDefaultDevices``, HAMi ``pkg/device/nvidia/device.go``):
        the standard resource names, one GPU per request, no MIG config; ``changes`` override fields."""
        defaults: dict[str, Any] = {
            "resource_count_name": "nvidia.com/gpu",
            "resource_memory_name": "nvidia.com/gpumem",
            "resource_memory_percentage_name": "nvidia.com/gpumem-percentage",
            "resource_core_name": "nvidia.com/gpucores",
            "resource_priority_name": "nvidia.com/priority",
            "default_gpu_num": 1,
        }
        return cls(**{**defaults, **changes})

    @property
    def effective_memory_factor(self) -> int:
        """``memoryFactor`` 0 (absent) behaves as 1."""
        return self.memory_factor if self.memory_factor > 0 else 1

    @property
    def effective_device_split_count(self) -> int:
        """``deviceSplitCount``, or 10 (the HAMi Helm chart's default device-config) when absent or not positive."""
        split = self.device_split_count
        return split if split is not None and split > 0 else DEFAULT_DEVICE_SPLIT_COUNT

    def mig_geometries(self, device_type: str) -> tuple[Geometry, ...]:
        """The legacy geometries HAMi attaches to this device type (``()`` when no entry matches)."""
        entry = self.geometries_for(device_type)
        return entry.geometries if entry is not None else ()

    def geometries_for(self, device_type: str) -> MigGeometryEntry | None:
        """The legacy entry HAMi uses for a GPU of this type: the first with a model string contained in it.

        ``device_type`` is the type HAMi registers (the NVML name, HAMi ``plugin/register.go`` RegisterInAnnotation); the match is
        case-sensitive and reproduces HAMi's pitfalls (``"H20"`` also matches ``"NVIDIA H200"``).
        """
        for entry in self.known_mig_geometries:
            if entry.matches(device_type):
                return entry
        return None

    def allowlist_for(self, device_type: str) -> MigAllowlistEntry | None:
        """The v2.10 allowlist entry HAMi uses for this device type (same first-substring rule)."""
        for entry in self.mig_profile_allowlist:
            if entry.matches(device_type):
                return entry
        return None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key, (attr, _) in _NVIDIA_FIELDS.items():
            data[key] = getattr(self, attr)
        data["knownMigGeometries"] = [e.to_dict() for e in self.known_mig_geometries]
        data["migProfileAllowlist"] = [e.to_dict() for e in self.mig_profile_allowlist]
        return data


@dataclass(frozen=True)
class DeviceConfig:
    """A whole device-config: the ``nvidia`` section, other vendors' sections passed through unchanged."""

    nvidia: NvidiaConfig = field(default_factory=NvidiaConfig)
    vendors: Mapping[str, Any] = field(default_factory=dict)
    has_nvidia: bool = False

    @classmethod
    def hami_defaults(cls) -> DeviceConfig:
        """HAMi's built-in defaults (``config.InitDefaultDevices``, HAMi ``pkg/device/nvidia/device.go``): no MIG config."""
        return cls(nvidia=NvidiaConfig.hami_defaults(), has_nvidia=True)

    @classmethod
    def from_dict(cls, data: Any) -> DeviceConfig:
        """What HAMi reads from a parsed device-config (unknown keys ignored, wrong types at zero value)."""
        data = _map(data)
        vendors = {k: v for k, v in data.items() if k in VENDOR_SECTIONS and k != "nvidia"}
        return cls(NvidiaConfig.from_dict(data.get("nvidia")), vendors, isinstance(data.get("nvidia"), dict))

    def to_dict(self) -> dict[str, Any]:
        return {"nvidia": self.nvidia.to_dict(), **dict(self.vendors)}


def scheduler_nvidia_config(config: DeviceConfig | None) -> NvidiaConfig:
    """The ``nvidia`` section HAMi's scheduler runs with: the loaded config's (absent keys at Go's zero
    value, as HAMi's YAML parser leaves them), or HAMi's built-in defaults when no config was loaded."""
    return config.nvidia if config is not None else NvidiaConfig.hami_defaults()


#: ``deviceSplitCount`` of the HAMi Helm chart's default device-config (vGPU slots per GPU in hami-core mode).
DEFAULT_DEVICE_SPLIT_COUNT = 10

#: The Helm chart's default ``migProfileAllowlist`` (HAMi v2.10, HAMi v2.10.0 pkg/device/devices.go
#: AllowedMigProfiles): what the device plugin discovers with when a snapshot's config has no allowlist.
CHART_MIG_PROFILE_ALLOWLIST: tuple[MigAllowlistEntry, ...] = tuple(MigAllowlistEntry(m, p) for m, p in (
    (("A30",), ("1g.6gb", "2g.12gb", "4g.24gb")),
    (("A100-SXM4-40GB", "A100-40GB-PCIe", "A100-PCIE-40GB"), ("1g.5gb", "2g.10gb", "3g.20gb", "7g.40gb")),
    (("A100-SXM4-80GB", "A100-80GB-PCIe", "A100-PCIE-80GB"), ("1g.10gb", "2g.20gb", "3g.40gb", "7g.79gb")),
    (("H100-PCIE-80GB", "H100-SXM5-80GB"), ("1g.10gb", "2g.20gb", "3g.40gb", "7g.80gb")),
    (("H100-PCIE-94GB", "H100-SXM5-94GB"), ("1g.12gb", "2g.24gb", "3g.47gb", "7g.94gb")),
    (("H20", "H100 on GH200"), ("1g.12gb", "2g.24gb", "3g.48gb", "7g.96gb")),
    (("H200 NVL", "H200-SXM5"), ("1g.18gb", "2g.35gb", "3g.71gb", "7g.141gb")),
    (("B200",), ("1g.23gb", "2g.45gb", "3g.90gb", "7g.180gb")),
    (("RTX PRO 6000 Blackwell Server Edition",), ("1g.24gb", "2g.48gb", "4g.96gb")),
))


# JSON key (lower case; Go's encoding/json matches keys case-insensitively) -> (attribute, reader).
_NODE_FIELDS: dict[str, tuple[str, Any]] = {
    "name": ("name", _str),
    "operatingmode": ("operating_mode", _str),
    **{key.lower(): value for key, value in _NODE_DEFAULT_FIELDS.items()},
    "migstrategy": ("mig_strategy", _str),
    "enablegetpreferredallocation": ("enable_get_preferred_allocation", _bool),
}


@dataclass(frozen=True)
class NodeConfigEntry(NodeDefaultConfig):
    """One ``nodeconfig`` entry of the device plugin's config.json (HAMi device-plugin ConfigMap config.json):
    a node's name and mode, and the :class:`NodeDefaultConfig` values it overrides."""

    name: str = ""
    operating_mode: str = ""
    mig_strategy: str = ""
    filter_uuids: tuple[str, ...] = ()
    filter_indexes: tuple[int, ...] = ()
    enable_get_preferred_allocation: bool = False

    @classmethod
    def from_dict(cls, data: Any) -> NodeConfigEntry:
        values: dict[str, Any] = {}
        for key, value in _map(data).items():
            folded = str(key).lower()
            if folded in _NODE_FIELDS:
                attr, read = _NODE_FIELDS[folded]
                values[attr] = read(value)
            elif folded == "filterdevices":
                filters = {str(k).lower(): v for k, v in _map(value).items()}
                values["filter_uuids"] = tuple(_str(u) for u in _list(filters.get("uuid")))
                values["filter_indexes"] = tuple(_int(i) for i in _list(filters.get("index")) if _opt_int(i) is not None)
        return cls(**values)

    @property
    def effective_operating_mode(self) -> str:
        """``hami-core`` when empty (any other string is used as-is)."""
        return self.operating_mode or "hami-core"


@dataclass(frozen=True)
class NodeConfigFile:
    """The device plugin's ``config.json``: ``{"nodeconfig": [...]}``."""

    nodeconfig: tuple[NodeConfigEntry, ...] = ()

    @classmethod
    def from_dict(cls, data: Any) -> NodeConfigFile:
        entries = next((v for k, v in _map(data).items() if str(k).lower() == "nodeconfig"), None)
        return cls(tuple(NodeConfigEntry.from_dict(e) for e in _list(entries) if isinstance(e, dict)))

    def for_node(self, node_name: str) -> NodeConfigEntry | None:
        """Every entry named exactly ``node_name``, merged in order (later non-nil values override)."""
        merged: NodeConfigEntry | None = None
        for entry in self.nodeconfig:
            if entry.name != node_name:
                continue
            if merged is None:
                merged = entry
                continue
            changes = {f.name: getattr(entry, f.name) for f in fields(entry)
                       if getattr(entry, f.name) not in (None, "", (), False)}
            merged = replace(merged, **changes)
        return merged
