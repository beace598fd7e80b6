"""The live cluster reader (an edge): Nodes, Pods and the device ConfigMap through the official client.

- kubeconfig (``--kubeconfig``, ``$KUBECONFIG``, ``~/.kube/config``) with ``--context``, or the in-cluster
  service account when no kubeconfig exists;
- LISTs are paged with ``limit``/``continue`` and read as raw JSON (``_preload_content=False``): the
  client's model classes are skipped, and only the fields the model keeps survive each page;
- pods in a terminal phase are left out server-side (``status.phase!=Succeeded,status.phase!=Failed``):
  HAMi does not count them (hami.md §2.3);
- an unreachable API server, a bad kubeconfig, 401 or 403 raise :class:`~migctl.errors.UnreachableError`
  (exit 3) with the reason. A forbidden ConfigMap read is only a warning.

``kubernetes`` is imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from migctl.cluster.model import DEVICE_CONFIGMAP_NAME, Cluster, ClusterWarning
from migctl.errors import UnreachableError

DEFAULT_PAGE_SIZE = 500
ACTIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"
_TIMEOUT = (10, 120)  # connect, read seconds


class _Session:
    """A configured ``CoreV1Api`` plus where it points, for messages."""

    def __init__(self, kubeconfig: str | None, context: str | None) -> None:
        import yaml
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        path = kubeconfig or _default_kubeconfig()
        configuration = client.Configuration()
        try:
            if path is not None:
                if not Path(path).expanduser().exists():
                    raise UnreachableError(f"kubeconfig {path} does not exist",
                                           hint="pass --kubeconfig FILE, or read a snapshot with --cluster FILE")
                config.load_kube_config(config_file=str(Path(path).expanduser()), context=context,
                                        client_configuration=configuration)
                self.where = f"context {context or _current_context(path)} ({configuration.host})"
            else:
                config.load_incluster_config(client_configuration=configuration)
                self.where = f"in-cluster ({configuration.host})"
        except UnreachableError:
            raise
        except ConfigException as exc:
            where = f"kubeconfig {path}" if path else "in-cluster config"
            raise UnreachableError(f"cannot load {where}: {_one_line(exc)}",
                                   hint="pass --kubeconfig FILE / --context NAME, or --cluster FILE") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" line {mark.line + 1}" if mark is not None else ""
            raise UnreachableError(f"cannot load kubeconfig {path}: not valid YAML{line}") from None
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            where = f"kubeconfig {path}" if path else "in-cluster config"
            raise UnreachableError(f"cannot load {where}: {type(exc).__name__}: {_one_line(exc)}") from None
        configuration.retries = 1  # fail fast: one retry, not urllib3's three, on an unreachable server
        self.api = client.CoreV1Api(client.ApiClient(configuration))
        self.host = configuration.host

    def list_pages(self, method: str, page_size: int, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        """Yield the ``items`` of each page of a LIST, following ``metadata.continue``."""
        token: str | None = None
        while True:
            params = dict(kwargs, limit=page_size, _preload_content=False, _request_timeout=_TIMEOUT)
            if token:
                params["_continue"] = token
            response = self._call(method, **params)
            try:
                body = json.loads(response.data)
            except (ValueError, TypeError):
                raise UnreachableError(f"{self.where}: {method} answered with something that is not JSON") from None
            if not isinstance(body, dict):
                raise UnreachableError(f"{self.where}: {method} answered with an unexpected document")
            items = body.get("items") or []
            yield [i for i in items if isinstance(i, dict)]
            token = (body.get("metadata") or {}).get("continue")
            if not token:
                return

    def _call(self, method: str, **params: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return getattr(self.api, method)(**params)
        except ApiException as exc:
            raise _api_error(self.where, method, exc) from None
        except HTTPError as exc:
            reason = getattr(exc, "reason", None) or exc
            raise UnreachableError(f"cannot reach the Kubernetes API at {self.host}: {_one_line(reason)}",
                                   hint=f"using {self.where}") from None
        except OSError as exc:
            raise UnreachableError(f"cannot reach the Kubernetes API at {self.host}: {_one_line(exc)}") from None


class _Forbidden(UnreachableError):
    pass


def _api_error(where: str, method: str, exc: Any) -> UnreachableError:
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", "") or ""
    message = ""
    try:
        message = json.loads(exc.body).get("message", "")
    except (ValueError, TypeError, AttributeError):
        pass
    what = {401: "unauthorized (credentials rejected)", 403: "forbidden (RBAC denies it)"}.get(status, reason)
    text = f"{where}: {method} failed: HTTP {status} {what}" + (f": {message}" if message else "")
    return (_Forbidden if status == 403 else UnreachableError)(text)


def _one_line(value: Any) -> str:
    text = str(value).strip().splitlines()
    return text[0] if text else type(value).__name__


def _default_kubeconfig() -> str | None:
    env = os.environ.get("KUBECONFIG")
    if env:
        for part in env.split(os.pathsep):
            if part and Path(part).expanduser().exists():
                return part
        return env.split(os.pathsep)[0] or None
    home = Path.home() / ".kube" / "config"
    if home.exists():
        return str(home)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return None
    return str(home)  # neither exists: report the usual place


def _current_context(path: str) -> str:
    try:
        import yaml

        data = yaml.safe_load(Path(path).expanduser().read_text())
        return str((data or {}).get("current-context") or "?")
    except Exception:  # noqa: BLE001 - only for a message
        return "?"


def _strip(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    """Give a list item back its kind/apiVersion and drop managedFields (as kubectl does)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return {"apiVersion": "v1", "kind": kind, **{k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}}


def connect(kubeconfig: str | None = None, context: str | None = None) -> _Session:
    """Load the kubeconfig (or in-cluster config); raises ``UnreachableError`` when it cannot."""
    return _Session(kubeconfig, context)


def list_objects(
    session: _Session,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    active_pods_only: bool = True,
    warnings: list[ClusterWarning] | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield Node, Pod and device-ConfigMap objects (dicts, kind set) from the live cluster, page by page."""
    for page in session.list_pages("list_node", page_size):
        for item in page:
            yield _strip(item, "Node")
    pod_kwargs = {"field_selector": ACTIVE_PODS} if active_pods_only else {}
    for page in session.list_pages("list_pod_for_all_namespaces", page_size, **pod_kwargs):
        for item in page:
            yield _strip(item, "Pod")
    try:
        for page in session.list_pages("list_config_map_for_all_namespaces", page_size,
                                       field_selector=f"metadata.name={DEVICE_CONFIGMAP_NAME}"):
            for item in page:
                name = str((item.get("metadata") or {}).get("name") or "")
                if name.endswith("-scheduler-device"):
                    yield _strip(item, "ConfigMap")
    except _Forbidden as exc:
        if warnings is not None:
            warnings.append(ClusterWarning(
                "no-config", f"cannot read the {DEVICE_CONFIGMAP_NAME} ConfigMap ({exc.message}); "
                             "pass --config FILE to show legacy geometries"))


def read_cluster(
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    on_item: Callable[[], None] | None = None,
) -> Cluster:
    """The live cluster as a :class:`Cluster` (raises ``UnreachableError`` with the reason)."""
    from migctl.cluster.snapshot import gc_paused

    warnings: list[ClusterWarning] = []
    session = connect(kubeconfig, context)
    cluster = Cluster(source=f"live cluster, {session.where}")
    with gc_paused():
        for obj in list_objects(session, page_size=page_size, warnings=warnings):
            cluster.add_object(obj)
            if on_item is not None:
                on_item()
    cluster.finish()
    cluster.warnings.extend(warnings)
    return cluster
