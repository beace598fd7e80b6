"""The NVML edge: ``adapter`` talks to NVML through pynvml, ``fake`` simulates NVML under pynvml.

Nothing here imports pynvml at module level; :func:`migctl.nvml.adapter.open_session` does.
"""
