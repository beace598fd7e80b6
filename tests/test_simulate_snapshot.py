"""From cluster objects to placements: usage rebuilt from existing pods, then the simulation.

Cases from HAMi's ``pkg/scheduler/mig_allocation_test.go`` (v2.10 reservations restored by profile
and placement; a MIG GPU used without a reservation fails closed) and the legacy ``[t-s]`` record.
"""

from __future__ import annotations

import json

from simulate_support import pod

from migctl.cluster.model import Cluster
from migctl.config.model import NvidiaConfig
from migctl.simulate import HamiVersion, SimulationOptions, Simulator
from migctl.simulate.build import evidence_from_cluster, state_from_cluster
from migctl.config.model import scheduler_nvidia_config
from migctl.simulate.version import infer_version

PROFILE_1G_AT_6 = [{"name": "1g.5gb", "memoryMB": 5120, "core": 14, "sliceCount": 1,
                    "placements": [{"start": 6, "size": 1}]}]


def gpu_node(name: str, devices: list[dict], **status) -> dict:
    return {"kind": "Node", "metadata": {"name": name, "annotations": {
        "hami.io/node-nvidia-register": json.dumps(devices)}}, "spec": status.pop("spec", {}),
        "status": {"allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110"}, **status}}


def running(name: str, node: str, devices: str, mig: list[dict] | None = None, phase: str = "Running") -> dict:
    ann = {"hami.io/vgpu-node": node, "hami.io/vgpu-devices-allocated": devices}
    if mig is not None:
        ann["hami.io/vgpu-mig-allocations"] = json.dumps(mig)
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "default", "annotations": ann},
            "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"requests": {"cpu": "2"}}}]},
            "status": {"phase": phase}}


def run(objects: list[dict], pods, version: str | None = None, config=None):
    cluster = Cluster.from_objects(objects)
    cfg = config or NvidiaConfig.hami_defaults()
    v = HamiVersion(version) if version else infer_version(evidence_from_cluster(cluster, cfg))[0]
    state = state_from_cluster(cluster, cfg, v)
    return Simulator(state, cfg, SimulationOptions(version=v)).run(pods), state


MIG_GPU = {"id": "GPU-a", "count": 7, "devmem": 40960, "devcore": 100, "type": "NVIDIA A100-PCIE-40GB",
           "mode": "mig", "health": True, "migProfiles": PROFILE_1G_AT_6}


def test_v2_10_reservation_restored_by_profile_and_placement():
    held = running("pod-1", "node1", "GPU-a,NVIDIA,5120,14:;", [
        {"containerIndex": 0, "deviceIndex": 0, "gpuUUID": "GPU-a", "profile": "1g.5gb",
         "placement": {"start": 6, "size": 1}, "migUUID": "MIG-a", "gpuInstanceID": 7, "computeInstanceID": 0}])
    result, state = run([gpu_node("node1", [MIG_GPU]), held], [pod("new", gpu=1, gpumem=4000)])
    gpu = state.nodes["node1"].gpus[0]
    assert [(a.profile, a.placement.start) for a in gpu.allocations] == [("1g.5gb", 6)]
    assert result.version is HamiVersion.V2_10
    assert result.pods[0].reason == "0/1 nodes are available: 1 CardMigTopologyInfeasible."
    assert state.nodes["node1"].cpu_requested_m == 2000 and state.nodes["node1"].pods == 1


def test_v2_10_mig_gpu_used_without_reservation_fails_closed():
    result, state = run([gpu_node("node1", [MIG_GPU]), running("pod-1", "node1", "GPU-a,NVIDIA,5120,14:;")],
                        [pod("new", gpu=1, gpumem=4000)], version="2.10")
    assert state.nodes["node1"].gpus[0].health is False
    assert result.pods[0].reason == "0/1 nodes are available: 1 CardNotHealth."


def test_finished_pods_free_their_reservation():
    held = running("done", "node1", "GPU-a,NVIDIA,5120,14:;", [
        {"containerIndex": 0, "deviceIndex": 0, "gpuUUID": "GPU-a", "profile": "1g.5gb",
         "placement": {"start": 6, "size": 1}}], phase="Succeeded")
    result, _ = run([gpu_node("node1", [MIG_GPU]), held], [pod("new", gpu=1, gpumem=4000)], version="2.10")
    assert result.pods[0].allocations[0].placement.start == 6


def test_legacy_slots_from_existing_pods_lock_the_geometry():
    from migctl.config.model import DeviceConfig

    cfg = scheduler_nvidia_config(DeviceConfig.from_dict({"nvidia": {
        "resourceCountName": "nvidia.com/gpu", "resourceMemoryName": "nvidia.com/gpumem",
        "resourceCoreName": "nvidia.com/gpucores", "defaultGPUNum": 1,
        "knownMigGeometries": [{"models": ["A100-PCIE-40GB"], "allowedGeometries": [
            [{"name": "1g.5gb", "memory": 5120, "core": 14, "count": 7}],
            [{"name": "1g.5gb", "memory": 5120, "core": 14, "count": 1},
             {"name": "2g.10gb", "memory": 10240, "core": 28, "count": 3}]]}]}}))
    legacy_gpu = {k: v for k, v in MIG_GPU.items() if k != "migProfiles"} | {"count": 10}
    objects = [gpu_node("node1", [legacy_gpu]), running("old", "node1", "GPU-a[1-1],NVIDIA,10240,28:;")]
    result, state = run(objects, [pod("small", gpu=1, gpumem=4000), pod("mid", gpu=1, gpumem=8000)], config=cfg)
    assert result.version is HamiVersion.V2_9
    assert [p.annotations["hami.io/vgpu-devices-allocated"] for p in result.pods] == [
        "GPU-a[1-0],NVIDIA,5120,14:;", "GPU-a[1-2],NVIDIA,10240,28:;"]
    assert result.pods[1].to_dict()["devices"][0]["geometry"] == "2g.10gb:3,1g.5gb:1"


def test_not_ready_and_unschedulable_nodes():
    core = {"id": "GPU-c", "count": 10, "devmem": 40960, "devcore": 100, "type": "NVIDIA A100-PCIE-40GB",
            "mode": "hami-core", "health": True}
    objects = [
        gpu_node("down", [core | {"id": "GPU-d"}], conditions=[{"type": "Ready", "status": "False"}]),
        gpu_node("cordoned", [core], spec={"unschedulable": True}),
    ]
    result, _ = run(objects, [pod("p", gpu=1, gpumem=100, gpucores=1)], version="2.10")
    assert result.pods[0].reason == ("0/2 nodes are available: 1 node(s) had untolerated taint "
                                     "{node.kubernetes.io/not-ready: }, 1 node(s) were unschedulable.")


def test_v2_10_profiles_derived_from_the_catalogue_and_the_allowlist():
    from migctl.hardware.catalogue import load_catalogue
    from migctl.config.model import MigAllowlistEntry

    legacy_gpu = {k: v for k, v in MIG_GPU.items() if k != "migProfiles"} | {"count": 10}
    cluster = Cluster.from_objects([gpu_node("node1", [legacy_gpu])])
    notes: list[str] = []
    state = state_from_cluster(cluster, NvidiaConfig.hami_defaults(), HamiVersion.V2_10,
                               catalogue=load_catalogue(), notes=notes)
    gpu = state.nodes["node1"].gpus[0]
    # the chart's default allowlist for A100-40GB: 1g/2g/3g/7g (no 4g); count = the 1g instance count
    assert [p.name for p in gpu.profiles] == ["1g.5gb", "2g.10gb", "3g.20gb", "7g.40gb"]
    assert gpu.count == 7 and [p.core for p in gpu.profiles] == [15, 29, 43, 100]
    assert any("Helm chart's default" in n for n in notes)
    other = NvidiaConfig.hami_defaults(mig_profile_allowlist=(MigAllowlistEntry(("H100",), ("1g.10gb",)),))
    state = state_from_cluster(cluster, other, HamiVersion.V2_10, catalogue=load_catalogue(), notes=notes)
    assert state.nodes["node1"].gpus == []  # no matching entry: the plugin does not register the GPU
