"""What the daemon should do about one observation of its Node (pure: no I/O, no clock reads).

``read_request`` finds what the cluster asks (``migctl.io/geometry``, else NVIDIA's
``nvidia.com/mig.config`` label when a mig-parted config file is given); ``decide`` compares it
with the GPUs as the engine reads them and returns either a final :class:`Report` (nothing to
change, invalid, refused) or the GPUs to change. :class:`RetryGate` spaces out retries of a
request that failed or was refused, so a busy GPU is retried on a schedule instead of wedging
(NVIDIA/mig-parted's mig-manager retries a failed apply in a tight loop) or hammering NVML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migctl.daemon.contract import GpuState
from migctl.hardware.geometry import Geometry
from migctl.node_protocol import (
    DESIRED,
    MIG_CONFIG_LABEL,
    DesiredGeometry,
    GpuRef,
    ProtocolError,
    Report,
    State,
    parse_desired,
)

if TYPE_CHECKING:
    from migctl.config.migparted import MigPartedConfig

HAMI_REGISTER = "hami.io/node-nvidia-register"


def _metadata(node: Mapping[str, Any], key: str) -> dict[str, str]:
    value = (node.get("metadata") or {}).get(key) or {}
    return {str(k): str(v) for k, v in value.items() if v is not None} if isinstance(value, Mapping) else {}


def annotations_of(node: Mapping[str, Any]) -> dict[str, str]:
    return _metadata(node, "annotations")


def labels_of(node: Mapping[str, Any]) -> dict[str, str]:
    return _metadata(node, "labels")


@dataclass(frozen=True)
class Request:
    """What the cluster asks of this node, read from one Node object.

    ``observed`` is the raw value answered (reported back in ``migctl.io/geometry-observed``).
    Exactly one of ``desired`` (migctl's annotation), ``mig_config`` (NVIDIA's label) or ``error``.
    """

    source: str
    observed: str
    desired: DesiredGeometry | None = None
    mig_config: str | None = None
    error: str | None = None


def read_request(node: Mapping[str, Any], *, mig_parted: MigPartedConfig | None = None) -> Request | None:
    """The request on ``node``, or ``None`` when nothing is asked.

    ``migctl.io/geometry`` wins over ``nvidia.com/mig.config``; the label is honoured only when a
    mig-parted config file was given (``--mig-parted-config``).
    """
    desired_text = annotations_of(node).get(DESIRED)
    if desired_text is not None and desired_text.strip():
        try:
            return Request(DESIRED, desired_text, desired=parse_desired(desired_text))
        except ProtocolError as exc:
            return Request(DESIRED, desired_text, error=str(exc))
    label = labels_of(node).get(MIG_CONFIG_LABEL)
    if mig_parted is not None and label:
        return Request(MIG_CONFIG_LABEL, label, mig_config=label)
    return None


def _mig_devices(node: Mapping[str, Any]) -> list[Any]:
    """The mig-mode GPUs of the node's HAMi register annotation (none when absent or undecodable)."""
    from migctl.cluster.codecs import AnnotationError, decode_node_register

    text = annotations_of(node).get(HAMI_REGISTER)
    if not text:
        return []
    try:
        register = decode_node_register(text)
    except AnnotationError:
        return []
    return [device for device in register.devices if device.mode == "mig"]


def hami_managed(node: Mapping[str, Any]) -> str | None:
    """Why HAMi v2.10 owns MIG instance creation on this node, or ``None`` (HAMi v2.10.0 ``pkg/device-plugin/nvidiadevice/nvinternal/plugin/mig_startup.go``).

    HAMi v2.10's device plugin publishes ``"mode":"mig"`` devices with ``migProfiles`` in
    ``hami.io/node-nvidia-register`` (``plugin/register.go``: ``discoverMigProfiles``) and destroys instances it does not know
    on idle GPUs; changing them behind its back breaks its reservations.
    """
    managed = [device for device in _mig_devices(node) if device.mig_profiles]
    if not managed:
        return None
    gpus = ", ".join(device.id for device in managed)
    return (
        f"HAMi v2.10 manages MIG instances on this node ({HAMI_REGISTER} lists mig-mode GPUs with migProfiles: "
        f"{gpus}); migctl does not create instances there (hami.md §5.3). "
        "Switch the node out of HAMi's mig mode, or run the daemon with --allow-hami-managed"
    )


def hami_legacy_mig(node: Mapping[str, Any]) -> str | None:
    """A warning when a legacy HAMi (v2.5–v2.9) device plugin runs this node in mig mode.

    That plugin re-applies its own ``knownMigGeometries`` templates at Allocate time through
    mig-parted (HAMi v2.9.0 device plugin, ``pkg/device-plugin/nvidiadevice/nvinternal/plugin/server.go``), so a geometry set here can be replaced behind our back.
    Not a refusal: the admin may be switching the node away from HAMi.
    """
    legacy = [device.id for device in _mig_devices(node) if not device.mig_profiles]
    if not legacy:
        return None
    return (
        f"a legacy HAMi device plugin (v2.5-v2.9) runs GPUs {', '.join(legacy)} in mig mode; it re-applies its own "
        "templates when it allocates, which can replace this geometry"
    )


def same_geometry(a: Geometry | str, b: Geometry | str) -> bool:
    """Whether two geometries mean the same layout (text, at the edge, is parsed; bad text is never the same)."""
    try:
        return Geometry.of(a) == Geometry.of(b)
    except ValueError:
        return False


def targets_for(request: Request, gpus: Sequence[GpuState], mig_parted: MigPartedConfig | None = None) -> dict[int, Geometry]:
    """GPU index -> desired geometry for the GPUs the request covers. Raises :class:`ProtocolError`."""
    if request.error is not None:
        raise ProtocolError(request.error)
    if request.desired is not None:
        return request.desired.targets([GpuRef(gpu.index, gpu.uuid) for gpu in gpus])
    if request.mig_config is not None and mig_parted is not None:
        return mig_parted.targets(request.mig_config, gpus)
    raise ProtocolError(f"{request.source}: nothing to apply")


@dataclass(frozen=True)
class Decision:
    """Either a final ``report`` (``targets`` empty) or the GPUs to change (``targets``)."""

    report: Report
    targets: Mapping[int, Geometry] = field(default_factory=dict)

    @property
    def needs_apply(self) -> bool:
        return bool(self.targets)


def decide(
    request: Request,
    gpus: Sequence[GpuState],
    *,
    hami_reason: str | None = None,
    allow_hami_managed: bool = False,
    mig_parted: MigPartedConfig | None = None,
) -> Decision:
    """Compare the request with the GPUs: report success, failure or refusal now, or apply."""
    applied = {gpu.index: gpu.geometry for gpu in gpus}
    try:
        targets = targets_for(request, gpus, mig_parted)
    except ProtocolError as exc:
        return Decision(Report(State.failed, request.observed, applied, f"invalid request: {exc}"))
    by_index = {gpu.index: gpu for gpu in gpus}
    # A GPU whose last apply died midway goes through the engine even if it looks right: the
    # engine completes or rolls back its journal first (migctl.apply.engine).
    changes = {
        index: geometry
        for index, geometry in targets.items()
        if by_index[index].interrupted or by_index[index].geometry != geometry
    }
    if not changes:
        return Decision(Report(State.success, request.observed, applied))
    if hami_reason is not None and not allow_hami_managed:
        return Decision(Report(State.refused, request.observed, applied, hami_reason))
    return Decision(Report(State.applying, request.observed, applied), targets=changes)


@dataclass
class RetryGate:
    """Spaces out new attempts at a request that failed or was refused: ``base * 2**(n-1)``, capped.

    A new ``observed`` value starts afresh. Invalid requests are not retried at all until their value
    changes (the same text fails the same way). Time is passed in (monotonic seconds).
    """

    base: float = 30.0
    cap: float = 600.0
    observed: str | None = None
    failures: int = 0
    not_before: float = 0.0
    final: bool = False

    def allows(self, observed: str, now: float) -> bool:
        if observed != self.observed:
            return True
        return not self.final and now >= self.not_before

    def record(self, observed: str, state: State, now: float, *, retryable: bool = True) -> None:
        if observed != self.observed:
            self.observed, self.failures, self.final = observed, 0, False
        if state is State.success:
            self.failures, self.not_before, self.final = 0, 0.0, False
            return
        self.failures += 1
        self.final = not retryable
        self.not_before = now + min(self.cap, self.base * 2 ** (self.failures - 1))

    def reset(self) -> None:
        """Nothing to retry (the request went away or was answered without an apply)."""
        self.observed, self.failures, self.not_before, self.final = None, 0, 0.0, False

    def next_retry_in(self, now: float) -> float | None:
        if self.final or self.failures == 0:
            return None
        return max(0.0, self.not_before - now)
