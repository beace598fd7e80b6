"""The openb trace format (Alibaba ``cluster-trace-gpu-v2023``, the FGD paper's trace).

Two CSV files: a pod list (``name, cpu_milli, memory_mib, num_gpu, gpu_milli, ..., creation_time,
deletion_time, ...``) and a node list (``sn, cpu_milli, memory_mib, gpu, model``). The parsers take
the text and the file name (reading the file is the caller's business) and raise
:class:`TraceError` naming the file, line and column of the first bad row: nothing partial.

A pod arrives at ``creation_time`` and runs ``deletion_time - creation_time`` seconds once placed
(an empty ``deletion_time`` runs to the end). Columns the replay does not use (``gpu_spec``, ``qos``,
``pod_phase``, ``scheduled_time``) are read past.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from migctl.replay.trace import GpuAsk, Task, Trace, TraceError, parse_seconds

POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "creation_time", "deletion_time")
NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")


@dataclass(frozen=True, slots=True)
class TraceNode:
    """One row of the node list: a node of the trace's cluster and its (non-MIG) GPUs."""

    name: str
    cpu_milli: int
    memory_mib: int
    gpus: int
    model: str  # the trace's GPU type (V100M16, T4, G2, ...)
    where: str


def looks_like_openb(text: str) -> bool:
    """True when the first line is an openb pod-list header."""
    head = text.lstrip("\ufeff").split("\n", 1)[0]
    cols = [c.strip() for c in head.split(",")]
    return all(c in cols for c in ("name", "num_gpu", "gpu_milli", "creation_time"))


def _rows(text: str, name: str, required: tuple[str, ...]):  # type: ignore[no-untyped-def]
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise TraceError(f"{name}: empty file (expected a CSV header with {', '.join(required)})") from None
    except csv.Error as exc:
        raise TraceError(f"{name}:1: not CSV: {exc}") from None
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise TraceError(f"{name}:1: missing column(s) {', '.join(missing)} (the header has {', '.join(header)})")
    index = {c: header.index(c) for c in required}
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise TraceError(f"{name}:{line}: {len(row)} fields, the header has {len(header)}")
            yield line, {c: row[i].strip() for c, i in index.items()}
    except csv.Error as exc:
        raise TraceError(f"{name}:{reader.line_num}: not CSV: {exc}") from None


def _int(value: str, name: str, line: int, column: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    try:
        number = int(value)
    except ValueError:
        try:
            as_float = float(value)
        except ValueError:
            raise TraceError(f"{name}:{line}: column {column}: expected a whole number, got {value!r}") from None
        if not as_float.is_integer():
            raise TraceError(f"{name}:{line}: column {column}: expected a whole number, got {value!r}") from None
        number = int(as_float)
    if number < minimum or (maximum is not None and number > maximum):
        bound = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        raise TraceError(f"{name}:{line}: column {column}: {number} is out of range ({bound})")
    return number


def _unique(row: dict[str, str], column: str, seen: dict[str, int], name: str, line: int) -> str:
    """The row's key column: not empty and not on an earlier line (``seen`` records it)."""
    key = row[column]
    if not key:
        raise TraceError(f"{name}:{line}: column {column}: empty")
    if key in seen:
        raise TraceError(f"{name}:{line}: column {column}: {key!r} already on line {seen[key]}")
    seen[key] = line
    return key


def parse_pod_list(text: str, name: str) -> Trace:
    """The openb pod list as a :class:`Trace` (tasks in file order)."""
    tasks = []
    seen: dict[str, int] = {}
    for line, row in _rows(text, name, POD_COLUMNS):
        pod = _unique(row, "name", seen, name, line)
        num_gpu = _int(row["num_gpu"], name, line, "num_gpu", maximum=64)
        gpu_milli = _int(row["gpu_milli"], name, line, "gpu_milli", maximum=1000) if row["gpu_milli"] else 0
        if num_gpu == 1 and gpu_milli == 0:
            raise TraceError(f"{name}:{line}: column gpu_milli: a task with num_gpu 1 needs a share 1..1000")
        created = parse_seconds(row["creation_time"], f"{name}:{line}: column creation_time")
        duration = None
        if row["deletion_time"]:
            deleted = parse_seconds(row["deletion_time"], f"{name}:{line}: column deletion_time")
            if deleted < created:
                raise TraceError(f"{name}:{line}: column deletion_time: {row['deletion_time']} is before "
                                 f"creation_time {row['creation_time']}")
            duration = deleted - created
        ask = GpuAsk(num_gpu, gpu_milli if num_gpu else 0,
                     _int(row["cpu_milli"], name, line, "cpu_milli"), _int(row["memory_mib"], name, line, "memory_mib"))
        tasks.append(Task(pod, created, duration, f"{name}:{line}", ask=ask))
    if not tasks:
        raise TraceError(f"{name}: no tasks")
    return Trace(tuple(tasks), name, "openb")


def parse_node_list(text: str, name: str) -> list[TraceNode]:
    """The openb node list."""
    nodes = []
    seen: dict[str, int] = {}
    for line, row in _rows(text, name, NODE_COLUMNS):
        node = _unique(row, "sn", seen, name, line)
        nodes.append(TraceNode(
            node, _int(row["cpu_milli"], name, line, "cpu_milli"), _int(row["memory_mib"], name, line, "memory_mib"),
            _int(row["gpu"], name, line, "gpu", maximum=64), row["model"], f"{name}:{line}"))
    if not nodes:
        raise TraceError(f"{name}: no nodes")
    return nodes
