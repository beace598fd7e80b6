"""The simulator records a placed pod as HAMi's next scheduling cycle rebuilds it from the annotations
it wrote (v2.9.0 ``getNodesUsage``; v2.10.0 ``CollapseInitContainerUsage``), for both generations."""

from __future__ import annotations

import json

import pytest

from simulate_support import (
    T,
    cluster,
    core_gpu,
    current_mig_gpu,
    legacy_config,
    legacy_mig_gpu,
    node,
    placed,
    pod,
    simulate,
)



# ------------------------------------------------------------ what the next cycle rebuilds (hami.md §2.3)


def _register(gpus: list[dict]) -> dict:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "n1", "annotations": {"hami.io/node-nvidia-register": json.dumps(gpus)}},
            "status": {"allocatable": {"cpu": "64", "memory": "512Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def _gpu_view(state, legacy: bool) -> list[tuple]:
    out = []
    for g in state.nodes["n1"].gpus:
        mig = ([s.in_use for s in g.usage_list] if legacy
               else sorted((a.profile, a.placement.start) for a in g.allocations))
        out.append((g.id, g.used, g.usedmem, g.usedcores, mig))
    return out


BUGGY_GEOMETRY = ((T("1g.5gb", 5120, 3, 14), T("2g.10gb", 10240, 2, 28)), (T("3g.20gb", 20480, 2, 42),))


@pytest.mark.parametrize("version,geometries", [("2.9", None), ("2.9", BUGGY_GEOMETRY), ("2.10", None)])
@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("gpu_less_type", [None, "NVIDIA A100-PCIE-40GB", "NVIDIA"])
def test_simulated_pods_count_as_the_next_cycle_rebuilds_them(version, geometries, seed, gpu_less_type):
    """After the simulation, rebuilding the node from the annotations it wrote (the cluster package,
    HAMi's getNodesUsage) gives the very usage the simulator carried on with, per generation (v2.9.0:
    every entry adds; v2.10.0: CollapseInitContainerUsage). ``gpu_less_type``: some containers ask for
    no GPU and the GPUs register that type (v2.10.0 writes the unpadded layout unless it is "NVIDIA")."""
    import random

    from migctl.cluster.model import Cluster
    from migctl.simulate.build import state_from_cluster
    from migctl.simulate.pod import pod_from_object
    from migctl.simulate import HamiVersion, SimulationOptions, Simulator

    rng = random.Random(seed)
    legacy = version == "2.9"
    profiles = [{"name": "1g.5gb", "memoryMB": 4864, "core": 15, "sliceCount": 1,
                 "placements": [{"start": s, "size": 1} for s in range(7)]},
                {"name": "2g.10gb", "memoryMB": 9984, "core": 29, "sliceCount": 2,
                 "placements": [{"start": s, "size": 2} for s in (0, 2, 4)]},
                {"name": "3g.20gb", "memoryMB": 19968, "core": 43, "sliceCount": 3,
                 "placements": [{"start": s, "size": 4} for s in (0, 4)]}]
    gpus = []
    for i in range(3):
        mig = i < 2
        g = {"id": f"GPU-{i}", "index": i, "count": 10 if legacy or not mig else 7, "devmem": 40960,
             "devcore": 100, "type": gpu_less_type or "NVIDIA A100-PCIE-40GB", "mode": "mig" if mig else "hami-core",
             "health": True}
        if mig and not legacy:
            g["migProfiles"] = profiles
        gpus.append(g)
    config = legacy_config(geometries) if geometries else legacy_config()
    node_obj = _register(gpus)

    def container(name: str) -> dict:
        if gpu_less_type and rng.random() < 0.35:
            return {"name": name, "resources": {"limits": {"cpu": "100m"}}}
        limits = {"nvidia.com/gpu": rng.choice([1, 1, 2]), "nvidia.com/gpumem": rng.choice([3000, 8000, 15000])}
        if rng.random() < 0.5:
            limits["nvidia.com/gpucores"] = rng.choice([0, 10, 30])
        return {"name": name, "resources": {"limits": limits}}

    objects = []
    for n in range(8):
        spec: dict = {"containers": [container("a")] + ([container("b")] if rng.random() < 0.3 else [])}
        if rng.random() < 0.3:
            spec["initContainers"] = [container("init")]
        annotations = {"hami.io/gpu-scheduler-policy": rng.choice(["binpack", "spread"])}
        objects.append({"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": f"p{n}", "namespace": "default", "annotations": annotations},
                        "spec": spec})

    v = HamiVersion(version)
    state = state_from_cluster(Cluster.from_objects([node_obj]), config, v)
    result = Simulator(state, config, SimulationOptions(version=v)).run([pod_from_object(o) for o in objects])
    assert result.scheduled >= 1
    placed_objects = [node_obj]
    for obj, p in zip(objects, result.pods):
        if p.scheduled:
            obj = json.loads(json.dumps(obj))
            obj["metadata"]["annotations"].update(p.annotations)
            obj["spec"]["nodeName"] = p.node
            obj["status"] = {"phase": "Running"}
            placed_objects.append(obj)
    rebuilt = state_from_cluster(Cluster.from_objects(placed_objects), config, v)
    assert _gpu_view(rebuilt, legacy) == _gpu_view(state, legacy)
