"""What the linter reports: :class:`Diagnostic`, severities, and the catalogue of stable codes.

A diagnostic names a place in the config by a JSON Pointer (RFC 6901) into the device-config (or node
config) document; the line and column in the file as given are filled in afterwards from the positions the
YAML loader kept (:mod:`migctl.config.yaml_source`), so checks never deal with positions themselves.

Every code the linter can emit is listed in :data:`CODES` with its default severity and a one-line
summary; the README, the SARIF rules and the tests are driven from this table.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Any


class Severity(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"


@dataclass(frozen=True)
class CodeInfo:
    code: str
    severity: Severity
    summary: str
    # 2 when the problem is that the input cannot be read at all (exit code 2, not 1).
    unreadable: bool = False


def _codes(*rows: tuple[str, str, str] | tuple[str, str, str, bool]) -> dict[str, CodeInfo]:
    table: dict[str, CodeInfo] = {}
    for row in rows:
        code, severity, summary, *rest = row
        table[code] = CodeInfo(code, Severity(severity), summary, bool(rest and rest[0]))
    return table


CODES: dict[str, CodeInfo] = _codes(
    # --- reading the input --------------------------------------------------------------------
    ("input-unreadable", "error", "The file cannot be read (missing, a directory, no permission).", True),
    ("input-too-large", "error", "The file is larger than the 10 MB limit; it is not read.", True),
    ("input-binary", "error", "The file is not UTF-8 text (binary data or a NUL byte).", True),
    ("input-empty", "error", "The file holds no YAML document; HAMi would fail with 'all configurations are empty'."),
    ("yaml-syntax", "error", "The YAML (or JSON) does not parse; HAMi's parser fails at start-up."),
    ("json-syntax", "error", "The device plugin's config.json is not strict JSON (Go encoding/json rejects it)."),
    ("yaml-too-deep", "error", "Collections nest deeper than the limit (64 levels)."),
    ("yaml-alias-bomb", "error", "Alias expansion would build more nodes than the limit (an alias-expansion bomb)."),
    ("yaml-recursive-alias", "error", "An alias refers to a collection that contains it."),
    ("yaml-bad-scalar", "error", "A scalar cannot be read as its type (e.g. an integer with thousands of digits)."),
    ("yaml-complex-key", "error", "A mapping key is a list or mapping; HAMi's keys are strings."),
    ("duplicate-key", "error", "A key appears twice in one mapping (yaml.v2 rejects it; JSON keeps the last)."),
    # --- what the document is -----------------------------------------------------------------
    ("document-type", "error", "The document is not a mapping (HAMi fails to unmarshal it)."),
    ("no-config-found", "info", "No HAMi config in the file (other Kubernetes objects only): nothing to check; an error with --kind."),
    ("configmap-key-missing", "error", "A HAMi ConfigMap lacks its data key (device-config.yaml / config.json)."),
    ("configmap-value-type", "error", "A ConfigMap data value is not a string (the config was not written as a literal block scalar)."),
    ("config-empty", "error", "Every vendor section is empty; HAMi fails with 'all configurations are empty'."),
    ("no-nvidia-section", "info", "There is no 'nvidia' section; nothing MIG-related to check."),
    # --- keys and types (JSON Schema) ---------------------------------------------------------
    ("unknown-key", "warning", "A key HAMi does not know; its parser silently ignores it."),
    ("key-wrong-case", "warning", "A key in the wrong case; HAMi's YAML keys are case-sensitive, so it is ignored."),
    ("wrong-type", "error", "A value of the wrong type; HAMi exits at start-up ('cannot unmarshal')."),
    ("invalid-value", "error", "A value outside the allowed set (e.g. gpuCorePolicy, libCudaLogLevel)."),
    ("out-of-range", "error", "A number outside its range (e.g. memory or count not > 0, core above 100)."),
    ("missing-field", "error", "A required field is missing."),
    ("empty-list", "error", "A list that must not be empty is empty."),
    # --- nvidia section -----------------------------------------------------------------------
    ("resource-name-missing", "error", "resourceCountName is empty: no pod is ever seen as requesting an NVIDIA GPU."),
    ("plugin-field-missing", "warning", "deviceSplitCount, deviceMemoryScaling, deviceCoreScaling or libCudaLogLevel is unset: the device plugin dereferences a nil pointer unless every node's nodeconfig sets it."),
    ("nodeconfig-in-device-config", "warning", "'nodeconfig' in device-config.yaml is silently ignored; it belongs in ConfigMap hami-device-plugin, key config.json."),
    ("mig-keys-both", "warning", "Both knownMigGeometries (HAMi <= v2.9) and migProfileAllowlist (v2.10+) are set; each version ignores the other's key."),
    ("mig-key-ignored", "error", "The only MIG key present is ignored by the HAMi version given with --hami-version."),
    # --- MIG entries (both generations) -------------------------------------------------------
    ("model-unknown", "warning", "The hardware catalogue does not know this model string; the entry cannot be checked."),
    ("model-never-matches", "warning", "No known GPU reports an NVML name containing this model string, so it never matches."),
    ("model-duplicate", "warning", "A model string is listed twice."),
    ("model-substring-match", "warning", "The model string is part of a longer model's NVML name ('H20' in 'NVIDIA H200'): HAMi applies the entry to those GPUs too."),
    ("model-shadowed", "warning", "The GPUs this model string is meant for match an earlier entry first (HAMi's first-substring rule), so this entry is not used for them."),
    ("profile-name-syntax", "error", "A profile name that is not '<N>g.<M>gb' (optionally with +me, -me, +me.all, +gfx)."),
    ("profile-slice-unsupported", "error", "HAMi v2.10 maps only 1g, 2g, 3g, 4g, 6g, 7g and 8g to NVML GPU-instance profiles."),
    ("profile-unknown", "error", "The profile does not exist on the model the entry names."),
    ("profile-name-drift", "warning", "The profile name is an older or driver-specific spelling of a profile on the model."),
    ("profile-variant-collapsed", "warning", "HAMi v2.10 selects the NVML profile by its '<N>g' prefix only: this variant collapses onto the plain N-slice profile."),
    ("profile-duplicate", "warning", "A profile is listed twice in one allowlist entry."),
    ("profile-count-exceeded", "error", "More instances of a profile than the GPU can hold."),
    ("geometry-infeasible", "error", "The geometry cannot be created on the GPU (no non-overlapping placement exists)."),
    ("geometry-not-list", "error", "An allowedGeometries item is a template, not a list of templates (the flat form from HAMi's website); yaml.v2 fails."),
    ("geometry-unreachable", "warning", "First-fit order never selects this geometry: an earlier one serves every request it could."),
    ("memory-over-profile", "warning", "A template's memory is larger than the hardware profile's: pods get less memory than they asked for."),
    ("core-missing", "warning", "A template without 'core': HAMi accounts 0 % of the GPU's cores for its instances."),
    ("template-order", "info", "A smaller template comes after a larger one: requests that fit the smaller take the larger slots first."),
    ("geometry-over-split-count", "warning", "A legacy geometry has more instances than deviceSplitCount: HAMi <= v2.9 caps a GPU at deviceSplitCount pods, so the rest are never used."),
    ("legacy-slot-index", "warning", "HAMi <= v2.9 writes the entry index, not the slot index, into the '[t-s]' suffix (PR #2513): this geometry double-books slots."),
    # --- node config ---------------------------------------------------------------------------
    ("node-name-missing", "warning", "A nodeconfig entry without a name never applies."),
    ("node-name-duplicate", "warning", "Two nodeconfig entries for one node; both apply, the later overriding."),
    ("migstrategy-no-effect", "warning", "nodeconfig 'migstrategy' is parsed but never read by the device plugin."),
)


@dataclass(frozen=True)
class Diagnostic:
    """One finding. ``path`` is a JSON Pointer into the config document ("" is the whole document)."""

    severity: Severity
    code: str
    path: str
    message: str
    hint: str | None = None
    line: int | None = None  # 1-based, in the file as given
    column: int | None = None  # 1-based
    at_key: bool = False  # locate the key of ``path`` rather than its value

    def located(self, line: int | None, column: int | None) -> Diagnostic:
        return replace(self, line=line, column=column)

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity.value,
            "code": self.code,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
        }


def diag(code: str, path: str, message: str, hint: str | None = None, *,
         severity: Severity | None = None, at_key: bool = False,
         line: int | None = None, column: int | None = None) -> Diagnostic:
    """Build a diagnostic for a registered ``code`` (its default severity unless overridden)."""
    info = CODES[code]  # KeyError: an unregistered code is a bug in migctl
    return Diagnostic(severity or info.severity, code, path, message, hint, line, column, at_key)


def pointer(*parts: str | int) -> str:
    """JSON Pointer (RFC 6901) from path parts: ``pointer("nvidia", "a/b", 0) == "/nvidia/a~1b/0"``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def child(base: str, *parts: str | int) -> str:
    return base + pointer(*parts)


def pointer_parts(ptr: str) -> list[str]:
    if not ptr:
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in ptr.split("/")[1:]]
