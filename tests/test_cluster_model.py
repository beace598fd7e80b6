"""The cluster model never crashes: any annotation value, any object shape, becomes data or a warning."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migctl.cluster import codecs
from migctl.cluster.model import Cluster, Node, Pod
from migctl.cluster.status import build_status
from migctl.cluster.usage import build_node_usage

NOW = datetime(2026, 11, 28, 12, tzinfo=timezone.utc)

_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
_hami_like = st.sampled_from([
    '[{"id":"GPU-a","count":10,"devmem":40960,"devcore":100,"type":"NVIDIA A100-PCIE-40GB","mode":"mig","health":true}]',
    '[{"id":"GPU-a","mode":"hami-core","health":true,"count":10,"devmem":100,"devcore":100}]',
    "GPU-a,10,40960,100,NVIDIA-T4,0,true,0,hami-core:",
    "GPU-a,NVIDIA,1000,10:;", "GPU-a[0-3],NVIDIA,5120,14:;", "GPU-a[9-9],NVIDIA,1,1:;", ";;",
    '[{"containerIndex":0,"deviceIndex":0,"gpuUUID":"GPU-a","profile":"1g.5gb","placement":{"start":6,"size":1}}]',
    "Requesting_2026-11-28 09:00:00", "Reported 2026-11-28 09:00:00", "2026-11-28T09:00:00Z,ns,p", "GPU-a,GPU-b",
    '{"0":"1g.5gb:7"}',
])
_value = st.one_of(_text, _hami_like)
_keys = st.sampled_from([
    codecs.NODE_REGISTER, codecs.NODE_HANDSHAKE, codecs.NODE_LOCK, codecs.DEVICE_CORDON,
    codecs.POD_DEVICES_ALLOCATED, codecs.POD_MIG_ALLOCATIONS, codecs.POD_VGPU_NODE, codecs.MIGCTL_GEOMETRY_APPLIED,
    codecs.MIGCTL_GEOMETRY_STATE,
])
_annotations = st.dictionaries(_keys, _value, max_size=6)
_junk = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2))


@st.composite
def node_objects(draw):
    ann = draw(_annotations)
    ann.setdefault(codecs.NODE_REGISTER, draw(_hami_like))
    return {"kind": "Node",
            "metadata": draw(st.one_of(st.just({"name": "n1", "annotations": ann}), _junk)),
            "spec": draw(st.one_of(st.just({"unschedulable": True, "taints": [1, {"key": "a"}]}), _junk)),
            "status": draw(st.one_of(st.just({"allocatable": {"cpu": draw(_value), "nvidia.com/gpu": "0"},
                                              "conditions": [None, {"type": "Ready"}]}), _junk))}


@st.composite
def pod_objects(draw):
    ann = draw(_annotations)
    ann[codecs.POD_VGPU_NODE] = "n1"
    container = {"name": "c", "resources": draw(st.one_of(
        st.just({"requests": {"cpu": draw(_value), "memory": draw(_value)}}), _junk))}
    return {"kind": "Pod",
            "metadata": {"name": draw(st.sampled_from(["p1", "p2"])), "namespace": "ns", "annotations": ann},
            "spec": draw(st.one_of(st.just({"nodeName": "n1", "containers": [container, None],
                                            "initContainers": draw(st.one_of(st.just([container]), _junk))}),
                                   _junk)),
            "status": draw(st.one_of(st.just({"phase": draw(st.sampled_from(["Running", "Failed", ""]))}), _junk))}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(node_objects(), max_size=2), st.lists(pod_objects(), max_size=4))
def test_any_cluster_builds_usage_and_status_without_raising(nodes, pods):
    cluster = Cluster.from_objects([*nodes, *pods])
    for node in cluster.nodes:
        usage = build_node_usage(node, cluster.pods, templates_for=lambda t: None)
        usage.copy()
    report = build_status(cluster, now=NOW)
    doc = report.to_dict()
    assert len(doc["nodes"]) == len(cluster.nodes)


def test_pod_requests_follow_kube_scheduler_rules():
    pod = Pod.from_object({
        "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
        "spec": {
            "initContainers": [
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
                {"name": "init", "resources": {"requests": {"cpu": "4", "memory": "512Mi"}}},
            ],
            "containers": [{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "2Gi"}}},
                           {"name": "b", "resources": {"requests": {"cpu": "250m"}}}],
        },
    })
    # init phase: sidecar 0.5 + init 4 = 4.5 cores; steady: sidecar 0.5 + 1 + 0.25 = 1.75 -> 4.5
    assert pod.cpu_request_millis == 4500
    assert pod.memory_request_bytes == 3 * 2**30  # 1Gi sidecar + 2Gi (limit as request) > 1.5Gi init
    bad = Pod.from_object({"kind": "Pod", "metadata": {"name": "q"},
                           "spec": {"containers": [{"name": "x", "resources": {"requests": {"cpu": "lots"}}}]}})
    assert bad.cpu_request_millis == 0 and bad.warnings[0].code == "bad-quantity"
    assert bad.namespace == "default"


def test_node_annotations_are_filtered_and_decoded():
    node = Node.from_object({
        "kind": "Node",
        "metadata": {"name": "n", "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": "x" * 1000,
            codecs.DEVICE_CORDON: "GPU-a",
            codecs.MIGCTL_GEOMETRY: "1g.5gb:7",
            codecs.MIGCTL_GEOMETRY_STATE: "success",
            codecs.MIGCTL_GEOMETRY_APPLIED: '{"0":"1g.5gb:7"}',
        }},
        "status": {"allocatable": {"nvidia.com/gpu": "8"}, "conditions": [{"type": "Ready", "status": "True"}]},
    })
    assert "kubectl.kubernetes.io/last-applied-configuration" not in node.annotations
    assert node.cordoned == {"GPU-a"} and node.ready is True and node.allocatable_count() == 8
    assert (node.migctl.desired, node.migctl.state, node.migctl.applied) == ("1g.5gb:7", "success", {"0": "1g.5gb:7"})
    assert not node.registered and node.devices == ()


def test_duplicates_keep_the_last_object():
    n1 = {"kind": "Node", "metadata": {"name": "a", "labels": {"v": "1"}}}
    n2 = {"kind": "Node", "metadata": {"name": "a", "labels": {"v": "2"}}}
    cluster = Cluster.from_objects([n1, n2])
    assert [n.labels for n in cluster.nodes] == [{"v": "2"}]
    assert cluster.node("a").labels == {"v": "2"} and cluster.node("zz") is None
