"""Which HAMi generation the simulation follows (HAMi v2.9.0 and v2.10.0 (PR #2378)).

``2.9`` is the legacy template design (``knownMigGeometries``, ``[t-s]`` UUID suffixes);
``2.10`` is the reservation-first design (``migProfileAllowlist``, ``migProfiles`` in the register
annotation, ``hami.io/vgpu-mig-allocations``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class HamiVersion(str, Enum):
    V2_9 = "2.9"
    V2_10 = "2.10"

    @property
    def legacy(self) -> bool:
        return self is HamiVersion.V2_9


@dataclass(frozen=True, slots=True)
class VersionEvidence:
    """What the cluster and config say about the HAMi generation."""

    node_mig_profiles: bool = False  # a register annotation carries ``migProfiles``
    pod_mig_allocations: bool = False  # a pod carries ``hami.io/vgpu-mig-allocations``
    pod_uuid_suffixes: bool = False  # a pod's devices carry ``[t-s]`` suffixes
    config_allowlist: bool = False  # the config has ``migProfileAllowlist``
    config_geometries: bool = False  # the config has ``knownMigGeometries``


def infer_version(evidence: VersionEvidence) -> tuple[HamiVersion, str]:
    """Pick the generation from the evidence; return it with a sentence saying why.

    Cluster facts win over config facts (the config may be a draft for the next upgrade).
    With no evidence at all the current generation (2.10) is assumed.
    """
    if evidence.node_mig_profiles or evidence.pod_mig_allocations:
        what = "node annotations carry migProfiles" if evidence.node_mig_profiles else "pods carry hami.io/vgpu-mig-allocations"
        return HamiVersion.V2_10, f"HAMi 2.10 inferred: {what}"
    if evidence.pod_uuid_suffixes:
        return HamiVersion.V2_9, "HAMi 2.9 inferred: pod device annotations carry [t-s] MIG suffixes"
    if evidence.config_allowlist and not evidence.config_geometries:
        return HamiVersion.V2_10, "HAMi 2.10 inferred: the config has migProfileAllowlist"
    if evidence.config_geometries and not evidence.config_allowlist:
        return HamiVersion.V2_9, "HAMi 2.9 inferred: the config has knownMigGeometries"
    if evidence.config_geometries and evidence.config_allowlist:
        return HamiVersion.V2_10, "HAMi 2.10 assumed: the config has both knownMigGeometries and migProfileAllowlist"
    return HamiVersion.V2_10, "HAMi 2.10 assumed: nothing in the cluster or config says otherwise"
