"""migctl: the admin console for NVIDIA MIG on Kubernetes with HAMi dynamic MIG.

The package is library-first: the Typer commands in ``migctl.cli`` are thin adapters over the
functions below (each parses options, calls one function, renders). The names are loaded lazily on
first use, so ``import migctl`` (and ``migctl --help``) stays fast::

    import migctl

    report = migctl.validate_config("examples/device-config.yaml")
    cluster = migctl.load_cluster(snapshot="examples/cluster.yaml")
    result = migctl.simulate(cluster, "examples/pods.yaml")
    status = migctl.cluster_status(cluster)
    headroom = migctl.capacity_report(cluster, shapes=["gpu=1,gpumem=10000,mode=mig"])
    figures = migctl.replay_trace("examples/trace.yaml", nodes="examples/trace-nodes.csv")

Failures raise :class:`MigctlError` subclasses (``InputError``, ``CheckFailed``, ``UnreachableError``,
``RefusedError``, ``ResetRequiredError``), each carrying the CLI's exit code.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> the module that defines it (imported on first access)
_LAZY = {
    "validate_config": "migctl.api",
    "load_cluster": "migctl.api",
    "simulate": "migctl.api",
    "cluster_status": "migctl.api",
    "read_pods": "migctl.api",
    "capacity_report": "migctl.api",
    "read_trace": "migctl.api",
    "replay_trace": "migctl.api",
    "advise_config": "migctl.api",
    "advise_defrag": "migctl.api",
    "ReplayReport": "migctl.api",
    "ConfigAdvice": "migctl.api",
    "DefragAdvice": "migctl.api",
    "ValidationReport": "migctl.api",
    "ConfigFindings": "migctl.api",
    "apply_geometries": "migctl.apply",
    "set_geometry": "migctl.daemon.request",
    "MigctlError": "migctl.errors",
    "InputError": "migctl.errors",
    "CheckFailed": "migctl.errors",
    "UnreachableError": "migctl.errors",
    "RefusedError": "migctl.errors",
    "ResetRequiredError": "migctl.errors",
    "ExitCode": "migctl.errors",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load on first use
    from migctl.api import (
        ConfigAdvice,
        ConfigFindings,
        DefragAdvice,
        ReplayReport,
        ValidationReport,
        advise_config,
        advise_defrag,
        capacity_report,
        cluster_status,
        load_cluster,
        read_pods,
        read_trace,
        replay_trace,
        simulate,
        validate_config,
    )
    from migctl.apply import apply_geometries
    from migctl.daemon.request import set_geometry
    from migctl.errors import (
        CheckFailed,
        ExitCode,
        InputError,
        MigctlError,
        RefusedError,
        ResetRequiredError,
        UnreachableError,
    )


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'migctl' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

# Where the documentation lives (SARIF rule links, the krew manifest). Forks: change it here only.
__url__ = "https://github.com/example/migctl"
README_URL = f"{__url__}/blob/main/README.md"
