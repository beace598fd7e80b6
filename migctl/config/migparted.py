"""The mig-parted config file format (NVIDIA's MIG manager), for ``nvidia.com/mig.config`` and ``apply-geometry -f``.

The file is mig-parted's v1 spec (NVIDIA/mig-parted, ``api/spec/v1/spec.go`` and
``examples/config.yaml``)::

    version: v1
    mig-configs:
      all-1g.5gb:
        - devices: all
          mig-enabled: true
          mig-devices: {"1g.5gb": 7}
      custom:
        - devices: [0, 1]
          mig-enabled: false
        - devices: [2]
          device-filter: ["0x20B010DE"]
          mig-enabled: true
          mig-devices: {"3g.20gb": 2}

Rules kept from mig-parted: strict keys; ``version: v1``; ``devices`` is ``all`` or a list of GPU
indices; ``mig-enabled`` is required; ``mig-devices`` is required (may be ``{}``) when enabled and
empty when disabled; counts are ≥ 0 and not all 0; entries apply in file order and a later entry
wins for a GPU two entries match; a ``device-filter`` that does not parse matches nothing.
Unlike mig-parted, a label that leaves some GPUs uncovered only changes the covered ones.
Compute-instance sub-profiles (``1c.2g.10gb``) are refused: migctl applies GPU-instance geometries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from migctl.node_protocol import MIG_CONFIG_LABEL, ProtocolError
from migctl.config.diagnostics import pointer
from migctl.errors import InputError
from migctl.hardware.geometry import MIG_OFF, Geometry
from migctl.yamlio.documents import NotRegularFileError, open_regular


class GpuLike(Protocol):
    """What an entry matches on: the GPU's index and PCI device ID (``0xDDDDVVVV``)."""

    @property
    def index(self) -> int: ...

    @property
    def pci_device_id(self) -> int | None: ...

_ENTRY_KEYS = {"devices", "device-filter", "mig-enabled", "mig-devices"}


@dataclass(frozen=True)
class MigPartedEntry:
    devices: tuple[int, ...] | None  # None: all
    device_filter: tuple[str, ...]
    mig_enabled: bool
    geometry: Geometry  # MIG_OFF when mig-enabled is false

    def matches(self, gpu: GpuLike) -> bool:
        if self.devices is not None and gpu.index not in self.devices:
            return False
        if not self.device_filter:
            return True
        return gpu.pci_device_id is not None and any(_filter_id(f) == gpu.pci_device_id for f in self.device_filter)


def _filter_id(text: str) -> int | None:
    """``0xDDDDVVVV`` (optionally ``:0xSSSSVVVV``, ignored) -> int; ``None`` matches nothing."""
    head = text.split(":", 1)[0].strip().lower()
    if not head.startswith("0x") or len(head) != 10:
        return None
    try:
        return int(head, 16)
    except ValueError:
        return None


@dataclass(frozen=True)
class MigPartedConfig:
    path: str
    configs: Mapping[str, tuple[MigPartedEntry, ...]]

    def targets(self, label: str, gpus: Sequence[GpuLike]) -> dict[int, Geometry]:
        """GPU index -> geometry for the config named ``label``. Raises :class:`ProtocolError`."""
        entries = self.configs.get(label)
        if entries is None:
            known = ", ".join(sorted(self.configs)) or "none"
            raise ProtocolError(f"{MIG_CONFIG_LABEL}: no config {label!r} in {self.path} (known: {known})")
        result: dict[int, Geometry] = {}
        for entry in entries:
            for gpu in gpus:
                if entry.matches(gpu):
                    result[gpu.index] = entry.geometry
        if entries and not result:
            raise ProtocolError(f"{MIG_CONFIG_LABEL}: config {label!r} in {self.path} matches none of this node's GPUs")
        return result


def _field(path: tuple[Any, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def parse_mig_parted_config(text: str, path: str = "<mig-parted config>") -> MigPartedConfig:
    """Parse and check a mig-parted v1 config. Raises :class:`InputError` naming file, line and field."""
    from migctl.config.yaml_source import parse_yaml
    from migctl.hardware.profile_name import parse_profile_name

    stream = parse_yaml(text)
    problem = next((d for d in stream.diagnostics if d.severity == "error"), None)
    if problem is not None or not stream.documents:
        line = problem.line if problem is not None and problem.line else 1
        message = problem.message if problem is not None else "the file is empty"
        raise InputError(f"{path}:{line}: not valid YAML: {message}")
    document = stream.documents[0]
    data = document.value

    def fail(field_path: tuple[Any, ...], message: str) -> InputError:
        line = document.locate(pointer(*field_path))[0]
        return InputError(f"{path}:{line}: {_field(field_path) or 'document'}: {message}")

    if not isinstance(data, dict):
        raise fail((), "expected a mapping with 'version' and 'mig-configs'")
    unknown = set(data) - {"version", "mig-configs"}
    if unknown:
        raise fail((sorted(map(str, unknown))[0],), "unknown key (mig-parted's format is strict)")
    if data.get("version") != "v1":
        raise fail(("version",), f"must be 'v1', not {data.get('version')!r}")
    configs = data.get("mig-configs")
    if not isinstance(configs, dict) or not configs:
        raise fail(("mig-configs",), "must map at least one config name to a list of entries")
    parsed: dict[str, tuple[MigPartedEntry, ...]] = {}
    for label, entries in configs.items():
        where = ("mig-configs", label)
        if not isinstance(entries, list) or not entries:
            raise fail(where, "must be a non-empty list of entries")
        result = []
        for i, entry in enumerate(entries):
            at = (*where, i)
            if not isinstance(entry, dict):
                raise fail(at, "an entry must be a mapping")
            extra = set(entry) - _ENTRY_KEYS
            if extra:
                raise fail((*at, sorted(map(str, extra))[0]), "unknown key (mig-parted's format is strict)")
            devices_raw = entry.get("devices")
            if devices_raw == "all":
                devices = None
            elif isinstance(devices_raw, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                       for d in devices_raw):
                devices = tuple(devices_raw)
            else:
                raise fail((*at, "devices"), "required: 'all' or a list of GPU indices")
            filters_raw = entry.get("device-filter", [])
            filters = (filters_raw,) if isinstance(filters_raw, str) else filters_raw
            if not isinstance(filters, (list, tuple)) or not all(isinstance(f, str) for f in filters):
                raise fail((*at, "device-filter"), "must be a string or a list of strings like 0x20B010DE")
            enabled = entry.get("mig-enabled")
            if not isinstance(enabled, bool):
                raise fail((*at, "mig-enabled"), "required: true or false")
            devices_map = entry.get("mig-devices")
            if not enabled:
                if devices_map:
                    raise fail((*at, "mig-devices"), "must be empty when mig-enabled is false")
                geometry = MIG_OFF
            else:
                if not isinstance(devices_map, dict):
                    raise fail((*at, "mig-devices"), "required when mig-enabled is true (may be {})")
                counts: dict[str, int] = {}
                for name, count in devices_map.items():
                    key = (*at, "mig-devices", name)
                    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                        raise fail(key, f"count must be a whole number ≥ 0, not {count!r}")
                    try:
                        profile = parse_profile_name(str(name))
                    except ValueError as exc:
                        raise fail(key, str(exc)) from None
                    if profile.is_compute_instance:
                        raise fail(key, f"{name}: compute-instance sub-profiles are not supported; "
                                        "use whole GPU-instance profiles")
                    if count:
                        counts[str(profile)] = counts.get(str(profile), 0) + count
                if devices_map and not counts:
                    raise fail((*at, "mig-devices"), "every count is 0")
                geometry = Geometry(counts)
            result.append(MigPartedEntry(devices, tuple(filters), enabled, geometry))
        parsed[str(label)] = tuple(result)
    return MigPartedConfig(path, parsed)


def load_mig_parted_config(path: str | Path) -> MigPartedConfig:
    try:
        with open_regular(path, "rb") as fh:
            text = fh.read().decode("utf-8")
    except NotRegularFileError as exc:
        raise InputError(f"{path}: {exc.strerror}; give the mig-parted config as a regular file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the mig-parted config: {exc}") from None
    return parse_mig_parted_config(text, str(path))
