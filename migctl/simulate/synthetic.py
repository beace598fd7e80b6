"""Deterministic synthetic clusters and pod mixes, for the throughput bench and the equivalence tests.

``synthetic_cluster(nodes, gpus_per_node)``: half the nodes hami-core, half MIG (A100-40GB, both
generations' MIG data filled in, so one cluster serves ``2.9`` and ``2.10``); ``synthetic_pods(n)``:
a mix of MIG, hami-core, unpinned, exclusive, multi-GPU, CPU-only and spread-annotated pods.
"""

from __future__ import annotations

import random

from migctl.simulate.pod import PodSpec, pod_from_object
from migctl.config.model import MigGeometryEntry, NvidiaConfig
from migctl.simulate.state import ClusterState, Gpu, MigProfileSpec, MigTemplate, Node, Placement

A100 = "NVIDIA A100-PCIE-40GB"


def _pl(size: int, *starts: int) -> tuple[Placement, ...]:
    return tuple(Placement(s, size) for s in starts)


A100_PROFILES = (
    MigProfileSpec("1g.5gb", 4864, 15, 1, _pl(1, 0, 1, 2, 3, 4, 5, 6)),
    MigProfileSpec("2g.10gb", 9984, 29, 2, _pl(2, 0, 2, 4)),
    MigProfileSpec("3g.20gb", 19968, 43, 3, _pl(4, 0, 4)),
    MigProfileSpec("7g.40gb", 40192, 100, 7, _pl(8, 0)),
)
A100_GEOMETRIES = (
    (MigTemplate("1g.5gb", 5120, 14, 7),),
    (MigTemplate("1g.5gb", 5120, 14, 1), MigTemplate("2g.10gb", 10240, 28, 3)),
    (MigTemplate("3g.20gb", 20480, 42, 2),),
    (MigTemplate("7g.40gb", 40960, 100, 1),),
)


def synthetic_config() -> NvidiaConfig:
    return NvidiaConfig.hami_defaults(known_mig_geometries=(MigGeometryEntry(("A100-PCIE-40GB",), A100_GEOMETRIES),))


def synthetic_cluster(nodes: int = 1000, gpus_per_node: int = 8, *, seed: int = 1) -> ClusterState:
    rng = random.Random(seed)
    state = ClusterState()
    for n in range(nodes):
        mig = n % 2 == 1
        name = f"{'mig' if mig else 'core'}-{n:05d}"
        gpus = []
        for i in range(gpus_per_node):
            uid = f"GPU-{n:05d}-{i}"
            if mig:
                gpus.append(Gpu(uid, i, 7, 40960, 100, A100, mode="mig", numa=i * 2 // gpus_per_node,
                                templates=A100_GEOMETRIES, profiles=A100_PROFILES))
            else:
                gpus.append(Gpu(uid, i, 10, 40960, 100, A100, numa=i * 2 // gpus_per_node))
        state.add(Node(name, gpus, labels={"kubernetes.io/hostname": name, "zone": f"z{rng.randrange(3)}"},
                       cpu_allocatable_m=rng.choice((32000, 64000, 96000)), memory_allocatable=512 * 2**30,
                       pods_allocatable=110))
    return state


def _pod(name: str, limits: dict, annotations: dict | None = None, selector: dict | None = None) -> dict:
    spec: dict = {"containers": [{"name": "main", "resources": {"limits": limits}}]}
    if selector:
        spec["nodeSelector"] = selector
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "bench", "annotations": annotations or {}}, "spec": spec}


def synthetic_pods(count: int = 10000, *, seed: int = 2) -> list[PodSpec]:
    return [pod_from_object(obj) for obj in synthetic_pod_objects(count, seed=seed)]


def synthetic_pod_objects(count: int = 10000, *, seed: int = 2) -> list[dict]:
    """The Pod objects of :func:`synthetic_pods` (what a pod file holds; the CLI bench writes them)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        kind = rng.random()
        name = f"pod-{i:06d}"
        cpu = rng.choice(("500m", "1", "2"))
        if kind < 0.30:
            out.append(_pod(name, {"nvidia.com/gpu": 1, "nvidia.com/gpumem": rng.choice((4000, 9000, 19000)), "cpu": cpu},
                            {"nvidia.com/vgpu-mode": "mig"}))
        elif kind < 0.55:
            out.append(_pod(name, {"nvidia.com/gpu": rng.choice((1, 1, 2)), "nvidia.com/gpumem": rng.choice((2000, 8000, 16000)),
                                   "nvidia.com/gpucores": rng.choice((10, 25, 50)), "cpu": cpu},
                            {"nvidia.com/vgpu-mode": "hami-core"}))
        elif kind < 0.70:
            out.append(_pod(name, {"nvidia.com/gpu": 1, "nvidia.com/gpumem": rng.choice((4000, 10000)), "cpu": cpu}))
        elif kind < 0.78:
            out.append(_pod(name, {"nvidia.com/gpu": 1, "cpu": cpu}, {"nvidia.com/vgpu-mode": "hami-core"}))
        elif kind < 0.86:
            out.append(_pod(name, {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 8000, "nvidia.com/gpucores": 20, "cpu": cpu},
                            {"hami.io/node-scheduler-policy": "spread", "hami.io/gpu-scheduler-policy": "binpack",
                             "nvidia.com/vgpu-mode": "hami-core"}))
        elif kind < 0.89:
            out.append(_pod(name, {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 4000, "cpu": cpu},
                            {"nvidia.com/vgpu-mode": "mig"}, selector={"zone": "z1"}))
        elif kind < 0.90:  # never fits: more memory than any GPU has
            out.append(_pod(name, {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 50000, "cpu": cpu}))
        else:
            out.append(_pod(name, {"cpu": rng.choice(("1", "4")), "memory": "4Gi"}))
    return out
