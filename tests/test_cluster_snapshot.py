"""The snapshot reader: kubectl's YAML layout read item by item, JSON streamed, other layouts, bad files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import yaml

from migctl.cluster import generation
from migctl.cluster.model import Cluster
from migctl.cluster.snapshot import dump_snapshot, load_snapshot
from migctl.errors import InputError

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cluster.yaml"
DATA = Path(__file__).parent / "data" / "cluster"
ITEMS = yaml.safe_load(EXAMPLE.read_text())["items"]


def fingerprint(cluster: Cluster) -> tuple:
    return (
        [(n.name, n.devices, n.annotations, n.allocatable) for n in cluster.nodes],
        sorted((p.key, p.devices, p.phase, p.cpu_request_millis, p.memory_request_bytes) for p in cluster.pods),
        cluster.device_config_text,
    )


@pytest.fixture
def reference() -> tuple:
    return fingerprint(Cluster.from_objects(ITEMS))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_kubectl_layout_is_read_item_by_item(reference):
    assert fingerprint(load_snapshot(EXAMPLE)) == reference


@pytest.mark.parametrize(
    "render",
    [
        lambda items: json.dumps({"apiVersion": "v1", "items": items, "kind": "List", "metadata": {}}, indent=2),
        lambda items: json.dumps({"kind": "List", "metadata": {"x": [1, {"y": "]"}]}, "items": items}),
        lambda items: json.dumps(items),  # a bare JSON list
        lambda items: yaml.safe_dump({"apiVersion": "v1", "items": items}, default_flow_style=True),  # flow style
        lambda items: yaml.safe_dump_all(items),  # one document per object
        lambda items: "kind: List\nitems:\n" + "".join(  # an indented sequence
            "  " + line + "\n" for line in yaml.safe_dump(items).splitlines()),
        lambda items: "# comment\n---\napiVersion: v1\nitems:\n\n" + yaml.safe_dump(items[:5])
        + "kind: List\n---\n" + yaml.safe_dump_all(items[5:]),  # a List followed by more documents
    ],
    ids=["json", "json-items-last", "json-bare-list", "yaml-flow", "yaml-documents", "yaml-indented",
         "yaml-list-then-docs"],
)
def test_other_layouts_read_the_same(tmp_path, reference, render):
    path = write(tmp_path, "snap.txt", render(ITEMS))
    assert fingerprint(load_snapshot(path)) == reference


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_dump_round_trip(tmp_path, reference, fmt):
    buf = io.StringIO()
    dump_snapshot(ITEMS, buf, fmt=fmt)
    path = write(tmp_path, f"snap.{fmt}", buf.getvalue())
    assert fingerprint(load_snapshot(path)) == reference


def test_other_kinds_are_skipped_and_nested_lists_expanded(tmp_path):
    doc = {"kind": "List", "items": [{"kind": "Service", "metadata": {"name": "s"}},
                                     {"kind": "List", "items": [ITEMS[0]]}]}
    cluster = load_snapshot(write(tmp_path, "s.yaml", yaml.safe_dump(doc)))
    assert [n.name for n in cluster.nodes] == ["gpu-node-a"] and cluster.pods == []


def test_empty_list_warns(tmp_path):
    cluster = load_snapshot(write(tmp_path, "s.yaml", "apiVersion: v1\nitems: []\nkind: List\n"))
    assert [w.code for w in cluster.warnings] == ["empty-snapshot"]


@pytest.mark.parametrize(
    "text, where",
    [
        ("apiVersion: v1\nitems:\n- kind: Pod\n  metadata: {name: p}\n- kind: Node\n  metadata:\n"
         "    name: n\n   bad: indent\n", ":8:"),
        ("apiVersion: v1\nitems:\n- kind: Pod\n- [1, 2]\n", ":4: a list item must be a Kubernetes object"),
        ('{"items": [\n{"kind": "Node", "metadata": {"name": "a"}},\n{"kind": "Pod",,}\n]}', ":3: not valid JSON"),
        ('{"items": {"kind": "Node"}}', "'items' must be a list"),
        ('{"kind": "Node", "metadata": {"name": "a"}} trailing', "extra data"),
        ("[1, 2", "not valid JSON"),
        ("kind: List\nitems: 5\n", "'items' must be a list"),
    ],
)
def test_bad_files_name_the_line(tmp_path, text, where):
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(InputError) as info:
        load_snapshot(path)
    assert str(path) in info.value.message and where in info.value.message


def test_generations_of_the_test_data():
    expected = {"v27-colon.yaml": generation.COLON, "v210-current.json": generation.CURRENT,
                "problems.yaml": generation.CURRENT}
    for name, gen in expected.items():
        cluster = load_snapshot(DATA / name)
        by_node = cluster.pods_by_node()
        found = [generation.node_generation(n, by_node.get(n.name, ())).generation for n in cluster.nodes]
        assert generation.cluster_generation(found)[0] == gen, name
    example = load_snapshot(EXAMPLE)
    by_node = example.pods_by_node()
    found = {n.name: generation.node_generation(n, by_node.get(n.name, ())).generation for n in example.nodes}
    assert found == {"cpu-node-1": generation.NONE, "gpu-node-a": generation.JSON,
                     "gpu-node-b": generation.LEGACY_JSON}
    assert generation.cluster_generation(found.values())[0] == generation.LEGACY_JSON


def test_mixed_generations_warn():
    gen, warnings = generation.cluster_generation([generation.CURRENT, generation.LEGACY_JSON, generation.JSON])
    assert gen == generation.MIXED and warnings[0].code == "mixed-generation"
    assert generation.cluster_generation([generation.JSON, generation.CURRENT])[0] == generation.CURRENT
    assert generation.cluster_generation([generation.NONE])[0] == generation.NONE


_scalars = st.one_of(st.text(max_size=12), st.integers(-(10**12), 10**12), st.booleans(), st.none())
_docs = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(_docs, st.sampled_from([False, True]))
def test_fast_yaml_builder_equals_pyyaml(doc, flow):
    from migctl.yamlio.kube_list import Unsupported as _Unsupported, fast_yaml as _fast_yaml

    text = yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True)
    try:
        fast = _fast_yaml(text)
    except _Unsupported:  # merge keys: the reader falls back to PyYAML
        assert "<<" in text
        return
    assert fast == yaml.safe_load(text)


def test_fast_yaml_builder_anchors_and_fallbacks(tmp_path):
    from migctl.yamlio.kube_list import Unsupported as _Unsupported, fast_yaml as _fast_yaml

    assert _fast_yaml("a: &x [1, 2]\nb: *x\nc: ~\nd: '5'\ne: -3\n") == {"a": [1, 2], "b": [1, 2], "c": None,
                                                                         "d": "5", "e": -3}
    with pytest.raises(_Unsupported):
        _fast_yaml("base: &b {x: 1}\nm:\n  <<: *b\n")
    # the reader falls back to PyYAML for merge keys and gets the same objects
    text = ("apiVersion: v1\nitems:\n- kind: Node\n  metadata: &m\n    name: n1\n"
            "- kind: Node\n  metadata:\n    <<: {name: n2}\n")
    cluster = load_snapshot(write(tmp_path, "merge.yaml", text))
    assert [n.name for n in cluster.nodes] == ["n1", "n2"]


def test_gc_is_restored_after_loading(tmp_path):
    import gc

    assert gc.isenabled()
    load_snapshot(EXAMPLE)
    assert gc.isenabled()
    with pytest.raises(InputError):
        load_snapshot(write(tmp_path, "bad.yaml", "items: 5\n"))
    assert gc.isenabled()
    gc.disable()
    try:
        load_snapshot(EXAMPLE)
        assert not gc.isenabled()
    finally:
        gc.enable()
