"""The apply engine as the daemon sees it: read the GPUs, apply geometries, say how it went.

:class:`Engine` is the small interface the reconcile loop drives; tests give it a fake, and
:class:`NvmlEngine` implements it with the node engineer's ``migctl.apply.engine`` over an NVML
session (real, or simulated with ``MIGCTL_FAKE_NVML=PATH``). Nothing here imports ``pynvml`` at
module level.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from migctl.cluster.node_protocol import DISABLED, State


@dataclass(frozen=True)
class GpuInfo:
    """One physical GPU and the geometry in place on it (canonical text, or ``disabled``)."""

    index: int
    uuid: str
    model: str = ""
    geometry: str = DISABLED
    pci_device_id: int | None = None  # 0xDDDDVVVV as mig-parted's device-filter writes it
    interrupted: bool = False  # an apply died midway on this GPU (its journal is still there)


@dataclass(frozen=True)
class ApplyOutcome:
    """How one apply went. ``applied``: the geometry in place afterwards, every GPU."""

    state: State  # success | failed | refused
    applied: Mapping[int, str] = field(default_factory=dict)
    message: str | None = None
    changed: bool = False
    details: Mapping[str, object] = field(default_factory=dict)  # the engine's own report, for logs


class EngineUnavailable(Exception):
    """The GPUs cannot be read at all (NVML missing, driver not loaded)."""


class Engine(Protocol):
    def inventory(self) -> Sequence[GpuInfo]:
        """The node's GPUs in index order. Raises :class:`EngineUnavailable`."""
        ...

    def plan(self, targets: Mapping[int, str]) -> ApplyOutcome | None:
        """Check ``targets`` without changing anything: ``None`` when the apply may go ahead, else
        the ``refused``/``failed`` outcome it would have (busy instances, impossible geometry)."""
        ...

    def apply(self, targets: Mapping[int, str]) -> ApplyOutcome:
        """Make each GPU index in ``targets`` hold its geometry; never leave a GPU half-changed."""
        ...


def _geometry(text: str | None) -> str:
    """The adapter's geometry (``None`` = MIG off) as protocol text."""
    return DISABLED if text is None else text


def _engine_target(geometry: str) -> str | None:
    return None if geometry == DISABLED else geometry


class NvmlEngine:
    """:class:`Engine` over NVML with ``migctl.apply.engine`` (lock, journal, per-GPU rollback).

    Inside :meth:`reconciling` every call shares one NVML session, opened on first use and closed
    when the reconcile ends: an init/shutdown pair can take up to a minute without persistence
    mode (``mig-parted.md`` §2), and a session held between reconciles would block GPU resets
    (§1.3 step 5). Outside it, each call opens its own session. ``fake`` selects an in-memory simulator (tests); otherwise ``MIGCTL_FAKE_NVML``
    or the real driver. An apply over several GPUs is all-or-nothing as far as NVML allows:

    1. every GPU is planned first (``dry_run``): a busy instance in the way or an infeasible
       geometry on *any* GPU refuses or fails the whole request before anything changes;
    2. the GPUs are applied in index order; the engine rolls a failing GPU back to its layout;
    3. GPUs already changed in this request are then put back to their previous geometry.
    """

    def __init__(self, *, state_dir: str | None = None, lock_timeout: float = 60.0, fake: object | None = None) -> None:
        self.state_dir = state_dir
        self.lock_timeout = lock_timeout
        self._scopes = 0  # depth of reconciling() blocks
        self._opened: Any = None  # the shared session's context manager, while one is open
        self._shared: Any = None  # the shared NvmlSession
        self.fake = fake

    def _session(self) -> Any:  # a context manager of NvmlSession
        from migctl.nvml.session import open_session

        if not self._scopes:
            return open_session(self.fake)  # type: ignore[arg-type]
        if self._shared is None:
            opened = open_session(self.fake)  # type: ignore[arg-type]
            session = opened.__enter__()  # NVML unavailable raises here, inside the caller's try
            self._opened, self._shared = opened, session
        return contextlib.nullcontext(self._shared)

    @contextlib.contextmanager
    def reconciling(self) -> Iterator[None]:
        """Share one NVML session between the calls of one reconcile (inventory, plan, apply)."""
        self._scopes += 1
        try:
            yield
        finally:
            self._scopes -= 1
            if not self._scopes and self._opened is not None:
                opened, self._opened, self._shared = self._opened, None, None
                opened.__exit__(None, None, None)

    def inventory(self) -> list[GpuInfo]:
        from migctl.errors import MigctlError

        try:
            with self._session() as session:
                return self._read(session)
        except MigctlError as exc:
            raise EngineUnavailable(exc.message) from None

    def _read(self, session: Any) -> list[GpuInfo]:
        from migctl.apply.journal import Journal, state_dir

        directory = state_dir(self.state_dir)
        return [
            GpuInfo(gpu.index, gpu.uuid, gpu.name, _geometry(gpu.geometry), gpu.pci_device_id,
                    interrupted=Journal.path_for(directory, gpu.uuid).exists())
            for gpu in session.gpus()
            if gpu.mig_capable
        ]

    def plan(self, targets: Mapping[int, str]) -> ApplyOutcome | None:
        return self._in_session(lambda session: self._blocked(session, targets))

    def apply(self, targets: Mapping[int, str]) -> ApplyOutcome:
        outcome = self._in_session(lambda session: self._apply(session, targets))
        assert outcome is not None
        return outcome

    def _in_session(self, work: Callable[[Any], ApplyOutcome | None]) -> ApplyOutcome | None:
        from migctl.errors import ExitCode, MigctlError

        try:
            with self._session() as session:
                return work(session)
        except MigctlError as exc:
            state = State.refused if exc.exit_code == ExitCode.REFUSED else State.failed
            message = exc.message + (f" ({exc.hint})" if exc.hint else "")
            return ApplyOutcome(state, self._applied_now(), message)

    def _applied_now(self) -> dict[int, str]:
        try:
            return {gpu.index: gpu.geometry for gpu in self.inventory()}
        except EngineUnavailable:
            return {}

    def _run(self, session: Any, index: int, geometry: str, *, dry_run: bool = False) -> Any:
        """``migctl.apply.engine.apply_geometry`` for one GPU -> its ``GpuResult``."""
        from migctl.apply.engine import apply_geometry

        report = apply_geometry(
            session, _engine_target(geometry), gpu=index, dry_run=dry_run,
            state_dir_path=self.state_dir, lock_timeout=self.lock_timeout,
        )
        return report.gpus[0]

    def _blocked(self, session: Any, targets: Mapping[int, str]) -> ApplyOutcome | None:
        """Plan every GPU (no lock, no journal, no NVML write); the outcome if any GPU cannot go ahead."""
        plans = [self._run(session, index, targets[index], dry_run=True) for index in sorted(targets)]
        blocked = [plan for plan in plans if plan.status in ("refused", "failed", "reset-required")]
        if not blocked:
            return None
        state = State.refused if any(plan.status == "refused" for plan in blocked) else State.failed
        details = {"plan": [plan.to_dict() for plan in plans]}
        return ApplyOutcome(state, self._read_applied(session), _describe(blocked), False, details)

    def _apply(self, session: Any, targets: Mapping[int, str]) -> ApplyOutcome:
        # 1. plan everything before touching anything (again: the GPUs may have changed since plan())
        blocked = self._blocked(session, targets)
        if blocked is not None:
            return blocked
        # 2. apply GPU by GPU
        done: list[tuple[int, str]] = []  # (index, geometry before) of GPUs changed so far
        results = []
        for index in sorted(targets):
            result = self._run(session, index, targets[index])
            results.append(result)
            if result.status in ("applied", "unchanged"):
                if result.status == "applied":
                    done.append((index, _geometry(result.before)))
                continue
            # 3. this GPU was rolled back (or could not be); put the earlier ones back too
            undone = [self._run(session, i, before) for i, before in reversed(done)]
            message = _describe([result])
            if done:
                failed_undo = [r for r in undone if r.status not in ("applied", "unchanged")]
                message += (
                    f"; GPUs {', '.join(str(i) for i, _ in done)} were put back to their previous geometry"
                    if not failed_undo else f"; putting back GPUs changed earlier failed: {_describe(failed_undo)}"
                )
            state = State.refused if result.status == "refused" else State.failed
            details = {"results": [r.to_dict() for r in results], "undo": [r.to_dict() for r in undone]}
            return ApplyOutcome(state, self._read_applied(session), message, True, details)
        details = {"results": [r.to_dict() for r in results]}
        return ApplyOutcome(State.success, self._read_applied(session), None, bool(done), details)

    def _read_applied(self, session: Any) -> dict[int, str]:
        session.refresh()
        return {gpu.index: gpu.geometry for gpu in self._read(session)}


def _describe(results: Sequence[Any]) -> str:
    """``GPU 0 (GPU-…): refused: …``; GPUs that failed the same way share one entry."""
    groups: dict[str, list[Any]] = {}
    for result in results:
        text = f"{result.status}: {result.message}" if result.message else result.status
        if result.hint:
            text += f" ({result.hint})"
        groups.setdefault(text, []).append(result)
    parts = []
    for text, members in groups.items():
        who = ", ".join(f"{r.index} ({r.uuid})" for r in members)
        parts.append(f"GPU{'s' if len(members) > 1 else ''} {who}: {text}")
    return "; ".join(parts)
