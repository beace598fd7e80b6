"""NVML's numeric tables that both the adapter and the simulated NVML use (pure; nvml.h).

- return codes (``nvmlReturn_t``: ``NVML_SUCCESS``, ``NVML_ERROR_*``);
- GPU-instance profile enums (``NVML_GPU_INSTANCE_PROFILE_*``, 0..17) and the attribute each
  ``_REV``/``_ME``/``_GFX``/``_NO_ME``/``_ALL_ME`` variant stands for;
- compute-instance profile enums (``NVML_COMPUTE_INSTANCE_PROFILE_*``, 0..8) and their slices.

Source: NVIDIA's ``nvml.h`` (CUDA toolkit / NVML API reference, "Multi Instance GPU Management"),
the same values nvidia-ml-py's ``pynvml`` defines.
"""

from __future__ import annotations

SUCCESS = 0
ERROR_UNINITIALIZED = 1
ERROR_INVALID_ARGUMENT = 2
ERROR_NOT_SUPPORTED = 3
ERROR_NO_PERMISSION = 4
ERROR_NOT_FOUND = 6
ERROR_INSUFFICIENT_SIZE = 7
ERROR_DRIVER_NOT_LOADED = 9
ERROR_RESET_REQUIRED = 16
ERROR_IN_USE = 19
ERROR_INSUFFICIENT_RESOURCES = 23
ERROR_ARGUMENT_VERSION_MISMATCH = 25
ERROR_UNKNOWN = 999

#: ``NVML_GPU_INSTANCE_PROFILE_COUNT`` and ``NVML_COMPUTE_INSTANCE_PROFILE_COUNT`` (nvml.h).
GI_PROFILE_COUNT = 18
CI_PROFILE_COUNT = 9

#: GI profile enum -> profile-name attribute (nvml.h ``NVML_GPU_INSTANCE_PROFILE_1_SLICE_REV1`` = 7
#: is ``+me``, ``_GFX`` = 10..12 and 17 ``+gfx``, ``_NO_ME`` = 13, 14 ``-me``, ``_ALL_ME`` = 15, 16 ``+me.all``).
GI_ENUM_ATTRIBUTE = {
    7: "+me", 8: "+me", 10: "+gfx", 11: "+gfx", 12: "+gfx", 17: "+gfx",
    13: "-me", 14: "-me", 15: "+me.all", 16: "+me.all",
}
#: CI profile enum -> compute slices (nvml.h ``NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE`` = 0 ..
#: ``_6_SLICE`` = 6, ``_1_SLICE_REV1`` = 7, ``_2_SLICE_REV1`` = 8 per nvml.h; 8 is the 7-slice NVL variant).
CI_ENUM_SLICES = {0: 1, 1: 2, 2: 3, 3: 4, 4: 7, 5: 8, 6: 6, 7: 1, 8: 7}
