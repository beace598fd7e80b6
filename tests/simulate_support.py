"""Builders shared by the simulate tests (no tests here).

GPU figures follow hami.md: A100-PCIE-40GB registers 40960 MiB; its v2.10 ``migProfiles`` are those
of hami.md §2.2 (2g.10gb = 9984 MiB, core 29).
"""

from __future__ import annotations

from typing import Any

from migctl.simulate import (
    ClusterState,
    Gpu,
    HamiVersion,
    MigProfileSpec,
    MigTemplate,
    Node,
    Placement,
    SimulationOptions,
    Simulator,
)
from migctl.simulate.pod import PodSpec, pod_from_object
from migctl.config.model import MigGeometryEntry, NvidiaConfig

A100 = "NVIDIA A100-PCIE-40GB"
A100_MODELS = ("A100-SXM4-40GB", "A100-40GB-PCIe", "A100-PCIE-40GB")


def T(name: str, memory: int, count: int, core: int = 0) -> MigTemplate:
    return MigTemplate(name, memory, core, count)


# the seed's / docs' A100-40GB geometries (no core fields)
DOCS_A100 = (
    (T("1g.5gb", 5120, 7),),
    (T("2g.10gb", 10240, 3), T("1g.5gb", 5120, 1)),
    (T("3g.20gb", 20480, 2),),
    (T("7g.40gb", 40960, 1),),
)
# the v2.8/v2.9 chart's A100-40GB geometries (hami.md §1.4)
CHART_A100 = (
    (T("1g.5gb", 5120, 7, 14),),
    (T("1g.5gb", 5120, 1, 14), T("2g.10gb", 10240, 3, 28)),
    (T("3g.20gb", 20480, 2, 42),),
    (T("7g.40gb", 40960, 1, 100),),
)


def legacy_config(geometries=CHART_A100, **kw: Any) -> NvidiaConfig:
    return NvidiaConfig.hami_defaults(known_mig_geometries=(MigGeometryEntry(A100_MODELS, geometries),), **kw)


def _pl(size: int, *starts: int) -> tuple[Placement, ...]:
    return tuple(Placement(s, size) for s in starts)


A100_PROFILES = (
    MigProfileSpec("1g.5gb", 4864, 15, 1, _pl(1, 0, 1, 2, 3, 4, 5, 6)),
    MigProfileSpec("2g.10gb", 9984, 29, 2, _pl(2, 0, 2, 4)),
    MigProfileSpec("3g.20gb", 19968, 43, 3, _pl(4, 0, 4)),
    MigProfileSpec("7g.40gb", 40192, 100, 7, _pl(8, 0)),
)


def core_gpu(i: int, *, mem: int = 40960, count: int = 10, numa: int = 0, type: str = A100, uid: str = "",
             **kw: Any) -> Gpu:
    return Gpu(id=uid or f"GPU-{i}", index=i, count=count, totalmem=mem, totalcore=100, type=type, numa=numa, **kw)


def legacy_mig_gpu(i: int, geometries=CHART_A100, *, uid: str = "", **kw: Any) -> Gpu:
    return Gpu(id=uid or f"GPU-{i}", index=i, count=10, totalmem=40960, totalcore=100, type=A100, mode="mig",
               templates=tuple(geometries), **kw)


def current_mig_gpu(i: int, *, uid: str = "", **kw: Any) -> Gpu:
    return Gpu(id=uid or f"GPU-{i}", index=i, count=7, totalmem=40960, totalcore=100, type=A100, mode="mig",
               profiles=A100_PROFILES, **kw)


def node(name: str, gpus: list[Gpu], **kw: Any) -> Node:
    return Node(name=name, gpus=gpus, **kw)


def cluster(*nodes: Node) -> ClusterState:
    state = ClusterState()
    for n in nodes:
        state.add(n)
    return state


def pod(name: str, *, gpu: int | None = None, gpumem: int | None = None, gpucores: int | None = None,
        pct: int | None = None, annotations: dict[str, str] | None = None, cpu: str | None = None,
        memory: str | None = None, containers: list[dict] | None = None, init: list[dict] | None = None,
        spec: dict | None = None, namespace: str = "default") -> PodSpec:
    def limits() -> dict:
        out: dict[str, Any] = {}
        for key, value in (("nvidia.com/gpu", gpu), ("nvidia.com/gpumem", gpumem), ("nvidia.com/gpucores", gpucores),
                           ("nvidia.com/gpumem-percentage", pct), ("cpu", cpu), ("memory", memory)):
            if value is not None:
                out[key] = value
        return out

    body: dict[str, Any] = dict(spec or {})
    body["containers"] = containers or [{"name": "main", "resources": {"limits": limits()}}]
    if init:
        body["initContainers"] = init
    obj = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}}, "spec": body}
    return pod_from_object(obj)


def simulate(state: ClusterState, pods: list[PodSpec], *, version: str = "2.10", config: NvidiaConfig | None = None,
             **opts: Any):
    options = SimulationOptions(version=HamiVersion(version), **opts)
    return Simulator(state, config or NvidiaConfig.hami_defaults(), options).run(pods)


def placed(result, i: int = 0) -> list[tuple[str, str | None, int | None]]:
    """(gpu id, profile, slot-or-placement-start) of pod i's devices."""
    p = result.pods[i]
    return [(a.gpu_id, a.profile, a.slot if a.placement is None else a.placement.start) for a in p.allocations]
