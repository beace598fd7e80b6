"""The live cluster reader (an edge): Nodes, Pods and HAMi's ConfigMaps through :mod:`migctl.kube`.

- the connection (kubeconfig order, ``KUBECONFIG`` merge, in-cluster) and the error mapping are
  :mod:`migctl.kube`'s, shared with every other command that talks to a cluster;
- LISTs are paged with ``limit``/``continue`` and read as raw JSON (``_preload_content=False``): the
  client's model classes are skipped; node and pod pages are decoded by msgspec straight into the fields
  the model reads (:mod:`migctl.cluster.kube_json`; managedFields and the rest are never built), a page
  outside Kubernetes' own form as JSON dicts, and only the fields the model keeps survive each page;
- pods in a terminal phase are left out server-side (``status.phase!=Succeeded,status.phase!=Failed``):
  HAMi's scheduler drops them from its pod cache (``onUpdatePod`` in HAMi's ``pkg/scheduler/scheduler.go``);
- HAMi's ConfigMaps are found the way its Helm chart names and labels them (:func:`find_config_map`),
  in any namespace unless one is given; a forbidden ConfigMap read is only a warning.

``kubernetes`` is imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from migctl.cluster.model import DEVICE_CONFIGMAP_KEY, DEVICE_CONFIGMAP_NAME, Cluster, ClusterWarning
from migctl.errors import InputError
from migctl.kube import ApiError, Client, connect

__all__ = [
    "ACTIVE_PODS", "DEFAULT_PAGE_SIZE", "DEVICE_PLUGIN_CONFIG", "SCHEDULER_DEVICE_CONFIG", "ConfigMapKind",
    "connect", "find_config_map", "list_objects", "parse_config_map_ref", "read_cluster",
]

DEFAULT_PAGE_SIZE = 500
ACTIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"
COMPONENT_LABEL = "app.kubernetes.io/component"


@dataclass(frozen=True)
class ConfigMapKind:
    """How HAMi's chart names and labels one of its ConfigMaps.

    The chart (``charts/hami/templates/scheduler/device-configmap.yaml`` and
    ``charts/hami/templates/device-plugin/configmap.yaml``, with the names of ``_helpers.tpl``) writes
    ``<fullname>-scheduler-device`` and ``<fullname>-device-plugin``, where ``<fullname>`` is the release
    name when it contains "hami", else ``<release>-hami``; both carry ``app.kubernetes.io/component``.
    """

    what: str  # for messages
    key: str  # the data key HAMi reads
    default_name: str  # the name with the release called "hami"
    suffix: str  # what every chart-made name ends with
    component: str  # the chart's app.kubernetes.io/component label

    def matches(self, obj: dict[str, Any]) -> bool:
        """This object is (one of) HAMi's ConfigMap of this kind: the default name, or the chart's name
        suffix or label together with the data key."""
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        name = str(meta.get("name") or "")
        if name == self.default_name:
            return True
        data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
        labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
        return self.key in data and (name.endswith(self.suffix) or labels.get(COMPONENT_LABEL) == self.component)


SCHEDULER_DEVICE_CONFIG = ConfigMapKind("HAMi scheduler device ConfigMap", DEVICE_CONFIGMAP_KEY,
                                        DEVICE_CONFIGMAP_NAME, "-scheduler-device", "hami-scheduler")
DEVICE_PLUGIN_CONFIG = ConfigMapKind("HAMi device plugin ConfigMap", "config.json", "hami-device-plugin",
                                     "-device-plugin", "hami-device-plugin")


def parse_config_map_ref(value: str | None, namespace: str | None = None) -> tuple[str | None, str | None]:
    """``--config-map NAMESPACE/NAME`` (or ``NAME`` with ``-n``) -> ``(namespace, name)``; exit 2 when malformed."""
    if value is None:
        return namespace, None
    parts = value.split("/")
    if len(parts) == 1 and parts[0]:
        return namespace, parts[0]
    if len(parts) == 2 and all(parts):
        if namespace is not None and namespace != parts[0]:
            raise InputError(f"--config-map {value} is in namespace {parts[0]}, but -n/--namespace says {namespace}")
        return parts[0], parts[1]
    raise InputError(f"--config-map {value!r}: expected NAMESPACE/NAME, e.g. kube-system/hami-scheduler-device")


def _ref(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or 'default'}/{meta.get('name')}"


def find_config_map(
    client: Client,
    kind: ConfigMapKind = SCHEDULER_DEVICE_CONFIG,
    *,
    namespace: str | None = None,
    name: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> dict[str, Any] | None:
    """HAMi's ConfigMap of ``kind`` (a ConfigMap object, kind set), or None when there is none.

    ``namespace`` and ``name`` both given: that ConfigMap (exit 2 when it does not exist). Otherwise the
    ConfigMaps of ``namespace`` (all namespaces when None) are listed and the one named ``name``, or the
    one :meth:`ConfigMapKind.matches`, is taken; two or more is exit 2, listing them. A 403 is raised as
    :class:`~migctl.kube.ApiError` for the caller to decide.
    """
    if namespace and name:
        try:
            obj = client.read_json("read_namespaced_config_map", name, namespace,
                                   what=f"read ConfigMap {namespace}/{name}")
        except ApiError as exc:
            if exc.status == 404:
                raise InputError(f"ConfigMap {namespace}/{name} not found",
                                 hint=f"HAMi's chart names it <release>{kind.suffix} ({kind.default_name} for the "
                                      "release 'hami'); kubectl get cm -A lists them") from None
            raise
        return _strip(obj, "ConfigMap")
    kwargs: dict[str, Any] = {"field_selector": f"metadata.name={name}"} if name else {}
    if namespace:
        pages = client.list_pages("list_namespaced_config_map", page_size, namespace=namespace, **kwargs)
    else:
        pages = client.list_pages("list_config_map_for_all_namespaces", page_size, **kwargs)
    found: list[dict[str, Any]] = []
    for page in pages:
        for item in page:
            if (str((item.get("metadata") or {}).get("name") or "") == name) if name else kind.matches(item):
                found.append(_strip(item, "ConfigMap"))
    if len(found) > 1:
        listed = ", ".join(sorted(_ref(o) for o in found))
        raise InputError(f"{len(found)} {kind.what}s found: {listed}",
                         hint="choose one with --config-map NAMESPACE/NAME (or -n NAMESPACE)")
    return found[0] if found else None


def describe_config_map(obj: dict[str, Any]) -> str:
    """"ConfigMap NAMESPACE/NAME": the form messages and ``Cluster.device_config_source`` use."""
    return f"ConfigMap {_ref(obj)}"


def _strip(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    """Give a list item back its kind/apiVersion and drop managedFields (as kubectl does)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return {"apiVersion": "v1", "kind": kind, **{k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}}


def list_objects(
    session: Client,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    active_pods_only: bool = True,
    warnings: list[ClusterWarning] | None = None,
    namespace: str | None = None,
    config_map: str | None = None,
    on_config_map: Callable[[dict[str, Any]], None] | None = None,
    selector: str | None = None,
    typed: Callable[..., Any] | None = None,
) -> Iterator[Any]:
    """Yield Node, Pod and device-ConfigMap objects (dicts, kind set) from the live cluster, page by page.

    ``typed`` (:func:`migctl.cluster.kube_json.read_page`) reads node and pod pages itself: each page it
    reads is yielded whole, as it made it, instead of its objects (the others still come as dicts).

    ``namespace`` / ``config_map`` (``NAMESPACE/NAME`` or ``NAME``) choose the ConfigMap
    (:func:`find_config_map`); pods always come from every namespace (each one may hold GPUs).
    ``on_config_map`` is called with the ConfigMap used, if any. ``selector`` (a label selector) is sent
    to the API server to list only matching nodes.
    """
    node_kwargs = {"label_selector": selector} if selector else {}
    pod_kwargs = {"field_selector": ACTIVE_PODS} if active_pods_only else {}
    for kind, method, kwargs in (("Node", "list_node", node_kwargs),
                                 ("Pod", "list_pod_for_all_namespaces", pod_kwargs)):
        if typed is not None:
            kwargs = dict(kwargs, decode=functools.partial(typed, kind=kind))
        for page in session.list_pages(method, page_size, **kwargs):
            if isinstance(page, list):
                for item in page:
                    yield _strip(item, kind)
            else:
                yield page
    cm_namespace, cm_name = parse_config_map_ref(config_map, namespace)
    try:
        found = find_config_map(session, SCHEDULER_DEVICE_CONFIG, namespace=cm_namespace, name=cm_name,
                                page_size=page_size)
    except ApiError as exc:
        if exc.status != 403:
            raise
        if warnings is not None:
            warnings.append(ClusterWarning(
                "no-config", f"cannot read the {DEVICE_CONFIGMAP_NAME} ConfigMap ({exc.message}); "
                             "pass --config FILE to show legacy geometries"))
        return
    if found is None and cm_name:
        raise InputError(f"--config-map {config_map}: no ConfigMap {cm_name} in "
                         + (f"namespace {cm_namespace}" if cm_namespace else "any namespace"))
    if found is not None:
        if on_config_map is not None:
            on_config_map(found)
        yield found


def read_cluster(
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    on_item: Callable[[], None] | None = None,
    namespace: str | None = None,
    config_map: str | None = None,
    selector: str | None = None,
) -> Cluster:
    """The live cluster as a :class:`Cluster` (raises ``UnreachableError`` with the reason).

    ``selector`` (kubectl's label-selector grammar) lists only matching nodes, server-side; pods on other
    nodes are dropped.

    ``cluster.device_config_source`` names the ConfigMap used ("ConfigMap NAMESPACE/NAME"), if any.
    """
    from migctl.cluster import kube_json  # msgspec: pages decoded straight into the fields the model reads
    from migctl.cluster.snapshot import gc_paused

    warnings: list[ClusterWarning] = []
    chosen: list[dict[str, Any]] = []
    session = connect(kubeconfig, context)
    cluster = Cluster(source=f"live cluster, {session.where}")
    with gc_paused():
        for obj in list_objects(session, page_size=page_size, warnings=warnings, namespace=namespace,
                                config_map=config_map, on_config_map=chosen.append, selector=selector,
                                typed=kube_json.read_page):
            if isinstance(obj, kube_json.Page):
                kube_json.add_page(cluster, obj, on_item)
                continue
            cluster.add_object(obj)
            if on_item is not None:
                on_item()
    cluster.finish()
    data = chosen[0].get("data") if chosen and isinstance(chosen[0].get("data"), dict) else {}
    if cluster.device_config_text is None and DEVICE_CONFIGMAP_KEY in data:  # a name the model does not know
        cluster.device_config_text = str(data[DEVICE_CONFIGMAP_KEY])
        cluster.device_config_source = describe_config_map(chosen[0])
    cluster.warnings.extend(warnings)
    if selector:
        from migctl.cluster.selector import parse_selector, restrict

        restrict(cluster, parse_selector(selector))
    return cluster
