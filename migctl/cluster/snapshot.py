"""Cluster snapshot files: what ``kubectl get nodes,pods -A -o yaml`` (or ``-o json``) prints.

A snapshot is a ``v1 List`` of Nodes, Pods and optionally the ``hami-scheduler-device`` ConfigMap. It is
read item by item by :mod:`migctl.yamlio.kube_list` (the generic List reader: JSON with the C scanner,
kubectl's YAML with the line parser, anything else through libyaml), so a 100,000-pod file never exists
as one big tree in memory. A JSON List in the form Kubernetes writes is first decoded straight into typed
structs holding only the fields the model reads (:mod:`migctl.cluster.kube_json`, msgspec); any
other JSON takes the item reader. In a large kubectl YAML snapshot, the items whose shape repeats (the
pods of a cluster, mostly) are turned into JSON by per-shape templates (:mod:`migctl.yamlio.item_json`)
and decoded the same way; the others take the line parser. Every item becomes a
:class:`~migctl.cluster.model.Node` / ``Pod`` right away and the dict is dropped. A file that is not
YAML/JSON, or not a List/objects, raises :class:`~migctl.errors.InputError` naming the file and line.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import yaml

from migctl.cluster.model import Cluster, ClusterWarning
from migctl.errors import InputError
from migctl.yamlio import kube_list
from migctl.yamlio.documents import input_file, open_regular

#: The kinds a snapshot may hold; anything else is skipped.
KINDS = ("Node", "Pod", "ConfigMap")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small acyclic objects.

    Loading 100,000 pods allocates millions of dicts and dataclasses; the collector would walk them again
    and again (about half the load time) though none of them form cycles. Refcounting still frees memory.
    The previous state is restored on exit. The objects that survive the pause are moved to the oldest
    generation first (``gc.freeze()`` then ``gc.unfreeze()``, two list splices): otherwise they are all
    still counted as young, and the first allocation after ``gc.enable()`` walks every one of them (about
    1 s for 100,000 pods), the cost the pause exists to avoid. They are still collected by full collections.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def load_snapshot(
    path: str | Path,
    *,
    on_item: Callable[[], None] | None = None,
) -> Cluster:
    """Read a snapshot file into a :class:`Cluster` (``on_item`` is called per item, for progress)."""
    with gc_paused():
        return _load_snapshot(Path(path), on_item)


def _load_snapshot(path: Path, on_item: Callable[[], None] | None) -> Cluster:
    cluster = Cluster(source=f"snapshot {path}")
    source = kube_list.ListSource(str(path), KINDS, "Nodes and Pods")
    with input_file(path, "snapshot file", not_text="not a text file (byte {byte} is not UTF-8)"), \
            open_regular(path, "r", encoding="utf-8") as fh:
        first = kube_list.first_char(fh)
        fh.seek(0)
        typed = _typed_pays(os.fstat(fh.fileno()).st_size)
        if first == "{" and typed and _read_typed(path, cluster, on_item):
            pass
        elif first in ("{", "["):
            cluster = Cluster(source=f"snapshot {path}")  # anything the typed reader added is dropped
            try:
                for obj in kube_list.json_items(fh, source):
                    cluster.add_object(obj)
                    if on_item is not None:
                        on_item()
            except InputError as json_error:
                # YAML flow style also starts with { or [: if it reads as YAML, it is YAML.
                fh.seek(0)
                cluster = Cluster(source=f"snapshot {path}")
                try:
                    for obj in kube_list.yaml_whole(fh, source):
                        cluster.add_object(obj)
                except InputError:
                    raise json_error from None
        else:
            if typed:
                from migctl.cluster import kube_json  # msgspec: loaded only for large snapshots

                for batch in kube_list.yaml_batches(fh, source, typed=kube_json.read_items,
                                                    builder=kube_json.item_builder):
                    kube_json.add_objects(cluster, batch, on_item)
            else:
                for batch in kube_list.yaml_batches(fh, source):
                    for obj in batch:
                        cluster.add_object(obj)
                        if on_item is not None:
                            on_item()
    cluster.finish()
    if not cluster.nodes:
        cluster.warnings.append(ClusterWarning("empty-snapshot", f"{path} holds no Node objects"))
    return cluster


#: The smallest snapshot read through typed structs (:mod:`migctl.cluster.kube_json`; in kubectl's YAML, the
#: items of repeating shapes :mod:`migctl.yamlio.item_json` reads): below it, msgspec's import (about 13 ms) costs more
#: than it saves (a 1 MiB snapshot decodes in about 10 ms either way).
TYPED_MIN_BYTES = 1 << 20


def _typed_pays(size: int) -> bool:
    """Whether a snapshot of ``size`` bytes is worth reading through typed structs: large enough to pay
    for msgspec's import, or msgspec is loaded already."""
    return size >= TYPED_MIN_BYTES or "msgspec" in sys.modules


def _read_typed(path: Path, cluster: Cluster, on_item: Callable[[], None] | None) -> bool:
    """Read a JSON List through typed structs (:mod:`migctl.cluster.kube_json`); False when the file
    needs the reference reader (``cluster`` is then to be dropped)."""
    from migctl.cluster import kube_json  # msgspec: loaded only for JSON snapshots

    with open_regular(path, "rb") as raw:
        data = raw.read()
    return kube_json.read_snapshot(data, cluster, on_item)


# --- writing ---------------------------------------------------------------------------------------------


def snapshot_document(objects: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A ``v1 List`` around Node/Pod/ConfigMap objects (what ``migctl cluster snapshot`` writes)."""
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": list(objects)}


def dump_snapshot(objects: Iterable[dict[str, Any]], fh: IO[str], *, fmt: str = "yaml") -> None:
    """Write a snapshot in kubectl's layout (``items:`` entries at column 0) as YAML or JSON."""
    doc = snapshot_document(objects)
    if fmt == "json":
        json.dump(doc, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
        return
    dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    yaml.dump(doc, fh, Dumper=dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)
