"""Headroom is exactly what repeated placement gives: the per-node and per-GPU paths against the
definition on generated clusters (both HAMi generations, every policy), and against
``migctl simulate --repeat N`` itself on the examples."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from migctl.capacity.headroom import copy_state, headroom
from migctl.capacity.shapes import Shape
from migctl.simulate import HamiVersion, SimulationOptions, Simulator
from migctl.simulate.state import Taint
from migctl.simulate.synthetic import synthetic_cluster, synthetic_config, synthetic_pods

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

SHAPES = [
    "gpu=1,gpumem=4000,mode=mig", "gpu=1,gpumem=9000,mode=mig", "gpu=1,gpumem=19000,mode=mig",
    "gpu=1,gpumem=8000,cores=20,mode=hami-core", "gpu=1,gpumem=10000", "gpu=1", "gpu=1,gpumem=50%,cores=30",
    "gpu=2,gpumem=9000,mode=mig", "gpu=3,gpumem=6000,cores=10,mode=hami-core",
]
POLICIES = [("binpack", "spread"), ("spread", "binpack"), ("binpack", "topology-aware"), ("spread", "mutex")]


def _answer(h):
    return h.fits, h.by_node, h.next_failure


def _empty(state):
    out = copy_state(state)
    for node in out.nodes.values():
        for g in node.gpus:
            g.used = g.usedmem = g.usedcores = 0
            g.usage_list, g.mig_index, g.allocations = [], -1, []
    return out


def _prefilled(version: str, seed: int, pods: int = 90, nodes: int = 16, gpus: int = 4):
    state = synthetic_cluster(nodes, gpus, seed=seed)
    Simulator(state, synthetic_config(), SimulationOptions(version=HamiVersion(version))).run(
        synthetic_pods(pods, seed=seed + 10))
    return state


@pytest.mark.parametrize("version", ["2.9", "2.10"])
@pytest.mark.parametrize("node_policy, gpu_policy", POLICIES)
@pytest.mark.parametrize("seed", [1, 2])
def test_fast_paths_equal_repeated_placement(version, node_policy, gpu_policy, seed):
    state = _prefilled(version, seed)
    before = copy_state(state)
    cfg = synthetic_config()
    options = SimulationOptions(version=HamiVersion(version), node_policy=node_policy, gpu_policy=gpu_policy)
    methods_seen = set()
    for text in SHAPES:
        shape = Shape.parse(text)
        for st in (state, _empty(state)):  # the empty one: identical nodes, memoised fills
            slow = headroom(st, cfg, options, shape, method="repeat")
            per_node = headroom(st, cfg, options, shape, method="per-node")
            fast = headroom(st, cfg, options, shape)
            methods_seen.add(fast.method)
            assert _answer(per_node) == _answer(slow), text
            assert _answer(fast) == _answer(slow), text
            assert slow.next_failure and slow.next_failure.startswith("0/16 nodes are available")
    assert methods_seen == {"per-gpu", "per-node"}
    assert state == before  # never modified


@pytest.mark.parametrize("version", ["2.9", "2.10"])
def test_fast_paths_with_pod_limits_taints_and_cordons(version):
    state = _prefilled(version, 3, pods=60)
    names = list(state.nodes)
    state.nodes[names[0]].pods_allocatable = state.nodes[names[0]].pods + 2  # the pod count binds
    state.nodes[names[1]].pods_allocatable = state.nodes[names[1]].pods  # full
    state.nodes[names[2]].taints = (Taint("gpu", "busy", "NoSchedule"),)
    state.nodes[names[3]].unschedulable = True
    state.nodes[names[4]].gpus[0].health = False
    state.nodes[names[5]].gpus[1].cordoned = True
    cfg = synthetic_config()
    options = SimulationOptions(version=HamiVersion(version))
    for text in SHAPES:
        shape = Shape.parse(text)
        slow = headroom(state, cfg, options, shape, method="repeat")
        assert _answer(headroom(state, cfg, options, shape)) == _answer(slow), text
        assert _answer(headroom(state, cfg, options, shape, method="per-node")) == _answer(slow), text
    small = headroom(state, cfg, options, Shape.parse("gpu=1,gpumem=1000,cores=1,mode=hami-core"))
    assert small.by_node.get(names[0]) == 2 or names[0].startswith("mig")


def _generated(tmp_path: Path, generation: str, pods: int):
    sys.path.insert(0, str(ROOT / "bench"))
    from gen_cluster import generate

    from migctl.cluster.snapshot import load_snapshot

    path = tmp_path / f"gen-{generation}.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                "items": list(generate(12, 4, pods, generation=generation, seed=7))}))
    return load_snapshot(path)


@pytest.mark.parametrize("generation", ["v2.9", "v2.10"])
def test_report_equals_repeated_placement_on_a_generated_snapshot(tmp_path, generation):
    from migctl.capacity.report import capacity_report, scheduler_config
    from migctl.cluster.device_config import attach_device_config
    from migctl.simulate.build import state_from_cluster

    cluster = _generated(tmp_path, generation, 30)
    attach_device_config(cluster)
    report = capacity_report(cluster)
    assert report.version == generation[1:]
    cfg = scheduler_config(cluster)
    options = SimulationOptions(version=HamiVersion(report.version))
    state = state_from_cluster(cluster, cfg, options.version)
    empty = state_from_cluster(replace(cluster, pods=[]), cfg, options.version)
    assert len(report.shapes) >= 4
    for row in report.shapes:
        assert _answer(row.now) == _answer(headroom(state, cfg, options, row.shape, method="repeat"))
        assert _answer(row.empty) == _answer(headroom(empty, cfg, options, row.shape, method="repeat"))
        assert row.empty.fits >= row.now.fits


@pytest.mark.parametrize("version", ["2.9", "2.10"])
@pytest.mark.parametrize("text", ["gpu=1,gpumem=5120,mode=mig", "gpu=1,gpumem=10240,cores=25,mode=hami-core",
                                  "gpu=2,gpumem=8000,mode=mig", "gpu=2,gpumem=8000"])
def test_capacity_is_what_simulate_repeat_places(cli, tmp_path, version, text):
    """fits_now pods of the shape all schedule with `migctl simulate --repeat N`; one more stays
    Pending with the reason capacity gives."""
    shape = Shape.parse(text)
    cluster = EXAMPLES / "cluster.yaml"
    result = cli("capacity", "--cluster", cluster, "--hami-version", version, "--shape", text, "-o", "json")
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)["shapes"]
    n = row["fits_now"]
    pod_file = tmp_path / "shape.yaml"
    pod_file.write_text(yaml.safe_dump(shape.pod_object(name="probe", namespace="default")))
    sim = cli("simulate", pod_file, "--cluster", cluster, "--hami-version", version, "--repeat", n + 1, "-o", "json")
    pods = json.loads(sim.stdout)["pods"]
    assert [p["scheduled"] for p in pods] == [True] * n + [False]
    placed: dict[str, int] = {}
    for p in pods[:n]:
        placed[p["node"]] = placed.get(p["node"], 0) + 1
    assert placed == row["by_node"]
    assert pods[-1]["reason"] == row["next_failure"]


@pytest.mark.parametrize("version", ["2.9", "2.10"])
def test_topology_scores_follow_gpu_positions_in_the_node_memo(version):
    """Identical nodes whose GPUs carry hami.io/node-nvidia-score pair scores (by GPU id) fill alike."""
    state = _empty(_prefilled(version, 4, pods=0, nodes=8, gpus=4))
    for k, node in enumerate(state.nodes.values()):
        ids = [g.id for g in node.gpus]
        for i, g in enumerate(node.gpus):
            # nodes 0-3 and 4-7 differ in which pair talks best
            g.pair_scores = {o: (100 if {i, j} == ({0, 3} if k < 4 else {1, 2}) else 10) for j, o in enumerate(ids) if o != g.id}
    cfg = synthetic_config()
    options = SimulationOptions(version=HamiVersion(version), gpu_policy="topology-aware")
    for text in ("gpu=2,gpumem=9000,cores=10,mode=hami-core", "gpu=2,gpumem=9000,mode=mig", "gpu=3,gpumem=4000,cores=5"):
        shape = Shape.parse(text)
        slow = headroom(state, cfg, options, shape, method="repeat")
        assert _answer(headroom(state, cfg, options, shape)) == _answer(slow), text


def test_a_shape_the_config_does_not_count_as_a_gpu_is_refused():
    from migctl.capacity.shapes import ShapeError
    from migctl.config.model import NvidiaConfig

    state = synthetic_cluster(2, 2)
    cfg = NvidiaConfig.hami_defaults(resource_count_name="")
    for method in ("auto", "repeat"):
        with pytest.raises(ShapeError, match="asks for no GPU"):
            headroom(state, cfg, SimulationOptions(), Shape.parse("gpu=1"), method=method)


def test_a_limit_stops_counting_with_no_reason():
    from migctl.config.model import NvidiaConfig

    state = synthetic_cluster(2, 2)
    h = headroom(state, NvidiaConfig.hami_defaults(), SimulationOptions(), Shape.parse("gpu=1,gpumem=10"), limit=3)
    assert h.fits == 3 and h.next_failure is None and h.method == "repeat"
    assert headroom(state, NvidiaConfig.hami_defaults(), SimulationOptions(), Shape.parse("gpu=1,gpumem=10")).fits > 3
