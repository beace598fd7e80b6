"""From the cluster model (``migctl.cluster``) to the simulation's :class:`ClusterState`.

Usage is rebuilt by the cluster package (:func:`migctl.cluster.usage.build_node_usage`, HAMi's
``getNodesUsage``); this module only converts it and fills what the device plugin would publish
but a snapshot may lack: for 2.10, the ``migProfiles`` of a mig-mode GPU, derived from the hardware
catalogue and the config's ``migProfileAllowlist`` as ``discoverMigProfiles`` does (HAMi plugin/register.go RegisterInAnnotation; HAMi v2.10.0 plugin/register.go discoverMigProfiles). Only the ``<N>g`` prefix of an allowlisted name selects the NVML profile (HAMi v2.10.0 pkg/device/devices.go AllowedMigProfiles).
"""

from __future__ import annotations

import math
from typing import Any

from migctl.config.model import CHART_MIG_PROFILE_ALLOWLIST, NvidiaConfig
from migctl.simulate.state import (
    ClusterState,
    MigProfileSpec,
    Node,
    Placement,
    Taint,
)
from migctl.simulate.version import HamiVersion, VersionEvidence


def evidence_from_cluster(cluster: Any, config: NvidiaConfig | None) -> VersionEvidence:
    """Facts for :func:`~migctl.simulate.version.infer_version` (HAMi v2.9.0 and v2.10.0 (PR #2378))."""
    profiles = any(n.register is not None and n.register.has_mig_profiles for n in cluster.nodes)
    allocations = any(p.mig_allocations for p in cluster.pods)
    suffixes = any(p.has_legacy_slots for p in cluster.pods)
    return VersionEvidence(
        node_mig_profiles=profiles,
        pod_mig_allocations=allocations,
        pod_uuid_suffixes=suffixes,
        config_allowlist=bool(config and config.mig_profile_allowlist),
        config_geometries=bool(config and config.known_mig_geometries),
    )


def derive_mig_profiles(device_type: str, config: NvidiaConfig,
                        catalogue: Any) -> tuple[tuple[MigProfileSpec, ...], int, str | None]:
    """``migProfiles`` as the v2.10 device plugin would publish them for this GPU type.

    Returns the profiles, the GPU's ``count`` (the largest instance count among them, as the plugin
    registers it) and a note (None when nothing needs saying). The allowlist is the config's, or the
    Helm chart's default when the config has none; with no matching entry the plugin publishes
    nothing and the GPU is left out of the annotation (empty result).
    """
    match = catalogue.lookup(device_type) if catalogue is not None else None
    if match is None:
        return (), 0, f"GPU type {device_type!r} is not in the hardware catalogue; no MIG profiles derived"
    model = match.model
    base = {p.compute_slices: p for p in model.profiles
            if p.nvml_profile == f"NVML_GPU_INSTANCE_PROFILE_{p.compute_slices}_SLICE"}
    max_mp = max((p.multiprocessors or 0) for p in model.profiles) or 1
    note = None
    allowlist = config.mig_profile_allowlist
    if not allowlist:
        allowlist = CHART_MIG_PROFILE_ALLOWLIST
        note = "the config has no migProfileAllowlist; the Helm chart's default is assumed"
    names: tuple[str, ...] = ()
    for entry in allowlist:
        if entry.matches(device_type):
            names = entry.profiles
            break
    if not names:
        return (), 0, (f"no migProfileAllowlist entry matches {device_type!r}: the device plugin publishes "
                       "no profiles and the GPU is not registered")
    out = []
    count = 0
    for name in names:
        head = name.split(".", 1)[0]
        try:
            slices = int(head[:-1]) if head.endswith("g") else 0
        except ValueError:
            slices = 0
        p = base.get(slices)
        if p is None:
            continue
        core = math.ceil((p.multiprocessors or 0) * 100 / max_mp)
        count = max(count, p.max_instances)
        out.append(MigProfileSpec(
            name=name, memory_mib=p.memory_mib or 0, core=core, slice_count=p.compute_slices,
            placements=tuple(Placement(s, p.placement_size) for s in p.placement_starts),
        ))
    return tuple(out), count, note


NOT_READY = Taint("node.kubernetes.io/not-ready", "", "NoSchedule")


def _taints(raw: Any) -> tuple[Taint, ...]:
    out = []
    for t in raw or ():
        if isinstance(t, dict) and t.get("key"):
            out.append(Taint(str(t.get("key")), str(t.get("value") or ""), str(t.get("effect") or "NoSchedule")))
    return tuple(out)


def _pods_allocatable(node: Any) -> int | None:
    value = node.allocatable.get("pods")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def state_from_cluster(cluster: Any, config: NvidiaConfig, version: HamiVersion, *,
                       catalogue: Any = None, notes: list[str] | None = None) -> ClusterState:
    """Convert a :class:`migctl.cluster.model.Cluster` (usage rebuilt per node) into a ClusterState.

    ``notes`` collects sentences for the user (derived profiles, rebuild warnings).
    """
    from migctl.cluster.usage import DESIGN_CURRENT, DESIGN_LEGACY, build_node_usage

    notes = notes if notes is not None else []
    design = DESIGN_LEGACY if version.legacy else DESIGN_CURRENT
    by_node = cluster.pods_by_node()
    bound: dict[str, int] = {}
    for p in cluster.pods:
        if p.node_name and not p.terminal:
            bound[p.node_name] = bound.get(p.node_name, 0) + 1
    state = ClusterState(pod_names={p.key for p in cluster.pods})
    derived_cache: dict[str, tuple[tuple[MigProfileSpec, ...], int]] = {}
    for knode in cluster.nodes:
        pods = by_node.get(knode.name, [])
        usage = build_node_usage(knode, pods, templates_for=config.mig_geometries, design=design,
                                 resource_count_name=config.resource_count_name or "nvidia.com/gpu")
        for w in usage.warnings:
            notes.append(getattr(w, "message", str(w)))
        gpus = []
        scores = getattr(knode, "scores", None) or {}
        for gpu in usage.devices:  # the cluster's DeviceUsage is the simulation's Gpu: keep what this version reads
            gpu.pods = []
            gpu.pair_scores = scores.get(gpu.id, {})
            if not (gpu.is_mig and version.legacy):
                gpu.templates, gpu.mig_index, gpu.usage_list = (), -1, []
            else:
                gpu.templates = tuple(tuple(g) for g in gpu.templates)
                if not gpu.usage_list:
                    gpu.mig_index = -1
            if not gpu.is_mig or version.legacy:
                gpu.profiles, gpu.allocations = (), []
            elif not gpu.profiles:
                if gpu.type not in derived_cache:
                    profiles, count, note = derive_mig_profiles(gpu.type, config, catalogue)
                    derived_cache[gpu.type] = (profiles, count)
                    notes.append(f"migProfiles derived from the hardware catalogue for {gpu.type!r}"
                                 + (f" ({note})" if note else ""))
                gpu.profiles, count = derived_cache[gpu.type]
                if not gpu.profiles:
                    continue  # the v2.10 plugin leaves a mig GPU without profiles out of the annotation
                gpu.count = count
            gpus.append(gpu)
        taints = _taints(knode.taints)
        if knode.ready is False and not any(t.key == NOT_READY.key for t in taints):
            taints += (NOT_READY,)  # the node lifecycle controller taints NotReady nodes
        state.add(Node(
            name=knode.name,
            gpus=gpus,
            labels=dict(knode.labels),
            taints=taints,
            unschedulable=bool(knode.unschedulable),
            ready=knode.ready is not False,
            cpu_allocatable_m=usage.cpu_allocatable_millis,
            memory_allocatable=usage.memory_allocatable_bytes,
            pods_allocatable=_pods_allocatable(knode),
            cpu_requested_m=usage.cpu_requested_millis,
            memory_requested=usage.memory_requested_bytes,
            pods=bound.get(knode.name, 0),
        ))
    return state
