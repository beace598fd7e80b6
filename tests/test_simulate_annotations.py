"""The pod annotations ``simulate`` writes are HAMi's, read back by the same codecs ``status`` uses."""

from __future__ import annotations

import copy

from conftest import REPO

import migctl
from migctl.cluster import codecs
from migctl.cluster.model import Pod
from migctl.config.model import NvidiaConfig
from migctl.simulate import HamiVersion, SimulationOptions, Simulator
from migctl.simulate.synthetic import synthetic_cluster
from migctl.simulate.workloads import Document, pods_from_documents

EXAMPLE = REPO / "examples" / "cluster.yaml"
PODS = REPO / "examples" / "pods.yaml"


def _decoded(annotations: dict[str, str], node: str) -> Pod:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default",
                                                           "annotations": dict(annotations)},
           "spec": {"nodeName": node, "containers": [{"name": "c"}]}, "status": {"phase": "Running"}}
    pod = Pod.from_object(obj)
    assert not pod.warnings
    return pod


def test_v2_10_placements_round_trip_through_the_status_codecs():
    result = migctl.simulate(EXAMPLE, PODS, hami_version="2.10")
    placed = result.pods[1]
    assert placed.node == "gpu-node-b" and len(placed.allocations) == 2
    pod = _decoded(placed.annotations, placed.node)
    assert pod.vgpu_node == placed.node
    assert [(a.gpu_uuid, a.profile, a.placement) for a in pod.mig_allocations] == [
        (a.gpu_id, a.profile, a.placement) for a in placed.allocations]
    assert [(d.uuid, d.usedmem, d.usedcores) for d in pod.devices[0]] == [
        (a.gpu_id, a.memory_mib, a.cores) for a in placed.allocations]
    assert placed.annotations[codecs.POD_DEVICES_ALLOCATED] == placed.annotations[codecs.POD_DEVICES_TO_ALLOCATE]


def test_the_placed_pod_shows_in_status_where_simulate_put_it():
    result = migctl.simulate(EXAMPLE, PODS, hami_version="2.10")
    placed = result.pods[1]
    cluster = migctl.load_cluster(snapshot=EXAMPLE)
    obj = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "simulated", "namespace": "default", "annotations": dict(placed.annotations)},
           "spec": {"nodeName": placed.node, "containers": [{"name": "c"}]}, "status": {"phase": "Running"}}
    cluster.add_object(obj)
    cluster.finish()
    node = migctl.cluster_status(cluster, node=placed.node).nodes[0]
    shown = {(i.profile, i.placement, i.pod) for g in node.gpus for i in g.instances if i.used}
    for a in placed.allocations:
        assert (a.profile, a.placement, "default/simulated") in shown


def test_legacy_slot_suffixes_round_trip():
    state = synthetic_cluster(nodes=2, gpus_per_node=2, seed=3)
    spec = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "m", "annotations": {"nvidia.com/vgpu-mode": "mig"}},
            "spec": {"containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": 1,
                                                                            "nvidia.com/gpumem": 4000}}}]}}
    pods = pods_from_documents([Document(copy.deepcopy(spec), "t", 1)], repeat=3)
    result = Simulator(state, NvidiaConfig.hami_defaults(), SimulationOptions(version=HamiVersion("2.9"))).run(pods)
    slotted = [p for p in result.pods if p.scheduled and p.allocations[0].template is not None]
    assert slotted, "the synthetic cluster placed no legacy MIG pod"
    for placed in slotted:
        pod = _decoded(placed.annotations, placed.node)
        a = placed.allocations[0]
        assert pod.devices[0][0].uuid == a.gpu_id and pod.devices[0][0].mig_slot == (a.template, a.slot)
        assert codecs.POD_MIG_ALLOCATIONS not in placed.annotations
