"""The MIG hardware catalogue: GPU models, their GPU-instance profiles and placement grids.

The data is ``data/mig-profiles.yaml`` (an exact copy of the MIG profile tables'
part, 16 model groups) plus ``data/catalogue-extras.yaml`` (HAMi model strings, profile aliases).

Facts the code relies on (NVIDIA MIG User Guide, "Supported MIG Profiles"; nvml.h):

- profiles are keyed by (model, name): names collide across models (``1g.10gb`` is the 2-slot
  REV2 profile on A100-40GB but the 1-slot base profile on H100);
- names drift between drivers, so each profile carries its known aliases;
- the placement grid is NVML's own (8 units on datacenter parts, 4 on A30, 12 on RTX PRO 6000);
- board profile IDs (the ``nvidia-smi`` ID) differ per family; the NVML constant does not.

Model lookup (:meth:`Catalogue.lookup`) tries, in order: the catalogue key, an NVML name, a HAMi
model string, then HAMi's own rule, "first entry whose model string is a substring of the
device type" (HAMi v2.9.0 ``pkg/device/devices.go``, the ``knownMigGeometries`` model match), and reports which rule matched.

Everything here is pure; :func:`load_catalogue` reads the package data once
(through :mod:`migctl.hardware.package_data`, which keeps a pre-parsed JSON copy for speed).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from migctl.hardware.profile_name import ProfileName, parse_profile_name

__all__ = [
    "Catalogue",
    "GpuModel",
    "ModelMatch",
    "Profile",
    "ProfileResolution",
    "build_catalogue",
    "load_catalogue",
]

MatchRule = Literal["key", "nvml-name", "hami-model", "hami-substring"]


@dataclass(frozen=True)
class Profile:
    """One GPU-instance profile of one model (MIG User Guide, per-GPU "MIG Profiles" tables).

    ``placement_starts``/``placement_size`` are NVML's raw values: an instance placed at ``s``
    occupies the units ``[s, s + placement_size)``. ``max_instances`` is NVML's
    ``instanceCount`` on an empty GPU. ``board_profile_id`` is the ``nvidia-smi`` profile ID
    (per family); ``nvml_profile``/``nvml_profile_value`` the ``NVML_GPU_INSTANCE_PROFILE_*``
    constant. Memory is for display only (it drifts between drivers).
    """

    name: str
    nvml_profile: str
    nvml_profile_value: int
    board_profile_id: int | None
    compute_slices: int
    placement_size: int
    placement_starts: tuple[int, ...]
    max_instances: int
    memory_mib: int | None
    aliases: tuple[str, ...] = ()
    memory_gib: float | None = None
    memory_status: str = ""
    decoders: int | None = None
    encoders: int | None = None
    jpeg: int | None = None
    ofa: int | None = None
    copy_engines: int | None = None
    multiprocessors: int | None = None
    min_driver: str | None = None
    status: str = ""
    notes: str = ""

    @functools.cached_property
    def parsed(self) -> ProfileName:
        return parse_profile_name(self.name)

    @property
    def attribute(self) -> str:
        """``""``, ``"+me"``, ``"+me.all"``, ``"-me"`` or ``"+gfx"``."""
        return self.parsed.attribute

    @property
    def name_memory_gb(self) -> int:
        """The ``NN`` of ``Gg.NNgb``."""
        return self.parsed.memory_gb

    @property
    def placements(self) -> tuple[tuple[int, int], ...]:
        """``(start, size)`` for every possible placement, lowest start first."""
        return tuple((start, self.placement_size) for start in self.placement_starts)

    @functools.cached_property
    def sort_key(self) -> tuple[int, int, str]:
        """"Larger instances first": compute slices desc, memory desc, then name."""
        memory = self.memory_mib if self.memory_mib is not None else self.name_memory_gb * 1024
        return (-self.compute_slices, -memory, self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "attribute": self.attribute,
            "nvml_profile": self.nvml_profile,
            "nvml_profile_value": self.nvml_profile_value,
            "board_profile_id": self.board_profile_id,
            "compute_slices": self.compute_slices,
            "placement_size": self.placement_size,
            "placement_starts": list(self.placement_starts),
            "max_instances": self.max_instances,
            "memory_mib": self.memory_mib,
            "memory_gib": self.memory_gib,
            "multiprocessors": self.multiprocessors,
            "copy_engines": self.copy_engines,
            "decoders": self.decoders,
            "encoders": self.encoders,
            "jpeg": self.jpeg,
            "ofa": self.ofa,
            "min_driver": self.min_driver,
            "status": self.status,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class ProfileResolution:
    """How a profile name was resolved on a model.

    ``how`` is ``"exact"``, ``"alias"``, ``"nearest"`` (with a ``warning``) or ``None`` when
    nothing fits (``profile`` is then ``None`` and ``warning`` says why).
    """

    profile: Profile | None
    how: Literal["exact", "alias", "nearest"] | None
    warning: str | None = None
    requested: str = ""


@dataclass(frozen=True, eq=False)
class GpuModel:
    """One model group of the catalogue (e.g. ``a100-40gb`` = A100-SXM4-40GB, A100-PCIE-40GB...)."""

    key: str
    title: str
    nvml_names: tuple[str, ...]
    hami_models: tuple[str, ...]
    compute_slices: int
    memory_slices: int
    placement_units: int
    max_gpu_instances: int
    profiles: tuple[Profile, ...]
    total_memory_mib: int | None = None
    total_memory_status: str = ""
    placement_units_known: bool = True
    pci_device_ids: tuple[str, ...] = ()
    architecture: str = ""
    confidence: str = ""
    placement_status: str = ""
    notes: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    _index: Mapping[str, tuple[Profile, bool]] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        index: dict[str, tuple[Profile, bool]] = {}
        for profile in self.profiles:
            index[profile.name] = (profile, False)
        for profile in self.profiles:
            for alias in profile.aliases:
                index.setdefault(alias, (profile, True))
        object.__setattr__(self, "_index", index)

    def __repr__(self) -> str:
        return f"GpuModel({self.key!r})"

    @property
    def profile_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.profiles)

    def _lookup(self, name: str) -> tuple[Profile, bool] | None:
        hit = self._index.get(name)
        if hit is not None:
            return hit
        try:
            canonical = str(parse_profile_name(name, lenient=True))
        except ValueError:
            return None
        return self._index.get(canonical)

    def profile(self, name: str) -> Profile | None:
        """The profile with this name or alias (``1c.1g.5gb`` and ``mig-1g.5gb.me`` spellings too)."""
        hit = self._lookup(name)
        return hit[0] if hit else None

    def resolve_profile(self, name: str) -> ProfileResolution:
        """Exact name, then alias, then the nearest profile with the same attribute suffix.

        "Nearest" means the fewest compute slices away, then the closest ``NNgb``, then the
        lowest name; it comes with a warning, since memory figures are only names.
        """
        hit = self._lookup(name)
        if hit is not None:
            profile, is_alias = hit
            if is_alias:
                return ProfileResolution(profile, "alias", None, name)
            return ProfileResolution(profile, "exact", None, name)
        try:
            wanted = parse_profile_name(name, lenient=True)
        except ValueError as exc:
            return ProfileResolution(None, None, str(exc), name)
        candidates = [p for p in self.profiles if p.attribute == wanted.attribute]
        if not candidates:
            suffix = wanted.attribute or "no suffix"
            warning = f"{self.key} has no profile like {name!r} ({suffix}); profiles: {', '.join(self.profile_names)}"
            return ProfileResolution(None, None, warning, name)
        nearest = min(
            candidates,
            key=lambda p: (abs(p.compute_slices - wanted.gpu_slices), abs(p.name_memory_gb - wanted.memory_gb), p.name),
        )
        warning = f"{name!r} is not a profile of {self.key}; using the nearest, {nearest.name}"
        return ProfileResolution(nearest, "nearest", warning, name)

    def to_dict(self, *, with_profiles: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "key": self.key,
            "title": self.title,
            "nvml_names": list(self.nvml_names),
            "hami_models": list(self.hami_models),
            "pci_device_ids": list(self.pci_device_ids),
            "architecture": self.architecture,
            "total_memory_mib": self.total_memory_mib,
            "compute_slices": self.compute_slices,
            "memory_slices": self.memory_slices,
            "placement_units": self.placement_units,
            "placement_units_known": self.placement_units_known,
            "max_gpu_instances": self.max_gpu_instances,
            "confidence": self.confidence,
            "placement_status": self.placement_status,
        }
        if with_profiles:
            data["profiles"] = [p.to_dict() for p in self.profiles]
        return data


@dataclass(frozen=True)
class ModelMatch:
    """A model found by :meth:`Catalogue.lookup`: which ``rule`` matched, on which string."""

    model: GpuModel
    rule: MatchRule
    matched: str


@dataclass(frozen=True, eq=False)
class Catalogue:
    """The models in catalogue order, with lookups by key, NVML name and HAMi model string."""

    models: tuple[GpuModel, ...]
    hami_chart_order: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[GpuModel]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(m.key for m in self.models)

    def model(self, key: str) -> GpuModel:
        """The model with this catalogue key (case-insensitive); ``KeyError`` if unknown."""
        folded = key.strip().lower()
        for model in self.models:
            if model.key == folded:
                return model
        raise KeyError(key)

    def hami_match(self, device_type: str) -> ModelMatch | None:
        """HAMi's rule exactly (HAMi v2.9.0 ``pkg/device/devices.go``): the first chart model string contained in
        ``device_type``. Reproduces HAMi's pitfalls: ``"H20"`` also matches ``"NVIDIA H200 NVL"``."""
        for hami_model in self.hami_chart_order:
            if hami_model in device_type:
                for model in self.models:
                    if hami_model in model.hami_models:
                        return ModelMatch(model, "hami-substring", hami_model)
        return None

    def lookup(self, text: str) -> ModelMatch | None:
        """Find a model by key, NVML name, HAMi model string, or HAMi's substring rule.

        NVML names match case-insensitively, also with HAMi's ``"NVIDIA-"`` device-type prefix
        (``NVIDIA-NVIDIA A100-PCIE-40GB`` in ``hami.io/node-nvidia-register``, HAMi v2.10.0 ``pkg/device/nvidia/device.go``) or without the ``"NVIDIA "`` prefix.
        """
        text = text.strip()
        if not text:
            return None
        folded = text.casefold()
        for model in self.models:
            if model.key == folded:
                return ModelMatch(model, "key", model.key)
        names = {folded}
        if folded.startswith("nvidia-"):
            names.add(folded[len("nvidia-") :])
        for name in list(names):
            if not name.startswith("nvidia "):
                names.add("nvidia " + name)
        for model in self.models:
            for nvml_name in model.nvml_names:
                if nvml_name.casefold() in names:
                    return ModelMatch(model, "nvml-name", nvml_name)
        for model in self.models:
            for hami_model in model.hami_models:
                if hami_model.casefold() == folded:
                    return ModelMatch(model, "hami-model", hami_model)
        return self.hami_match(text)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _profile_from_data(data: Mapping[str, Any], aliases: tuple[str, ...]) -> Profile:
    return Profile(
        name=str(data["name"]),
        aliases=aliases,
        nvml_profile=str(data["nvml_profile"]),
        nvml_profile_value=int(data["nvml_profile_value"]),
        board_profile_id=_int_or_none(data.get("nvidia_smi_id")),
        compute_slices=int(data["compute_slices"]),
        placement_size=int(data["placement_size"]),
        placement_starts=tuple(int(s) for s in data["placement_starts"]),
        max_instances=int(data["max_instances"]),
        memory_mib=_int_or_none(data.get("memory_mib")),
        memory_gib=None if data.get("memory_gib_nvidia_smi") is None else float(data["memory_gib_nvidia_smi"]),
        memory_status=str(data.get("memory_status") or ""),
        decoders=_int_or_none(data.get("decoders")),
        encoders=_int_or_none(data.get("encoders")),
        jpeg=_int_or_none(data.get("jpeg")),
        ofa=_int_or_none(data.get("ofa")),
        copy_engines=_int_or_none(data.get("copy_engines")),
        multiprocessors=_int_or_none(data.get("multiprocessors")),
        min_driver=data.get("min_driver"),
        status=str(data.get("status") or ""),
        notes=str(data.get("notes") or ""),
    )


def _model_from_data(data: Mapping[str, Any], extras: Mapping[str, Any]) -> GpuModel:
    alias_table: Mapping[str, list[str]] = extras.get("aliases") or {}
    profiles = tuple(
        _profile_from_data(p, tuple(str(a) for a in alias_table.get(str(p["name"]), ()))) for p in data["profiles"]
    )
    units = data.get("placement_units")
    units_known = units is not None
    if units is None:  # RTX PRO 5000: grid unknown; the starts are in normalised slots
        units = max(start + p.placement_size for p in profiles for start in p.placement_starts)
    total = data.get("total_memory_mib") or {}
    return GpuModel(
        key=str(data["key"]),
        title=str(data["title"]),
        nvml_names=tuple(str(n) for n in data["nvml_names"]),
        hami_models=tuple(str(n) for n in extras.get("hami_models") or ()),
        compute_slices=int(data["compute_slices"]),
        memory_slices=int(data["memory_slices"]),
        placement_units=int(units),
        placement_units_known=units_known,
        max_gpu_instances=int(data["max_gpu_instances"]),
        profiles=profiles,
        total_memory_mib=_int_or_none(total.get("value")),
        total_memory_status=str(total.get("status") or ""),
        pci_device_ids=tuple(str(i) for i in data.get("pci_device_ids") or ()),
        architecture=str(data.get("architecture") or ""),
        confidence=str(data.get("confidence") or ""),
        placement_status=str(data.get("placement_status") or ""),
        notes=tuple(str(n) for n in data.get("notes") or ()),
        sources=tuple(str(s) for s in data.get("sources") or ()),
    )


def build_catalogue(profiles_doc: Mapping[str, Any], extras_doc: Mapping[str, Any] | None = None) -> Catalogue:
    """Build a catalogue from the parsed ``mig-profiles.yaml`` and ``catalogue-extras.yaml``."""
    extras_doc = extras_doc or {}
    per_model: Mapping[str, Any] = extras_doc.get("models") or {}
    models = tuple(_model_from_data(m, per_model.get(m["key"]) or {}) for m in profiles_doc["models"])
    return Catalogue(models=models, hami_chart_order=tuple(str(s) for s in extras_doc.get("hami_chart_order") or ()))


@functools.cache
def load_catalogue() -> Catalogue:
    """The shipped catalogue (cached): the 16 model groups of ``mig-profiles.yaml``."""
    from migctl.hardware.package_data import read_documents

    profiles_doc, extras_doc = read_documents()
    return build_catalogue(profiles_doc, extras_doc)
