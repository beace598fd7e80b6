"""Departures free devices exactly as HAMi sees it: the state after a pod leaves equals the state
HAMi's usage rebuild gives from the pods that remain (migctl.cluster's rebuild, an independent
implementation of ``getNodesUsage`` / ``buildNodeUsage``), for both generations."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migctl.cluster.model import Cluster
from migctl.config.load import load_device_config
from migctl.hardware.catalogue import load_catalogue
from migctl.replay.cluster import GpuModels, node_objects
from migctl.replay.openb import TraceNode
from migctl.config.model import NvidiaConfig
from migctl.simulate import HamiVersion, SimulationOptions, Simulator
from migctl.simulate.build import state_from_cluster
from migctl.simulate.pod import pod_from_object
from migctl.simulate.release import Departures
from migctl.config.model import scheduler_nvidia_config

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NODES = (TraceNode("m1", 64000, 262144, 2, "T4", "t:1"), TraceNode("m2", 64000, 262144, 1, "T4", "t:2"),
         TraceNode("c1", 64000, 262144, 2, "T4", "t:3"))
MIG = {"m1", "m2"}

# GPU requests that exercise the MIG paths: small, medium, a 3g-sized, two instances, whole GPU, CPU-only
SHAPES = (
    {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 4000},
    {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 9000},
    {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 18000},
    {"nvidia.com/gpu": 2, "nvidia.com/gpumem": 4000},
    {"nvidia.com/gpu": 1},
    {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 8000, "nvidia.com/gpucores": 30},
    {},
    "init",  # an init container and an app container, both with GPUs (peak per device entry)
)
MODES = (None, "mig", "hami-core")


def _config(version: str) -> NvidiaConfig:
    if version == "2.9":
        return scheduler_nvidia_config(load_device_config(EXAMPLES / "device-config.yaml").config)
    return NvidiaConfig.hami_defaults()


def _objects(config: NvidiaConfig) -> list[dict]:
    return node_objects(NODES, GpuModels("a100-40gb"), MIG, load_catalogue(), config.effective_device_split_count)


def _state(objects: list[dict], config: NvidiaConfig, version: HamiVersion):
    return state_from_cluster(Cluster.from_objects(objects), config, version, catalogue=load_catalogue())


def _pod_object(i: int, shape: int, mode: str | None) -> dict:
    annotations = {"nvidia.com/vgpu-mode": mode} if mode else {}
    requests = {"cpu": "1", "memory": "1Gi"}
    if SHAPES[shape] == "init":
        spec = {"initContainers": [{"name": "prep", "resources": {"limits": {"nvidia.com/gpu": 1,
                                                                              "nvidia.com/gpumem": 4000}}}],
                "containers": [{"name": "main", "resources": {"limits": {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 9000},
                                                              "requests": requests}}]}
    else:
        spec = {"containers": [{"name": "main", "resources": {"limits": dict(SHAPES[shape]), "requests": requests}}]}
    return {"kind": "Pod", "metadata": {"name": f"p{i}", "namespace": "t", "annotations": annotations}, "spec": spec}


def _bound(obj: dict, result) -> dict:
    """The pod as it sits in the cluster after HAMi placed it (annotations written, bound, running)."""
    meta = dict(obj["metadata"])
    meta["annotations"] = {**meta["annotations"], **result.annotations}
    return {**obj, "metadata": meta, "spec": {**obj["spec"], "nodeName": result.node}, "status": {"phase": "Running"}}


def _gpu_view(state) -> dict:
    out = {}
    for node in state.nodes.values():
        out[node.name] = (node.cpu_requested_m, node.memory_requested, node.pods)
        for g in node.gpus:
            slots = tuple((s.name, s.in_use) for s in g.usage_list)
            out[g.id] = (g.used, g.usedmem, g.usedcores, slots, g.mig_index if slots else None,
                         tuple(sorted((a.profile, a.placement.start, a.placement.size) for a in g.allocations)))
    return out


@pytest.mark.parametrize("version", ["2.9", "2.10"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_release_equals_rebuild_from_remaining_pods(version, data):
    config = _config(version)
    hv = HamiVersion(version)
    objects = _objects(config)
    state = _state(objects, config, hv)
    sim = Simulator(state, config, SimulationOptions(version=hv,
                                                     gpu_policy=data.draw(st.sampled_from(["spread", "binpack"]))))
    dep = Departures(sim)
    pods = data.draw(st.lists(st.tuples(st.integers(0, len(SHAPES) - 1), st.sampled_from(MODES)),
                              min_size=1, max_size=14))
    placed: dict[str, dict] = {}
    for i, (shape, mode) in enumerate(pods):
        obj = _pod_object(i, shape, mode)
        result = dep.place(pod_from_object(obj))
        if result.scheduled:
            placed[f"t/p{i}"] = _bound(obj, result)
    order = data.draw(st.permutations(sorted(placed)))
    for key in order[: data.draw(st.integers(0, len(order)))]:
        dep.release(key)
        del placed[key]
        truth = _state(objects + list(placed.values()), config, hv)
        assert _gpu_view(state) == _gpu_view(truth), f"after {key} left"


def test_legacy_geometry_unlocks_when_its_last_slot_frees():
    config = _config("2.9")
    hv = HamiVersion("2.9")
    objects = node_objects((TraceNode("m", 64000, 262144, 1, "T4", "t:1"),), GpuModels("a100-40gb"), {"m"},
                           load_catalogue(), config.effective_device_split_count)
    state = _state(objects, config, hv)
    dep = Departures(Simulator(state, config, SimulationOptions(version=hv)))
    gpu = state.nodes["m"].gpus[0]
    a = dep.place(pod_from_object(_pod_object(1, 1, "mig")))  # 9000 MiB: the 2g.10gb x3 + 1g.5gb geometry
    b = dep.place(pod_from_object(_pod_object(2, 1, "mig")))
    assert a.scheduled and b.scheduled and gpu.mig_index == 1
    big = pod_from_object(_pod_object(3, 2, "mig"))  # 18000 MiB needs 3g.20gb: not while the GPU is locked
    assert not dep.place(big).scheduled
    dep.release("t/p1")
    assert gpu.mig_index == 1 and sum(s.in_use for s in gpu.usage_list) == 1 and gpu.used == 1
    assert not dep.place(big).scheduled  # still locked by p2
    dep.release("t/p2")
    assert (gpu.used, gpu.usedmem, gpu.usedcores, gpu.usage_list, gpu.mig_index) == (0, 0, 0, [], -1)
    r = dep.place(pod_from_object(_pod_object(4, 2, "mig")))
    assert r.scheduled and r.allocations[0].profile == "3g.20gb" and gpu.mig_index == 2


def test_v2_10_reservations_and_hami_core_counters_go_with_their_pod():
    config = _config("2.10")
    hv = HamiVersion("2.10")
    objects = node_objects((TraceNode("m", 64000, 262144, 1, "T4", "t:1"), TraceNode("c", 64000, 262144, 1, "T4", "t:2")),
                           GpuModels("a100-40gb"), {"m"}, load_catalogue(), config.effective_device_split_count)
    state = _state(objects, config, hv)
    dep = Departures(Simulator(state, config, SimulationOptions(version=hv)))
    mig, core = state.nodes["m"].gpus[0], state.nodes["c"].gpus[0]
    dep.place(pod_from_object(_pod_object(1, 1, "mig")))
    dep.place(pod_from_object(_pod_object(2, 0, "mig")))
    dep.place(pod_from_object(_pod_object(3, 5, "hami-core")))
    dep.place(pod_from_object(_pod_object(4, 0, "hami-core")))
    assert len(mig.allocations) == 2 and (core.used, core.usedmem, core.usedcores) == (2, 12000, 30)
    dep.release("t/p1")
    assert [a.profile for a in mig.allocations] == ["1g.5gb"] and mig.used == 1
    dep.release("t/p3")
    assert (core.used, core.usedmem, core.usedcores) == (1, 4000, 0)
    assert state.nodes["c"].cpu_requested_m == 1000 and state.nodes["c"].pods == 1


@pytest.mark.parametrize("version", ["2.9", "2.10"])
def test_running_pods_of_a_snapshot_stay_when_replayed_pods_leave(version):
    """GPUs that carry a snapshot's running pods go back to exactly that state, not to idle."""
    from migctl.cluster.snapshot import load_snapshot

    cluster = load_snapshot(EXAMPLES / "cluster.yaml")
    config = _config(version)
    hv = HamiVersion(version)
    state = state_from_cluster(cluster, config, hv, catalogue=load_catalogue())
    before = _gpu_view(state)
    assert any(g.used for n in state.nodes.values() for g in n.gpus)  # the snapshot has GPU pods running
    dep = Departures(Simulator(state, config, SimulationOptions(version=hv)))
    keys = []
    for i in range(12):
        r = dep.place(pod_from_object(_pod_object(i, i % 6, MODES[i % 3])))
        if r.scheduled:
            keys.append(f"t/p{i}")
    assert keys and _gpu_view(state) != before
    for key in keys[::2] + keys[1::2]:
        dep.release(key)
    assert _gpu_view(state) == before
