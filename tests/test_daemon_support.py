"""Test helpers for the daemon tests (no tests here): a kmock API server in a thread, node objects.

``KubeServer`` runs ``kmock.KubernetesEmulator`` behind a real HTTP port in a background event
loop so the synchronous ``kubernetes`` client (and the daemon's threads) can talk to it. The
HTTP server can be stopped and started again on the same port while the stored objects survive:
an API outage.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


class KubeServer:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kmock", daemon=True)
        self._thread.start()
        self.handler: Any = None
        self._server: Any = None
        self.port: int | None = None
        self._run(self._open())

    def _run(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _open(self) -> None:
        import kmock

        self.handler = kmock.KubernetesEmulator()
        await self.handler.__aenter__()
        await self._start_http()

    async def _start_http(self) -> None:
        import kmock

        self._server = kmock.Server(self.handler, port=self.port)
        await self._server.__aenter__()
        self.port = self._server.port

    async def _stop_http(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            # Drop open watch streams at once instead of waiting for them to finish.
            server.server.runner._shutdown_timeout = 0.1
            await server.__aexit__(None, None, None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop_http(self) -> None:
        """The API server goes away (connections refused); its objects are kept."""
        self._run(self._stop_http(), timeout=30)

    def start_http(self) -> None:
        self._run(self._start_http())

    def close(self) -> None:
        try:
            self._run(self._stop_http(), timeout=30)
            self._run(self.handler.__aexit__(None, None, None))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    def write_kubeconfig(self, path: Path) -> Path:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "kmock", "cluster": {"server": self.url}}],
                    "users": [{"name": "kmock", "user": {"token": "test"}}],
                    "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock"}}],
                    "current-context": "kmock",
                }
            )
        )
        return path

    def api_client(self) -> Any:
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        return client.ApiClient(configuration)

    # --- direct access to stored objects (no HTTP) ---

    def node(self, name: str) -> dict[str, Any]:
        return json.loads(json.dumps(self.handler.objects["v1/nodes", None, name].raw))

    def annotations(self, name: str) -> dict[str, str]:
        return dict((self.node(name).get("metadata") or {}).get("annotations") or {})

    def events(self) -> list[dict[str, Any]]:
        found = []
        for (resource, _namespace, _name), obj in list(self.handler.objects.items()):
            if getattr(resource, "plural", None) == "events" and not obj.deleted:
                found.append(json.loads(json.dumps(obj.raw)))
        return found


def node_object(name: str, annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "labels": {"kubernetes.io/hostname": name, **(labels or {})},
            "annotations": dict(annotations or {}),
        },
        "spec": {},
        "status": {},
    }


def create_node(api_client: Any, name: str, annotations: dict[str, str] | None = None, **kw: Any) -> None:
    from kubernetes import client

    client.CoreV1Api(api_client).create_node(node_object(name, annotations, **kw))


def patch_annotations(api_client: Any, name: str, annotations: dict[str, str | None]) -> None:
    from kubernetes import client

    client.CoreV1Api(api_client).patch_node(
        name, {"metadata": {"annotations": annotations}}, _content_type="application/merge-patch+json"
    )


def wait_for(predicate: Callable[[], Any], timeout: float = 8.0, interval: float = 0.02) -> Any:
    """Poll until ``predicate()`` is truthy; fail the test with the last value otherwise."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        time.sleep(interval)
        value = predicate()
    return value


@pytest.fixture
def kube() -> Iterator[KubeServer]:
    server = KubeServer()
    try:
        yield server
    finally:
        server.close()


class FakeEngine:
    """An in-memory engine for loop tests: GPU index -> geometry, busy GPUs, injected failures, a gate."""

    def __init__(self, geometries: dict[int, str], *, model: str = "NVIDIA A100-SXM4-40GB") -> None:
        self.geometries = dict(geometries)
        self.model = model
        self.busy: set[int] = set()
        self.fail_next: str | None = None
        self.calls: list[dict[int, str]] = []
        self.inventory_calls = 0
        self.unavailable: str | None = None  # inventory raises EngineUnavailable with this text
        self.entered = threading.Event()  # set when an apply starts
        self.release: threading.Event | None = None  # when set, apply waits for it
        self._lock = threading.Lock()

    def inventory(self) -> list[Any]:
        from migctl.daemon.contract import EngineUnavailable, GpuState

        self.inventory_calls += 1
        if self.unavailable is not None:
            raise EngineUnavailable(self.unavailable)
        with self._lock:
            return [GpuState(i, f"GPU-{i:04d}", self.model, g) for i, g in sorted(self.geometries.items())]

    def plan(self, targets: Any) -> Any:
        """Busy GPUs in the way are refused before anything changes (like the NVML engine)."""
        from migctl.daemon.contract import ApplyOutcome
        from migctl.node_protocol import State

        with self._lock:
            busy = sorted(set(targets) & self.busy)
            if busy:
                return ApplyOutcome(State.refused, dict(self.geometries), f"GPU {busy[0]}: 1g.5gb (GPU instance 1) is in use by PID 4242")
        return None

    def apply(self, targets: Any) -> Any:
        from migctl.daemon.contract import ApplyOutcome
        from migctl.node_protocol import State

        self.calls.append(dict(targets))
        self.entered.set()
        if self.release is not None:
            assert self.release.wait(10), "the test never released the apply"
        with self._lock:
            busy = sorted(set(targets) & self.busy)
            if busy:
                return ApplyOutcome(State.refused, dict(self.geometries), f"GPU {busy[0]}: 1g.5gb (GPU instance 1) is in use by PID 4242")
            if self.fail_next is not None:
                message, self.fail_next = self.fail_next, None
                return ApplyOutcome(State.failed, dict(self.geometries), message)
            self.geometries.update(targets)
            return ApplyOutcome(State.success, dict(self.geometries), None, changed=True)
