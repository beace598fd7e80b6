"""What the simulation reports: per pod, per node verdict, and the annotations HAMi would write."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from migctl.cluster import codecs
from migctl.simulate.fit import Allocation
from migctl.simulate.version import HamiVersion


@dataclass(slots=True)
class NodeVerdict:
    """One node's answer for one pod (``--explain``)."""

    node: str
    ok: bool
    reasons: list[str] = field(default_factory=list)  # kube-style tokens, one per failing reason
    detail: str = ""  # HAMi's GenReason text, e.g. "container c: 3/4 CardInsufficientMemory"
    score: float | None = None
    gpus: list[dict[str, Any]] = field(default_factory=list)  # per GPU verdict and score


@dataclass(slots=True)
class PodResult:
    pod: str  # namespace/name
    scheduled: bool
    node: str | None = None
    reason: str | None = None
    allocations: list[Allocation] = field(default_factory=list)
    geometries: dict[str, str | None] = field(default_factory=dict)  # gpu id -> geometry after the pod
    annotations: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    verdicts: list[NodeVerdict] = field(default_factory=list)
    tie: list[str] = field(default_factory=list)  # nodes tied with the chosen one
    containers: tuple[str, ...] = ()  # container names, init first (annotation order)
    source: str = ""

    def to_dict(self, *, explain: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pod": self.pod,
            "scheduled": self.scheduled,
            "node": self.node,
            "reason": self.reason,
            "devices": [
                {
                    "container": a.container,
                    "gpu_uuid": a.gpu_id,
                    "gpu_index": a.gpu_index,
                    "mode": a.mode,
                    "memory_mib": a.memory_mib,
                    "cores": a.cores,
                    "profile": a.profile,
                    "geometry": self.geometries.get(a.gpu_id) if a.template is not None else None,
                    "slot": a.slot,
                    "placement": {"start": a.placement.start, "size": a.placement.size} if a.placement else None,
                }
                for a in self.allocations
            ],
        }
        if self.scheduled:
            out["annotations"] = dict(self.annotations)
        if self.warnings:
            out["warnings"] = list(self.warnings)
        if explain:
            out["explain"] = {
                "tie": list(self.tie),
                "nodes": [
                    {"node": v.node, "ok": v.ok, "score": v.score, "reasons": v.reasons, "detail": v.detail,
                     "gpus": v.gpus}
                    for v in self.verdicts
                ],
            }
        return out


def aggregate_reason(total_nodes: int, node_reasons: list[list[str]]) -> str:
    """kube-scheduler's FailedScheduling text: "0/3 nodes are available: 2 CardInsufficientMemory, 1 Insufficient cpu."."""
    counts: Counter[str] = Counter()
    for reasons in node_reasons:
        counts.update(reasons)
    return failure_text(total_nodes, counts)


def failure_text(total_nodes: int, counts: Mapping[str, int]) -> str:
    """:func:`aggregate_reason` from the count of failing nodes per reason."""
    if not counts:
        return f"0/{total_nodes} nodes are available."
    parts = ", ".join(f"{n} {r}" for r, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"0/{total_nodes} nodes are available: {parts}."


def encode_annotations(node: str, containers: tuple[str, ...], allocations: list[Allocation],
                       version: HamiVersion, entries: int | None = None) -> dict[str, str]:
    """The annotations HAMi's Filter patches onto the pod, written by the codecs ``migctl status`` reads with.

    ``hami.io/vgpu-devices-allocated``: per entry ``UUID,NVIDIA,mem,cores:`` records, each entry ended
    by ``;``; legacy UUIDs carry ``[t-s]``. v2.10 adds ``hami.io/vgpu-mig-allocations``, numbered by
    entry (``containerIndex``) and position in it (``deviceIndex``), as
    HAMi v2.10.0 pkg/device/nvidia/mig_allocations.go EncodeMigAllocations does.
    Each device goes to its :attr:`~migctl.simulate.fit.Allocation.entry_index`; ``entries`` is how many
    entries are written (default: one per container, init first, empty ``;`` for containers without
    devices). See :func:`migctl.simulate.fit.annotation_layout` for where v2.10.0 puts them.
    """
    by_entry: dict[int, list[Allocation]] = {}
    for a in allocations:
        by_entry.setdefault(a.entry_index, []).append(a)
    text = codecs.encode_pod_devices([
        tuple(codecs.ContainerDevice(a.gpu_id, "NVIDIA", a.memory_mib, a.cores,
                                     (a.template, a.slot) if a.template is not None and a.slot is not None else None)
              for a in by_entry.get(i, []))
        for i in range(len(containers) if entries is None else entries)
    ])
    out = {codecs.POD_VGPU_NODE: node, codecs.POD_DEVICES_ALLOCATED: text, codecs.POD_DEVICES_TO_ALLOCATE: text}
    if not version.legacy:
        reservations = [
            codecs.MigAllocation(container_index=ci, device_index=di, gpu_uuid=a.gpu_id, profile=a.profile,
                                 placement=a.placement)
            for ci, allocs in sorted(by_entry.items())
            for di, a in enumerate(allocs)
            if a.placement is not None and a.profile is not None
        ]
        if reservations:
            out[codecs.POD_MIG_ALLOCATIONS] = codecs.encode_mig_allocations(reservations)
    return out


@dataclass(slots=True)
class SimulationResult:
    """The whole answer of a simulation: what ``migctl simulate`` prints (``to_dict()`` is its ``-o json``).

    Besides the pods and the GPUs they landed on: the HAMi generation followed and why
    (``version_note``), the device-config's findings (``config_findings`` sentences, ``config_diagnostics``
    the :class:`~migctl.config.diagnostics.Diagnostic` objects, ``config_source``), notes about the
    cluster read (``cluster_notes``), where a node would fail to create the planned geometry
    (``node_problems``) and every warning for a person, in order (``warnings``).
    """

    version: HamiVersion
    version_note: str = ""
    pods: list[PodResult] = field(default_factory=list)
    final_gpus: list[dict[str, Any]] = field(default_factory=list)  # per GPU touched: node, index, uuid, geometry/instances
    config_findings: list[str] = field(default_factory=list)
    config_diagnostics: list[Any] = field(default_factory=list)
    config_source: str | None = None
    cluster_notes: list[str] = field(default_factory=list)
    node_problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def scheduled(self) -> int:
        return sum(1 for p in self.pods if p.scheduled)

    @property
    def all_scheduled(self) -> bool:
        return self.scheduled == len(self.pods)

    def to_dict(self, *, explain: bool = False) -> dict[str, Any]:
        return {
            "summary": {"pods": len(self.pods), "scheduled": self.scheduled,
                        "unschedulable": len(self.pods) - self.scheduled},
            "hami_version": self.version.value,
            "pods": [p.to_dict(explain=explain) for p in self.pods],
            "gpus": self.final_gpus,
            "hami_version_note": self.version_note,
            "node_problems": list(self.node_problems),
            "config_findings": list(self.config_findings),
            "cluster_notes": list(self.cluster_notes),
        }
