"""The one Kubernetes API for tests: ``kmock.KubernetesEmulator`` on a background thread, over real HTTP.

The official ``kubernetes`` client is synchronous and kmock is asyncio, so the emulator runs its own event
loop in a daemon thread; tests talk to it over real HTTP through a kubeconfig this module writes (or an
``api_client()``). The ``kube`` fixture in ``tests/conftest.py`` gives each test a fresh one.

Usage::

    def test_x(kube, tmp_path):                       # the fixture; or ``with KubeEmulator() as kube:``
        kube.add(node_dict, pod_dict, configmap_dict) # any objects with kind + metadata
        kube.add_configmap("kube-system", "hami-scheduler-device", {"device-config.yaml": "..."})
        path = kube.write_kubeconfig(tmp_path / "kubeconfig")
        ... run code with --kubeconfig path, or NodeApi(kube.api_client(), name) ...
        kube.get("Node", "gpu-node-1")                # the stored object (after patches), or None
        kube.annotations("gpu-node-1"), kube.events() # shortcuts for the daemon tests
        kube.list_requests                            # [(plural, params), ...] of every LIST served
        kube.list_scopes                              # [(plural, namespace or None), ...] of the same

Beyond kmock's own behaviour this adds what tests need and kmock lacks:

- **paging**: kmock ignores ``limit``/``continue``; here a LIST honours them like the API server
  (``metadata.continue`` is set while more items remain). ``page_size`` caps pages even without a limit.
- **failures**: ``kube.fail_lists(403)`` makes every LIST answer with that HTTP status (a k8s ``Status``);
  ``kube.fail_lists(403, "configmaps")`` only the LISTs of one resource.
- **outages**: ``kube.stop_http()`` / ``kube.start_http()`` take the HTTP server away and back on the same
  port; the stored objects survive.
- the core resources (nodes, pods, configmaps, namespaces, events) exist even while empty, as on a real
  API server (kmock answers 404 for a resource it has no object of).

kmock ignores label and field selectors (it serves every object of the resource).
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from pathlib import Path
from typing import Any

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
    list_scopes: list[tuple[str, str | None]]

    async def _serve_list(self, request):  # type: ignore[override]
        params = dict(request.params)
        self.list_log.append((request.resource.plural if request.resource else "", params))
        self.list_scopes.append((request.resource.plural if request.resource else "", request.namespace))
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
        self.handler: _Emulator | None = None
        self._server: Server | None = None
        self.port: int | None = None
        self._run(self._start(page_size))

    def _run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=timeout)

    async def _start(self, page_size: int | None) -> None:
        handler = _Emulator()
        handler.page_size = page_size
        handler.fail_status = None
        handler.fail_plural = None
        handler.list_log = []
        handler.list_scopes = []
        await handler.__aenter__()
        for resource, _namespaced in RESOURCES.values():
            handler.resources[resource] = {}
        self.handler = handler
        await self._start_http()

    async def _start_http(self) -> None:
        self._server = Server(self.handler, port=self.port)
        await self._server.__aenter__()
        self.port = self._server.port

    async def _stop_http(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            # Drop open watch streams at once instead of waiting for them to finish.
            server.server.runner._shutdown_timeout = 0.1
            await server.__aexit__(None, None, None)

    def close(self) -> None:
        if self._loop.is_running():
            try:
                self._run(self._stop_http())
                if self.handler is not None:
                    self._run(self.handler.__aexit__(None, None, None))
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=10)
                self._loop.close()

    def __enter__(self) -> KubeEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the server ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop_http(self) -> None:
        """The API server goes away (connections refused); its objects are kept."""
        self._run(self._stop_http())

    def start_http(self) -> None:
        """The API server comes back on the same port."""
        self._run(self._start_http())

    @property
    def page_size(self) -> int | None:
        return self.handler.page_size if self.handler else None

    @page_size.setter
    def page_size(self, value: int | None) -> None:
        assert self.handler is not None
        self.handler.page_size = value

    @property
    def list_requests(self) -> list[tuple[str, dict[str, str]]]:
        """``(plural, query params)`` of every LIST served so far."""
        assert self.handler is not None
        return list(self.handler.list_log)

    @property
    def list_scopes(self) -> list[tuple[str, str | None]]:
        """``(plural, namespace or None for every namespace)`` of every LIST served so far."""
        assert self.handler is not None
        return list(self.handler.list_scopes)

    def fail_lists(self, status: int | None, plural: str | None = None) -> None:
        """Answer every LIST (or only LISTs of ``plural``, e.g. "configmaps") with this HTTP status; None stops."""
        assert self.handler is not None
        self.handler.fail_status = status
        self.handler.fail_plural = plural

    # --- objects ---------------------------------------------------------------------------------

    def add(self, *objects: dict[str, Any]) -> None:
        """Store objects (Node, Pod, ConfigMap, ...) as if they had been created."""

        async def put() -> None:
            assert self.handler is not None
            for obj in objects:
                resource, namespaced = RESOURCES[obj["kind"]]
                meta = obj.get("metadata") or {}
                namespace = (meta.get("namespace") or "default") if namespaced else None
                self.handler.objects[resource, namespace, meta["name"]] = obj

        self._run(put())

    def add_configmap(self, namespace: str, name: str, data: dict[str, str],
                      labels: dict[str, str] | None = None) -> None:
        """Store a ConfigMap ``namespace/name`` with ``data`` (and ``labels``)."""
        meta: dict[str, Any] = {"name": name, "namespace": namespace}
        if labels:
            meta["labels"] = dict(labels)
        self.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The current stored state of an object (with any patches applied), or None."""

        async def fetch() -> dict[str, Any] | None:
            assert self.handler is not None
            resource, namespaced = RESOURCES[kind]
            key = (resource, (namespace or "default") if namespaced else None, name)
            try:
                obj = self.handler.objects[key]
            except KeyError:
                return None
            return None if obj.deleted else json.loads(json.dumps(obj.raw))

        return self._run(fetch())

    def node(self, name: str) -> dict[str, Any]:
        """The stored Node (KeyError when there is none)."""
        found = self.get("Node", name)
        if found is None:
            raise KeyError(name)
        return found

    def annotations(self, name: str) -> dict[str, str]:
        """The stored Node's annotations."""
        return dict((self.node(name).get("metadata") or {}).get("annotations") or {})

    def events(self) -> list[dict[str, Any]]:
        """Every Event stored, in any namespace."""
        assert self.handler is not None
        found = []
        for (resource, _namespace, _name), obj in list(self.handler.objects.items()):
            if getattr(resource, "plural", None) == "events" and not obj.deleted:
                found.append(json.loads(json.dumps(obj.raw)))
        return found

    # --- reaching it -----------------------------------------------------------------------------

    def kubeconfig(self, *, context: str = "kmock", token: str = "kmock-token",
                   contexts: dict[str, str] | None = None, current: str | None = None) -> dict[str, Any]:
        """A kubeconfig dict: one context per ``contexts`` entry (name -> server URL; default: ``context`` ->
        this emulator), all with the same user; ``current`` (default ``context``) is the current-context."""
        contexts = contexts or {context: self.url}
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": c, "cluster": {"server": url}} for c, url in contexts.items()],
            "users": [{"name": context, "user": {"token": token}}],
            "contexts": [{"name": c, "context": {"cluster": c, "user": context}} for c in contexts],
            "current-context": current or context,
        }

    def write_kubeconfig(self, path: Path, *, context: str = "kmock", contexts: dict[str, str] | None = None,
                         current: str | None = None) -> Path:
        """Write :meth:`kubeconfig` to ``path``; returns ``path``."""
        path.write_text(yaml.safe_dump(self.kubeconfig(context=context, contexts=contexts, current=current)))
        return path

    def api_client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` for this emulator (no kubeconfig involved)."""
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        return client.ApiClient(configuration)
