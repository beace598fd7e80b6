"""The FGD fragmentation measure on small hand-computed cases, and its cache."""

from __future__ import annotations

import pytest

from migctl.capacity.fragmentation import FragmentationCache, cluster_fragmentation
from migctl.capacity.shapes import Shape
from migctl.config.model import NvidiaConfig
from migctl.simulate import ClusterState, Gpu, HamiVersion, Node, SimulationOptions, Simulator
from migctl.simulate.state import MigAllocationUsage, MigSlot, MigTemplate, Placement
from migctl.simulate.synthetic import A100, A100_PROFILES, synthetic_cluster, synthetic_config, synthetic_pods

V29 = SimulationOptions(version=HamiVersion("2.9"))
V210 = SimulationOptions(version=HamiVersion("2.10"))
CFG = NvidiaConfig.hami_defaults()
GEOMETRIES = (
    (MigTemplate("1g.5gb", 5120, 14, 7),),
    (MigTemplate("3g.20gb", 20480, 42, 2),),
    (MigTemplate("7g.40gb", 40960, 100, 1),),
)


def _state(*gpus: Gpu, name: str = "n1") -> ClusterState:
    state = ClusterState()
    state.add(Node(name, list(gpus)))
    return state


def S(text: str) -> Shape:
    return Shape.parse(text)


def test_hami_core_fragment_is_free_memory_weighted_by_the_shapes_that_cannot_run():
    gpu = Gpu("G0", 0, 10, 40960, 100, A100, used=1, usedmem=30000, usedcores=50)
    shapes = [(S("gpumem=8000,cores=10,mode=hami-core"), 1), (S("gpumem=20000,cores=10,mode=hami-core"), 3)]
    frag = cluster_fragmentation(_state(gpu), CFG, V210, shapes)
    assert frag.free_mib == 10960
    assert frag.stranded_mib == pytest.approx(10960 * 3 / 4)
    assert frag.fgd == pytest.approx(0.75)
    g = frag.nodes[0].gpus[0]
    assert g.runs == (True, False) and g.reasons == ("", "CardInsufficientMemory")
    assert g.causes == {"memory": pytest.approx(8220)}


def test_cores_and_slots_strand_memory_too():
    full_cores = Gpu("G0", 0, 10, 40960, 100, A100, used=1, usedmem=10000, usedcores=100)
    no_slots = Gpu("G1", 1, 2, 40960, 100, A100, used=2, usedmem=10000, usedcores=20)
    frag = cluster_fragmentation(_state(full_cores, no_slots), CFG, V210, [(S("gpumem=1000,cores=10,mode=hami-core"), 1)])
    a, b = frag.nodes[0].gpus
    assert a.stranded_mib == 30960 and a.causes == {"cores": 30960}
    assert b.stranded_mib == 30960 and b.causes == {"slots": 30960}
    assert frag.fgd == 1.0


def test_legacy_locked_geometry_splits_into_locked_and_small_slots():
    # locked to 1g.5gb x7 with six slots in use: one free 1g slot (5120), 5120 MiB never carved
    slots = [MigSlot("1g.5gb", 5120, 14, i < 6) for i in range(7)]
    gpu = Gpu("G0", 0, 10, 40960, 100, A100, mode="mig", used=6, usedmem=6 * 5120, usedcores=84,
              templates=GEOMETRIES, mig_index=0, usage_list=slots)
    shapes = [(S("gpumem=5000,mode=mig"), 1), (S("gpumem=10000,mode=mig"), 1)]
    frag = cluster_fragmentation(_state(gpu), CFG, V29, shapes)
    g = frag.nodes[0].gpus[0]
    assert g.free_mib == 10240 and g.runs == (True, False)
    assert g.stranded_mib == pytest.approx(5120)  # half the weight cannot run: half of the free memory
    assert g.causes == {"small_slots": pytest.approx(2560), "locked_geometry": pytest.approx(2560)}
    assert g.free_slots == ("1g.5gb",) and g.uncarved_mib == 5120


def test_legacy_idle_gpu_strands_nothing():
    gpu = Gpu("G0", 0, 10, 40960, 100, A100, mode="mig", templates=GEOMETRIES)
    frag = cluster_fragmentation(_state(gpu), CFG, V29, [(S("gpumem=40000,mode=mig"), 1), (S("gpumem=4000,mode=mig"), 1)])
    assert frag.stranded_mib == 0 and frag.free_mib == 40960 and frag.fgd == 0


def test_v210_free_units_no_placement_covers():
    # 3g.20gb at 0-3 and 2g.10gb at 4-5: units 6 and 7 free; a 1g placement covers 6, nothing covers 7
    gpu = Gpu("G0", 0, 7, 40960, 100, A100, mode="mig", used=2, usedmem=19968 + 9984, usedcores=72,
              profiles=A100_PROFILES,
              allocations=[MigAllocationUsage.reserve("G0", "3g.20gb", Placement(0, 4)),
                           MigAllocationUsage.reserve("G0", "2g.10gb", Placement(4, 2))])
    shapes = [(S("gpumem=4000,mode=mig"), 1), (S("gpumem=9000,mode=mig"), 1)]
    g = cluster_fragmentation(_state(gpu), CFG, V210, shapes).nodes[0].gpus[0]
    assert g.free_units == (6, 7) and g.uncovered_units == (7,)
    assert g.free_mib == 11008 and g.stranded_mib == pytest.approx(5504)
    assert g.causes == {"uncovered_units": pytest.approx(2752), "small_placements": pytest.approx(2752)}


def test_shapes_out_of_scope_do_not_count():
    core = Gpu("G0", 0, 10, 40960, 100, A100, used=1, usedmem=30000, usedcores=10)
    frag = cluster_fragmentation(_state(core), CFG, V210, [(S("gpumem=20000,mode=mig"), 1)])
    g = frag.nodes[0].gpus[0]
    assert g.runs == (None,) and not g.in_scope and g.stranded_mib == 0 and frag.fgd == 0


def test_multi_gpu_shape_the_node_cannot_give_strands_every_gpu():
    busy = Gpu("G0", 0, 10, 40960, 100, A100, used=1, usedmem=40960, usedcores=100)
    free = Gpu("G1", 1, 10, 40960, 100, A100)
    frag = cluster_fragmentation(_state(busy, free), CFG, V210, [(S("gpu=2,gpumem=1000,cores=10,mode=hami-core"), 1)])
    a, b = frag.nodes[0].gpus
    assert a.stranded_mib == 0
    assert b.stranded_mib == 40960 and b.causes == {"node_gpus": 40960} and b.runs == (False,)


@pytest.mark.parametrize("options", [V29, V210], ids=["2.9", "2.10"])
def test_cache_follows_placements(options):
    state = synthetic_cluster(12, 4)
    cfg = synthetic_config()
    shapes = [(S("gpumem=4000,mode=mig"), 2), (S("gpumem=19000,mode=mig"), 1),
              (S("gpumem=10000,cores=25,mode=hami-core"), 1), (S("gpu=2,gpumem=30000,mode=hami-core"), 1)]
    cache = FragmentationCache()
    sim = Simulator(state, cfg, options)
    for pod in synthetic_pods(120, seed=5):
        sim.place(pod)
        cached = cluster_fragmentation(state, cfg, options, shapes, cache=cache)
    fresh = cluster_fragmentation(state, cfg, options, shapes)
    assert cached == fresh
    assert 0 < fresh.fgd < 1
