"""Generate a synthetic HAMi cluster snapshot (a ``v1 List`` like ``kubectl get nodes,pods -A -o yaml``).

Half the nodes are hami-core, half MIG (A100-PCIE-40GB, 8 GPUs each by default); pods are spread round
robin over the GPUs with HAMi's annotations for the chosen generation:

- ``v2.9``: JSON register, legacy ``[t-s]`` slots on MIG GPUs (template 0, ``1g.5gb:7``) and the
  ``hami-scheduler-device`` ConfigMap with ``knownMigGeometries``;
- ``v2.10``: ``migProfiles`` in the register and ``hami.io/vgpu-mig-allocations`` reservations.

Usage::

    .venv/bin/python bench/gen_cluster.py -o /tmp/big.json                       # 5,000 nodes, 100,000 pods
    .venv/bin/python bench/gen_cluster.py --nodes 100 --pods 2000 -o small.yaml  # YAML by extension
    .venv/bin/python bench/gen_cluster.py --realistic -o real.json                # kubectl-sized pods

Reusable: ``from gen_cluster import generate`` (with ``bench/`` on ``sys.path``) yields the objects.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from random import Random
from typing import Any

GPU_TYPE = "NVIDIA A100-PCIE-40GB"
SEED_CONFIG = """nvidia:
  resourceCountName: nvidia.com/gpu
  resourceMemoryName: nvidia.com/gpumem
  resourceCoreName: nvidia.com/gpucores
  knownMigGeometries:
  - models: ["A100-SXM4-40GB", "A100-40GB-PCIe", "A100-PCIE-40GB"]
    allowedGeometries:
    - - {name: 1g.5gb, memory: 5120, core: 14, count: 7}
    - - {name: 1g.5gb, memory: 5120, core: 14, count: 1}
      - {name: 2g.10gb, memory: 10240, core: 28, count: 3}
    - - {name: 3g.20gb, memory: 20480, core: 42, count: 2}
    - - {name: 7g.40gb, memory: 40960, core: 100, count: 1}
"""
MIG_PROFILES = [
    {"name": "1g.5gb", "memoryMB": 4864, "core": 15, "sliceCount": 1,
     "placements": [{"start": i, "size": 1} for i in range(7)]},
    {"name": "2g.10gb", "memoryMB": 9984, "core": 29, "sliceCount": 2,
     "placements": [{"start": i, "size": 2} for i in (0, 2, 4)]},
    {"name": "3g.20gb", "memoryMB": 19968, "core": 43, "sliceCount": 3,
     "placements": [{"start": 0, "size": 4}, {"start": 4, "size": 4}]},
    {"name": "7g.40gb", "memoryMB": 40192, "core": 100, "sliceCount": 7, "placements": [{"start": 0, "size": 8}]},
]


def _gpu_uuid(rng: Random) -> str:
    return "GPU-" + str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _node(name: str, gpus: list[str], mig: bool, generation: str, realistic: bool) -> dict[str, Any]:
    devices = []
    for i, gid in enumerate(gpus):
        d: dict[str, Any] = {"id": gid, "count": 7 if (mig and generation == "v2.10") else 10, "devmem": 40960,
                             "devcore": 100, "type": GPU_TYPE, "mode": "mig" if mig else "hami-core"}
        if i:
            d = {"id": gid, "index": i, **{k: v for k, v in d.items() if k != "id"}}
        if mig and generation == "v2.10":
            d["migProfiles"] = MIG_PROFILES
        d["health"] = True
        devices.append(d)
    node: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "gpu": "on",
                       "nvidia.com/gpu.product": GPU_TYPE.replace(" ", "-")},
            "annotations": {
                "hami.io/node-handshake": "Requesting_2026-11-28 09:00:00",
                "hami.io/node-nvidia-register": json.dumps(devices, separators=(",", ":")),
            },
        },
        "spec": {"podCIDR": "10.244.0.0/24"},
        "status": {
            "allocatable": {"cpu": "128", "memory": "1Ti", "nvidia.com/gpu": str(10 * len(gpus)), "pods": "110"},
            "capacity": {"cpu": "128", "memory": "1Ti", "nvidia.com/gpu": str(10 * len(gpus)), "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        },
    }
    if realistic:
        node["metadata"]["labels"].update({f"feature.node.kubernetes.io/cpu-{k}": "true" for k in range(30)})
        node["status"]["nodeInfo"] = {"kubeletVersion": "v1.30.2", "containerRuntimeVersion": "containerd://1.7.18",
                                      "osImage": "Ubuntu 22.04.4 LTS", "kernelVersion": "5.15.0-113-generic"}
        node["status"]["images"] = [{"names": [f"registry.example.com/team/image-{k}@sha256:{'0' * 64}"],
                                     "sizeBytes": 123456789} for k in range(25)]
        node["status"]["conditions"] += [{"type": t, "status": "False", "reason": f"KubeletHas{t}"}
                                         for t in ("MemoryPressure", "DiskPressure", "PIDPressure")]
    return node


def _pod(i: int, node: str, gpu: str, mig: bool, slot: int, generation: str, realistic: bool) -> dict[str, Any]:
    ns = f"team-{i % 50}"
    ann = {"hami.io/vgpu-node": node, "hami.io/bind-phase": "success", "hami.io/vgpu-time": "1764320399",
           "hami.io/bind-time": "1764320400"}
    limits = {"nvidia.com/gpu": "1", "nvidia.com/gpumem": "4000"}
    if mig and generation == "v2.9":
        ann["hami.io/vgpu-devices-allocated"] = f"{gpu}[0-{slot}],NVIDIA,5120,14:;"
        ann["nvidia.com/vgpu-mode"] = "mig"
    elif mig:
        ann["hami.io/vgpu-devices-allocated"] = f"{gpu},NVIDIA,4864,15:;"
        ann["hami.io/vgpu-mig-allocations"] = json.dumps(
            [{"containerIndex": 0, "deviceIndex": 0, "gpuUUID": gpu, "profile": "1g.5gb",
              "placement": {"start": 6 - slot, "size": 1}}], separators=(",", ":"))
        ann["nvidia.com/vgpu-mode"] = "mig"
    else:
        ann["hami.io/vgpu-devices-allocated"] = f"{gpu},NVIDIA,4000,10:;"
        limits["nvidia.com/gpucores"] = "10"
    ann["hami.io/vgpu-devices-to-allocate"] = ";"
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"job-{i:06d}", "namespace": ns, "uid": str(uuid.UUID(int=i)),
                     "labels": {"app": f"job-{i % 1000}"}, "annotations": ann},
        "spec": {
            "nodeName": node,
            "schedulerName": "hami-scheduler",
            "containers": [{"name": "main", "image": "registry.example.com/ml/trainer:1.0",
                            "resources": {"limits": limits, "requests": {"cpu": "2", "memory": "8Gi", **limits}}}],
        },
        "status": {"phase": "Running"},
    }
    if realistic:
        pod["metadata"]["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": f"job-{i:06d}",
                                               "uid": str(uuid.UUID(int=i + 1)), "controller": True}]
        c = pod["spec"]["containers"][0]
        c.update({"command": ["python", "-m", "trainer"], "args": ["--epochs", "10", "--data", "/data"],
                  "env": [{"name": f"VAR_{k}", "value": f"value-{k}"} for k in range(8)],
                  "volumeMounts": [{"name": "data", "mountPath": "/data"},
                                   {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io",
                                    "readOnly": True}],
                  "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log"})
        pod["spec"].update({
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": f"data-{i % 100}"}},
                        {"name": "kube-api-access", "projected": {"sources": [{"serviceAccountToken": {
                            "expirationSeconds": 3607, "path": "token"}}]}}],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                             "tolerationSeconds": 300},
                            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "restartPolicy": "Never", "dnsPolicy": "ClusterFirst", "serviceAccountName": "default",
        })
        pod["status"].update({
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": "2026-11-28T09:00:00Z"}
                           for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                                     "PodScheduled")],
            "containerStatuses": [{"name": "main", "ready": True, "restartCount": 0, "started": True,
                                   "image": "registry.example.com/ml/trainer:1.0",
                                   "imageID": "registry.example.com/ml/trainer@sha256:" + "0" * 64,
                                   "containerID": "containerd://" + "0" * 64,
                                   "state": {"running": {"startedAt": "2026-11-28T09:00:01Z"}}}],
            "hostIP": "10.0.0.1", "podIP": "10.244.0.10", "qosClass": "Burstable",
            "startTime": "2026-11-28T09:00:00Z",
        })
    return pod


def generate(
    nodes: int = 5000,
    gpus_per_node: int = 8,
    pods: int = 100_000,
    *,
    generation: str = "v2.9",
    realistic: bool = False,
    seed: int = 1,
) -> Iterator[dict[str, Any]]:
    """Yield the snapshot's objects: nodes, then pods, then (v2.9) the device ConfigMap."""
    rng = Random(seed)
    layout: list[tuple[str, list[str], bool]] = []
    for n in range(nodes):
        name = f"gpu-node-{n:05d}"
        gpus = [_gpu_uuid(rng) for _ in range(gpus_per_node)]
        mig = n % 2 == 1
        layout.append((name, gpus, mig))
        yield _node(name, gpus, mig, generation, realistic)
    all_gpus = [(name, gid, mig) for name, gpus, mig in layout for gid in gpus]
    used: dict[str, int] = {}
    for i in range(pods):
        name, gid, mig = all_gpus[i % len(all_gpus)] if all_gpus else ("none", "GPU-none", False)
        slot = used.get(gid, 0)
        used[gid] = slot + 1
        if mig and slot >= 7:  # a full MIG GPU: put the pod on its hami-core neighbour's slot instead
            mig = False
        yield _pod(i, name, gid, mig, slot, generation, realistic)
    if generation == "v2.9":
        yield {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "hami-scheduler-device", "namespace": "kube-system"},
               "data": {"device-config.yaml": SEED_CONFIG}}


def write(path: Path, objects: Iterator[dict[str, Any]], fmt: str) -> None:
    """Stream a v1 List in kubectl's layout (JSON, or YAML with items at column 0)."""
    with path.open("w", encoding="utf-8") as fh:
        if fmt == "json":
            fh.write('{\n    "apiVersion": "v1",\n    "items": [\n')
            for k, obj in enumerate(objects):
                fh.write((",\n" if k else "") + json.dumps(obj, indent=None, separators=(", ", ": ")))
            fh.write('\n    ],\n    "kind": "List",\n    "metadata": {\n        "resourceVersion": ""\n    }\n}\n')
            return
        import yaml

        dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        fh.write("apiVersion: v1\nitems:\n")
        batch: list[dict[str, Any]] = []
        for obj in objects:
            batch.append(obj)
            if len(batch) == 500:
                fh.write(yaml.dump(batch, Dumper=dumper, sort_keys=False, default_flow_style=False))
                batch = []
        if batch:
            fh.write(yaml.dump(batch, Dumper=dumper, sort_keys=False, default_flow_style=False))
        fh.write('kind: List\nmetadata:\n  resourceVersion: ""\n')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", required=True, help="file to write (.json = JSON, else YAML)")
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--gpus-per-node", type=int, default=8)
    parser.add_argument("--pods", type=int, default=100_000)
    parser.add_argument("--generation", choices=["v2.9", "v2.10"], default="v2.9")
    parser.add_argument("--realistic", action="store_true", help="pad objects to kubectl-like sizes")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    path = Path(args.output)
    fmt = "json" if path.suffix == ".json" else "yaml"
    write(path, generate(args.nodes, args.gpus_per_node, args.pods, generation=args.generation,
                         realistic=args.realistic, seed=args.seed), fmt)
    size = path.stat().st_size
    print(f"wrote {path}: {args.nodes} nodes, {args.nodes * args.gpus_per_node} GPUs, {args.pods} pods, "
          f"{size / 2**20:.1f} MiB ({fmt}, {args.generation}{', realistic' if args.realistic else ''})",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
