"""HAMi's MIG instance choice, both generations.

Legacy (v2.5–v2.9, HAMi v2.9.0 pkg/device/nvidia/device.go): whole-GPU geometries from ``knownMigGeometries``; the first pod
on an idle GPU picks the geometry (first entry, in config order, whose memory covers the request)
and the GPU stays locked to it while any slot is in use.

Current (v2.10, HAMi v2.10.0 pkg/device/nvidia/device.go selectMigCandidate): the smallest published profile whose memory covers the request,
at the first free NVML placement (``1g.*``/``3g.*`` prefer the highest start, others the lowest).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from migctl.simulate.state import Gpu, MigAllocationUsage, MigProfileSpec, MigSlot, Placement, expand_geometry

# ---------------------------------------------------------------- legacy (v2.9)


def _first_fitting_geometry(gpu: Gpu, memreq: int) -> tuple[int, int] | None:
    """(geometry index, entry index) of the first entry with ``memory >= memreq`` (v2.8+ rule)."""
    for tidx, geometry in enumerate(gpu.templates):
        for idx, entry in enumerate(geometry):
            if entry.memory >= memreq:
                return tidx, idx
    return None


def legacy_filter(gpu: Gpu, memreq: int, queued_usedmem: Iterable[int]) -> bool:
    """``CustomFilterRule`` (v2.9): can this GPU still give a slot of ``memreq``?

    ``queued_usedmem`` are the devices already chosen for this container; v2.9 counts them against
    this GPU's slots even when they sit on another GPU (HAMi v2.9.0 pkg/device/nvidia/device.go, fixed after v2.9). A queued
    device that finds no free slot fails the rule ("MIG entry not found"), even when a slot for the
    request itself is free: with a percentage request the request's ``Memreq`` is 0 while the
    queued devices hold the resolved memory.
    """
    if not gpu.is_mig:
        return True
    queued = list(queued_usedmem)
    if not queued:  # the common case (one device per container so far): nothing to mark, nothing to copy
        if gpu.usage_list:
            return any(not s.in_use and s.memory >= memreq for s in gpu.usage_list)
        found = _first_fitting_geometry(gpu, memreq)
        return found is not None and any(s.memory >= memreq for s in expand_geometry(gpu.templates[found[0]]))
    return _filter_on_copy(gpu, memreq, queued)


def _filter_on_copy(gpu: Gpu, memreq: int, queued: list[int]) -> bool:
    """``CustomFilterRule`` as v2.9 runs it: copy the slots (or expand the first geometry with a large
    enough entry), mark the queued devices, look for a free slot (:func:`legacy_filter` skips the copy
    when nothing is queued)."""
    usage = [MigSlot(s.name, s.memory, s.core, s.in_use) for s in gpu.usage_list]
    if not usage:
        found = _first_fitting_geometry(gpu, memreq)
        if found is not None:
            usage = expand_geometry(gpu.templates[found[0]])
    for mem in queued:
        for slot in usage:
            if not slot.in_use and slot.memory >= mem:
                slot.in_use = True
                break
        else:
            return False
    return any(not s.in_use and s.memory >= memreq for s in usage)


@dataclass(frozen=True, slots=True)
class LegacyChoice:
    """What ``AddResourceUsage`` picked: the slot's memory/core, profile and ``[t-s]`` suffix."""

    memory: int
    core: int
    profile: str | None
    template: int | None  # t of the suffix
    slot: int | None  # s of the suffix (as written; see the reset-branch bug)
    instance: int | None = None  # the slot actually taken in the scheduler's memory (differs from s when the bug bites)


class MigAllocateError(Exception):
    """``mig template allocate resource fail``."""


def legacy_add_usage(gpu: Gpu, usedmem: int, usedcores: int) -> LegacyChoice:
    """``AddResourceUsage`` for a legacy MIG GPU; mutates ``gpu`` as HAMi's in-memory copy does.

    Reset branch (no slot in use): pick the geometry, mark flat slot Σcounts-before-idx in use but
    write the *entry index* ``idx`` into the suffix (the v2.9 bug, PR #2513 unmerged). If no
    geometry fits, v2.9 falls through and the raw GPU is handed out (no suffix, usage unchanged).
    Reuse branch: the first free slot with enough memory, else :class:`MigAllocateError`.
    """
    needs_reset = not gpu.usage_list or not any(s.in_use for s in gpu.usage_list)
    if needs_reset:
        gpu.usage_list = []
        found = _first_fitting_geometry(gpu, usedmem)
        if found is None:
            choice = LegacyChoice(usedmem, usedcores, None, None, None)
        else:
            tidx, idx = found
            geometry = gpu.templates[tidx]
            gpu.usage_list = expand_geometry(geometry)
            gpu.mig_index = tidx
            flat = sum(max(t.count, 0) for t in geometry[:idx])
            slot = gpu.usage_list[flat]
            slot.in_use = True
            choice = LegacyChoice(slot.memory, slot.core, slot.name, tidx, idx, flat)
    else:
        for s, slot in enumerate(gpu.usage_list):
            if not slot.in_use and slot.memory >= usedmem:
                slot.in_use = True
                choice = LegacyChoice(slot.memory, slot.core, slot.name, gpu.mig_index, s, s)
                break
        else:
            raise MigAllocateError("mig template allocate resource fail")
    gpu.used += 1
    gpu.usedmem += choice.memory
    gpu.usedcores += choice.core
    return choice


def legacy_mark(gpu: Gpu, template: int | None, slot: int | None) -> None:
    """Mark the slot a pod device names as in use, as usage reconstruction does (``getNodesUsage``
    v2.9, HAMi pkg/scheduler/scheduler.go getNodesUsage): expand template ``t`` if the GPU has no slots yet, then mark slot ``s``.

    This is what the *next* scheduling cycle sees: the slot named by the suffix (which differs
    from the in-memory choice when the reset-branch bug bites). Counters are added by the caller.
    """
    if template is None or slot is None or not gpu.is_mig:
        return
    if not gpu.usage_list and 0 <= template < len(gpu.templates):
        gpu.usage_list = expand_geometry(gpu.templates[template])
        gpu.mig_index = template
    if 0 <= slot < len(gpu.usage_list):
        gpu.usage_list[slot].in_use = True


# ---------------------------------------------------------------- current (v2.10)


def ordered_placements(profile: str, placements: Sequence[Placement]) -> list[Placement]:
    """``orderedMigPlacements``: 1g.* and 3g.* prefer the highest start, others the lowest."""
    high = profile.startswith("1g.") or profile.startswith("3g.")
    return sorted(placements, key=(lambda p: -p.start) if high else (lambda p: p.start))


def select_placement(profile: MigProfileSpec, occupied: Sequence[Placement]) -> Placement | None:
    """``selectMigPlacement``: the first ordered placement that overlaps nothing occupied."""
    for candidate in ordered_placements(profile.name, profile.placements):
        if not any(candidate.overlaps(o) for o in occupied):
            return candidate
    return None


def select_candidate(profiles: Sequence[MigProfileSpec], occupied: Sequence[Placement],
                     memory: int) -> tuple[MigProfileSpec, Placement] | None:
    """``selectMigCandidate``: profiles by memory then slice count; the first that fits and has room."""
    for profile in sorted(profiles, key=lambda p: (p.memory_mib, p.slice_count)):
        if profile.memory_mib < memory:
            continue
        placement = select_placement(profile, occupied)
        if placement is not None:
            return profile, placement
    return None


def current_filter(gpu: Gpu, memreq: int, queued_usedmem_here: Iterable[int]) -> bool:
    """``CustomFilterRule`` (v2.10): simulate the devices queued on this GPU, then the request."""
    if not gpu.is_mig:
        return True
    occupied = [a.placement for a in gpu.allocations]
    for mem in queued_usedmem_here:
        cand = select_candidate(gpu.profiles, occupied, mem)
        if cand is None:
            return False
        occupied.append(cand[1])
    return select_candidate(gpu.profiles, occupied, memreq) is not None


def current_add_usage(gpu: Gpu, usedmem: int) -> tuple[MigProfileSpec, Placement]:
    """``AddResourceUsage`` (v2.10): reserve the candidate and account its NVML memory/core."""
    cand = select_candidate(gpu.profiles, [a.placement for a in gpu.allocations], usedmem)
    if cand is None:
        raise MigAllocateError("no MIG profile placement left")
    profile, placement = cand
    gpu.allocations.append(MigAllocationUsage.reserve(gpu.id, profile.name, placement))
    gpu.used += 1
    gpu.usedmem += profile.memory_mib
    gpu.usedcores += profile.core
    return profile, placement
