"""The NVML-backed :class:`~migctl.daemon.contract.Engine`: read the GPUs, apply geometries, say how it went.

:class:`NvmlEngine` implements the loop's engine contract (:mod:`migctl.daemon.contract`, pure)
with :func:`migctl.apply.engine.apply_geometries` over an NVML session (real, or the simulator
chosen by :func:`migctl.nvml.session.open_session`). Nothing here imports ``pynvml`` at module level.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from migctl.node_protocol import State
from migctl.daemon.contract import ApplyOutcome, EngineStopped, EngineUnavailable, GpuState
from migctl.hardware.geometry import Geometry

if TYPE_CHECKING:
    from migctl.apply.engine import ApplyReport, GpuResult
    from migctl.nvml.session import NvmlSessionLike

__all__ = ["NvmlEngine"]


class NvmlEngine:
    """:class:`~migctl.daemon.contract.Engine` over NVML with :func:`migctl.apply.engine.apply_geometries`
    (lock, journal, per-GPU rollback, plan all first, undo earlier GPUs on a later failure).

    Inside :meth:`reconciling` every call shares one NVML session, opened on first use and closed
    when the reconcile ends: ``nvmlInit`` can take seconds to a minute without persistence mode
    (NVIDIA driver docs, "Persistence Daemon"), and a session held between reconciles would block
    a GPU reset (``nvidia-smi -r`` needs no process holding the GPU: MIG User Guide, "Enable MIG
    Mode"). Outside it, each call opens its own session. ``fake`` selects an in-memory simulator
    (tests); otherwise :func:`migctl.nvml.session.open_session` chooses (``MIGCTL_FAKE_NVML`` or
    the real driver).
    """

    def __init__(self, *, state_dir: str | None = None, lock_timeout: float = 60.0, fake: object | None = None) -> None:
        self.state_dir = state_dir
        self.lock_timeout = lock_timeout
        self._scopes = 0  # depth of reconciling() blocks
        self._opened: Any = None  # the shared session's context manager, while one is open
        self._shared: Any = None  # the shared NvmlSession
        self._plans: Any = None  # the reconcile's PlanCache: plan() then apply() solve each GPU once
        self._stop: threading.Event | None = None  # the daemon's stop: ends a wait for the node lock
        self.fake = fake

    def stop_on(self, stop: threading.Event) -> None:
        """Give up waiting for the node lock as soon as ``stop`` is set (:class:`EngineStopped`)."""
        self._stop = stop

    def _session(self) -> contextlib.AbstractContextManager[NvmlSessionLike]:
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
        from migctl.apply.plan import PlanCache

        self._scopes += 1
        if self._scopes == 1:
            self._plans = PlanCache()
        try:
            yield
        finally:
            self._scopes -= 1
            if not self._scopes:
                self._plans = None
            if not self._scopes and self._opened is not None:
                opened, self._opened, self._shared = self._opened, None, None
                opened.__exit__(None, None, None)

    def inventory(self) -> list[GpuState]:
        from migctl.errors import MigctlError

        try:
            with self._session() as session:
                return self._read(session)
        except MigctlError as exc:
            raise EngineUnavailable(exc.message) from None

    def _read(self, session: NvmlSessionLike) -> list[GpuState]:
        from migctl.apply.journal import Journal, state_dir

        directory = state_dir(self.state_dir)
        return [
            GpuState(gpu.index, gpu.uuid, gpu.name, gpu.mig_geometry, gpu.pci_device_id,
                    interrupted=Journal.path_for(directory, gpu.uuid).exists())
            for gpu in session.gpus()
            if gpu.mig_capable
        ]

    def plan(self, targets: Mapping[int, Geometry]) -> ApplyOutcome | None:
        return self._in_session(lambda session: self._blocked(self._apply_geometries(session, targets, dry_run=True), session))

    def apply(self, targets: Mapping[int, Geometry]) -> ApplyOutcome:
        outcome = self._in_session(lambda session: self._apply(session, targets))
        assert outcome is not None
        return outcome

    def _in_session(self, work: Callable[[NvmlSessionLike], ApplyOutcome | None]) -> ApplyOutcome | None:
        from migctl.apply.journal import LockWaitStopped
        from migctl.errors import ExitCode, MigctlError

        try:
            with self._session() as session:
                return work(session)
        except LockWaitStopped as exc:
            raise EngineStopped(exc.message) from None
        except MigctlError as exc:
            state = State.refused if exc.exit_code == ExitCode.REFUSED else State.failed
            message = exc.message + (f" ({exc.hint})" if exc.hint else "")
            return ApplyOutcome(state, self._applied_now(), message)

    def _applied_now(self) -> dict[int, Geometry]:
        try:
            return {gpu.index: gpu.geometry for gpu in self.inventory()}
        except EngineUnavailable:
            return {}

    def _apply_geometries(self, session: NvmlSessionLike, targets: Mapping[int, Geometry], *, dry_run: bool) -> ApplyReport:
        from migctl.apply.engine import apply_geometries

        return apply_geometries(session, targets, dry_run=dry_run, state_dir=self.state_dir,
                                lock_timeout=self.lock_timeout, plans=self._plans, stop=self._stop)

    def _blocked(self, report: ApplyReport, session: NvmlSessionLike) -> ApplyOutcome | None:
        """The outcome of a request whose plan refused or failed it before any change, else ``None``."""
        if not report.blocked:
            return None
        blocked = [r for r in report.gpus if r.status in ("refused", "failed", "reset-required")]
        state = State.refused if any(r.status == "refused" for r in blocked) else State.failed
        details = {"plan": [r.to_dict() for r in report.gpus]}
        return ApplyOutcome(state, self._read_applied(session), _describe(blocked), False, details)

    def _apply(self, session: NvmlSessionLike, targets: Mapping[int, Geometry]) -> ApplyOutcome:
        """All-or-nothing as far as NVML allows (:func:`~migctl.apply.engine.apply_geometries`)."""
        report = self._apply_geometries(session, targets, dry_run=False)
        blocked = self._blocked(report, session)
        if blocked is not None:
            return blocked
        results = report.gpus
        done = [r for r in results if r.status == "applied"]
        failed = [r for r in results if r.status not in ("applied", "unchanged")]
        if not failed:
            return ApplyOutcome(State.success, self._read_applied(session), None, bool(done), {"results": [r.to_dict() for r in results]})
        result = failed[0]
        message = _describe([result])
        if done:
            failed_undo = [r for r in report.undo if r.status not in ("applied", "unchanged")]
            message += (
                f"; GPUs {', '.join(str(r.index) for r in done)} were put back to their previous geometry"
                if not failed_undo else f"; putting back GPUs changed earlier failed: {_describe(failed_undo)}"
            )
        state = State.refused if result.status == "refused" else State.failed
        details = {"results": [r.to_dict() for r in results], "undo": [r.to_dict() for r in report.undo]}
        return ApplyOutcome(state, self._read_applied(session), message, True, details)

    def _read_applied(self, session: NvmlSessionLike) -> dict[int, Geometry]:
        session.refresh()
        return {gpu.index: gpu.geometry for gpu in self._read(session)}


def _describe(results: Sequence[GpuResult]) -> str:
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
