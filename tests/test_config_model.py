"""The lenient device-config model: what HAMi itself would use (migctl.config.model)."""

from __future__ import annotations

from pathlib import Path

import yaml

from migctl.config.load import load_device_config
from migctl.config.model import (
    DeviceConfig,
    MigAllowlistEntry,
    MigGeometryEntry,
    MigTemplate,
    NodeConfigEntry,
    NodeConfigFile,
    NvidiaConfig,
)

REPO = Path(__file__).resolve().parent.parent


def test_hami_defaults_are_init_default_devices():
    cfg = DeviceConfig.hami_defaults()
    nv = cfg.nvidia
    assert nv.resource_count_name == "nvidia.com/gpu"
    assert nv.resource_memory_name == "nvidia.com/gpumem"
    assert nv.resource_memory_percentage_name == "nvidia.com/gpumem-percentage"
    assert nv.resource_core_name == "nvidia.com/gpucores"
    assert nv.resource_priority_name == "nvidia.com/priority"
    assert (nv.default_memory, nv.default_cores, nv.default_gpu_num, nv.overwrite_env) == (0, 0, 1, False)
    assert nv.known_mig_geometries == () and nv.mig_profile_allowlist == ()
    assert nv.effective_memory_factor == 1


def test_seed_example_reads_like_hami():
    loaded = load_device_config(REPO / "examples" / "device-config.yaml")
    nv = loaded.config.nvidia
    assert nv.resource_count_name == "nvidia.com/gpu"
    assert nv.device_split_count is None  # absent -> nil pointer in Go
    assert len(nv.known_mig_geometries) == 3
    a100 = nv.geometries_for("NVIDIA A100-PCIE-40GB")
    assert a100 is not None and "A100-PCIE-40GB" in a100.models
    second = a100.geometries[1]
    assert second == (MigTemplate("2g.10gb", 10240, 0, 3), MigTemplate("1g.5gb", 5120, 0, 1))
    assert nv.geometries_for("NVIDIA A30").geometries[0][0].name == "1g.6gb"
    assert nv.geometries_for("NVIDIA H100 80GB HBM3") is None


def test_first_substring_rule_reproduces_the_h20_h200_pitfall():
    nv = NvidiaConfig.from_dict({
        "migProfileAllowlist": [
            {"models": ["H20"], "profiles": ["1g.12gb"]},
            {"models": ["H200 NVL"], "profiles": ["1g.18gb"]},
        ],
        "knownMigGeometries": [
            {"models": ["H20"], "allowedGeometries": [[{"name": "1g.12gb", "memory": 12288, "count": 7}]]},
        ],
    })
    assert nv.allowlist_for("NVIDIA H200 NVL").profiles == ("1g.12gb",)
    assert nv.geometries_for("NVIDIA H200 NVL").models == ("H20",)
    assert nv.allowlist_for("nvidia h20") is None  # case-sensitive like strings.Contains


def test_lenient_reading_ignores_wrong_types_and_unknown_keys():
    nv = NvidiaConfig.from_dict({
        "resourceCountName": 123,  # yaml.v2 sets a string field from any scalar
        "defaultMemory": "lots",
        "memoryFactor": 2.0,
        "deviceSplitCount": "ten",
        "overwriteEnv": "yes",
        "resourcePriority": "nvidia.com/priority",
        "knownMigGeometries": [
            "junk",
            {"models": ["A30", 7, None], "allowedGeometries": [{"name": "flat"}, [{"name": "1g.6gb", "count": "x"}, 5]]},
        ],
    })
    assert nv.resource_count_name == "123"
    assert nv.default_memory == 0 and nv.memory_factor == 2
    assert nv.device_split_count is None
    assert nv.overwrite_env is False
    assert nv.resource_priority_name == ""
    assert nv.known_mig_geometries == (
        MigGeometryEntry(("A30", "7", ""), ((MigTemplate("1g.6gb", 0, 0, 0),),)),
    )
    # A null model is "" in Go, and strings.Contains(anything, "") is true: it matches every GPU.
    assert nv.geometries_for("NVIDIA H100 PCIe") is nv.known_mig_geometries[0]


def test_from_dict_of_non_mappings_is_empty():
    assert DeviceConfig.from_dict(None).nvidia == NvidiaConfig()
    assert DeviceConfig.from_dict([1, 2]).has_nvidia is False
    assert DeviceConfig.from_dict({"nvidia": None}).has_nvidia is False


def test_other_vendor_sections_pass_through():
    cfg = DeviceConfig.from_dict({"nvidia": {"resourceCountName": "x"}, "metax": {"a": 1}, "unknown": 1})
    assert dict(cfg.vendors) == {"metax": {"a": 1}}
    assert cfg.to_dict()["metax"] == {"a": 1}


def test_to_dict_round_trips_through_from_dict():
    text = (REPO / "examples" / "device-configmap.yaml").read_text()
    inner = yaml.safe_load(yaml.safe_load(text)["data"]["device-config.yaml"])
    cfg = DeviceConfig.from_dict(inner)
    assert DeviceConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.nvidia.mig_profile_allowlist[0] == MigAllowlistEntry(("A30",), ("1g.6gb", "2g.12gb", "4g.24gb"))
    assert cfg.nvidia.device_split_count == 10 and cfg.nvidia.lib_cuda_log_level == "1"


def test_node_config_keys_are_case_insensitive_and_entries_merge_in_order():
    nodes = NodeConfigFile.from_dict({"NodeConfig": [
        {"Name": "a", "OperatingMode": "mig", "DeviceSplitCount": 4, "filterDevices": {"UUID": ["GPU-1"], "index": [0, "x"]}},
        {"name": "b"},
        {"name": "a", "devicememoryscaling": 2},
    ]})
    assert [e.name for e in nodes.nodeconfig] == ["a", "b", "a"]
    merged = nodes.for_node("a")
    assert merged == NodeConfigEntry(name="a", operating_mode="mig", device_split_count=4, device_memory_scaling=2.0,
                                     filter_uuids=("GPU-1",), filter_indexes=(0,))
    assert nodes.for_node("b").effective_operating_mode == "hami-core"
    assert nodes.for_node("c") is None
