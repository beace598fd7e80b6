"""The daemon's metrics and the ``/healthz``, ``/readyz`` and ``/metrics`` HTTP endpoints.

:class:`DaemonMetrics` holds the numbers (thread-safe, no I/O). ``/metrics`` is rendered by
``prometheus_client`` (text exposition format 0.0.4) from a registry of its own per instance: the
daemon's numbers through a custom collector, plus the library's standard process metrics
(``process_resident_memory_bytes``, ``process_cpu_seconds_total``, open fds...) and ``python_info``.
``prometheus_client`` is pure Python, about 90 ms to import and 0.5 MB installed; it is imported only
by the daemon, never by ``migctl --help`` or the other commands (README "Monitoring").

:class:`HealthServer` serves the endpoints with the standard library's ``http.server`` in a background
thread; port 0 picks a free port (tests). ``/healthz`` (and ``/livez``) is liveness, ``/readyz`` is
readiness, each answered by its own callable.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from migctl.node_protocol import State

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Buckets of ``migctl_daemon_reconcile_duration_seconds``: a reconcile that changes nothing takes
#: milliseconds; one that creates instances takes seconds; a MIG mode change or a wait for the apply
#: lock can take minutes.
RECONCILE_BUCKETS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

_PROFILE = re.compile(r"\b\d+g\.\d+gb(?:[+-][a-z.]+)*\b|\b\d+c\.\d+g\.\d+gb\b")


def nvml_operation(operation: str) -> str:
    """A bounded label for an NVML operation: profile names become ``PROFILE`` (``create 1g.5gb GPU
    instance`` -> ``create PROFILE GPU instance``), so the label set stays small."""
    return " ".join(_PROFILE.sub("PROFILE", operation).split()) or "unknown"


@dataclass(frozen=True)
class GpuGeometry:
    index: int
    uuid: str
    model: str
    geometry: str


class DaemonMetrics:
    """What ``/metrics`` reports. Every method is safe to call from any thread."""

    def __init__(self, node: str, *, process_metrics: bool = True) -> None:
        self.node = node
        self._lock = threading.Lock()
        self.applies = 0
        self.failures = 0
        self.refusals = 0
        self.kube_errors = 0
        self.last_success: float | None = None
        self.last_apply_seconds: float | None = None
        self.state: State | None = None
        self.gpus: tuple[GpuGeometry, ...] = ()
        self.nvml_errors: dict[str, int] = {}
        self.reconcile_errors = 0
        self._reconcile_buckets = [0] * len(RECONCILE_BUCKETS)
        self.reconciles = 0
        self._reconcile_sum = 0.0
        self._process_metrics = process_metrics
        self._registry: Any = None

    def record(self, state: State, *, now: float, changed: bool, seconds: float | None = None) -> None:
        """Count one final answer (``changed``: the engine touched the GPUs)."""
        with self._lock:
            self.state = state
            if state is State.success:
                self.last_success = now
                if changed:
                    self.applies += 1
            elif state is State.failed:
                self.failures += 1
            elif state is State.refused:
                self.refusals += 1
            if seconds is not None:
                self.last_apply_seconds = seconds

    def set_state(self, state: State) -> None:
        with self._lock:
            self.state = state

    def set_gpus(self, gpus: tuple[GpuGeometry, ...]) -> None:
        with self._lock:
            self.gpus = gpus

    def count_kube_error(self) -> None:
        with self._lock:
            self.kube_errors += 1

    def count_nvml_error(self, operation: str) -> None:
        """One failed NVML call (``operation`` as :class:`~migctl.nvml.adapter.NvmlCallError` names it)."""
        label = nvml_operation(operation)
        with self._lock:
            self.nvml_errors[label] = self.nvml_errors.get(label, 0) + 1

    def observe_reconcile(self, seconds: float, *, error: bool = False) -> None:
        """One reconcile step took ``seconds``; ``error``: it raised (a bug or an unexpected failure)."""
        with self._lock:
            self.reconciles += 1
            self._reconcile_sum += seconds
            for i, bound in enumerate(RECONCILE_BUCKETS):
                if seconds <= bound:
                    self._reconcile_buckets[i] += 1
            if error:
                self.reconcile_errors += 1

    # --- exposition ------------------------------------------------------------------------------

    def collect(self) -> Iterator[Any]:
        """The ``prometheus_client`` collector protocol: one family per metric."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        with self._lock:
            node = self.node

            def counter(name: str, help_text: str, value: float) -> Any:
                family = CounterMetricFamily(name, help_text, labels=["node"])
                family.add_metric([node], value)
                return family

            def gauge(name: str, help_text: str, value: float) -> Any:
                family = GaugeMetricFamily(name, help_text, labels=["node"])
                family.add_metric([node], value)
                return family

            yield counter("migctl_daemon_applies", "Geometry changes applied successfully to this node's GPUs.",
                          self.applies)
            yield counter("migctl_daemon_apply_failures",
                          "Requests that failed (invalid, or the apply failed and was rolled back).", self.failures)
            yield counter("migctl_daemon_apply_refusals",
                          "Requests refused for safety (busy instances, HAMi-managed node).", self.refusals)
            yield counter("migctl_daemon_kube_errors", "Kubernetes API calls that failed and were retried.",
                          self.kube_errors)
            yield counter("migctl_daemon_reconcile_errors",
                          "Reconcile steps that ended in an unexpected error (the loop goes on).",
                          self.reconcile_errors)
            nvml = CounterMetricFamily("migctl_daemon_nvml_errors", "NVML calls that failed, by operation.",
                                       labels=["node", "operation"])
            for operation, count in sorted(self.nvml_errors.items()):
                nvml.add_metric([node, operation], count)
            yield nvml
            histogram = HistogramMetricFamily(
                "migctl_daemon_reconcile_duration_seconds",
                "How long one reconcile step took (read the GPUs, plan, apply, report).", labels=["node"])
            buckets = [(_bound(b), float(c)) for b, c in zip(RECONCILE_BUCKETS, self._reconcile_buckets)]
            buckets.append(("+Inf", float(self.reconciles)))
            histogram.add_metric([node], buckets, self._reconcile_sum)
            yield histogram
            if self.last_success is not None:
                yield gauge("migctl_daemon_last_success_timestamp_seconds",
                            "Unix time of the last request answered with success.", self.last_success)
            if self.last_apply_seconds is not None:
                yield gauge("migctl_daemon_last_apply_duration_seconds", "How long the last apply took.",
                            self.last_apply_seconds)
            states = GaugeMetricFamily("migctl_daemon_state",
                                       "The current migctl.io/geometry-state (1 for the current one).",
                                       labels=["node", "state"])
            for state in State:
                states.add_metric([node, state.value], 1.0 if state is self.state else 0.0)
            yield states
            info = GaugeMetricFamily("migctl_daemon_gpu_geometry_info",
                                     "The MIG geometry in place on each GPU (value always 1).",
                                     labels=["node", "gpu", "uuid", "model", "geometry"])
            for gpu in self.gpus:
                info.add_metric([node, str(gpu.index), gpu.uuid, gpu.model, gpu.geometry], 1.0)
            yield info

    @property
    def registry(self) -> Any:
        """This instance's ``prometheus_client`` registry (created on first use)."""
        if self._registry is None:
            from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector

            registry = CollectorRegistry(auto_describe=False)
            registry.register(self)  # type: ignore[arg-type]
            if self._process_metrics:
                ProcessCollector(registry=registry)
                PlatformCollector(registry=registry)
            self._registry = registry
        return self._registry

    def render(self) -> str:
        """The Prometheus text exposition (format 0.0.4) of every metric."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode()


def _bound(value: float) -> str:
    return str(int(value)) + ".0" if value == int(value) else repr(value)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, self.server.metrics.render(), PROMETHEUS_CONTENT_TYPE)
        elif path in ("/healthz", "/livez", "/readyz"):
            check = self.server.ready if path == "/readyz" else self.server.health
            healthy, message = check()
            self._send(200 if healthy else 503, message + "\n", "text/plain; charset=utf-8")
        else:
            self._send(404, "not found: try /healthz, /readyz or /metrics\n", "text/plain; charset=utf-8")

    def _send(self, status: int, body: str, content_type: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence per-request logs
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    metrics: DaemonMetrics
    health: Callable[[], tuple[bool, str]]
    ready: Callable[[], tuple[bool, str]]


class HealthServer:
    """``/healthz`` (liveness), ``/readyz`` (readiness; liveness when not given) and ``/metrics`` on
    ``host:port`` in a background thread (a context manager)."""

    def __init__(
        self, metrics: DaemonMetrics, health: Callable[[], tuple[bool, str]], *, port: int = 0, host: str = "",
        ready: Callable[[], tuple[bool, str]] | None = None,
    ) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.metrics = metrics
        self._server.health = health
        self._server.ready = ready or health
        self._thread = threading.Thread(target=self._server.serve_forever, name="migctl-metrics", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
