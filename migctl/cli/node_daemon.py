"""``migctl node daemon`` and ``migctl node set-geometry``: the cluster asks, each node answers.

``set-geometry`` runs on an admin's machine: it writes the desired ``migctl.io/geometry``
annotation on a Node and, with ``--wait``, follows ``migctl.io/geometry-state`` until the daemon
on that node answers. ``daemon`` runs on every GPU node (``deploy/daemonset.yaml``).

Only typer and the standard library are imported at module level; kubernetes, pynvml and the
daemon package load inside the commands.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from migctl.cli.choices import ContextOption, KubeconfigOption
from migctl.cli.duration import DurationOption
from migctl.cli.output import OutputFormat, OutputOption, emit, progress
from migctl.errors import InputError, UnreachableError

if TYPE_CHECKING:
    from migctl.node_protocol import Report

try:
    from migctl.cli.node import node_app
except ModuleNotFoundError as exc:  # the node commands are not there: register nothing
    if exc.name != "migctl.cli.node":
        raise
    node_app = None


DEFAULT_METRICS_PORT = 9477


# --------------------------------------------------------------------------------------------
# set-geometry


def set_geometry(
    node: str,
    geometry: str,
    *,
    gpus: list[str] | None = None,
    wait: bool = False,
    timeout: float = 600.0,
    poll_interval: float = 1.0,
    kubeconfig: str | None = None,
    context: str | None = None,
    output: OutputFormat = OutputFormat.text,
    check: bool = True,
) -> int:
    """The ``set-geometry`` command: :func:`migctl.daemon.request.set_geometry`, rendered (returns the exit code)."""
    from migctl.daemon.request import set_geometry as request_geometry

    with progress(f"waiting for node {node}") if wait else contextlib.nullcontext() as bar:
        result = request_geometry(
            node, geometry, gpus=gpus or (), wait=wait, timeout=timeout, poll_interval=poll_interval,
            kubeconfig=kubeconfig, context=context, check=check,
            on_progress=bar.update if bar is not None else None,
        )
    if result.report is None:
        emit(result.to_dict(), output, lambda: sys.stdout.write(f"node {node}: migctl.io/geometry={result.desired}\n"))
    else:
        report = result.report
        emit(result.to_dict(), output, lambda: _render_answer(node, result.desired, report))
    return int(result.exit_code)


def _render_answer(node: str, desired: str, report: Report) -> None:
    lines = [f"node {node}: {report.state.value} ({desired})"]
    for index, geometry in sorted(report.applied.items()):
        lines.append(f"  GPU {index}: {str(geometry) or '(MIG on, no instances)'}")
    if report.message:
        lines.append(f"  {report.message}")
    sys.stdout.write("\n".join(lines) + "\n")


# --------------------------------------------------------------------------------------------
# daemon


@contextlib.contextmanager
def _daemon_logging(level: str) -> Iterator[None]:
    """Log lines on stderr for the daemon's lifetime; the previous logging setup is put back after."""
    logger = logging.getLogger("migctl")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
    try:
        yield
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved


def run_daemon(
    node: str,
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    state_dir: Path | None = None,
    metrics_port: int | None = DEFAULT_METRICS_PORT,
    resync_interval: float = 60.0,
    retry_interval: float = 30.0,
    lock_timeout: float = 60.0,
    allow_hami_managed: bool = False,
    mig_parted_config: Path | None = None,
    once: bool = False,
    output: OutputFormat = OutputFormat.text,
    stop: threading.Event | None = None,
    log_level: str = "info",
    stall_timeout: float = 600.0,
) -> int:
    """The ``daemon`` command as a function (returns the exit code). ``stop`` ends it (tests)."""
    from migctl.daemon.engine import NvmlEngine
    from migctl.daemon.kube import NodeApi, api_client_for
    from migctl.daemon.loop import Daemon, DaemonOptions
    from migctl.config.migparted import load_mig_parted_config

    if not node:
        raise InputError("--node is required (the DaemonSet sets NODE_NAME from the downward API)")
    options = DaemonOptions(
        resync_interval=resync_interval,
        retry_base=retry_interval,
        retry_max=max(retry_interval, 20 * retry_interval),
        allow_hami_managed=allow_hami_managed,
        stall_timeout=stall_timeout,
        mig_parted=load_mig_parted_config(mig_parted_config) if mig_parted_config else None,
    )
    api = NodeApi(api_client_for(kubeconfig or None, context), node)
    engine = NvmlEngine(state_dir=str(state_dir) if state_dir else None, lock_timeout=lock_timeout)
    daemon = Daemon(api, engine, options)
    with _daemon_logging(log_level):
        if once:
            return _reconcile_once(daemon, output)
        _serve(daemon, metrics_port, stop or threading.Event())
    return 0


def _reconcile_once(daemon: Any, output: OutputFormat) -> int:
    from migctl.daemon.kube import KubeError
    from migctl.daemon.request import kube_failure
    from migctl.node_protocol import State

    node = daemon.api.name
    try:
        report = daemon.reconcile_once()
    except KubeError as exc:
        raise kube_failure(exc, f"node {node}") from None
    if daemon.reporter.pending and not daemon.reporter.flush():
        raise UnreachableError(f"node {node}: the report could not be written to the API server")

    def render() -> None:
        if report is None:
            sys.stdout.write(f"node {node}: nothing asked (no migctl.io/geometry)\n")
        else:
            _render_answer(node, report.observed or "", report)

    emit({"node": node, "report": report.to_dict() if report else None}, output, render)
    if report is None or report.state is State.success:
        return 0
    return 4 if report.state is State.refused else 1


def _serve(daemon: Any, metrics_port: int | None, stop: threading.Event) -> None:
    """Run the loop with /healthz + /metrics until SIGTERM/SIGINT (or ``stop``)."""
    from migctl.daemon.metrics import HealthServer

    log = logging.getLogger("migctl.daemon")
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():

        def on_signal(signum: int, _frame: Any) -> None:
            log.info("%s: finishing the change in flight, then exiting", signal.Signals(signum).name)
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    server = None
    try:
        if metrics_port is not None and metrics_port >= 0:
            try:
                server = HealthServer(daemon.metrics, daemon.health, port=metrics_port, ready=daemon.ready).start()
            except OSError as exc:
                raise InputError(f"--metrics-port {metrics_port}: {exc.strerror or exc}") from None
            log.info("serving /healthz, /readyz and /metrics on port %d", server.port)
        log.info("watching node %s (pid %d)", daemon.api.name, os.getpid())
        daemon.run(stop)
    finally:
        if server is not None:
            server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if node_app is not None:

    @node_app.command("set-geometry")
    def set_geometry_command(
        node: Annotated[str, typer.Argument(metavar="NODE", help="The Node to change.", show_default=False)],
        geometry: Annotated[
            str,
            typer.Argument(metavar="GEOMETRY", help="Canonical geometry ('2g.10gb:3,1g.5gb:1'), '' or 'disabled'.",
                           show_default=False),
        ],
        gpu: Annotated[
            Optional[list[str]],
            typer.Option("--gpu", help="Only this GPU (index or UUID); repeat for several. Default: every GPU."),
        ] = None,
        wait: Annotated[bool, typer.Option("--wait", help="Wait for the daemon's answer: exit 0 success, 1 failed, 4 refused.")] = False,
        timeout: Annotated[float, DurationOption("--timeout", help="Seconds to wait with --wait.")] = 600.0,
        poll_interval: Annotated[float, DurationOption("--poll-interval", help="Seconds between reads with --wait.",
                                                       positive=True, hidden=True)] = 1.0,
        no_check: Annotated[
            bool, typer.Option("--no-check", help="Skip checking the geometry against the node's GPU model (label nvidia.com/gpu.product).")
        ] = False,
        kubeconfig: KubeconfigOption = None,
        context: ContextOption = None,
        output: OutputOption = OutputFormat.text,
    ) -> None:
        """Ask the daemon on NODE for a MIG geometry (annotation migctl.io/geometry)."""
        code = set_geometry(node, geometry, gpus=gpu, wait=wait, timeout=timeout, poll_interval=poll_interval,
                            kubeconfig=kubeconfig, context=context, output=output, check=not no_check)
        if code:
            raise typer.Exit(code)

    @node_app.command("daemon")
    def daemon_command(
        node: Annotated[
            str, typer.Option("--node", envvar="NODE_NAME", help="This node's name.", show_default=False)
        ] = "",
        kubeconfig: KubeconfigOption = None,
        context: ContextOption = None,
        state_dir: Annotated[
            Optional[Path],
            typer.Option("--state-dir", help="Lock and journal directory, a hostPath (default: $MIGCTL_STATE_DIR or /var/lib/migctl)."),
        ] = None,
        metrics_port: Annotated[
            int, typer.Option("--metrics-port", help="Port of /healthz, /readyz and /metrics (0: any free port, -1: off).")
        ] = DEFAULT_METRICS_PORT,
        resync_interval: Annotated[float, DurationOption("--resync-interval", help="Seconds between full re-reads of the Node.",
                                                         positive=True)] = 60.0,
        retry_interval: Annotated[
            float, DurationOption("--retry-interval", help="Seconds before retrying a failed or refused request (doubles, up to 20x).",
                                  positive=True)
        ] = 30.0,
        lock_timeout: Annotated[float, DurationOption("--lock-timeout", help="Seconds to wait for another apply on this node.")] = 60.0,
        stall_timeout: Annotated[
            float, DurationOption("--stall-timeout", help="/healthz fails when one reconcile step runs longer than this (seconds; a hung NVML call).",
                                  positive=True)
        ] = 600.0,
        allow_hami_managed: Annotated[
            bool, typer.Option("--allow-hami-managed", help="Change MIG on nodes HAMi v2.10 manages in mig mode (HAMi then owns GPU instance creation).")
        ] = False,
        mig_parted_config: Annotated[
            Optional[Path],
            typer.Option("--mig-parted-config", help="Honour the nvidia.com/mig.config label with this mig-parted config file."),
        ] = None,
        once: Annotated[bool, typer.Option("--once", help="Reconcile once, report, and exit (0 success, 1 failed, 4 refused).")] = False,
        log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
        output: OutputOption = OutputFormat.text,
    ) -> None:
        """Run on a GPU node: apply the geometry its Node annotation asks for, and report back."""
        if log_level.lower() not in ("debug", "info", "warning", "error"):
            raise InputError(f"--log-level: {log_level!r} is not one of debug, info, warning, error")
        if resync_interval <= 0 or retry_interval <= 0 or lock_timeout < 0:
            raise InputError("--resync-interval and --retry-interval must be positive, --lock-timeout not negative")
        if stall_timeout <= lock_timeout:
            raise InputError(f"--stall-timeout {stall_timeout:g} must be longer than --lock-timeout {lock_timeout:g} "
                             "(an apply may wait that long for the lock)")
        code = run_daemon(
            node, kubeconfig=kubeconfig, context=context, state_dir=state_dir, metrics_port=metrics_port,
            resync_interval=resync_interval, retry_interval=retry_interval, lock_timeout=lock_timeout,
            allow_hami_managed=allow_hami_managed, mig_parted_config=mig_parted_config, once=once, output=output,
            log_level=log_level, stall_timeout=stall_timeout,
        )
        if code:
            raise typer.Exit(code)

