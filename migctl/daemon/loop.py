"""``migctl node daemon``: watch this Node, apply the geometry the cluster asks for, report back.

Two threads and one rule: *at most one change at a time, and the newest request wins*.

- The **watcher** thread reads the Node, then watches it (``resourceVersion``, reconnecting with
  exponential backoff; a 410 re-reads the Node). Each Node it sees replaces the one waiting in a
  single-slot :class:`Mailbox`, so a newer desired value supersedes one not yet started.
- The **worker** (the caller of :meth:`Daemon.run`) takes the newest Node, or re-reads it every
  ``resync_interval``, and calls :meth:`Daemon.reconcile_once`: read the request, read the GPUs,
  :func:`~migctl.daemon.reconcile.decide`, apply through the :class:`~migctl.daemon.contract.Engine`,
  and report.
- Reports (annotations, the mig-parted state label, Events) go through a :class:`Reporter` outbox:
  when the API server is away the latest values wait and are written, with backoff, once it is
  back. The desired annotation lives on the Node and is only ever read, so an outage loses nothing.
- ``stop`` (SIGTERM in the CLI) is checked between steps and before an apply starts: the apply in
  flight finishes (the engine rolls back on failure), its report is flushed for up to
  ``shutdown_grace`` seconds, then the threads end. No apply starts once ``stop`` is set, and an
  apply waiting for the node lock gives up at once (the engine's ``stop_on``); the request stays on
  the Node for the next start.

Time is injected (``clock``: monotonic seconds) and every wait is on the ``stop`` event, so tests
drive the loop in-process with short intervals.
"""

from __future__ import annotations

import contextlib

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from migctl.daemon.contract import ApplyOutcome, Engine, EngineStopped, EngineUnavailable, GpuState
from migctl.daemon.kube import KubeError, WatchExpired
from migctl.daemon.metrics import DaemonMetrics, GpuGeometry
from migctl.config.migparted import MigPartedConfig
from migctl.hardware.geometry import Geometry
from migctl.node_protocol import (
    APPLIED,
    MIG_CONFIG_LABEL,
    MIG_CONFIG_STATE_LABEL,
    MIG_PARTED_STATES,
    MESSAGE,
    OBSERVED,
    STATE,
    Report,
    State,
)
from migctl.daemon.reconcile import (
    RetryGate,
    annotations_of,
    decide,
    hami_legacy_mig,
    hami_managed,
    labels_of,
    read_request,
)

log = logging.getLogger("migctl.daemon")

EVENT_REASONS = {
    State.pending: "MigGeometryPending",
    State.applying: "MigGeometryApplying",
    State.success: "MigGeometryApplied",
    State.failed: "MigGeometryFailed",
    State.refused: "MigGeometryRefused",
}


class NodeApiLike(Protocol):
    name: str

    def get(self) -> dict[str, Any]: ...

    def patch(self, patch: Mapping[str, Any]) -> dict[str, Any]: ...

    def event(self, node: Mapping[str, Any] | None, reason: str, message: str, *, warning: bool = False) -> None: ...

    def watch(self, resource_version: str | None, *, timeout_seconds: int = 300) -> Iterator[tuple[str, dict[str, Any]]]: ...

    def interrupt(self) -> None: ...


@dataclass
class DaemonOptions:
    resync_interval: float = 60.0  # re-read the Node this often even when the watch is quiet
    watch_timeout: int = 300  # ask the server to end each watch after this long
    backoff_initial: float = 0.5  # Kubernetes API retries: first wait...
    backoff_max: float = 30.0  # ...doubling up to this
    retry_base: float = 30.0  # a failed/refused request is retried after this...
    retry_max: float = 600.0  # ...doubling up to this
    shutdown_grace: float = 10.0  # on stop, keep trying to write the last report this long
    # /healthz fails when one reconcile step has run longer than this (a hung NVML call), or the loop
    # has not come round for resync_interval + this: the kubelet then restarts the pod.
    stall_timeout: float = 600.0
    allow_hami_managed: bool = False
    mig_parted: MigPartedConfig | None = None


class Backoff:
    """Exponential backoff: ``initial``, doubling, capped at ``cap``; ``reset()`` after a success.

    Each wait is shortened by a random part of up to ``jitter`` (20 %), so the daemons of a whole
    cluster that lost the API server together do not come back in lockstep.
    """

    def __init__(self, initial: float, cap: float, *, jitter: float = 0.2,
                 rand: Callable[[], float] = random.random) -> None:
        self.initial, self.cap, self.jitter = initial, cap, jitter
        self._rand = rand
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self.cap, self._next * 2)
        return delay * (1.0 - self.jitter * self._rand())

    def reset(self) -> None:
        self._next = self.initial


class Mailbox:
    """A single slot holding the newest Node seen; ``put`` replaces what was not taken yet."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._node: dict[str, Any] | None = None

    def put(self, node: dict[str, Any]) -> None:
        with self._cond:
            self._node = node
            self._cond.notify_all()

    def take(self, timeout: float | None) -> dict[str, Any] | None:
        with self._cond:
            if self._node is None:
                self._cond.wait(timeout)
            node, self._node = self._node, None
            return node

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


class Reporter:
    """Writes reports to the Node; what cannot be written now waits (newest value per key) and is retried.

    Thread-safe: the worker and the watcher both report.
    """

    def __init__(self, api: NodeApiLike, metrics: DaemonMetrics, clock: Callable[[], float], backoff: Backoff) -> None:
        self._api = api
        self._metrics = metrics
        self._clock = clock
        self._backoff = backoff
        self._lock = threading.RLock()
        self._annotations: dict[str, str | None] = {}
        self._labels: dict[str, str | None] = {}
        self._events: list[tuple[str, str, bool]] = []
        self._known_annotations: dict[str, str] = {}
        self._known_labels: dict[str, str] = {}
        self._written_annotations: dict[str, str | None] = {}
        self._written_labels: dict[str, str | None] = {}
        self._node: dict[str, Any] | None = None
        self._retry_at = 0.0

    def observe(self, node: Mapping[str, Any], *, fresh: bool = False) -> None:
        """What the server holds. ``fresh``: read just now (a GET), so it is the truth for every key.

        A Node from the watch mailbox may predate our own last patch; for the keys this reporter
        writes, what it wrote last wins over such a snapshot.
        """
        with self._lock:
            self._node = dict(node)
            self._known_annotations = annotations_of(node)
            self._known_labels = labels_of(node)
            if fresh:
                self._written_annotations.clear()
                self._written_labels.clear()

    def known(self, key: str) -> str | None:
        """The annotation's value on the Node once the outbox is written."""
        with self._lock:
            for source in (self._annotations, self._written_annotations):
                if key in source:
                    return source[key]
            return self._known_annotations.get(key)

    def _known_label(self, key: str) -> str | None:
        for source in (self._labels, self._written_labels):
            if key in source:
                return source[key]
        return self._known_labels.get(key)

    @property
    def pending(self) -> bool:
        with self._lock:
            return bool(self._annotations or self._labels or self._events)

    def publish(
        self,
        annotations: Mapping[str, str | None],
        labels: Mapping[str, str | None] | None = None,
        event: tuple[str, str, bool] | None = None,
    ) -> bool:
        """Queue the values that differ from the Node's (and an Event), then try to write. True: written."""
        with self._lock:
            for key, value in annotations.items():
                if self.known(key) != value:
                    self._annotations[key] = value
            for key, value in (labels or {}).items():
                if self._known_label(key) != value:
                    self._labels[key] = value
            if event is not None:
                self._events.append(event)
                del self._events[:-32]  # an outage must not grow memory without bound
            self._retry_at = 0.0
            return self.flush()

    def flush(self) -> bool:
        """Try to write what is waiting (unless a backoff is running). True when nothing waits."""
        with self._lock:
            if not self.pending:
                return True
            if self._clock() < self._retry_at:
                return False
            try:
                patch_meta: dict[str, Any] = {}
                if self._annotations:
                    patch_meta["annotations"] = dict(self._annotations)
                if self._labels:
                    patch_meta["labels"] = dict(self._labels)
                if patch_meta:
                    node = self._api.patch({"metadata": patch_meta})
                    self._written_annotations.update(self._annotations)
                    self._written_labels.update(self._labels)
                    self._annotations.clear()
                    self._labels.clear()
                    self.observe(node)
                while self._events:
                    reason, message, warning = self._events[0]
                    try:
                        self._api.event(self._node, reason, message, warning=warning)
                    except KubeError as exc:
                        if exc.transient:
                            raise
                        log.warning("dropping Event %s (not allowed: %s)", reason, exc)  # e.g. RBAC without events
                    self._events.pop(0)
            except KubeError as exc:
                self._metrics.count_kube_error()
                delay = self._backoff.next()
                self._retry_at = self._clock() + delay
                log.warning("cannot report to the API server (retrying in %.1fs): %s", delay, exc)
                return False
            self._backoff.reset()
            return True

    def retry_in(self) -> float | None:
        with self._lock:
            if not self.pending:
                return None
            return max(0.0, self._retry_at - self._clock())


def _report_values(report: Report, request_source: str | None) -> tuple[dict[str, str | None], dict[str, str | None]]:
    labels: dict[str, str | None] = {}
    if request_source == MIG_CONFIG_LABEL:
        labels[MIG_CONFIG_STATE_LABEL] = MIG_PARTED_STATES[report.state]
    return report.to_annotations(), labels


def _event_message(report: Report) -> str:
    if report.state is State.applying:
        return f"applying MIG geometry {report.observed!r}"
    if report.state is State.pending:
        return f"MIG geometry {report.observed!r} is waiting for the change in flight"
    applied = ", ".join(f"GPU {index}: {str(geometry) or '(empty)'}" for index, geometry in sorted(report.applied.items()))
    text = f"MIG geometry {report.observed!r} {report.state.value}"
    if report.message:
        text += f": {report.message}"
    return f"{text} ({applied})" if applied else text


class Daemon:
    """The reconcile loop for one node. ``reconcile_once`` is one step; ``run`` loops until ``stop``."""

    def __init__(
        self,
        api: NodeApiLike,
        engine: Engine,
        options: DaemonOptions | None = None,
        *,
        metrics: DaemonMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.api = api
        self.engine = engine
        self.options = options or DaemonOptions()
        self.metrics = metrics or DaemonMetrics(api.name)
        self.clock = clock
        self.wall_clock = wall_clock
        self.reporter = Reporter(api, self.metrics, clock, Backoff(self.options.backoff_initial, self.options.backoff_max))
        self.gate = RetryGate(self.options.retry_base, self.options.retry_max)
        self.mailbox = Mailbox()
        self._node: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._applying: str | None = None  # the observed value being applied now
        self._superseded_by: str | None = None  # a newer request seen while applying
        self._watch_connected = False
        self._stopping = False
        self._stop: threading.Event | None = None  # run()'s stop: no new apply once it is set
        self._newest_version: int | None = None  # the newest integer resourceVersion reconciled
        self._step_started: float | None = None  # a reconcile step is running since (liveness)
        self._last_cycle: float | None = None  # the loop last came round (liveness)
        self._reconciled = False  # one step has completed (readiness)

    # --- one step ---------------------------------------------------------------------------------

    def reconcile_once(self, node: Mapping[str, Any] | None = None, *, fresh: bool = False) -> Report | None:
        """Reconcile against ``node`` (default: read it now). Returns the report made, if any.

        ``fresh``: ``node`` was just read from the server (not a possibly older watch snapshot).
        An engine with a ``reconciling()`` scope (NVML: one session) gets it around the whole step.
        """
        scope = getattr(self.engine, "reconciling", None)
        started = self._step_started = self.clock()
        failed = True
        try:
            with scope() if scope is not None else contextlib.nullcontext():
                report = self._reconcile(node, fresh)
            failed = False
            self._reconciled = True
            return report
        finally:
            self._step_started = None
            self.metrics.observe_reconcile(self.clock() - started, error=failed)

    def _reconcile(self, node: Mapping[str, Any] | None, fresh: bool) -> Report | None:
        if node is None:
            node, fresh = self.api.get(), True
        node = dict(node)
        if self._older_than_seen(node):
            return None  # a watch event overtaken by a newer read: the newer one was handled
        self._node = node
        self.reporter.observe(node, fresh=fresh)
        self.reporter.flush()
        options = self.options
        request = read_request(node, mig_parted=options.mig_parted)
        if request is None:
            self.gate.reset()
            return None
        with self._lock:
            self._superseded_by = None
        try:
            gpus = list(self.engine.inventory())
        except EngineUnavailable as exc:
            report = Report(State.failed, request.observed, {}, f"cannot read the GPUs: {exc}")
            self._publish(report, request.source)
            self.gate.record(request.observed, State.failed, self.clock())
            return report
        self._show_gpus(gpus)
        decision = decide(
            request,
            gpus,
            hami_reason=hami_managed(node),
            allow_hami_managed=options.allow_hami_managed,
            mig_parted=options.mig_parted,
        )
        if not decision.needs_apply:
            # Answered without touching the GPUs: in sync, invalid, or refused for the node's sake.
            # Nothing to retry on a timer; a change of the Node brings a new decision.
            self.gate.reset()
            self._publish(decision.report, request.source)
            return decision.report
        now = self.clock()
        if not self.gate.allows(request.observed, now):
            return None  # the last failure/refusal stays reported until the next retry
        if self.stopping:
            log.info("stopping: %s=%r is left for the next start", request.source, request.observed)
            return None
        with self._lock:
            self._applying = request.observed
        started = self.clock()
        try:
            outcome = self._plan(decision.targets, gpus)  # refused/failed before anything changes?
            if outcome is None and self.stopping:
                log.info("stopping: %s=%r is left for the next start", request.source, request.observed)
                return None
            if outcome is None:
                log.info("applying %s=%r to GPUs %s", request.source, request.observed, sorted(decision.targets))
                legacy = hami_legacy_mig(node)
                if legacy:
                    log.warning("%s", legacy)
                self._publish(decision.report, request.source)
                outcome = self._apply(decision.targets, gpus)
                if outcome is None:  # stopped while waiting for the node lock: nothing changed
                    log.info("stopping: %s=%r was not applied; the next start answers it",
                             request.source, request.observed)
                    return None
        finally:
            with self._lock:
                self._applying = None
                superseded = self._superseded_by
        report = Report(outcome.state, request.observed, outcome.applied, outcome.message)
        self.gate.record(request.observed, outcome.state, self.clock())
        self.metrics.record(outcome.state, now=self.wall_clock(), changed=outcome.changed, seconds=self.clock() - started)
        self._show_gpus(gpus, outcome.applied)
        if outcome.state is State.success:
            log.info("applied %r: %s", request.observed, dict(outcome.applied))
        else:
            log.warning("%s %r: %s", outcome.state.value, request.observed, outcome.message)
        self._publish(report, request.source, superseded_by=superseded)
        return report

    def _older_than_seen(self, node: Mapping[str, Any]) -> bool:
        """Whether ``node`` predates a version already reconciled.

        resourceVersions are opaque in the API, but etcd-backed servers issue increasing integers;
        only when both parse as integers are they compared (kmock sends none: never stale).
        """
        text = (node.get("metadata") or {}).get("resourceVersion")
        try:
            version = int(text) if text is not None else None
        except (TypeError, ValueError):
            version = None
        if version is None:
            return False
        if self._newest_version is not None and version < self._newest_version:
            return True
        self._newest_version = version
        return False

    def _plan(self, targets: Mapping[int, Geometry], gpus: list[GpuState]) -> ApplyOutcome | None:
        plan = getattr(self.engine, "plan", None)
        if plan is None:
            return None
        try:
            return plan(targets)
        except Exception:  # noqa: BLE001 - a planning bug: let the apply (which plans again) decide
            log.exception("planning failed unexpectedly")
            return None

    @property
    def stopping(self) -> bool:
        """``run``'s stop is set: no new apply starts."""
        return self._stop is not None and self._stop.is_set()

    def _apply(self, targets: Mapping[int, Geometry], gpus: list[GpuState]) -> ApplyOutcome | None:
        """The engine's outcome; None when the engine stopped before changing anything (``stop``)."""
        try:
            return self.engine.apply(targets)
        except EngineStopped:
            return None
        except Exception as exc:  # noqa: BLE001 - the daemon must report, never die, on an engine bug
            log.exception("the apply engine failed unexpectedly")
            return ApplyOutcome(
                State.failed, {gpu.index: gpu.geometry for gpu in gpus}, f"apply engine error: {type(exc).__name__}: {exc}"
            )

    def _show_gpus(self, gpus: list[GpuState], applied: Mapping[int, Geometry] | None = None) -> None:
        applied = applied or {}
        self.metrics.set_gpus(
            tuple(GpuGeometry(g.index, g.uuid, g.model, str(applied.get(g.index, g.geometry))) for g in gpus)
        )

    def _publish(self, report: Report, source: str | None, *, superseded_by: str | None = None) -> None:
        """Write ``report``, with an Event when what the Node says changes.

        When a newer request arrived while this one was applied (``superseded_by``), the Event tells
        this one's result while the state annotations keep answering the newest: ``pending``.
        """
        annotations, labels = _report_values(report, source)
        before = (self.reporter.known(STATE), self.reporter.known(OBSERVED), self.reporter.known(MESSAGE))
        superseded = superseded_by is not None and superseded_by != report.observed
        if superseded:
            annotations.update({STATE: State.pending.value, OBSERVED: superseded_by, MESSAGE: None})
            if labels:
                labels[MIG_CONFIG_STATE_LABEL] = MIG_PARTED_STATES[State.pending]
        event = None
        if superseded or before != (report.state.value, report.observed, report.message or None):
            warning = report.state in (State.failed, State.refused)
            event = (EVENT_REASONS[report.state], _event_message(report), warning)
        self.metrics.set_state(State(annotations[STATE]))
        self.reporter.publish(annotations, labels, event)

    # --- the watcher thread ----------------------------------------------------------------------

    def _note_newer(self, node: Mapping[str, Any]) -> None:
        """Called by the watcher: a request newer than the one being applied is reported ``pending``."""
        request = read_request(node, mig_parted=self.options.mig_parted)
        if request is None:
            return
        with self._lock:
            if self._applying is None:
                return
            if request.observed == self._applying:
                self._superseded_by = None  # asked back for what is being applied: nothing supersedes it
                return
            if self._superseded_by == request.observed:
                return
            self._superseded_by = request.observed
        report = Report(State.pending, request.observed)
        annotations, labels = _report_values(report, request.source)
        annotations.pop(APPLIED, None)  # unchanged until the apply in flight ends
        self.reporter.publish(annotations, labels, (EVENT_REASONS[State.pending], _event_message(report), False))

    def watch_forever(self, stop: threading.Event) -> None:
        """Feed every version of the Node into the mailbox until ``stop``; reconnect with backoff."""
        backoff = Backoff(self.options.backoff_initial, self.options.backoff_max)
        resource_version: str | None = None
        while not stop.is_set():
            try:
                if resource_version is None:
                    node = self.api.get()
                    resource_version = (node.get("metadata") or {}).get("resourceVersion") or ""
                    self.mailbox.put(node)
                self._watch_connected = True
                for kind, obj in self.api.watch(resource_version or None, timeout_seconds=self.options.watch_timeout):
                    backoff.reset()
                    version = (obj.get("metadata") or {}).get("resourceVersion")
                    if version:
                        resource_version = version
                    if kind in ("ADDED", "MODIFIED"):
                        self.mailbox.put(obj)
                        self._note_newer(obj)
                    if stop.is_set():
                        break
            except WatchExpired:
                log.info("watch expired; reading the Node again")
                resource_version = None
            except KubeError as exc:
                self._watch_connected = False
                if stop.is_set():
                    break
                self.metrics.count_kube_error()
                delay = backoff.next()
                log.warning("watching node %s failed (reconnecting in %.1fs): %s", self.api.name, delay, exc)
                stop.wait(delay)
            except Exception:  # noqa: BLE001 - the watcher must outlive any surprise
                self._watch_connected = False
                log.exception("unexpected error in the node watch")
                stop.wait(backoff.next())
        self._watch_connected = False

    # --- the loop --------------------------------------------------------------------------------

    def health(self) -> tuple[bool, str]:
        """Liveness (``/healthz``): fails while stopping, when one reconcile step has run longer than
        ``stall_timeout`` (a hung NVML call or lock) or the loop has not come round for
        ``resync_interval + stall_timeout``. The kubelet restarts the pod; the journal makes that safe."""
        if self._stopping:
            return False, "stopping"
        now, bound = self.clock(), self.options.stall_timeout
        step = self._step_started
        if step is not None and now - step > bound:
            return False, f"stalled: one reconcile step has been running for {now - step:.0f}s (limit {bound:.0f}s)"
        last = self._last_cycle
        if step is None and last is not None and now - last > self.options.resync_interval + bound:
            return False, f"stalled: the reconcile loop has not completed a cycle for {now - last:.0f}s"
        watch = "watch connected" if self._watch_connected else "watch reconnecting"
        pending = "; reports waiting for the API server" if self.reporter.pending else ""
        return True, f"ok ({watch}{pending})"

    def ready(self) -> tuple[bool, str]:
        """Readiness (``/readyz``): live, and one reconcile step has completed since the start."""
        alive, message = self.health()
        if not alive:
            return alive, message
        if not self._reconciled:
            return False, "starting: no reconcile step has completed yet"
        return True, message

    def run(self, stop: threading.Event) -> None:
        """Reconcile until ``stop`` is set, then finish the report in flight and return."""
        from migctl.nvml.adapter import ERROR_LISTENERS

        def count_nvml_error(error: Any) -> None:
            self.metrics.count_nvml_error(error.operation)

        ERROR_LISTENERS.append(count_nvml_error)
        try:
            self._run(stop)
        finally:
            ERROR_LISTENERS.remove(count_nvml_error)

    def _run(self, stop: threading.Event) -> None:
        self._stop = stop
        stop_on = getattr(self.engine, "stop_on", None)  # optional: an engine that can end a lock wait
        if stop_on is not None:
            stop_on(stop)
        watcher = threading.Thread(target=self.watch_forever, args=(stop,), name="migctl-watch", daemon=True)
        watcher.start()
        stop_waker = threading.Thread(target=self._wake_on_stop, args=(stop,), name="migctl-stop", daemon=True)
        stop_waker.start()
        next_resync = self.clock() + self.options.resync_interval
        try:
            while not stop.is_set():
                self._last_cycle = self.clock()
                timeout = max(0.0, next_resync - self.clock())
                for other in (self.reporter.retry_in(), self.gate.next_retry_in(self.clock())):
                    if other is not None:
                        timeout = min(timeout, other)
                node = self.mailbox.take(timeout)
                if stop.is_set():
                    break
                fresh = False
                if node is None and self.clock() >= next_resync:
                    try:
                        node, fresh = self.api.get(), True
                    except KubeError as exc:
                        self.metrics.count_kube_error()
                        log.warning("resync: cannot read node %s: %s", self.api.name, exc)
                        node = self._node
                    next_resync = self.clock() + self.options.resync_interval
                elif node is None:
                    node = self._node  # a retry of a report or of a failed request is due
                if node is None:
                    self.reporter.flush()
                    continue
                try:
                    self.reconcile_once(node, fresh=fresh)
                except KubeError as exc:  # pragma: no cover - reconcile_once reports through the outbox
                    log.warning("reconcile: %s", exc)
                except Exception:  # noqa: BLE001 - a bug in one step must not end the daemon
                    log.exception("reconcile step failed; continuing with the next event")
        finally:
            self._stopping = True
            self._flush_before_exit()
            self.api.interrupt()
            watcher.join(timeout=5)

    def _wake_on_stop(self, stop: threading.Event) -> None:
        stop.wait()
        self.mailbox.wake()
        self.api.interrupt()

    def _flush_before_exit(self) -> None:
        deadline = self.clock() + self.options.shutdown_grace
        while not self.reporter.flush() and self.clock() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - self.clock())))
        if self.reporter.pending:
            log.warning("exiting with reports not written (the API server is unreachable); the next start reports")
