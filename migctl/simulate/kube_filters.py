"""kube-scheduler's own filters, which run before HAMi's extender sees a node.

NodeUnschedulable, NodeAffinity (nodeSelector and required node affinity), TaintToleration and
NodeResourcesFit (CPU, memory, pod count). Reason strings are kube-scheduler's, so the aggregate
reads like a real ``FailedScheduling`` event. Extended resources (``nvidia.com/gpu``...) are not
checked: HAMi's extender manages them (``ignoredByScheduler``).
"""

from __future__ import annotations

from migctl.simulate.pod import PodSpec, SelectorRequirement, Toleration
from migctl.simulate.state import Node, Taint

UNSCHEDULABLE = "node(s) were unschedulable"
AFFINITY_MISMATCH = "node(s) didn't match Pod's node affinity/selector"
INSUFFICIENT_CPU = "Insufficient cpu"
INSUFFICIENT_MEMORY = "Insufficient memory"
TOO_MANY_PODS = "Too many pods"
UNSCHEDULABLE_TAINT = Taint("node.kubernetes.io/unschedulable", "", "NoSchedule")


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """``Toleration.ToleratesTaint``."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.key and toleration.key != taint.key:
        return False
    if toleration.operator == "Exists":
        return True
    if not toleration.key and toleration.operator != "Exists":
        return False
    return toleration.value == taint.value


def _requirement_ok(req: SelectorRequirement, labels: dict[str, str], node_name: str) -> bool:
    value = node_name if req.key == "metadata.name" else labels.get(req.key)
    op = req.operator
    if op == "In":
        return value is not None and value in req.values
    if op == "NotIn":
        return value is None or value not in req.values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt"):
        try:
            left, right = int(value), int(req.values[0])  # type: ignore[arg-type]
        except (TypeError, ValueError, IndexError):
            return False
        return left > right if op == "Gt" else left < right
    return False


def affinity_ok(pod: PodSpec, node: Node) -> bool:
    for key, value in pod.node_selector.items():
        if node.labels.get(key) != value:
            return False
    if pod.affinity_terms:
        return any(
            bool(term) and all(_requirement_ok(r, node.labels, node.name) for r in term)
            for term in pod.affinity_terms
        )
    return True


def untolerated_taint(pod: PodSpec, node: Node) -> Taint | None:
    for taint in node.taints:
        if taint.effect not in ("NoSchedule", "NoExecute"):
            continue
        if not any(tolerates(t, taint) for t in pod.tolerations):
            return taint
    return None


def kube_filter(pod: PodSpec, node: Node, cpu_m: int, memory: int) -> list[str]:
    """Reasons this node fails kube-scheduler's filters for the pod (empty list: it passes)."""
    if node.unschedulable and not any(tolerates(t, UNSCHEDULABLE_TAINT) for t in pod.tolerations):
        return [UNSCHEDULABLE]
    if not affinity_ok(pod, node):
        return [AFFINITY_MISMATCH]
    taint = untolerated_taint(pod, node)
    if taint is not None:
        return [f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}"]
    reasons = []
    if node.pods_allocatable is not None and node.pods + 1 > node.pods_allocatable:
        reasons.append(TOO_MANY_PODS)
    if cpu_m and node.cpu_allocatable_m is not None and node.cpu_requested_m + cpu_m > node.cpu_allocatable_m:
        reasons.append(INSUFFICIENT_CPU)
    if memory and node.memory_allocatable is not None and node.memory_requested + memory > node.memory_allocatable:
        reasons.append(INSUFFICIENT_MEMORY)
    return reasons


def least_allocated_score(node: Node, cpu_m: int, memory: int) -> float:
    """kube-scheduler's default NodeResourcesFit score (LeastAllocated, CPU and memory weighted 1:1),
    used only for pods that ask for no GPU (HAMi passes every node through for them)."""
    parts = []
    if node.cpu_allocatable_m:
        parts.append((node.cpu_allocatable_m - node.cpu_requested_m - cpu_m) * 100 / node.cpu_allocatable_m)
    if node.memory_allocatable:
        parts.append((node.memory_allocatable - node.memory_requested - memory) * 100 / node.memory_allocatable)
    return sum(parts) / len(parts) if parts else 0.0
