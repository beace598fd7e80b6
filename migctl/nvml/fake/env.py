"""``MIGCTL_FAKE_NVML*``: the simulator a command or the daemon opens instead of the real NVML.

- ``MIGCTL_FAKE_NVML=PATH``: the simulated node's state file (created from
  ``MIGCTL_FAKE_NVML_GPUS``, e.g. ``NVIDIA A100-SXM4-40GB:2``, when it does not exist);
- ``MIGCTL_FAKE_NVML_FAIL=OP:N[:CODE|:crash],...``: injected faults.

Only the edge that opens a session (:func:`migctl.nvml.session.open_session`) reads these.
"""

from __future__ import annotations

import os
from pathlib import Path

from migctl.errors import InputError
from migctl.nvml.fake.boards import FakeStateError
from migctl.nvml.fake.faults import parse_faults
from migctl.nvml.fake.library import FakeNvml
from migctl.nvml.fake.state import FakeState

__all__ = ["simulator_from_env"]


def simulator_from_env(environ: os._Environ[str] | dict[str, str] | None = None) -> FakeNvml | None:
    """The simulator ``MIGCTL_FAKE_NVML`` selects, or ``None`` (use the real NVML).

    A bad setting is :class:`~migctl.errors.InputError` naming the variable (exit 2).
    """
    env = os.environ if environ is None else environ
    path_text = env.get("MIGCTL_FAKE_NVML", "").strip()
    if not path_text:
        return None
    path = Path(path_text)
    try:
        if path.exists():
            state = FakeState.load(path)
        else:
            spec = env.get("MIGCTL_FAKE_NVML_GPUS", "").strip()
            if not spec:
                raise FakeStateError(
                    f"MIGCTL_FAKE_NVML={path}: the file does not exist; set MIGCTL_FAKE_NVML_GPUS "
                    "(e.g. 'NVIDIA A100-SXM4-40GB:2') to create it"
                )
            state = FakeState.from_spec(spec)
            if not path.parent.is_dir():
                raise FakeStateError(f"MIGCTL_FAKE_NVML={path}: directory {path.parent} does not exist")
            state.save(path)
        faults = parse_faults(env.get("MIGCTL_FAKE_NVML_FAIL", ""))
    except FakeStateError as exc:
        raise InputError(str(exc)) from None
    except OSError as exc:
        raise InputError(f"MIGCTL_FAKE_NVML={path}: {exc.strerror or exc}") from None
    return FakeNvml(state, path=path, faults=faults)
