"""Every diagnostic code: a case that trips it and a clean case that does not (migctl.config.checks/load)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from migctl.config.diagnostics import CODES
from migctl.config.load import load_bytes, load_text

LEGACY: dict[str, Any] = {
    "nvidia": {
        "resourceCountName": "nvidia.com/gpu",
        "resourceMemoryName": "nvidia.com/gpumem",
        "resourceCoreName": "nvidia.com/gpucores",
        "resourcePriorityName": "nvidia.com/priority",
        "gpuCorePolicy": "default",
        "deviceSplitCount": 10,
        "deviceMemoryScaling": 1,
        "deviceCoreScaling": 1,
        "libCudaLogLevel": 1,
        "knownMigGeometries": [
            {
                "models": ["A100-SXM4-40GB", "A100-PCIE-40GB"],
                "allowedGeometries": [
                    [{"name": "1g.5gb", "memory": 4864, "core": 14, "count": 7}],
                    [{"name": "1g.5gb", "memory": 4864, "core": 14, "count": 1},
                     {"name": "2g.10gb", "memory": 9856, "core": 28, "count": 3}],
                    [{"name": "3g.20gb", "memory": 19968, "core": 42, "count": 2}],
                    [{"name": "7g.40gb", "memory": 40192, "core": 100, "count": 1}],
                ],
            },
            {
                "models": ["A30"],
                "allowedGeometries": [
                    [{"name": "1g.6gb", "memory": 5952, "core": 25, "count": 4}],
                    [{"name": "2g.12gb", "memory": 11968, "core": 50, "count": 2}],
                ],
            },
        ],
    }
}

ALLOW: dict[str, Any] = {
    "nvidia": {
        "resourceCountName": "nvidia.com/gpu",
        "deviceSplitCount": 10,
        "deviceMemoryScaling": 1.0,
        "deviceCoreScaling": 1,
        "libCudaLogLevel": "1",
        "migProfileAllowlist": [
            {"models": ["A100-SXM4-80GB", "A100 80GB PCIe"], "profiles": ["1g.10gb", "2g.20gb", "3g.40gb", "7g.80gb"]},
            {"models": ["NVIDIA H200"], "profiles": ["1g.18gb", "2g.35gb", "3g.71gb", "7g.141gb"]},
        ],
    }
}

NODES: dict[str, Any] = {"nodeconfig": [
    {"name": "a", "operatingmode": "mig", "devicesplitcount": 7},
    {"name": "b", "operatingmode": "hami-core", "filterdevices": {"uuid": ["GPU-1"], "index": [1]}},
]}


def lint_doc(doc: Any, **kwargs: Any):
    return load_text(yaml.safe_dump(doc, sort_keys=False), name="config.yaml", **kwargs)


def found(result) -> set[tuple[str, str]]:
    return {(d.code, d.path) for d in result.diagnostics}


def mutate(base: dict[str, Any], change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    doc = copy.deepcopy(base)
    change(doc)
    return doc


def legacy_entry(doc: dict[str, Any], i: int = 0) -> dict[str, Any]:
    return doc["nvidia"]["knownMigGeometries"][i]


def geometries(doc: dict[str, Any], i: int = 0) -> list[Any]:
    return legacy_entry(doc, i)["allowedGeometries"]


@pytest.mark.parametrize("base", [LEGACY, ALLOW], ids=["legacy", "allowlist"])
def test_clean_configs_have_no_findings(base):
    result = lint_doc(base)
    assert result.diagnostics == [], [(d.code, d.path, d.message) for d in result.diagnostics]
    assert result.valid and result.config is not None


def test_clean_node_config_has_no_findings():
    result = load_text(json.dumps(NODES), name="config.json")
    assert result.diagnostics == []
    assert result.node_config.for_node("a").operating_mode == "mig"


N = "/nvidia"
K = "/nvidia/knownMigGeometries"
A = "/nvidia/migProfileAllowlist"

# (code, expected path, document) -- the document trips exactly that finding at that path.
CASES: list[tuple[str, str, Any, dict[str, Any]]] = [
    ("unknown-key", f"{N}/resourcePriority", mutate(LEGACY, lambda d: d["nvidia"].update(resourcePriority="x")), {}),
    ("unknown-key", "/nvidai", mutate(LEGACY, lambda d: d.update(nvidai={})), {}),
    ("key-wrong-case", f"{N}/ResourceMemoryName", mutate(LEGACY, lambda d: d["nvidia"].update(ResourceMemoryName="x")), {}),
    ("wrong-type", f"{N}/defaultMemory", mutate(LEGACY, lambda d: d["nvidia"].update(defaultMemory="1024")), {}),
    ("wrong-type", K, mutate(LEGACY, lambda d: d["nvidia"].update(knownMigGeometries={"models": ["A30"]})), {}),
    ("invalid-value", f"{N}/gpuCorePolicy", mutate(LEGACY, lambda d: d["nvidia"].update(gpuCorePolicy="sometimes")), {}),
    ("invalid-value", f"{N}/libCudaLogLevel", mutate(LEGACY, lambda d: d["nvidia"].update(libCudaLogLevel=2)), {}),
    ("out-of-range", f"{N}/defaultCores", mutate(LEGACY, lambda d: d["nvidia"].update(defaultCores=101)), {}),
    ("out-of-range", f"{K}/0/allowedGeometries/0/0/memory", mutate(LEGACY, lambda d: geometries(d)[0][0].update(memory=0)), {}),
    ("out-of-range", f"{N}/deviceSplitCount", mutate(LEGACY, lambda d: d["nvidia"].update(deviceSplitCount=0)), {}),
    ("missing-field", f"{K}/0/allowedGeometries/2/0", mutate(LEGACY, lambda d: geometries(d)[2][0].pop("count")), {}),
    ("missing-field", f"{A}/0", mutate(ALLOW, lambda d: d["nvidia"]["migProfileAllowlist"][0].pop("profiles")), {}),
    ("empty-list", f"{K}/0/models", mutate(LEGACY, lambda d: legacy_entry(d).update(models=[])), {}),
    ("empty-list", f"{A}/1/profiles", mutate(ALLOW, lambda d: d["nvidia"]["migProfileAllowlist"][1].update(profiles=[])), {}),
    ("profile-name-syntax", f"{K}/0/allowedGeometries/0/0/name", mutate(LEGACY, lambda d: geometries(d)[0][0].update(name="1g5gb")), {}),
    ("profile-name-syntax", f"{A}/0/profiles/0", mutate(ALLOW, lambda d: d["nvidia"]["migProfileAllowlist"][0]["profiles"].__setitem__(0, "1g.foo")), {}),
    ("resource-name-missing", N, mutate(LEGACY, lambda d: d["nvidia"].pop("resourceCountName")), {}),
    ("resource-name-missing", f"{N}/resourceCountName", mutate(LEGACY, lambda d: d["nvidia"].update(resourceCountName="")), {}),
    ("plugin-field-missing", N, mutate(LEGACY, lambda d: d["nvidia"].pop("deviceSplitCount")), {}),
    ("plugin-field-missing", N, mutate(ALLOW, lambda d: d["nvidia"].update(libCudaLogLevel=None)), {}),
    ("nodeconfig-in-device-config", f"{N}/nodeconfig", mutate(LEGACY, lambda d: d["nvidia"].update(nodeconfig=NODES["nodeconfig"])), {}),
    ("nodeconfig-in-device-config", "/nodeconfig", mutate(LEGACY, lambda d: d.update(nodeconfig=[])), {}),
    ("mig-keys-both", f"{N}/knownMigGeometries", mutate(LEGACY, lambda d: d["nvidia"].update(migProfileAllowlist=ALLOW["nvidia"]["migProfileAllowlist"])), {}),
    ("mig-key-ignored", f"{N}/knownMigGeometries", LEGACY, {"hami_version": "2.10"}),
    ("mig-key-ignored", f"{N}/migProfileAllowlist", ALLOW, {"hami_version": "2.9"}),
    ("model-unknown", f"{K}/1/models/0", mutate(LEGACY, lambda d: legacy_entry(d, 1).update(models=["Tesla T4"])), {}),
    ("model-never-matches", f"{K}/0/models/1", mutate(LEGACY, lambda d: legacy_entry(d)["models"].__setitem__(1, "A100-40GB-PCIe")), {}),
    ("model-never-matches", f"{A}/0/models/0", mutate(ALLOW, lambda d: d["nvidia"]["migProfileAllowlist"][0]["models"].__setitem__(0, "a100-sxm4-80gb")), {}),
    ("model-duplicate", f"{K}/0/models/2", mutate(LEGACY, lambda d: legacy_entry(d)["models"].append("A100-PCIE-40GB")), {}),
    ("model-duplicate", f"{A}/1/models/1", mutate(ALLOW, lambda d: d["nvidia"]["migProfileAllowlist"][1]["models"].append("A100-SXM4-80GB")), {}),
    ("model-shadowed", f"{A}/2/models/0", mutate(ALLOW, lambda d: d["nvidia"]["migProfileAllowlist"].append({"models": ["H200 NVL"], "profiles": ["1g.18gb"]})), {}),
    ("model-shadowed", f"{K}/1/models/0", mutate(LEGACY, lambda d: legacy_entry(d)["models"].append("")), {"also": {"invalid-value"}}),
    ("model-substring-match", f"{A}/1/models/0", mutate(ALLOW, lambda d: d["nvidia"]["migProfileAllowlist"][1].update(models=["H200"])), {}),
    ("profile-unknown", f"{A}/0/profiles/2", mutate(ALLOW, lambda d: d["nvidia"]["migProfileAllowlist"][0]["profiles"].__setitem__(2, "3g.20gb")), {}),
    ("profile-unknown", f"{K}/1/allowedGeometries/0/0/name", mutate(LEGACY, lambda d: geometries(d, 1)[0][0].update(name="1g.5gb")), {}),
    ("profile-name-drift", f"{K}/0/allowedGeometries/2/0/name", mutate(LEGACY, lambda d: geometries(d)[2][0].update(name="3g.21gb")), {}),
    ("profile-slice-unsupported", f"{A}/0/profiles/0", mutate(ALLOW, lambda d: d["nvidia"]["migProfileAllowlist"][0]["profiles"].__setitem__(0, "5g.50gb")), {}),
    ("profile-variant-collapsed", f"{A}/0/profiles/0", mutate(ALLOW, lambda d: d["nvidia"]["migProfileAllowlist"][0]["profiles"].__setitem__(0, "1g.10gb+me")), {}),
    ("profile-duplicate", f"{A}/1/profiles/4", mutate(ALLOW, lambda d: d["nvidia"]["migProfileAllowlist"][1]["profiles"].append("2g.35gb")), {}),
    ("profile-count-exceeded", f"{K}/0/allowedGeometries/0", mutate(LEGACY, lambda d: geometries(d)[0][0].update(count=8)), {}),
    ("geometry-infeasible", f"{K}/0/allowedGeometries/2", mutate(LEGACY, lambda d: geometries(d)[2].append({"name": "1g.5gb", "memory": 4864, "core": 14, "count": 1})), {}),
    ("geometry-not-list", f"{K}/1/allowedGeometries/1", mutate(LEGACY, lambda d: geometries(d, 1).__setitem__(1, {"name": "2g.12gb", "memory": 11968, "count": 2})), {}),
    ("geometry-unreachable", f"{K}/0/allowedGeometries/1", mutate(LEGACY, lambda d: geometries(d).insert(0, [{"name": "7g.40gb", "memory": 40192, "core": 100, "count": 1}])), {}),
    ("memory-over-profile", f"{K}/0/allowedGeometries/0/0/memory", mutate(LEGACY, lambda d: geometries(d)[0][0].update(memory=5120)), {}),
    ("core-missing", f"{K}/1/allowedGeometries/1/0", mutate(LEGACY, lambda d: geometries(d, 1)[1][0].pop("core")), {}),
    ("template-order", f"{K}/0/allowedGeometries/1/1", mutate(LEGACY, lambda d: geometries(d)[1].reverse()), {}),
    ("legacy-slot-index", f"{K}/0/allowedGeometries/1/1", mutate(LEGACY, lambda d: geometries(d).__setitem__(1, [
        {"name": "1g.5gb", "memory": 4864, "core": 14, "count": 2}, {"name": "2g.10gb", "memory": 9856, "core": 28, "count": 2}])), {}),
    ("geometry-over-split-count", f"{K}/0/allowedGeometries/0", mutate(LEGACY, lambda d: d["nvidia"].update(deviceSplitCount=5)), {}),
    ("config-empty", "", {"nvidia": {}}, {}),
    ("config-empty", "", {"nvidia": None, "metax": None}, {}),
    ("no-nvidia-section", "", {"metax": {"resourceCountName": "metax-tech.com/gpu"}}, {}),
    ("document-type", "", ["nvidia"], {}),
]


@pytest.mark.parametrize(("code", "path", "doc", "kwargs"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_check_trips(code, path, doc, kwargs):
    kwargs = dict(kwargs)
    also = kwargs.pop("also", set())
    result = lint_doc(doc, **kwargs)
    assert (code, path) in found(result), sorted(found(result))
    hit = next(d for d in result.diagnostics if (d.code, d.path) == (code, path))
    assert hit.severity == CODES[code].severity
    assert hit.message and hit.line is not None and hit.column is not None
    # One cause, one finding: nothing else fires that the mutation did not ask for.
    unexpected = {c for c, _ in found(result)} - {code, "core-missing", "geometry-unreachable", "model-shadowed",
                                                    "model-never-matches", "template-order", "missing-field",
                                                    "memory-over-profile", "plugin-field-missing"} - also
    assert unexpected <= {code}, sorted(found(result))


NODE_CASES = [
    ("node-name-missing", "/nodeconfig/1", {"nodeconfig": [{"name": "a"}, {"operatingmode": "mig"}]}),
    ("node-name-duplicate", "/nodeconfig/1/name", {"nodeconfig": [{"name": "a"}, {"name": "a"}]}),
    ("migstrategy-no-effect", "/nodeconfig/0/migstrategy", {"nodeconfig": [{"name": "a", "migstrategy": "mixed"}]}),
    ("invalid-value", "/nodeconfig/0/operatingmode", {"nodeconfig": [{"name": "a", "operatingmode": "vgpu"}]}),
    ("unknown-key", "/nodeconfig/0/operatingmod", {"nodeconfig": [{"name": "a", "operatingmod": "mig"}]}),
    ("wrong-type", "/nodeconfig/0/devicesplitcount", {"nodeconfig": [{"name": "a", "devicesplitcount": "7"}]}),
    ("wrong-type", "/NodeConfig/0/Name", {"NodeConfig": [{"Name": 5}]}),
    ("document-type", "", [1, 2]),
]


@pytest.mark.parametrize(("code", "path", "doc"), NODE_CASES, ids=[c[0] for c in NODE_CASES])
def test_each_node_config_check_trips(code, path, doc):
    result = load_text(json.dumps(doc), name="config.json", kind="node-config")
    assert (code, path) in found(result), sorted(found(result))


def test_node_config_keys_are_case_insensitive_like_go_json():
    doc = {"NodeConfig": [{"Name": "a", "OperatingMode": "mig", "DeviceSplitCount": 3, "FilterDevices": {"UUID": []}}]}
    assert load_text(json.dumps(doc), name="config.json").diagnostics == []


# Loader-level codes: (code, input, load keyword arguments).
LOADER_CASES: list[tuple[str, bytes, dict[str, Any]]] = [
    ("input-empty", b"", {}),
    ("input-empty", b"# only a comment\n", {}),
    ("input-binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00", {}),
    ("input-binary", b"nvidia:\n  resourceCountName: \xff\xfe\xfd\n", {}),
    ("input-too-large", b"#" * (10 * 1024 * 1024 + 1), {}),
    ("yaml-syntax", b"nvidia:\n  resourceCountName: [unclosed\n", {}),
    ("json-syntax", b'{"nodeconfig": [,]}', {"name": "config.json"}),
    ("yaml-too-deep", b"[" * 5000, {}),
    ("yaml-alias-bomb", ("a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(9))).encode(), {}),
    ("yaml-recursive-alias", b"nvidia: &n\n  x: *n\n", {}),
    ("yaml-bad-scalar", b"nvidia:\n  defaultMemory: " + b"9" * 5000 + b"\n", {}),
    ("yaml-complex-key", b"nvidia:\n  ? [a]\n  : 1\n", {}),
    ("duplicate-key", b"nvidia:\n  resourceCountName: a\n  resourceCountName: b\n", {}),
    ("no-config-found", b"apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n", {}),
    ("configmap-key-missing", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hami-scheduler-device\ndata:\n  other: x\n", {}),
    ("configmap-value-type", b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hami-scheduler-device\ndata:\n  device-config.yaml:\n    nvidia: {}\n", {}),
]


@pytest.mark.parametrize(("code", "data", "kwargs"), LOADER_CASES, ids=[c[0] for c in LOADER_CASES])
def test_each_loader_check_trips(code, data, kwargs):
    result = load_bytes(data, **{"name": "input.yaml", **kwargs})
    assert code in {d.code for d in result.diagnostics}, [(d.code, d.message) for d in result.diagnostics]
    assert result.unreadable == CODES[code].unreadable
    if code.startswith(("input-", "yaml-", "json-")) and code not in ("yaml-bad-scalar", "yaml-complex-key"):
        assert len(result.diagnostics) == 1  # one clear diagnostic


def test_input_unreadable(tmp_path):
    from migctl.config.load import load_path

    for path in (tmp_path / "missing.yaml", tmp_path):
        result = load_path(path)
        assert [d.code for d in result.diagnostics] == ["input-unreadable"]
        assert result.unreadable


def test_every_code_has_a_tripping_case():
    covered = {c[0] for c in CASES} | {c[0] for c in NODE_CASES} | {c[0] for c in LOADER_CASES} | {"input-unreadable"}
    assert covered == set(CODES), sorted(set(CODES) ^ covered)


# --- near misses that must NOT trip ---------------------------------------------------------------
def test_near_misses_do_not_trip():
    # A longer model string after a shorter, unrelated one is not shadowed.
    doc = mutate(ALLOW, lambda d: d["nvidia"]["migProfileAllowlist"].insert(0, {"models": ["A30"], "profiles": ["1g.6gb"]}))
    assert lint_doc(doc).diagnostics == []
    # An alias is fine for v2.10 (only the <N>g prefix matters), drift is a legacy concern.
    doc = mutate(ALLOW, lambda d: d["nvidia"]["migProfileAllowlist"][0]["profiles"].__setitem__(3, "7g.79gb"))
    assert lint_doc(doc).diagnostics == []
    # memory equal to the hardware profile is fine; a smaller one too.
    doc = mutate(LEGACY, lambda d: geometries(d)[0][0].update(memory=4000))
    assert lint_doc(doc).diagnostics == []
    # Version given and matching: no generation finding.
    assert lint_doc(LEGACY, hami_version="2.9").diagnostics == []
    assert lint_doc(ALLOW, hami_version="2.10").diagnostics == []
    # A specific entry before a generic fallback is a sound order, not shadowing.
    doc = mutate(ALLOW, lambda d: d["nvidia"]["migProfileAllowlist"].append({"models": ["NVIDIA A100"], "profiles": ["1g.10gb"]}))
    assert "model-shadowed" not in {x.code for x in lint_doc(doc).diagnostics}
    # A full geometry that exactly fits.
    doc = mutate(LEGACY, lambda d: geometries(d)[2].__setitem__(0, {"name": "4g.20gb", "memory": 19968, "core": 57, "count": 1}))
    doc["nvidia"]["knownMigGeometries"][0]["allowedGeometries"][2].append({"name": "3g.20gb", "memory": 19968, "core": 42, "count": 1})
    assert lint_doc(doc).diagnostics == []


def test_version_decides_which_mig_block_is_checked():
    both = mutate(LEGACY, lambda d: d["nvidia"].update(migProfileAllowlist=[{"models": ["A30"], "profiles": ["3g.20gb"]}]))
    auto = {d.code for d in lint_doc(both).diagnostics}
    assert {"mig-keys-both", "profile-unknown"} <= auto
    assert "profile-unknown" not in {d.code for d in lint_doc(both, hami_version="2.9").diagnostics}
    on_210 = lint_doc(both, hami_version="2.10")
    assert "profile-unknown" in {d.code for d in on_210.diagnostics}
    assert "ignores knownMigGeometries" in next(d.message for d in on_210.diagnostics if d.code == "mig-keys-both")


def test_seed_example_is_valid_and_its_warnings_are_the_known_true_ones():
    from pathlib import Path

    from migctl.config.load import load_path

    result = load_path(Path(__file__).resolve().parent.parent / "examples" / "device-config.yaml")
    assert result.valid and result.errors == 0
    assert {d.code for d in result.diagnostics} == {
        "plugin-field-missing", "nodeconfig-in-device-config", "model-never-matches", "model-duplicate",
        "memory-over-profile", "core-missing", "template-order", "profile-name-drift",
    }
    # 7g.79gb carries the real memory (80896 MiB); only the name is an alias.
    drift = [d for d in result.diagnostics if d.code == "profile-name-drift"]
    assert [d.path for d in drift] == ["/nvidia/knownMigGeometries/2/allowedGeometries/3/0/name"]
    assert not any(d.path.startswith("/nvidia/knownMigGeometries/2/allowedGeometries/3") and d.code == "memory-over-profile"
                   for d in result.diagnostics)


def test_hami_chart_v29_defaults_only_warn():
    """HAMi v2.9's own chart list: valid, with the H20/H200 and model-string warnings that are true."""
    def geo(rows):
        return [[{"name": n, "memory": m, "core": c, "count": k} for n, m, c, k in g] for g in rows]

    chart = {"nvidia": {
        "resourceCountName": "nvidia.com/gpu", "deviceSplitCount": 10, "deviceMemoryScaling": 1,
        "deviceCoreScaling": 1, "libCudaLogLevel": 1,
        "knownMigGeometries": [
            {"models": ["A30"], "allowedGeometries": geo([[("1g.6gb", 6144, 25, 4)], [("2g.12gb", 12288, 50, 2)], [("4g.24gb", 24576, 100, 1)]])},
            {"models": ["A100-SXM4-40GB", "A100-40GB-PCIe", "A100-PCIE-40GB"], "allowedGeometries": geo([
                [("1g.5gb", 5120, 14, 7)], [("1g.5gb", 5120, 14, 1), ("2g.10gb", 10240, 28, 3)],
                [("3g.20gb", 20480, 42, 2)], [("7g.40gb", 40960, 100, 1)]])},
            {"models": ["H20", "H100 on GH200"], "allowedGeometries": geo([
                [("1g.12gb", 12288, 14, 7)], [("1g.12gb", 12288, 14, 1), ("2g.24gb", 24576, 28, 3)],
                [("3g.48gb", 49152, 42, 2)], [("7g.96gb", 98304, 100, 1)]])},
            {"models": ["H200 NVL", "H200-SXM5"], "allowedGeometries": geo([
                [("1g.18gb", 18432, 14, 7)], [("1g.18gb", 18432, 14, 1), ("2g.35gb", 35840, 28, 3)],
                [("3g.71gb", 72704, 42, 2)], [("7g.141gb", 144384, 100, 1)]])},
        ]}}
    result = lint_doc(chart)
    assert result.errors == 0, [(d.code, d.path, d.message) for d in result.diagnostics if d.severity.value == "error"]
    codes = {d.code for d in result.diagnostics}
    assert {"model-shadowed", "model-substring-match", "model-never-matches", "memory-over-profile"} <= codes


# --- property: any config-shaped document gives registered, locatable findings --------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_names = st.sampled_from(["1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb", "1g.10gb", "1g.5gb+me", "3g.40gb",
                          "1g.6gb", "7g.79gb", "9g.9gb", "xg.foo", "1g", "", "2g.12gb+me"])
_models = st.sampled_from(["A100-SXM4-40GB", "A100-PCIE-40GB", "A100-40GB-PCIe", "A100", "A30", "H20", "H200 NVL",
                           "NVIDIA H200", "B200", "T4", "", "a100-80gb", "RTX PRO 6000 Blackwell Server Edition"])
_ints = st.one_of(st.integers(min_value=-2, max_value=100_000), st.sampled_from([None, "7", 1.5, True]))
_template = st.fixed_dictionaries({"name": _names, "memory": _ints, "count": st.integers(min_value=-1, max_value=9)},
                                  optional={"core": _ints, "Core": _ints})
_legacy = st.lists(st.fixed_dictionaries({
    "models": st.lists(_models, max_size=3),
    "allowedGeometries": st.lists(st.one_of(st.lists(_template, max_size=4), _template), max_size=4)}), max_size=3)
_allow = st.lists(st.fixed_dictionaries({"models": st.lists(_models, max_size=3), "profiles": st.lists(_names, max_size=5)}),
                  max_size=3)


@settings(max_examples=150, deadline=None)
@given(st.fixed_dictionaries({}, optional={"knownMigGeometries": _legacy, "migProfileAllowlist": _allow,
                                           "resourceCountName": st.sampled_from(["nvidia.com/gpu", ""]),
                                           "deviceSplitCount": _ints, "nodeconfig": st.just([{"name": "a"}])}),
       st.sampled_from(["auto", "2.9", "2.10"]))
def test_any_config_shaped_document_gives_registered_located_findings(nvidia, version):
    result = lint_doc({"nvidia": nvidia}, hami_version=version)
    for d in result.diagnostics:
        assert d.code in CODES
        assert d.line is not None and d.column is not None
        assert d.path == "" or d.path.startswith("/")
    assert result.config is not None
