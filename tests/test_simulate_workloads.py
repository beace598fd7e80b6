"""Pods from YAML objects: Pods, workloads expanded into replicas, Lists, --repeat, bad shapes."""

from __future__ import annotations

import pytest

from migctl.simulate.workloads import Document, WorkloadError, pods_from_documents

TEMPLATE = {"metadata": {"annotations": {"nvidia.com/vgpu-mode": "mig"}},
            "spec": {"containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": 1}}}]}}


def doc(obj, line=1):
    return Document(obj, "pods.yaml", line)


def workload(kind, name, **spec):
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": "ml"},
            "spec": {"template": TEMPLATE, **spec}}


def test_workloads_expand_into_replicas_with_the_template():
    pods = pods_from_documents([
        doc(workload("Deployment", "web", replicas=2)),
        doc(workload("StatefulSet", "db", replicas=3)),
        doc(workload("ReplicaSet", "rs")),  # replicas default 1
        doc(workload("Job", "train", parallelism=2, completions=10)),
        doc(workload("Deployment", "off", replicas=0)),
    ])
    assert [p.key for p in pods] == ["ml/web-0", "ml/web-1", "ml/db-0", "ml/db-1", "ml/db-2", "ml/rs-0",
                                     "ml/train-0", "ml/train-1"]
    assert all(p.annotations == {"nvidia.com/vgpu-mode": "mig"} for p in pods)
    assert pods[0].source == "pods.yaml:1 Deployment web replica 0"


def test_lists_plain_pods_and_repeat():
    pod = {"kind": "Pod", "metadata": {"name": "p"}, "spec": TEMPLATE["spec"]}
    pods = pods_from_documents([doc({"kind": "List", "items": [pod, pod | {"metadata": {"name": "q"}}]}), doc(None)],
                               repeat=3)
    assert [p.name for p in pods] == ["p", "q", "p-r1", "q-r1", "p-r2", "q-r2"]
    assert pods[0].namespace == "default"


def test_resources_and_scheduling_fields_are_read():
    pod = {"kind": "Pod", "metadata": {"name": "p", "namespace": "x"}, "spec": {
        "initContainers": [{"name": "init", "resources": {"requests": {"cpu": "2", "memory": "1Gi"}}}],
        "containers": [{"name": "a", "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}}},
                       {"name": "b", "resources": {"requests": {"cpu": "1"}}}],
        "nodeSelector": {"zone": "a"},
        "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "gpu", "operator": "In", "values": ["a100"]}]}]}}},
    }}
    (p,) = pods_from_documents([doc(pod)])
    assert [c.name for c in p.containers] == ["init", "a", "b"] and p.containers[0].init
    assert p.cpu_request_m() == 2000  # max(init 2000, app 500 + 1000)
    assert p.memory_request() == 2**30
    assert p.node_selector == {"zone": "a"} and p.tolerations[0].operator == "Exists"
    assert p.affinity_terms[0][0].values == ("a100",)


def test_sidecar_init_containers_count_beside_the_app():
    pod = {"kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "initContainers": [{"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1"}}},
                           {"name": "migrate", "resources": {"requests": {"cpu": "2"}}}],
        "containers": [{"name": "a", "resources": {"requests": {"cpu": "500m"}}}]}}
    (p,) = pods_from_documents([doc(pod)])
    assert p.containers[0].sidecar and not p.containers[1].sidecar
    assert p.cpu_request_m() == 3000  # max(app 500 + sidecar 1000, sidecar 1000 + init 2000)


@pytest.mark.parametrize("obj,needle", [
    ({"kind": "DaemonSet", "metadata": {"name": "d"}}, "not supported"),
    ({"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": "two", "template": TEMPLATE}}, "replicas"),
    ({"kind": "Deployment", "metadata": {"name": "d"}, "spec": {}}, "spec.template"),
    ({"kind": "Deployment", "spec": {"template": TEMPLATE}}, "metadata.name"),
    ({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "resources": []}]}},
     "spec.containers[0].resources"),
    ({"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}], "tolerations": [1]}},
     "spec.tolerations[0]"),
    (["a"], "expected a Kubernetes object"),
])
def test_bad_shapes_name_the_document_and_field(obj, needle):
    with pytest.raises(WorkloadError) as err:
        pods_from_documents([doc(obj, line=7)])
    assert needle in str(err.value) and "pods.yaml:7" in str(err.value)
