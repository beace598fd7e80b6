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
from migctl.simulate import HamiVersion, SchedulerConfig, SimulationOptions, Simulator
from migctl.simulate.build import state_from_cluster
from migctl.simulate.pod import pod_from_object
from migctl.simulate.release import Departures
from migctl.simulate.scheduler_config import from_device_config

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
)
MODES = (None, "mig", "hami-core")


def _config(version: str) -> SchedulerConfig:
    if version == "2.9":
        return from_device_config(load_device_config(EXAMPLES / "device-config.yaml").config)
    return SchedulerConfig.hami_defaults()


def _objects(config: SchedulerConfig) -> list[dict]:
    return node_objects(NODES, GpuModels("a100-40gb"), MIG, load_catalogue(), config.device_split_count)


def _state(objects: list[dict], config: SchedulerConfig, version: HamiVersion):
    return state_from_cluster(Cluster.from_objects(objects), config, version, catalogue=load_catalogue())


def _pod_object(i: int, shape: int, mode: str | None) -> dict:
    annotations = {"nvidia.com/vgpu-mode": mode} if mode else {}
    limits = {k: v for k, v in SHAPES[shape].items()}
    return {"kind": "Pod", "metadata": {"name": f"p{i}", "namespace": "t", "annotations": annotations},
            "spec": {"containers": [{"name": "main", "resources": {"limits": limits,
                                                                    "requests": {"cpu": "1", "memory": "1Gi"}}}]}}


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
