"""The README's Helm, kubectl plugin, monitoring and editor sections do what they say (issue 14).

Like the Quickstart test: the commands in each section's ```bash blocks are parsed and run (Helm
through its in-process SDK, kubectl plugin lines through the real kubectl where installed), and the
tables are held to the chart and the daemon.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
CHART = REPO / "deploy" / "helm" / "migctl"


def section(title: str) -> str:
    text = (REPO / "README.md").read_text()
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def commands(title: str) -> list[list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", section(title), re.S)
    lines = [line.split("  #", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line]


def table_first_column(title: str) -> list[str]:
    return re.findall(r"^\| `([^`]+)`", section(title), re.M)


def _helm():
    return pytest.importorskip("helm_python", reason="the Helm section needs the 'chart' extra")


def _values(argv: list[str]) -> dict:
    helm = _helm()
    values: dict = {}
    for i, arg in enumerate(argv):
        if arg == "--set":
            parsed = helm.parse_set_string(argv[i + 1])
            values = _merge(values, parsed)
    return values


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _render(argv: list[str]) -> list[dict]:
    helm = _helm()
    name, chart = argv[2], argv[3]
    namespace = argv[argv.index("-n") + 1]
    with helm.Chart.load(str(REPO / chart)) as loaded:
        out = loaded.render(_values(argv), name=name, namespace=namespace)
    return [d for path, text in out.items() if path.endswith(".yaml") for d in yaml.safe_load_all(text) if d]


def test_helm_section_commands_lint_render_and_install():
    helm = _helm()
    cmds = commands("Install with Helm")
    verbs = [c[:2] for c in cmds]
    assert ["helm", "lint"] in verbs and ["helm", "template"] in verbs and ["helm", "install"] in verbs
    namespaces = set()
    for argv in cmds:
        if argv[:2] == ["helm", "lint"]:
            report = helm.lint(str(REPO / argv[2]), strict="--strict" in argv)
            assert report["errors"] == [] and not [m for m in report["messages"] if m["severity"] >= 2]
        elif argv[:2] == ["helm", "template"]:
            kinds = {d["kind"] for d in _render(argv)}
            assert {"DaemonSet", "ServiceMonitor", "PrometheusRule", "Service"} <= kinds
            namespaces.add(argv[argv.index("-n") + 1])
        elif argv[:2] == ["helm", "install"]:
            (ds,) = [d for d in _render(argv) if d["kind"] == "DaemonSet"]
            assert ds["spec"]["template"]["spec"]["containers"][0]["image"] == "REGISTRY/migctl:TAG"
            namespaces.add(argv[argv.index("-n") + 1])
        elif argv[0] == "kubectl":
            namespaces.add(argv[3])
    assert namespaces == {"migctl-system"}


def test_helm_values_table_names_real_values():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for cell in table_first_column("Install with Helm"):
        path = cell.split("`")[0]
        node = values
        for part in path.split("."):
            assert isinstance(node, dict) and part in node, (cell, part)
            node = node[part]


def test_kubectl_plugin_section_runs(capsys):
    from migctl.cli.main import KUBECTL_PLUGIN_PROG_NAME, run

    cmds = [c for c in commands("kubectl plugin") if c[:2] == ["kubectl", "migctl"]]
    assert len(cmds) >= 2
    kubectl = shutil.which("kubectl")
    bindir = Path(sys.executable).parent
    for argv in cmds:
        if kubectl and (bindir / "kubectl-migctl").exists():
            env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
            proc = subprocess.run([kubectl, *argv[1:]], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
            assert proc.returncode == 0, (argv, proc.stderr)
        else:
            cwd = os.getcwd()
            os.chdir(REPO)
            try:
                assert run(argv[2:], prog_name=KUBECTL_PLUGIN_PROG_NAME) == 0, argv
            finally:
                os.chdir(cwd)


def test_monitoring_tables_match_the_daemon_and_the_chart():
    from prometheus_client.parser import text_string_to_metric_families

    from migctl.daemon.metrics import DaemonMetrics
    from migctl.node_protocol import State

    metrics = DaemonMetrics("n", process_metrics=False)
    metrics.record(State.success, now=1.0, changed=True, seconds=1.0)
    exported = set()
    for family in text_string_to_metric_families(metrics.render()):
        exported.add(family.name + ("_total" if family.type == "counter" else ""))
    documented = [c for c in table_first_column("Monitoring") if c.startswith("migctl_")]
    alerts = [c for c in table_first_column("Monitoring") if c.startswith("Migctl")]
    assert set(documented) == exported
    helm = pytest.importorskip("helm_python", reason="the alerts table is checked with the 'chart' extra")
    with helm.Chart.load(str(CHART)) as chart:
        out = chart.render({"metrics": {"prometheusRule": {"enabled": True}}}, name="migctl", namespace="m")
    (rule,) = [d for p, t in out.items() if p.endswith(".yaml") for d in yaml.safe_load_all(t)
               if d and d.get("kind") == "PrometheusRule"]
    assert alerts == [r["alert"] for r in rule["spec"]["groups"][0]["rules"]]


def test_editors_paragraph_commands_run(cli):
    text = (REPO / "README.md").read_text().split("**Editors.**", 1)[1].split("### Diagnostic codes", 1)[0]
    lines = [l.split("  #", 1)[0].strip() for b in re.findall(r"```bash\n(.*?)```", text, re.S) for l in b.splitlines()]
    assert lines
    for line in filter(None, lines):
        argv = shlex.split(line)
        assert argv[0] == "migctl"
        result = cli(*argv[1:])
        assert result.exit_code == 0 and "device-config.schema.json" in result.stdout
    assert "# yaml-language-server: $schema=" in text
