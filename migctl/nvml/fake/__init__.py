"""A simulated NVML placed *under* pynvml, so pynvml's own ctypes marshalling runs for real.

pynvml looks every C function up by name in ``pynvml.nvmlLib`` (through ``_nvmlGetFunctionPointer``,
which caches what it finds). :class:`FakeNvml` replaces that library object with one whose attributes
are ``ctypes.CFUNCTYPE`` callbacks named like the C functions: pointer arguments are ``c_void_p`` and
results are written through casts into the very structs pynvml allocated. Nothing of pynvml's Python
layer is patched.

What is modelled (nvml.h and NVIDIA's MIG User Guide, "Supported MIG Profiles" and "Placements"):

- per model, from the hardware catalogue: GI profiles by NVML enum, the board profile IDs every other
  call takes (nvml.h: ``nvmlDeviceGetGpuInstanceProfileInfo`` answers ``info.id``), possible placements in NVML memory-slice units,
  ``instanceCount`` caps (``+me`` at most one), ``+me.all`` exclusivity (only ``-me`` beside it);
- placement rules: a placement not in the list is ``INVALID_ARGUMENT``; an occupied one
  ``INSUFFICIENT_RESOURCES`` (not "already exists", as real drivers answer);
- CIs inside a GI (capacity in slices), GI destroy with CIs left is ``IN_USE``, destroying a CI with
  processes is ``IN_USE``, any GI/CI call while MIG is off is ``NOT_SUPPORTED``, ``GetMigMode`` on a
  non-MIG board is ``NOT_SUPPORTED``;
- ``nvmlDeviceSetMigMode``: applied at once when the GPU is idle; with ``clients_holding`` or
  processes running the call succeeds, the mode stays *pending* and the activation status is
  ``IN_USE`` (nvml.h); with ``passthrough`` it is ``RESET_REQUIRED``; when MIG goes off, the instances
  are lost (k8s-test-infra's mock does the same). :func:`reset_gpu` and
  :func:`reboot` finish pending changes (a reboot wipes geometry, and on Hopper+ also the mode:
  MIG User Guide, "Enable MIG Mode");
- GPU instance IDs are placement slots as on real boards (the full GPU instance is GI 0);
- MIG device handles and UUIDs (new UUID on every re-create), compute and graphics processes per
  compute instance (both make it busy); MIG device indices keep gaps where a device was destroyed
  and reuse the lowest free one;
- a wrong ``instanceCount`` reported by NVML (``nvml_instance_count``, the A30 trap) while the board
  keeps enforcing its real limits;
- permissions (state ``user``, :data:`USERS`): MIG writes need root, listing instances root or the
  MIG monitor capability, aggregate processes of a MIG GPU root; ``driver_loaded: false`` makes
  ``nvmlInit`` fail with ``DRIVER_NOT_LOADED``; ``profiles_need_mig_on: true`` is an older driver
  (535) that answers no GI profile info while MIG is off; every call outside an
  ``nvmlInit``/``nvmlShutdown`` pair is ``UNINITIALIZED``; NULL count/output pointers are
  ``INVALID_ARGUMENT``;
- injected faults: the N-th call of an operation fails with an NVML error, or "crashes" the process
  (``os._exit``) right after the call took effect, to leave a half-done apply behind.

The state is a JSON document (see :class:`FakeState`, README "fake NVML state file"); with a path it
is read when the session opens (and on :meth:`FakeNvml.reload`) and written after every change.

The package: :mod:`~migctl.nvml.fake.boards` (board tables from the catalogue),
:mod:`~migctl.nvml.fake.state` (the state and its file), :mod:`~migctl.nvml.fake.faults` (injected
faults), :mod:`~migctl.nvml.fake.library` (the C-function table, :class:`FakeNvml`),
:mod:`~migctl.nvml.fake.env` (``MIGCTL_FAKE_NVML*``: the simulator an edge opens). NVML's numeric
tables are shared with the adapter in :mod:`migctl.nvml.tables`.
"""


from __future__ import annotations

from migctl.nvml.fake.boards import BoardProfile, FakeStateError, board_table
from migctl.nvml.fake.faults import FAULT_OPERATIONS, Fault, parse_faults
from migctl.nvml.fake.library import FakeNvml
from migctl.nvml.fake.state import (
    MAX_MIG_DEVICES,
    USERS,
    FakeComputeInstance,
    FakeGpu,
    FakeGpuInstance,
    FakeState,
    reboot,
    reset_gpu,
)

__all__ = [
    "FAULT_OPERATIONS",
    "MAX_MIG_DEVICES",
    "USERS",
    "BoardProfile",
    "FakeComputeInstance",
    "FakeGpu",
    "FakeGpuInstance",
    "FakeNvml",
    "FakeState",
    "FakeStateError",
    "Fault",
    "board_table",
    "parse_faults",
    "reboot",
    "reset_gpu",
]
