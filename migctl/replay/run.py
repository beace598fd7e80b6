"""One replay variant from start to figures, and variants as ``KEY=VALUE`` overrides.

:func:`run_variant` is the library entry point (``migctl replay`` and ``migctl advise`` use it): its
arguments are plain picklable values, so it can run in worker processes. It builds the cluster the
way ``migctl simulate`` does (:func:`migctl.simulate.build.state_from_cluster`), maps the trace's
tasks to pods, and replays them (:func:`migctl.replay.engine.replay`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from migctl.errors import InputError
from migctl.replay.cluster import GpuModels, MigNodes, model_memory, node_objects
from migctl.replay.engine import DROP, QUEUE, GpuMeter, ReplayFigures, ReplayOptions, replay
from migctl.replay.openb import TraceNode
from migctl.replay.trace import Resources, Trace, materialize

VERSIONS = ("auto", "2.9", "2.10")
NODE_POLICIES = ("binpack", "spread")
GPU_POLICIES = ("binpack", "spread", "topology-aware", "mutex")
NODE_SCORES = ("hami", "combined")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a variant can change. ``device_config`` is a loaded
    :class:`migctl.config.model.DeviceConfig` (None: HAMi's built-in defaults)."""

    device_config: Any = None
    config_name: str = "HAMi defaults"
    hami_version: str = "auto"
    node_policy: str = "binpack"
    gpu_policy: str = "spread"
    node_score: str = "hami"
    gpu_model: str = "a100-40gb"
    mig_nodes: str = "50%"
    on_fail: str = QUEUE
    scale_arrivals: float = 1.0
    samples: int = 200
    keep_running: bool = False
    fgd: bool = True

    def describe(self) -> dict[str, Any]:
        return {"config": self.config_name, "hami_version": self.hami_version, "node_policy": self.node_policy,
                "gpu_policy": self.gpu_policy, "node_score": self.node_score, "gpu_model": self.gpu_model,
                "mig_nodes": self.mig_nodes, "on_fail": self.on_fail, "scale_arrivals": self.scale_arrivals}


#: variant keys -> Settings field
VARIANT_KEYS = {
    "config": "device_config", "hami-version": "hami_version", "node-policy": "node_policy",
    "gpu-policy": "gpu_policy", "node-score": "node_score", "gpu-model": "gpu_model", "mig-nodes": "mig_nodes",
    "on-fail": "on_fail", "scale-arrivals": "scale_arrivals",
}
_CHOICES = {"hami_version": VERSIONS, "node_policy": NODE_POLICIES, "gpu_policy": GPU_POLICIES,
            "node_score": NODE_SCORES, "on_fail": (QUEUE, DROP)}


def check_settings(settings: Settings, where: str = "") -> Settings:
    """InputError for a value outside its choices."""
    prefix = f"{where}: " if where else ""
    for name, choices in _CHOICES.items():
        value = getattr(settings, name)
        if value not in choices:
            raise InputError(f"{prefix}{name.replace('_', '-')}: {value!r} is not one of {', '.join(choices)}")
    if not settings.scale_arrivals > 0:
        raise InputError(f"{prefix}scale-arrivals: must be > 0, got {settings.scale_arrivals}")
    MigNodes.parse(settings.mig_nodes)
    GpuModels.parse(settings.gpu_model)
    return settings


def split_variant(text: str) -> list[tuple[str, str]]:
    """``node-policy=spread,mig-nodes=a,b`` -> [(key, value)]: a comma starts a new pair only where a
    known key and ``=`` follow, so node-name lists keep their commas."""
    pairs: list[list[str]] = []
    rest = text.strip()
    while rest:
        key, sep, value = rest.partition("=")
        key = key.strip()
        if not sep or key not in VARIANT_KEYS:
            raise InputError(f"--variant {text!r}: {key!r} is not a variant key "
                             f"(one of {', '.join(VARIANT_KEYS)}; form KEY=VALUE[,KEY=VALUE])")
        cut = len(value)
        for other in VARIANT_KEYS:
            at = value.find(f",{other}=")
            if at >= 0:
                cut = min(cut, at)
        pairs.append([key, value[:cut].strip()])
        rest = value[cut + 1:] if cut < len(value) else ""
    if not pairs:
        raise InputError("--variant: empty (form KEY=VALUE)")
    return [(k, v) for k, v in pairs]


def apply_variant(base: Settings, text: str, load_config: Callable[[str], tuple[Any, str]]) -> Settings:
    """``base`` with the variant's overrides; ``load_config(path)`` -> (DeviceConfig, name) reads a file."""
    changes: dict[str, Any] = {}
    for key, value in split_variant(text):
        name = VARIANT_KEYS[key]
        if not value:
            raise InputError(f"--variant {text!r}: {key} has no value")
        if name == "device_config":
            changes["device_config"], changes["config_name"] = load_config(value)
        elif name == "scale_arrivals":
            try:
                changes[name] = float(value)
            except ValueError:
                raise InputError(f"--variant {text!r}: scale-arrivals: {value!r} is not a number") from None
        else:
            changes[name] = value
    return check_settings(dataclasses.replace(base, **changes), f"--variant {text!r}")


@dataclass(frozen=True, slots=True)
class ClusterInput:
    """The nodes to replay on: a trace's node list, or a snapshot (a :class:`migctl.cluster.model.Cluster`)."""

    nodes: tuple[TraceNode, ...] = ()
    snapshot: Any = None
    source: str = ""


@dataclass(slots=True)
class Prepared:
    """A variant's cluster state, scheduler and pods, ready to replay."""

    simulator: Any
    pods: list[Any]
    meter: GpuMeter
    version: Any
    notes: list[str] = field(default_factory=list)


def _compute_slices(catalogue: Any) -> Callable[[Any], int]:
    cache: dict[str, int] = {}

    def slices(gpu: Any) -> int:
        hit = cache.get(gpu.type)
        if hit is None:
            match = catalogue.lookup(gpu.type)
            hit = cache[gpu.type] = int(match.model.compute_slices) if match is not None else 7
        return hit

    return slices


def prepare(trace: Trace, cluster_input: ClusterInput, settings: Settings, *,
            with_fgd: bool = True) -> Prepared:
    """Build the variant's cluster, scheduler config, simulator and the trace's pods."""
    from migctl.cluster.model import Cluster
    from migctl.hardware.catalogue import load_catalogue
    from migctl.config.model import scheduler_nvidia_config
    from migctl.simulate import HamiVersion, SimulationOptions, Simulator
    from migctl.simulate.build import evidence_from_cluster, state_from_cluster
    from migctl.simulate.version import infer_version

    check_settings(settings)
    catalogue = load_catalogue()
    config = scheduler_nvidia_config(settings.device_config)
    models = GpuModels.parse(settings.gpu_model)
    notes: list[str] = []
    if cluster_input.snapshot is not None:
        snap = cluster_input.snapshot
        cluster = Cluster(nodes=list(snap.nodes), pods=list(snap.pods) if settings.keep_running else [],
                          source=snap.source)
        cluster.finish()
    else:
        names = [n.name for n in cluster_input.nodes]
        mig = MigNodes.parse(settings.mig_nodes).select(names)
        cluster = Cluster.from_objects(node_objects(cluster_input.nodes, models, mig, catalogue,
                                                    config.effective_device_split_count),
                                       source=cluster_input.source)
    if settings.hami_version == "auto":
        version, note = infer_version(evidence_from_cluster(cluster, config))
    else:
        version, note = HamiVersion(settings.hami_version), f"HAMi {settings.hami_version} (set)"
    notes.append(note)
    state = state_from_cluster(cluster, config, version, catalogue=catalogue, notes=notes)
    pods = materialize(trace, model_memory(models, catalogue),
                       Resources(config.resource_count_name, config.resource_memory_name))
    options = SimulationOptions(version=version, node_policy=settings.node_policy, gpu_policy=settings.gpu_policy,
                                node_score=settings.node_score)
    simulator = Simulator(state, config, options)
    fgd = None
    if with_fgd:
        from migctl.replay.fragmentation import fgd_probe

        fgd = fgd_probe(pods, state, config, options)
    meter = GpuMeter(state, compute_slices=_compute_slices(catalogue), fgd=fgd, legacy=version.legacy)
    return Prepared(simulator, pods, meter, version, list(dict.fromkeys(notes)))


def run_variant(trace: Trace, cluster_input: ClusterInput, settings: Settings, name: str = "base", *,
                on_progress: Callable[[int], None] | None = None) -> ReplayFigures:
    """Replay ``trace`` on the cluster under ``settings``; the figures of this one variant.

    Picklable in and out (safe to call in worker processes). Raises :class:`InputError` for
    settings that do not apply (unknown GPU model, bad ``mig_nodes``).
    """
    prepared = prepare(trace, cluster_input, settings, with_fgd=settings.fgd)
    figures = replay(prepared.simulator, prepared.pods, [t.arrival for t in trace.tasks],
                     [t.duration for t in trace.tasks],
                     ReplayOptions(on_fail=settings.on_fail, scale_arrivals=settings.scale_arrivals,
                                   samples=settings.samples),
                     meter=prepared.meter, name=name, on_progress=on_progress)
    figures.settings = settings.describe() | {
        "hami_version": prepared.version.value,
        "mig_gpus": sum(1 for n in prepared.simulator.state.nodes.values() for g in n.gpus if g.is_mig),
        "gpus": sum(len(n.gpus) for n in prepared.simulator.state.nodes.values()),
        "nodes": len(prepared.simulator.state.nodes),
        "notes": prepared.notes,
    }
    return figures


def compare(trace: Trace, cluster_input: ClusterInput, variants: Sequence[tuple[str, Settings]], *,
            jobs: int = 1, on_progress: Callable[[int], None] | None = None) -> list[ReplayFigures]:
    """Every variant, in order. ``jobs > 1`` runs them in that many worker processes (the figures are
    the same: each variant is deterministic and independent); progress then moves a variant at a time."""
    if jobs <= 1 or len(variants) <= 1:
        return [run_variant(trace, cluster_input, s, name, on_progress=on_progress) for name, s in variants]
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(min(jobs, len(variants)), mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(run_variant, trace, cluster_input, s, name) for name, s in variants]
        out = []
        for future in futures:
            out.append(future.result())
            if on_progress is not None:
                on_progress(len(trace))
        return out
