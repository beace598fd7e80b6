"""Finding configs in files and mapping positions back into the file as given (migctl.config.load)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from migctl.config.load import load_bytes, load_device_config, load_path, load_text
from migctl.config.model import DeviceConfig, NodeConfigFile

DATA = Path(__file__).resolve().parent / "data" / "config"
REPO = Path(__file__).resolve().parent.parent


def at(result, code):
    return [(d.path, d.line, d.column) for d in result.diagnostics if d.code == code]


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.split("\n"), 1) if needle in line)


def test_positions_inside_a_configmap_block_scalar_point_into_the_outer_file():
    text = (DATA / "helm-render.yaml").read_text()
    result = load_text(text, name="render.yaml")
    [(path, line, column)] = at(result, "unknown-key")
    assert path == "/nvidia/resourcePriority"
    assert line == line_of(text, "resourcePriority:")
    assert column == text.split("\n")[line - 1].index("resourcePriority") + 1
    [(path, line, column)] = at(result, "profile-count-exceeded")
    assert path == "/nvidia/knownMigGeometries/0/allowedGeometries/1"
    assert text.split("\n")[line - 1][column - 1 :].startswith("- name: 3g.20gb")
    # Only the HAMi ConfigMap is a config; the ServiceAccount and the other ConfigMap are skipped.
    assert [c.origin for c in result.configs] == ["ConfigMap kube-system/hami-scheduler-device key device-config.yaml"]


def test_kubectl_list_output_with_both_hami_configmaps():
    text = (DATA / "kubectl-list.yaml").read_text()
    result = load_text(text, name="cms.yaml")
    assert [c.kind for c in result.configs] == ["device-config", "node-config"]
    assert isinstance(result.configs[0].config, DeviceConfig) and isinstance(result.node_config, NodeConfigFile)
    [(path, line, column)] = at(result, "profile-unknown")
    assert path == "/nvidia/migProfileAllowlist/0/profiles/1"
    assert text.split("\n")[line - 1][column - 1 :].startswith('"3g.20gb"')
    [(path, line, column)] = at(result, "migstrategy-no-effect")
    assert path == "/nodeconfig/0/migstrategy"
    assert text.split("\n")[line - 1][column - 1 :].startswith('"migstrategy"')


def test_example_configmap_and_node_config_are_clean():
    for name in ("device-configmap.yaml", "node-config.json"):
        result = load_path(REPO / "examples" / name)
        assert result.diagnostics == [], (name, [(d.code, d.message) for d in result.diagnostics])
        assert result.configs


def test_a_folded_or_quoted_value_maps_to_the_value_start():
    inner = "nvidia:\n  resourceCountName: nvidia.com/gpu\n  Bogus: 1\n"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hami-scheduler-device"},
          "data": {"device-config.yaml": inner}}
    text = yaml.safe_dump(cm, default_style='"')  # every scalar double-quoted, "\n" escapes
    result = load_text(text, name="quoted.yaml")
    [(path, line, column)] = at(result, "unknown-key")
    assert path == "/nvidia/Bogus"
    assert line == line_of(text, '"device-config.yaml"')


def test_yaml_syntax_error_inside_a_configmap_has_the_outer_line():
    text = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hami-scheduler-device\ndata:\n"
            "  device-config.yaml: |\n    nvidia:\n      resourceCountName: [oops\n    other: 1\n")
    result = load_text(text, name="cm.yaml")
    [(path, line, column)] = at(result, "yaml-syntax")
    assert line in (8, 9)
    assert not result.valid


def test_multi_document_file_checks_every_config():
    good = "nvidia:\n  resourceCountName: nvidia.com/gpu\n  deviceSplitCount: 10\n  deviceMemoryScaling: 1\n  deviceCoreScaling: 1\n  libCudaLogLevel: 1\n"
    text = good + "---\n" + good.replace("nvidia.com/gpu", "''")
    result = load_text(text, name="two.yaml")
    assert [c.origin for c in result.configs] == ["document 1", "document 2"]
    assert at(result, "resource-name-missing") == [("/nvidia/resourceCountName", 9, 3)]


def test_node_config_json_with_tabs_and_go_case_insensitive_keys():
    result = load_path(DATA / "node-config-tabs.json")
    assert [c.kind for c in result.configs] == ["node-config"]
    assert at(result, "node-name-duplicate") == [("/nodeconfig/1/name", 4, 12)]
    assert at(result, "invalid-value") == [("/nodeconfig/1/operatingmode", 4, 35)]
    assert result.node_config.for_node("n1").device_split_count == 4


def test_json_syntax_error_has_line_and_column():
    result = load_path(DATA / "node-config-bad.json")
    assert at(result, "json-syntax") == [("", 2, 17)]


def test_configmap_config_json_must_be_strict_json():
    text = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hami-device-plugin\ndata:\n"
            "  config.json: |\n    nodeconfig:\n    - name: a\n")
    result = load_text(text, name="cm.yaml")
    [(path, line, column)] = at(result, "json-syntax")
    assert line == 7  # the first content line of the block scalar


def test_kind_option_forces_the_reading():
    text = json.dumps({"nodeconfig": [{"name": "a"}]})
    assert load_text(text, name="x.yaml").configs[0].kind == "node-config"
    forced = load_text(text, name="x.yaml", kind="device-config")
    assert forced.configs[0].kind == "device-config"
    assert "nodeconfig-in-device-config" in {d.code for d in forced.diagnostics}


def test_website_flat_geometry_is_one_clear_error_per_geometry():
    result = load_path(DATA / "website-flat.yaml")
    assert {d.code for d in result.diagnostics} == {"geometry-not-list"}
    assert [d.line for d in result.diagnostics] == [11, 15]


def test_load_device_config_accepts_path_text_and_bytes():
    text = (REPO / "examples" / "device-config.yaml").read_text()
    by_path = load_device_config(REPO / "examples" / "device-config.yaml")
    by_text = load_device_config(text, name="x.yaml")
    by_bytes = load_device_config(text.encode(), name="x.yaml")
    assert by_path.config == by_text.config == by_bytes.config
    assert [d.code for d in by_path.diagnostics] == [d.code for d in by_bytes.diagnostics]


def test_utf8_bom_and_utf16_are_read():
    text = "nvidia:\n  resourceCountName: ''\n"
    for data in (b"\xef\xbb\xbf" + text.encode(), text.encode("utf-16")):
        result = load_bytes(data, name="x.yaml")
        assert at(result, "resource-name-missing") == [("/nvidia/resourceCountName", 2, 3)]


def test_wrong_top_level_type_is_one_diagnostic():
    for text in ("- nvidia\n", "just a string\n", "42\n"):
        result = load_text(text, name="x.yaml")
        assert [d.code for d in result.diagnostics] == ["document-type"]


def test_crlf_line_endings_keep_exact_positions_inside_a_configmap():
    text = (DATA / "helm-render.yaml").read_text().replace("\n", "\r\n")
    result = load_text(text, name="render.yaml")
    [(path, line, column)] = at(result, "unknown-key")
    assert (line, column) == (27, 7)


def test_a_bad_scalar_inside_a_configmap_does_not_hide_the_other_findings():
    text = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hami-scheduler-device\ndata:\n"
            "  device-config.yaml: |\n    nvidia:\n      defaultMemory: " + "9" * 5000 + "\n      Bogus: 1\n")
    result = load_text(text, name="cm.yaml")
    assert {d.code for d in result.diagnostics} >= {"yaml-bad-scalar", "unknown-key"}


def test_hami_chart_v210_default_allowlist_is_valid_with_true_warnings():
    """HAMi's own chart: its H100 strings never match an NVML name, "H20" catches H200/GH200, "B200" GB200."""
    result = load_path(DATA / "hami-chart-v2.10.yaml")
    assert result.errors == 0
    never = {d.path for d in result.diagnostics if d.code == "model-never-matches"}
    assert "/nvidia/migProfileAllowlist/3/models/0" in never  # H100-PCIE-80GB vs 'NVIDIA H100 PCIe'
    assert "/nvidia/migProfileAllowlist/0/models/0" not in never  # A30
    substring = [d.message for d in result.diagnostics if d.code == "model-substring-match"]
    assert any("'NVIDIA H200'" in m for m in substring) and any("'NVIDIA GB200'" in m for m in substring)
    assert {d.path for d in result.diagnostics if d.code == "model-shadowed"} == {
        "/nvidia/migProfileAllowlist/6/models/0", "/nvidia/migProfileAllowlist/6/models/1"}
    assert result.configs[0].version == "2.10"


def test_json_values_are_read_as_go_reads_them():
    result = load_text('{"nodeconfig": [{"name": "a", "devicememoryscaling": 1e0, "devicesplitcount": 2}]}', name="c.json")
    assert result.diagnostics == []
    assert result.node_config.for_node("a").device_memory_scaling == 1.0
