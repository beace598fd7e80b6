"""The part of HAMi's ``nvidia:`` device-config the scheduler and webhook read (HAMi pkg/device/nvidia/device.go NvidiaConfig).

A small frozen copy so the simulation does not depend on the shape of the config model; build it
with :func:`from_device_config` from :class:`migctl.config.model.DeviceConfig` (or anything with the
same attribute names), or use :meth:`SchedulerConfig.hami_defaults`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from migctl.config.model import MigAllowlistEntry, MigGeometryEntry
from migctl.simulate.state import Geometry, MigTemplate


#: A ``knownMigGeometries`` entry (model substrings and their geometries, in order): the config's type.
GeometryEntry = MigGeometryEntry
#: A ``migProfileAllowlist`` entry (model substrings and profile names): the config's type.
AllowlistEntry = MigAllowlistEntry


#: The Helm chart's default ``migProfileAllowlist`` (HAMi v2.10, HAMi v2.10.0 pkg/device/devices.go AllowedMigProfiles): what the device plugin
#: discovers with when a snapshot's config has no allowlist.
CHART_ALLOWLIST: tuple[AllowlistEntry, ...] = tuple(AllowlistEntry(tuple(m), tuple(p)) for m, p in (
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


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    resource_count_name: str = "nvidia.com/gpu"
    resource_memory_name: str = "nvidia.com/gpumem"
    resource_memory_percentage_name: str = "nvidia.com/gpumem-percentage"
    resource_core_name: str = "nvidia.com/gpucores"
    resource_priority_name: str = "nvidia.com/priority"
    default_memory: int = 0
    default_cores: int = 0
    default_gpu_num: int = 1
    memory_factor: int = 1
    device_split_count: int = 10
    known_mig_geometries: tuple[GeometryEntry, ...] = ()
    mig_profile_allowlist: tuple[AllowlistEntry, ...] = ()

    @classmethod
    def hami_defaults(cls) -> SchedulerConfig:
        """``config.InitDefaultDevices``: the built-in defaults, no MIG config (HAMi pkg/device/nvidia/device.go NvidiaConfig)."""
        return cls()

    def geometries_for(self, device_type: str) -> tuple[Geometry, ...]:
        """The first entry with a model that is a substring of the device type wins (HAMi v2.9.0 pkg/device/devices.go knownMigGeometries)."""
        for entry in self.known_mig_geometries:
            if entry.matches(device_type):
                return entry.geometries
        return ()

    def allowlist_for(self, device_type: str) -> tuple[str, ...]:
        """First allowlist entry with a substring match (HAMi v2.10.0 pkg/device/devices.go AllowedMigProfiles, ``discoverMigProfiles``)."""
        for entry in self.mig_profile_allowlist:
            if entry.matches(device_type):
                return entry.profiles
        return ()


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        if isinstance(obj, dict) and name in obj:
            return obj[name]
        if not isinstance(obj, dict) and hasattr(obj, name):
            return getattr(obj, name)
    return default


def _int(value: Any, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def from_device_config(config: Any) -> SchedulerConfig:
    """Build from ``migctl.config.model.DeviceConfig`` (attribute names of ARCHITECTURE.md).

    Missing fields take Go's zero value, as HAMi's YAML parser gives them (HAMi pkg/device/nvidia/device.go NvidiaConfig): an empty
    resource name stays empty, ``memoryFactor`` 0 is treated as 1 by the request code.
    """
    nv = _get(config, "nvidia", default=config)
    if nv is None:
        return SchedulerConfig.hami_defaults()
    geometries = []
    for entry in _get(nv, "known_mig_geometries", default=()) or ():
        geos = []
        for geometry in _get(entry, "geometries", default=()) or ():
            geos.append(tuple(
                MigTemplate(str(_get(t, "name", default="")), _int(_get(t, "memory"), 0), _int(_get(t, "core"), 0),
                            _int(_get(t, "count"), 0))
                for t in geometry
            ))
        geometries.append(GeometryEntry(tuple(str(m) for m in _get(entry, "models", default=()) or ()), tuple(geos)))
    allowlist = [
        AllowlistEntry(tuple(str(m) for m in _get(e, "models", default=()) or ()),
                       tuple(str(p) for p in _get(e, "profiles", default=()) or ()))
        for e in _get(nv, "mig_profile_allowlist", default=()) or ()
    ]
    split = _get(nv, "device_split_count")
    return SchedulerConfig(
        resource_count_name=str(_get(nv, "resource_count_name", default="") or ""),
        resource_memory_name=str(_get(nv, "resource_memory_name", default="") or ""),
        resource_memory_percentage_name=str(_get(nv, "resource_memory_percentage_name", default="") or ""),
        resource_core_name=str(_get(nv, "resource_core_name", default="") or ""),
        resource_priority_name=str(_get(nv, "resource_priority_name", default="") or ""),
        default_memory=_int(_get(nv, "default_memory"), 0),
        default_cores=_int(_get(nv, "default_cores"), 0),
        default_gpu_num=_int(_get(nv, "default_gpu_num"), 0),
        memory_factor=_int(_get(nv, "memory_factor"), 0),
        device_split_count=_int(split, 10),
        known_mig_geometries=tuple(geometries),
        mig_profile_allowlist=tuple(allowlist),
    )
