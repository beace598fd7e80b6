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
import math
import operator
import re
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


# --- proving a document valid without jsonschema ------------------------------------------------------
#
# Importing jsonschema (attrs, referencing, rpds, its format checkers and metaschemas) costs about 60 ms
# of CPU, a quarter of a ``simulate`` run's start-up, for a config that is nearly always valid. So a
# document is first checked with the few keywords the shipped schema uses, each the way jsonschema's
# Draft 2020-12 validator applies it (jsonschema/_keywords.py, e.g. ``properties``, ``required``,
# ``minimum``), and jsonschema runs only when that check cannot prove the document valid. The check
# is one-sided: it answers "valid" only when every keyword holds for values of the plain types it knows
# (exact dict, list, str, int, float, bool and None; no bools where numbers are due, no floats where
# integers are, finite numbers, string keys); anything else, an unknown keyword included, is left to
# jsonschema, which then finds every error as before.
# tests/test_config_schema.py holds it to jsonschema's verdict on mutated and generated documents.

#: Keywords that assert nothing (``format`` neither: the validator is built without a format checker).
_ANNOTATIONS = frozenset({"$schema", "$id", "$comment", "$defs", "title", "description", "examples", "default",
                          "deprecated", "readOnly", "writeOnly", "format"})
_TYPES: dict[str, Any] = {
    "object": lambda v: type(v) is dict,
    "array": lambda v: type(v) is list,
    "string": lambda v: type(v) is str,
    "integer": lambda v: type(v) is int,
    "number": lambda v: type(v) is int or (type(v) is float and math.isfinite(v)),
    "boolean": lambda v: type(v) is bool,
    "null": lambda v: v is None,
}


#: The types of a document as YAML and JSON loaders build it; for these, jsonschema's ``isinstance``
#: type checks are the ``type() is`` tests below (bool apart from int, as jsonschema keeps it).
_PLAIN = frozenset({dict, list, str, int, float, bool, type(None)})


def _number(value: Any) -> bool | None:
    """True for an int or finite float, False for what a numeric keyword ignores, None when unsure."""
    if type(value) is int:
        return True
    if type(value) is float:
        return True if math.isfinite(value) else None
    return False


#: The instance type a keyword applies to; jsonschema skips it for any other (jsonschema/_keywords.py).
_APPLIES_TO: dict[str, type] = {"properties": dict, "additionalProperties": dict, "required": dict,
                                "items": list, "minItems": list, "minLength": str, "pattern": str}
#: The numeric bounds, as the test a valid number passes.
_BOUNDS: dict[str, Any] = {"minimum": operator.ge, "maximum": operator.le, "exclusiveMinimum": operator.gt,
                           "exclusiveMaximum": operator.lt}


def _proves(schema: Any, value: Any, defs: dict[str, Any]) -> bool:
    """True when ``value`` is shown valid against ``schema``; False when it is not or when unsure."""
    if schema is True or schema is False:
        return schema
    if type(schema) is not dict or type(value) not in _PLAIN:
        return False  # a subclass (of dict, str, int...) or another type: jsonschema decides
    for keyword, arg in schema.items():
        if keyword in _ANNOTATIONS:
            continue
        applies_to = _APPLIES_TO.get(keyword)
        if applies_to is not None and type(value) is not applies_to:
            continue
        if keyword == "type":
            names = [arg] if type(arg) is str else arg
            if not any(name in _TYPES and _TYPES[name](value) for name in names):
                return False
        elif keyword == "$ref":
            name = arg[len("#/$defs/"):] if type(arg) is str and arg.startswith("#/$defs/") else None
            if name is None or "/" in name or "~" in name or name not in defs or not _proves(defs[name], value, defs):
                return False
        elif keyword == "properties":
            if not all(_proves(sub, value[k], defs) for k, sub in arg.items() if k in value):
                return False
        elif keyword == "additionalProperties":
            if "patternProperties" in schema or any(type(k) is not str for k in value):
                return False
            known = schema.get("properties", {})
            if not all(_proves(arg, v, defs) for k, v in value.items() if k not in known):
                return False
        elif keyword == "required":
            if not all(k in value for k in arg):
                return False
        elif keyword == "items":
            if not all(_proves(arg, v, defs) for v in value):
                return False
        elif keyword in ("minItems", "minLength"):
            if len(value) < arg:
                return False
        elif keyword == "pattern":
            if re.search(arg, value) is None:
                return False
        elif keyword in _BOUNDS:
            number = _number(value)
            if number is None or (number and not _BOUNDS[keyword](value, arg)):
                return False
        elif keyword == "enum":
            if value is not None and type(value) not in (str, int, float, bool):
                return False
            if not any(type(value) is type(e) and value == e for e in arg):
                return False
        else:
            return False  # a keyword this check does not know: jsonschema decides
    return True


def proven_valid(document: Any, definition: str | None = None) -> bool:
    """Whether ``document`` is shown valid against the schema (or one of its ``$defs``) without jsonschema.

    False means "not shown", not "invalid": :func:`schema_diagnostics` then asks jsonschema."""
    schema = device_config_schema()
    defs = schema.get("$defs", {})
    try:
        return _proves(schema if definition is None else {"$ref": f"#/$defs/{definition}"}, document, defs)
    except RecursionError:
        return False


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
    if proven_valid(document, definition):
        return out
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
