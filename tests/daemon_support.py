"""Helpers for the daemon tests (no tests here): Node objects, annotation patches, polling, a fake engine.

The Kubernetes API itself is the ``kube`` fixture of ``tests/conftest.py`` (``kube_emulator.KubeEmulator``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


def node_object(name: str, annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": f"uid-{name}",
            "labels": {"kubernetes.io/hostname": name, **(labels or {})},
            "annotations": dict(annotations or {}),
        },
        "spec": {},
        "status": {},
    }


def create_node(api_client: Any, name: str, annotations: dict[str, str] | None = None, **kw: Any) -> None:
    from kubernetes import client

    client.CoreV1Api(api_client).create_node(node_object(name, annotations, **kw))


def patch_annotations(api_client: Any, name: str, annotations: dict[str, str | None]) -> None:
    from kubernetes import client

    client.CoreV1Api(api_client).patch_node(
        name, {"metadata": {"annotations": annotations}}, _content_type="application/merge-patch+json"
    )


def wait_for(predicate: Callable[[], Any], timeout: float = 8.0, interval: float = 0.02) -> Any:
    """Poll until ``predicate()`` is truthy; fail the test with the last value otherwise."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        time.sleep(interval)
        value = predicate()
    return value


class FakeEngine:
    """An in-memory engine for loop tests: GPU index -> geometry, busy GPUs, injected failures, a gate."""

    def __init__(self, geometries: dict[int, str], *, model: str = "NVIDIA A100-SXM4-40GB") -> None:
        self.geometries = dict(geometries)
        self.model = model
        self.busy: set[int] = set()
        self.fail_next: str | None = None
        self.calls: list[dict[int, str]] = []
        self.inventory_calls = 0
        self.unavailable: str | None = None  # inventory raises EngineUnavailable with this text
        self.entered = threading.Event()  # set when an apply starts
        self.release: threading.Event | None = None  # when set, apply waits for it
        self._lock = threading.Lock()

    def inventory(self) -> list[Any]:
        from migctl.daemon.contract import EngineUnavailable, GpuState

        self.inventory_calls += 1
        if self.unavailable is not None:
            raise EngineUnavailable(self.unavailable)
        with self._lock:
            return [GpuState(i, f"GPU-{i:04d}", self.model, g) for i, g in sorted(self.geometries.items())]

    def plan(self, targets: Any) -> Any:
        """Busy GPUs in the way are refused before anything changes (like the NVML engine)."""
        from migctl.daemon.contract import ApplyOutcome
        from migctl.node_protocol import State

        with self._lock:
            busy = sorted(set(targets) & self.busy)
            if busy:
                return ApplyOutcome(State.refused, dict(self.geometries), f"GPU {busy[0]}: 1g.5gb (GPU instance 1) is in use by PID 4242")
        return None

    def apply(self, targets: Any) -> Any:
        from migctl.daemon.contract import ApplyOutcome
        from migctl.node_protocol import State

        self.calls.append(dict(targets))
        self.entered.set()
        if self.release is not None:
            assert self.release.wait(10), "the test never released the apply"
        with self._lock:
            busy = sorted(set(targets) & self.busy)
            if busy:
                return ApplyOutcome(State.refused, dict(self.geometries), f"GPU {busy[0]}: 1g.5gb (GPU instance 1) is in use by PID 4242")
            if self.fail_next is not None:
                message, self.fail_next = self.fail_next, None
                return ApplyOutcome(State.failed, dict(self.geometries), message)
            self.geometries.update(targets)
            return ApplyOutcome(State.success, dict(self.geometries), None, changed=True)
