"""Editor support (issue 14): schema defaults and examples, ``migctl validate schema-path``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from migctl.config.schema import device_config_schema

REPO = Path(__file__).resolve().parent.parent
COMMON = ["resourceCountName", "resourceMemoryName", "resourceCoreName", "resourcePriorityName", "deviceSplitCount",
          "deviceMemoryScaling", "deviceCoreScaling", "libCudaLogLevel", "defaultMemory", "gpuCorePolicy"]


def _annotated():
    schema = device_config_schema()
    for key, prop in schema["$defs"]["nvidia"]["properties"].items():
        if "examples" in prop or "default" in prop:
            yield key, prop


def test_common_keys_carry_default_and_examples():
    props = device_config_schema()["$defs"]["nvidia"]["properties"]
    for key in COMMON:
        assert "default" in props[key] and props[key]["examples"], key
    assert props["migProfileAllowlist"]["examples"] and props["knownMigGeometries"]["examples"]


@pytest.mark.parametrize(("key", "prop"), list(_annotated()), ids=[k for k, _ in _annotated()])
def test_every_default_and_example_is_valid(key, prop):
    schema = device_config_schema()
    validator = Draft202012Validator({"$schema": schema["$schema"], "$defs": schema["$defs"], **prop})
    values = list(prop.get("examples", [])) + ([prop["default"]] if "default" in prop else [])
    for value in values:
        errors = [e.message for e in validator.iter_errors(value)]
        assert not errors, (key, value, errors)


def test_examples_pass_the_whole_linter():
    """The allowlist/geometry examples are real configs: no error from `validate config`."""
    from migctl.config.load import load_text

    props = device_config_schema()["$defs"]["nvidia"]["properties"]
    for key in ("migProfileAllowlist", "knownMigGeometries"):
        doc = {"nvidia": {"resourceCountName": "nvidia.com/gpu", key: props[key]["examples"][0]}}
        result = load_text(json.dumps(doc), name="example.json")
        assert [d.code for d in result.diagnostics if d.severity.value == "error"] == [], key


def test_schema_path_prints_the_installed_schema(cli):
    result = cli("validate", "schema-path")
    assert result.exit_code == 0
    path = Path(result.stdout.strip())
    assert path.is_file() and path.name == "device-config.schema.json"
    assert json.loads(path.read_text()) == device_config_schema()
    data = json.loads(cli("validate", "schema-path", "-o", "json").stdout)
    assert data["path"] == str(path) and data["uri"].startswith("file://")
    assert data["modeline"] == f"# yaml-language-server: $schema={path}"
