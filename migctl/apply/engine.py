"""The apply executor: plan, then change the GPU through NVML under a lock, with a journal and rollback.

Per GPU (:func:`apply_geometry` loops over the selected GPUs):

1. take the node lock, re-read the GPU (another run may just have changed it);
2. a journal left by a run that died: same target -> complete it (plan from what is there now);
   other target -> roll back to the journal's exact "before" layout first;
3. MIG mode: enable/disable when the target needs it; a change that stays pending needs a GPU
   reset or reboot -> status ``reset-required`` (exit 5) with what to do (nvml.h,
   ``nvmlDeviceSetMigMode``: the activation status ``NVML_ERROR_IN_USE``/``RESET_REQUIRED``;
   NVIDIA MIG User Guide, "Enable MIG Mode");
4. plan (:mod:`migctl.apply.plan`): infeasible -> ``failed`` before any change; busy instances in
   the way -> ``refused`` (exit 4) naming the processes, unless ``force``; nothing to do ->
   ``unchanged`` with no NVML write; ``dry_run`` -> ``planned``;
5. write the journal, run the actions (destroy CIs then the GI; create the GI *with placement*
   then its full CI), updating the journal after each;
6. an action fails -> restore the exact previous layout, status ``rolled-back`` (exit 1) saying
   what failed; if even that fails, ``failed`` and the journal stays for the next run.

:func:`apply_geometries` changes several GPUs as one request (plan all, then apply, undoing the
GPUs already changed when a later one fails): ``migctl node apply-geometry -f`` and the node
daemon both use it. Desired layouts are :class:`~migctl.hardware.geometry.Geometry` values
(:data:`~migctl.hardware.geometry.MIG_OFF`: MIG mode off); text is parsed only at the edges.

Nothing here prints or exits: the result is an :class:`ApplyReport` (the CLI and the node daemon
both render it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from migctl.apply.journal import Journal, node_lock, state_dir
from migctl.apply.plan import Action, Current, Plan, PlanCache, plan_layout
from migctl.errors import ExitCode, InputError, MigctlError
from migctl.hardware.geometry import MIG_OFF, Geometry
from migctl.hardware.placement import PlacedInstance

if TYPE_CHECKING:
    from migctl.nvml.adapter import GpuInfo
    from migctl.nvml.session import NvmlSessionLike as NvmlSession

__all__ = ["ApplyReport", "GpuResult", "apply_geometry", "apply_geometries", "desired_geometry", "current_instances"]

Status = Literal["applied", "unchanged", "refused", "failed", "rolled-back", "planned", "reset-required"]

#: A GPU status that stops a multi-GPU request before anything changes (in its plan) or undoes it.
BLOCKING: frozenset[str] = frozenset({"refused", "failed", "reset-required", "rolled-back"})


def desired_geometry(value: Geometry | Mapping[str, int] | str | None) -> Geometry:
    """The edge from a caller's value to a :class:`Geometry`: text is parsed (``InputError`` naming
    ``GEOMETRY``), a mapping counted, ``None`` is :data:`MIG_OFF`."""
    try:
        return Geometry.of(value)
    except ValueError as exc:
        raise InputError(f"GEOMETRY: {exc}") from None


@dataclass
class GpuResult:
    """What happened on one GPU. ``busy``: the busy instances that blocked the plan (``refused``)."""

    index: int
    uuid: str
    before: str | None
    after: str | None
    status: Status
    actions: tuple[Action, ...] = ()
    message: str = ""
    busy: tuple[Current, ...] = ()
    hint: str | None = None
    writes: int = 0
    recovered: str | None = None  # "completed" | "rolled-back" when a journal was found
    state_unknown: bool = False  # the GPU could not be read: before/after are not "MIG disabled"
    previous: Geometry | None = field(default=None, repr=False)  # ``before`` as a value (to put it back)

    @property
    def exit_code(self) -> ExitCode:
        return {
            "failed": ExitCode.FAILED,
            "rolled-back": ExitCode.FAILED,
            "refused": ExitCode.REFUSED,
            "reset-required": ExitCode.RESET_REQUIRED,
        }.get(self.status, ExitCode.OK)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "index": self.index,
            "uuid": self.uuid,
            "before": self.before,
            "after": self.after,
            "status": self.status,
            "actions": [a.to_dict() for a in self.actions],
            "message": self.message,
            "writes": self.writes,
        }
        if self.busy:
            data["busy"] = [
                {"profile": c.profile, "start": c.start, "size": c.size, "gpu_instance_id": c.gpu_instance_id,
                 "processes": list(c.processes) if c.processes is not None else None}
                for c in self.busy
            ]
        if self.hint:
            data["hint"] = self.hint
        if self.recovered:
            data["recovered"] = self.recovered
        if self.state_unknown:
            data["state_unknown"] = True
        return data


@dataclass
class ApplyReport:
    """Per-GPU results. From :func:`apply_geometries` also: ``blocked`` (the plan of some GPU
    refused or failed the whole request, nothing changed) and ``undo`` (GPUs changed earlier in
    the request, put back after a later GPU failed)."""

    gpus: list[GpuResult] = field(default_factory=list)
    undo: list[GpuResult] = field(default_factory=list)
    blocked: bool = False

    @property
    def exit_code(self) -> ExitCode:
        """failed/rolled-back (1) before refused (4) before reset-required (5); else 0."""
        codes = {g.exit_code for g in self.gpus}
        for code in (ExitCode.FAILED, ExitCode.REFUSED, ExitCode.RESET_REQUIRED):
            if code in codes:
                return code
        return ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"gpus": [g.to_dict() for g in self.gpus]}
        if self.undo:
            data["undo"] = [g.to_dict() for g in self.undo]
        return data


def current_instances(info: GpuInfo) -> list[Current]:
    return [
        Current(gi.placed, gi.id, gi.processes, len(gi.compute_instances))
        for gi in info.instances
    ]


def _target_text(desired: Geometry, info: GpuInfo) -> str | None:
    """The target as the adapter prints a GPU's geometry (``None``: MIG off), for the journal and checks."""
    if not desired.enabled:
        return None
    return desired.canonical(info.model).format(info.model)


def _reset_hint(info: GpuInfo, enabling: bool) -> str:
    what = "enable" if enabling else "disable"
    if info.resetless is False:
        return (
            f"the MIG mode change ({what}) on GPU {info.index} is pending until the GPU is reset: stop the clients "
            f"holding it (nvidia-persistenced, dcgm, the device plugin; rmmod nvidia_drm) and run "
            f"'nvidia-smi -r -i {info.index}', or reboot; then run migctl again"
        )
    return (
        f"the MIG mode change ({what}) on GPU {info.index} is pending: the GPU is not idle. Stop the processes and "
        f"clients using it and run migctl again, or reset it ('nvidia-smi -r -i {info.index}') or reboot "
        "(in VM passthrough only a reboot of the host or VM applies it)"
    )


class _Run:
    def __init__(self, session: NvmlSession, directory: Path, *, dry_run: bool, force: bool,
                 plans: PlanCache | None = None) -> None:
        self.session = session
        self.plans = plans if plans is not None else PlanCache()
        self.directory = directory
        self.dry_run = dry_run
        self.force = force
        self.skip_non_mig = False

    # -- execution

    def _execute(self, index: int, info: GpuInfo, actions: Sequence[Action], journal: Journal | None) -> None:
        model = info.model
        live = {gi.id: gi for gi in info.instances}
        for action in actions:
            if action.op == "destroy":
                gi = live.get(action.gpu_instance_id) if action.gpu_instance_id is not None else None
                for ci in gi.compute_instances if gi else ():
                    self.session.destroy_compute_instance(index, action.gpu_instance_id, ci.id)
                self.session.destroy_gpu_instance(index, action.gpu_instance_id)
            elif action.op == "create-compute-instance":
                self.session.create_compute_instance(index, action.gpu_instance_id)
            elif action.op == "create":
                profile = model.profile(action.profile) if model else None
                if profile is None or profile.board_profile_id is None:
                    raise InputError(f"GPU {index}: no NVML profile ID known for {action.profile}")
                gi_id = self.session.create_gpu_instance(index, profile.board_profile_id, action.start, action.size, name=profile.name)
                self.session.create_compute_instance(index, gi_id)
            if journal is not None:
                journal.done += 1
                journal.save(self.directory)

    def _restore(self, index: int, before: Sequence[PlacedInstance]) -> None:
        """Put back the exact ``before`` layout (new instances never have processes yet)."""
        info = self.session.gpu(index)
        plan = plan_layout(current_instances(info), before, force=False)
        if not plan.feasible:
            raise _RestoreRefused(plan.reason or "restore refused")
        self._execute(index, info, plan.actions + _repairs(info, plan), None)

    # -- one GPU

    def apply(self, index: int, desired: Geometry) -> GpuResult:
        self.session.refresh()  # another process may have changed the GPU (the simulator's file) meanwhile
        info = self.session.gpu(index)
        target_text = _target_text(desired, info) if info.mig_capable else None
        journal = Journal.load(self.directory, info.uuid) if self._journal_readable() else None
        if journal is None:
            return self._apply_state(info, desired, target_text)
        if self.dry_run:
            result = self._apply_state(info, desired, target_text)
            return _note(result, f"a journal of an interrupted run is in {self.directory}; a real run recovers it first")
        recovered = self._recover(index, info, journal, target_text, not desired.enabled)
        result = self._apply_state(self.session.gpu(index), desired, target_text)
        result.recovered = recovered
        return _note(result, f"recovered an interrupted run ({recovered})")

    def _journal_readable(self) -> bool:
        return self.directory.is_dir()

    def _recover(self, index: int, info: GpuInfo, journal: Journal, target_text: str | None, target_disabled: bool) -> str:
        """Complete (same target: the new plan starts from what is there) or roll back an interrupted run."""
        same_target = journal.desired is None if target_disabled else journal.desired == target_text
        if same_target:
            journal.delete(self.directory)
            return "completed"
        if info.mig_enabled and journal.before_mig_enabled:
            before = [PlacedInstance(b["profile"], b["start"], b["size"]) for b in journal.before]
            try:
                self._restore(index, before)
            except MigctlError as exc:
                raise MigctlError(
                    f"GPU {index}: an interrupted run left {self.directory}; rolling it back failed: {exc}",
                    hint="inspect 'migctl node status' and the journal, fix by hand, then remove the journal",
                ) from None
        journal.delete(self.directory)
        return "rolled-back"

    def _apply_state(self, info: GpuInfo, desired: Geometry, target_text: str | None) -> GpuResult:
        index = info.index
        base = dict(index=index, uuid=info.uuid, before=info.geometry, previous=info.mig_geometry)
        if not info.mig_capable:
            if not desired.enabled or self.skip_non_mig:
                return GpuResult(**base, after=None, status="unchanged", message="not a MIG-capable GPU; skipped")
            return GpuResult(**base, after=None, status="failed", message=f"{info.label} is not MIG-capable (NVML: Not Supported)")
        writes0 = self.session.writes

        # ---- MIG off
        if not desired.enabled:
            if not info.mig_enabled and not info.mig_pending_mode:
                return GpuResult(**base, after=None, status="unchanged", message="MIG is disabled")
            plan = plan_layout(current_instances(info), [], force=self.force)
            if not plan.feasible:
                return GpuResult(**base, after=info.geometry, status="refused", actions=plan.actions, busy=plan.busy,
                                 message=plan.reason or "", hint="stop the work first, or use --force")
            actions = plan.actions + (Action("disable-mig"),)
            if self.dry_run:
                return GpuResult(**base, after=None, status="planned", actions=actions)
            return self._run_actions(info, plan, actions, disable=True, target_text=None, writes0=writes0)

        # ---- MIG on with a geometry
        model = info.model
        if model is None:
            return GpuResult(**base, after=info.geometry, status="failed", message=f"{info.label}: no MIG profile data for this GPU")
        if not info.mig_enabled:
            plan = self.plans.plan(model, [], desired, force=self.force)
            if not plan.feasible:
                return GpuResult(**base, after=None, status="failed", message=plan.reason or "infeasible")
            actions = (Action("enable-mig"),) + plan.actions
            if info.mig_pending_mode and self.dry_run:
                return GpuResult(**base, after=None, status="reset-required", actions=actions,
                                 message="MIG enable is pending", hint=_reset_hint(info, True))
            if self.dry_run:
                return GpuResult(**base, after=target_text, status="planned", actions=actions)
            # also for an enable left pending by an earlier run: NVML activates it now if the GPU is
            # idle (reset-less GPUs, or one NVML can reset itself); otherwise it stays pending
            change = self.session.set_mig_mode(index, True)
            if not change.took_effect or not change.enabled:
                return GpuResult(**base, after=None, status="reset-required", actions=(Action("enable-mig"),),
                                 message="MIG enable is pending", hint=_reset_hint(info, True), writes=self.session.writes - writes0)
            info = self.session.gpu(index)
            plan = self.plans.plan(info.model or model, current_instances(info), desired, force=self.force)
            result = self._run_actions(info, plan, plan.actions, disable=False, target_text=target_text, writes0=writes0)
            result.before, result.previous = None, MIG_OFF  # MIG was off when the run began
            result.actions = (Action("enable-mig"),) + result.actions
            if result.status == "rolled-back":  # the state before the run had MIG off: put that back too
                change = self.session.set_mig_mode(index, False)
                result.after = None if not change.enabled else result.after
                result.writes = self.session.writes - writes0
                _note(result, "MIG mode turned off again" if not change.enabled else "turning MIG mode off again is pending a reset")
            return result

        plan = self.plans.plan(model, current_instances(info), desired, force=self.force)
        prefix: tuple[Action, ...] = ()
        if info.mig_pending_mode is False:  # a pending disable: cancel it, we want MIG on
            prefix = (Action("enable-mig"),)
        if not plan.feasible:
            status: Status = "refused" if plan.refused else "failed"
            return GpuResult(**base, after=info.geometry, status=status, busy=plan.busy, message=plan.reason or "",
                             hint="stop the work on these instances, or use --force to destroy them" if plan.refused else None)
        repairs = _repairs(info, plan)
        if plan.unchanged and not prefix and not repairs:
            return GpuResult(**base, after=info.geometry, status="unchanged", message="already in effect")
        if self.dry_run:
            return GpuResult(**base, after=target_text, status="planned", actions=prefix + repairs + plan.actions)
        if prefix:
            self.session.set_mig_mode(index, True)
        return self._run_actions(info, plan, prefix + repairs + plan.actions, disable=False, target_text=target_text, writes0=writes0)

    def _run_actions(self, info: GpuInfo, plan: Plan, actions: Sequence[Action], *, disable: bool,
                     target_text: str | None, writes0: int) -> GpuResult:
        index = info.index
        before_layout = [c.placed for c in current_instances(info)]
        base = dict(index=index, uuid=info.uuid, before=info.geometry, previous=info.mig_geometry)
        if not plan.feasible:
            status: Status = "refused" if plan.refused else "failed"
            return GpuResult(**base, after=info.geometry, status=status, busy=plan.busy, message=plan.reason or "")
        geometry_actions = [a for a in actions if a.op in ("create", "destroy", "create-compute-instance")]
        journal = Journal(
            gpu_uuid=info.uuid,
            gpu_index=index,
            before=[p.to_dict() for p in before_layout],
            before_mig_enabled=info.mig_enabled,
            desired=target_text,
            actions=[a.to_dict() for a in actions],
        )
        journal.save(self.directory)
        change = None
        try:
            self._execute(index, info, geometry_actions, journal)
            if disable:
                change = self.session.set_mig_mode(index, False)
        except MigctlError as exc:
            failure, failure_hint = exc.message, exc.hint
            try:
                self._restore(index, before_layout)
            except (MigctlError, _RestoreRefused) as again:
                text = again.message if isinstance(again, MigctlError) else str(again)
                return GpuResult(
                    **base, after=self.session.gpu(index).geometry, status="failed", actions=tuple(actions),
                    message=f"{failure}; rolling back also failed: {text}; the journal in {self.directory} is kept",
                    hint="run migctl again to retry the rollback, or inspect 'migctl node status'",
                    writes=self.session.writes - writes0,
                )
            journal.delete(self.directory)
            return GpuResult(
                **base, after=self.session.gpu(index).geometry, status="rolled-back", actions=tuple(actions),
                message=f"{failure}; rolled back to the previous layout ({info.geometry or 'empty'})",
                hint=failure_hint, writes=self.session.writes - writes0,
            )
        if disable and change is not None:
            journal.delete(self.directory)
            if not change.took_effect or change.enabled:
                return GpuResult(**base, after=self.session.gpu(index).geometry, status="reset-required", actions=tuple(actions),
                                 message="MIG disable is pending", hint=_reset_hint(info, False), writes=self.session.writes - writes0)
            return GpuResult(**base, after=None, status="applied", actions=tuple(actions), writes=self.session.writes - writes0)
        journal.delete(self.directory)
        after = self.session.gpu(index)
        status: Status = "applied"
        message = ""
        if target_text is not None and after.geometry != target_text:
            status, message = "failed", f"after applying, the GPU shows {after.geometry!r}, not {target_text!r}"
        return GpuResult(**base, after=after.geometry, status=status, actions=tuple(actions), message=message,
                         writes=self.session.writes - writes0)


def _note(result: GpuResult, text: str) -> GpuResult:
    result.message = f"{result.message}; {text}" if result.message else text
    return result


def _repairs(info: GpuInfo, plan: Plan) -> tuple[Action, ...]:
    """A kept GPU instance without a compute instance (drift, or a half-done destroy) gets its CI back."""
    kept = {c.gpu_instance_id for c in plan.keep}
    return tuple(
        Action("create-compute-instance", gi.profile, gi.start, gi.size, gi.id)
        for gi in info.instances
        if gi.id in kept and not gi.compute_instances
    )


class _RestoreRefused(Exception):
    pass


def apply_geometry(
    session: NvmlSession,
    desired: Geometry | str | Mapping[str, int] | None,
    *,
    gpu: str | int | None = "all",
    dry_run: bool = False,
    force: bool = False,
    state_dir_path: str | Path | None = None,
    lock_timeout: float = 600.0,
    stop: threading.Event | None = None,
) -> ApplyReport:
    """Bring the selected GPUs (``all``, an index or a UUID) to ``desired``, each on its own.

    ``desired``: a :class:`Geometry` (:data:`MIG_OFF`: MIG off); at this edge also canonical text
    (``"2g.10gb:3,1g.5gb:1"``, ``""``: MIG on with no instances, ``"disabled"``), a mapping, or
    ``None`` (MIG off). With ``dry_run`` nothing is written (no lock, no journal, no NVML write).
    A GPU that fails does not stop the others (:func:`apply_geometries` is all-or-nothing).
    Never prints, never exits: read ``report.exit_code``.
    """
    target = desired_geometry(desired)
    indices = session.select(gpu)
    directory = state_dir(state_dir_path)
    run = _Run(session, directory, dry_run=dry_run, force=force)
    run.skip_non_mig = gpu is None or str(gpu) == "all"
    report = ApplyReport()
    if dry_run:
        report.gpus.extend(_apply_one(run, session, index, target) for index in indices)
        return report
    with node_lock(directory, timeout=lock_timeout, stop=stop):
        report.gpus.extend(_apply_one(run, session, index, target) for index in indices)
    return report


def apply_geometries(
    session: NvmlSession,
    targets: Mapping[int | str, Geometry | str | Mapping[str, int] | None],
    *,
    dry_run: bool = False,
    force: bool = False,
    state_dir: str | Path | None = None,
    lock_timeout: float = 600.0,
    on_result: Callable[[GpuResult], None] | None = None,
    plans: PlanCache | None = None,
    stop: threading.Event | None = None,
) -> ApplyReport:
    """Bring several GPUs to their geometries as one request: plan all, then apply, undo on failure.

    ``targets``: GPU (index, or UUID) -> desired :class:`Geometry` (text, mappings and ``None``
    are accepted at this edge, as in :func:`apply_geometry`).

    1. every GPU is planned first (no NVML write): if any is refused (busy instances), infeasible,
       or needs a reset first, the report is ``blocked`` and nothing changes;
    2. the GPUs are applied in index order (each rolls back to its own layout if an action fails);
    3. when one ends other than ``applied``/``unchanged``, the GPUs changed before it in this
       request are put back to their previous geometry (``report.undo``) and the rest are not tried.

    With ``dry_run`` only step 1 runs (no lock). The node lock is held for the whole request.
    ``on_result`` is called with each GPU's result as it is known (a progress display).
    ``plans``: a :class:`~migctl.apply.plan.PlanCache` shared with an earlier call on the same
    session (the daemon plans, then applies), so an unchanged GPU is solved once.
    ``stop``: set while waiting for the node lock, the wait ends at once with
    :class:`~migctl.apply.journal.LockWaitStopped` (a ``RefusedError``) and nothing changes.
    Never prints, never exits: read ``report.exit_code``.
    """
    plans = plans if plans is not None else PlanCache()
    wanted: dict[int, Geometry] = {}
    for selector, value in targets.items():
        geometry = desired_geometry(value)
        for index in session.select(selector):
            wanted[index] = geometry
    directory = _state_dir(state_dir)
    if dry_run:
        return _plan_all(session, directory, wanted, force, on_result, plans)
    with node_lock(directory, timeout=lock_timeout, stop=stop):
        report = _plan_all(session, directory, wanted, force, None, plans)
        if report.blocked:
            _mark_not_applied(report)
            for result in report.gpus:
                if on_result is not None:
                    on_result(result)
            return report
        return _apply_all(session, directory, wanted, force, on_result, plans)


_state_dir = state_dir  # the module function, under a name the keyword argument does not shadow


def _plan_all(session: NvmlSession, directory: Path, wanted: Mapping[int, Geometry], force: bool,
              on_result: Callable[[GpuResult], None] | None, plans: PlanCache) -> ApplyReport:
    run = _Run(session, directory, dry_run=True, force=force, plans=plans)
    report = ApplyReport()
    for index in sorted(wanted):
        result = _apply_one(run, session, index, wanted[index])
        report.gpus.append(result)
        if on_result is not None:
            on_result(result)
    report.blocked = any(result.status in BLOCKING for result in report.gpus)
    return report


def _mark_not_applied(report: ApplyReport) -> None:
    for result in report.gpus:
        if result.status == "planned":
            _note(result, "not applied: another GPU of this request cannot be changed")


def _apply_all(session: NvmlSession, directory: Path, wanted: Mapping[int, Geometry], force: bool,
               on_result: Callable[[GpuResult], None] | None, plans: PlanCache) -> ApplyReport:
    run = _Run(session, directory, dry_run=False, force=force, plans=plans)
    report = ApplyReport()
    done: list[tuple[int, Geometry]] = []  # (index, geometry before) of the GPUs changed so far
    for index in sorted(wanted):
        result = _apply_one(run, session, index, wanted[index])
        report.gpus.append(result)
        if on_result is not None:
            on_result(result)
        if result.status in ("applied", "unchanged"):
            if result.status == "applied":
                assert result.previous is not None
                done.append((index, result.previous))
            continue
        report.undo.extend(_apply_one(run, session, i, before) for i, before in reversed(done))
        break
    return report


def _apply_one(run: _Run, session: NvmlSession, index: int, target: Geometry) -> GpuResult:
    """One GPU; an error on it (an NVML call outside the rollback, a bad journal) fails it, not the others."""
    try:
        return run.apply(index, target)
    except MigctlError as exc:
        try:
            info = session.gpu(index)
        except MigctlError:
            try:
                uuid = session.uuid(index)
            except MigctlError:
                uuid = ""
            return GpuResult(index, uuid, None, None, "failed", message=exc.message, hint=exc.hint, state_unknown=True)
        return GpuResult(index, info.uuid, info.geometry, info.geometry, "failed", message=exc.message, hint=exc.hint)
