"""The NVML edge.

- :mod:`migctl.nvml.session`: :func:`~migctl.nvml.session.open_session` (the edge: chooses the
  simulator or the real driver) and the session's type, ``NvmlSessionLike``;
- :mod:`migctl.nvml.adapter`: talks to NVML through pynvml (``NvmlSession``, ``GpuInfo``);
- :mod:`migctl.nvml.tables`: NVML's return codes and profile enums, shared by adapter and fake;
- :mod:`migctl.nvml.fake`: a simulated NVML placed under pynvml.

Nothing here imports pynvml at module level; opening a session does.
"""
