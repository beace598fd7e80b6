"""The edge that opens an NVML session, and the session's type as its consumers see it.

:func:`open_session` is what commands and the node daemon call: it chooses the NVML behind the
session, the simulated one (:mod:`migctl.nvml.fake`, selected by ``MIGCTL_FAKE_NVML`` or given
as ``fake``) or the real driver, and opens it through the adapter
(:func:`migctl.nvml.adapter.open_nvml`), which itself never reads the environment.

:class:`NvmlSessionLike` is the typed interface of an open session
(:class:`migctl.nvml.adapter.NvmlSession` implements it) for code such as
:mod:`migctl.apply.engine` that drives one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from migctl.nvml.adapter import GpuInfo, ModeChange
    from migctl.nvml.fake import FakeNvml

__all__ = ["NvmlSessionLike", "open_session"]


class NvmlSessionLike(Protocol):
    """An open NVML session: reads of the GPUs' MIG state and the MIG writes (indices are NVML's)."""

    writes: int  # MIG writes made through this session so far

    def refresh(self) -> None: ...

    def device_count(self) -> int: ...

    def select(self, selector: str | int | None = "all") -> list[int]: ...

    def uuid(self, index: int) -> str: ...

    def gpus(self, selector: str | int | None = "all") -> list[GpuInfo]: ...

    def gpu(self, index: int) -> GpuInfo: ...

    def set_mig_mode(self, index: int, enabled: bool) -> ModeChange: ...

    def create_gpu_instance(self, index: int, profile_id: int, start: int, size: int, *, name: str = "") -> int: ...

    def create_compute_instance(self, index: int, gi_id: int) -> int: ...

    def destroy_compute_instance(self, index: int, gi_id: int, ci_id: int) -> None: ...

    def destroy_gpu_instance(self, index: int, gi_id: int) -> None: ...


@contextlib.contextmanager
def open_session(fake: FakeNvml | None = None) -> Iterator[NvmlSessionLike]:
    """One NVML session (``nvmlInit`` .. ``nvmlShutdown``) on the simulator or the real driver.

    ``fake`` selects that simulator; otherwise ``MIGCTL_FAKE_NVML=PATH`` (with
    ``MIGCTL_FAKE_NVML_GPUS`` to create the file, ``MIGCTL_FAKE_NVML_FAIL`` to inject faults)
    selects one from its state file; otherwise the real NVML. NVML missing is
    :class:`~migctl.errors.UnreachableError` (exit 3); a bad simulator setting is
    :class:`~migctl.errors.InputError` (exit 2).
    """
    from migctl.nvml.adapter import open_nvml

    if fake is None:
        from migctl.nvml.fake.env import simulator_from_env

        fake = simulator_from_env()
    with open_nvml(fake) as session:
        yield session
