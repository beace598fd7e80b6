"""Ask a node's daemon for a geometry: :func:`set_geometry` (what ``migctl node set-geometry`` does).

It writes the desired ``migctl.io/geometry`` annotation on the Node (merging per-GPU requests),
refuses a geometry that cannot exist on the node's GPU model first, and with ``wait`` follows
``migctl.io/geometry-state`` until the daemon answers that very value. Never prints, never exits:
errors are :class:`~migctl.errors.MigctlError` with their exit code; progress goes to a callback.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from migctl import node_protocol as protocol
from migctl.errors import CheckFailed, ExitCode, InputError, UnreachableError
from migctl.hardware.geometry import Geometry

__all__ = ["GPU_PRODUCT_LABEL", "SetGeometryResult", "set_geometry"]

GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"  # GPU Feature Discovery, e.g. NVIDIA-A100-SXM4-40GB[-MIG-1g.5gb]


@dataclass(frozen=True)
class SetGeometryResult:
    """What :func:`set_geometry` wrote and, with ``wait``, the daemon's answer."""

    node: str
    desired: str  # the annotation value written
    previous: str | None  # the value before
    report: protocol.Report | None = None  # the daemon's final answer (``wait`` only)

    @property
    def exit_code(self) -> ExitCode:
        """0 written (or success), 4 refused, 1 failed."""
        if self.report is None or self.report.state is protocol.State.success:
            return ExitCode.OK
        return ExitCode.REFUSED if self.report.state is protocol.State.refused else ExitCode.FAILED

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"node": self.node, "desired": self.desired, "previous": self.previous}
        if self.report is not None:
            data["report"] = self.report.to_dict()
        return data


def kube_failure(exc: Any, what: str) -> Exception:
    """A :class:`~migctl.daemon.kube.KubeError` as the user-facing error (:func:`migctl.kube.error_for_status`)."""
    from migctl.kube import error_for_status

    status = getattr(exc, "status", None)
    if status == 404:
        return error_for_status(404, f"{what}: not found in the cluster", what,
                                hint="'kubectl get nodes' lists the node names")
    return error_for_status(status, f"{what}: {exc}", what)


def _model_of(node_obj: dict[str, Any]) -> tuple[Any, str] | None:
    """The catalogue model named by the node's GPU Feature Discovery label, if any and unambiguous."""
    from migctl.daemon.reconcile import labels_of
    from migctl.hardware.catalogue import load_catalogue

    product = labels_of(node_obj).get(GPU_PRODUCT_LABEL)
    if not product:
        return None
    name = product.split("-MIG-", 1)[0]  # GFD's "single" strategy appends the MIG profile
    catalogue = load_catalogue()
    for candidate in (name, name.replace("-", " ")):
        match = catalogue.lookup(candidate)
        if match is not None and match.rule != "hami-substring":
            return match.model, product
    return None


def _check_fits(node_obj: dict[str, Any], desired: protocol.DesiredGeometry) -> None:
    """Refuse (exit 1) a geometry that cannot exist on the node's GPU model, before asking the daemon."""
    from migctl.hardware.solver import solve

    found = _model_of(node_obj)
    if found is None:
        return
    model, product = found
    for geometry in sorted(set(desired.mapping.values()), key=str):
        if not geometry.enabled:
            continue
        solution = solve(model, geometry)
        if not solution.feasible:
            raise CheckFailed(
                f"{str(geometry)!r} cannot exist on {model.key} ({GPU_PRODUCT_LABEL}={product}): {solution.reason}",
                hint=f"'migctl hardware geometries {model.key}' lists what fits; --no-check skips this check",
            )


def set_geometry(
    node: str,
    geometry: Geometry | str,
    *,
    gpus: Sequence[str] = (),
    wait: bool = False,
    timeout: float = 600.0,
    poll_interval: float = 1.0,
    kubeconfig: str | Path | None = None,
    context: str | None = None,
    check: bool = True,
    api: Any = None,
    on_progress: Callable[[str], None] | None = None,
) -> SetGeometryResult:
    """Ask the daemon on ``node`` for ``geometry`` (every GPU, or only ``gpus``: indices or UUIDs).

    ``geometry``: a :class:`Geometry` (``MIG_OFF`` for MIG off) or its text. With ``check`` a
    geometry that cannot exist on the node's GPU model (label ``nvidia.com/gpu.product``) is
    refused first (:class:`~migctl.errors.CheckFailed`). With ``wait``, returns once the daemon
    answered (``result.report``; ``result.exit_code``) or raises ``CheckFailed`` after ``timeout``.
    ``api``: a ``migctl.daemon.kube.NodeApi`` to use instead of one built from the kubeconfig.
    """
    from migctl.daemon.kube import KubeError, NodeApi, api_client_for
    from migctl.daemon.reconcile import annotations_of

    if wait:
        _check_seconds(timeout, "timeout")
        _check_seconds(poll_interval, "poll interval", positive=True)
    if api is None:
        api = NodeApi(api_client_for(str(kubeconfig) if kubeconfig else None, context), node)
    try:
        wanted = protocol.read_geometry(geometry, where="GEOMETRY")
    except protocol.ProtocolError as exc:
        raise InputError(str(exc)) from None
    for attempt in range(5):
        try:
            current_node = api.get()
        except KubeError as exc:
            raise kube_failure(exc, f"node {node}") from None
        current = annotations_of(current_node).get(protocol.DESIRED)
        try:
            desired = protocol.with_gpu_geometry(current, wanted, gpus)
            request = protocol.parse_desired(desired)
        except protocol.ProtocolError as exc:
            hint = "without --gpu the whole request is replaced" if gpus else None
            raise InputError(str(exc), hint=hint) from None
        if check:
            _check_fits(current_node, request)
        patch = protocol.annotations_patch({protocol.DESIRED: desired})
        version = (current_node.get("metadata") or {}).get("resourceVersion")
        if gpus and version:
            # --gpu edits the current request: fail (409) instead of losing another admin's edit
            patch["metadata"]["resourceVersion"] = version
        try:
            api.patch(patch)
            break
        except KubeError as exc:
            if exc.status == 409 and attempt < 4:
                continue  # the Node changed since we read it: read and merge again
            raise kube_failure(exc, f"patch node {node}") from None
    if not wait:
        return SetGeometryResult(node, desired, current)
    report = wait_for_answer(api, desired, timeout=timeout, poll_interval=poll_interval, on_progress=on_progress)
    return SetGeometryResult(node, desired, current, report)


def _check_seconds(value: float, what: str, *, positive: bool = False) -> None:
    """A wait must end: a finite number of seconds, not negative (InputError otherwise)."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and (
        value > 0 if positive else value >= 0)
    if not ok:
        raise InputError(f"{what}: {value!r} is not a finite number of seconds {'> 0' if positive else '>= 0'}")


def wait_for_answer(api: Any, desired: str, *, timeout: float, poll_interval: float,
                    on_progress: Callable[[str], None] | None = None) -> protocol.Report:
    """Poll the Node until the daemon's final answer to exactly ``desired``; ``CheckFailed`` after ``timeout``."""
    from migctl.daemon.kube import KubeError
    from migctl.daemon.reconcile import annotations_of

    deadline = time.monotonic() + timeout
    last_state = "not reported yet"
    last_error: str | None = None
    while True:
        try:
            annotations = annotations_of(api.get())
            last_error = None
        except KubeError as exc:  # keep waiting through a blip of the API server
            annotations, last_error = None, str(exc)
        if annotations is not None:
            answer = protocol.answer_for(annotations, desired)
            if answer is not None:
                return answer
            if annotations.get(protocol.OBSERVED) == desired:
                last_state = annotations.get(protocol.STATE, last_state)
            if on_progress is not None:
                on_progress(f"node {api.name}: {last_state}")
        if time.monotonic() >= deadline:
            detail = f"; last error: {last_error}" if last_error else ""
            raise CheckFailed(
                f"node {api.name}: no answer to {protocol.DESIRED}={desired!r} within {timeout:g}s "
                f"(state: {last_state}){detail}",
                hint="is 'migctl node daemon' running on that node (kubectl -n migctl-system get pods -o wide)?",
            )
        time.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))
