"""The Python API (``import migctl``): lazy, typed, and the same answers as the commands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

import migctl
from migctl.errors import CheckFailed, InputError, MigctlError

EXAMPLE = REPO / "examples" / "cluster.yaml"
PODS = REPO / "examples" / "pods.yaml"
CONFIG = REPO / "examples" / "device-config.yaml"
NODE_HELPER_NAMES = {"apply_geometries": "migctl.apply", "set_geometry": "migctl.daemon.request"}


def test_import_migctl_loads_nothing_heavy():
    code = ("import sys, migctl; print(','.join(m for m in ('migctl.api', 'migctl.simulate', 'migctl.cluster', "
            "'yaml', 'kubernetes', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == ""


def test_all_names_resolve_and_the_package_is_typed():
    assert (REPO / "migctl" / "py.typed").is_file()
    assert {"validate_config", "load_cluster", "simulate", "cluster_status", "MigctlError"} <= set(migctl.__all__)
    for name, module in NODE_HELPER_NAMES.items():
        assert name in migctl.__all__ and migctl._LAZY[name] == module
    for name in set(migctl.__all__) - set(NODE_HELPER_NAMES) - {"__version__"}:
        assert getattr(migctl, name) is not None, name
    assert issubclass(migctl.InputError, migctl.MigctlError)
    with pytest.raises(AttributeError):
        migctl.no_such_name  # noqa: B018


def test_simulate_is_callable_after_the_package_is_imported():
    import migctl.simulate.engine  # binds the package as migctl.simulate

    result = migctl.simulate(str(EXAMPLE), str(PODS))
    assert [p.node for p in result.pods] == ["gpu-node-a", None]
    from migctl.config.model import NvidiaConfig
    from migctl.simulate import ClusterState, Gpu, HamiVersion, Node, SimulationOptions, Simulator

    assert all((ClusterState, Gpu, HamiVersion, Node, NvidiaConfig, SimulationOptions, Simulator))


def test_api_gives_the_documents_the_commands_print(cli):
    cluster = migctl.load_cluster(snapshot=EXAMPLE)
    result = migctl.simulate(cluster, [str(PODS)])
    printed = json.loads(cli("simulate", PODS, "--cluster", EXAMPLE, "-o", "json").stdout)
    assert result.to_dict() == printed
    assert result.config_findings and result.config_source == "ConfigMap kube-system/hami-scheduler-device"
    assert any("HAMi 2.9" in w for w in result.warnings)

    report = migctl.validate_config(CONFIG)
    assert report.to_dict() == json.loads(cli("validate", "config", CONFIG, "-o", "json").stdout)

    status = migctl.cluster_status(snapshot=EXAMPLE).to_dict()
    shown = json.loads(cli("status", "--cluster", EXAMPLE, "-o", "json").stdout)
    assert status["nodes"] == shown["nodes"] and status["summary"] == shown["summary"]


def test_validate_text_and_stdin_keep_their_order():
    report = migctl.validate_config([CONFIG, "-"], stdin=b"nvidia: [\n", text="nvidia:\n  resourceCountName: x\n",
                                    name="inline.yaml")
    assert [r.source for r in report.results] == [str(CONFIG), "<stdin>", "inline.yaml"]
    assert not report.valid and report.results[1].diagnostics[0].code == "yaml-syntax"


def test_errors_carry_exit_codes(tmp_path):
    with pytest.raises(InputError) as exc:
        migctl.load_cluster(snapshot=tmp_path / "missing.yaml")
    assert exc.value.exit_code == 2
    with pytest.raises(InputError, match="no node 'nope'"):
        migctl.cluster_status(snapshot=EXAMPLE, node="nope")
    bad = tmp_path / "cfg.yaml"
    bad.write_text("nvidia:\n  resourceCountName: 5\n  knownMigGeometries: 7\n")
    with pytest.raises(CheckFailed):
        migctl.simulate(EXAMPLE, PODS, config=bad, strict_config=True)
    seen = []
    result = migctl.simulate(EXAMPLE, PODS, config=bad, on_config=seen.append)
    assert seen and seen[0].errors and result.config_findings == seen[0].findings
    with pytest.raises(MigctlError):
        migctl.simulate(EXAMPLE, [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}])


EXAMPLES = REPO / "examples"


def test_capacity_gives_what_capacity_prints(cli):
    shapes = ["gpu=1,gpumem=10000,mode=mig", "gpu=1,gpumem=5000,mode=hami-core"]
    report = migctl.capacity_report(str(EXAMPLE), shapes=shapes, node="gpu-node-b")
    printed = cli("capacity", "--cluster", EXAMPLE, "--shape", shapes[0], "--shape", shapes[1], "--node",
                  "gpu-node-b", "-o", "json")
    assert printed.exit_code == 0, printed.stderr
    assert json.loads(json.dumps(report.to_dict())) == json.loads(printed.stdout)
    workload = migctl.capacity_report(migctl.load_cluster(EXAMPLE), workload=str(PODS))
    assert json.loads(json.dumps(workload.to_dict())) == json.loads(
        cli("capacity", "--cluster", EXAMPLE, "--workload", PODS, "-o", "json").stdout)
    with pytest.raises(InputError, match="one or the other"):
        migctl.capacity_report(EXAMPLE, shapes=shapes, workload=str(PODS))


def test_replay_gives_what_replay_prints(cli):
    trace, nodes = EXAMPLES / "trace.yaml", EXAMPLES / "trace-nodes.csv"
    report = migctl.replay_trace(trace, nodes=nodes, config=CONFIG, variants=["node-policy=spread"], compare=True,
                           samples=20)
    printed = cli("replay", trace, "--nodes", nodes, "--config", CONFIG, "--variant", "node-policy=spread",
                  "--compare", "--samples", "20", "-o", "json")
    assert printed.exit_code == 0, printed.stderr
    assert json.loads(json.dumps(report.to_dict())) == json.loads(printed.stdout)
    assert [f["name"] for f in report.to_dict()["variants"]] == ["base", "node-policy=spread"]
    on_snapshot = migctl.replay_trace(trace, cluster=EXAMPLE, samples=20)
    assert json.loads(json.dumps(on_snapshot.to_dict())) == json.loads(
        cli("replay", trace, "--cluster", EXAMPLE, "--samples", "20", "-o", "json").stdout)
    with pytest.raises(InputError, match="not both"):
        migctl.replay_trace(trace, nodes=nodes, cluster=EXAMPLE)


def test_advise_defrag_gives_what_advise_defrag_prints(cli):
    cluster = EXAMPLES / "defrag-cluster.yaml"
    found = migctl.advise_defrag(cluster, max_moves=5)
    printed = cli("advise", "defrag", "--cluster", cluster, "--max-moves", "5", "-o", "json")
    assert printed.exit_code == 0, printed.stderr
    assert json.loads(json.dumps(found.to_dict())) == json.loads(printed.stdout)
    kubectl = cli("advise", "defrag", "--cluster", cluster, "--emit", "kubectl").stdout.splitlines()
    assert found.kubectl() == kubectl == ["kubectl delete pod -n default small-a"]


def test_advise_config_gives_what_advise_config_prints(cli):
    workload, cluster = EXAMPLES / "advise-workload.yaml", EXAMPLES / "advise-cluster.yaml"
    found = migctl.advise_config(workload, cluster=cluster, on_fail="drop", tries=8, jobs=1, seed=0)
    printed = cli("advise", "config", "--workload", workload, "--cluster", cluster, "--on-fail", "drop",
                  "--tries", "8", "--jobs", "1", "--seed", "0", "-o", "json")
    assert printed.exit_code == 0, printed.stderr
    document, shown = json.loads(json.dumps(found.to_dict())), json.loads(printed.stdout)
    assert document.pop("search_s") >= 0 and shown.pop("search_s") >= 0  # wall-clock seconds of the search
    assert document == shown
    assert found.advice.advised.placed > found.advice.current.placed
    with pytest.raises(InputError, match="exactly one"):
        migctl.advise_config(workload)


def test_planning_names_are_not_shadowed_by_their_subpackages():
    import migctl.advise.defrag
    import migctl.capacity.report
    import migctl.replay.run  # noqa: F401

    assert migctl.capacity_report is migctl.api.capacity_report and callable(migctl.capacity_report)
    assert migctl.replay_trace is migctl.api.replay_trace and callable(migctl.advise_config)
    assert {"capacity_report", "replay_trace", "read_trace", "advise_config", "advise_defrag"} <= set(migctl.__all__)


# --- the engine's runs build no reference cycles: the API pauses the cyclic collector for them ---------


def test_engine_runs_leave_no_reference_cycles(tmp_path):
    """``read_pods``, ``simulate``, ``capacity_report`` and ``replay_trace`` run with the cyclic collector
    paused (``migctl.cluster.snapshot.gc_paused``: it would only walk the growing state again and again,
    a quarter to a third of the run). That is safe only while they build no cycles, so a cycle added
    later fails here: with the collector off, nothing they built and dropped may be left for it."""
    import gc

    import yaml

    from migctl.simulate.synthetic import synthetic_pod_objects

    sys.path.insert(0, str(REPO / "bench"))
    from gen_cluster import generate

    pods_file = tmp_path / "pods.yaml"
    pods_file.write_text(yaml.safe_dump_all(synthetic_pod_objects(300), sort_keys=False))
    trace = tmp_path / "trace.yaml"
    arriving = synthetic_pod_objects(120)
    for i, pod in enumerate(arriving):
        pod["metadata"].setdefault("annotations", {}).update(
            {"migctl.io/arrival": str(i * 10), "migctl.io/duration": str(300 + (i % 7) * 100)})
    trace.write_text(yaml.safe_dump_all(arriving, sort_keys=False))
    snapshots = []
    for generation in ("v2.9", "v2.10"):
        snapshot = tmp_path / f"cluster-{generation}.json"
        snapshot.write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                        "items": list(generate(12, 4, 20, generation=generation, seed=3))}))
        snapshots.append(snapshot)

    def runs():
        for snapshot in snapshots:
            for explain in (False, True):
                result = migctl.simulate(migctl.load_cluster(snapshot), migctl.read_pods(pods_file), explain=explain)
                assert any(p.scheduled for p in result.pods) and any(not p.scheduled for p in result.pods)
                yield f"simulate {snapshot.name} explain={explain}", result.to_dict(explain=explain)
            report = migctl.capacity_report(migctl.load_cluster(snapshot), workload=pods_file)
            yield f"capacity {snapshot.name}", report.to_dict()
            replayed = migctl.replay_trace(trace, cluster=snapshot, compare=True, variants=["node-policy=spread"])
            assert all(f.to_dict() for f in replayed.figures)
            yield f"replay {snapshot.name}", replayed.to_dict()

    for _ in runs():  # first use: imports and caches
        pass
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for what, _ in runs():
            assert gc.collect() == 0, what
    finally:
        if was_enabled:
            gc.enable()
