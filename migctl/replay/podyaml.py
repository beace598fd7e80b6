"""Pod YAML traces: any file ``migctl simulate`` reads, with times in pod annotations.

``migctl.io/arrival`` is the arrival in seconds from the start of the trace (default 0: every pod at
once, in file order) and ``migctl.io/duration`` how long the pod runs once placed (default: to the
end). Workloads expand as in ``simulate`` (a Deployment's replicas share its template's times).
"""

from __future__ import annotations

from collections.abc import Iterable

from migctl.replay.trace import ARRIVAL, DURATION, Task, Trace, TraceError, parse_seconds
from migctl.simulate.workloads import Document, WorkloadError, pods_from_documents


def trace_from_documents(documents: Iterable[Document], source: str) -> Trace:
    """A :class:`Trace` of the pods the documents describe; :class:`TraceError` names the document."""
    try:
        pods = pods_from_documents(documents)
    except WorkloadError as exc:
        raise TraceError(str(exc)) from None
    if not pods:
        raise TraceError(f"{source}: no pods (give Pod, Deployment, StatefulSet, ReplicaSet or Job objects)")
    tasks = []
    seen: dict[str, str] = {}
    for pod in pods:
        where = pod.source or source
        if pod.key in seen:
            raise TraceError(f"{where}: pod {pod.key} already given at {seen[pod.key]}: a trace needs unique names")
        seen[pod.key] = where
        arrival = parse_seconds(pod.annotations[ARRIVAL], f"{where}: annotation {ARRIVAL}") if ARRIVAL in pod.annotations else 0.0
        duration = parse_seconds(pod.annotations[DURATION], f"{where}: annotation {DURATION}") if DURATION in pod.annotations else None
        tasks.append(Task(pod.key, arrival, duration, where, pod=pod))
    return Trace(tuple(tasks), source, "pods")
