"""The shipped JSON Schema: one file for editors and for run time (schemas/, migctl/config/schemas)."""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from migctl.config.schema import device_config_schema, did_you_mean, schema_diagnostics

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
