"""A shape: one pod's GPU request as HAMi sees it, and the pod the simulator places for it.

API (stable; ``migctl replay`` and ``migctl advise`` build on it)::

    from migctl.capacity.shapes import Shape, ShapeError, default_shapes, shapes_from_pods
    s = Shape.parse("gpu=1,gpumem=10000,mode=mig")   # ShapeError (a ValueError) names the bad field
    str(s)                  # "gpu=1,gpumem=10000,mode=mig": the canonical text, parse(str(s)) == s
    s.count, s.memory_mib, s.memory_percent, s.cores, s.mode   # mode: "mig" | "hami-core" | "either"
    s.to_pod(config, name="capacity-0")     # a migctl.simulate PodSpec asking exactly this (config's resource names)
    s.with_count(1)                         # the same request for one GPU
    default_shapes(state, config)           # [(Shape, weight)]: MIG slot sizes per model present, hami-core 1/4, 1/2, 1
    shapes_from_pods(pods, config)          # ([(Shape, weight)], notes): distinct shapes of real pods, weight = share

Text form: comma-separated ``key=value``; keys ``gpu`` (count, default 1), ``gpumem`` (MiB as the pod's
``nvidia.com/gpumem`` limit, or ``N%`` for ``gpumem-percentage``), ``cores`` (``gpucores``, percent of a
GPU's compute) and ``mode`` (``nvidia.com/vgpu-mode``: ``mig``, ``hami-core``, or ``either``, the default,
which leaves the annotation off). Omitted keys are omitted from the pod too, so HAMi's webhook and
defaults apply to them as to a real pod (``gpu=1`` alone gets the exclusive ``gpucores: 100``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

MODES = ("mig", "hami-core", "either")
VGPU_MODE = "nvidia.com/vgpu-mode"
_KEYS = {"gpu": "gpu", "count": "gpu", "gpumem": "gpumem", "memory": "gpumem", "gpumem-percentage": "gpumem%",
         "cores": "cores", "gpucores": "cores", "mode": "mode", "vgpu-mode": "mode"}
_FORM = "gpu=N,gpumem=MiB|P%,cores=P,mode=mig|hami-core|either"


class ShapeError(ValueError):
    """A shape text (or a pod) that is not a valid shape; the message names the field."""


@dataclass(frozen=True, slots=True)
class Shape:
    """One pod's GPU request: ``count`` GPUs, each ``memory_mib`` (or ``memory_percent``) and ``cores``."""

    count: int = 1
    memory_mib: int | None = None
    memory_percent: int | None = None
    cores: int | None = None
    mode: str = "either"

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ShapeError(f"gpu: expected a whole number >= 1, got {self.count!r}")
        if self.memory_mib is not None and self.memory_percent is not None:
            raise ShapeError("gpumem: give MiB or a percentage, not both")
        if self.memory_mib is not None and self.memory_mib < 1:
            raise ShapeError(f"gpumem: expected MiB >= 1, got {self.memory_mib}")
        if self.memory_percent is not None and not 1 <= self.memory_percent <= 100:
            raise ShapeError(f"gpumem: a percentage must be 1-100, got {self.memory_percent}%")
        if self.cores is not None and not 0 <= self.cores <= 100:
            raise ShapeError(f"cores: expected 0-100 (percent of a GPU), got {self.cores}")
        if self.mode not in MODES:
            raise ShapeError(f"mode: expected one of {', '.join(MODES)}, got {self.mode!r}")

    # ------------------------------------------------------------------ text

    @classmethod
    def parse(cls, text: str) -> Shape:
        """``gpu=1,gpumem=10000,mode=mig`` -> Shape; :class:`ShapeError` names the bad field."""
        if not isinstance(text, str) or not text.strip():
            raise ShapeError(f"empty shape; expected {_FORM}")
        fields: dict[str, Any] = {}
        seen: set[str] = set()
        for part in text.split(","):
            key, sep, value = part.strip().partition("=")
            key, value = key.strip().lower(), value.strip()
            if not sep or not key:
                raise ShapeError(f"{part.strip()!r}: expected key=value ({_FORM})")
            canon = _KEYS.get(key)
            if canon is None:
                raise ShapeError(f"{key}: unknown key (known: gpu, gpumem, cores, mode)")
            slot = "gpumem" if canon == "gpumem%" else canon
            if slot in seen:
                raise ShapeError(f"{key}: given twice")
            seen.add(slot)
            if canon == "mode":
                fields["mode"] = value.lower()
            elif canon == "gpumem" and value.endswith("%"):
                fields["memory_percent"] = _whole(value[:-1].strip(), key)
            elif canon == "gpumem%":
                fields["memory_percent"] = _whole(value.rstrip("%"), key)
            elif canon == "gpumem":
                fields["memory_mib"] = _whole(value, key)
            elif canon == "cores":
                fields["cores"] = _whole(value, key)
            else:
                fields["count"] = _whole(value, key)
        return cls(**fields)

    def __str__(self) -> str:
        parts = [f"gpu={self.count}"]
        if self.memory_mib is not None:
            parts.append(f"gpumem={self.memory_mib}")
        elif self.memory_percent is not None:
            parts.append(f"gpumem={self.memory_percent}%")
        if self.cores is not None:
            parts.append(f"cores={self.cores}")
        if self.mode != "either":
            parts.append(f"mode={self.mode}")
        return ",".join(parts)

    def with_count(self, count: int) -> Shape:
        return replace(self, count=count)

    # ------------------------------------------------------------------ pods

    def pod_object(self, config: Any = None, *, name: str = "capacity-probe",
                   namespace: str = "migctl-capacity") -> dict[str, Any]:
        """The Pod object (a dict) asking for this shape with the config's resource names."""
        from migctl.config.model import NvidiaConfig

        cfg = config if config is not None else NvidiaConfig.hami_defaults()
        limits: dict[str, Any] = {cfg.resource_count_name: self.count}
        if self.memory_mib is not None:
            limits[cfg.resource_memory_name] = self.memory_mib
        if self.memory_percent is not None:
            if not cfg.resource_memory_percentage_name:
                raise ShapeError(f"gpumem={self.memory_percent}%: the device-config sets no "
                                 "resourceMemoryPercentageName, so no pod can ask for a percentage; give MiB")
            limits[cfg.resource_memory_percentage_name] = self.memory_percent
        if self.cores is not None:
            limits[cfg.resource_core_name] = self.cores
        meta: dict[str, Any] = {"name": name, "namespace": namespace}
        if self.mode != "either":
            meta["annotations"] = {VGPU_MODE: self.mode}
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
                "spec": {"containers": [{"name": "main", "resources": {"limits": limits}}]}}

    def to_pod(self, config: Any = None, *, name: str = "capacity-probe", namespace: str = "migctl-capacity") -> Any:
        """The :class:`migctl.simulate.pod.PodSpec` the simulator places for this shape."""
        from migctl.simulate.workloads import Document, pods_from_documents

        return pods_from_documents([Document(self.pod_object(config, name=name, namespace=namespace), "shape")])[0]


def _whole(value: str, key: str) -> int:
    """ASCII digits (an optional sign) only: ``１`` and ``1_0`` are not numbers here, nor 5,000 digits."""
    digits = value[1:] if value[:1] in "+-" else value
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
        from migctl.yamlio.numbers import shorten

        raise ShapeError(f"{key}: expected a whole number, got {shorten(value)}")
    return int(value)


# ---------------------------------------------------------------------- default and workload shapes


def default_shapes(state: Any, config: Any = None) -> list[tuple[Shape, float]]:
    """The shapes an admin asks about first, equal weights.

    One MIG shape per distinct slot memory of the MIG GPUs present (v2.9: the ``knownMigGeometries``
    templates for each model present; v2.10: the published ``migProfiles``), smallest first; then, per
    distinct memory size of the hami-core GPUs present, the shares 1/4 and 1/2 of a GPU (memory in MiB
    and cores) and a whole GPU.
    """
    sizes: set[int] = set()
    seen: set[tuple[int, int]] = set()
    core_sizes: set[int] = set()
    for node in state.nodes.values():
        for gpu in node.gpus:
            if not gpu.is_mig:
                if gpu.totalmem > 0:
                    core_sizes.add(gpu.totalmem)
                continue
            key = id(gpu.templates), id(gpu.profiles)
            if key in seen:
                continue
            seen.add(key)
            for geometry in gpu.templates:
                sizes.update(t.memory for t in geometry if t.memory > 0)
            sizes.update(p.memory_mb for p in gpu.profiles if p.memory_mb > 0)
    factor = max(getattr(config, "memory_factor", 1) or 1, 1)
    shapes = [Shape(1, memory_mib=-(-m // factor), mode="mig") for m in sorted(sizes)]
    for total in sorted(core_sizes):
        shapes += [Shape(1, memory_mib=max(1, total // 4 // factor), cores=25, mode="hami-core"),
                   Shape(1, memory_mib=max(1, total // 2 // factor), cores=50, mode="hami-core"),
                   Shape(1, memory_mib=max(1, total // factor), cores=100, mode="hami-core")]
    return [(s, 1.0) for s in dict.fromkeys(shapes)]


def shape_of_pod(pod: Any, config: Any) -> Shape | None:
    """The shape of a pod with one GPU container (None: no container asks for a GPU).

    Reads the container's limits (then requests) under the config's resource names, as HAMi does;
    ``ShapeError`` when several containers ask for GPUs or a value is not a whole number in range.
    """
    from migctl.capacity._hami import as_int64

    cfg = config
    names = (cfg.resource_count_name, cfg.resource_memory_name, cfg.resource_memory_percentage_name,
             cfg.resource_core_name)
    found = []
    for c in pod.containers:
        values = {}
        for n in names:
            if not n:
                continue
            raw = c.limits.get(n, c.requests.get(n))
            if raw is not None:
                values[n] = raw
        if values:
            found.append((c, values))
    if not found:
        return None
    if len(found) > 1:
        raise ShapeError(f"{len(found)} containers ask for GPUs ({', '.join(c.name for c, _ in found)}); "
                         "a shape is one container's request")
    c, values = found[0]
    from migctl.simulate.requests import gpu_quantity_problem

    for name, raw in values.items():
        problem = gpu_quantity_problem(raw)
        if problem is not None:
            raise ShapeError(f"container {c.name}: {name}: {problem}")

    def number(name: str) -> int | None:
        if name not in values:
            return None
        n = as_int64(values[name])
        if n is None:
            raise ShapeError(f"{name}: not a whole number: {values[name]!r}")
        return n

    count = number(cfg.resource_count_name)
    if count is None:
        count = cfg.default_gpu_num
    if count is None or count < 1:
        return None
    mode = pod.annotations.get(VGPU_MODE, "either").strip() or "either"
    if mode not in MODES:
        raise ShapeError(f"annotation {VGPU_MODE}: {mode!r} is not one of mig, hami-core")
    try:
        percent = number(cfg.resource_memory_percentage_name) if cfg.resource_memory_percentage_name else None
        return Shape(count=count, memory_mib=number(cfg.resource_memory_name), memory_percent=percent,
                     cores=number(cfg.resource_core_name), mode=mode)
    except ShapeError as exc:
        raise ShapeError(f"container {c.name}: {exc}") from None


def shapes_from_pods(pods: list[Any], config: Any) -> tuple[list[tuple[Shape, float]], list[str]]:
    """Distinct shapes of the pods that ask for GPUs, weighted by their share of those pods (first seen
    first). Only the GPU request is kept (CPU, selectors and other annotations are not part of a shape);
    the notes say what was left out. ``ShapeError`` names the pod whose request is not a shape."""
    counts: dict[Shape, int] = {}
    skipped = 0
    for pod in pods:
        try:
            shape = shape_of_pod(pod, config)
        except ShapeError as exc:
            where = f"{pod.source}: " if getattr(pod, "source", "") else ""
            raise ShapeError(f"{where}pod {pod.key}: {exc}") from None
        if shape is None:
            skipped += 1
            continue
        counts[shape] = counts.get(shape, 0) + 1
    total = sum(counts.values())
    notes = [f"{skipped} pod(s) ask for no GPU and are left out"] if skipped else []
    return [(s, n / total) for s, n in counts.items()], notes
