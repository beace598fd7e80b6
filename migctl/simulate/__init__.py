"""The HAMi scheduler simulation: where pods would land, or why they would stay Pending.

Pure core (no I/O). The pieces, in the order a pod meets them:

- :mod:`~migctl.simulate.workloads` / :mod:`~migctl.simulate.pod`: pods from YAML objects;
- :mod:`~migctl.simulate.requests`: the webhook and HAMi's per-container requests (HAMi pkg/device/nvidia/device.go MutateAdmission; HAMi pkg/device/nvidia/device.go GenerateResourceRequests);
- :mod:`~migctl.simulate.kube_filters`: kube-scheduler's own filters;
- :mod:`~migctl.simulate.fit` and :mod:`~migctl.simulate.mig`: Fit and MIG instance choice (HAMi pkg/device/nvidia/device.go Fit–4.6);
- :mod:`~migctl.simulate.scoring`: GPU and node scores and sorts (HAMi pkg/scheduler/policy/gpu_policy.go–4.9);
- :mod:`~migctl.simulate.engine`: pods one after another (:class:`Simulator`).

The scheduler reads the device-config's ``nvidia`` section as :class:`migctl.config.model.NvidiaConfig`
(``DeviceConfig.nvidia``, or ``NvidiaConfig.hami_defaults()`` without a config).

Typical use (or the whole ``migctl simulate`` in one call: :func:`migctl.api.simulate`)::

    state = ClusterState(); state.add(Node("n1", gpus=[Gpu(...)]))
    result = Simulator(state, NvidiaConfig.hami_defaults(), SimulationOptions()).run(pods)
"""

import sys
import types
from typing import Any

from migctl.simulate.engine import SimulationOptions, Simulator
from migctl.simulate.result import PodResult, SimulationResult
from migctl.simulate.state import ClusterState, Gpu, MigProfileSpec, MigTemplate, Node, Placement
from migctl.simulate.version import HamiVersion

__all__ = [
    "ClusterState", "Gpu", "HamiVersion", "MigProfileSpec", "MigTemplate", "Node", "Placement", "PodResult",
    "SimulationOptions", "SimulationResult", "Simulator",
]


class _SimulateModule(types.ModuleType):
    """``migctl.simulate`` is both this package and the API function :func:`migctl.api.simulate`: once the
    package is imported, Python binds it as the attribute ``migctl.simulate``, so calling the package calls
    the function (``migctl.simulate(cluster, pods)`` works either way)."""

    def __call__(self, *args: Any, **kwargs: Any) -> SimulationResult:
        from migctl.api import simulate

        return simulate(*args, **kwargs)


sys.modules[__name__].__class__ = _SimulateModule
