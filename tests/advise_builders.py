"""Hand-made clusters for the advise tests (Kubernetes objects as ``kubectl get -o yaml`` prints them)."""

from __future__ import annotations

import json
from typing import Any

GPU_TYPE = "NVIDIA A100-SXM4-40GB"

#: legacy geometries for A100-40GB: all 1g first, then two 3g
LEGACY_CONFIG = """\
nvidia:
  resourceCountName: nvidia.com/gpu
  resourceMemoryName: nvidia.com/gpumem
  resourceCoreName: nvidia.com/gpucores
  knownMigGeometries:
  - models: ["A100-SXM4-40GB"]
    allowedGeometries:
    - - name: 1g.5gb
        memory: 4864
        count: 7
    - - name: 3g.20gb
        memory: 19968
        count: 2
"""


def node(name: str, gpus: int, mode: str = "mig", *, cpu: str = "64", memory: str = "512Gi") -> dict[str, Any]:
    devices = [{"id": f"GPU-{name}-{i}", "index": i, "count": 10, "devmem": 40960, "devcore": 100,
                "type": GPU_TYPE, "numa": 0, "mode": mode, "health": True} for i in range(gpus)]
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name},
                     "annotations": {"hami.io/node-nvidia-register": json.dumps(devices)}},
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110", "nvidia.com/gpu": str(gpus * 10)},
                   "capacity": {"cpu": cpu, "memory": memory},
                   "conditions": [{"type": "Ready", "status": "True"}]},
    }


def pod(name: str, mem: int, *, node_name: str | None = None, device: str | None = None,
        owner: tuple[str, str] | None = ("ReplicaSet", "web-7d9f"), labels: dict[str, str] | None = None,
        namespace: str = "default", phase: str | None = None) -> dict[str, Any]:
    """A one-GPU pod asking ``mem`` MiB; running on ``node_name`` with ``device`` (HAMi's
    ``UUID[t-s],NVIDIA,mem,core`` text) or Pending."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels or {"app": name})}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1],
                                    "uid": f"uid-{owner[1]}", "controller": True}]
    spec: dict[str, Any] = {"containers": [{"name": "main", "image": "x",
                                            "resources": {"limits": {"nvidia.com/gpu": "1",
                                                                     "nvidia.com/gpumem": str(mem)}}}]}
    if node_name is not None:
        meta["annotations"] = {"hami.io/vgpu-node": node_name, "hami.io/bind-phase": "success",
                               "hami.io/vgpu-devices-allocated": f"{device}:;"}
        spec["nodeName"] = node_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": {"phase": phase or ("Running" if node_name else "Pending")}}


def configmap(text: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "hami-scheduler-device", "namespace": "kube-system"},
            "data": {"device-config.yaml": text}}


def pdb(name: str, match: dict[str, str], allowed: int, namespace: str = "default") -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": match}},
            "status": {"disruptionsAllowed": allowed, "currentHealthy": 1, "desiredHealthy": 1}}


def one_move_cluster() -> list[dict[str, Any]]:
    """n1/GPU0 locked to 1g.5gb x7 by one small pod; n2/GPU0 has free 1g slots (one in use); a
    Pending 20 GB pod needs a 3g slot. Moving ``small-a`` (to n2) unlocks n1's GPU for the 3g pod.
    ``bare`` sits alone on n3 and may not move; ``guarded`` (n4) is covered by a PDB at its limit."""
    return [
        node("n1", 1), node("n2", 1), node("n3", 1), node("n4", 1), configmap(LEGACY_CONFIG),
        pod("small-a", 4000, node_name="n1", device="GPU-n1-0[0-0],NVIDIA,4864,0"),
        pod("small-b", 4000, node_name="n2", device="GPU-n2-0[0-0],NVIDIA,4864,0"),
        pod("small-c", 4000, node_name="n2", device="GPU-n2-0[0-1],NVIDIA,4864,0"),
        pod("bare", 4000, node_name="n3", device="GPU-n3-0[0-0],NVIDIA,4864,0", owner=None),
        pod("guarded", 4000, node_name="n4", device="GPU-n4-0[0-0],NVIDIA,4864,0",
            owner=("StatefulSet", "db"), labels={"app": "db"}),
        pdb("db-pdb", {"app": "db"}, 0),
        pod("big", 19000, owner=("Job", "train")),
    ]


def as_list(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "List", "items": objects, "metadata": {"resourceVersion": ""}}


#: 3g geometry listed first: small pods lock idle GPUs into two 3g slots and strand the rest
STRANDING_CONFIG = """\
nvidia:
  resourceCountName: nvidia.com/gpu
  resourceMemoryName: nvidia.com/gpumem
  resourceCoreName: nvidia.com/gpucores
  knownMigGeometries:
  - models: ["A100-SXM4-40GB"]
    allowedGeometries:
    - - name: 3g.20gb
        memory: 19968
        core: 43
        count: 2
    - - name: 1g.5gb
        memory: 4864
        core: 15
        count: 7
"""


def stranding_cluster() -> list[dict[str, Any]]:
    """Two nodes with one MIG A100-40GB each, no pods, the 3g-first config."""
    return [node("m1", 1), node("m2", 1), configmap(STRANDING_CONFIG)]


def small_workload(replicas: int = 14, mem: int = 4000) -> dict[str, Any]:
    """A Deployment of small one-GPU pods, all arriving at once and staying."""
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "infer", "namespace": "default"},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": "infer"}}, "spec": {
                "containers": [{"name": "main", "image": "x", "resources": {"limits": {
                    "nvidia.com/gpu": "1", "nvidia.com/gpumem": str(mem)}}}]}}}}
