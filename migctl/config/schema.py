"""The JSON Schema of the device-config (``schemas/device-config.schema.json``) and its findings.

The schema ships inside the package (``migctl/config/schemas`` is the repository's ``schemas/``) so the
linter and editors use the same file. Schema errors become diagnostics with stable codes:

- ``additionalProperties`` -> ``unknown-key`` (or ``key-wrong-case``), with a did-you-mean hint: HAMi's
  parser ignores unknown keys (HAMi charts/hami/templates/scheduler/device-configmap.yaml), so these are warnings;
- ``type`` -> ``wrong-type`` (HAMi exits: "cannot unmarshal"), ``enum`` -> ``invalid-value``,
  ``minimum``/``maximum`` -> ``out-of-range``, ``required`` -> ``missing-field``, ``minItems`` -> ``empty-list``,
  a profile-name ``pattern`` -> ``profile-name-syntax``.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from migctl.config.diagnostics import Diagnostic, Severity, diag, pointer

# Near-miss spellings the did-you-mean heuristics might not find on their own.
KNOWN_MISSPELLINGS = {
    "resourcePriority": "resourcePriorityName",
    "resourceCount": "resourceCountName",
    "resourceMemory": "resourceMemoryName",
    "resourceCores": "resourceCoreName",
    "resourceCore": "resourceCoreName",
    "migProfiles": "migProfileAllowlist",
    "migGeometries": "knownMigGeometries",
    "allowedGeometry": "allowedGeometries",
    "geometries": "allowedGeometries",
    "model": "models",
    "profile": "profiles",
}


def schema_path() -> Path:
    """Where the installed package's device-config schema is on disk (for editors: yaml-language-server)."""
    from importlib.resources import as_file, files

    resource = files("migctl.config") / "schemas" / "device-config.schema.json"
    with as_file(resource) as path:  # a real file for any normal (non-zip) install
        return Path(path).resolve()


@functools.cache
def device_config_schema() -> dict[str, Any]:
    """The shipped schema (parsed once)."""
    from importlib.resources import files

    text = (files("migctl.config") / "schemas" / "device-config.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@functools.cache
def _validator(definition: str | None) -> Any:
    from jsonschema import Draft202012Validator

    schema = device_config_schema()
    if definition is not None:
        schema = {"$schema": schema["$schema"], "$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]}
    return Draft202012Validator(schema)


def did_you_mean(key: str, known: Iterable[str]) -> str | None:
    known = list(known)
    if key in KNOWN_MISSPELLINGS and KNOWN_MISSPELLINGS[key] in known:
        return KNOWN_MISSPELLINGS[key]
    folded = {k.casefold(): k for k in known}
    if key.casefold() in folded:
        return folded[key.casefold()]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.7)
    if close:
        return close[0]
    for k in known:  # a prefix of a known key: "resourcePriority" -> "resourcePriorityName"
        if len(key) >= 6 and k.casefold().startswith(key.casefold()):
            return k
    return None


def unknown_key_diagnostic(base: str, key: str, known: Iterable[str], *, where: str,
                           case_sensitive: bool = True) -> Diagnostic:
    """The finding for a key the parser ignores, with a did-you-mean hint."""
    known = sorted(known)
    suggestion = did_you_mean(key, known)
    path = base + pointer(key)
    if suggestion is not None and suggestion.casefold() == key.casefold() and case_sensitive:
        return diag("key-wrong-case", path, f"{where}: key {key!r} is ignored: keys are case-sensitive",
                    f"did you mean {suggestion!r}?", at_key=True)
    hint = f"did you mean {suggestion!r}?" if suggestion else f"known keys: {', '.join(known)}"
    return diag("unknown-key", path, f"{where}: unknown key {key!r} is ignored by HAMi", hint, at_key=True)


def _where(path: list[Any]) -> str:
    return pointer(*path) or "the document"


def _describe_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _expected(types: Any) -> str:
    names = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
             "number": "a number", "boolean": "a boolean", "null": "null"}
    types = [types] if isinstance(types, str) else list(types)
    shown = [names.get(t, t) for t in types if t != "null"] or ["null"]
    return " or ".join(shown)


def _error_diagnostics(error: Any, *, case_sensitive: bool) -> list[Diagnostic]:
    path = list(error.absolute_path)
    ptr = pointer(*path)
    validator = error.validator
    value = error.instance
    if validator == "additionalProperties":
        known = list((error.schema.get("properties") or {}).keys())
        out = []
        for key in value if isinstance(value, dict) else ():
            if key in known:
                continue
            if key.casefold() == "nodeconfig" and ptr in ("", "/nvidia"):
                out.append(diag(
                    "nodeconfig-in-device-config", ptr + pointer(key),
                    f"{key!r} in device-config.yaml is silently ignored by HAMi",
                    "per-node settings belong in ConfigMap hami-device-plugin, key config.json "
                    "(migctl validate config --kind node-config)", at_key=True))
                continue
            out.append(unknown_key_diagnostic(ptr, key, known, where=_where(path), case_sensitive=case_sensitive))
        return out
    if validator == "type":
        return [diag("wrong-type", ptr, f"{_where(path)} must be {_expected(error.validator_value)}, not {_describe_type(value)}",
                     "HAMi's parser fails on a wrong type and the scheduler exits at start-up")]
    if validator == "enum":
        allowed = ", ".join(json.dumps(v) for v in error.validator_value if v is not None and v != "")
        return [diag("invalid-value", ptr, f"{_where(path)}: {json.dumps(value, default=str)} is not allowed",
                     f"use one of {allowed}")]
    if validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[validator]
        return [diag("out-of-range", ptr, f"{_where(path)} is {value!r} but must be {bound} {error.validator_value}")]
    if validator == "required":
        missing = [k for k in error.validator_value if isinstance(value, dict) and k not in value]
        return [diag("missing-field", ptr, f"{_where(path)} lacks {k!r}", None) for k in missing]
    if validator == "minItems":
        return [diag("empty-list", ptr, f"{_where(path)} must not be empty")]
    if validator == "minLength":
        return [diag("invalid-value", ptr, f"{_where(path)} must not be an empty string")]
    if validator == "pattern":
        return [diag("profile-name-syntax", ptr, f"{value!r} is not a MIG profile name",
                     "write '<N>g.<M>gb' with an optional +me/-me/+me.all/+gfx suffix, e.g. '1g.5gb' or '2g.10gb'")]
    return [diag("invalid-value", ptr, f"{_where(path)}: {error.message}")]


def schema_diagnostics(document: Any, *, definition: str | None = None, case_sensitive: bool = True) -> list[Diagnostic]:
    """Validate ``document`` against the schema (or one of its ``$defs``) and translate each error."""
    out: list[Diagnostic] = []
    errors = sorted(_validator(definition).iter_errors(document), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    for error in errors:
        if error.validator in ("anyOf", "oneOf") and error.context:
            error = max(error.context, key=lambda e: len(e.absolute_path))
        out.extend(_error_diagnostics(error, case_sensitive=case_sensitive))
    return out


def worst(diagnostics: Iterable[Diagnostic]) -> Severity | None:
    order = {Severity.error: 0, Severity.warning: 1, Severity.info: 2}
    items = sorted((d.severity for d in diagnostics), key=order.__getitem__)
    return items[0] if items else None
