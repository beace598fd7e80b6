"""Board tables of the simulated NVML: each catalogue model's GI profiles as NVML publishes them
(profile enum, board profile ID, placements in memory-slice units, instance caps, engines).

Source: nvml.h (``nvmlGpuInstanceProfileInfo_t``, ``nvmlDeviceGetGpuInstancePossiblePlacements``)
and NVIDIA's MIG User Guide, "Supported MIG Profiles".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from migctl.nvml.tables import GI_ENUM_ATTRIBUTE


#: CI enums the fake refuses, like real boards do for the REV1/NVL variants (NVIDIA/k8s-dra-driver-gpu issue #1480).
_CI_ENUMS_UNSUPPORTED = {7, 8}


class FakeStateError(ValueError):
    """The fake NVML state (file or GPU spec) cannot be used; the message names the field."""


@dataclass(frozen=True)
class BoardProfile:
    """One GPU-instance profile as a board publishes it through NVML."""

    enum: int
    board_id: int
    name: str
    compute_slices: int
    size: int
    starts: tuple[int, ...]
    max_instances: int
    memory_mib: int
    multiprocessors: int
    copy_engines: int
    decoders: int
    encoders: int
    jpeg: int
    ofa: int
    attribute: str

    @property
    def nvml_name(self) -> str:
        return f"MIG {self.name}"


def _int(value: Any, default: int = 0) -> int:
    return int(value) if isinstance(value, int) else default


def board_table(model: Any) -> dict[int, BoardProfile]:
    """GI profiles of a catalogue model keyed by NVML enum (profiles without placements are left out).

    Profiles whose board ID is not known get the synthetic ID ``100 + enum``.
    """
    table: dict[int, BoardProfile] = {}
    for p in getattr(model, "profiles", ()):
        enum = getattr(p, "nvml_profile_value", None)
        if not isinstance(enum, int) or enum in table or not p.placement_size or not p.placement_starts:
            continue
        board_id = p.board_profile_id if isinstance(p.board_profile_id, int) else 100 + enum
        table[enum] = BoardProfile(
            enum=enum,
            board_id=board_id,
            name=p.name,
            compute_slices=p.compute_slices,
            size=p.placement_size,
            starts=tuple(p.placement_starts),
            max_instances=_int(p.max_instances, len(p.placement_starts)),
            memory_mib=_int(p.memory_mib),
            multiprocessors=_int(p.multiprocessors),
            copy_engines=_int(p.copy_engines),
            decoders=_int(p.decoders),
            encoders=_int(p.encoders),
            jpeg=_int(p.jpeg),
            ofa=_int(p.ofa),
            attribute=GI_ENUM_ATTRIBUTE.get(enum, ""),
        )
    return table


def _architecture(model: Any) -> tuple[int, tuple[int, int], bool]:
    """(NVML architecture constant, compute capability, reset-less MIG mode change)."""
    text = str(getattr(model, "architecture", "") or "")
    key = str(getattr(model, "key", ""))
    if "Ampere" in text or key.startswith(("a100", "a30")):
        return 7, (8, 0), False
    if "Hopper" in text or key.startswith(("h1", "h2", "gh2")):
        return 9, (9, 0), True
    if "CC 12" in text:
        return 10, (12, 0), True
    return 10, (10, 0), True
