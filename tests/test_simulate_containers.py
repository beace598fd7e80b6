"""Init containers and containers without GPUs, as HAMi v2.9.0 and v2.10.0 really treat them.

Every case runs the same pod under both generations and gets different answers; each docstring names
the Go function (at the tag) that decides, and the trace by hand.
"""

from __future__ import annotations

import json
from dataclasses import replace

from simulate_support import (
    cluster,
    core_gpu,
    current_mig_gpu,
    legacy_config,
    legacy_mig_gpu,
    node,
    pod,
    simulate,
)

from migctl.config.model import NvidiaConfig
from migctl.simulate import HamiVersion
from migctl.simulate.requests import mutate

MIG = {"nvidia.com/vgpu-mode": "mig"}
ALLOCATED = "hami.io/vgpu-devices-allocated"
RESERVATIONS = "hami.io/vgpu-mig-allocations"


def ctr(name: str, **limits) -> dict:
    names = {"gpu": "nvidia.com/gpu", "gpumem": "nvidia.com/gpumem", "gpucores": "nvidia.com/gpucores"}
    return {"name": name, "resources": {"limits": {names.get(k, k): v for k, v in limits.items()}}}


def usage(state, name: str = "n1") -> list[tuple[str, int, int, int]]:
    return [(g.id, g.used, g.usedmem, g.usedcores) for g in state.nodes[name].gpus]


# ------------------------------------------------------------ issue 11 (1): placement of init containers


def test_v2_9_init_devices_count_for_the_app_container_so_the_pod_stays_pending():
    """HAMi v2.9.0 pkg/scheduler/score.go ``calcScore`` fits init containers first on the same
    ``NodeUsage`` as the app containers (no copy): init 30000 MiB leaves 10960 of 40960 MiB, so the app
    container's 20000 MiB fails (CardInsufficientMemory) and the pod stays Pending. v2.10.0's
    ``scoreNode`` fits the init container on ``node.DeepCopy()`` (``allocateInitContainers``) and the app
    container on a fresh app copy: both fit, and the GPU keeps the peak (30000 MiB, one slot)."""
    pods = [pod("p", init=[ctr("init", gpu=1, gpumem=30000)], containers=[ctr("app", gpu=1, gpumem=20000)])]
    old = cluster(node("n1", [core_gpu(0)]))
    r9 = simulate(old, pods, version="2.9")
    assert not r9.pods[0].scheduled
    assert r9.pods[0].reason == "0/1 nodes are available: 1 CardInsufficientMemory."
    new = cluster(node("n1", [core_gpu(0)]))
    r10 = simulate(new, pods, version="2.10")
    assert r10.pods[0].annotations[ALLOCATED] == "GPU-0,NVIDIA,30000,0:;GPU-0,NVIDIA,20000,0:;"
    assert usage(new) == [("GPU-0", 1, 30000, 0)]


def test_v2_9_app_container_avoids_the_gpu_its_init_container_took():
    """Two idle GPUs, spread. The init container (10000 MiB) ties and Fit walks from the end: GPU-1.
    v2.9.0 ``calcScore``: the app container then sorts a node where GPU-1 is busy, so spread puts the idle
    GPU-0 last and takes it; the rebuild (``getNodesUsage``) adds both devices. v2.10.0
    ``allocateAppContainers`` fits on a copy without the init device: the tie again, GPU-1, and
    ``CollapseInitContainerUsage`` keeps one slot of 10000 MiB."""
    pods = [pod("p", init=[ctr("init", gpu=1, gpumem=10000)], containers=[ctr("app", gpu=1, gpumem=10000)])]
    old = cluster(node("n1", [core_gpu(0), core_gpu(1)]))
    r9 = simulate(old, pods, version="2.9")
    assert r9.pods[0].annotations[ALLOCATED] == "GPU-1,NVIDIA,10000,0:;GPU-0,NVIDIA,10000,0:;"
    assert usage(old) == [("GPU-0", 1, 10000, 0), ("GPU-1", 1, 10000, 0)]
    new = cluster(node("n1", [core_gpu(0), core_gpu(1)]))
    r10 = simulate(new, pods, version="2.10")
    assert r10.pods[0].annotations[ALLOCATED] == "GPU-1,NVIDIA,10000,0:;GPU-1,NVIDIA,10000,0:;"
    assert usage(new) == [("GPU-0", 0, 0, 0), ("GPU-1", 1, 10000, 0)]


def test_v2_9_init_container_counts_against_the_exclusive_rule():
    """Binpack; init container 1000 MiB with ``gpucores: 0``, app container asking a GPU exclusively
    (``gpucores: 100``). v2.9.0 ``calcScore`` keeps the init device in the shared usage: binpack sorts the
    busy GPU-1 (where the init container went: the tie, walked from the end) last, the app meets ``Used``
    1 there and pkg/device/nvidia/device.go ``Fit``'s exclusive rule refuses it
    (ExclusiveDeviceAllocateConflict): it takes GPU-0. v2.10.0 fits the app container on a copy without
    the init device: the tie again, GPU-1."""
    pods = [pod("p", init=[ctr("init", gpu=1, gpumem=1000, gpucores=0)],
                containers=[ctr("app", gpu=1, gpumem=1000, gpucores=100)],
                annotations={"hami.io/gpu-scheduler-policy": "binpack"})]
    old = cluster(node("n1", [core_gpu(0), core_gpu(1)]))
    r9 = simulate(old, pods, version="2.9", explain=True).pods[0]
    assert r9.annotations[ALLOCATED] == "GPU-1,NVIDIA,1000,0:;GPU-0,NVIDIA,1000,100:;"
    walk = [(g["container"], g["gpu_uuid"], g["verdict"]) for g in r9.verdicts[0].gpus]
    assert ("app", "GPU-1", "ExclusiveDeviceAllocateConflict") in walk
    new = cluster(node("n1", [core_gpu(0), core_gpu(1)]))
    r10 = simulate(new, pods, version="2.10").pods[0]
    assert r10.annotations[ALLOCATED] == "GPU-1,NVIDIA,1000,0:;GPU-1,NVIDIA,1000,100:;"
    assert usage(new)[1] == ("GPU-1", 1, 1000, 100)


def test_v2_9_init_and_app_share_the_mig_geometry_of_one_gpu():
    """Legacy MIG, chart geometries. v2.9.0 ``calcScore``: the init container (15000 MiB) takes the idle
    GPU's geometry 2 (3g.20gb x2), slot 0 (``AddResourceUsage`` reset branch, ``[2-0]``); the app
    container (8000 MiB) then finds geometry 2 in use and takes its free slot 1 (``[2-1]``, 20480 MiB):
    the GPU is full and the next 8000 MiB pod stays Pending. (The fresh-copy accounting gave the app
    ``[1-1]`` of another geometry, a state v2.9.0 cannot rebuild.) v2.10.0 on a v2.10 MIG GPU
    (``selectMigCandidate``): the init container's 3g.20gb at start 4 on a copy, the app's 2g.10gb at
    start 0, both reserved, and the next pod's 2g.10gb fits at start 2."""
    pods = [pod("p", init=[ctr("init", gpu=1, gpumem=15000)], containers=[ctr("main", gpu=1, gpumem=8000)]),
            pod("q", gpu=1, gpumem=8000)]
    old = cluster(node("n1", [legacy_mig_gpu(0)]))
    p, q = simulate(old, pods, version="2.9", config=legacy_config()).pods
    assert p.annotations[ALLOCATED] == "GPU-0[2-0],NVIDIA,20480,42:;GPU-0[2-1],NVIDIA,20480,42:;"
    assert q.reason == "0/1 nodes are available: 1 CardInsufficientMemory."
    gpu = old.nodes["n1"].gpus[0]
    assert (gpu.used, gpu.usedmem, gpu.usedcores, gpu.mig_index) == (2, 40960, 84, 2)
    assert [s.in_use for s in gpu.usage_list] == [True, True]

    new = cluster(node("n1", [current_mig_gpu(0)]))
    p, q = simulate(new, [replace(x, annotations=MIG) for x in pods], version="2.10").pods
    reservations = json.loads(p.annotations[RESERVATIONS])
    assert [(r["containerIndex"], r["profile"], r["placement"]["start"]) for r in reservations] == [
        (0, "3g.20gb", 4), (1, "2g.10gb", 0)]
    assert q.scheduled and json.loads(q.annotations[RESERVATIONS])[0]["placement"]["start"] == 2


# ------------------------------------------------------------ issue 11 (3): the webhook


def test_v2_9_webhook_leaves_init_containers_alone():
    """v2.9.0 pkg/scheduler/webhook.go ``Handle`` calls ``MutateAdmission`` for ``pod.Spec.Containers``
    only; v2.10.0's also for ``pod.Spec.InitContainers``. An init container with only ``gpumem``: v2.10
    adds ``defaultGPUNum`` (it asks for one GPU), v2.9 does not (it asks for none, and v2.9 pads its
    entry). An init container with only ``nvidia.com/gpu``: v2.10 makes it exclusive (``gpucores: 100``,
    ``defaultExclusiveCoreIfNeeded``), v2.9 leaves the cores at ``defaultCores``."""
    pods = [pod("p", init=[ctr("init", gpumem=1000)], containers=[ctr("app", gpu=1, gpumem=2000)])]
    r9 = simulate(cluster(node("n1", [core_gpu(0)])), pods, version="2.9")
    assert r9.pods[0].annotations[ALLOCATED] == ";GPU-0,NVIDIA,2000,0:;"
    r10 = simulate(cluster(node("n1", [core_gpu(0)])), pods, version="2.10")
    assert r10.pods[0].annotations[ALLOCATED] == "GPU-0,NVIDIA,1000,0:;GPU-0,NVIDIA,2000,0:;"

    cfg = NvidiaConfig.hami_defaults()
    exclusive = pod("x", init=[ctr("init", gpu=1)], containers=[ctr("app", gpu=1)])
    init9, app9 = mutate(exclusive, cfg, HamiVersion.V2_9).containers
    init10, app10 = mutate(exclusive, cfg, HamiVersion.V2_10).containers
    assert "nvidia.com/gpucores" not in init9.limits and app9.limits["nvidia.com/gpucores"] == 100
    assert init10.limits["nvidia.com/gpucores"] == 100 and app10.limits["nvidia.com/gpucores"] == 100


# ------------------------------------------------------------ issue 18: containers without GPUs


def test_v2_10_writes_only_the_gpu_containers_entries_on_real_nodes():
    """HAMi v2.10.0 pkg/scheduler/score.go ``allocateInitContainers`` pads a GPU-less init container only
    under ``nodeDeviceBaseTypes`` (the registered Type, ``NVIDIA A100-PCIE-40GB``), ``fitInDevices``
    appends the app's device under ``"NVIDIA"``, and pkg/device/nvidia/device.go ``PatchAnnotations``
    encodes that list alone (``EncodeMigAllocations`` numbers it): ``GPU-0,NVIDIA,4864,15:;`` with
    containerIndex 0. Where the GPU registers the type ``"NVIDIA"`` the padding lands in the same list:
    ``;GPU-0,...`` with containerIndex 1. v2.9.0 ``calcScore`` pads under the request type ``"NVIDIA"``
    (the fill loop after ``fitInDevices`` prepends the empty entry): ``;GPU-0[0-0],...``."""
    p = pod("p", init=[ctr("setup", cpu="1")], containers=[ctr("app", gpu=1, gpumem=4000)], annotations=MIG)
    real = simulate(cluster(node("n1", [current_mig_gpu(0)])), [p]).pods[0]
    assert real.annotations[ALLOCATED] == "GPU-0,NVIDIA,4864,15:;"
    assert json.loads(real.annotations[RESERVATIONS]) == [
        {"containerIndex": 0, "deviceIndex": 0, "gpuUUID": "GPU-0", "profile": "1g.5gb",
         "placement": {"start": 6, "size": 1}}]
    (warning,) = real.warnings
    assert warning.startswith("pod default/p: HAMi v2.10.0 records the devices against the wrong container index")
    assert "'app' (container 1) as entry 0" in warning and "'NVIDIA A100-PCIE-40GB'" in warning

    typed = replace(current_mig_gpu(0), type="NVIDIA")
    padded = simulate(cluster(node("n1", [typed])), [p]).pods[0]
    assert padded.annotations[ALLOCATED] == ";GPU-0,NVIDIA,4864,15:;"
    assert json.loads(padded.annotations[RESERVATIONS])[0]["containerIndex"] == 1
    assert padded.warnings == []

    legacy = simulate(cluster(node("n1", [legacy_mig_gpu(0)])), [p], version="2.9", config=legacy_config()).pods[0]
    assert legacy.annotations[ALLOCATED] == ";GPU-0[0-0],NVIDIA,5120,14:;"
    assert legacy.warnings == []


def test_v2_10_drops_trailing_gpu_less_containers_without_a_warning():
    """``allocateAppContainers`` pads a trailing GPU-less app container under the registered type only:
    the ``"NVIDIA"`` list ends with the last GPU container. Indexes are unchanged, so no warning. v2.9.0
    ``calcScore`` appends the empty entry (``deviceType`` is known by then)."""
    p = pod("p", containers=[ctr("app", gpu=1, gpumem=1000), ctr("log", cpu="1")])
    r10 = simulate(cluster(node("n1", [core_gpu(0)])), [p]).pods[0]
    assert r10.annotations[ALLOCATED] == "GPU-0,NVIDIA,1000,0:;" and r10.warnings == []
    r9 = simulate(cluster(node("n1", [core_gpu(0)])), [p], version="2.9").pods[0]
    assert r9.annotations[ALLOCATED] == "GPU-0,NVIDIA,1000,0:;;"


def test_v2_10_counts_shifted_app_devices_as_an_init_container():
    """A GPU of ``count`` 2; pod p = [GPU-less init, app a 1000 MiB, app b 1000 MiB] on one GPU.
    v2.10.0 writes ``GPU-0,...:;GPU-0,...:;`` (two entries); ``CollapseInitContainerUsage`` reads entry 0
    (index < 1 init container) as an init container's: max(init peak 1 slot, app 1 slot) = 1 slot,
    1000 MiB. So pod q (one GPU) still fits: ``Used`` 1 < ``Count`` 2. With the padded layout (a GPU
    typed ``"NVIDIA"``, or v2.9.0 whose ``getNodesUsage`` adds every entry) the GPU holds 2 slots and q
    fails with CardTimeSlicingExhausted."""
    apps = [ctr("a", gpu=1, gpumem=1000), ctr("b", gpu=1, gpumem=1000)]
    pods = [pod("p", init=[ctr("setup", cpu="1")], containers=apps), pod("q", gpu=1, gpumem=1000)]
    real = cluster(node("n1", [core_gpu(0, count=2)]))
    p, q = simulate(real, pods).pods
    assert p.annotations[ALLOCATED] == "GPU-0,NVIDIA,1000,0:;GPU-0,NVIDIA,1000,0:;"
    assert "counts 'a' as init container(s)" in p.warnings[0]
    assert q.scheduled
    assert usage(real) == [("GPU-0", 2, 2000, 0)]

    typed = cluster(node("n1", [core_gpu(0, count=2, type="NVIDIA")]))
    p, q = simulate(typed, pods).pods
    assert p.annotations[ALLOCATED] == ";GPU-0,NVIDIA,1000,0:;GPU-0,NVIDIA,1000,0:;"
    assert q.reason == "0/1 nodes are available: 1 CardTimeSlicingExhausted."

    old = cluster(node("n1", [core_gpu(0, count=2)]))
    p, q = simulate(old, pods, version="2.9").pods
    assert p.annotations[ALLOCATED] == ";GPU-0,NVIDIA,1000,0:;GPU-0,NVIDIA,1000,0:;"
    assert q.reason == "0/1 nodes are available: 1 CardTimeSlicingExhausted."


# ------------------------------------------------------------ issue 11 (2) and 18: what simulate reads from a cluster


def _cluster(pods: list[dict], gpu_type: str = "NVIDIA A100-PCIE-40GB", mode: str = "hami-core"):
    from migctl.cluster.model import Cluster

    register = [{"id": "GPU-a", "index": 0, "count": 10, "devmem": 40960, "devcore": 100, "type": gpu_type,
                 "mode": mode, "health": True}]
    node_obj = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": "n1", "annotations": {"hami.io/node-nvidia-register": json.dumps(register)}},
                "status": {"allocatable": {"cpu": "64", "memory": "512Gi", "pods": "110"},
                           "conditions": [{"type": "Ready", "status": "True"}]}}
    return Cluster.from_objects([node_obj, *pods])


def _running(name: str, devices: str, init: list[dict], containers: list[dict]) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default",
                         "annotations": {"hami.io/vgpu-node": "n1", ALLOCATED: devices}},
            "spec": {"nodeName": "n1", "initContainers": init, "containers": containers},
            "status": {"phase": "Running"}}


def _state(cluster_, version: str, config=None):
    from migctl.simulate.build import state_from_cluster

    notes: list[str] = []
    state = state_from_cluster(cluster_, config or NvidiaConfig.hami_defaults(), HamiVersion(version), notes=notes)
    return state, notes


def test_running_init_devices_fill_the_gpu_under_v2_9_only():
    """A running pod with an init container (30000 MiB) and an app container (8000 MiB) on GPU-a.
    v2.9.0 ``getNodesUsage`` adds both entries (38000 MiB): a 5000 MiB pod finds 2960 MiB and stays
    Pending. v2.10.0 ``onAddPod`` collapses them (``CollapseInitContainerUsage``: 30000 MiB): it fits."""
    running = _running("old", "GPU-a,NVIDIA,30000,0:;GPU-a,NVIDIA,8000,0:;",
                       [ctr("warm", gpu=1, gpumem=30000)], [ctr("app", gpu=1, gpumem=8000)])
    new = [pod("new", gpu=1, gpumem=5000)]
    state9, _ = _state(_cluster([running]), "2.9")
    assert usage(state9) == [("GPU-a", 2, 38000, 0)]
    assert simulate(state9, new, version="2.9").pods[0].reason == "0/1 nodes are available: 1 CardInsufficientMemory."
    state10, _ = _state(_cluster([running]), "2.10")
    assert usage(state10) == [("GPU-a", 1, 30000, 0)]
    assert simulate(state10, new, version="2.10").pods[0].scheduled


def test_simulate_warns_about_states_v2_9_cannot_rebuild_and_shifted_layouts():
    """Reading the cluster: a legacy pod with ``[2-0]`` (init) and ``[0-0]`` (app) on one GPU is a state
    v2.9.0's ``getNodesUsage`` cannot rebuild (warned under 2.9); a pod with the unpadded v2.10.0 layout
    is warned under 2.10 (its app devices count as the init container's)."""
    two = _running("two", "GPU-a[2-0],NVIDIA,20480,42:;GPU-a[0-0],NVIDIA,5120,14:;",
                   [ctr("init", gpu=1, gpumem=15000)], [ctr("app", gpu=1, gpumem=4000)])
    _, notes = _state(_cluster([two], mode="mig"), "2.9", legacy_config())
    assert any("default/two holds slots of geometries 2 and 0 on GPU-a" in n for n in notes)
    shifted = _running("shifted", "GPU-a,NVIDIA,4000,0:;", [ctr("setup", cpu="1")], [ctr("app", gpu=1, gpumem=4000)])
    _, notes = _state(_cluster([shifted]), "2.10")
    assert any("default/shifted" in n and "counts the devices of 'app' as an init" in n for n in notes)
    _, notes = _state(_cluster([shifted]), "2.9")
    assert not any("default/shifted" in n for n in notes)
