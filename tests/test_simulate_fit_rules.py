"""HAMi's own unit cases (Fit checks, requests, webhook, policy sorts and scores), end to end.

Translated from HAMi's ``pkg/device/nvidia/fit_checks_test.go``, ``device_test.go`` and
``pkg/scheduler/policy/{gpu,node}_policy_test.go``: each case is a small cluster plus a pod, and the
assertion is on where the pod lands or the reason it stays Pending.
"""

from __future__ import annotations

import pytest
from simulate_support import (
    A100,
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

from migctl.config.model import NvidiaConfig
from migctl.simulate import Gpu, HamiVersion
from migctl.simulate.requests import UNSET_PERCENTAGE, container_request, mutate, pod_options
from migctl.simulate.scoring import device_score, node_score, sort_gpus
from migctl.simulate.state import MigTemplate

BOTH = pytest.mark.parametrize("version", ["2.9", "2.10"])


def reason_of(result, i: int = 0) -> str | None:
    return result.pods[i].reason


def one(gpu: Gpu, **kw):
    return cluster(node("n1", [gpu], **kw))


# --------------------------------------------------------------------------- card checks


@BOTH
def test_unhealthy_card(version):
    r = simulate(one(core_gpu(0, health=False)), [pod("p", gpu=1, gpumem=100, gpucores=1)], version=version)
    assert reason_of(r) == "0/1 nodes are available: 1 CardNotHealth."


@BOTH
@pytest.mark.parametrize("count,used,ok", [(100, 0, True), (10, 9, True), (10, 10, False), (10, 15, False)])
def test_time_slicing(version, count, used, ok):
    r = simulate(one(core_gpu(0, count=count, used=used)), [pod("p", gpu=1, gpumem=100, gpucores=1)], version=version)
    assert r.pods[0].scheduled is ok
    if not ok:
        assert reason_of(r) == "0/1 nodes are available: 1 CardTimeSlicingExhausted."


@BOTH
@pytest.mark.parametrize("usedmem,req,ok", [(0, 100, True), (512, 512, True), (512, 513, False), (1023, 1, True)])
def test_memory(version, usedmem, req, ok):
    r = simulate(one(core_gpu(0, mem=1024, usedmem=usedmem)), [pod("p", gpu=1, gpumem=req, gpucores=1)],
                 version=version)
    assert r.pods[0].scheduled is ok
    if not ok:
        assert "CardInsufficientMemory" in reason_of(r)


@BOTH
@pytest.mark.parametrize("usedcores,req,reason", [
    (0, 10, None), (50, 50, None), (50, 51, "CardInsufficientCore"), (100, 1, "CardInsufficientCore"),
    (100, 0, "CardComputeUnitsExhausted"), (30, 0, None),
])
def test_cores_and_compute_exhausted(version, usedcores, req, reason):
    gpu = core_gpu(0, used=1 if usedcores else 0, usedcores=usedcores)
    r = simulate(one(gpu), [pod("p", gpu=1, gpumem=100, gpucores=req)], version=version)
    assert r.pods[0].reason == (None if reason is None else f"0/1 nodes are available: 1 {reason}.")


@BOTH
@pytest.mark.parametrize("cores,used,ok", [(50, 5, True), (100, 0, True), (100, 1, False), (99, 9, True)])
def test_exclusive(version, cores, used, ok):
    r = simulate(one(core_gpu(0, used=used)), [pod("p", gpu=1, gpumem=100, gpucores=cores)], version=version)
    assert r.pods[0].scheduled is ok
    if not ok:
        assert reason_of(r) == "0/1 nodes are available: 1 ExclusiveDeviceAllocateConflict."


@BOTH
def test_check_order_memory_before_core_and_core_before_exclusive(version):
    r = simulate(one(core_gpu(0, mem=100, usedmem=80, usedcores=95, used=1)),
                 [pod("p", gpu=1, gpumem=50, gpucores=50)], version=version)
    assert "CardInsufficientMemory" in reason_of(r)
    r = simulate(one(core_gpu(0, usedcores=95, used=5)), [pod("p", gpu=1, gpumem=100, gpucores=100)], version=version)
    assert "CardInsufficientCore" in reason_of(r)


@BOTH
def test_uuid_is_checked_before_time_slicing(version):
    gpu = core_gpu(0, uid="GPU-other", count=0, used=5)
    r = simulate(one(gpu), [pod("p", gpu=1, gpumem=1, annotations={"nvidia.com/use-gpuuuid": "GPU-aaa"})],
                 version=version)
    assert reason_of(r) == "0/1 nodes are available: 1 CardUuidMismatch."


def test_gpucores_above_100_is_clamped():
    r = simulate(one(core_gpu(0)), [pod("p", gpu=1, gpumem=100, gpucores=200)])
    assert r.pods[0].annotations["hami.io/vgpu-devices-allocated"] == "GPU-0,NVIDIA,100,100:;"


@BOTH
def test_percentage_request_resolves_against_registered_memory(version):
    r = simulate(one(core_gpu(0, mem=8192)), [pod("p", gpu=1, pct=50, gpucores=10)], version=version)
    assert r.pods[0].annotations["hami.io/vgpu-devices-allocated"] == "GPU-0,NVIDIA,4096,10:;"


def test_mig_gpu_without_a_fitting_template_fails_custom_rule():
    gpu = legacy_mig_gpu(0, ((MigTemplate("1g.5gb", 100, 14, 1),),))
    r = simulate(one(gpu), [pod("p", gpu=1, gpumem=4096)], version="2.9", config=legacy_config())
    assert reason_of(r) == "0/1 nodes are available: 1 CardNotFoundCustomFilterRule."


# --------------------------------------------------------------------------- uuid and type annotations


@pytest.mark.parametrize("annos,expected", [
    ({}, "GPU-2"),
    ({"nvidia.com/use-gpuuuid": "GPU-0,GPU-1"}, "GPU-1"),
    ({"nvidia.com/nouse-gpuuuid": "GPU-1,GPU-2"}, "GPU-0"),
    ({"nvidia.com/use-gpuuuid": ""}, "GPU-2"),  # HEAD: empty means no constraint
    ({"nvidia.com/use-gpuuuid": " GPU-0 "}, "GPU-0"),  # HEAD trims
    ({"nvidia.com/use-gpuuuid": "GPU-0,GPU-1", "nvidia.com/nouse-gpuuuid": "GPU-1"}, "GPU-0"),  # both apply
])
def test_uuid_annotations_v2_10(annos, expected):
    r = simulate(cluster(node("n1", [core_gpu(0), core_gpu(1), core_gpu(2)])),
                 [pod("p", gpu=1, gpumem=100, gpucores=1, annotations=annos)])
    assert placed(r)[0][0] == expected


def test_uuid_annotations_v2_9_use_wins_over_nouse_and_no_trim():
    gpus = [core_gpu(0), core_gpu(1), core_gpu(2)]
    annos = {"nvidia.com/use-gpuuuid": "GPU-0,GPU-1", "nvidia.com/nouse-gpuuuid": "GPU-1"}
    r = simulate(cluster(node("n1", gpus)), [pod("p", gpu=1, gpumem=100, gpucores=1, annotations=annos)], version="2.9")
    assert placed(r)[0][0] == "GPU-1"
    r = simulate(cluster(node("n1", [core_gpu(0)])),
                 [pod("p", gpu=1, gpumem=100, annotations={"nvidia.com/use-gpuuuid": " GPU-0"})], version="2.9")
    assert reason_of(r) == "0/1 nodes are available: 1 CardUuidMismatch."


@pytest.mark.parametrize("version,annos,ok", [
    ("2.10", {"nvidia.com/use-gputype": "a100"}, True),
    ("2.10", {"nvidia.com/use-gputype": "H100,A100"}, True),
    ("2.10", {"nvidia.com/use-gputype": "H100"}, False),
    ("2.10", {"nvidia.com/nouse-gputype": "A100"}, False),
    ("2.10", {"nvidia.com/nouse-gputype": ""}, True),  # HEAD: empty means no constraint
    ("2.9", {"nvidia.com/nouse-gputype": ""}, False),  # v2.9: "" is a substring of every type
    ("2.9", {"nvidia.com/use-gputype": ""}, True),
    ("2.10", {"nvidia.com/vgpu-mode": "mig,hami-core"}, True),
    ("2.10", {"nvidia.com/vgpu-mode": ""}, False),  # an empty mode matches nothing
    ("2.10", {"nvidia.com/vgpu-mode": "mig"}, False),
])
def test_type_and_mode_annotations(version, annos, ok):
    r = simulate(one(core_gpu(0)), [pod("p", gpu=1, gpumem=100, gpucores=1, annotations=annos)], version=version)
    assert r.pods[0].scheduled is ok
    if not ok:
        assert reason_of(r) == "0/1 nodes are available: 1 CardTypeMismatch."


# --------------------------------------------------------------------------- numa, mutex, cordon, counts


@BOTH
def test_numa_bind_needs_all_devices_from_one_numa_node(version):
    def state():
        return cluster(node("n1", [core_gpu(0, numa=0), core_gpu(1, numa=1)]))

    annos = {"nvidia.com/numa-bind": "true"}
    r = simulate(state(), [pod("p", gpu=2, gpumem=100, gpucores=1, annotations=annos)], version=version)
    assert reason_of(r) == "0/1 nodes are available: 1 NumaNotFit."
    r = simulate(state(), [pod("p", gpu=2, gpumem=100, gpucores=1)], version=version)
    assert r.pods[0].scheduled
    ok = cluster(node("n1", [core_gpu(0, numa=1), core_gpu(1, numa=1), core_gpu(2, numa=0)]))
    r = simulate(ok, [pod("p", gpu=2, gpumem=100, gpucores=1, annotations=annos)], version=version)
    assert sorted(g for g, _, _ in placed(r)) == ["GPU-0", "GPU-1"]


def test_mutex_policy_v2_10_takes_idle_gpus_only():
    state = cluster(node("n1", [core_gpu(0, used=1, usedmem=10, usedcores=1), core_gpu(1)]))
    annos = {"hami.io/gpu-scheduler-policy": "mutex"}
    r = simulate(state, [pod("a", gpu=1, gpumem=100, gpucores=1, annotations=annos),
                         pod("b", gpu=1, gpumem=100, gpucores=1, annotations=annos)])
    assert placed(r, 0)[0][0] == "GPU-1"
    assert reason_of(r, 1) == "0/1 nodes are available: 1 ExclusiveDeviceAllocateConflict."


def test_cordoned_gpu_v2_10_only():
    r = simulate(one(core_gpu(0, cordoned=True)), [pod("p", gpu=1, gpumem=100, gpucores=1)])
    assert reason_of(r) == "0/1 nodes are available: 1 CardCordoned."
    r = simulate(one(core_gpu(0, cordoned=True)), [pod("p", gpu=1, gpumem=100, gpucores=1)], version="2.9")
    assert r.pods[0].scheduled


def test_node_insufficient_device_and_the_v2_10_mig_exemption():
    r = simulate(one(core_gpu(0)), [pod("p", gpu=2, gpumem=100, gpucores=1)])
    assert reason_of(r) == "0/1 nodes are available: 1 NodeInsufficientDevice."
    r = simulate(one(current_mig_gpu(0)), [pod("p", gpu=3, gpumem=4000)])
    assert [p[1] for p in placed(r)] == ["1g.5gb"] * 3
    r = simulate(one(current_mig_gpu(0)), [pod("p", gpu=3, gpumem=4000, annotations={"nvidia.com/vgpu-mode": "hami-core"})])
    assert reason_of(r) == "0/1 nodes are available: 1 NodeInsufficientDevice."


def test_pod_with_no_gpu_request_on_a_node_without_gpus_is_placed():
    r = simulate(cluster(node("cpu-only", [])), [pod("web", cpu="100m")])
    assert r.pods[0].node == "cpu-only"
    r = simulate(cluster(node("cpu-only", [])), [pod("gpu", gpu=1, gpumem=100)])
    assert reason_of(r) == "0/1 nodes are available: 1 NodeInsufficientDevice."


# --------------------------------------------------------------------------- containers


def test_multi_container_pod_sees_earlier_containers():
    c = [{"name": n, "resources": {"limits": {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 30000}}} for n in ("a", "b")]
    r = simulate(cluster(node("n1", [core_gpu(0), core_gpu(1)])), [pod("p", containers=c)])
    assert [(a.container, a.gpu_id) for a in r.pods[0].allocations] == [("a", "GPU-1"), ("b", "GPU-0")]
    r = simulate(one(core_gpu(0)), [pod("p", containers=c)])
    assert reason_of(r) == "0/1 nodes are available: 1 CardInsufficientMemory."
    assert r.pods[0].scheduled is False


def test_init_containers_fit_on_a_fresh_copy_and_count_at_peak():
    init = [{"name": "warm", "resources": {"limits": {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 30000}}}]
    app = [{"name": "main", "resources": {"limits": {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 20000}}},
           {"name": "side", "resources": {"limits": {"cpu": "1"}}}]
    # a GPU registered with the type "NVIDIA": HAMi v2.10.0 pads the GPU-less "side" container's entry
    state = one(core_gpu(0, type="NVIDIA"))
    r = simulate(state, [pod("p", containers=app, init=init)])
    p = r.pods[0]
    assert p.scheduled
    assert p.annotations["hami.io/vgpu-devices-allocated"] == "GPU-0,NVIDIA,30000,0:;GPU-0,NVIDIA,20000,0:;;"
    g = state.nodes["n1"].gpus[0]
    assert (g.used, g.usedmem) == (1, 30000)
    # a real node registers the model (NVIDIA A100-PCIE-40GB): v2.10.0 writes no entry for "side"
    state = one(core_gpu(0))
    p = simulate(state, [pod("p", containers=app, init=init)]).pods[0]
    assert p.annotations["hami.io/vgpu-devices-allocated"] == "GPU-0,NVIDIA,30000,0:;GPU-0,NVIDIA,20000,0:;"
    g = state.nodes["n1"].gpus[0]
    assert (g.used, g.usedmem) == (1, 30000)


# --------------------------------------------------------------------------- webhook and requests


def test_webhook_adds_default_gpu_num_when_only_memory_is_limited():
    r = simulate(one(core_gpu(0)), [pod("p", gpumem=1000)])
    assert r.pods[0].annotations["hami.io/vgpu-devices-allocated"] == "GPU-0,NVIDIA,1000,0:;"
    cfg = NvidiaConfig.hami_defaults(default_gpu_num=0)
    r = simulate(one(core_gpu(0)), [pod("p", gpumem=1000)], config=cfg)
    assert r.pods[0].scheduled and r.pods[0].allocations == []


def test_webhook_denies_out_of_range_percentage_in_v2_10_only():
    r = simulate(one(core_gpu(0)), [pod("p", gpu=1, pct=150)])
    assert r.pods[0].reason.startswith("admission webhook denied the pod")
    r = simulate(one(core_gpu(0)), [pod("p", gpu=1, pct=150, gpucores=0)], version="2.9")
    assert not r.pods[0].scheduled and "CardInsufficientMemory" in reason_of(r)


def test_webhook_denies_privileged_gpu_containers():
    c = [{"name": "x", "securityContext": {"privileged": True}, "resources": {"limits": {"nvidia.com/gpu": 1}}}]
    r = simulate(one(core_gpu(0)), [pod("p", containers=c)])
    assert "privileged" in r.pods[0].reason


def test_request_construction():
    cfg = NvidiaConfig.hami_defaults(default_memory=0, memory_factor=2)
    p = mutate(pod("p", gpu=2, gpumem=1000), cfg, HamiVersion.V2_10)
    req = container_request(p.containers[0], cfg, HamiVersion.V2_10)
    assert (req.nums, req.memreq, req.mem_percentage, req.coresreq) == (2, 2000, UNSET_PERCENTAGE, 0)
    p = mutate(pod("p", gpu=1), NvidiaConfig.hami_defaults(default_memory=4000), HamiVersion.V2_10)
    req = container_request(p.containers[0], NvidiaConfig.hami_defaults(default_memory=4000), HamiVersion.V2_10)
    # the exclusive default ignores defaultMemory (quirk): memory 4000 but cores 100
    assert (req.memreq, req.coresreq) == (4000, 100)
    bad = pod("p", gpu=1, gpumem="8Gi")
    assert container_request(bad.containers[0], NvidiaConfig.hami_defaults(), HamiVersion.V2_10) is None
    # v2.9 checks "no memory asked" on the Go int, then converts with int32(): 8Gi = 2^33 wraps
    # to 0 and the pod asks for no memory at all
    req = container_request(bad.containers[0], NvidiaConfig.hami_defaults(), HamiVersion.V2_9)
    assert (req.memreq, req.mem_percentage) == (0, UNSET_PERCENTAGE)
    assert container_request(pod("p", gpu=0).containers[0], NvidiaConfig.hami_defaults(), HamiVersion.V2_10) is None
    clamp = pod("p", gpu=1, pct=0)
    req = container_request(clamp.containers[0], NvidiaConfig.hami_defaults(), HamiVersion.V2_10)
    assert req.mem_percentage == 100  # <= 0 becomes "unset", then the whole card
    req = container_request(clamp.containers[0], NvidiaConfig.hami_defaults(), HamiVersion.V2_9)
    assert req.mem_percentage == 0


def test_scoring_weights_annotation_parsing():
    def weights(text):
        p = pod("p", annotations={"hami.io/device-scoring-weights": text})
        return pod_options(p, HamiVersion.V2_10, gpu_policy="spread", node_policy="binpack").weights

    assert weights("slot=1,core=1,memory=3") == (1, 1, 3)
    assert weights("slot=1,core=1") == (1, 1, 1)  # incomplete: defaults
    assert weights("slot=0,core=0,memory=0") == (1, 1, 1)
    assert weights("slot=-1,core=1,memory=1") == (1, 1, 1)


# --------------------------------------------------------------------------- policy sorts and scores


def test_device_score_is_utilisation_only():
    gpu = Gpu("d", 0, count=10, totalmem=8192, totalcore=4, type=A100, used=2, usedcores=1, usedmem=2048)
    assert device_score(gpu) == 7.0
    assert device_score(Gpu("z", 0, 0, 0, 0, A100)) == 0.0


def test_node_score_sums_all_devices():
    a = Gpu("a", 0, count=100, totalmem=100, totalcore=100, type="GPU", used=50, usedmem=100, usedcores=100)
    b = Gpu("b", 1, count=150, totalmem=200, totalcore=200, type="CPU", used=75, usedmem=200, usedcores=200)
    assert node_score([a, b]) == 25.0
    assert node_score([]) == 0.0


@pytest.mark.parametrize("policy,first,second,first_sorts_before", [
    ("binpack", (0, 10), (0, 20), True),
    ("binpack", (1, 10), (0, 20), True),
    ("binpack", (0, 10), (1, 20), False),
    ("spread", (0, 10), (0, 20), False),
    ("spread", (1, 10), (0, 20), False),
    ("spread", (0, 10), (1, 20), True),
])
def test_v2_9_gpu_sort_numa_is_primary(policy, first, second, first_sorts_before):
    g1 = Gpu("g1", 0, 10, 100, 100, A100, numa=first[0])
    g2 = Gpu("g2", 1, 10, 100, 100, A100, numa=second[0])
    scores = {id(g1): float(first[1]), id(g2): float(second[1])}
    out = sort_gpus([g1, g2], scores, policy, numa_bind=False, version=HamiVersion.V2_9)
    assert (out[0] is g1) is first_sorts_before


def test_v2_10_gpu_sort_score_is_primary_and_chains_end_on_index():
    g = [Gpu(f"g{i}", i, 10, 100, 100, A100, numa=n) for i, n in enumerate((1, 0, 0))]
    scores = {id(g[0]): 1.0, id(g[1]): 5.0, id(g[2]): 1.0}
    binpack = sort_gpus(g, scores, "binpack", numa_bind=False, version=HamiVersion.V2_10)
    assert [x.id for x in binpack] == ["g2", "g0", "g1"]  # score asc, NUMA asc tie-break
    chain = sort_gpus(g, scores, "binpack,numa", numa_bind=False, version=HamiVersion.V2_10)
    assert [x.id for x in chain] == ["g2", "g0", "g1"]
    spread = sort_gpus(g, scores, "spread", numa_bind=False, version=HamiVersion.V2_10)
    assert [x.id for x in spread] == ["g1", "g2", "g0"]


# --------------------------------------------------------------------------- HAMi's Test_calcScore matrix


@pytest.mark.parametrize("devices,expected_gpu,expected_score", [
    ([dict()], "uuid1", 0.0),
    ([dict(used=5, usedmem=4000, usedcores=50)], "uuid1", 15.0),
    ([dict(), dict()], "uuid2", 0.0),  # equal scores: the device listed last wins
    ([dict(), dict(used=5, usedmem=4000, usedcores=50)], "uuid1", 7.5),  # spread: the idle one
])
def test_calc_score_matrix(devices, expected_gpu, expected_score):
    gpus = [Gpu(f"uuid{i + 1}", 0, 10, 8000, 100, "NVIDIA", **kw) for i, kw in enumerate(devices)]
    r = simulate(cluster(node("node1", gpus)), [pod("test1", gpu=1, gpumem=1000, gpucores=30)], explain=True)
    p = r.pods[0]
    assert [(a.gpu_id, a.memory_mib, a.cores) for a in p.allocations] == [(expected_gpu, 1000, 30)]
    assert p.verdicts[0].score == expected_score
