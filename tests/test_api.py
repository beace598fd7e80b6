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
    from migctl.simulate import ClusterState, Gpu, HamiVersion, Node, SchedulerConfig, SimulationOptions, Simulator

    assert all((ClusterState, Gpu, HamiVersion, Node, SchedulerConfig, SimulationOptions, Simulator))


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
