"""The engine's cached node choice against a simple full-scan reference kept here.

The reference evaluates every node for every pod with the core building blocks (webhook, kube
filters, Fit, scores, usage recording) and sorts the candidates; the engine keeps per-signature
heaps and only re-evaluates changed nodes. Placements and reasons must be identical.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from simulate_support import cluster, core_gpu, node, pod, simulate

from migctl.config.model import NvidiaConfig
from migctl.simulate import HamiVersion, SimulationOptions, Simulator
from migctl.simulate.engine import record_pod_devices
from migctl.simulate.fit import fit_pod
from migctl.simulate.kube_filters import kube_filter, least_allocated_score
from migctl.simulate.requests import Denied, mutate, pod_options, pod_requests
from migctl.simulate.result import aggregate_reason
from migctl.simulate.scoring import combined_node_score, node_score
from migctl.simulate.synthetic import synthetic_cluster, synthetic_config, synthetic_pods


def reference(state, config, pods, version: str, node_policy: str = "binpack", node_score_kind: str = "hami"):
    """Full scan: every node, every pod; returns [(pod, node, devices, reason)]."""
    v = HamiVersion(version)
    out = []
    for p in pods:
        try:
            m = mutate(p, config, v)
        except Denied as exc:
            out.append((p.key, None, (), f"admission webhook denied the pod: {exc}"))
            continue
        reqs = pod_requests(m, config, v)
        opts = pod_options(m, v, gpu_policy="spread", node_policy=node_policy)
        gpu_pod = any(r.request for r in reqs)
        cpu, mem = m.cpu_request_m(), m.memory_request()
        candidates, failures = [], []
        for n in state.nodes.values():
            reasons = kube_filter(m, n, cpu, mem)
            fit = None
            if not reasons and gpu_pod:
                fit = fit_pod(n.gpus, reqs, opts, v)
                reasons = [] if fit.ok else [fit.reason]
            if reasons:
                failures.append(reasons)
                continue
            if not gpu_pod:
                score = least_allocated_score(n, cpu, mem)
                key = -score
            else:
                score = combined_node_score(n) if node_score_kind == "combined" else node_score(n.gpus)
                key = score if opts.node_policy == "spread" else -score
            candidates.append((key, n.name, n, fit))
        if not candidates:
            out.append((p.key, None, (), aggregate_reason(len(state.nodes), failures)))
            continue
        _, _, chosen, fit = min(candidates, key=lambda c: (c[0], c[1]))
        chosen.cpu_requested_m += cpu
        chosen.memory_requested += mem
        chosen.pods += 1
        allocations = fit.allocations if fit else []
        if allocations:
            record_pod_devices(chosen.gpus, allocations, v)
        out.append((p.key, chosen.name, tuple((a.gpu_id, a.profile, a.slot, a.placement) for a in allocations), None))
    return out


def engine(state, config, pods, version: str, **opts):
    result = Simulator(state, config, SimulationOptions(version=HamiVersion(version), **opts)).run(pods)
    return [(p.pod, p.node, tuple((a.gpu_id, a.profile, a.slot, a.placement) for a in p.allocations), p.reason)
            for p in result.pods]


def test_engine_matches_full_scan_reference_v2_10():
    pods = synthetic_pods(1200)
    got = engine(synthetic_cluster(40, 8), synthetic_config(), pods, "2.10")
    want = reference(synthetic_cluster(40, 8), synthetic_config(), pods, "2.10")
    assert got == want
    assert sum(1 for g in got if g[1] is None) > 50  # the cluster fills up: reasons are compared too


def test_engine_matches_full_scan_reference_v2_9_spread():
    pods = synthetic_pods(1000, seed=5)
    got = engine(synthetic_cluster(30, 8, seed=3), synthetic_config(), pods, "2.9", node_policy="spread")
    want = reference(synthetic_cluster(30, 8, seed=3), synthetic_config(), pods, "2.9", node_policy="spread")
    assert got == want


def test_engine_matches_reference_with_combined_node_score():
    pods = synthetic_pods(600, seed=7)
    got = engine(synthetic_cluster(20, 4), synthetic_config(), pods, "2.10", node_score="combined")
    want = reference(synthetic_cluster(20, 4), synthetic_config(), pods, "2.10", node_score_kind="combined")
    assert got == want


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), nodes=st.integers(1, 12), gpus=st.integers(1, 8),
       version=st.sampled_from(["2.9", "2.10"]), policy=st.sampled_from(["binpack", "spread"]))
def test_engine_matches_reference_property(seed, nodes, gpus, version, policy):
    pods = synthetic_pods(120, seed=seed)
    got = engine(synthetic_cluster(nodes, gpus, seed=seed), synthetic_config(), pods, version, node_policy=policy)
    want = reference(synthetic_cluster(nodes, gpus, seed=seed), synthetic_config(), pods, version, node_policy=policy)
    assert got == want


def test_full_scan_and_explain_give_the_same_placements():
    pods = synthetic_pods(300, seed=11)
    fast = engine(synthetic_cluster(10, 8), synthetic_config(), pods, "2.10")
    explained = engine(synthetic_cluster(10, 8), synthetic_config(), pods, "2.10", explain=True)
    assert fast == explained


def test_an_unschedulable_pod_leaves_the_cluster_untouched():
    state = cluster(node("n1", [core_gpu(0, used=1, usedmem=100, usedcores=10), core_gpu(1)]))
    before = [(g.used, g.usedmem, g.usedcores) for g in state.nodes["n1"].gpus]
    result = simulate(state, [pod("big", gpu=2, gpumem=40900, gpucores=10)])
    assert not result.pods[0].scheduled
    assert [(g.used, g.usedmem, g.usedcores) for g in state.nodes["n1"].gpus] == before
    assert state.nodes["n1"].version == 0


def test_placed_pods_update_the_node_once():
    state = cluster(node("n1", [core_gpu(0)]))
    simulate(state, [pod("a", gpu=1, gpumem=1000, gpucores=10, cpu="1")])
    n = state.nodes["n1"]
    assert (n.gpus[0].used, n.gpus[0].usedmem, n.gpus[0].usedcores, n.cpu_requested_m, n.pods) == (1, 1000, 10, 1000, 1)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), nodes=st.integers(1, 6), gpus=st.integers(1, 8),
       version=st.sampled_from(["2.9", "2.10"]), policy=st.sampled_from(["binpack", "spread"]))
def test_nothing_is_overcommitted(seed, nodes, gpus, version, policy):
    state = synthetic_cluster(nodes, gpus, seed=seed)
    result = Simulator(state, synthetic_config(),
                       SimulationOptions(version=HamiVersion(version), node_policy=policy)).run(synthetic_pods(150, seed=seed))
    assert result.scheduled > 0
    for n in state.nodes.values():
        assert n.cpu_requested_m <= n.cpu_allocatable_m and n.pods <= n.pods_allocatable
        for g in n.gpus:
            assert g.used <= g.count
            if not g.is_mig:
                assert g.usedmem <= g.totalmem and g.usedcores <= g.totalcore
            elif version == "2.10":
                spans = sorted((a.placement.start, a.placement.start + a.placement.size) for a in g.allocations)
                assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # no two reservations overlap
                legal = {(p.name, pl) for p in g.profiles for pl in p.placements}
                assert all((a.profile, a.placement) in legal for a in g.allocations)
                assert len(g.allocations) == g.used
            else:
                assert sum(s.in_use for s in g.usage_list) == g.used  # one slot per device, none shared


def test_fast_reasons_equal_the_full_scan_path_when_the_cluster_is_full():
    """Reasons counted per signature (and reused for a failing shape on an unchanged cluster) are the
    text the full scan aggregates from every node's verdict."""
    pods = synthetic_pods(900, seed=13) + synthetic_pods(300, seed=14)  # the same shapes fail again and again
    fast = engine(synthetic_cluster(25, 4, seed=2), synthetic_config(), pods, "2.10")
    full = engine(synthetic_cluster(25, 4, seed=2), synthetic_config(), pods, "2.10", full_scan=True)
    assert fast == full
    failing = [g[3] for g in fast if g[1] is None]
    assert len(failing) > 200 and len(set(failing)) > 3


def test_static_failure_names_only_verdicts_no_usage_can_lift():
    from simulate_support import legacy_mig_gpu

    from migctl.simulate.fit import static_failure

    def check(gpus, p, version="2.10"):
        v = HamiVersion(version)
        m = mutate(p, NvidiaConfig.hami_defaults(), v)
        return static_failure(gpus, pod_requests(m, NvidiaConfig.hami_defaults(), v), pod_options(m, v, gpu_policy="spread", node_policy="binpack"), v)

    mig_only = {"nvidia.com/vgpu-mode": "mig"}
    assert check([core_gpu(0), core_gpu(1)], pod("a", gpu=1, gpumem=1000, annotations=mig_only))  # all the wrong mode
    assert not check([core_gpu(0), legacy_mig_gpu(1)], pod("b", gpu=1, gpumem=1000, annotations=mig_only), "2.9")
    assert check([core_gpu(0)], pod("c", gpu=2, gpumem=1000), "2.9")  # more devices than the node has
    assert check([core_gpu(0, health=False), core_gpu(1, cordoned=True)], pod("d", gpu=1, gpumem=1000))
    assert not check([core_gpu(0, health=False), core_gpu(1, cordoned=True)], pod("d", gpu=1, gpumem=1000), "2.9")
    full = core_gpu(0, usedmem=40000, used=1)
    assert not check([full], pod("e", gpu=1, gpumem=20000))  # memory: the next pod to leave can lift it


def test_a_node_that_fails_whatever_its_usage_is_fitted_once_per_shape(monkeypatch):
    """Pods land on and leave a hami-core node again and again; a MIG-only shape that can never fit
    there is fitted on it once, and its FailedScheduling text still counts the node."""
    import migctl.simulate.engine as engine_module

    fitted: list[str] = []
    real = engine_module.fit_pod

    def counting(gpus, requests, opts, *args, **kwargs):
        fitted.append(opts.vgpu_mode)
        return real(gpus, requests, opts, *args, **kwargs)

    monkeypatch.setattr(engine_module, "fit_pod", counting)
    state = cluster(node("core", [core_gpu(0, uid="CORE-0")]))
    sim = Simulator(state, NvidiaConfig.hami_defaults(), SimulationOptions(version=HamiVersion.V2_10))
    mig_only = {"nvidia.com/vgpu-mode": "mig"}
    results = []
    for i in range(5):
        results.append(sim.place(pod(f"mig-{i}", gpu=1, gpumem=1000, annotations=mig_only)))
        results.append(sim.place(pod(f"core-{i}", gpu=1, gpumem=1000, annotations={"nvidia.com/vgpu-mode": "hami-core"})))
    assert [r.scheduled for r in results] == [False, True] * 5
    assert {r.reason for r in results[::2]} == {"0/1 nodes are available: 1 CardTypeMismatch."}
    assert fitted.count("mig") == 1, fitted  # the node changed 5 times; the MIG shape fitted it once
    assert fitted.count("hami-core") == 5


def test_pods_of_one_shape_share_the_webhook_work_but_keep_their_own_identity():
    state = cluster(node("n1", [core_gpu(0), core_gpu(1)]))
    sim = Simulator(state, NvidiaConfig.hami_defaults(), SimulationOptions(version=HamiVersion.V2_10))
    a = sim.place(pod("a", gpu=1, gpumem=1000))
    b = sim.place(pod("b", gpu=1, gpumem=1000, namespace="other"))
    assert len(sim._shapes) == 1  # b reused a's webhook result and signature
    assert (a.pod, b.pod) == ("default/a", "other/b")
    assert b.annotations != a.annotations or a.allocations[0].gpu_id != b.allocations[0].gpu_id
    again = sim.place(pod("a", gpu=1, gpumem=1000))
    assert any("already exists" in w for w in again.warnings)
    # a denied shape is denied every time, with its own reason, and an unhashable quantity is no shape
    bad = [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": 1}}, "securityContext": {"privileged": True}}]
    for name in ("p1", "p2"):
        r = sim.place(pod(name, containers=bad))
        assert not r.scheduled and "privileged" in r.reason
    odd = [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": 1, "nvidia.com/gpumem": 1000, "example.com/x": [1]}}}]
    shapes = len(sim._shapes)
    assert sim.place(pod("odd", containers=odd)).scheduled and len(sim._shapes) == shapes

