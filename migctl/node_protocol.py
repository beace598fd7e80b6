"""The ``migctl.io/*`` Node annotation protocol between the cluster and ``migctl node daemon`` (pure codec).

The one home of these keys and their values: the daemon reads requests and writes reports with
it, ``migctl node set-geometry`` writes requests with it, and ``migctl status`` reads reports
through :func:`decode_applied` (re-exported by :mod:`migctl.cluster.codecs`). Geometries are
:class:`~migctl.hardware.geometry.Geometry` values here; text exists only in the annotations.
One strictness: JSON objects with a repeated key are rejected everywhere.

The cluster asks, each node answers, all through annotations on the Node object:

==================================  ===========  ==============================================================
annotation                          written by   value
==================================  ===========  ==============================================================
``migctl.io/geometry``              admin        desired: one canonical geometry for every GPU
                                                 (``2g.10gb:3,1g.5gb:1``), ``disabled``, or a JSON object
                                                 mapping a GPU index or UUID (or ``*``: every other GPU) to
                                                 one (``{"0": "2g.10gb:3,1g.5gb:1", "1": "1g.5gb:7"}``)
``migctl.io/geometry-state``        daemon       ``pending`` | ``applying`` | ``success`` | ``failed`` | ``refused``
``migctl.io/geometry-applied``      daemon       JSON: GPU index -> canonical geometry actually in place
``migctl.io/geometry-message``      daemon       why (for ``failed`` / ``refused``); absent otherwise
``migctl.io/geometry-observed``     daemon       the desired value the state answers, so a waiting admin
                                                 never mistakes the answer to an older request for theirs
==================================  ===========  ==============================================================

The daemon only reads the desired annotation; it never clears or rewrites it. Patches are JSON
merge patches of ``metadata.annotations`` (``None`` removes a key).

NVIDIA compatibility (NVIDIA/mig-parted, ``deployments/gpu-operator/reconfigure-mig.sh`` and the
GPU Operator's mig-manager): the label ``nvidia.com/mig.config`` selects a mig-parted config by
name, and the daemon answers in the label ``nvidia.com/mig.config.state``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from migctl.hardware.geometry import Geometry
from migctl.yamlio.numbers import NumberTooLong, loads_json

DESIRED = "migctl.io/geometry"
STATE = "migctl.io/geometry-state"
APPLIED = "migctl.io/geometry-applied"
MESSAGE = "migctl.io/geometry-message"
OBSERVED = "migctl.io/geometry-observed"

MIG_CONFIG_LABEL = "nvidia.com/mig.config"
MIG_CONFIG_STATE_LABEL = "nvidia.com/mig.config.state"

EVERY_GPU = "*"

#: An annotation value is limited only by the object's 256 KiB annotation budget; a geometry
#: mapping for 16 GPUs is well under 2 KiB. Reject anything absurd before parsing it.
MAX_DESIRED_LENGTH = 16 * 1024


class State(str, Enum):
    """The daemon's answer in ``migctl.io/geometry-state``."""

    pending = "pending"  # seen, waiting for its turn (another change or an API outage in the way)
    applying = "applying"  # the engine is changing the GPUs now
    success = "success"  # every GPU holds the desired geometry
    failed = "failed"  # the change failed and was rolled back, or the request is invalid
    refused = "refused"  # not done for safety (busy instances, HAMi-managed node)

    @property
    def final(self) -> bool:
        return self in (State.success, State.failed, State.refused)


#: ``nvidia.com/mig.config.state`` values NVIDIA's mig-manager writes (GPU Operator mig-manager,
#: ``reconfigure-mig.sh``: pending/success/failed).
MIG_PARTED_STATES = {
    State.pending: "pending",
    State.applying: "pending",
    State.success: "success",
    State.failed: "failed",
    State.refused: "failed",
}


class ProtocolError(ValueError):
    """An annotation value that does not follow the protocol; the message says what and where."""


def read_geometry(text: str | Geometry, *, where: str = DESIRED) -> Geometry:
    """The :class:`Geometry` of one annotation (or argument) value; ``disabled`` is :data:`MIG_OFF`.

    ``""`` is a valid geometry: MIG enabled with no instances. Raises :class:`ProtocolError`.
    """
    if isinstance(text, Geometry):
        return text
    try:
        return Geometry.parse(text)
    except ValueError as exc:
        raise ProtocolError(f"{where}: {text!r} is not a geometry ({exc})") from None


def _object_without_repeats(where: str) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ProtocolError(f"{where}: key {key!r} is listed twice")
            out[key] = value
        return out

    return hook


def _json_object(text: str, where: str) -> Any:
    try:
        return loads_json(text, object_pairs_hook=_object_without_repeats(where))
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"{where}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except NumberTooLong as exc:
        raise ProtocolError(f"{where}: {exc}") from None


def _is_selector(key: str) -> bool:
    return key == EVERY_GPU or _is_index(key) or key.startswith(("GPU-", "MIG-"))


def _is_index(key: str) -> bool:
    """A GPU index: ASCII digits only (``"²"`` and ``"１"`` are not indices), at most 6 of them."""
    return key.isascii() and key.isdigit() and len(key) <= 6


@dataclass(frozen=True)
class GpuRef:
    """The identity of one physical GPU, as the engine enumerates it."""

    index: int
    uuid: str


@dataclass(frozen=True)
class DesiredGeometry:
    """The parsed ``migctl.io/geometry``: a geometry per GPU selector.

    ``per_gpu`` keys are ``"*"`` (every GPU not listed otherwise), a decimal GPU index, or a GPU UUID.
    A plain (non-JSON) annotation is ``{"*": geometry}``.
    """

    per_gpu: tuple[tuple[str, Geometry], ...]

    @classmethod
    def every_gpu(cls, geometry: Geometry | str) -> DesiredGeometry:
        return cls(((EVERY_GPU, read_geometry(geometry)),))

    @property
    def mapping(self) -> dict[str, Geometry]:
        return dict(self.per_gpu)

    def to_annotation(self) -> str:
        """The annotation text: plain when one geometry covers every GPU, else sorted JSON."""
        mapping = self.mapping
        if list(mapping) == [EVERY_GPU]:
            return str(mapping[EVERY_GPU])
        return json.dumps({key: str(value) for key, value in sorted(mapping.items(), key=_selector_order)}, separators=(",", ":"))

    def targets(self, gpus: Sequence[GpuRef]) -> dict[int, Geometry]:
        """Resolve the selectors against this node's GPUs: GPU index -> its desired :class:`Geometry`.

        A GPU named by UUID wins over the same GPU named by index, which wins over ``*``.
        GPUs that no selector covers are absent (left as they are).
        Raises :class:`ProtocolError` when a selector names a GPU this node does not have.
        """
        by_index = {str(gpu.index): gpu for gpu in gpus}
        by_uuid = {gpu.uuid: gpu for gpu in gpus}
        mapping = self.mapping
        unknown = [key for key in mapping if key != EVERY_GPU and key not in by_index and key not in by_uuid]
        if unknown:
            have = ", ".join(f"{gpu.index} ({gpu.uuid})" for gpu in gpus) or "none"
            raise ProtocolError(f"{DESIRED}: no GPU {', '.join(map(repr, unknown))} on this node (GPUs: {have})")
        result: dict[int, Geometry] = {}
        for gpu in gpus:
            for key in (gpu.uuid, str(gpu.index), EVERY_GPU):
                if key in mapping:
                    result[gpu.index] = mapping[key]
                    break
        return result


def _selector_order(item: tuple[str, Geometry]) -> tuple[int, int, str]:
    key = item[0]
    if key == EVERY_GPU:
        return (0, 0, key)
    if _is_index(key):
        return (1, int(key), key)
    return (2, 0, key)


def parse_desired(text: str) -> DesiredGeometry:
    """Parse the desired annotation. Raises :class:`ProtocolError` naming the field on bad input."""
    if len(text) > MAX_DESIRED_LENGTH:
        raise ProtocolError(f"{DESIRED}: value is {len(text)} characters, more than {MAX_DESIRED_LENGTH}")
    stripped = text.strip()
    if not stripped.startswith("{"):
        return DesiredGeometry(((EVERY_GPU, read_geometry(stripped)),))
    raw = _json_object(stripped, DESIRED)
    if not isinstance(raw, dict) or not raw:
        raise ProtocolError(f"{DESIRED}: the JSON must be a non-empty object of GPU index or UUID -> geometry")
    per_gpu: dict[str, Geometry] = {}
    for key, value in raw.items():
        selector = key.strip()
        if not _is_selector(selector):
            raise ProtocolError(f"{DESIRED}: key {key!r} is not a GPU index, a GPU UUID (GPU-...) or '*'")
        if not isinstance(value, str):
            raise ProtocolError(f"{DESIRED}: GPU {key!r}: the geometry must be a string, not {type(value).__name__}")
        if selector in per_gpu:
            raise ProtocolError(f"{DESIRED}: GPU {key!r} is listed twice")
        per_gpu[selector] = read_geometry(value, where=f"{DESIRED} GPU {key!r}")
    return DesiredGeometry(tuple(sorted(per_gpu.items(), key=_selector_order)))


def with_gpu_geometry(current: str | None, geometry: Geometry | str, gpus: Sequence[str] = ()) -> str:
    """The desired annotation after an admin sets ``geometry`` (for ``migctl node set-geometry``).

    Without ``gpus`` the geometry covers every GPU and replaces whatever was asked before. With
    ``gpus`` (indices or UUIDs) only those entries change; the rest of the current request stays,
    a plain current value becoming the ``*`` entry. Raises :class:`ProtocolError`.
    """
    canonical = read_geometry(geometry, where="GEOMETRY")
    if not gpus:
        return DesiredGeometry(((EVERY_GPU, canonical),)).to_annotation()
    mapping: dict[str, Geometry] = {}
    if current and current.strip():
        mapping = parse_desired(current).mapping
    for gpu in gpus:
        selector = gpu.strip()
        if not _is_selector(selector) or selector == EVERY_GPU:
            raise ProtocolError(f"--gpu: {gpu!r} is not a GPU index or a GPU UUID (GPU-...)")
        mapping[selector] = canonical
    return DesiredGeometry(tuple(sorted(mapping.items(), key=_selector_order))).to_annotation()


@dataclass(frozen=True)
class Report:
    """What the daemon says about one desired value (the ``*-state/applied/message/observed`` set)."""

    state: State
    observed: str | None = None
    applied: Mapping[int, Geometry] = field(default_factory=dict)
    message: str | None = None

    def to_annotations(self) -> dict[str, str | None]:
        """The annotation values to merge-patch; ``None`` removes a stale message."""
        return {
            STATE: self.state.value,
            APPLIED: encode_applied(self.applied),
            MESSAGE: self.message or None,
            OBSERVED: self.observed,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "observed": self.observed,
            "applied": {str(index): str(geometry) for index, geometry in sorted(self.applied.items())},
            "message": self.message,
        }


def read_report(annotations: Mapping[str, str] | None) -> Report | None:
    """The daemon's last report on a Node, or ``None`` when it never reported.

    Lenient: a report written by a newer daemon with unknown values reads as far as it can.
    """
    annotations = annotations or {}
    state_text = annotations.get(STATE)
    if state_text is None:
        return None
    try:
        state = State(state_text)
    except ValueError:
        return Report(State.failed, annotations.get(OBSERVED), {}, f"unknown state {state_text!r}")
    applied: dict[int, Geometry] = {}
    try:
        raw = decode_applied(annotations.get(APPLIED) or "{}")
    except ProtocolError:
        raw = {}
    for key, value in raw.items():
        if key.isascii() and key.isdigit():
            try:
                applied[int(key)] = Geometry.parse(value)
            except ValueError:
                continue
    return Report(state, annotations.get(OBSERVED), applied, annotations.get(MESSAGE))


def encode_applied(applied: Mapping[int, Geometry]) -> str:
    """``migctl.io/geometry-applied``: ``{"0":"2g.10gb:3","1":"disabled"}`` (GPU index order)."""
    return json.dumps({str(index): str(geometry) for index, geometry in sorted(applied.items())}, separators=(",", ":"))


def decode_applied(text: str) -> dict[str, str]:
    """``migctl.io/geometry-applied`` -> GPU (index or UUID) -> geometry text, strictly.

    A JSON object of strings, no key twice; else :class:`ProtocolError`. :func:`read_report`
    parses the values to :class:`Geometry`; ``migctl status`` shows them as written.
    """
    raw = _json_object(text, APPLIED)
    if not isinstance(raw, dict):
        raise ProtocolError(f"{APPLIED}: expected a JSON object mapping GPU to geometry")
    out: dict[str, str] = {}
    for gpu, geometry in raw.items():
        if not isinstance(geometry, str):
            raise ProtocolError(f"{APPLIED}: geometry for GPU {gpu!r} must be a string")
        out[str(gpu)] = geometry
    return out


def annotations_patch(values: Mapping[str, str | None]) -> dict[str, Any]:
    """A JSON merge patch of ``metadata.annotations``."""
    return {"metadata": {"annotations": dict(values)}}


def answer_for(annotations: Mapping[str, str] | None, desired: str) -> Report | None:
    """The daemon's final answer to ``desired`` (for ``set-geometry --wait``), or ``None`` if not yet.

    The answer counts only when ``migctl.io/geometry-observed`` equals ``desired``: a ``success``
    left over from an older request is not an answer.
    """
    report = read_report(annotations)
    if report is None or report.observed != desired or not report.state.final:
        return None
    return report
