"""``migctl validate config --from-cluster`` against a real HTTP API (kmock.KubernetesEmulator).

The official ``kubernetes`` client is synchronous and kmock is asyncio, so the emulator runs its event
loop in a daemon thread; the CLI reaches it over HTTP through a kubeconfig written per test.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


class ApiServer:
    """A kmock emulator on a background loop: ``add`` objects, ``kubeconfig`` to reach it."""

    def __init__(self) -> None:
        from kmock import KubernetesEmulator, Server

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="validate-kmock", daemon=True)
        self._thread.start()

        async def start() -> tuple[Any, Any]:
            handler = KubernetesEmulator()
            await handler.__aenter__()
            server = Server(handler)
            await server.__aenter__()
            return handler, server

        self.handler, self.server = self._run(start())

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    @property
    def url(self) -> str:
        return str(self.server.url).rstrip("/")

    def add_configmap(self, namespace: str, name: str, data: dict[str, str]) -> None:
        obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data}

        async def put() -> None:
            self.handler.objects["v1/configmaps", namespace, name] = obj

        self._run(put())

    def kubeconfig(self, path: Path, *, contexts: dict[str, str] | None = None, current: str = "kmock") -> Path:
        contexts = contexts or {"kmock": self.url}
        config = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": c, "cluster": {"server": url}} for c, url in contexts.items()],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": c, "context": {"cluster": c, "user": "u"}} for c in contexts],
            "current-context": current,
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def close(self) -> None:
        async def stop() -> None:
            await self.server.__aexit__(None, None, None)
            await self.handler.__aexit__(None, None, None)

        try:
            self._run(stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)


@pytest.fixture
def api() -> Iterator[ApiServer]:
    server = ApiServer()
    try:
        yield server
    finally:
        server.close()


SEED_TEXT = (REPO / "examples" / "device-config.yaml").read_text()
BAD_TEXT = "nvidia:\n  resourceCountName: nvidia.com/gpu\n  migProfileAllowlist:\n  - models: [A100-SXM4-80GB]\n    profiles: [3g.20gb]\n"


def test_reads_the_scheduler_configmap_from_kube_system(cli, api, tmp_path):
    api.add_configmap("kube-system", "hami-scheduler-device", {"device-config.yaml": SEED_TEXT})
    result = cli("validate", "config", "--from-cluster", "--kubeconfig", api.kubeconfig(tmp_path / "kc"), "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["files"][0]["file"] == "configmap/kube-system/hami-scheduler-device/device-config.yaml"
    assert report["valid"] and report["warnings"] > 0


def test_findings_in_the_cluster_config_exit_1_with_positions_in_the_config(cli, api, tmp_path):
    api.add_configmap("hami", "my-device", {"device-config.yaml": BAD_TEXT})
    result = cli("validate", "config", "--from-cluster", "--kubeconfig", api.kubeconfig(tmp_path / "kc"),
                 "--namespace", "hami", "--name", "my-device", "-o", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    hit = next(d for d in report["diagnostics"] if d["code"] == "profile-unknown")
    assert (hit["path"], hit["line"], hit["column"]) == ("/nvidia/migProfileAllowlist/0/profiles/0", 5, 16)


def test_node_config_kind_reads_the_device_plugin_configmap(cli, api, tmp_path):
    api.add_configmap("kube-system", "hami-device-plugin",
                      {"config.json": json.dumps({"nodeconfig": [{"name": "a", "migstrategy": "mixed"}]})})
    result = cli("validate", "config", "--from-cluster", "--kind", "node-config",
                 "--kubeconfig", api.kubeconfig(tmp_path / "kc"), "-o", "json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert [d["code"] for d in report["diagnostics"]] == ["migstrategy-no-effect"]
    assert report["files"][0]["configs"][0]["kind"] == "node-config"


def test_context_option_selects_the_cluster(cli, api, tmp_path):
    api.add_configmap("kube-system", "hami-scheduler-device", {"device-config.yaml": SEED_TEXT})
    kc = api.kubeconfig(tmp_path / "kc", contexts={"dead": "http://127.0.0.1:9", "kmock": api.url}, current="dead")
    assert cli("validate", "config", "--from-cluster", "--kubeconfig", kc, "--context", "kmock").exit_code == 0


def test_configmap_without_the_key_is_reported(cli, api, tmp_path):
    api.add_configmap("kube-system", "hami-scheduler-device", {"other.yaml": "x"})
    result = cli("validate", "config", "--from-cluster", "--kubeconfig", api.kubeconfig(tmp_path / "kc"), "-o", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["diagnostics"][0]["code"] == "configmap-key-missing"


def test_missing_configmap_is_exit_2(cli, api, tmp_path):
    result = cli("validate", "config", "--from-cluster", "--kubeconfig", api.kubeconfig(tmp_path / "kc"))
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
