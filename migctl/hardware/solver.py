"""The exact MIG placement solver and the maximal geometries of a model.

The rules (NVIDIA MIG User Guide, "Supported MIG Profiles" and "A100 MIG Profiles" placement
diagrams; nvml.h ``nvmlDeviceGetGpuInstancePossiblePlacements``):

1. *Placement.* An instance occupies the units ``[start, start + size)`` of one of its
   profile's NVML placements; instances may not overlap, neither each other nor the instances
   that already exist (rule 1, rule 8: "can it be created now" starts from the current placements).
2. *Compute slices* are implied by the placement tables (rule 2), so they need no check of their own.
3. *Per-profile maximum* ``max_instances`` (NVML ``instanceCount``) counts existing instances too;
   it is what limits ``+me`` profiles to one although seven placements exist (rule 3). The total
   number of instances is capped by the model's ``max_gpu_instances``.
4. ``+me.all`` *exclusivity*: beside a ``+me.all`` instance only ``-me`` profiles may exist
   (rule 4, nvml.h: "prevents allocation of all but _NO_ME profiles").
5. *Engine budget* (rule 3, NVIDIA's DRA model): the instances' SMs, copy engines, NVDEC, NVENC,
   NVJPG and OFA must not add up to more than the full-GPU profile's, where the catalogue knows
   them all. On A30 this is what forbids ``1g.6gb+me`` beside ``2g.12gb+me`` (one OFA).
   ``+me`` next to plain ``1g`` instances passes (rule 5: believed valid, not confirmed; the
   solution carries a warning).

The search is exact, not greedy (greedy first-fit strands ``3g`` behind ``1g`` instances:
nvml.h ``nvmlDeviceCreateGpuInstanceWithPlacement``): a depth-first search over the instances, largest
placement first, with a bitmask of occupied units and a memo of dead ends. It is deterministic:
instances are taken largest first (placement size, then compute slices, memory, name) and each
takes the lowest start that still lets all the remaining instances fit, so the answer is the
lexicographically smallest list of starts in that order. Identical instances get increasing
starts (no permutations are searched).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migctl.hardware.geometry import GeometryCounts, sort_geometry
from migctl.hardware.placement import Placement, PlacedInstance

if TYPE_CHECKING:
    from migctl.hardware.catalogue import GpuModel, Profile

__all__ = ["Solution", "solve", "maximal_geometries", "can_create", "full_gpu_profile"]


@dataclass(frozen=True)
class Solution:
    """The answer of :func:`solve`.

    ``placements`` are the NEW instances (canonical profile names), ordered as placed: largest
    first. ``existing`` echoes the existing instances with canonical names. When ``feasible``
    is false, ``reason`` says why and ``unplaced`` names the profile of the instance that
    cannot be created (``placements`` is then empty).
    """

    feasible: bool
    placements: tuple[PlacedInstance, ...] = ()
    reason: str | None = None
    unplaced: str | None = None
    existing: tuple[PlacedInstance, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def layout(self) -> tuple[PlacedInstance, ...]:
        """Existing and new instances together, by start."""
        return tuple(sorted(self.existing + self.placements, key=lambda p: (p.start, p.size, p.profile)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "feasible": self.feasible,
            "placements": [p.to_dict() for p in self.placements],
            "existing": [p.to_dict() for p in self.existing],
            "reason": self.reason,
            "unplaced": self.unplaced,
            "warnings": list(self.warnings),
        }


def _fail(reason: str, unplaced: str | None, existing: tuple[PlacedInstance, ...] = (), warnings: Iterable[str] = ()) -> Solution:
    return Solution(False, (), reason, unplaced, existing, tuple(warnings))


def _instance_order(profile: Profile) -> tuple[Any, ...]:
    return (-profile.placement_size, len(profile.placement_starts)) + profile.sort_key


def _rule_violation(
    model: GpuModel, totals: Mapping[Profile, int], existing_counts: Mapping[Profile, int]
) -> tuple[str, str | None] | None:
    """Counting rules (max per profile, max instances, ``+me.all``, engine budget): ``(reason, profile)`` or None.

    The profile named is that of a NEW instance where one is to blame, so callers can say which
    instance of their request cannot be created."""
    for profile in sorted(totals, key=lambda p: p.sort_key):
        total = totals[profile]
        if total > profile.max_instances:
            have = existing_counts.get(profile, 0)
            extra = f" ({have} existing + {total - have} new)" if have else ""
            return (
                f"{profile.name}: {total} instances{extra}, but at most {profile.max_instances} fit on one "
                f"{model.key} GPU (NVML instanceCount)",
                profile.name,
            )
    count = sum(totals.values())
    if count > model.max_gpu_instances:
        largest_new = min((p for p in totals if totals[p] > existing_counts.get(p, 0)), key=lambda p: p.sort_key, default=None)
        name = largest_new.name if largest_new else None
        return (f"{count} GPU instances, but one {model.key} GPU holds at most {model.max_gpu_instances}", name)
    exclusive = [p for p in totals if p.attribute == "+me.all"]
    if exclusive and sum(totals[p] for p in exclusive) > 1:
        ordered = sorted(exclusive, key=lambda p: p.sort_key)
        culprit = next((p for p in reversed(ordered) if totals[p] > existing_counts.get(p, 0)), ordered[-1])
        return (
            f"{' and '.join(p.name for p in ordered)}: a +me.all instance allows only -me profiles beside it "
            f"(nvml.h), so one GPU holds at most one +me.all instance",
            culprit.name,
        )
    if exclusive:
        others = [p for p in totals if p not in exclusive and p.attribute != "-me"]
        if others:
            me_all = exclusive[0]
            # Blame a new instance: the other profile if it is new, else the +me.all one.
            culprit = next((p for p in sorted(others, key=lambda p: p.sort_key) if totals[p] > existing_counts.get(p, 0)), None)
            if culprit is None:
                culprit = me_all
            other = sorted(others, key=lambda p: p.sort_key)[0]
            return (
                f"{me_all.name} allows only -me profiles beside it (nvml.h: it 'prevents allocation of all but "
                f"_NO_ME profiles'), and {other.name} is not one",
                culprit.name,
            )
    return _engine_violation(model, totals, existing_counts)


ENGINES = (
    ("multiprocessors", "SMs"),
    ("copy_engines", "copy engines"),
    ("decoders", "NVDECs"),
    ("encoders", "NVENCs"),
    ("jpeg", "NVJPG engines"),
    ("ofa", "OFA engines"),
)


def full_gpu_profile(model: GpuModel) -> Profile | None:
    """The profile that takes the whole GPU (most compute slices, no attribute): its engine
    counts are the GPU's budget."""
    plain = [p for p in model.profiles if p.attribute == ""]
    return max(plain, key=lambda p: (p.compute_slices, p.placement_size), default=None)


def _engine_violation(
    model: GpuModel, totals: Mapping[Profile, int], existing_counts: Mapping[Profile, int]
) -> tuple[str, str | None] | None:
    """NVIDIA's DRA driver model (NVIDIA/k8s-dra-driver-gpu, ``cmd/gpu-kubelet-plugin/partitions.go``): the instances' SMs and engines must not add
    up to more than the full-GPU profile has, e.g. one OFA on A30 for ``1g.6gb+me`` and
    ``2g.12gb+me``. Engine counts the catalogue does not know (``null``) are not checked."""
    full = full_gpu_profile(model)
    if full is None:
        return None
    for attribute, label in ENGINES:
        budget = getattr(full, attribute)
        values = {p: getattr(p, attribute) for p in totals}
        if budget is None or any(v is None for v in values.values()):
            continue
        used = sum(values[p] * totals[p] for p in totals)
        if used > budget:
            users = sorted((p for p in totals if values[p]), key=lambda p: p.sort_key)
            culprit = next((p for p in reversed(users) if totals[p] > existing_counts.get(p, 0)), users[-1])
            names = ", ".join(f"{p.name} x{totals[p]}" if totals[p] > 1 else p.name for p in users)
            return (
                f"{names} need {used} {label} together, but one {model.key} GPU has {budget} "
                f"(the {full.name} profile's count; NVIDIA's DRA engine budget)",
                culprit.name,
            )
    return None


class _Search:
    """Depth-first search for non-overlapping placements of ``instances`` on top of ``occupied``."""

    def __init__(self, instances: list[Profile], occupied: int) -> None:
        self.instances = instances
        self.occupied = occupied
        self.options: list[list[tuple[int, int]]] = []
        for profile in instances:
            size_mask = (1 << profile.placement_size) - 1
            self.options.append(
                [(start, size_mask << start) for start in profile.placement_starts if not (size_mask << start) & occupied]
            )
        self.dead: set[tuple[int, int, int]] = set()

    def run(self, count: int | None = None) -> list[int] | None:
        """Starts for the first ``count`` instances (all by default), or None."""
        n = len(self.instances) if count is None else count
        starts: list[int] = []
        self.dead = set()
        return starts if self._place(0, n, self.occupied, -1, starts) else None

    def _place(self, i: int, n: int, mask: int, lo: int, starts: list[int]) -> bool:
        if i == n:
            return True
        state = (i, mask, lo)
        if state in self.dead:
            return False
        profile = self.instances[i]
        nxt = self.instances[i + 1] if i + 1 < n else None
        for start, bits in self.options[i]:
            if start <= lo or bits & mask:
                continue
            starts.append(start)
            # Identical instances take increasing starts: no permutations are searched.
            if self._place(i + 1, n, mask | bits, start if nxt is profile else -1, starts):
                return True
            starts.pop()
        self.dead.add(state)
        return False


def _caveats(model: GpuModel, totals: Mapping[Profile, int]) -> list[str]:
    """What a feasible layout still depends on (MIG User Guide, "Supported MIG Profiles": ``+me`` instances counted apart, and 4g + 3g
    on one GPU only from driver R510)."""
    notes: list[str] = []
    if not model.placement_units_known:
        notes.append(
            f"the NVML placement grid of {model.key} is not known: these starts are in normalised slots, "
            f"not NVML units ({model.placement_status})"
        )
    slices = {p.compute_slices for p in totals}
    if model.placement_units == 8 and 4 in slices and 3 in slices:
        notes.append("a 4g and a 3g instance on one GPU need driver R510 or later (MIG guide, 'Partitioning')")
    for profile in sorted(totals, key=lambda p: p.sort_key):
        if profile.min_driver:
            notes.append(f"{profile.name} needs driver {profile.min_driver} or later")
    me = sorted((p for p in totals if p.attribute == "+me" and p.compute_slices == 1), key=lambda p: p.sort_key)
    if me and any(p.compute_slices == 1 and p.attribute == "" and p.placement_size == me[0].placement_size for p in totals):
        notes.append(
            f"{me[0].name} next to plain 1g instances is believed valid (NVML counts them separately) but not "
            "confirmed; mig-parted's own configs never mix them"
        )
    return notes


def _resolve_existing(model: GpuModel, existing: Iterable[PlacedInstance]) -> tuple[list[tuple[Profile, PlacedInstance]], list[str], str | None]:
    resolved: list[tuple[Profile, PlacedInstance]] = []
    warnings: list[str] = []
    for item in existing:
        profile = model.profile(item.profile)
        if profile is None:
            return resolved, warnings, f"existing instance {item}: {model.key} has no profile {item.profile!r}"
        placed = PlacedInstance(profile.name, int(item.start), int(item.size))
        if placed.start < 0 or placed.size < 1 or placed.end > model.placement_units:
            return resolved, warnings, f"existing instance {placed} lies outside the {model.placement_units}-unit placement grid of {model.key}"
        if (placed.start, placed.size) not in profile.placements:
            starts = ",".join(str(s) for s in profile.placement_starts)
            warnings.append(
                f"existing instance {placed} is not one of the catalogue's placements for {profile.name} "
                f"(starts {starts}, size {profile.placement_size}); its units are kept occupied as they are"
            )
        for _, other in resolved:
            if other.overlaps(placed):
                return resolved, warnings, f"existing instances {other} and {placed} overlap"
        resolved.append((profile, placed))
    return resolved, warnings, None


def _describe_block(profile: Profile, occupied: list[PlacedInstance], units: int) -> str:
    blockers = sorted({str(p) for p in occupied if any(p.overlaps(Placement(s, profile.placement_size)) for s in profile.placement_starts)})
    starts = ",".join(str(s) for s in profile.placement_starts)
    where = f"its placements (starts {starts}; size {profile.placement_size} of {units} units)"
    if blockers:
        return f"{where} all overlap {', '.join(blockers)}"
    return f"{where} leave no room"


def solve(model: GpuModel, wanted: Mapping[str, int], existing: Iterable[PlacedInstance] = ()) -> Solution:
    """Can ``wanted`` (profile name or alias -> count) be created on ``model`` next to ``existing``?

    Returns concrete non-overlapping placements for the new instances when it can, or the
    reason and the profile of the instance that cannot be placed. ``existing`` instances are
    kept exactly where they are and count toward per-profile maximums.
    """
    resolved_existing, warnings, problem = _resolve_existing(model, existing)
    existing_out = tuple(p for _, p in resolved_existing)
    if problem is not None:
        return _fail(problem, None, existing_out, warnings)

    new_counts: dict[Profile, int] = {}
    for name, count in wanted.items():
        if count < 0:
            raise ValueError(f"count of {name!r} must not be negative")
        if count == 0:
            continue
        profile = model.profile(name)
        if profile is None:
            known = ", ".join(model.profile_names)
            return _fail(f"{model.key} has no profile {name!r} (profiles: {known})", name, existing_out, warnings)
        new_counts[profile] = new_counts.get(profile, 0) + int(count)

    existing_counts: dict[Profile, int] = {}
    occupied = 0
    for profile, placed in resolved_existing:
        existing_counts[profile] = existing_counts.get(profile, 0) + 1
        occupied |= placed.mask
    totals = dict(existing_counts)
    for profile, count in new_counts.items():
        totals[profile] = totals.get(profile, 0) + count
    violation = _rule_violation(model, totals, existing_counts)
    if violation is not None:
        return _fail(violation[0], violation[1], existing_out, warnings)

    instances = sorted((p for p, c in new_counts.items() for _ in range(c)), key=_instance_order)
    search = _Search(instances, occupied)
    starts = search.run()
    if starts is not None:
        placements = tuple(PlacedInstance(p.name, s, p.placement_size) for p, s in zip(instances, starts))
        warnings += _caveats(model, totals)
        return Solution(True, placements, None, None, existing_out, tuple(warnings))

    # Infeasible: the longest prefix (largest instances first) that fits tells which instance cannot.
    best: list[int] = []
    for k in range(len(instances) - 1, 0, -1):
        prefix = search.run(k)
        if prefix is not None:
            best = prefix
            break
    k = len(best)
    blocked = instances[k]
    nth = sum(1 for p in instances[: k + 1] if p is blocked)
    placed_so_far = [PlacedInstance(p.name, s, p.placement_size) for p, s in zip(instances, best)]
    context = list(existing_out) + placed_so_far
    reason = (
        f"no room for {blocked.name} (instance {nth} of {new_counts[blocked]}): "
        f"{_describe_block(blocked, context, model.placement_units)}"
    )
    return _fail(reason, blocked.name, existing_out, warnings)


def can_create(model: GpuModel, wanted: Mapping[str, int], existing: Iterable[PlacedInstance] = ()) -> bool:
    """Just the yes/no of :func:`solve`."""
    return solve(model, wanted, existing).feasible


def _feasible_counts(model: GpuModel, counts: Mapping[Profile, int]) -> bool:
    if _rule_violation(model, counts, {}) is not None:
        return False
    instances = sorted((p for p, c in counts.items() for _ in range(c)), key=_instance_order)
    return _Search(instances, 0).run() is not None


def maximal_geometries(model: GpuModel) -> tuple[GeometryCounts, ...]:
    """Every geometry of ``model`` to which no further instance can be added.

    Each is a canonical-order ``{profile: count}``; the list is ordered larger instances first.
    """
    profiles = sorted(model.profiles, key=lambda p: p.sort_key)
    cache: dict[tuple[int, ...], bool] = {}

    def feasible(vector: tuple[int, ...]) -> bool:
        hit = cache.get(vector)
        if hit is None:
            hit = _feasible_counts(model, {p: c for p, c in zip(profiles, vector) if c})
            cache[vector] = hit
        return hit

    found: list[tuple[int, ...]] = []

    def extend(i: int, vector: list[int]) -> None:
        if i == len(profiles):
            current = tuple(vector)
            if not any(vector):
                return
            for j in range(len(profiles)):
                grown = list(current)
                grown[j] += 1
                if feasible(tuple(grown)):
                    return
            found.append(current)
            return
        for count in range(profiles[i].max_instances + 1):
            vector[i] = count
            if count and not feasible(tuple(vector)):
                break
            extend(i + 1, vector)
        vector[i] = 0

    extend(0, [0] * len(profiles))

    def order(vector: tuple[int, ...]) -> list[tuple[int, int]]:
        # Larger instances first: compare the geometries instance by instance.
        return [(i, 0) for i, c in enumerate(vector) for _ in range(c)] + [(len(profiles), 0)]

    found.sort(key=order)
    return tuple(sort_geometry({p.name: c for p, c in zip(profiles, vector) if c}, model) for vector in found)
