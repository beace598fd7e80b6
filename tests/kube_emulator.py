"""A real Kubernetes API over HTTP for tests: ``kmock.KubernetesEmulator`` on a background thread.

The official ``kubernetes`` client is synchronous and kmock is asyncio, so the emulator runs its own event
loop in a daemon thread; tests talk to it over real HTTP through a kubeconfig this module writes.

Usage::

    from kube_emulator import KubeEmulator  # tests/ is on sys.path (pytest prepend mode)

    with KubeEmulator() as kube:                      # or the ``kube`` pytest fixture below
        kube.add(node_dict, pod_dict, configmap_dict) # any objects with kind + metadata
        path = kube.write_kubeconfig(tmp_path / "kubeconfig")
        ... run code with --kubeconfig path ...
        kube.get("Node", "gpu-node-1")                # the stored object (after patches), or None
        kube.list_requests                            # [(plural, params), ...] of every LIST served

Beyond kmock's own behaviour this adds what tests need and kmock lacks:

- **paging**: kmock ignores ``limit``/``continue``; here a LIST honours them like the API server
  (``metadata.continue`` is set while more items remain). ``page_size`` caps pages even without a limit.
- **failures**: ``kube.fail_lists(403)`` makes every LIST answer with that HTTP status (a k8s ``Status``);
  ``kube.fail_lists(403, "configmaps")`` only the LISTs of one resource.

kmock ignores label and field selectors (it serves every object of the resource).
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kmock import KubernetesEmulator, KubernetesError, Server

#: kind -> (kmock resource, namespaced)
RESOURCES: dict[str, tuple[str, bool]] = {
    "Node": ("v1/nodes", False),
    "Pod": ("v1/pods", True),
    "ConfigMap": ("v1/configmaps", True),
    "Namespace": ("v1/namespaces", False),
    "Event": ("v1/events", True),
    "PodDisruptionBudget": ("policy/v1/poddisruptionbudgets", True),
}


class _Emulator(KubernetesEmulator):
    """kmock's emulator with API-server paging and injectable LIST failures."""

    page_size: int | None = None
    fail_status: int | None = None
    fail_plural: str | None = None
    list_log: list[tuple[str, dict[str, str]]]

    async def _serve_list(self, request):  # type: ignore[override]
        params = dict(request.params)
        self.list_log.append((request.resource.plural if request.resource else "", params))
        plural = request.resource.plural if request.resource else ""
        if self.fail_status is not None and self.fail_plural in (None, plural):
            reason = {401: "Unauthorized", 403: "Forbidden"}.get(self.fail_status, "Failure")
            raise KubernetesError(status=self.fail_status, reason=reason,
                                  message=f"emulated {self.fail_status} {reason}", details={})
        payload = await super()._serve_list(request)
        # Like the API server: list items carry no kind/apiVersion (the list's kind says it).
        items = [{k: v for k, v in item.items() if k not in ("kind", "apiVersion")} for item in payload["items"]]
        payload = {**payload, "items": items}
        start = 0
        if params.get("continue"):
            start = int(base64.urlsafe_b64decode(params["continue"].encode()).decode())
        limit = int(params["limit"]) if params.get("limit") else None
        if self.page_size is not None:
            limit = min(limit or self.page_size, self.page_size)
        if limit is None:
            return payload
        page = items[start : start + limit]
        metadata: dict[str, Any] = {"resourceVersion": "1"}
        if start + limit < len(items):
            metadata["continue"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
            metadata["remainingItemCount"] = len(items) - start - limit
        return {"kind": "List", "apiVersion": "v1", "metadata": metadata, "items": page}


class KubeEmulator:
    """A running emulator; use as a context manager or call :meth:`close`."""

    def __init__(self, *, page_size: int | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kube-emulator", daemon=True)
        self._thread.start()
        self._handler: _Emulator | None = None
        self._server: Server | None = None
        self._run(self._start(page_size))

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _start(self, page_size: int | None) -> None:
        handler = _Emulator()
        handler.page_size = page_size
        handler.fail_status = None
        handler.fail_plural = None
        handler.list_log = []
        await handler.__aenter__()
        server = Server(handler)
        await server.__aenter__()
        self._handler, self._server = handler, server

    async def _stop(self) -> None:
        if self._server is not None:
            await self._server.__aexit__(None, None, None)
        if self._handler is not None:
            await self._handler.__aexit__(None, None, None)

    def close(self) -> None:
        if self._loop.is_running():
            try:
                self._run(self._stop())
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=10)
                self._loop.close()

    def __enter__(self) -> KubeEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- what tests use --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        return str(self._server.url).rstrip("/")

    @property
    def page_size(self) -> int | None:
        return self._handler.page_size if self._handler else None

    @page_size.setter
    def page_size(self, value: int | None) -> None:
        assert self._handler is not None
        self._handler.page_size = value

    @property
    def list_requests(self) -> list[tuple[str, dict[str, str]]]:
        """``(plural, query params)`` of every LIST served so far."""
        assert self._handler is not None
        return list(self._handler.list_log)

    def fail_lists(self, status: int | None, plural: str | None = None) -> None:
        """Answer every LIST (or only LISTs of ``plural``, e.g. "configmaps") with this HTTP status; None stops."""
        assert self._handler is not None
        self._handler.fail_status = status
        self._handler.fail_plural = plural

    def add(self, *objects: dict[str, Any]) -> None:
        """Store objects (Node, Pod, ConfigMap, ...) as if they had been created."""

        async def put() -> None:
            assert self._handler is not None
            for obj in objects:
                resource, namespaced = RESOURCES[obj["kind"]]
                meta = obj.get("metadata") or {}
                namespace = (meta.get("namespace") or "default") if namespaced else None
                self._handler.objects[resource, namespace, meta["name"]] = obj

        self._run(put())

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The current stored state of an object (with any patches applied), or None."""

        async def fetch() -> dict[str, Any] | None:
            assert self._handler is not None
            resource, namespaced = RESOURCES[kind]
            key = (resource, (namespace or "default") if namespaced else None, name)
            try:
                obj = self._handler.objects[key]
            except KeyError:
                return None
            return None if obj.deleted else dict(obj.raw)

        return self._run(fetch())

    def kubeconfig(self, *, context: str = "kmock", token: str = "kmock-token") -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": token}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        }

    def write_kubeconfig(self, path: Path, *, context: str = "kmock") -> Path:
        """Write a kubeconfig whose current context points at this emulator; returns ``path``."""
        path.write_text(yaml.safe_dump(self.kubeconfig(context=context)))
        return path


@pytest.fixture
def kube() -> Iterator[KubeEmulator]:
    """A fresh emulator per test (import this fixture into a test module or conftest)."""
    with KubeEmulator() as emulator:
        yield emulator
