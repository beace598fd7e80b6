"""advise defrag: the planner on hand-made clusters where the best plan is known, the proof replay,
blocked pods, PodDisruptionBudgets, and the CLI contract."""

from __future__ import annotations

import json

import pytest
import yaml
from advise_builders import (
    LEGACY_CONFIG,
    as_list,
    configmap,
    node,
    one_move_cluster,
    pdb,
    pod,
)

from migctl.advise.defrag import DisruptionBudget, RunningPod, fgd_meter, plan_defrag, replay_plan
from migctl.advise.world import World
from migctl.cluster.model import Cluster
from migctl.config.load import load_device_config
from migctl.simulate import HamiVersion, SimulationOptions
from migctl.config.model import scheduler_nvidia_config


def _plan(objects, max_moves=3, pending=None):
    cluster = Cluster.from_objects(objects)
    config = scheduler_nvidia_config(load_device_config(LEGACY_CONFIG).config)
    options = SimulationOptions(version=HamiVersion("2.9"))
    running = [RunningPod.from_object(o) for o in objects if o["kind"] == "Pod"]
    budgets = [DisruptionBudget.from_object(o) for o in objects if o["kind"] == "PodDisruptionBudget"]
    plan = plan_defrag(cluster, config, options, running=running, budgets=budgets, max_moves=max_moves,
                       pending=pending)
    return plan, cluster, config, options, running


def test_one_move_frees_a_3g_slot():
    plan, *_ = _plan(one_move_cluster())
    assert [m.pod for m in plan.moves] == ["default/small-a"]
    m = plan.moves[0]
    assert (m.from_node, m.to.node) == ("n1", "n2")
    assert plan.pending_before == 1 and plan.pending_after == 0
    after = plan.pending[0].after
    assert after.node == "n1" and after.gpus == ("GPU-n1-0",) and after.slots[0].startswith("3g.20gb")
    assert plan.fgd_after < plan.fgd_before
    assert [s["pending_placed"] for s in plan.steps] == [0, 1]


def test_bare_pods_and_pdb_at_limit_are_blocked_never_moved():
    plan, *_ = _plan(one_move_cluster(), max_moves=5)
    blocked = {b.pod: b.reason for b in plan.blocked}
    assert "bare pod" in blocked["default/bare"]
    assert "PodDisruptionBudget default/db-pdb" in blocked["default/guarded"]
    moved = {m.pod for m in plan.moves}
    assert not moved & set(blocked)


def test_only_a_bare_pod_would_help_so_no_move():
    """The only locked GPU is held by a bare pod: nothing may move, the pending pod stays Pending."""
    objects = [node("n1", 1), configmap(LEGACY_CONFIG),
               pod("bare", 4000, node_name="n1", device="GPU-n1-0[0-0],NVIDIA,4864,0", owner=None),
               pod("big", 19000, owner=("Job", "train"))]
    plan, *_ = _plan(objects)
    assert plan.moves == [] and plan.pending_after == 1
    assert [b.pod for b in plan.blocked] == ["default/bare"]


def test_two_moves_needed_to_empty_a_gpu():
    """Two small pods lock n1's GPU; one move alone unlocks nothing, the pair does (n2 holds a bare pod)."""
    objects = [node("n1", 1), node("n2", 1), configmap(LEGACY_CONFIG),
               pod("a", 4000, node_name="n1", device="GPU-n1-0[0-0],NVIDIA,4864,0"),
               pod("b", 4000, node_name="n1", device="GPU-n1-0[0-1],NVIDIA,4864,0", owner=("StatefulSet", "kv")),
               pod("c", 4000, node_name="n2", device="GPU-n2-0[0-0],NVIDIA,4864,0", owner=None),
               pod("big", 19000, owner=("Job", "train"))]
    plan, *_ = _plan(objects, max_moves=1)
    assert plan.moves == [] and plan.pending_after == 1  # one move is not enough
    plan, *_ = _plan(objects, max_moves=2)
    assert sorted(m.pod for m in plan.moves) == ["default/a", "default/b"]
    assert all(m.to.node == "n2" for m in plan.moves)
    assert plan.pending_after == 0 and plan.pending[0].after.node == "n1"


def test_pdb_budget_is_spent_across_the_plan():
    """A PDB that allows one disruption covers both pods of the GPU: the pair may not move."""
    objects = [node("n1", 1), node("n2", 1), configmap(LEGACY_CONFIG),
               pod("a", 4000, node_name="n1", device="GPU-n1-0[0-0],NVIDIA,4864,0", labels={"app": "kv"}),
               pod("b", 4000, node_name="n1", device="GPU-n1-0[0-1],NVIDIA,4864,0", labels={"app": "kv"}),
               pod("c", 4000, node_name="n2", device="GPU-n2-0[0-0],NVIDIA,4864,0", owner=None),
               pdb("kv", {"app": "kv"}, 1), pod("big", 19000, owner=("Job", "train"))]
    plan, *_ = _plan(objects, max_moves=2)
    assert plan.moves == [] and plan.pending_after == 1


def test_a_recreated_pod_must_land():
    """Moving the pod would unlock its GPU, but the recreated pod has nowhere else to go: not a move."""
    objects = [node("n1", 1), configmap(LEGACY_CONFIG),
               pod("a", 4000, node_name="n1", device="GPU-n1-0[0-0],NVIDIA,4864,0"),
               pod("big", 19000, owner=("Job", "train"))]
    plan, *_ = _plan(objects)
    # the recreated pod lands back on n1 (the only GPU), locking it again: no gain, no move
    assert plan.moves == [] and plan.pending_after == 1


def test_every_plan_replays_to_its_figures():
    plan, cluster, config, options, running = _plan(one_move_cluster())
    pending = [r.recreated for r in running if r.key == "default/big"]
    world = World.build(cluster, config, options, absent={"default/big"})
    proof = replay_plan(world, pending, {r.key: r for r in running}, plan.moves, fgd_meter(config, options, pending))
    assert proof.to_dict()["pending"] == plan.to_dict()["pending"]
    assert (proof.fgd_before, proof.fgd_after) == (plan.fgd_before, plan.fgd_after)
    assert proof.steps == plan.steps


def test_deleting_a_pod_rebuilds_its_node_as_hami_does():
    """After the delete the GPU is idle again (geometry unlocked), the other node untouched."""
    cluster = Cluster.from_objects(one_move_cluster())
    config = scheduler_nvidia_config(load_device_config(LEGACY_CONFIG).config)
    world = World.build(cluster, config, SimulationOptions(version=HamiVersion("2.9")), absent={"default/big"})
    gpu = world.state.nodes["n1"].gpus[0]
    assert gpu.used == 1 and gpu.mig_index == 0
    trial = world.copy()
    trial.delete("default/small-a")
    fresh = trial.state.nodes["n1"].gpus[0]
    assert (fresh.used, fresh.usedmem, fresh.mig_index, fresh.usage_list) == (0, 0, -1, [])
    assert world.state.nodes["n1"].gpus[0].used == 1  # the copy did not touch the original
    assert trial.state.nodes["n2"].gpus[0].used == 2


@pytest.fixture
def snapshot(tmp_path):
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(as_list(one_move_cluster()), sort_keys=False))
    return path


def test_cli_json_contract(cli, snapshot):
    r = cli("advise", "defrag", "--cluster", snapshot, "-o", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["moves"] == [{"pod": "default/small-a", "from_node": "n1", "from_gpus": ["GPU-n1-0"],
                              "to_node": "n2", "to_gpus": ["GPU-n2-0"], "to_mig_slots": ["1g.5gb[0-2]"], "step": 1}]
    assert {b["pod"] for b in data["blocked"]} == {"default/bare", "default/guarded"}
    assert (data["pending_before"], data["pending_after"]) == (1, 0)
    assert data["fgd_after"] < data["fgd_before"]


def test_cli_emit_kubectl(cli, snapshot):
    r = cli("advise", "defrag", "--cluster", snapshot, "--emit", "kubectl")
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "kubectl delete pod -n default small-a\n"


def test_cli_text_shows_before_and_after(cli, snapshot):
    r = cli("advise", "defrag", "--cluster", snapshot)
    assert r.exit_code == 0, r.stderr
    assert "default/big" in r.stdout and "Pending" in r.stdout and "3g.20gb" in r.stdout
    assert "kubectl delete pod -n default small-a" in r.stdout
    assert "bare pod" in r.stdout


def test_cli_pending_file_and_max_moves_zero(cli, snapshot, tmp_path):
    pending = tmp_path / "pending.yaml"
    pending.write_text(yaml.safe_dump(pod("other", 19000, owner=None)))
    r = cli("advise", "defrag", "--cluster", snapshot, "--pending", pending, "--max-moves", "0", "-o", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["moves"] == [] and data["pending_pods"] == 1 and data["pending"][0]["pod"] == "default/other"


def test_cli_bad_input_exits_2(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("items: [\n")
    r = cli("advise", "defrag", "--cluster", bad)
    assert r.exit_code == 2 and "bad.yaml" in r.stderr and "Traceback" not in r.stderr
    r = cli("advise", "defrag", "--cluster", tmp_path / "missing.yaml")
    assert r.exit_code == 2


def test_live_cluster_read_only_matches_the_snapshot(cli, tmp_path):
    """The live reader (Nodes, Pods, the device ConfigMap and PodDisruptionBudgets over real HTTP)
    gives the plan the snapshot gives, and nothing in the cluster changes."""
    from kube_emulator import KubeEmulator

    objects = one_move_cluster()
    snapshot = tmp_path / "cluster.yaml"
    snapshot.write_text(yaml.safe_dump(as_list(objects), sort_keys=False))
    with KubeEmulator() as kube:
        kube.add(*objects)
        kc = kube.write_kubeconfig(tmp_path / "kubeconfig")
        live = cli("advise", "defrag", "--kubeconfig", kc, "-o", "json")
        after = kube.get("Pod", "small-a", "default")
    snap = cli("advise", "defrag", "--cluster", snapshot, "-o", "json")
    assert live.exit_code == 0, live.stderr
    live_data, snap_data = json.loads(live.stdout), json.loads(snap.stdout)
    for key in ("moves", "blocked", "pending", "pending_before", "pending_after", "fgd_before", "fgd_after"):
        assert live_data[key] == snap_data[key], key
    assert after["spec"]["nodeName"] == "n1"
