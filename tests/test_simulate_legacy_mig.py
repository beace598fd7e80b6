"""Legacy (v2.5-v2.9) MIG in the simulator: HAMi's template first-fit, queued devices in
CustomFilterRule, the ``[t-s]`` entry index, container order and init containers, and the reasons
v2.9.0 and v2.10.0 give (HAMi ``pkg/device/nvidia/device.go`` Fit and ``pkg/scheduler/score.go`` at v2.9.0)."""

from __future__ import annotations

import json

from simulate_support import (
    CHART_A100,
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


def test_legacy_init_and_app_on_one_gpu_share_its_geometry():
    # HAMi v2.9.0 pkg/scheduler/score.go calcScore fits the init container and the app container on
    # the same node usage: the init container (15000 MiB) expands the 3g geometry ([2-0]); the app
    # container (8000 MiB) takes that geometry's free slot ([2-1]); getNodesUsage adds both entries
    # (2 slots, 40960 MiB) and the next 8000 MiB pod finds no memory. (Before: a fresh copy for the
    # init container gave the app [1-1] of another geometry, which v2.9.0 cannot even rebuild.)
    init = [{"name": "init", "resources": {"limits": {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 15000}}}]
    app = [{"name": "main", "resources": {"limits": {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 8000}}}]
    state = cluster(node("n1", [legacy_mig_gpu(0)]))
    result = simulate(state, [pod("p", init=init, containers=app), pod("q", gpu=1, gpumem=8000)], version="2.9",
                      config=legacy_config())
    p, q = result.pods
    assert p.annotations["hami.io/vgpu-devices-allocated"] == "GPU-0[2-0],NVIDIA,20480,42:;GPU-0[2-1],NVIDIA,20480,42:;"
    gpu = state.nodes["n1"].gpus[0]
    assert not q.scheduled and q.reason == "0/1 nodes are available: 1 CardInsufficientMemory."
    assert (gpu.used, gpu.usedmem, gpu.usedcores) == (2, 40960, 84)
    assert [s.in_use for s in gpu.usage_list] == [True, True]


def test_legacy_filter_without_queued_devices_answers_as_the_copying_rule():
    """The shortcut taken when nothing is queued (no copy) agrees with the copying rule itself, on idle
    GPUs (geometries with empty entries included) and on every slot pattern of an active geometry."""
    from itertools import product

    from migctl.simulate.mig import _filter_on_copy as _filter_by_copy
    from migctl.simulate.mig import legacy_filter
    from migctl.simulate.state import expand_geometry

    geometries = CHART_A100 + ((T("3g.20gb", 20480, 0), T("1g.5gb", 5120, 2)),)
    requests = (0, 1, 5120, 6000, 10240, 20480, 30000, 40960, 50000)
    for memreq in requests:
        idle = legacy_mig_gpu(0, geometries)
        assert legacy_filter(idle, memreq, []) == _filter_by_copy(idle, memreq, []), memreq
    for index, geometry in enumerate(CHART_A100):
        slots = len(expand_geometry(geometry))
        for pattern in product((False, True), repeat=min(slots, 7)):
            gpu = legacy_mig_gpu(0)
            gpu.mig_index, gpu.usage_list = index, expand_geometry(geometry)
            for slot, used in zip(gpu.usage_list, pattern):
                slot.in_use = used
            for memreq in requests:
                assert legacy_filter(gpu, memreq, []) == _filter_by_copy(gpu, memreq, []), (index, pattern, memreq)
                assert legacy_filter(gpu, memreq, [5120]) == _filter_by_copy(gpu, memreq, [5120])


def test_geometry_problems_name_every_gpu_and_match_the_solver_per_gpu():
    """One verdict per (GPU type, geometry), worked out once, and one sentence per GPU, in order."""
    from migctl.hardware.catalogue import load_catalogue
    from migctl.hardware.solver import solve
    from migctl.simulate.feasibility import geometry_problems
    from migctl.simulate.state import expand_geometry
    from simulate_support import A100

    bad = (T("3g.20gb", 20480, 2), T("1g.5gb", 5120, 1))  # 3g x2 leaves no 1g slice on an A100-40GB
    gpus = []
    for i, (geometry, gpu_type) in enumerate([(bad, A100), (CHART_A100[2], A100), (bad, A100),
                                                (bad, "NVIDIA Z999"), (CHART_A100[0], A100), (bad, "NVIDIA Z999")]):
        gpu = legacy_mig_gpu(i, CHART_A100 + (bad,))
        gpu.type = gpu_type
        gpu.mig_index, gpu.usage_list = 0, expand_geometry(geometry)
        gpus.append((f"n{i % 2}", gpu))
    idle = legacy_mig_gpu(9)  # no geometry yet: nothing to check
    problems = geometry_problems(gpus + [("n0", idle)], load_catalogue())
    catalogue = load_catalogue()
    expected = []
    for node_name, gpu in gpus:
        match = catalogue.lookup(gpu.type)
        where = f"node {node_name} GPU {gpu.index} ({gpu.id})"
        if match is None:
            expected.append(f"{where}: GPU type {gpu.type!r} is not in the hardware catalogue; "
                            f"geometry {gpu.geometry()} was not checked")
        elif not (solution := solve(match.model, gpu.geometry())).feasible:
            expected.append(f"{where}: the device plugin could not create geometry {gpu.geometry()} on "
                            f"{match.model.key}: {solution.reason}")
    assert problems == expected
    assert [p.split(":")[0] for p in problems] == [
        "node n0 GPU 0 (GPU-0)", "node n0 GPU 2 (GPU-2)", "node n1 GPU 3 (GPU-3)", "node n1 GPU 5 (GPU-5)"]
