"""Kubernetes JSON read straight into typed structs: snapshot files and the live API's LIST pages.

``kubectl get nodes,pods -A -o json`` (and ``migctl cluster snapshot -o json``), the API server's
``list_node`` / ``list_pod_for_all_namespaces`` pages, and the items of a kubectl YAML snapshot that
:mod:`migctl.yamlio.item_json` turns into JSON (:func:`read_items`) are decoded by msgspec
(https://jcristharif.com/msgspec/) into :class:`Item` structs that hold only the fields the cluster model
reads; everything else (images, env, managedFields, probes...) is skipped without building a Python
object, and the model's :class:`~migctl.cluster.model.Node` / ``Pod`` are built from the structs
(``Node.build`` / ``Pod.build``, the constructors the dict reader calls too). At 5,000 nodes / 100,000 pods
a snapshot reads in about a third of the time of the C ``json`` module, a kubectl-sized one in less
than half of a bare ``json.load`` (``bench/README.md``). Items of a kubectl YAML shape seen often enough
are not even JSON: :func:`item_builder` makes, once per shape, a function that builds their structs
from the text of their values.

The structs are typed for the canonical form Kubernetes itself writes (strings in string maps, objects
where objects belong). For every such value the model's own normalisation (:meth:`Pod.from_object`:
``str()`` of the value, ``None`` dropped, a non-object read as empty) is the identity, so both readers
build equal models; ``tests/test_cluster_kube_json.py`` holds them to it on generated clusters and on
Hypothesis-drawn odd objects. A file outside that form — any value of another type (a number where a
quantity string belongs, a ``null`` map), a nested List, JSON that msgspec refuses (``NaN``, a BOM,
a lone surrogate) — is not partly read: :func:`read_snapshot` returns False and the whole file takes the
reference reader (:func:`migctl.yamlio.kube_list.json_items`) with its messages naming the line. A LIST
page outside that form is read as JSON (:func:`read_page` returns None), the page's items as dicts.

Two differences from the reference reader, both outside what any Kubernetes client writes: a number of
more than 1,000 digits in a field migctl does not read is skipped rather than refused (msgspec never
converts it, so the refusal's reason, quadratic conversion, does not arise); and a List with two
``items`` keys is read as a JSON object is (the last one), where the streaming reader reads both.

msgspec is imported here only: ``migctl --help`` and the YAML paths never load it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from migctl.cluster.model import Cluster, ContainerResources, Node, Pod, kept_text_annotations

__all__ = ["Item", "Page", "add_objects", "add_page", "read_items", "read_page", "read_snapshot"]


class Meta(msgspec.Struct, gc=False):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    deletionTimestamp: Any = None


class Resources(msgspec.Struct, gc=False):
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}


class Container(msgspec.Struct, gc=False):
    name: str = ""
    resources: Resources | None = None
    restartPolicy: Any = None


class Spec(msgspec.Struct, gc=False):
    """The fields of a Pod's and a Node's ``spec`` the model reads."""

    nodeName: str | None = None
    schedulerName: str = ""
    nodeSelector: dict[str, str] = {}
    initContainers: list[Container] = []
    containers: list[Container] = []
    unschedulable: Any = None
    taints: list[dict[str, str]] = []


class Condition(msgspec.Struct, gc=False):
    type: Any = None
    status: Any = None


class Status(msgspec.Struct, gc=False):
    """The fields of a Pod's and a Node's ``status`` the model reads."""

    phase: str = ""
    allocatable: dict[str, str] = {}
    capacity: dict[str, str] = {}
    conditions: list[Condition] = []


class Item(msgspec.Struct, gc=False):
    """One object of the List: a Node, a Pod, a ConfigMap, or any other kind (skipped)."""

    kind: Any = None
    metadata: Meta = msgspec.field(default_factory=Meta)
    spec: Spec = msgspec.field(default_factory=Spec)
    status: Status = msgspec.field(default_factory=Status)
    data: dict[str, str] = {}
    items: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET  # present: a nested List


class _List(msgspec.Struct, gc=False):
    items: list[msgspec.Raw]  # each item's bytes (views of the file's): decoded one at a time


_LIST = msgspec.json.Decoder(_List)
_ITEM = msgspec.json.Decoder(Item)
_REFUSED = (msgspec.DecodeError, msgspec.ValidationError)


def read_snapshot(data: bytes, cluster: Cluster, on_item: Callable[[], None] | None = None) -> bool:
    """Add the Nodes, Pods and the device ConfigMap of ``data`` (a JSON ``v1 List``) to ``cluster``.

    False when the file is not in the form the structs read: ``cluster`` is then partly filled and must be
    dropped, and the file read by the reference reader. The List is split into its items first (msgspec
    skims it), then each item is decoded and turned into its model object in turn, so only one item's
    structs exist at a time (a kubectl-sized 340 MiB snapshot would otherwise hold every struct at once).
    """
    try:
        raws = _LIST.decode(data).items
    except _REFUSED:
        return False
    decode = _ITEM.decode
    for i in range(len(raws)):
        try:
            item = decode(raws[i])
        except _REFUSED:
            return False
        raws[i] = None  # type: ignore[call-overload]  # nothing of the item is kept past its model object
        kind = item.kind
        if kind == "List" or (kind is None and item.items is not msgspec.UNSET):
            return False  # a nested List (or a broken one): the reference reader expands it or says why
        if _add(cluster, item, kind) and on_item is not None:
            on_item()
    return True


_KINDS = ("Node", "Pod", "ConfigMap")
_ITEMS = msgspec.json.Decoder(list[Item])


def read_items(docs: list[Any]) -> list[Item | None]:
    """kubectl YAML items as :mod:`migctl.yamlio.item_json` reads them (an :class:`Item` that
    :func:`item_builder`'s function built, an item's JSON, or None for an item it does not convert) as
    :class:`Item` structs, or None for each that is not in the form the structs read or not a Node, Pod
    or ConfigMap (such an item is then read as a dict: other kinds are skipped or expanded there, with
    their messages). ``kube_list.yaml_batches``' ``typed``."""
    texts = [doc for doc in docs if doc.__class__ is str]
    if texts:
        try:  # all at once, the common case
            decoded: list[Any] = _ITEMS.decode("[" + ",".join(texts) + "]")
        except _REFUSED:
            decoded = [_item_or_none(text) for text in texts]
        if len(texts) == len(docs):
            docs = decoded
        else:
            found = iter(decoded)
            docs = [next(found) if doc.__class__ is str else doc for doc in docs]
    return [item if item is not None and item.kind.__class__ is str and item.kind in _KINDS else None
            for item in docs]


_STRUCTS: dict[type, tuple[tuple[str, ...], tuple[Any, ...]]] = {
    cls: (cls.__struct_fields__, tuple(getattr(cls(), name) for name in cls.__struct_fields__))
    for cls in (Item, Meta, Spec, Status, Container, Resources, Condition)
}


def item_builder(template: str, placeholders: dict[str, int]) -> Callable[[Sequence[str]], Item] | None:
    """The function that makes the :class:`Item` of each kubectl YAML item of one shape from the text of
    its values (``item_json.ItemTemplates``' ``builder``): the Item msgspec decodes from their JSON, without
    the JSON. None when the shape's items must take their JSON (the structs refuse the shape, or it holds
    what the function does not write: a nested List's items, a float).

    ``template`` is the shape's JSON with ``placeholders``' keys in the values' places (value ``k`` is the
    key that maps to ``k``). It is decoded once: every value of the shape is text, so msgspec checks a
    placeholder exactly as it would check any value in its place, and the fields it keeps are the same
    for every item of the shape. The function is generated code (as ``dataclasses`` makes ``__init__``):
    the decoded Item's constructors and containers, ``v[k]`` where it holds placeholder ``k`` (the values
    of fields the structs skip are never read), every other value a literal; each call builds new
    containers, as each decode does.
    """
    try:
        item = _ITEM.decode(template)
    except _REFUSED:
        return None
    if item.items is not msgspec.UNSET:
        return None
    try:
        source = _source(item, placeholders)
        if source is None:
            return None
        namespace: dict[str, Any] = {cls.__name__: cls for cls in _STRUCTS}
        exec(compile(f"def build(v):\n    return {source}\n", "<kube_json.item_builder>", "exec"), namespace)
    except (RecursionError, MemoryError, SyntaxError, ValueError):  # nesting or a number Python will not write
        return None
    return namespace["build"]  # type: ignore[no-any-return]


def _source(value: Any, placeholders: dict[str, int]) -> str | None:
    """Python source that evaluates to a new ``value``, each placeholder text ``v[k]``; None for a value of
    a type it does not write."""
    cls = value.__class__
    if cls is str:
        slot = placeholders.get(value)
        return repr(value) if slot is None else f"v[{slot}]"
    if cls is dict:
        entries = []
        for key, inner in value.items():
            text = _source(inner, placeholders)
            if text is None or key.__class__ is not str:
                return None
            entries.append(f"{key!r}: {text}")
        return "{" + ", ".join(entries) + "}"
    if cls is list:
        elements = [_source(inner, placeholders) for inner in value]
        return None if None in elements else "[" + ", ".join(elements) + "]"  # type: ignore[arg-type]
    if cls is int or cls is bool or value is None:
        return repr(value)
    if cls in _STRUCTS:
        names, defaults = _STRUCTS[cls]
        args: list[str | None] = []
        last = 0  # positional arguments up to the last field that is not its default (the rest default)
        for name, default in zip(names, defaults):
            inner = getattr(value, name)
            args.append(_source(inner, placeholders))
            if inner.__class__ is not default.__class__ or inner != default:
                last = len(args)
        if None in args[:last]:
            return None
        return f"{cls.__name__}({', '.join(args[:last])})"  # type: ignore[arg-type]
    return None


def _item_or_none(text: str) -> Item | None:
    try:
        return _ITEM.decode(text)
    except _REFUSED:
        return None


def add_objects(cluster: Cluster, batch: list[Any], on_item: Callable[[], None] | None = None) -> None:
    """Add a batch of ``kube_list.yaml_batches`` to ``cluster``: each :class:`Item` from :func:`read_items`
    as the structs' reader adds it, each dict through ``Cluster.add_object``."""
    for obj in batch:
        if obj.__class__ is Item:
            _add(cluster, obj, obj.kind)
        else:
            cluster.add_object(obj)
        if on_item is not None:
            on_item()


class _PageMetadata(msgspec.Struct, gc=False):
    continue_: str | None = msgspec.field(default=None, name="continue")


class _ListPage(msgspec.Struct, gc=False):
    items: list[Item] | None = None
    metadata: _PageMetadata | None = None


_PAGE = msgspec.json.Decoder(_ListPage)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a live LIST (``list_node``, ``list_pod_for_all_namespaces``) as typed items."""

    kind: str  # every item's kind: the API leaves it out of list items
    items: list[Item]


def read_page(data: bytes, kind: str) -> tuple[Page, str | None] | None:
    """A LIST page's items and its ``metadata.continue`` token (``Client.list_pages``' ``decode``), or None
    when the page is not in the form the structs read (it is then read as JSON, its items as dicts)."""
    try:
        page = _PAGE.decode(data)
    except _REFUSED:
        return None
    return Page(kind, page.items or []), page.metadata.continue_ if page.metadata is not None else None


def add_page(cluster: Cluster, page: Page, on_item: Callable[[], None] | None = None) -> None:
    """Add a page's objects to ``cluster``, each as the page's kind (as ``kubectl`` and the dict reader do)."""
    kind = page.kind
    for item in page.items:
        if _add(cluster, item, kind) and on_item is not None:
            on_item()


def _add(cluster: Cluster, item: Item, kind: Any) -> bool:
    """Add ``item`` to ``cluster`` as a ``kind`` (``Cluster.add_object``'s dispatch); False for other kinds."""
    if kind == "Pod":
        cluster.pods.append(_pod(item))
    elif kind == "Node":
        cluster.nodes.append(_node(item))
    elif kind == "ConfigMap":
        cluster.add_config_map(item.metadata.name, item.metadata.namespace, item.data)
    else:
        return False
    return True


def _containers(raw: list[Container], *, init: bool) -> tuple[ContainerResources, ...]:
    out = []
    for c in raw:
        res = c.resources
        if res is None:
            out.append(ContainerResources(c.name, {}, {}, init and c.restartPolicy == "Always"))
        else:
            out.append(ContainerResources(c.name, res.requests, res.limits, init and c.restartPolicy == "Always"))
    return tuple(out)


def _pod(item: Item) -> Pod:
    meta, spec = item.metadata, item.spec
    return Pod.build(
        meta.namespace or "default",
        meta.name,
        meta.uid,
        spec.nodeName or None,
        item.status.phase,
        bool(meta.deletionTimestamp),
        spec.schedulerName,
        kept_text_annotations(meta.annotations),
        spec.nodeSelector,
        _containers(spec.initContainers, init=True) if spec.initContainers else (),
        _containers(spec.containers, init=False) if spec.containers else (),
    )


def _node(item: Item) -> Node:
    meta, spec, status = item.metadata, item.spec, item.status
    ready = None
    for cond in status.conditions:
        if cond.type == "Ready":
            ready = cond.status == "True"
    return Node.build(
        name=meta.name,
        labels=meta.labels,
        annotations=kept_text_annotations(meta.annotations),
        allocatable=status.allocatable,
        capacity=status.capacity,
        unschedulable=bool(spec.unschedulable),
        ready=ready,
        taints=tuple(spec.taints),
    )
