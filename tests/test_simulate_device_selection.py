"""How the simulator picks devices for a container: the legacy filter, topology-aware and NUMA policies,
sort keys, per-version failure reasons and rebuilding placed pods each cycle (HAMi pkg/scheduler and
pkg/device/nvidia/device.go, v2.9 and v2.10)."""

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

MIG = {"nvidia.com/vgpu-mode": "mig"}


# ------------------------------------------------------------ legacy CustomFilterRule (hami.md §4.5)


def test_legacy_filter_fails_when_a_queued_device_finds_no_slot():
    # v2.9 passes the raw request to CustomFilterRule: Memreq is 0 for a percentage request, so an
    # empty GPU expands geometry 0 (1g.5gb x7). The device already queued for this container holds
    # the resolved 20480 MiB and finds no slot that large: CustomFilterRule returns false
    # ("MIG entry not found") even though a free slot >= 0 exists for the request itself.
    state = cluster(node("n1", [legacy_mig_gpu(0), legacy_mig_gpu(1)]))
    result = simulate(state, [pod("p", gpu=2, pct=50, gpucores=0, annotations=MIG)], version="2.9",
                      config=legacy_config())
    p = result.pods[0]
    assert not p.scheduled
    assert p.reason == "0/1 nodes are available: 1 CardNotFoundCustomFilterRule."


def test_legacy_filter_counts_queued_devices_from_another_gpu_too():
    # the queued device sits on the hami-core GPU, yet v2.9 matches it against the MIG GPU's slots
    # (hami.md §4.5 step 2): 20480 MiB finds no 1g.5gb slot, so the MIG GPU is refused
    mig = legacy_mig_gpu(0)
    core = core_gpu(1)
    state = cluster(node("n1", [mig, core]))
    result = simulate(state, [pod("p", gpu=2, pct=50, gpucores=0)], version="2.9", config=legacy_config(),
                      explain=True)
    p = result.pods[0]
    assert not p.scheduled
    walk = [(g["gpu_uuid"], g["verdict"]) for g in p.verdicts[0].gpus]
    assert walk == [("GPU-1", "selected"), ("GPU-0", "CardNotFoundCustomFilterRule")]


# ------------------------------------------------------------ [t-s] reset-branch bug (hami.md §4.5, §6 PR #2513)


def test_legacy_entry_index_suffix_double_books_an_instance():
    # geometry [1g.5gb x3, 2g.10gb x2]: an 8000 MiB request takes entry 1, whose first instance is
    # flat slot 3, but the reset branch writes the entry index: [0-1]. The next cycle rebuilds from
    # the annotation, marks slot 1 (a 1g.5gb) in use and leaves slot 3 free, so the next 8000 MiB
    # pod is handed slot 3 too: two pods on one MIG instance.
    geometry = ((T("1g.5gb", 5120, 3, 14), T("2g.10gb", 10240, 2, 28)),)
    state = cluster(node("n1", [legacy_mig_gpu(0, geometry)]))
    pods = [pod(n, gpu=1, gpumem=8000, annotations=MIG) for n in ("a", "b", "c", "d")]
    result = simulate(state, pods, version="2.9", config=legacy_config(geometry))
    a, b, c, d = result.pods
    assert a.annotations["hami.io/vgpu-devices-allocated"] == "GPU-0[0-1],NVIDIA,10240,28:;"
    assert b.annotations["hami.io/vgpu-devices-allocated"] == "GPU-0[0-3],NVIDIA,10240,28:;"
    assert c.annotations["hami.io/vgpu-devices-allocated"] == "GPU-0[0-4],NVIDIA,10240,28:;"
    assert not d.scheduled
    assert any("[0-1]" in w and "slot 3" in w for w in a.warnings)
    # slot 1 is taken by the annotation, so a small pod gets slot 0 and then slot 2
    more = simulate(state, [pod("e", gpu=1, gpumem=4000), pod("f", gpu=1, gpumem=4000)], version="2.9",
                    config=legacy_config(geometry))
    assert [placed(more, i)[0][2] for i in range(2)] == [0, 2]


# ------------------------------------------------------------ sort in place across containers (hami.md §4.3)


def test_second_container_sorts_the_list_the_first_container_left():
    # fitInDevices sorts node.Devices in place on the pod's shared app copy. Container 1 (spread)
    # meets [GPU-1 busy, GPU-0 idle] and takes GPU-0; now both GPUs score the same, and Go's
    # insertion sort keeps the order the first sort left: GPU-0 is still last and taken again.
    def state():
        busy = core_gpu(1, used=1, usedmem=1000, usedcores=10)
        return cluster(node("n1", [core_gpu(0), busy]))

    limits = {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 1000, "nvidia.com/gpucores": 10}
    containers = [{"name": "a", "resources": {"limits": limits}}, {"name": "b", "resources": {"limits": limits}}]
    result = simulate(state(), [pod("p", containers=containers)])
    assert [a.gpu_id for a in result.pods[0].allocations] == ["GPU-0", "GPU-0"]
    full = simulate(state(), [pod("p", containers=containers)], full_scan=True)
    assert [a.gpu_id for a in full.pods[0].allocations] == ["GPU-0", "GPU-0"]


# ------------------------------------------------------------ usage of init containers (hami.md §2.3)


def test_init_container_devices_count_at_their_per_device_peak():
    # CollapseInitContainerUsage: per GPU, an init entry counts one slot and its own memory (the
    # largest entry), not the sum of the init container's entries on that GPU
    init = [{"name": "warm", "resources": {"limits": {"nvidia.com/gpu": 2, "nvidia.com/gpumem": 8000}}}]
    app = [{"name": "main", "resources": {"limits": {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 4000}}}]
    state = cluster(node("n1", [current_mig_gpu(0)]))
    result = simulate(state, [pod("p", init=init, containers=app, annotations=MIG)])
    p = result.pods[0]
    assert p.scheduled
    assert [(a.container, a.profile, a.placement.start) for a in p.allocations] == [
        ("warm", "2g.10gb", 0), ("warm", "2g.10gb", 2), ("main", "1g.5gb", 6)]
    gpu = state.nodes["n1"].gpus[0]
    assert (gpu.used, gpu.usedmem, gpu.usedcores) == (1, 9984, 29)
    assert sorted(a.placement.start for a in gpu.allocations) == [0, 2, 6]
    reservations = json.loads(p.annotations["hami.io/vgpu-mig-allocations"])
    assert [(r["containerIndex"], r["deviceIndex"]) for r in reservations] == [(0, 0), (0, 1), (1, 0)]


# ------------------------------------------------------------ topology-aware (hami.md §4.4 "Other outcomes")

TOPOLOGY = {"hami.io/gpu-scheduler-policy": "topology-aware"}


def _nvlink_node(scores: dict[tuple[int, int], int] | None):
    gpus = [core_gpu(i) for i in range(4)]
    for g in gpus:
        g.pair_scores = {}
    for (a, b), s in (scores or {}).items():
        gpus[a].pair_scores[f"GPU-{b}"] = s
        gpus[b].pair_scores[f"GPU-{a}"] = s
    return cluster(node("n1", gpus))


PAIRS = {(0, 1): 100, (0, 2): 10, (0, 3): 10, (1, 2): 10, (1, 3): 10, (2, 3): 10}


def test_topology_aware_takes_the_best_scored_combination():
    result = simulate(_nvlink_node(PAIRS), [pod("p", gpu=2, gpumem=1000, gpucores=10, annotations=TOPOLOGY)])
    # every fitting GPU is collected (walk order GPU-3..GPU-0), then the pair with the highest score
    assert [a.gpu_id for a in result.pods[0].allocations] == ["GPU-1", "GPU-0"]
    spread = simulate(_nvlink_node(PAIRS), [pod("p", gpu=2, gpumem=1000, gpucores=10)])
    assert [a.gpu_id for a in spread.pods[0].allocations] == ["GPU-3", "GPU-2"]


def test_topology_aware_single_gpu_takes_the_worst_connected_card():
    scores = {(0, 1): 100, (0, 3): 10, (1, 3): 10}  # GPU-2 has no links at all
    for version in ("2.9", "2.10"):
        result = simulate(_nvlink_node(scores), [pod("p", gpu=1, gpumem=1000, gpucores=10, annotations=TOPOLOGY)],
                          version=version)
        assert [a.gpu_id for a in result.pods[0].allocations] == ["GPU-2"], version


def test_topology_aware_exact_count_and_too_few():
    state = _nvlink_node(PAIRS)
    for g in state.nodes["n1"].gpus[:2]:
        g.used, g.usedcores = 1, 100  # GPU-0 and GPU-1 have no cores left
    ok = simulate(state, [pod("p", gpu=2, gpumem=1000, gpucores=10, annotations=TOPOLOGY)], full_scan=True)
    assert [a.gpu_id for a in ok.pods[0].allocations] == ["GPU-3", "GPU-2"]
    short = simulate(_nvlink_node(PAIRS), [pod("q", gpu=5, gpumem=1000, gpucores=10, annotations=TOPOLOGY)],
                     version="2.9")
    assert short.pods[0].reason == "0/1 nodes are available: 1 NodeInsufficientDevice."
    state = _nvlink_node(PAIRS)
    for g in state.nodes["n1"].gpus[:3]:
        g.used, g.usedcores = 1, 100
    few = simulate(state, [pod("r", gpu=2, gpumem=1000, gpucores=10, annotations=TOPOLOGY)])
    assert not few.pods[0].scheduled
    assert few.pods[0].reason == "0/1 nodes are available: 1 CardInsufficientCore."


def test_topology_aware_without_scores_v2_9_gives_the_container_no_gpu():
    # v2.9 computeBestCombination keeps a combination only when its score is > 0: with no
    # hami.io/node-nvidia-score every pair scores 0 and the container is given no device at all
    result = simulate(_nvlink_node(None), [pod("p", gpu=2, gpumem=1000, gpucores=10, annotations=TOPOLOGY)],
                      version="2.9")
    p = result.pods[0]
    assert p.scheduled and p.allocations == []
    assert p.annotations["hami.io/vgpu-devices-allocated"] == ";"
    assert any("topology-aware" in w and "no GPU" in w for w in p.warnings)
    # v2.10 keeps the first combination met (HAMi TestFit_TopologyBestCombinationZeroScores)
    result = simulate(_nvlink_node(None), [pod("p", gpu=2, gpumem=1000, gpucores=10, annotations=TOPOLOGY)])
    assert [a.gpu_id for a in result.pods[0].allocations] == ["GPU-3", "GPU-2"]
    assert not result.pods[0].warnings


def test_topology_aware_negative_scores_v2_10():
    # HAMi TestFit_TopologyNegativeScores: the single card with the lowest total, the pair with the highest
    gpus = [core_gpu(i) for i in range(3)]
    pairs = {(0, 1): -5, (0, 2): -3, (1, 2): -1}
    for g in gpus:
        g.pair_scores = {}
    for (a, b), v in pairs.items():
        gpus[a].pair_scores[f"GPU-{b}"] = v
        gpus[b].pair_scores[f"GPU-{a}"] = v
    one = simulate(cluster(node("n1", [g.copy() for g in gpus])),
                   [pod("p", gpu=1, gpumem=100, gpucores=10, annotations=TOPOLOGY)])
    assert [a.gpu_id for a in one.pods[0].allocations] == ["GPU-0"]
    two = simulate(cluster(node("n1", [g.copy() for g in gpus])),
                   [pod("p", gpu=2, gpumem=100, gpucores=10, annotations=TOPOLOGY)])
    assert sorted(a.gpu_id for a in two.pods[0].allocations) == ["GPU-1", "GPU-2"]


def test_topology_scores_come_from_the_node_annotation_end_to_end(cli, tmp_path):
    gpus = [{"id": f"GPU-{i}", "index": i, "count": 10, "devmem": 40960, "devcore": 100,
             "type": "NVIDIA A100-SXM4-40GB", "mode": "hami-core", "health": True} for i in range(4)]
    scores = [{"uuid": f"GPU-{a}", "score": {f"GPU-{b}": PAIRS.get((min(a, b), max(a, b)), 0) for b in range(4) if b != a}}
              for a in range(4)]
    snapshot = {"apiVersion": "v1", "kind": "List", "items": [{
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "n1", "annotations": {"hami.io/node-nvidia-register": json.dumps(gpus),
                                                   "hami.io/node-nvidia-score": json.dumps(scores)}},
        "status": {"allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True"}]}}]}
    cluster_file = tmp_path / "cluster.json"
    cluster_file.write_text(json.dumps(snapshot))
    pods_file = tmp_path / "pods.json"
    pods_file.write_text(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "p", "annotations": TOPOLOGY}, "spec": {"containers": [{"name": "c", "resources": {
            "limits": {"nvidia.com/gpu": 2, "nvidia.com/gpumem": 1000, "nvidia.com/gpucores": 10}}}]}}))
    r = cli("simulate", pods_file, "--cluster", cluster_file, "--hami-version", "2.10", "-o", "json")
    assert r.exit_code == 0, r.stderr
    devices = json.loads(r.stdout)["pods"][0]["devices"]
    assert [d["gpu_uuid"] for d in devices] == ["GPU-1", "GPU-0"]


def test_an_empty_policy_annotation_is_not_the_scheduler_default():
    # resolveNodeSchedulerPolicy returns the annotation whenever it is present: "" is not "spread",
    # so it sorts as binpack even when the scheduler's flag says spread
    def state():
        return cluster(node("a", [core_gpu(0)]), node("b", [core_gpu(0, used=1, usedmem=20000, usedcores=20)]))

    req = dict(gpu=1, gpumem=1000, gpucores=10)
    empty = {"hami.io/node-scheduler-policy": ""}
    assert simulate(state(), [pod("p", **req)], node_policy="spread").pods[0].node == "a"
    assert simulate(state(), [pod("p", annotations=empty, **req)], node_policy="spread").pods[0].node == "b"
    # the same for the GPU policy: "" is not "binpack", so it sorts as spread
    gpus = cluster(node("n", [core_gpu(0, used=1, usedmem=1000, usedcores=10), core_gpu(1)]))
    result = simulate(gpus, [pod("p", annotations={"hami.io/gpu-scheduler-policy": ""}, **req)], gpu_policy="binpack")
    assert placed(result)[0][0] == "GPU-1"


def test_topology_aware_hami_three_gpu_cases_both_versions():
    # HAMi TestFit_TopologyWorstSingleCard / TestFit_TopologyBestCombination
    pairs = {(0, 1): 100, (0, 2): 200, (1, 2): 150}

    def state():
        gpus = [core_gpu(i, mem=8192) for i in range(3)]
        for g in gpus:
            g.pair_scores = {}
        for (a, b), v in pairs.items():
            gpus[a].pair_scores[f"GPU-{b}"] = v
            gpus[b].pair_scores[f"GPU-{a}"] = v
        return cluster(node("n1", gpus))

    for version in ("2.9", "2.10"):
        one = simulate(state(), [pod("p", gpu=1, gpumem=100, gpucores=10, annotations=TOPOLOGY)], version=version)
        assert [a.gpu_id for a in one.pods[0].allocations] == ["GPU-1"], version
        two = simulate(state(), [pod("p", gpu=2, gpumem=100, gpucores=10, annotations=TOPOLOGY)], version=version)
        assert sorted(a.gpu_id for a in two.pods[0].allocations) == ["GPU-0", "GPU-2"], version


# ------------------------------------------------------------ v2.10 GPU sort details (gpu_policy.go Less)


def _policy_pick(gpus, annotations, **kw):
    result = simulate(cluster(node("n1", gpus)), [pod("p", gpu=1, gpumem=1000, gpucores=10, annotations=annotations)],
                      **kw)
    return placed(result)[0][0]


def test_numa_bind_binpack_puts_the_highest_numa_first():
    # single policy + numa-bind: binpack sorts NUMA descending (then score ascending), so Fit,
    # walking from the end, meets the lowest NUMA node first
    gpus = [core_gpu(0, numa=0), core_gpu(1, numa=1)]
    ann = {"nvidia.com/numa-bind": "true", "hami.io/gpu-scheduler-policy": "binpack"}
    assert _policy_pick(gpus, ann) == "GPU-0"
    # spread + numa-bind: NUMA ascending, the highest NUMA node is met first
    spread = {"nvidia.com/numa-bind": "true", "hami.io/gpu-scheduler-policy": "spread"}
    assert _policy_pick([core_gpu(0, numa=1), core_gpu(1, numa=0)], spread) == "GPU-0"


def test_mutex_breaks_ties_on_numa():
    # mutex: Used descending, then NUMA ascending: among idle GPUs the highest NUMA node is met first
    gpus = [core_gpu(0, numa=1), core_gpu(1, numa=0)]
    assert _policy_pick(gpus, {"hami.io/gpu-scheduler-policy": "mutex"}) == "GPU-0"


def test_a_chain_without_sort_keys_sorts_as_spread():
    # lessByChain keeps only binpack/spread/numa; with none left it falls back to spread (then index)
    gpus = [core_gpu(0), core_gpu(1, used=1, usedmem=5000, usedcores=10)]
    assert _policy_pick(gpus, {"hami.io/gpu-scheduler-policy": "foo,bar"}) == "GPU-0"
    # a padded single value is trimmed: " binpack" is binpack
    gpus = [core_gpu(0), core_gpu(1, used=1, usedmem=5000, usedcores=10)]
    assert _policy_pick(gpus, {"hami.io/gpu-scheduler-policy": " binpack"}) == "GPU-1"


def test_gen_reason_counts_per_version():
    # NumaNotFit and AllocatedCardsInsufficientRequest add len(tmpDevs) in v2.9 (the vendor map: 1)
    # and the number of devices queued in v2.10
    def state():
        return cluster(node("n1", [core_gpu(0, numa=0), core_gpu(1, numa=1), core_gpu(2, numa=1)]))

    annos = {"nvidia.com/numa-bind": "true"}
    details = {}
    for version in ("2.9", "2.10"):
        r = simulate(state(), [pod("p", gpu=3, gpumem=100, gpucores=1, annotations=annos)], version=version,
                     explain=True)
        assert r.pods[0].reason == "0/1 nodes are available: 1 NumaNotFit."
        details[version] = r.pods[0].verdicts[0].detail
    assert details["2.9"] == "container main: 1/3 AllocatedCardsInsufficientRequest, 1/3 NumaNotFit"
    assert details["2.10"] == "container main: 2/3 NumaNotFit, 1/3 AllocatedCardsInsufficientRequest"


def test_legacy_raw_gpu_fallback_is_reported():
    three = (
        (T("1g.5gb", 5120, 7, 14),),
        (T("1g.5gb", 5120, 1, 14), T("2g.10gb", 10240, 3, 28)),
        (T("3g.20gb", 20480, 2, 42),),
    )
    state = cluster(node("n1", [legacy_mig_gpu(0, three)]))
    result = simulate(state, [pod("pct", gpu=1, pct=100, gpucores=0)], version="2.9", config=legacy_config(three))
    p = result.pods[0]
    assert p.annotations["hami.io/vgpu-devices-allocated"] == "GPU-0,NVIDIA,40960,0:;"
    assert any("no MIG geometry" in w and "40960" in w for w in p.warnings)


def test_gpu_policy_flag_accepts_topology_aware(cli, tmp_path):
    gpus = [{"id": f"GPU-{i}", "index": i, "count": 10, "devmem": 40960, "devcore": 100,
             "type": "NVIDIA A100-SXM4-40GB", "mode": "hami-core", "health": True} for i in range(3)]
    scores = [{"uuid": "GPU-0", "score": {"GPU-1": 100, "GPU-2": 10}},
              {"uuid": "GPU-1", "score": {"GPU-0": 100, "GPU-2": 10}},
              {"uuid": "GPU-2", "score": {"GPU-0": 10, "GPU-1": 10}}]
    snapshot = {"apiVersion": "v1", "kind": "List", "items": [{
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "n1", "annotations": {"hami.io/node-nvidia-register": json.dumps(gpus),
                                                   "hami.io/node-nvidia-score": json.dumps(scores)}},
        "status": {"allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True"}]}}]}
    cluster_file = tmp_path / "cluster.json"
    cluster_file.write_text(json.dumps(snapshot))
    pods_file = tmp_path / "pods.json"
    pods_file.write_text(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": 2, "nvidia.com/gpumem": 1000}}}]}}))
    r = cli("simulate", pods_file, "--cluster", cluster_file, "--gpu-policy", "topology-aware", "-o", "json")
    assert r.exit_code == 0, r.stderr
    assert [d["gpu_uuid"] for d in json.loads(r.stdout)["pods"][0]["devices"]] == ["GPU-1", "GPU-0"]
    r = cli("simulate", pods_file, "--cluster", cluster_file, "-o", "json")
    assert [d["gpu_uuid"] for d in json.loads(r.stdout)["pods"][0]["devices"]] == ["GPU-2", "GPU-1"]


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
def test_simulated_pods_count_as_the_next_cycle_rebuilds_them(version, geometries, seed):
    """After the simulation, rebuilding the node from the annotations it wrote (the cluster package,
    HAMi's getNodesUsage) gives the very usage the simulator carried on with."""
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
             "devcore": 100, "type": "NVIDIA A100-PCIE-40GB", "mode": "mig" if mig else "hami-core",
             "health": True}
        if mig and not legacy:
            g["migProfiles"] = profiles
        gpus.append(g)
    config = legacy_config(geometries) if geometries else legacy_config()
    node_obj = _register(gpus)

    def container(name: str) -> dict:
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


def test_legacy_init_and_app_on_one_gpu_rebuild_in_uuid_order():
    # the init container fits on a fresh copy (15000 MiB -> 3g geometry, [2-0]) and the app
    # container on the app copy (8000 MiB -> geometry 1, [1-1]); the next cycle collapses per UUID
    # as written and meets "GPU-0[1-1]" first: geometry 1 is expanded, slots 1 and 0 are in use,
    # and both entries count (2 slots, 30720 MiB)
    init = [{"name": "init", "resources": {"limits": {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 15000}}}]
    app = [{"name": "main", "resources": {"limits": {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 8000}}}]
    state = cluster(node("n1", [legacy_mig_gpu(0)]))
    result = simulate(state, [pod("p", init=init, containers=app), pod("q", gpu=1, gpumem=8000)], version="2.9",
                      config=legacy_config())
    p, q = result.pods
    assert p.annotations["hami.io/vgpu-devices-allocated"] == "GPU-0[2-0],NVIDIA,20480,42:;GPU-0[1-1],NVIDIA,10240,28:;"
    gpu = state.nodes["n1"].gpus[0]
    assert q.annotations["hami.io/vgpu-devices-allocated"] == "GPU-0[1-2],NVIDIA,10240,28:;"
    assert (gpu.used, gpu.usedmem, gpu.usedcores) == (3, 40960, 98)
    assert [s.in_use for s in gpu.usage_list] == [True, True, True, False]
