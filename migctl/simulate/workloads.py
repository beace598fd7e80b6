"""Pods from what an admin has at hand: Pods, and workloads expanded into their replicas.

Deployments, StatefulSets and ReplicaSets give ``spec.replicas`` pods (default 1), Jobs give
``spec.parallelism`` pods (default 1); ``List`` objects are opened. Replica names follow the
controllers loosely but deterministically: ``<name>-0``, ``<name>-1``... (StatefulSets name pods
exactly so). Other kinds are refused with a clear message.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from migctl.simulate.pod import PodSpec, pod_from_object

REPLICATED = {"Deployment": "replicas", "StatefulSet": "replicas", "ReplicaSet": "replicas", "Job": "parallelism"}


class WorkloadError(ValueError):
    """A document that cannot be turned into pods; ``where`` says which one."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass(frozen=True, slots=True)
class Document:
    """One YAML document and where it came from (``file`` and 1-based ``line`` of its start)."""

    obj: Any
    file: str
    line: int = 1

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def _replicas(obj: dict, field: str, where: str) -> int:
    spec = obj.get("spec") or {}
    value = spec.get(field, 1) if isinstance(spec, dict) else 1
    if value is None:
        value = 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WorkloadError(where, f"spec.{field}: expected a whole number >= 0, got {value!r}")
    return value


def _expand(obj: Any, where: str) -> Iterable[tuple[dict, str]]:
    if obj is None:
        return
    if not isinstance(obj, dict):
        raise WorkloadError(where, f"expected a Kubernetes object (a mapping), got {type(obj).__name__}")
    kind = obj.get("kind")
    if kind == "List":
        items = obj.get("items")
        if items is not None and not isinstance(items, list):
            raise WorkloadError(where, f"List items: expected a list of objects, got {type(items).__name__}")
        for i, item in enumerate(items or ()):
            yield from _expand(item, f"{where} items[{i}]")
        return
    if kind == "Pod":
        yield obj, where
        return
    if kind in REPLICATED:
        meta = obj.get("metadata") or {}
        name = meta.get("name") if isinstance(meta, dict) else None
        if not name:
            raise WorkloadError(where, f"{kind} metadata.name: missing")
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        template = spec.get("template")
        if not isinstance(template, dict):
            raise WorkloadError(where, f"{kind} {name}: spec.template missing")
        for i in range(_replicas(obj, REPLICATED[kind], where)):
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": copy.deepcopy(template.get("metadata") or {}),
                   "spec": copy.deepcopy(template.get("spec") or {})}
            pod["metadata"]["name"] = f"{name}-{i}"
            pod["metadata"].setdefault("namespace", meta.get("namespace") or "default")
            yield pod, f"{where} {kind} {name} replica {i}"
        return
    raise WorkloadError(where, f"kind {kind!r} is not supported (Pod, Deployment, StatefulSet, ReplicaSet, Job, List)")


def pods_from_documents(documents: Iterable[Document], *, repeat: int = 1) -> list[PodSpec]:
    """Every pod the documents describe, in order; ``repeat`` submits the whole set N times
    (copies after the first get ``-r<k>`` appended to their names)."""
    base: list[tuple[dict, str]] = []
    for doc in documents:
        base.extend(_expand(doc.obj, doc.where))
    out = []
    for k in range(repeat):
        for obj, where in base:
            if k:
                obj = copy.deepcopy(obj)
                meta = obj.setdefault("metadata", {})
                meta["name"] = f"{meta.get('name') or meta.get('generateName') or 'pod'}-r{k}"
            try:
                out.append(pod_from_object(obj, source=where))
            except ValueError as exc:
                raise WorkloadError(where, str(exc)) from None
    return out
