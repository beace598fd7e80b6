"""Semantic checks of a device-config and of the device plugin's node config.

Each check reads the raw parsed document (so every finding has an exact JSON Pointer) and is defensive
about shapes the JSON Schema already reported. Facts come from HAMi's sources:

- ``validateConfig`` (HAMi ``pkg/scheduler/config/config.go``): every vendor section empty is fatal (``config-empty``);
- ``NvidiaConfig`` (HAMi ``pkg/device/nvidia/device.go``): ``resourceCountName`` effectively required; the device
  plugin dereferences ``deviceSplitCount``,
- legacy ``knownMigGeometries`` (HAMi v2.9.0 ``pkg/device/devices.go``): first-substring model match, template
  selection "first geometry, first entry with memory >= request" (v2.9.0 ``pkg/device/nvidia/device.go``), the
  ``[t-s]`` slot-index bug (HAMi PR #2513), ``core`` defaulting to 0;
- ``migProfileAllowlist`` (HAMi v2.10.0 ``pkg/device/devices.go``): HAMi's own name rule, only the ``<N>g`` prefix
  picks the NVML profile;
- ``nodeconfig`` belongs to the device plugin's ConfigMap ``hami-device-plugin`` (``config.json``), ``migstrategy``
  is dead.

Hardware facts (profile names, maximum counts, placements, memory) come from the catalogue and the exact
placement solver (``migctl.hardware``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from migctl.config.diagnostics import Diagnostic, Severity, child, diag, pointer, pointer_parts
from migctl.config.model import VENDOR_SECTIONS
from migctl.config.schema import device_config_schema, schema_diagnostics

if TYPE_CHECKING:
    from migctl.hardware.catalogue import Catalogue, GpuModel, Profile

HamiVersion = Literal["auto", "2.9", "2.10"]

PLUGIN_POINTER_FIELDS = ("deviceSplitCount", "deviceMemoryScaling", "deviceCoreScaling", "libCudaLogLevel")
# HAMi v2.10.0 pkg/device/devices.go AllowedMigProfiles: profileNameToGIProfileID knows only these prefixes.
HAMI_SLICE_PREFIXES = ("1g", "2g", "3g", "4g", "6g", "7g", "8g")
_LEGACY = "knownMigGeometries"
_ALLOW = "migProfileAllowlist"


# --- models ----------------------------------------------------------------------------------------------
def _whole_token(needle: str, haystack: str) -> bool:
    start = haystack.find(needle)
    while start >= 0:
        end = start + len(needle)
        before_ok = start == 0 or not haystack[start - 1].isalnum()
        after_ok = end == len(haystack) or not haystack[end].isalnum()
        if before_ok and after_ok:
            return True
        start = haystack.find(needle, start + 1)
    return False


@dataclass
class ModelTargets:
    """What one model string of an entry refers to.

    ``intended``: catalogue models the string names (a whole-token part of an NVML name, or a known HAMi
    model string / NVML name / catalogue key); ``incidental``: NVML names that contain the string only as
    part of a longer token (``"H20"`` in ``"NVIDIA H200"``); ``matches_any``: some known NVML name contains it.
    """

    text: str
    intended: list[GpuModel] = field(default_factory=list)
    incidental: list[tuple[GpuModel, str]] = field(default_factory=list)
    matches_any: bool = False


def resolve_model_string(catalogue: Catalogue, text: str) -> ModelTargets:
    """Which catalogue models a model string of an entry is meant for, and which it catches besides.

    A string that names a model exactly (catalogue key, NVML name, HAMi's chart string) is meant for that
    model; otherwise for every model with an NVML name holding it as a whole token (``"A100"``). Any other
    NVML name that contains it is caught incidentally (HAMi's plain substring rule).
    """
    targets = ModelTargets(text)
    exact = catalogue.lookup(text) if text else None
    if exact is not None and exact.rule != "hami-substring":
        targets.intended.append(exact.model)
    for model in catalogue:
        for name in model.nvml_names:
            if not text or text not in name:
                continue
            targets.matches_any = True
            if exact is not None and exact.rule != "hami-substring":
                if model is not exact.model:
                    targets.incidental.append((model, name))
            elif _whole_token(text, name):
                if model not in targets.intended:
                    targets.intended.append(model)
            else:
                targets.incidental.append((model, name))
    return targets


def _first_entry_matching(entries: list[list[str]], device_type: str) -> int | None:
    for index, models in enumerate(entries):
        if any(m in device_type for m in models):  # "" matches everything, as in Go
            return index
    return None


def _entry_models(entries: list[Any]) -> list[list[str]]:
    out = []
    for entry in entries:
        models = entry.get("models") if isinstance(entry, dict) else None
        out.append([m for m in models if isinstance(m, str)] if isinstance(models, list) else [])
    return out


def _catalogue_findings(path: str, text: str, resolved: ModelTargets) -> list[Diagnostic]:
    if not resolved.intended and not resolved.matches_any:
        return [diag("model-unknown", path, f"the hardware catalogue does not know model {text!r}",
                     "its profiles and geometries are not checked; HAMi matches the GPU's NVML name "
                     "(e.g. 'NVIDIA A100-SXM4-40GB') by substring")]
    if not resolved.matches_any:
        names = ", ".join(repr(n) for m in resolved.intended for n in m.nvml_names)
        return [diag("model-never-matches", path,
                     f"no GPU reports an NVML name containing {text!r}, so this string never matches",
                     f"HAMi matches case-sensitive substrings of the NVML name; {resolved.intended[0].key} reports {names}")]
    return []


def _shadow_findings(path: str, text: str, resolved: ModelTargets, per_entry: list[list[str]], i: int) -> list[Diagnostic]:
    """GPUs this string is meant for are taken by an earlier entry (HAMi v2.9.0 pkg/device/devices.go knownMigGeometries, first substring match wins).

    A specific entry before a generic one ("A100-SXM4-40GB" then "A100") is a sound order, so this reports
    only when an earlier string is part of this one (``"H20"`` before ``"H200 NVL"``) or no GPU is left for it.
    """
    shadowers: dict[int, str] = {}
    considered = taken = 0
    for model in resolved.intended:
        for name in model.nvml_names:
            if text not in name and resolved.matches_any:
                continue
            considered += 1
            winner = _first_entry_matching(per_entry, name)
            if winner is not None and winner < i:
                taken += 1
                shadowers.setdefault(winner, name)
    all_taken = considered > 0 and taken == considered
    out = []
    for winner, name in sorted(shadowers.items()):
        culprit = next((m for m in per_entry[winner] if m in name), "?")
        if culprit not in text and not all_taken:
            continue
        out.append(diag("model-shadowed", path,
                        f"GPUs named {name!r} match entry {winner}'s model {culprit!r} first (HAMi takes the first "
                        f"entry with a substring match), so {text!r} here is not used for them",
                        f"move this entry before entry {winner}, or make {culprit!r} longer"))
    return out


def _substring_findings(path: str, text: str, resolved: ModelTargets, per_entry: list[list[str]], i: int) -> list[Diagnostic]:
    """Other models' GPUs this entry catches because the string is part of their NVML name."""
    caught: dict[str, list[str]] = {}
    for model, name in resolved.incidental:
        if _first_entry_matching(per_entry, name) == i:
            caught.setdefault(model.key, []).append(name)
    return [
        diag("model-substring-match", path,
             f"{text!r} is also a substring of {', '.join(repr(n) for n in names)} ({key}): HAMi applies this entry "
             "to those GPUs too",
             f"list {key} in an entry before this one, or use a longer model string")
        for key, names in caught.items()
    ]


def _model_checks(catalogue: Catalogue, base: str, entries: list[Any]) -> tuple[list[Diagnostic], list[list[GpuModel]]]:
    """Duplicate, unknown, never-matching, shadowed and over-matching model strings; the models each entry targets."""
    out: list[Diagnostic] = []
    per_entry = _entry_models(entries)
    targets_per_entry: list[list[GpuModel]] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        targets: list[GpuModel] = []
        raw = entry.get("models") if isinstance(entry, dict) else None
        for j, text in enumerate(raw if isinstance(raw, list) else []):
            if not isinstance(text, str) or not text:
                continue
            path = child(base, i, "models", j)
            if text in seen:
                first = seen[text]
                where = "earlier in this entry" if first == i else f"in entry {first} ({child(base, first)})"
                out.append(diag("model-duplicate", path, f"model {text!r} is already listed {where}",
                                "remove the repeat" if first == i else
                                "HAMi uses the first entry that matches; this one never applies to it"))
                continue
            seen[text] = i
            resolved = resolve_model_string(catalogue, text)
            targets.extend(m for m in resolved.intended if m not in targets)
            out.extend(_catalogue_findings(path, text, resolved))
            out.extend(_shadow_findings(path, text, resolved, per_entry, i))
            out.extend(_substring_findings(path, text, resolved, per_entry, i))
        targets_per_entry.append(targets)
    return out, targets_per_entry


# --- legacy knownMigGeometries ---------------------------------------------------------------------------
def _resolve_on(model: GpuModel, name: str, path: str, *, legacy: bool, out: list[Diagnostic],
                reported: set[tuple[str, str, str]]) -> Profile | None:
    from migctl.hardware.profile_name import parse_profile_name

    try:
        parse_profile_name(name)
    except ValueError:
        return None  # the schema reports the syntax
    resolution = model.resolve_profile(name)
    key = (path, model.key, resolution.how or "none")
    if resolution.how == "exact":
        return resolution.profile
    if resolution.how == "alias" and resolution.profile is not None:
        if legacy and key not in reported:
            reported.add(key)
            out.append(diag("profile-name-drift", path,
                            f"{name!r} is another spelling of {resolution.profile.name!r} on {model.key}",
                            f"HAMi <= v2.9 applies geometries with nvidia-mig-parted, which names the profile from the "
                            f"driver's memory size ({resolution.profile.name!r} on current drivers); write "
                            f"{resolution.profile.name!r} unless your driver prints {name!r}"))
        return resolution.profile
    if key not in reported:
        reported.add(key)
        hint = f"{model.key} profiles: {', '.join(model.profile_names)}"
        if resolution.how == "nearest" and resolution.profile is not None:
            hint = f"did you mean {resolution.profile.name!r}? " + hint
        out.append(diag("profile-unknown", path, f"{model.key} has no MIG profile {name!r}", hint))
    return None


def _legacy_order_checks(base: str, geometries: list[Any]) -> list[Diagnostic]:
    """Template-selection order (HAMi v2.9.0 pkg/device/nvidia/device.go): first geometry, then first entry, with memory >= request."""
    out: list[Diagnostic] = []
    best_before = -1  # largest memory of any earlier geometry
    best_index = -1
    for g, geometry in enumerate(geometries):
        if not isinstance(geometry, list):
            continue
        memories = [t.get("memory") if isinstance(t, dict) else None for t in geometry]
        valid = [m for m in memories if isinstance(m, int) and not isinstance(m, bool)]
        if not valid:
            continue
        top = max(valid)
        gpath = child(base, g)
        if best_before >= top:
            out.append(diag("geometry-unreachable", gpath,
                            f"geometry {g} is never chosen: geometry {best_index} already serves every request up to "
                            f"{best_before} MiB, and this one offers at most {top} MiB",
                            "HAMi picks the first geometry with a template whose memory covers the request; "
                            "order geometries by their largest template, smallest first"))
        # Within the geometry: entries after a larger one; the [t-s] slot-index bug.
        largest_so_far = -1
        slots_before = 0
        order_reported = False
        for t, memory in enumerate(memories):
            template = geometry[t]
            count = template.get("count") if isinstance(template, dict) else None
            count = count if isinstance(count, int) and not isinstance(count, bool) else 1
            if not isinstance(memory, int) or isinstance(memory, bool):
                slots_before += count
                continue
            tpath = child(gpath, t)
            if memory < largest_so_far and not order_reported:
                order_reported = True
                out.append(diag("template-order", tpath,
                                f"template {t} ({memory} MiB) comes after a larger one: a request that fits it takes "
                                "a larger slot while one is free",
                                "list templates smallest memory first (HAMi's chart does since v2.8)"))
            selectable = memory > max(largest_so_far, best_before)
            if t > 0 and selectable and slots_before != t:
                out.append(diag("legacy-slot-index", tpath,
                                f"when HAMi <= v2.9 picks this template on an empty GPU it records slot {t} "
                                f"(the template index) instead of slot {slots_before}, so two pods can get one instance",
                                "put templates whose count is above 1 last, or give this geometry one template "
                                "(HAMi PR #2513, unmerged)"))
            largest_so_far = max(largest_so_far, memory)
            slots_before += count
        if top > best_before:
            best_before, best_index = top, g
    return out


def _split_count_checks(base: str, geometries: list[Any], split: Any) -> list[Diagnostic]:
    """HAMi v2.9.0 pkg/device/nvidia/device.go: the templates decide the slots, but ``Count <= Used`` still caps a GPU at deviceSplitCount."""
    if not isinstance(split, int) or isinstance(split, bool) or split < 1:
        return []
    out = []
    for g, geometry in enumerate(geometries):
        if not isinstance(geometry, list):
            continue
        total = sum(t["count"] for t in geometry if isinstance(t, dict) and isinstance(t.get("count"), int)
                    and not isinstance(t.get("count"), bool) and t["count"] > 0)
        if total > split:
            out.append(diag("geometry-over-split-count", child(base, g),
                            f"geometry {g} has {total} instances but deviceSplitCount is {split}: HAMi <= v2.9 places "
                            f"at most {split} pods on a GPU, so {total - split} instance(s) are never used",
                            f"raise deviceSplitCount to {total} or more (a node's nodeconfig devicesplitcount overrides it)"))
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _geometry_on_model(model: GpuModel, gpath: str, g: int, geometry: list[Any], *, out: list[Diagnostic],
                       reported: set[tuple[str, str, str]]) -> None:
    """Profile names, memory, per-profile maximums and placement of one legacy geometry on one model."""
    from migctl.hardware.solver import solve

    counts: dict[str, int] = {}
    complete = True
    for t, template in enumerate(geometry):
        if not isinstance(template, dict) or not isinstance(template.get("name"), str):
            continue
        tpath = child(gpath, t)
        profile = _resolve_on(model, template["name"], child(tpath, "name"), legacy=True, out=out, reported=reported)
        if profile is None:
            complete = False
            continue
        memory, count = template.get("memory"), template.get("count")
        if _is_int(memory) and profile.memory_mib is not None and memory > profile.memory_mib:
            out.append(diag("memory-over-profile", child(tpath, "memory"),
                            f"memory {memory} MiB is more than {profile.name} has on {model.key} "
                            f"({profile.memory_mib} MiB): a pod asking for up to {memory} MiB gets this "
                            f"instance with {memory - profile.memory_mib} MiB less",
                            f"set memory to {profile.memory_mib} (or less)"))
        if _is_int(count) and count > 0:
            counts[profile.name] = counts.get(profile.name, 0) + count
        else:
            complete = False
    if not complete or not counts:
        return  # the schema or the name check already said what is wrong
    over = [(model.profile(p), c) for p, c in counts.items()]
    over = [(p, c) for p, c in over if p is not None and c > p.max_instances]
    for profile, count in over:
        out.append(diag("profile-count-exceeded", gpath,
                        f"geometry {g} asks for {count} x {profile.name}, but one {model.key} GPU holds at most "
                        f"{profile.max_instances}",
                        "lower the count; nvidia-mig-parted fails to apply it and the device plugin exits"))
    if over:
        return
    solution = solve(model, counts)
    if not solution.feasible:
        text = ",".join(f"{p}:{c}" for p, c in counts.items())
        out.append(diag("geometry-infeasible", gpath,
                        f"geometry {g} ({text}) cannot be created on {model.key}: {solution.reason}",
                        "run 'migctl hardware show' for the model's valid layouts"))


def _core_checks(base: str, i: int, geometries: list[Any]) -> list[Diagnostic]:
    """HAMi v2.9.0 pkg/device/devices.go knownMigGeometries: ``core`` absent is 0, so HAMi accounts no cores to the instance (one finding per entry)."""
    templates = [(child(base, g, t), template) for g, geometry in enumerate(geometries) if isinstance(geometry, list)
                 for t, template in enumerate(geometry) if isinstance(template, dict)]
    missing = [path for path, template in templates if "core" not in template]
    if not missing:
        return []
    return [diag("core-missing", missing[0], f"{len(missing)} of {len(templates)} templates in entry {i} have no 'core'",
                 "HAMi then accounts 0 % of the GPU's cores to these instances; set core to the instance's share of "
                 "SMs (e.g. 14 for a 1g on a 7-slice GPU)")]


def _legacy_checks(catalogue: Catalogue, nvidia: dict[str, Any]) -> list[Diagnostic]:
    base = pointer("nvidia", _LEGACY)
    entries = nvidia.get(_LEGACY)
    if not isinstance(entries, list):
        return []
    out, targets = _model_checks(catalogue, base, entries)
    reported: set[tuple[str, str, str]] = set()
    for i, entry in enumerate(entries):
        geometries = entry.get("allowedGeometries") if isinstance(entry, dict) else None
        if not isinstance(geometries, list):
            continue
        gbase = child(base, i, "allowedGeometries")
        out.extend(_legacy_order_checks(gbase, geometries))
        out.extend(_split_count_checks(gbase, geometries, nvidia.get("deviceSplitCount")))
        for g, geometry in enumerate(geometries):
            if isinstance(geometry, list):
                for model in targets[i]:
                    _geometry_on_model(model, child(gbase, g), g, geometry, out=out, reported=reported)
        out.extend(_core_checks(gbase, i, geometries))
    return out


# --- v2.10 migProfileAllowlist ---------------------------------------------------------------------------
def _allowlist_checks(catalogue: Catalogue, nvidia: dict[str, Any]) -> list[Diagnostic]:
    from migctl.hardware.profile_name import parse_profile_name

    base = pointer("nvidia", _ALLOW)
    entries = nvidia.get(_ALLOW)
    if not isinstance(entries, list):
        return []
    out, targets = _model_checks(catalogue, base, entries)
    reported: set[tuple[str, str, str]] = set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("profiles"), list):
            continue
        seen: dict[str, int] = {}
        for k, name in enumerate(entry["profiles"]):
            if not isinstance(name, str):
                continue
            path = child(base, i, "profiles", k)
            if name in seen:
                out.append(diag("profile-duplicate", path, f"profile {name!r} is already listed at index {seen[name]}"))
                continue
            seen[name] = k
            prefix, dot, rest = name.partition(".")
            if not (dot and rest and len(prefix) >= 2 and prefix.endswith("g")):
                continue  # HAMi's own rule; the schema reports it
            if prefix not in HAMI_SLICE_PREFIXES:
                out.append(diag("profile-slice-unsupported", path,
                                f"{name!r}: HAMi maps only {', '.join(HAMI_SLICE_PREFIXES)} to NVML profiles, not {prefix!r}",
                                "the device plugin cannot create it; remove it"))
                continue
            try:
                parse_profile_name(name)
            except ValueError as exc:
                out.append(diag("profile-name-syntax", path, str(exc),
                                "HAMi accepts it but uses only the prefix; the name is shown to users as the profile label"))
                continue
            for model in targets[i]:
                profile = _resolve_on(model, name, path, legacy=False, out=out, reported=reported)
                if profile is None:
                    continue
                plain = f"NVML_GPU_INSTANCE_PROFILE_{profile.compute_slices}_SLICE"
                if profile.nvml_profile != plain:
                    base_profile = next((p for p in model.profiles if p.nvml_profile == plain), None)
                    becomes = f" ({base_profile.name})" if base_profile else ""
                    out.append(diag("profile-variant-collapsed", path,
                                    f"{name!r} is a variant profile on {model.key} ({profile.nvml_profile}); HAMi v2.10 "
                                    f"creates the plain {profile.compute_slices}-slice profile{becomes} under this name",
                                    "list the plain profile instead; HAMi cannot select variants (HAMi v2.10.0 pkg/device/devices.go AllowedMigProfiles)"))
    return out


# --- node config -----------------------------------------------------------------------------------------
def node_entry_checks(entries: Any, base: str) -> list[Diagnostic]:
    """Names present and unique, the dead ``migstrategy`` (HAMi device-plugin ConfigMap config.json). Keys are already normalised."""
    out: list[Diagnostic] = []
    if not isinstance(entries, list):
        return out
    names: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        path = child(base, i)
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            out.append(diag("node-name-missing", path, f"nodeconfig entry {i} has no name, so it never applies",
                            "set name to the node's name (matched exactly against NODE_NAME)"))
        elif name in names:
            out.append(diag("node-name-duplicate", child(path, "name"),
                            f"node {name!r} already has entry {names[name]}; both apply, the later overriding",
                            "merge the two entries"))
        else:
            names[name] = i
        strategy = entry.get("migstrategy")
        if isinstance(strategy, str) and strategy:
            out.append(diag("migstrategy-no-effect", child(path, "migstrategy"),
                            "the device plugin parses 'migstrategy' but never reads it",
                            "set the MIG strategy with the device plugin's --mig-strategy flag "
                            "(Helm devicePlugin.migStrategy) instead", at_key=True))
    return out


def _normalise_node_keys(value: Any, known: dict[str, Any], ptr: str, orig: str,
                         paths: dict[str, str]) -> Any:
    """Go's encoding/json matches keys case-insensitively: rename keys to their schema spelling."""
    paths[ptr] = orig
    if isinstance(value, list):
        return [_normalise_node_keys(v, known, ptr + pointer(i), orig + pointer(i), paths) for i, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    props = known.get("properties") or {}
    by_fold = {k.casefold(): k for k in props}
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = by_fold.get(str(key).casefold(), key)
        sub = props.get(name) or {}
        if "$ref" in sub:
            sub = device_config_schema()["$defs"][sub["$ref"].rsplit("/", 1)[-1]]
        if "items" in sub and "$ref" in sub["items"]:
            sub = {"items": device_config_schema()["$defs"][sub["items"]["$ref"].rsplit("/", 1)[-1]]}
        if "items" in sub:
            items = item if isinstance(item, list) else None
            if items is not None:
                out[name] = [_normalise_node_keys(v, sub["items"], ptr + pointer(name, i), orig + pointer(key, i), paths)
                             for i, v in enumerate(items)]
                paths[ptr + pointer(name)] = orig + pointer(key)
                continue
        out[name] = _normalise_node_keys(item, sub, ptr + pointer(name), orig + pointer(key), paths)
    return out


def _remap(diagnostics: Iterable[Diagnostic], paths: dict[str, str]) -> list[Diagnostic]:
    from dataclasses import replace

    out = []
    for d in diagnostics:
        parts = pointer_parts(d.path)
        for n in range(len(parts), -1, -1):
            prefix = pointer(*parts[:n])
            if prefix in paths:
                out.append(replace(d, path=paths[prefix] + pointer(*parts[n:])))
                break
        else:
            out.append(d)
    return out


def check_node_config(document: Any) -> list[Diagnostic]:
    """Lint the device plugin's ``config.json`` (HAMi device-plugin ConfigMap config.json); keys match case-insensitively."""
    if not isinstance(document, dict):
        return [diag("document-type", "", "the node config must be a JSON object like {\"nodeconfig\": [...]}")]
    defs = device_config_schema()["$defs"]
    paths: dict[str, str] = {}
    normalised = _normalise_node_keys(document, defs["nodeConfigFile"], "", "", paths)
    found = schema_diagnostics(normalised, definition="nodeConfigFile", case_sensitive=False)
    found += node_entry_checks(normalised.get("nodeconfig"), pointer("nodeconfig"))
    return _remap(found, paths)


# --- the device-config -----------------------------------------------------------------------------------
def _flat_geometry_checks(nvidia: dict[str, Any]) -> tuple[list[Diagnostic], list[str]]:
    out: list[Diagnostic] = []
    suppressed: list[str] = []
    entries = nvidia.get(_LEGACY)
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        geometries = entry.get("allowedGeometries") if isinstance(entry, dict) else None
        for g, item in enumerate(geometries if isinstance(geometries, list) else []):
            if isinstance(item, dict):
                path = pointer("nvidia", _LEGACY, i, "allowedGeometries", g)
                suppressed.append(path)
                out.append(diag("geometry-not-list", path,
                                "this geometry is a single template, but allowedGeometries is a list of lists of templates",
                                "write each geometry as its own list: '- - name: 1g.5gb' (two dashes); the flat form "
                                "on HAMi's website makes yaml.v2 fail and the scheduler exit"))
    return out, suppressed


def _generation_checks(nvidia: dict[str, Any], version: HamiVersion) -> list[Diagnostic]:
    legacy = nvidia.get(_LEGACY) is not None
    allow = nvidia.get(_ALLOW) is not None
    out: list[Diagnostic] = []
    if legacy and allow:
        ignored = {"2.9": f"HAMi v2.9 ignores {_ALLOW}", "2.10": f"HAMi v2.10 ignores {_LEGACY}"}.get(
            version, f"HAMi <= v2.9 ignores {_ALLOW} and v2.10 ignores {_LEGACY}")
        out.append(diag("mig-keys-both", pointer("nvidia", _LEGACY if version != "2.9" else _ALLOW),
                        f"both {_LEGACY} and {_ALLOW} are set: {ignored}",
                        "keep only the key of the HAMi version you run (migration: the allowlist is the union of the "
                        "profile names of the legacy geometries)", at_key=True))
    elif legacy and version == "2.10":
        out.append(diag("mig-key-ignored", pointer("nvidia", _LEGACY),
                        f"HAMi v2.10 ignores {_LEGACY}; with no {_ALLOW} no MIG profile is advertised",
                        f"convert it: {_ALLOW} entries with the same models and the union of their profile names",
                        at_key=True))
    elif allow and version == "2.9":
        out.append(diag("mig-key-ignored", pointer("nvidia", _ALLOW),
                        f"HAMi <= v2.9 ignores {_ALLOW}; with no {_LEGACY} no GPU gets MIG templates",
                        f"use {_LEGACY} (whole-GPU geometries) on HAMi <= v2.9", at_key=True))
    return out


def _nvidia_field_checks(nvidia: dict[str, Any]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    count_name = nvidia.get("resourceCountName")
    if count_name is None or count_name == "":
        where = pointer("nvidia", "resourceCountName") if "resourceCountName" in nvidia else pointer("nvidia")
        out.append(diag("resource-name-missing", where,
                        "resourceCountName is empty: no pod is ever seen as requesting an NVIDIA GPU",
                        "set resourceCountName: nvidia.com/gpu", at_key=True))
    if "nodeconfig" in nvidia:
        out.append(diag("nodeconfig-in-device-config", pointer("nvidia", "nodeconfig"),
                        "'nodeconfig' under 'nvidia' is silently ignored by HAMi (NvidiaConfig has no such field)",
                        "per-node settings belong in ConfigMap hami-device-plugin, key config.json "
                        "(check it with: migctl validate config --kind node-config)", at_key=True))
    missing = [k for k in PLUGIN_POINTER_FIELDS if nvidia.get(k) is None]
    if missing:
        out.append(diag("plugin-field-missing", pointer("nvidia"),
                        f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: the device plugin "
                        "dereferences a nil pointer (and crashes) unless every node's nodeconfig sets "
                        f"{'it' if len(missing) == 1 else 'them'}",
                        "the chart sets deviceSplitCount: 10, deviceMemoryScaling: 1, deviceCoreScaling: 1, "
                        "libCudaLogLevel: 1", at_key=True))
    return out


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, (dict, list, str)) and not value)


def effective_version(nvidia: Any, version: HamiVersion) -> str | None:
    """The HAMi generation the checks assume: the one given, else inferred from the MIG key present."""
    if version != "auto":
        return version
    if not isinstance(nvidia, dict):
        return None
    legacy = nvidia.get(_LEGACY) is not None
    allow = nvidia.get(_ALLOW) is not None
    if legacy and not allow:
        return "2.9"
    if allow and not legacy:
        return "2.10"
    return None


def check_device_config(document: Any, *, hami_version: HamiVersion = "auto",
                        catalogue: Catalogue | None = None) -> list[Diagnostic]:
    """Every finding for one parsed device-config document (paths are JSON Pointers into it)."""
    if not isinstance(document, dict):
        kind = "empty" if document is None else type(document).__name__
        return [diag("document-type", "", f"a device-config must be a mapping with an 'nvidia:' section, not {kind}",
                     "HAMi's parser fails on it and the scheduler exits")]
    if catalogue is None:
        from migctl.hardware.catalogue import load_catalogue

        catalogue = load_catalogue()
    out: list[Diagnostic] = []
    nvidia = document.get("nvidia")
    suppressed: list[str] = []
    if isinstance(nvidia, dict):
        flat, suppressed = _flat_geometry_checks(nvidia)
        out.extend(flat)
    for d in schema_diagnostics(document):
        if not any(d.path == s or d.path.startswith(s + "/") for s in suppressed):
            out.append(d)
    if all(_is_empty(document.get(v)) for v in VENDOR_SECTIONS):
        out.append(diag("config-empty", "", "no vendor section has any settings: HAMi fails with "
                        "'all configurations are empty'", "add an 'nvidia:' section (resourceCountName: nvidia.com/gpu, ...)"))
        return out
    if not isinstance(nvidia, dict):
        if nvidia is None:
            out.append(diag("no-nvidia-section", "", "there is no 'nvidia' section; nothing MIG-related to check"))
        return out
    out.extend(_nvidia_field_checks(nvidia))
    out.extend(_generation_checks(nvidia, hami_version))
    version = effective_version(nvidia, hami_version)
    if version != "2.10":
        out.extend(_legacy_checks(catalogue, nvidia))
    if version != "2.9":
        out.extend(_allowlist_checks(catalogue, nvidia))
    if isinstance(nvidia.get("nodeconfig"), list):
        out.extend(d for d in node_entry_checks(nvidia["nodeconfig"], pointer("nvidia", "nodeconfig"))
                   if d.code != "node-name-missing")
    return out


def sort_key(d: Diagnostic) -> tuple[Any, ...]:
    order = {Severity.error: 0, Severity.warning: 1, Severity.info: 2}
    return (d.line if d.line is not None else 0, d.column or 0, order[d.severity], d.code)
