"""JSON snapshots read through typed structs (``migctl.cluster.kube_json``) against the item reader.

The property every test here checks: for any JSON file, ``load_snapshot`` builds exactly the cluster the
reference reader (``migctl.yamlio.kube_list.json_items`` + ``Cluster.add_object``) builds, or raises the
same error. The typed path either reads the whole file or none of it (``read_snapshot`` returns False and
``load_snapshot`` starts again with the item reader).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migctl.cluster import snapshot, kube_json
from migctl.cluster.model import Cluster
from migctl.errors import InputError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from gen_cluster import generate  # noqa: E402


pytestmark = pytest.mark.usefixtures("typed_for_any_size")  # the typed reader for these small files too


def reference(path: Path) -> Cluster | InputError:
    """What the item reader builds (the typed path switched off), or the error it raises."""
    saved = snapshot._read_typed
    snapshot._read_typed = lambda _path, _cluster, _on_item: False
    try:
        return snapshot.load_snapshot(path)
    except InputError as exc:
        return exc
    finally:
        snapshot._read_typed = saved


def loaded(path: Path) -> Cluster | InputError:
    try:
        return snapshot.load_snapshot(path)
    except InputError as exc:
        return exc


def assert_same(path: Path) -> bool:
    """``load_snapshot`` equals the reference for ``path``; True when the typed path read it."""
    fast, ref = loaded(path), reference(path)
    if isinstance(ref, InputError):
        assert isinstance(fast, InputError) and str(fast) == str(ref), (fast, ref)
    else:
        assert isinstance(fast, Cluster), fast
        assert fast.nodes == ref.nodes
        assert fast.pods == ref.pods
        assert (fast.device_config_text, fast.device_config_source, fast.source, fast.warnings) == (
            ref.device_config_text, ref.device_config_source, ref.source, ref.warnings)
    return kube_json.read_snapshot(path.read_bytes(), Cluster())


def write_list(path: Path, items: list[Any], **dump: Any) -> Path:
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, **dump), encoding="utf-8")
    return path


@pytest.mark.parametrize("generation", ["v2.9", "v2.10"])
@pytest.mark.parametrize("realistic", [False, True])
def test_generated_clusters_take_the_typed_path_and_build_the_same_model(tmp_path, generation, realistic):
    objects = list(generate(24, 8, 400, generation=generation, realistic=realistic, seed=7))
    path = write_list(tmp_path / "cluster.json", objects, indent=4)
    assert assert_same(path)
    cluster = snapshot.load_snapshot(path)
    assert len(cluster.nodes) == 24 and len(cluster.pods) == 400
    assert sum(p.devices is not None for p in cluster.pods) > 300  # the annotations were decoded


@pytest.mark.parametrize("name", ["v210-current.json"])
def test_shipped_json_snapshots(name):
    assert assert_same(ROOT / "tests" / "data" / "cluster" / name)


def _pod(**changes: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns", "uid": "u-1",
                     "annotations": {"hami.io/vgpu-node": "n1", "kubectl.kubernetes.io/last-applied": "{}",
                                     "hami.io/vgpu-devices-allocated": "GPU-a,NVIDIA,4000,10:;"}},
        "spec": {"nodeName": "n1", "schedulerName": "hami-scheduler",
                 "initContainers": [{"name": "i", "restartPolicy": "Always",
                                     "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}],
                 "containers": [{"name": "c", "image": "x", "resources": {
                     "limits": {"nvidia.com/gpu": "1", "cpu": "2"}, "requests": {"memory": "1Gi"}}}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = pod
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return pod


def _node(name: str = "n1") -> dict[str, Any]:
    register = json.dumps([{"id": "GPU-a", "count": 10, "devmem": 40960, "devcore": 100,
                            "type": "NVIDIA A100-PCIE-40GB", "mode": "hami-core", "health": True}])
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"gpu": "on"},
                         "annotations": {"hami.io/node-nvidia-register": register, "other": "x"}},
            "spec": {"unschedulable": True, "taints": [{"key": "k", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": "10"},
                       "capacity": {"cpu": "8"},
                       "conditions": [{"type": "MemoryPressure", "status": "False"},
                                      {"type": "Ready", "status": "False"}]}}


_DELETE = object()
_CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "hami-scheduler-device", "namespace": "kube-system"},
               "data": {"device-config.yaml": "nvidia: {}\n"}}


@pytest.mark.parametrize("pod", [
    _pod(),
    _pod(metadata__deletionTimestamp="2026-01-01T00:00:00Z"),
    _pod(metadata__annotations=_DELETE, spec__initContainers=_DELETE),
    _pod(spec__containers__0__resources=_DELETE),
    _pod(spec__nodeName=""),
    _pod(status=_DELETE),
    _pod(metadata__namespace=""),
], ids=["canonical", "deleting", "bare", "no-resources", "empty-node-name", "no-status", "empty-namespace"])
def test_canonical_objects_take_the_typed_path(tmp_path, pod):
    path = write_list(tmp_path / "s.json", [_node(), pod, _CONFIG_MAP, {"kind": "Service", "spec": {"x": 1}}])
    assert assert_same(path)


@pytest.mark.parametrize("items", [
    [_node(), _pod(spec__containers__0__resources__limits__cpu=2)],  # a number where a quantity belongs
    [_node(), _pod(metadata__annotations=None)],
    [_node(), _pod(metadata__annotations__x=5)],
    [_node(), _pod(metadata__annotations={"hami.io/vgpu-node": None})],
    [_node(), _pod(metadata=None)],
    [_node(), _pod(metadata__name=None)],
    [_node(), _pod(spec__nodeName=7)],
    [_node(), _pod(spec__containers=[5])],
    [_node(), _pod(spec__containers={"name": "c"})],
    [_node(), _pod(status="Running")],
    [{"kind": "List", "items": [_node()]}, _pod()],
    [{"kind": "List"}, _pod()],
    [{"items": [_node()]}],
    [_node(), 5],
    [dict(_node(), data={"a": 1})],
], ids=["number-quantity", "null-annotations", "number-annotation", "null-annotation", "null-metadata",
        "null-name", "number-node-name", "number-container", "object-containers", "text-status", "nested-list",
        "list-without-items", "kindless-list", "number-item", "number-data"])
def test_anything_else_takes_the_reference_reader_whole(tmp_path, items):
    path = write_list(tmp_path / "s.json", items)
    assert not assert_same(path)


@pytest.mark.parametrize("text", [
    '{"kind": "List", "items": [{"kind": "Node", "metadata": {"name": "n"}, "x": NaN}]}',
    '\ufeff{"kind": "List", "items": []}',
    '{"kind": "List", "items": [{"kind": "Node", "metadata": {"name": "\\ud800"}}]}',
    '{"kind": "List", "items": [{"kind": "Node", "metadata": {"name": "n"}}]} trailing',
    '{"kind": "List", "items": [{"kind": "Node", "metadata": {"name": "n"},}]}',
    '[{"kind": "Node", "metadata": {"name": "n"}}]',
    '{"kind": "Node", "metadata": {"name": "n"}}',
    '{"kind": "List", "items": [{"kind": "Node", "metadata": {"name": "a", "name": "b"}}]}',
    '{"kind": "List", "items": [{"kind": "Node", "status": {"capacity": {"pods": %s}}}]}' % ("7" * 5000),
], ids=["nan", "bom", "lone-surrogate", "trailing", "trailing-comma", "bare-list", "single-object",
        "duplicate-key", "long-number"])
def test_json_msgspec_refuses_or_reads_alike(tmp_path, text):
    path = tmp_path / "s.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    assert_same(path)


# --- any object ----------------------------------------------------------------------------------------

_TEXT = st.text(alphabet="aZ0-./ ", max_size=4)
_ANY = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False, allow_infinity=False, width=32), _TEXT,
                 st.lists(st.integers(0, 2), max_size=2), st.dictionaries(_TEXT, _TEXT, max_size=2))
_QUANTITY = st.sampled_from(["1", "2", "500m", "1Gi", "64Mi", "bad", "", "1e3"])
_ANNOTATION_VALUES = {
    "hami.io/vgpu-node": st.sampled_from(["n1", "n2", ""]),
    "hami.io/vgpu-devices-allocated": st.sampled_from(
        ["GPU-a,NVIDIA,4000,10:;", "GPU-b[0-1],NVIDIA,5120,0:;", ";GPU-a,NVIDIA,1,1:;", "bad", ""]),
    "hami.io/node-nvidia-register": st.sampled_from([_node()["metadata"]["annotations"]["hami.io/node-nvidia-register"],
                                                     "[]", "not json"]),
    "migctl.io/geometry": st.sampled_from(["1g.5gb:7", ""]),
    "other.io/x": _TEXT,
}


def objects(odd: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with any subset of the fields the model reads: ``odd=False`` only in the form Kubernetes
    writes (fields typed ``Any`` in the structs take any JSON), ``odd=True`` with any JSON anywhere."""

    def v(canonical: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(canonical, _ANY) if odd else canonical

    def fields(**optional: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return v(st.fixed_dictionaries({}, optional=optional))

    str_map = v(st.dictionaries(st.sampled_from(["cpu", "memory", "nvidia.com/gpu", "nvidia.com/gpumem", "x"]),
                                v(_QUANTITY), max_size=4))
    container = fields(name=v(_TEXT), restartPolicy=st.one_of(st.sampled_from(["Always", "Never"]), _ANY),
                       resources=v(st.one_of(st.none(), fields(requests=str_map, limits=str_map))))
    return st.fixed_dictionaries(
        {"kind": st.one_of(st.sampled_from(["Node", "Pod", "Pod", "ConfigMap", "Service"]), _ANY)},
        optional={
            "metadata": fields(
                name=v(st.sampled_from(["n1", "n2", "p1", "p2", "hami-scheduler-device", ""])),
                namespace=v(st.sampled_from(["default", "ns", ""])),
                uid=v(_TEXT),
                labels=str_map,
                annotations=fields(**{k: v(s) for k, s in _ANNOTATION_VALUES.items()}),
                deletionTimestamp=_ANY,
            ),
            "spec": fields(
                nodeName=v(st.sampled_from(["n1", "n2", ""]) | st.none()),
                schedulerName=v(st.sampled_from(["hami-scheduler", ""])),
                nodeSelector=str_map,
                containers=v(st.lists(container, max_size=2)),
                initContainers=v(st.lists(container, max_size=2)),
                unschedulable=_ANY,
                taints=v(st.lists(v(st.fixed_dictionaries({"key": _TEXT}, optional={"effect": v(_TEXT)})),
                                  max_size=2)),
            ),
            "status": fields(
                phase=v(st.sampled_from(["Running", "Pending", "Succeeded", ""])),
                allocatable=str_map,
                capacity=str_map,
                conditions=v(st.lists(fields(type=st.one_of(st.sampled_from(["Ready", "X"]), _ANY),
                                             status=st.one_of(st.sampled_from(["True", "False"]), _ANY)),
                                      max_size=2)),
            ),
            "data": fields(**{"device-config.yaml": v(_TEXT)}),
        },
    )


_SETTINGS = settings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@_SETTINGS
@given(items=st.lists(objects(odd=False), max_size=6))
def test_any_object_in_kubernetes_form_takes_the_typed_path(tmp_path_factory, items):
    path = write_list(tmp_path_factory.mktemp("s") / "s.json", items)
    assert assert_same(path)


@_SETTINGS
@given(items=st.lists(objects(odd=True), max_size=5))
def test_any_object_reads_alike(tmp_path_factory, items):
    path = write_list(tmp_path_factory.mktemp("s") / "s.json", items)
    assert_same(path)


@pytest.mark.parametrize("name", ["examples/cluster.yaml", "tests/data/cluster/v210-current.json"])
def test_yaml_and_small_json_snapshots_do_not_load_msgspec(name):
    """msgspec's import (13 ms) is paid only for JSON snapshots of 1 MiB and more."""
    code = ("import sys; from migctl.cluster.snapshot import load_snapshot; "
            f"load_snapshot({str(ROOT / name)!r}); print('msgspec' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"


def test_large_json_snapshots_take_the_typed_reader(tmp_path, monkeypatch):
    monkeypatch.undo()  # the module's fixture lowers the threshold: use the real one here
    path = write_list(tmp_path / "big.json", list(generate(40, 8, 2500, realistic=True, seed=2)))
    assert path.stat().st_size >= snapshot.TYPED_MIN_BYTES
    calls = []
    real = kube_json.read_snapshot
    monkeypatch.setattr(kube_json, "read_snapshot", lambda *args: calls.append(1) or real(*args))
    assert len(snapshot.load_snapshot(path).pods) == 2500 and calls == [1]


# --- item_builder: kubectl YAML items of one shape built without their JSON ---------------------------------------

_POD = {"apiVersion": "v1", "kind": "\ue0000", "metadata": {
    "name": "\ue0001", "namespace": "team", "labels": {"app": "\ue0002", "tier": "batch"},
    "annotations": {"hami.io/vgpu-node": "\ue0003"}, "deletionTimestamp": "\ue0004"},
    "spec": {"nodeName": "\ue0005", "containers": [{"name": "main", "image": "\ue0006", "resources": {
        "limits": {"nvidia.com/gpu": "\ue0007"}, "requests": {}}}], "unschedulable": 1,
        "taints": [{"key": "k", "effect": "\ue0008"}]},
    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": [True, None, {"x": "\ue0009"}]}]}}
_SLOTS = {f"\ue000{k}": k for k in range(10)}


def test_built_items_are_what_msgspec_decodes_from_their_json():
    build = kube_json.item_builder(json.dumps(_POD), _SLOTS)
    assert build is not None
    for values in [[str(k) for k in range(10)], ["Pod", "p", "", "n", "", "x'y\"z", "a\\b", "é", "\ue0001", "-"]]:
        text = json.dumps(_POD)
        for mark, slot in _SLOTS.items():
            text = text.replace(json.dumps(mark), json.dumps(values[slot]))
        assert repr(build(values)) == repr(kube_json._ITEM.decode(text))


def test_each_built_item_has_containers_of_its_own():
    build = kube_json.item_builder(json.dumps(_POD), _SLOTS)
    a, b = build(["v"] * 10), build(["v"] * 10)
    assert a == b
    assert a.metadata.labels is not b.metadata.labels and a.spec.containers is not b.spec.containers
    assert a.spec.taints[0] is not b.spec.taints[0] and a.status.conditions is not b.status.conditions
    assert a.spec.nodeSelector is not b.spec.nodeSelector  # a default left out: msgspec makes a new one


@pytest.mark.parametrize("text", [
    '{"kind":"List","items":[{"kind":"Pod"}]}',  # a nested List: the reference reader expands it
    '{"kind":"Pod","metadata":{"labels":"\ue0000"}}',  # the structs refuse the shape: its items are refused
    '{"kind":"Pod","metadata":{"name":5}}',
    '{"kind":"Pod","metadata":{"deletionTimestamp":1.5}}',  # not what a YAML template holds
    '{"kind":"Pod","metadata":{"deletionTimestamp":1' + "0" * 5000 + "}}",  # Python will not write it back
])
def test_shapes_left_to_their_json(text):
    assert kube_json.item_builder(text, {"\ue0000": 0}) is None


@pytest.mark.parametrize(("depth", "built"), [(40, True), (400, False)])
def test_shapes_too_deep_for_python_source_are_left_to_their_json(depth, built):
    deep: Any = "\ue0000"
    for _ in range(depth):
        deep = {"a": [deep]}
    text = json.dumps({"kind": "Pod", "metadata": {"deletionTimestamp": deep}}, ensure_ascii=False)
    build = kube_json.item_builder(text, {"\ue0000": 0})
    assert (build is not None) == built
    if built:
        assert build(["x"]) == kube_json._ITEM.decode(text.replace("\ue0000", "x"))
