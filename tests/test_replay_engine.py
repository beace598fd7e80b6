"""The replay's event order, departures, queueing and drops on hand-made traces with known answers;
a replay of one pod equals ``simulate`` of that pod; the failure shortcut changes nothing."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from migctl.cluster.snapshot import load_snapshot
from migctl.config.load import load_device_config
from migctl.hardware.catalogue import load_catalogue
from migctl.replay.engine import DROP, QUEUE, GpuMeter, ReplayOptions, percentile, replay
from migctl.replay.probe import gpu_only_failure
from migctl.replay.run import ClusterInput, Settings, run_variant
from migctl.replay.trace import GpuAsk, Task, Trace
from migctl.config.model import NvidiaConfig
from migctl.simulate import ClusterState, Gpu, HamiVersion, Node, SimulationOptions, Simulator
from migctl.simulate.build import state_from_cluster
from migctl.simulate.pod import pod_from_object
from migctl.config.model import scheduler_nvidia_config
from migctl.simulate.synthetic import synthetic_cluster, synthetic_config, synthetic_pods

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "simulate"


def _one_gpu_node() -> ClusterState:
    state = ClusterState()
    state.add(Node("n1", [Gpu("GPU-0", 0, 10, 40960, 100, "NVIDIA A100-PCIE-40GB")], cpu_allocatable_m=64000))
    return state


def _pod(name: str, mem: int) -> object:
    return pod_from_object({"kind": "Pod", "metadata": {"name": name, "namespace": "t"},
                            "spec": {"containers": [{"name": "c", "resources": {"limits": {
                                "nvidia.com/gpu": 1, "nvidia.com/gpumem": mem}}}]}})


# name, arrival, duration, gpumem on one 40960 MiB hami-core GPU
HAND = [("a", 0, 10, 30000), ("b", 5, 10, 30000), ("c", 10, 5, 10000), ("d", 12, 1, 20000), ("e", 13, 100, 5000)]


def _run(on_fail: str, *, memo: bool = True, scale: float = 1.0):
    state = _one_gpu_node()
    sim = Simulator(state, NvidiaConfig.hami_defaults(), SimulationOptions(version=HamiVersion("2.10")))
    pods = [_pod(n, m) for n, _, _, m in HAND]
    meter = GpuMeter(state, compute_slices=lambda g: 7, legacy=False)
    return replay(sim, pods, [a for _, a, _, _ in HAND], [d for _, _, d, _ in HAND],
                  ReplayOptions(on_fail=on_fail, memo=memo, scale_arrivals=scale, samples=14), meter=meter)


@pytest.mark.parametrize("memo", [True, False])
def test_queue_known_answers(memo):
    f = _run(QUEUE, memo=memo)
    placed = {name: o.placed_at for (name, *_), o in zip(HAND, f.outcomes)}
    # b waits for a (leaves at 10; departures come before c's arrival at 10, and b is retried first);
    # d waits for b (leaves at 20); e arrives after d but fits when c leaves at 15: no head-of-line blocking
    assert placed == {"a": 0, "b": 10, "c": 10, "d": 20, "e": 15}
    left = {name: o.left_at for (name, *_), o in zip(HAND, f.outcomes)}
    # a placed pod runs its duration from placement; e (placed at 15, 100 s) leaves after the horizon (113)
    assert left == {"a": 10, "b": 20, "c": 15, "d": 21, "e": None}
    assert (f.placed, f.dropped, f.waiting) == (5, 0, 0)
    assert f.wait_mean_s == pytest.approx((0 + 5 + 0 + 8 + 2) / 5)
    assert f.wait_p95_s == 8
    assert f.first_failure_pod == "t/b" and f.first_failure_t == 5
    assert f.alloc_at_first_failure == pytest.approx(30000 / 40960)
    assert f.end_t == 113
    # the series: 14 points over the arrival window 0..13 (one per second); pending and allocation
    assert [s.t for s in f.series] == list(range(14))
    assert [s.pending for s in f.series] == [0] * 5 + [1] * 5 + [0, 0, 1, 2]
    assert f.series[12].alloc_mem == pytest.approx(40000 / 40960)
    assert f.peak_alloc_mem == pytest.approx(40000 / 40960)


@pytest.mark.parametrize("memo", [True, False])
def test_drop_known_answers(memo):
    f = _run(DROP, memo=memo)
    placed = {name: o.placed_at for (name, *_), o in zip(HAND, f.outcomes)}
    # b is dropped; d at 12 fits beside c; e at 13 comes after d's departure at 13 (departures first)
    assert placed == {"a": 0, "b": None, "c": 10, "d": 12, "e": 13}
    assert [o.dropped for o in f.outcomes] == [False, True, False, False, False]
    assert (f.placed, f.dropped, f.waiting) == (4, 1, 0)
    assert f.wait_mean_s == 0 and f.wait_p95_s == 0


def test_scale_arrivals_shortens_gaps_only():
    f = _run(QUEUE, scale=2.0)
    # arrivals 0, 2.5, 5, 6, 6.5; durations stay: a leaves at 10, b is placed then and leaves at 20
    placed = {name: o.placed_at for (name, *_), o in zip(HAND, f.outcomes)}
    assert placed["a"] == 0 and placed["b"] == 10 and placed["c"] == 5
    assert f.first_failure_t == 2.5


def test_waiting_at_end_and_percentile():
    state = _one_gpu_node()
    sim = Simulator(state, NvidiaConfig.hami_defaults(), SimulationOptions())
    pods = [_pod("big", 30000), _pod("never", 50000), _pod("late", 30000)]
    f = replay(sim, pods, [0, 1, 2], [None, 1, 1], meter=GpuMeter(state, compute_slices=lambda g: 7))
    assert (f.placed, f.waiting, f.dropped) == (1, 2, 0)  # "big" never leaves
    assert percentile([1, 2, 3, 4], 50) == 2 and percentile([], 95) == 0


def test_gpu_only_failure_reads_the_simulators_wording():
    assert gpu_only_failure("0/3 nodes are available: 2 CardInsufficientMemory, 1 CardTypeMismatch.")
    assert not gpu_only_failure("0/3 nodes are available: 2 CardInsufficientMemory, 1 Insufficient cpu.")
    assert not gpu_only_failure("0/0 nodes are available.")
    assert not gpu_only_failure("admission webhook denied the pod: x")
    assert not gpu_only_failure(None)


@pytest.mark.parametrize("version", ["2.9", "2.10"])
def test_shortcut_gives_the_same_replay_as_trying_every_pod(version):
    """The failure shortcut (probing only freed nodes) is exact: same outcome for every pod."""
    rng = random.Random(7)
    pods = synthetic_pods(600, seed=5)
    arrivals = sorted(rng.uniform(0, 600) for _ in pods)
    durations = [rng.choice((None, 30.0, 120.0, 400.0)) for _ in pods]
    out = []
    for memo in (True, False):
        state = synthetic_cluster(6, 4, seed=3)
        sim = Simulator(state, synthetic_config(), SimulationOptions(version=HamiVersion(version)))
        f = replay(sim, pods, arrivals, durations, ReplayOptions(memo=memo),
                   meter=GpuMeter(state, compute_slices=lambda g: 7, legacy=version == "2.9"))
        out.append(([(o.placed_at, o.node, o.left_at) for o in f.outcomes], f.placed, f.waiting,
                    [s.to_dict() for s in f.series]))
    assert out[0] == out[1]
    assert 0 < out[0][1] < len(pods) and out[0][2] > 0  # the cluster saturates: the shortcut is exercised


@pytest.mark.parametrize("snapshot,version,config", [
    ("a100-mig-empty.yaml", "2.9", REPO / "examples" / "device-config.yaml"),
    ("a100-mig-empty.yaml", "2.10", None),
    ("mixed-v2.10.yaml", "2.10", None),
    ("mixed-v2.10.yaml", "2.9", REPO / "examples" / "device-config.yaml"),
])
def test_replay_of_one_pod_equals_simulate(snapshot, version, config):
    cluster = load_snapshot(DATA / snapshot)
    cfg = scheduler_nvidia_config(load_device_config(config).config) if config else NvidiaConfig.hami_defaults()
    hv = HamiVersion(version)
    for pod in synthetic_pods(40, seed=11):
        sim_state = state_from_cluster(cluster, cfg, hv, catalogue=load_catalogue())
        expected = Simulator(sim_state, cfg, SimulationOptions(version=hv)).place(pod)
        state = state_from_cluster(cluster, cfg, hv, catalogue=load_catalogue())
        f = replay(Simulator(state, cfg, SimulationOptions(version=hv)), [pod], [0.0], [None],
                   meter=GpuMeter(state, compute_slices=lambda g: 7, legacy=hv.legacy))
        assert (f.placed == 1) == expected.scheduled
        assert f.outcomes[0].node == expected.node
        view = lambda s: [(g.id, g.used, g.usedmem, g.usedcores, [(x.name, x.in_use) for x in g.usage_list],  # noqa: E731
                           g.allocations) for n in s.nodes.values() for g in n.gpus]
        assert view(state) == view(sim_state)


def test_run_variant_on_a_trace_both_generations():
    nodes = tuple(__import__("migctl.replay.openb", fromlist=["TraceNode"]).TraceNode(
        f"n{i}", 32000, 131072, 2, "T4", f"x:{i}") for i in range(4))
    tasks = tuple(Task(f"t{i}", float(i), 50.0, f"x:{i}", ask=GpuAsk(1, (250, 500, 1000)[i % 3], 1000, 1024))
                  for i in range(30))
    trace = Trace(tasks, "x", "openb")
    cfg = load_device_config(REPO / "examples" / "device-config.yaml").config
    for version in ("2.9", "2.10"):
        f = run_variant(trace, ClusterInput(nodes), Settings(device_config=cfg, hami_version=version, samples=10))
        d = f.to_dict()
        assert d["pods"] == 30 and d["placed"] + d["waiting"] == 30
        assert len(d["series"]) == 10
        assert all(0 <= s["alloc_mem"] <= 1 and 0 <= s["alloc_slices"] <= 1 and 0 <= s["fgd"] <= 1 for s in d["series"])
        assert f.settings["mig_gpus"] == 4 and f.settings["gpus"] == 8


def test_run_variant_in_worker_processes():
    """run_variant's arguments and result travel to and from worker processes (migctl advise)."""
    import pickle
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from migctl.replay.openb import parse_node_list, parse_pod_list

    trace = parse_pod_list((REPO / "examples" / "trace-openb.csv").read_text(), "trace-openb.csv")
    nodes = ClusterInput(tuple(parse_node_list((REPO / "examples" / "trace-nodes.csv").read_text(), "n.csv")))
    cfg = load_device_config(REPO / "examples" / "device-config.yaml").config
    settings = [Settings(device_config=cfg, samples=8), Settings(device_config=cfg, node_policy="spread", samples=8)]
    here = [run_variant(trace, nodes, s, f"v{i}").to_dict() for i, s in enumerate(settings)]
    assert pickle.loads(pickle.dumps((trace, nodes, settings[0]))) == (trace, nodes, settings[0])
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        there = list(pool.map(run_variant, [trace] * 2, [nodes] * 2, settings, ["v0", "v1"]))
    assert [f.to_dict() for f in there] == here


def test_variant_text():
    from migctl.errors import InputError
    from migctl.replay.run import apply_variant, split_variant

    assert split_variant("node-policy=spread") == [("node-policy", "spread")]
    assert split_variant("mig-nodes=a,b,c,gpu-policy=binpack") == [("mig-nodes", "a,b,c"), ("gpu-policy", "binpack")]
    assert split_variant("config=my,odd.yaml,hami-version=2.10") == [("config", "my,odd.yaml"), ("hami-version", "2.10")]
    base = Settings()
    v = apply_variant(base, "scale-arrivals=10,on-fail=drop", lambda p: (None, p))
    assert (v.scale_arrivals, v.on_fail, v.node_policy) == (10.0, "drop", "binpack")
    v = apply_variant(base, "config=x.yaml", lambda p: ("CFG", f"loaded {p}"))
    assert (v.device_config, v.config_name) == ("CFG", "loaded x.yaml")
    for bad in ("colour=red", "node-policy", "scale-arrivals=fast", "on-fail=retry", "mig-nodes=200%", "hami-version="):
        with pytest.raises(InputError):
            apply_variant(base, bad, lambda p: (None, p))
