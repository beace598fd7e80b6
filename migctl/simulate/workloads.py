"""Pods from what an admin has at hand: Pods, and workloads expanded into their replicas.

Deployments, StatefulSets and ReplicaSets give ``spec.replicas`` pods (default 1), Jobs give
``spec.parallelism`` pods (default 1; fewer when ``spec.completions`` is smaller, as the Job controller
never runs more pods than completions remain); ``List`` objects are opened. Replica names follow the
controllers loosely but deterministically: ``<name>-0``, ``<name>-1``... (StatefulSets name pods
exactly so). Other kinds are refused with a clear message.

The expansion is bounded: at most ``max_pods`` pods (default :data:`MAX_PODS`) in all, replicas and
``repeat`` included. Beyond it :class:`WorkloadError` names the file, the object and the field before any
pod is built.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from migctl.simulate.pod import PodSpec, pod_from_object

REPLICATED = {"Deployment": "replicas", "StatefulSet": "replicas", "ReplicaSet": "replicas", "Job": "parallelism"}

#: The most pods one simulation expands (replicas x ``--repeat`` included); ``--max-pods`` raises it.
MAX_PODS = 100_000


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


def _count_field(obj: dict, field: str, where: str) -> int:
    spec = obj.get("spec") or {}
    value = spec.get(field, 1) if isinstance(spec, dict) else 1
    if value is None:
        value = 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WorkloadError(where, f"spec.{field}: expected a whole number >= 0, got {_short(value)}")
    return value


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 200 else f"a {len(str(value))}-digit number"
    return text if len(text) <= 80 else text[:77] + "..."


def _replicas(obj: dict, kind: str, where: str) -> tuple[int, str]:
    """How many pods the workload runs at once, and the field that says so."""
    field = REPLICATED[kind]
    count = _count_field(obj, field, where)
    spec = obj.get("spec")
    if kind == "Job" and isinstance(spec, dict) and spec.get("completions") is not None:
        completions = _count_field(obj, "completions", where)
        if completions < count:
            return completions, "completions"
    return count, field


def _too_many(where: str, what: str, count: int, budget: list[int]) -> WorkloadError:
    left, limit = budget
    before = f" ({limit - left} pods before it)" if left < limit else ""
    return WorkloadError(where, f"{what}: {_short(count)} pods{before} is more than the limit of {limit} pods a "
                                f"simulation expands (raise it with --max-pods N)")


def _expand(obj: Any, where: str, budget: list[int]) -> Iterable[tuple[dict, str]]:
    """The pods of ``obj``; ``budget`` is ``[pods left, the limit]``, spent as pods are yielded."""
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
            yield from _expand(item, f"{where} items[{i}]", budget)
        return
    if kind == "Pod":
        if budget[0] < 1:
            raise _too_many(where, "Pod", 1, budget)
        budget[0] -= 1
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
        count, field = _replicas(obj, kind, where)
        if count > budget[0]:
            raise _too_many(where, f"{kind} {name} spec.{field}", count, budget)
        budget[0] -= count
        for i in range(count):
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": copy.deepcopy(template.get("metadata") or {}),
                   "spec": copy.deepcopy(template.get("spec") or {})}
            pod["metadata"]["name"] = f"{name}-{i}"
            pod["metadata"].setdefault("namespace", meta.get("namespace") or "default")
            yield pod, f"{where} {kind} {name} replica {i}"
        return
    raise WorkloadError(where, f"kind {kind!r} is not supported (Pod, Deployment, StatefulSet, ReplicaSet, Job, List)")


def pods_from_documents(documents: Iterable[Document], *, repeat: int = 1, max_pods: int = MAX_PODS) -> list[PodSpec]:
    """Every pod the documents describe, in order; ``repeat`` submits the whole set N times
    (copies after the first get ``-r<k>`` appended to their names). More than ``max_pods`` pods in all is a
    :class:`WorkloadError` naming the field (raised before the pods are built)."""
    budget = [max_pods, max_pods]
    base: list[tuple[dict, str]] = []
    for doc in documents:
        base.extend(_expand(doc.obj, doc.where, budget))
    check_repeat(len(base), repeat, max_pods)
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


def check_repeat(pods: int, repeat: int, max_pods: int = MAX_PODS) -> None:
    """``--repeat`` times ``pods`` pods stays within ``max_pods`` (WorkloadError naming ``--repeat`` otherwise)."""
    if repeat < 1:
        raise WorkloadError("--repeat", f"expected a whole number >= 1, got {_short(repeat)}")
    if pods * repeat > max_pods:
        raise WorkloadError("--repeat", f"{_short(repeat)} x {pods} pod(s) is {_short(pods * repeat)} pods, more than "
                                        f"the limit of {max_pods} pods a simulation expands (raise it with --max-pods N)")
