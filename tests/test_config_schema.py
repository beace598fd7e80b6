"""The shipped JSON Schema: one file for editors and for run time (schemas/, migctl/config/schemas)."""

from __future__ import annotations

import datetime
import json
import re
from collections import OrderedDict
from importlib.resources import files
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from migctl.config.schema import _validator, device_config_schema, did_you_mean, proven_valid, schema_diagnostics

REPO = Path(__file__).resolve().parent.parent
SCHEMA_FILE = REPO / "schemas" / "device-config.schema.json"


def test_schema_is_valid_json_schema_2020_12():
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_the_package_ships_the_same_file_it_uses_at_run_time():
    shipped = files("migctl.config") / "schemas" / "device-config.schema.json"
    assert shipped.read_text(encoding="utf-8") == SCHEMA_FILE.read_text(encoding="utf-8")
    assert device_config_schema() == json.loads(SCHEMA_FILE.read_text())


@pytest.mark.parametrize("example", ["device-config.yaml", "device-configmap.yaml"])
def test_examples_carry_a_schema_comment_that_resolves(example):
    text = (REPO / "examples" / example).read_text()
    match = re.search(r"yaml-language-server: \$schema=(\S+)", text)
    assert match, "examples carry a yaml-language-server schema comment for editors"
    assert (REPO / "examples" / match.group(1)).resolve() == SCHEMA_FILE.resolve()


def test_schema_accepts_the_seed_config_as_an_editor_would():
    seed = yaml.safe_load((REPO / "examples" / "device-config.yaml").read_text())
    assert list(Draft202012Validator(device_config_schema()).iter_errors(seed)) == []


def test_schema_covers_every_nvidia_field_of_hami_md_1_3():
    fields = {
        "resourceCountName", "resourceMemoryName", "resourceMemoryPercentageName", "resourceCoreName",
        "resourcePriorityName", "overwriteEnv", "defaultMemory", "defaultCores", "defaultGPUNum", "memoryFactor",
        "disableCoreLimit", "knownMigGeometries", "migProfileAllowlist", "gpuCorePolicy", "runtimeClassName",
        "deviceSplitCount", "deviceMemoryScaling", "deviceCoreScaling", "preConfiguredDeviceMemory",
        "libCudaLogLevel", "enableNumaTopology",
    }
    nvidia = device_config_schema()["$defs"]["nvidia"]["properties"]
    assert fields <= set(nvidia)
    assert set(nvidia) - fields == {"nodeconfig"}  # accepted as the seed shows it, flagged as ignored
    vendors = set(device_config_schema()["properties"])
    assert {"nvidia", "metax", "hygon", "cambricon", "mthreads", "iluvatars", "enflame", "kunlun", "awsneuron",
            "amd", "vastai", "biren", "vnpus"} == vendors


def test_other_vendor_sections_pass_through_unchecked():
    doc = {"nvidia": {"resourceCountName": "x"}, "metax": {"anything": [1, {"goes": True}]}, "iluvatars": [{"a": 1}]}
    assert [d.code for d in schema_diagnostics(doc)] == []


@pytest.mark.parametrize(("key", "suggestion"), [
    ("resourcePriority", "resourcePriorityName"),
    ("resourceCountname", "resourceCountName"),
    ("knownMIGGeometries", "knownMigGeometries"),
    ("migProfileAllowList", "migProfileAllowlist"),
    ("deviceSplitcount", "deviceSplitCount"),
    ("defaultGpuNum", "defaultGPUNum"),
    ("zzz", None),
])
def test_did_you_mean(key, suggestion):
    known = device_config_schema()["$defs"]["nvidia"]["properties"]
    assert did_you_mean(key, known) == suggestion


def test_unknown_and_wrong_case_keys_are_warnings_with_hints():
    found = schema_diagnostics({"nvidia": {"resourcePriority": "p", "DefaultMemory": 1, "resourceCountName": "x"}})
    by_path = {d.path: d for d in found}
    assert by_path["/nvidia/resourcePriority"].code == "unknown-key"
    assert "resourcePriorityName" in by_path["/nvidia/resourcePriority"].hint
    assert by_path["/nvidia/DefaultMemory"].code == "key-wrong-case"
    assert all(d.severity.value == "warning" and d.at_key for d in found)


def test_type_errors_name_what_was_expected():
    found = schema_diagnostics({"nvidia": {"knownMigGeometries": [{"models": "A30", "allowedGeometries": [[]]}]}})
    assert {(d.code, d.path) for d in found} == {
        ("wrong-type", "/nvidia/knownMigGeometries/0/models"),
        ("empty-list", "/nvidia/knownMigGeometries/0/allowedGeometries/0"),
    }
    d = next(d for d in found if d.code == "wrong-type")
    assert "must be a list, not a string" in d.message


# --- the check that proves a document valid without importing jsonschema ------------------------------


def _device_config(path: str):
    doc = yaml.safe_load((REPO / path).read_text())
    if isinstance(doc, dict) and isinstance(doc.get("data"), dict):  # the ConfigMap form
        doc = yaml.safe_load(doc["data"]["device-config.yaml"])
    return doc


_EXAMPLES = {path.rsplit("/", 1)[-1]: _device_config(path) for path in (
    "examples/device-config.yaml", "examples/device-configmap.yaml", "examples/device-config-3g-first.yaml",
    "examples/device-config-mixed-first.yaml", "tests/data/config/hami-chart-v2.10.yaml")}
_NODE_CONFIG = json.loads((REPO / "examples" / "node-config.json").read_text())


def _keywords(schema, out):
    if isinstance(schema, dict):
        for key, value in schema.items():
            out.add(key)
            if key in ("properties", "$defs"):
                for sub in value.values():
                    _keywords(sub, out)
            elif key in ("items", "additionalProperties"):
                _keywords(value, out)
    return out


def test_the_schema_uses_only_keywords_the_proof_knows():
    """A keyword the proof does not know makes every document go to jsonschema (correct, but slow):
    teach ``migctl.config.schema._proves`` the new keyword, the way jsonschema applies it."""
    known = {"type", "$ref", "properties", "additionalProperties", "required", "items", "minItems", "minLength",
             "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum"}
    from migctl.config.schema import _ANNOTATIONS

    assert _keywords(device_config_schema(), set()) <= known | _ANNOTATIONS


@pytest.mark.parametrize("name", sorted(_EXAMPLES))
def test_shipped_configs_are_proven_valid_without_jsonschema(name):
    assert proven_valid(_EXAMPLES[name])
    assert _validator(None).is_valid(_EXAMPLES[name])


def test_the_shipped_node_config_is_proven_valid_without_jsonschema():
    assert proven_valid(_NODE_CONFIG, "nodeConfigFile")
    assert _validator("nodeConfigFile").is_valid(_NODE_CONFIG)


@pytest.mark.parametrize(("path", "value"), [
    (("nvidia", "defaultMemory"), True),  # a bool where a number is due
    (("nvidia", "defaultMemory"), -1),  # below the minimum
    (("nvidia", "defaultMemory"), 1.0),  # jsonschema takes 1.0 as an integer: left to it
    (("nvidia", "defaultMemory"), float("nan")),
    (("nvidia", "deviceSplitCount"), 0),
    (("nvidia", "resourceCountName"), 7),
    (("nvidia", "gpuCorePolicy"), "nope"),  # not in the enum
    (("nvidia", "knownMigGeometries", 0, "allowedGeometries"), []),
    (("nvidia", "knownMigGeometries", 0, "allowedGeometries", 0, 0, "name"), "1x.5gb"),  # not a profile name
    (("nvidia", "knownMigGeometries", 0, "models"), "A100"),
    (("nvidia", "resourcePriority"), "p"),  # an unknown key
    (("nvidia", "DefaultMemory"), 1),  # a key in the wrong case
    (("nvidia", "knownMigGeometries", 0), OrderedDict(models=["A30"], allowedGeometries=[])),  # a dict subclass
    (("nvidia", "resourceCountName"), datetime.date(2024, 1, 1)),  # a YAML timestamp
    (("nvidia",), []),
])
def test_documents_the_proof_leaves_to_jsonschema(path, value):
    doc = json.loads(json.dumps(_EXAMPLES["device-config.yaml"]))
    target = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    assert not proven_valid(doc)
    jsonschema_valid = _validator(None).is_valid(doc)
    assert jsonschema_valid == (value == 1.0 and type(value) is float)  # only 1.0 is valid, and not proven


_ODD = st.sampled_from([
    float("nan"), float("inf"), -0.0, 1.0, 2.5, True, False, None, "", "1g.5gb", "2g.10gb", "7g.80gb+me", "1G.5GB",
    "3g.20gb", "A100", "nvidia.com/gpu", "binpack", "spread", "default", "none", -1, 0, 1, 3, 100, 2**63,
    datetime.date(2024, 1, 1), b"bytes", (1, 2),
])
_LEAF = st.one_of(_ODD, st.integers(-5, 200), st.floats(allow_nan=True, allow_infinity=True),
                  st.text(max_size=12), st.booleans(), st.none())
_VALUE = st.recursive(_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.one_of(st.text(max_size=10), st.sampled_from(["name", "memory", "count", "models",
                                                                     "allowedGeometries", "core", "1"])),
                    inner, max_size=3),
    st.builds(lambda d: OrderedDict(d), st.dictionaries(st.sampled_from(["name", "memory", "count"]), inner,
                                                        max_size=3)),
), max_leaves=8)


def _places(doc, path=()):
    """Every (container, key) of a document, for mutation."""
    out = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            out.append((doc, key, path + (key,)))
            out.extend(_places(value, path + (key,)))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out.append((doc, i, path + (i,)))
            out.extend(_places(value, path + (i,)))
    return out


@st.composite
def _mutated(draw, base):
    doc = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        places = _places(doc)
        if not places:
            break
        container, key, _ = draw(st.sampled_from(places))
        action = draw(st.sampled_from(["set", "set", "delete", "add", "append"]))
        if action == "set":
            container[key] = draw(_VALUE)
        elif action == "delete":
            del container[key]
        elif action == "add" and isinstance(container[key], dict):
            container[key][draw(st.one_of(st.text(max_size=12), st.sampled_from(
                ["defaultMemory", "DefaultMemory", "migProfileAllowlist", "nodeconfig", "models", "name", "memory",
                 "count", "deviceSplitCount", "gpuCorePolicy"]), st.integers(0, 3)))] = draw(_VALUE)
        elif action == "append" and isinstance(container[key], list):
            container[key].append(draw(_VALUE))
    return doc


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(_EXAMPLES)).flatmap(lambda name: _mutated(_EXAMPLES[name])))
def test_a_document_proven_valid_is_valid_to_jsonschema(doc):
    """The proof is one-sided: whatever it proves, jsonschema finds no error in (it may leave valid
    documents to jsonschema, never pass an invalid one)."""
    if proven_valid(doc):
        assert list(_validator(None).iter_errors(doc)) == []
        assert schema_diagnostics(doc) == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated(_NODE_CONFIG))
def test_a_node_config_proven_valid_is_valid_to_jsonschema(doc):
    if proven_valid(doc, "nodeConfigFile"):
        assert list(_validator("nodeConfigFile").iter_errors(doc)) == []
