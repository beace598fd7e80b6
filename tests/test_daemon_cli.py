"""``migctl node daemon`` as a command: --once, usage errors, exit codes, lazy imports."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

from daemon_support import create_node

from migctl import node_protocol as protocol
from migctl.nvml.fake import FakeState

NODE = "gpu-node-1"
A100 = "NVIDIA A100-SXM4-40GB"


def _setup(kube, tmp_path, monkeypatch, annotations, gpus=None):
    state = tmp_path / "nvml.json"
    FakeState.from_dict({"gpus": gpus or [{"name": A100, "mig_current": True, "mig_pending": True}]}).save(state)
    monkeypatch.setenv("MIGCTL_FAKE_NVML", str(state))
    monkeypatch.delenv("NODE_NAME", raising=False)
    create_node(kube.api_client(), NODE, annotations)
    return kube.write_kubeconfig(tmp_path / "kubeconfig"), state


def test_once_applies_reports_and_exits_0(kube, tmp_path, monkeypatch, cli) -> None:
    kubeconfig, state = _setup(kube, tmp_path, monkeypatch, {protocol.DESIRED: "3g.20gb:2"})
    result = cli("node", "daemon", "--node", NODE, "--once", "--kubeconfig", kubeconfig,
                 "--state-dir", tmp_path / "state", "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["report"]["state"] == "success" and data["report"]["applied"] == {"0": "3g.20gb:2"}
    assert kube.annotations(NODE)[protocol.STATE] == "success"
    assert [gi.profile.name for gi in FakeState.load(state).gpus[0].gpu_instances] == ["3g.20gb", "3g.20gb"]


def test_once_with_nothing_asked(kube, tmp_path, monkeypatch, cli) -> None:
    kubeconfig, _ = _setup(kube, tmp_path, monkeypatch, {})
    monkeypatch.setenv("NODE_NAME", NODE)  # the DaemonSet's way of naming the node
    result = cli("node", "daemon", "--once", "--kubeconfig", kubeconfig, "--state-dir", tmp_path / "state")
    assert result.exit_code == 0 and "nothing asked" in result.stdout


def test_once_refused_exits_4(kube, tmp_path, monkeypatch, cli) -> None:
    busy = [{"name": A100, "mig_current": True, "mig_pending": True,
             "gpu_instances": [{"profile": "7g.40gb", "start": 0, "compute_instances": [{"processes": [31337]}]}]}]
    kubeconfig, _ = _setup(kube, tmp_path, monkeypatch, {protocol.DESIRED: "1g.5gb:7"}, busy)
    result = cli("node", "daemon", "--node", NODE, "--once", "--kubeconfig", kubeconfig, "--state-dir", tmp_path / "s")
    assert result.exit_code == 4
    assert "refused" in result.stdout and "31337" in result.stdout


def test_usage_errors_exit_2_without_traceback(kube, tmp_path, monkeypatch, cli) -> None:
    kubeconfig, _ = _setup(kube, tmp_path, monkeypatch, {})
    cases = [
        (("node", "daemon", "--once", "--kubeconfig", kubeconfig), "--node is required"),
        (("node", "daemon", "--node", NODE, "--mig-parted-config", tmp_path / "missing.yaml", "--kubeconfig", kubeconfig),
         "missing.yaml"),
        (("node", "daemon", "--node", NODE, "--log-level", "loud"), "--log-level"),
        (("node", "daemon", "--node", NODE, "--resync-interval", "0"), "--resync-interval"),
    ]  # a missing --kubeconfig is exit 3 like in every command: tests/test_kube_client.py
    for args, fragment in cases:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stderr)
        assert fragment in result.stderr and "Traceback" not in result.stderr


def test_metrics_port_in_use_is_a_usage_error(kube, tmp_path, monkeypatch, cli) -> None:
    kubeconfig, _ = _setup(kube, tmp_path, monkeypatch, {})
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("node", "daemon", "--node", NODE, "--kubeconfig", kubeconfig, "--metrics-port", port)
    assert result.exit_code == 2 and f"--metrics-port {port}" in result.stderr


def test_once_with_the_api_server_down_exits_3(kube, tmp_path, monkeypatch, cli) -> None:
    kubeconfig, _ = _setup(kube, tmp_path, monkeypatch, {protocol.DESIRED: "3g.20gb:2"})
    kube.stop_http()
    result = cli("node", "daemon", "--node", NODE, "--once", "--kubeconfig", kubeconfig, "--state-dir", tmp_path / "s")
    kube.start_http()
    assert result.exit_code == 3 and "Traceback" not in result.stderr


def test_command_module_imports_no_heavy_dependencies() -> None:
    code = (
        "import sys, migctl.cli.main, migctl.cli.node_daemon;"
        "print(','.join(m for m in ('kubernetes', 'pynvml', 'rich', 'yaml', 'jsonschema') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_set_geometry_with_gpu_retries_on_conflict_and_merges_the_fresh_request(monkeypatch, cli) -> None:
    """Two admins editing different GPUs at once: the 409 makes us re-read and merge, nothing is lost."""
    from migctl.daemon import kube as kube_module
    from migctl.daemon.kube import KubeError

    nodes = [
        {"metadata": {"name": NODE, "resourceVersion": "1", "annotations": {protocol.DESIRED: '{"0":"7g.40gb:1"}'}}},
        {"metadata": {"name": NODE, "resourceVersion": "2",
                      "annotations": {protocol.DESIRED: '{"0":"7g.40gb:1","2":"disabled"}'}}},
    ]
    patches = []

    class ConflictingApi:
        def __init__(self, client, name):
            self.name = name

        def get(self):
            return nodes[min(len(patches), 1)]

        def patch(self, patch):
            patches.append(patch)
            if len(patches) == 1:
                raise KubeError("the object has been modified", status=409)
            return nodes[1]

    monkeypatch.setattr(kube_module, "NodeApi", ConflictingApi)
    monkeypatch.setattr(kube_module, "api_client_for", lambda *a: None)
    result = cli("node", "set-geometry", NODE, "1g.5gb:7", "--gpu", "1", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert [p["metadata"]["resourceVersion"] for p in patches] == ["1", "2"]
    assert patches[-1]["metadata"]["annotations"][protocol.DESIRED] == '{"0":"7g.40gb:1","1":"1g.5gb:7","2":"disabled"}'


def test_set_geometry_checks_the_geometry_against_the_nodes_gpu_model(kube, tmp_path, cli) -> None:
    create_node(kube.api_client(), NODE, labels={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"})
    create_node(kube.api_client(), "h100-node", labels={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3-MIG-1g.10gb"})
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    bad = cli("node", "set-geometry", NODE, "3g.20gb:2,1g.5gb:1", "--kubeconfig", kubeconfig)
    assert bad.exit_code == 1 and "cannot exist on a100-40gb" in bad.stderr and "no room for 1g.5gb" in bad.stderr
    assert protocol.DESIRED not in kube.annotations(NODE)  # nothing was asked
    wrong_model = cli("node", "set-geometry", "h100-node", '1g.5gb:7', "--kubeconfig", kubeconfig)
    assert wrong_model.exit_code == 1 and "h100-80gb has no profile '1g.5gb'" in wrong_model.stderr
    forced = cli("node", "set-geometry", NODE, "3g.20gb:2,1g.5gb:1", "--no-check", "--kubeconfig", kubeconfig)
    assert forced.exit_code == 0 and kube.annotations(NODE)[protocol.DESIRED] == "3g.20gb:2,1g.5gb:1"
    ok = cli("node", "set-geometry", "h100-node", "1g.10gb:7", "--kubeconfig", kubeconfig)
    assert ok.exit_code == 0 and "migctl.io/geometry=1g.10gb:7" in ok.stdout
