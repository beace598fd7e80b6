"""The Node annotation protocol between the cluster and ``migctl node daemon`` (pure codec).

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

NVIDIA compatibility (``mig-parted.md`` §4.1): the label ``nvidia.com/mig.config`` selects a
mig-parted config by name, and the daemon answers in the label ``nvidia.com/mig.config.state``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

DESIRED = "migctl.io/geometry"
STATE = "migctl.io/geometry-state"
APPLIED = "migctl.io/geometry-applied"
MESSAGE = "migctl.io/geometry-message"
OBSERVED = "migctl.io/geometry-observed"

MIG_CONFIG_LABEL = "nvidia.com/mig.config"
MIG_CONFIG_STATE_LABEL = "nvidia.com/mig.config.state"

DISABLED = "disabled"
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


#: ``nvidia.com/mig.config.state`` values NVIDIA's mig-manager writes (``mig-parted.md`` §4.1).
MIG_PARTED_STATES = {
    State.pending: "pending",
    State.applying: "pending",
    State.success: "success",
    State.failed: "failed",
    State.refused: "failed",
}


class ProtocolError(ValueError):
    """An annotation value that does not follow the protocol; the message says what and where."""


def canonical_geometry(text: str, *, where: str = DESIRED) -> str:
    """``disabled`` or the canonical ``PROFILE:COUNT,...`` form of ``text`` (larger profiles first).

    ``""`` is a valid geometry: MIG enabled with no instances.
    """
    from migctl.hardware.geometry import format_geometry, parse_geometry

    stripped = text.strip()
    if stripped.lower() == DISABLED:
        return DISABLED
    try:
        return format_geometry(parse_geometry(stripped))
    except ValueError as exc:
        raise ProtocolError(f"{where}: {text!r} is not a geometry ({exc})") from None


def _is_selector(key: str) -> bool:
    return key == EVERY_GPU or key.isdigit() or key.startswith(("GPU-", "MIG-"))


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

    per_gpu: tuple[tuple[str, str], ...]

    @classmethod
    def every_gpu(cls, geometry: str) -> DesiredGeometry:
        return cls(((EVERY_GPU, canonical_geometry(geometry)),))

    @property
    def mapping(self) -> dict[str, str]:
        return dict(self.per_gpu)

    def to_annotation(self) -> str:
        """The annotation text: plain when one geometry covers every GPU, else sorted JSON."""
        mapping = self.mapping
        if list(mapping) == [EVERY_GPU]:
            return mapping[EVERY_GPU]
        return json.dumps(dict(sorted(mapping.items(), key=_selector_order)), separators=(",", ":"))

    def targets(self, gpus: Sequence[GpuRef]) -> dict[int, str]:
        """Resolve the selectors against this node's GPUs: GPU index -> canonical geometry.

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
        result: dict[int, str] = {}
        for gpu in gpus:
            for key in (gpu.uuid, str(gpu.index), EVERY_GPU):
                if key in mapping:
                    result[gpu.index] = mapping[key]
                    break
        return result


def _selector_order(item: tuple[str, str]) -> tuple[int, int, str]:
    key = item[0]
    if key == EVERY_GPU:
        return (0, 0, key)
    if key.isdigit():
        return (1, int(key), key)
    return (2, 0, key)


def parse_desired(text: str) -> DesiredGeometry:
    """Parse the desired annotation. Raises :class:`ProtocolError` naming the field on bad input."""
    if len(text) > MAX_DESIRED_LENGTH:
        raise ProtocolError(f"{DESIRED}: value is {len(text)} characters, more than {MAX_DESIRED_LENGTH}")
    stripped = text.strip()
    if not stripped.startswith("{"):
        return DesiredGeometry(((EVERY_GPU, canonical_geometry(stripped)),))
    try:
        raw = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"{DESIRED}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if not isinstance(raw, dict) or not raw:
        raise ProtocolError(f"{DESIRED}: the JSON must be a non-empty object of GPU index or UUID -> geometry")
    per_gpu: dict[str, str] = {}
    for key, value in raw.items():
        selector = key.strip()
        if not _is_selector(selector):
            raise ProtocolError(f"{DESIRED}: key {key!r} is not a GPU index, a GPU UUID (GPU-...) or '*'")
        if not isinstance(value, str):
            raise ProtocolError(f"{DESIRED}: GPU {key!r}: the geometry must be a string, not {type(value).__name__}")
        if selector in per_gpu:
            raise ProtocolError(f"{DESIRED}: GPU {key!r} is listed twice")
        per_gpu[selector] = canonical_geometry(value, where=f"{DESIRED} GPU {key!r}")
    return DesiredGeometry(tuple(sorted(per_gpu.items(), key=_selector_order)))


def with_gpu_geometry(current: str | None, geometry: str, gpus: Sequence[str] = ()) -> str:
    """The desired annotation after an admin sets ``geometry`` (for ``migctl node set-geometry``).

    Without ``gpus`` the geometry covers every GPU and replaces whatever was asked before. With
    ``gpus`` (indices or UUIDs) only those entries change; the rest of the current request stays,
    a plain current value becoming the ``*`` entry. Raises :class:`ProtocolError`.
    """
    canonical = canonical_geometry(geometry, where="GEOMETRY")
    if not gpus:
        return DesiredGeometry(((EVERY_GPU, canonical),)).to_annotation()
    mapping: dict[str, str] = {}
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
    applied: Mapping[int, str] = field(default_factory=dict)
    message: str | None = None

    def to_annotations(self) -> dict[str, str | None]:
        """The annotation values to merge-patch; ``None`` removes a stale message."""
        applied = {str(index): geometry for index, geometry in sorted(self.applied.items())}
        return {
            STATE: self.state.value,
            APPLIED: json.dumps(applied, separators=(",", ":")),
            MESSAGE: self.message or None,
            OBSERVED: self.observed,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "observed": self.observed,
            "applied": {str(index): geometry for index, geometry in sorted(self.applied.items())},
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
    applied: dict[int, str] = {}
    try:
        raw = json.loads(annotations.get(APPLIED) or "{}")
    except json.JSONDecodeError:
        raw = {}
    if isinstance(raw, dict):
        for key, value in raw.items():
            if isinstance(key, str) and key.isdigit() and isinstance(value, str):
                applied[int(key)] = value
    return Report(state, annotations.get(OBSERVED), applied, annotations.get(MESSAGE))


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
