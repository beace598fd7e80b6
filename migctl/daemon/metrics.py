"""The daemon's counters and the ``/healthz`` + ``/metrics`` HTTP endpoints.

:class:`DaemonMetrics` holds the numbers (thread-safe, no I/O) and renders the Prometheus text
exposition format 0.0.4. :class:`HealthServer` serves them with the standard library's
``http.server`` in a background thread; port 0 picks a free port (tests).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from migctl.node_protocol import State

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{_escape(str(value))}"' for key, value in labels.items()) + "}"


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


@dataclass(frozen=True)
class GpuGeometry:
    index: int
    uuid: str
    model: str
    geometry: str


class DaemonMetrics:
    """What ``/metrics`` reports. Every method is safe to call from any thread."""

    def __init__(self, node: str) -> None:
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

    def render(self) -> str:
        """The Prometheus text exposition of every metric."""
        with self._lock:
            node = {"node": self.node}
            lines: list[str] = []

            def metric(name: str, kind: str, help_text: str, samples: list[tuple[Mapping[str, str], float]]) -> None:
                lines.append(f"# HELP {name} {help_text}")
                lines.append(f"# TYPE {name} {kind}")
                for labels, value in samples:
                    lines.append(f"{name}{_labels(labels)} {_number(value)}")

            metric("migctl_daemon_applies_total", "counter",
                   "Geometry changes applied successfully to this node's GPUs.", [(node, self.applies)])
            metric("migctl_daemon_apply_failures_total", "counter",
                   "Requests that failed (invalid, or the apply failed and was rolled back).", [(node, self.failures)])
            metric("migctl_daemon_apply_refusals_total", "counter",
                   "Requests refused for safety (busy instances, HAMi-managed node).", [(node, self.refusals)])
            metric("migctl_daemon_kube_errors_total", "counter",
                   "Kubernetes API calls that failed and were retried.", [(node, self.kube_errors)])
            if self.last_success is not None:
                metric("migctl_daemon_last_success_timestamp_seconds", "gauge",
                       "Unix time of the last request answered with success.", [(node, self.last_success)])
            if self.last_apply_seconds is not None:
                metric("migctl_daemon_last_apply_duration_seconds", "gauge",
                       "How long the last apply took.", [(node, self.last_apply_seconds)])
            metric("migctl_daemon_state", "gauge", "The current migctl.io/geometry-state (1 for the current one).",
                   [({**node, "state": state.value}, 1.0 if state is self.state else 0.0) for state in State])
            metric("migctl_daemon_gpu_geometry_info", "gauge",
                   "The MIG geometry in place on each GPU (value always 1).",
                   [({**node, "gpu": str(gpu.index), "uuid": gpu.uuid, "model": gpu.model, "geometry": gpu.geometry}, 1.0)
                    for gpu in self.gpus])
            return "\n".join(lines) + "\n"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, self.server.metrics.render(), PROMETHEUS_CONTENT_TYPE)
        elif path in ("/healthz", "/livez", "/readyz"):
            healthy, message = self.server.health()
            self._send(200 if healthy else 503, message + "\n", "text/plain; charset=utf-8")
        else:
            self._send(404, "not found: try /healthz or /metrics\n", "text/plain; charset=utf-8")

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


class HealthServer:
    """``/healthz`` and ``/metrics`` on ``host:port`` in a background thread (a context manager)."""

    def __init__(
        self, metrics: DaemonMetrics, health: Callable[[], tuple[bool, str]], *, port: int = 0, host: str = ""
    ) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.metrics = metrics
        self._server.health = health
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
