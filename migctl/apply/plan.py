"""The apply planner: current GPU instances + desired geometry -> the minimal ordered actions.

Pure: no NVML, no files. What it promises beyond NVIDIA/mig-parted's apply
(``pkg/mig/config/config.go``, ``nvmlMigConfigManager.SetMigConfig``):

- *plan before touching the hardware*: an infeasible geometry is reported with the solver's
  reason before anything changes (mig-parted tries N! orderings and leaves the GPU empty);
- *diff-based*: existing instances that already fit the desired geometry stay where they are;
  the planner keeps the largest set of them with which the rest can still be placed, so it
  destroys only what is in the way (mig-parted destroys everything on any difference);
- *never destroys an instance in use*: instances with processes (or whose processes NVML would
  not report) must be kept; if the desired geometry needs them gone or moved the plan is
  ``refused`` and names them, unless ``force``;
- destroys come first (they free slots), then creates, largest first, each with an explicit
  placement (nvml.h ``nvmlDeviceCreateGpuInstanceWithPlacement``).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from migctl.hardware.geometry import Geometry
from migctl.hardware.placement import HasPlacement, PlacedInstance
from migctl.hardware.solver import solve

if TYPE_CHECKING:
    from migctl.hardware.catalogue import GpuModel

__all__ = ["Action", "Current", "Plan", "PlanCache", "plan_geometry", "plan_layout", "teardown_writes"]

ActionOp = Literal["destroy", "create", "enable-mig", "disable-mig"]


@dataclass(frozen=True)
class Current(HasPlacement):
    """An existing GPU instance as the planner sees it: its :class:`PlacedInstance` plus live facts.

    ``processes`` are the PIDs on its compute instances; ``None`` means NVML would not say,
    which the planner treats as busy. ``compute_instances`` counts its CIs (for write counts).
    """

    placed: PlacedInstance
    gpu_instance_id: int | None = None
    processes: tuple[int, ...] | None = ()
    compute_instances: int = 1

    @classmethod
    def of(cls, profile: str, start: int, size: int, gpu_instance_id: int | None = None,
           processes: tuple[int, ...] | None = (), compute_instances: int = 1) -> Current:
        return cls(PlacedInstance(profile, start, size), gpu_instance_id, processes, compute_instances)

    @property
    def busy(self) -> bool:
        return self.processes is None or bool(self.processes)

    def __str__(self) -> str:
        gi = f" (GPU instance {self.gpu_instance_id})" if self.gpu_instance_id is not None else ""
        return f"{self.placed}{gi}"


@dataclass(frozen=True)
class Action:
    """One step: ``destroy``/``create`` a GPU instance (with its compute instance), or a MIG mode change."""

    op: ActionOp
    profile: str | None = None
    start: int | None = None
    size: int | None = None
    gpu_instance_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "profile": self.profile, "start": self.start, "size": self.size}

    def __str__(self) -> str:
        if self.profile is None:
            return self.op
        return f"{self.op} {self.profile} at {self.start}:{self.size}"


@dataclass(frozen=True)
class Plan:
    """The planner's answer.

    ``feasible`` false: ``reason`` says why; ``refused`` is true when the obstacle is busy
    instances (listed in ``busy``) rather than the geometry itself.
    """

    feasible: bool
    keep: tuple[Current, ...] = ()
    destroy: tuple[Current, ...] = ()
    create: tuple[PlacedInstance, ...] = ()
    reason: str | None = None
    refused: bool = False
    busy: tuple[Current, ...] = ()

    @property
    def actions(self) -> tuple[Action, ...]:
        destroys = tuple(Action("destroy", c.profile, c.start, c.size, c.gpu_instance_id) for c in self.destroy)
        creates = tuple(Action("create", p.profile, p.start, p.size) for p in self.create)
        return destroys + creates

    @property
    def writes(self) -> int:
        """NVML writes the plan costs: per destroy its CIs + the GI, per create the GI + one CI."""
        return sum(c.compute_instances + 1 for c in self.destroy) + 2 * len(self.create)

    @property
    def unchanged(self) -> bool:
        return self.feasible and not self.destroy and not self.create


def _unknown_profile(model: GpuModel, wanted: Geometry) -> str | None:
    unknown = next((name for name in wanted if model.profile(name) is None), None)
    if unknown is None:
        return None
    return f"{model.key} has no profile {unknown!r} (profiles: {', '.join(model.profile_names)})"


def _with_canonical_name(model: GpuModel, c: Current) -> Current:
    profile = model.profile(c.profile)
    if profile is None or profile.name == c.profile:
        return c
    return dataclasses.replace(c, placed=PlacedInstance(profile.name, c.start, c.size))


def _count(instances: Sequence[Current]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in instances:
        counts[c.profile] = counts.get(c.profile, 0) + 1
    return counts


def _describe_busy(busy: Sequence[Current]) -> str:
    parts = []
    for c in busy:
        pids = "unknown processes" if c.processes is None else "processes " + ", ".join(str(p) for p in c.processes)
        parts.append(f"{c} runs {pids}")
    return "; ".join(parts)


def plan_geometry(model: GpuModel, current: Sequence[Current], desired: Geometry | Mapping[str, int], *, force: bool = False) -> Plan:
    """Plan the change from ``current`` instances to the ``desired`` geometry on ``model``.

    Keeps the largest subset of the current instances (busy ones always, unless ``force``) with
    which the rest of the desired geometry can still be placed; destroys the others.
    """
    wanted = (desired if isinstance(desired, Geometry) else Geometry(desired)).canonical(model)
    problem = _unknown_profile(model, wanted)
    if problem is not None:
        return Plan(False, reason=problem)
    from_empty = solve(model, wanted)
    if not from_empty.feasible:
        return Plan(False, reason=f"geometry cannot be created on {model.key}: {from_empty.reason}")

    current = [_with_canonical_name(model, c) for c in current]
    must_keep = [c for c in current if c.busy] if not force else []
    busy_counts = _count(must_keep)
    blocking = [c for c in must_keep if busy_counts[c.profile] > wanted.get(c.profile, 0)]
    if blocking:
        return Plan(
            False,
            reason=f"the desired geometry has no room for busy instances: {_describe_busy(blocking)}",
            refused=True,
            busy=tuple(blocking),
        )

    optional = [c for c in current if c not in must_keep and c.profile in wanted]
    for size in range(len(optional), -1, -1):
        for subset in itertools.combinations(optional, size):
            keep = list(must_keep) + list(subset)
            kept = _count(keep)
            if any(n > wanted.get(p, 0) for p, n in kept.items()):
                continue
            remaining = {p: wanted[p] - kept.get(p, 0) for p in wanted if wanted[p] - kept.get(p, 0) > 0}
            solution = solve(model, remaining, existing=[c.placed for c in keep])
            if solution.feasible:
                destroy = tuple(c for c in current if c not in keep)
                return Plan(True, keep=tuple(sorted(keep, key=lambda c: c.start)), destroy=destroy, create=solution.placements)
    return Plan(
        False,
        reason=f"the desired geometry does not fit around busy instances that would have to move: {_describe_busy(must_keep)}",
        refused=True,
        busy=tuple(must_keep),
    )


def plan_layout(current: Sequence[Current], target: Sequence[PlacedInstance], *, force: bool = True) -> Plan:
    """Plan the change to an exact ``target`` layout (rollback and journal recovery).

    Instances already at a target placement with the same profile are kept. With ``force``
    false, a busy instance that is not in the target refuses the plan.
    """
    remaining = list(target)
    keep: list[Current] = []
    destroy: list[Current] = []
    for c in current:
        match = next((t for t in remaining if (t.profile, t.start, t.size) == (c.profile, c.start, c.size)), None)
        if match is not None:
            remaining.remove(match)
            keep.append(c)
        else:
            destroy.append(c)
    busy = [c for c in destroy if c.busy]
    if busy and not force:
        return Plan(False, reason=f"restoring the layout would destroy busy instances: {_describe_busy(busy)}", refused=True, busy=tuple(busy))
    create = tuple(sorted(remaining, key=lambda p: (-p.size, p.start)))
    return Plan(True, keep=tuple(keep), destroy=tuple(destroy), create=create)


def teardown_writes(current: Sequence[Current], desired_count: int) -> int:
    """NVML writes of NVIDIA's way (mig-parted ``SetMigConfig``): destroy every instance, create all anew."""
    if not current and desired_count == 0:
        return 0
    return sum(c.compute_instances + 1 for c in current) + 2 * desired_count


class PlanCache:
    """Plans already made, so a request planned (dry run) and then applied solves each GPU once.

    Keyed by what the plan depends on: the model's live profiles (board IDs, placements), the
    current instances (placements, IDs, processes), the desired geometry and ``force``. Any
    change on the GPU between the two is a different key, so a stale plan is never reused.
    """

    def __init__(self) -> None:
        self._plans: dict[tuple[Any, ...], Plan] = {}
        self.solved = 0  # plans computed (not found here)

    def plan(self, model: GpuModel, current: Sequence[Current], desired: Geometry, *, force: bool = False) -> Plan:
        live = tuple((p.name, p.board_profile_id, p.placement_size, p.placement_starts) for p in model.profiles)
        key = (model.key, live, model.placement_units, tuple(current), desired, force)
        plan = self._plans.get(key)
        if plan is None:
            plan = plan_geometry(model, current, desired, force=force)
            self._plans[key] = plan
            self.solved += 1
        return plan
