"""``migctl validate config --from-cluster`` against a real HTTP API (the ``kube`` fixture: kmock)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SEED_TEXT = (REPO / "examples" / "device-config.yaml").read_text()
BAD_TEXT = "nvidia:\n  resourceCountName: nvidia.com/gpu\n  migProfileAllowlist:\n  - models: [A100-SXM4-80GB]\n    profiles: [3g.20gb]\n"


def test_reads_the_scheduler_configmap_from_kube_system(cli, kube, tmp_path):
    kube.add_configmap("kube-system", "hami-scheduler-device", {"device-config.yaml": SEED_TEXT})
    result = cli("validate", "config", "--from-cluster", "--kubeconfig", kube.write_kubeconfig(tmp_path / "kc"), "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["files"][0]["file"] == "configmap/kube-system/hami-scheduler-device/device-config.yaml"
    assert report["valid"] and report["warnings"] > 0


def test_findings_in_the_cluster_config_exit_1_with_positions_in_the_config(cli, kube, tmp_path):
    kube.add_configmap("hami", "my-device", {"device-config.yaml": BAD_TEXT})
    result = cli("validate", "config", "--from-cluster", "--kubeconfig", kube.write_kubeconfig(tmp_path / "kc"),
                 "--namespace", "hami", "--name", "my-device", "-o", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    hit = next(d for d in report["diagnostics"] if d["code"] == "profile-unknown")
    assert (hit["path"], hit["line"], hit["column"]) == ("/nvidia/migProfileAllowlist/0/profiles/0", 5, 16)


def test_node_config_kind_reads_the_device_plugin_configmap(cli, kube, tmp_path):
    kube.add_configmap("kube-system", "hami-device-plugin",
                      {"config.json": json.dumps({"nodeconfig": [{"name": "a", "migstrategy": "mixed"}]})})
    result = cli("validate", "config", "--from-cluster", "--kind", "node-config",
                 "--kubeconfig", kube.write_kubeconfig(tmp_path / "kc"), "-o", "json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert [d["code"] for d in report["diagnostics"]] == ["migstrategy-no-effect"]
    assert report["files"][0]["configs"][0]["kind"] == "node-config"


def test_context_option_selects_the_cluster(cli, kube, tmp_path):
    kube.add_configmap("kube-system", "hami-scheduler-device", {"device-config.yaml": SEED_TEXT})
    kc = kube.write_kubeconfig(tmp_path / "kc", contexts={"dead": "http://127.0.0.1:9", "kmock": kube.url}, current="dead")
    assert cli("validate", "config", "--from-cluster", "--kubeconfig", kc, "--context", "kmock").exit_code == 0


def test_configmap_without_the_key_is_reported(cli, kube, tmp_path):
    kube.add_configmap("kube-system", "hami-scheduler-device", {"other.yaml": "x"})
    result = cli("validate", "config", "--from-cluster", "--kubeconfig", kube.write_kubeconfig(tmp_path / "kc"), "-o", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["diagnostics"][0]["code"] == "configmap-key-missing"


def test_missing_configmap_is_exit_2(cli, kube, tmp_path):
    result = cli("validate", "config", "--from-cluster", "--kubeconfig", kube.write_kubeconfig(tmp_path / "kc"))
    assert result.exit_code == 2
    assert "ConfigMap kube-system/hami-scheduler-device not found" in result.stderr
    assert "Traceback" not in result.stderr


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_api_server_is_exit_3(cli, tmp_path):
    path = tmp_path / "kc"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": f"http://127.0.0.1:{_closed_port()}"}}],
        "users": [{"name": "x", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
    }))
    result = cli("validate", "config", "--from-cluster", "--kubeconfig", path)
    assert result.exit_code == 3
    assert "cannot reach the Kubernetes API server" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_kubeconfig_and_not_in_a_cluster_is_exit_3(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    result = cli("validate", "config", "--from-cluster")
    assert result.exit_code == 3
    assert "cannot load a Kubernetes configuration" in result.stderr
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    assert cli("validate", "config", "--from-cluster").exit_code == 3
