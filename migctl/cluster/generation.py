"""Which HAMi generation a node, and the cluster, runs (rules of HAMi v2.9.0 and v2.10.0 (PR #2378)).

Generations as ``migctl`` names them:

=============  =================================================================================
``v2.10+``     reservation-first MIG: ``migProfiles`` in the register, ``hami.io/vgpu-mig-allocations``
``v2.8-v2.9``  legacy MIG: JSON register, geometries from ``knownMigGeometries``, ``[t-s]`` suffixes
``v2.8+``      JSON register without MIG evidence (v2.8, v2.9, or a v2.10 hami-core node)
``<=v2.7``     colon-text register, ``Reported`` handshakes
``none``       no register annotation (not a HAMi GPU node)
``unknown``    a register annotation that does not decode
``mixed``      (cluster only) nodes of incompatible generations
=============  =================================================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from migctl.cluster import codecs
from migctl.cluster.model import ClusterWarning, Node, Pod

CURRENT = "v2.10+"
LEGACY_JSON = "v2.8-v2.9"
JSON = "v2.8+"
COLON = "<=v2.7"
NONE = "none"
UNKNOWN = "unknown"
MIXED = "mixed"

_LEGACY = {LEGACY_JSON, COLON}


@dataclass(frozen=True)
class GenerationFinding:
    """A node's generation and the evidence it rests on (for ``status`` and ``--debug`` readers)."""

    generation: str
    evidence: tuple[str, ...]
    conflict: str | None = None  # set when the records disagree (mixed versions on one node)


def node_generation(node: Node, pods: Iterable[Pod] = ()) -> GenerationFinding:
    """Detect the generation of one node from its annotations and its pods' records."""
    pods = [p for p in pods if p.vgpu_node == node.name or p.node_name == node.name]
    current: list[str] = []
    legacy: list[str] = []
    reg = node.register
    if reg is not None and reg.has_mig_profiles:
        current.append("the register annotation publishes migProfiles")
    if any(codecs.POD_MIG_ALLOCATIONS in p.annotations for p in pods):
        current.append("pods carry hami.io/vgpu-mig-allocations")
    if reg is not None and reg.format == codecs.REGISTER_COLON:
        legacy.append("the register annotation is colon text")
    hs = node.handshake
    if hs is not None and hs.state == codecs.HANDSHAKE_REPORTED:
        legacy.append("the device plugin writes 'Reported' handshakes")
    if any(p.has_legacy_slots for p in pods):
        legacy.append("pods hold GPU-…[t-s] MIG slots")
    if reg is not None and reg.format == codecs.REGISTER_JSON and not reg.has_mig_profiles:
        if any(d.mode == "mig" for d in reg.devices):
            legacy.append("mig-mode GPUs registered without migProfiles")
    conflict = None
    if current and legacy:
        conflict = f"{'; '.join(current)}, but {'; '.join(legacy)}"
    if current:
        return GenerationFinding(CURRENT, tuple(current + legacy), conflict)
    if reg is None:
        if codecs.NODE_REGISTER in node.annotations:
            return GenerationFinding(UNKNOWN, ("the register annotation does not decode",))
        return GenerationFinding(NONE, ("no hami.io/node-nvidia-register annotation",))
    if reg.format == codecs.REGISTER_COLON or (hs is not None and hs.state == codecs.HANDSHAKE_REPORTED):
        return GenerationFinding(COLON, tuple(legacy))
    if legacy:
        return GenerationFinding(LEGACY_JSON, tuple(legacy))
    if hs is not None and hs.state == codecs.HANDSHAKE_DELETED:
        return GenerationFinding(LEGACY_JSON, ("the scheduler writes 'Deleted_' handshakes (v2.9)",))
    return GenerationFinding(JSON, ("the register annotation is JSON",))


def cluster_generation(generations: Iterable[str], config: Any = None) -> tuple[str, list[ClusterWarning]]:
    """Combine node generations; warn on mixed versions and on a config of the other generation."""
    seen = {g for g in generations if g not in (NONE, UNKNOWN)}
    warnings: list[ClusterWarning] = []
    if not seen:
        generation = NONE
    elif CURRENT in seen and seen & _LEGACY:
        generation = MIXED
        warnings.append(ClusterWarning(
            "mixed-generation",
            "nodes run both the v2.10+ (reservation) and the legacy (template) MIG design; a mixed scheduler "
            "and device plugin can report no capacity or fail at Allocate (HAMi v2.10.0 plugin/register.go discoverMigProfiles)",
        ))
    elif LEGACY_JSON in seen and COLON in seen:
        generation = MIXED
        warnings.append(ClusterWarning(
            "mixed-generation", "nodes run both <=v2.7 (colon text) and v2.8+ (JSON) device plugins"))
    elif len(seen) == 1:
        generation = next(iter(seen))
    else:  # JSON together with exactly one more specific generation
        generation = next(g for g in seen if g != JSON)

    nvidia = getattr(config, "nvidia", None)
    if nvidia is not None and generation in (CURRENT, *_LEGACY):
        if generation == CURRENT and getattr(nvidia, "known_mig_geometries", None):
            warnings.append(ClusterWarning(
                "config-generation",
                "the device config sets knownMigGeometries, which v2.10+ ignores (use migProfileAllowlist)"))
        if generation in _LEGACY and getattr(nvidia, "mig_profile_allowlist", None):
            warnings.append(ClusterWarning(
                "config-generation",
                "the device config sets migProfileAllowlist, which releases before v2.10 ignore"))
    return generation, warnings


def mig_design(generation: str) -> str | None:
    """``"current"`` for v2.10+, ``"legacy"`` for v2.5–v2.9, None when the cluster shows neither."""
    if generation == CURRENT:
        return "current"
    if generation in _LEGACY:
        return "legacy"
    return None
