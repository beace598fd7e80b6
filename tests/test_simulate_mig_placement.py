"""Where MIG pods land, end to end through the Simulator: legacy template geometries, v2.10 packing,
exclusive requests, GPU and node binpack/spread (HAMi pkg/device/nvidia/device.go, v2.9 and v2.10)."""

from __future__ import annotations

import json

from simulate_support import (
    DOCS_A100,
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


# --------------------------------------------------------------------------- the seed's example


def test_seed_example_legacy_docs_config_two_2g_on_one_gpu():
    state = cluster(node("n1", [legacy_mig_gpu(0, DOCS_A100), legacy_mig_gpu(1, DOCS_A100)]))
    result = simulate(state, [pod("gpu-pod1", gpu=2, gpumem=8000, annotations=MIG)], version="2.9",
                      config=legacy_config(DOCS_A100))
    p = result.pods[0]
    assert p.scheduled and p.node == "n1"
    # equal scores: the GPU listed last in the register annotation is met first (stable sort, walk from end)
    assert placed(result) == [("GPU-1", "2g.10gb", 0), ("GPU-1", "2g.10gb", 1)]
    assert {a.memory_mib for a in p.allocations} == {10240} and {a.cores for a in p.allocations} == {0}
    d = p.to_dict()["devices"]
    assert [x["geometry"] for x in d] == ["2g.10gb:3,1g.5gb:1"] * 2
    assert p.annotations["hami.io/vgpu-devices-allocated"] == "GPU-1[1-0],NVIDIA,10240,0:GPU-1[1-1],NVIDIA,10240,0:;"
    assert "hami.io/vgpu-mig-allocations" not in p.annotations


def test_seed_example_legacy_chart_config_suffixes_and_cores():
    state = cluster(node("n1", [legacy_mig_gpu(0), legacy_mig_gpu(1)]))
    result = simulate(state, [pod("p", gpu=2, gpumem=8000, annotations=MIG)], version="2.9", config=legacy_config())
    p = result.pods[0]
    # reset branch writes entry idx 1 (= flat slot 1 by luck), the reuse branch the next free slot 2
    assert p.annotations["hami.io/vgpu-devices-allocated"] == "GPU-1[1-1],NVIDIA,10240,28:GPU-1[1-2],NVIDIA,10240,28:;"
    assert p.to_dict()["devices"][0]["geometry"] == "2g.10gb:3,1g.5gb:1"


def test_seed_example_needs_two_devices_in_v2_9():
    state = cluster(node("n1", [legacy_mig_gpu(0)]))
    result = simulate(state, [pod("p", gpu=2, gpumem=8000, annotations=MIG)], version="2.9", config=legacy_config())
    assert not result.pods[0].scheduled
    assert result.pods[0].reason == "0/1 nodes are available: 1 NodeInsufficientDevice."


def test_seed_example_v2_10_placements_0_and_2_on_a_one_gpu_node():
    state = cluster(node("n1", [current_mig_gpu(0)]))
    result = simulate(state, [pod("p", gpu=2, gpumem=8000, annotations=MIG)], version="2.10")
    p = result.pods[0]
    assert p.scheduled
    assert placed(result) == [("GPU-0", "2g.10gb", 0), ("GPU-0", "2g.10gb", 2)]
    assert p.annotations["hami.io/vgpu-devices-allocated"] == "GPU-0,NVIDIA,9984,29:GPU-0,NVIDIA,9984,29:;"
    reservations = json.loads(p.annotations["hami.io/vgpu-mig-allocations"])
    assert reservations == [
        {"containerIndex": 0, "deviceIndex": 0, "gpuUUID": "GPU-0", "profile": "2g.10gb",
         "placement": {"start": 0, "size": 2}},
        {"containerIndex": 0, "deviceIndex": 1, "gpuUUID": "GPU-0", "profile": "2g.10gb",
         "placement": {"start": 2, "size": 2}},
    ]
    d = p.to_dict()["devices"]
    assert d[1]["placement"] == {"start": 2, "size": 2} and d[1]["geometry"] is None
    # slices 4-6 stay free: one more 2g fits at start 4, then nothing 2g-sized
    more = simulate(state, [pod("q", gpu=1, gpumem=8000, annotations=MIG), pod("r", gpu=1, gpumem=8000, annotations=MIG)])
    assert placed(more, 0) == [("GPU-0", "2g.10gb", 4)]
    assert not more.pods[1].scheduled


def test_seed_pods_without_vgpu_mode_also_land_on_mig():
    state = cluster(node("n1", [legacy_mig_gpu(0, DOCS_A100), legacy_mig_gpu(1, DOCS_A100)]))
    pods = [pod("gpu-pod1", gpu=2, gpumem=8000), pod("gpu-pod1", gpu=2, gpumem=8000, annotations=MIG)]
    result = simulate(state, pods, version="2.9", config=legacy_config(DOCS_A100))
    assert [p.scheduled for p in result.pods] == [True, True]
    assert placed(result, 0) == [("GPU-1", "2g.10gb", 0), ("GPU-1", "2g.10gb", 1)]
    # spread: the second pod goes to the idle GPU
    assert placed(result, 1) == [("GPU-0", "2g.10gb", 0), ("GPU-0", "2g.10gb", 1)]
    assert result.pods[1].warnings and "AlreadyExists" in result.pods[1].warnings[0]


# --------------------------------------------------------------------------- legacy traces (§4.11)


def _one_gpu_legacy():
    return cluster(node("n1", [legacy_mig_gpu(0)]))


def test_legacy_trace_5000_picks_1g_geometry_and_blocks_8000():
    result = simulate(_one_gpu_legacy(), [pod("a", gpu=1, gpumem=5000), pod("b", gpu=1, gpumem=8000)],
                      version="2.9", config=legacy_config())
    a, b = result.pods
    assert a.annotations["hami.io/vgpu-devices-allocated"] == "GPU-0[0-0],NVIDIA,5120,14:;"
    assert a.to_dict()["devices"][0]["geometry"] == "1g.5gb:7"
    assert not b.scheduled
    assert b.reason == "0/1 nodes are available: 1 CardNotFoundCustomFilterRule."


def test_legacy_trace_8000_then_4000_reuses_slot_0():
    result = simulate(_one_gpu_legacy(), [pod("a", gpu=1, gpumem=8000), pod("b", gpu=1, gpumem=4000)],
                      version="2.9", config=legacy_config())
    a, b = result.pods
    assert a.annotations["hami.io/vgpu-devices-allocated"] == "GPU-0[1-1],NVIDIA,10240,28:;"
    assert b.annotations["hami.io/vgpu-devices-allocated"] == "GPU-0[1-0],NVIDIA,5120,14:;"
    assert b.to_dict()["devices"][0]["geometry"] == "2g.10gb:3,1g.5gb:1"


def test_legacy_trace_20000_takes_3g():
    result = simulate(_one_gpu_legacy(), [pod("a", gpu=1, gpumem=20000)], version="2.9", config=legacy_config())
    assert result.pods[0].annotations["hami.io/vgpu-devices-allocated"] == "GPU-0[2-0],NVIDIA,20480,42:;"
    assert result.pods[0].to_dict()["devices"][0]["geometry"] == "3g.20gb:2"


def test_legacy_gpu_stays_locked_to_its_geometry_while_in_use():
    pods = [pod(f"p{i}", gpu=1, gpumem=5000) for i in range(7)] + [pod("big", gpu=1, gpumem=20000)]
    result = simulate(_one_gpu_legacy(), pods, version="2.9", config=legacy_config())
    slots = [a.slot for p in result.pods[:7] for a in p.allocations]
    assert slots == list(range(7))
    assert not result.pods[7].scheduled


def test_legacy_no_template_fits_hands_out_the_raw_gpu():
    # v2.9.0 quirk: a whole-card request on a MIG GPU finds no template; AddResourceUsage returns
    # nil without a suffix, so the raw GPU is allocated
    three = DOCS_A100[:3]
    result = simulate(cluster(node("n1", [legacy_mig_gpu(0, three)])), [pod("whole", gpu=1, gpumem=40000, gpucores=0)],
                      version="2.9", config=legacy_config(three))
    p = result.pods[0]
    assert not p.scheduled  # CustomFilterRule finds no slot of 40000 MiB in the first three geometries
    result = simulate(cluster(node("n1", [legacy_mig_gpu(0, three)])), [pod("pct", gpu=1, pct=100, gpucores=0)],
                      version="2.9", config=legacy_config(three))
    # percentage request: v2.9 passes Memreq 0 to CustomFilterRule (any slot fits) but AddResourceUsage
    # compares the resolved 40960 MiB: no template, raw GPU
    p = result.pods[0]
    assert p.scheduled
    assert p.annotations["hami.io/vgpu-devices-allocated"] == "GPU-0,NVIDIA,40960,0:;"


# --------------------------------------------------------------------------- v2.10 placements


def test_v2_10_balanced_packing_order_from_hami_test():
    # HAMi TestSelectMigPlacementUsesBalancedPacking: 3g -> 4, 2g -> 0, 1g -> 3, 1g -> 2
    state = cluster(node("n1", [current_mig_gpu(0)]))
    pods = [pod("a", gpu=1, gpumem=19000), pod("b", gpu=1, gpumem=9000), pod("c", gpu=1, gpumem=4000),
            pod("d", gpu=1, gpumem=4000)]
    result = simulate(state, pods)
    assert [placed(result, i)[0][1:] for i in range(4)] == [("3g.20gb", 4), ("2g.10gb", 0), ("1g.5gb", 3),
                                                          ("1g.5gb", 2)]
    gpus = result.final_gpus
    assert [(i["profile"], i["start"]) for i in gpus[0]["instances"]] == [
        ("2g.10gb", 0), ("1g.5gb", 2), ("1g.5gb", 3), ("3g.20gb", 4)]


def test_v2_10_whole_card_request_never_fits_a_mig_gpu():
    state = cluster(node("n1", [current_mig_gpu(0)]))
    result = simulate(state, [pod("whole", gpu=1)])
    assert result.pods[0].reason == "0/1 nodes are available: 1 CardMigTopologyInfeasible."


def test_v2_10_larger_profile_when_smaller_has_no_room():
    state = cluster(node("n1", [current_mig_gpu(0)]))
    pods = [pod(f"s{i}", gpu=1, gpumem=4000) for i in range(6)] + [pod("t", gpu=1, gpumem=4000)]
    result = simulate(state, pods)
    starts = [placed(result, i)[0][2] for i in range(7)]
    assert starts == [6, 5, 4, 3, 2, 1, 0]
    # full: the core sum exceeds 100 (7 x 15) as HAMi's does
    assert result.final_gpus[0]["cores_used"] == 105


# --------------------------------------------------------------------------- hami-core


def test_exclusive_default_gpucores_100_when_no_memory_asked():
    state = cluster(node("n1", [core_gpu(0)]))
    result = simulate(state, [pod("ex", gpu=1), pod("small", gpu=1, gpumem=1000)])
    ex, small = result.pods
    assert ex.annotations["hami.io/vgpu-devices-allocated"] == "GPU-0,NVIDIA,40960,100:;"
    assert not small.scheduled
    assert small.reason == "0/1 nodes are available: 1 CardInsufficientMemory."


def test_exclusive_request_conflicts_with_a_used_gpu():
    state = cluster(node("n1", [core_gpu(0)]))
    result = simulate(state, [pod("a", gpu=1, gpumem=1000, gpucores=0), pod("b", gpu=1, gpumem=1000, gpucores=100)])
    assert result.pods[1].reason == "0/1 nodes are available: 1 ExclusiveDeviceAllocateConflict."


def test_hami_core_pod_against_mig_only_nodes():
    state = cluster(node("m1", [current_mig_gpu(0)]), node("m2", [current_mig_gpu(0, uid="GPU-x")]))
    result = simulate(state, [pod("hc", gpu=1, gpumem=1000, annotations={"nvidia.com/vgpu-mode": "hami-core"})])
    assert result.pods[0].reason == "0/2 nodes are available: 2 CardTypeMismatch."


def test_gpu_spread_vs_binpack_and_ties():
    def state():
        busy = core_gpu(0, used=1, usedmem=10000, usedcores=10)
        return cluster(node("n1", [busy, core_gpu(1), core_gpu(2)]))

    spread = simulate(state(), [pod("p", gpu=1, gpumem=1000, gpucores=10)])
    binpack = simulate(state(), [pod("p", gpu=1, gpumem=1000, gpucores=10,
                                     annotations={"hami.io/gpu-scheduler-policy": "binpack"})])
    binpack_flag = simulate(state(), [pod("p", gpu=1, gpumem=1000, gpucores=10)], gpu_policy="binpack")
    # spread: GPU-1 and GPU-2 tie at 0; the one listed last wins
    assert placed(spread)[0][0] == "GPU-2"
    assert placed(binpack)[0][0] == "GPU-0"
    assert placed(binpack_flag)[0][0] == "GPU-0"


def test_node_binpack_vs_spread():
    def state():
        return cluster(node("a", [core_gpu(0)]), node("b", [core_gpu(0, used=1, usedmem=20000, usedcores=20)]),
                       node("c", [core_gpu(0)]))

    req = dict(gpu=1, gpumem=1000, gpucores=10)
    assert simulate(state(), [pod("p", **req)]).pods[0].node == "b"
    assert simulate(state(), [pod("p", **req)], node_policy="spread").pods[0].node == "a"
    ann = simulate(state(), [pod("p", annotations={"hami.io/node-scheduler-policy": "spread"}, **req)])
    assert ann.pods[0].node == "a"
    explained = simulate(state(), [pod("p", **req)], node_policy="spread", explain=True)
    assert explained.pods[0].tie == ["a", "c"]
    out = explained.pods[0].to_dict(explain=True)["explain"]
    assert out["tie"] == ["a", "c"] and [n["node"] for n in out["nodes"]] == ["a", "b", "c"]


def test_cpu_that_does_not_fit_and_mixed_reasons():
    state = cluster(
        node("a", [core_gpu(0, usedmem=40000, used=1)]),
        node("b", [core_gpu(0, usedmem=40000, used=1)]),
        node("c", [core_gpu(0)], cpu_allocatable_m=4000),
    )
    result = simulate(state, [pod("p", gpu=1, gpumem=2000, gpucores=10, cpu="8")])
    assert result.pods[0].reason == "0/3 nodes are available: 2 CardInsufficientMemory, 1 Insufficient cpu."


def test_pod_without_gpu_goes_through_kube_filters_only():
    state = cluster(node("a", [], cpu_allocatable_m=2000, memory_allocatable=8 * 2**30),
                    node("b", [], cpu_allocatable_m=8000, memory_allocatable=8 * 2**30))
    result = simulate(state, [pod("web", cpu="1", memory="1Gi"), pod("big", cpu="4")])
    assert [p.node for p in result.pods] == ["b", "b"]
    assert result.pods[0].annotations == {}
    assert state.nodes["b"].cpu_requested_m == 5000
