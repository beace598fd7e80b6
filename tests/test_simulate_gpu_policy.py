"""GPU and node policies in the simulator: topology-aware (``hami.io/node-nvidia-score``), NUMA,
mutex and chains of sort keys, and the policy annotation versus the scheduler default
(HAMi ``pkg/scheduler/policy/gpu_policy.go`` at v2.9.0 and v2.10.0)."""

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
