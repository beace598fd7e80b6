"""The daemon's Kubernetes edge: read, watch and merge-patch one Node; post Events about it.

Everything is plain dicts (the Node as the API server sends it); the ``kubernetes`` client is
imported lazily. Failures become :class:`KubeError` with ``transient`` telling the daemon whether
retrying can help (connection refused, timeouts, 409, 429, 5xx) or a person must act (401, 403).

The watch asks the server for this node only (``fieldSelector=metadata.name=NODE``) *and* filters
by name on the client: kmock's ``KubernetesEmulator`` (the test server) ignores field selectors and
resource versions and replays every object when a watch starts, and a real API server filters.
"""

from __future__ import annotations

import datetime
import json
import secrets
import threading
from collections.abc import Iterator, Mapping
from typing import Any

MERGE_PATCH = "application/merge-patch+json"
EVENT_NAMESPACE = "default"  # where the kubelet and NVIDIA's mig-manager post Node events
COMPONENT = "migctl-daemon"


class KubeError(Exception):
    """A Kubernetes API call failed. ``transient``: worth retrying as it is."""

    def __init__(self, message: str, *, status: int | None = None, transient: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.transient = transient


class WatchExpired(KubeError):
    """The watch's resourceVersion is too old (HTTP 410 Gone): read the Node again, then watch."""

    def __init__(self, message: str = "watch expired (410 Gone)") -> None:
        super().__init__(message, status=410, transient=True)


def api_client_for(kubeconfig: str | None = None, context: str | None = None) -> Any:
    """A ``kubernetes.client.ApiClient`` through :func:`migctl.kube.connect` (the one kubeconfig order:
    ``--kubeconfig``, ``$KUBECONFIG`` merged, ``~/.kube/config``, in-cluster).

    Raises :class:`migctl.errors.UnreachableError` (exit 3) for a configuration that cannot be used.
    """
    from migctl.kube import connect

    return connect(kubeconfig, context).api_client


def _translate(exc: BaseException, what: str) -> KubeError:
    """Any failure of a call as a :class:`KubeError`, classified by :func:`migctl.kube.describe_failure`."""
    from migctl.kube import TRANSIENT_STATUS, describe_failure

    if isinstance(exc, KubeError):
        return exc
    status, reason = describe_failure(exc)
    if status == 410:
        return WatchExpired(f"{what}: {reason}")
    if status is None:
        return KubeError(f"{what}: {type(exc).__name__}: {reason}", transient=True)
    transient = status in TRANSIENT_STATUS or status == 404  # a Node not registered yet comes back
    return KubeError(f"{what}: {reason}", status=status, transient=transient)


class NodeApi:
    """Get / watch / merge-patch the Node ``name`` and post Events about it."""

    def __init__(self, api_client: Any, name: str, *, request_timeout: float = 10.0) -> None:
        from kubernetes import client

        self.name = name
        self._core = client.CoreV1Api(api_client)
        self._timeout = request_timeout
        self._lock = threading.Lock()
        self._watch_response: Any = None

    def _json(self, call: Any, what: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            response = call(*args, _preload_content=False, _request_timeout=self._timeout, **kwargs)
            data = response.data
            return json.loads(data) if data else {}
        except Exception as exc:  # noqa: BLE001 - every failure is translated for the retry logic
            raise _translate(exc, what) from exc

    def get(self) -> dict[str, Any]:
        return self._json(self._core.read_node, f"get node {self.name}", self.name)

    def patch(self, patch: Mapping[str, Any]) -> dict[str, Any]:
        """Merge-patch the Node (``None`` values delete keys) and return it as the server has it."""
        return self._json(
            self._core.patch_node, f"patch node {self.name}", self.name, dict(patch), _content_type=MERGE_PATCH
        )

    def event(self, node: Mapping[str, Any] | None, reason: str, message: str, *, warning: bool = False) -> None:
        """Post a core/v1 Event about this Node (visible in ``kubectl describe node``)."""
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        uid = ((node or {}).get("metadata") or {}).get("uid")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            # Unique names (kmock keys objects by name; generateName is not expanded there).
            "metadata": {"name": f"{self.name}.migctl.{secrets.token_hex(6)}", "namespace": EVENT_NAMESPACE},
            "involvedObject": {"apiVersion": "v1", "kind": "Node", "name": self.name, **({"uid": uid} if uid else {})},
            "reason": reason,
            "message": message[:1024],
            "type": "Warning" if warning else "Normal",
            "source": {"component": COMPONENT, "host": self.name},
            "reportingComponent": f"migctl.io/{COMPONENT}",
            "reportingInstance": self.name,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        self._json(self._core.create_namespaced_event, f"create event for node {self.name}", EVENT_NAMESPACE, body)

    def watch(self, resource_version: str | None, *, timeout_seconds: int = 300) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield ``(event type, Node)`` for this Node until the server ends the stream.

        Raises :class:`WatchExpired` on 410 and :class:`KubeError` when the connection breaks.
        :meth:`interrupt` ends a running watch from another thread.
        """
        from kubernetes.watch.watch import iter_resp_lines

        from migctl.kube import TRANSIENT_STATUS

        what = f"watch node {self.name}"
        kwargs: dict[str, Any] = {
            "watch": True,
            "field_selector": f"metadata.name={self.name}",
            "allow_watch_bookmarks": True,
            "timeout_seconds": timeout_seconds,
        }
        if resource_version:
            kwargs["resource_version"] = resource_version
        try:
            response = self._core.list_node(
                _preload_content=False, _request_timeout=(self._timeout, timeout_seconds + self._timeout), **kwargs
            )
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, what) from exc
        with self._lock:
            self._watch_response = response
        try:
            status = getattr(response, "status", 200)
            if isinstance(status, int) and not 200 <= status <= 299:
                raise KubeError(f"{what}: HTTP {status}", status=status, transient=status in TRANSIENT_STATUS)
            for line in iter_resp_lines(response):
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    code = int(obj.get("code") or 0)
                    if code == 410:
                        raise WatchExpired(f"{what}: {obj.get('message', 'resource version too old')}")
                    raise KubeError(f"{what}: {obj.get('message', 'error event')}", status=code or None)
                if kind == "BOOKMARK" or (obj.get("metadata") or {}).get("name") == self.name:
                    yield kind, obj
        except KubeError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken or interrupted stream
            raise _translate(exc, what) from exc
        finally:
            with self._lock:
                self._watch_response = None
            try:
                response.close()
                response.release_conn()
            except Exception:  # noqa: BLE001 - already broken
                pass

    def interrupt(self) -> None:
        """End the running :meth:`watch` (from another thread)."""
        with self._lock:
            response = self._watch_response
        if response is None:
            return
        import socket

        try:
            sock = getattr(getattr(response, "connection", None), "sock", None)
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
