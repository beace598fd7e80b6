"""Injected faults of the simulated NVML (``MIGCTL_FAKE_NVML_FAIL=OP:N[:CODE|:crash],...``)."""

from __future__ import annotations

from dataclasses import dataclass

import pynvml

from migctl.nvml.fake.boards import FakeStateError
from migctl.nvml.tables import ERROR_UNKNOWN


#: Operations whose calls can be made to fail (``MIGCTL_FAKE_NVML_FAIL=OP:N``).
FAULT_OPERATIONS = (
    "create_gpu_instance",
    "create_compute_instance",
    "destroy_gpu_instance",
    "destroy_compute_instance",
    "set_mig_mode",
)


@dataclass(frozen=True)
class Fault:
    """The ``nth`` call of ``operation`` returns ``code`` (or, with ``crash``, exits the process after it)."""

    operation: str
    nth: int
    code: int = ERROR_UNKNOWN
    crash: bool = False


def parse_faults(text: str) -> tuple[Fault, ...]:
    """``"create_gpu_instance:2,destroy_gpu_instance:1:IN_USE,set_mig_mode:1:crash"`` -> faults."""
    faults = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        bits = part.split(":")
        if len(bits) not in (2, 3) or bits[0] not in FAULT_OPERATIONS or not bits[1].isdigit() or int(bits[1]) < 1:
            raise FakeStateError(
                f"MIGCTL_FAKE_NVML_FAIL: {part!r}: expected OP:N[:ERROR|crash] with OP one of {', '.join(FAULT_OPERATIONS)}"
            )
        code, crash = ERROR_UNKNOWN, False
        if len(bits) == 3:
            if bits[2] == "crash":
                crash = True
            else:
                code_value = getattr(pynvml, f"NVML_ERROR_{bits[2].upper()}", None)
                if not isinstance(code_value, int):
                    raise FakeStateError(f"MIGCTL_FAKE_NVML_FAIL: {part!r}: unknown NVML error {bits[2]!r}")
                code = code_value
        faults.append(Fault(bits[0], int(bits[1]), code, crash))
    return tuple(faults)
