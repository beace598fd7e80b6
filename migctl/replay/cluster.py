"""The replay's cluster: the trace's nodes mapped to a MIG-capable GPU model, or a snapshot as it is.

The trace's GPUs (V100, T4, ...) cannot run MIG, so each node of the node list becomes a node of
the same CPU and memory with the same number of GPUs of a catalogue model (``--gpu-model``), and a
share of the nodes registers its GPUs in ``mig`` mode (``--mig-nodes``), the rest ``hami-core``.
The nodes are written as Kubernetes Node objects with the ``hami.io/node-nvidia-register``
annotation a device plugin would publish (v2.8+ JSON: ``count`` = the config's ``deviceSplitCount``,
``devmem`` = the model's memory) and go through :class:`migctl.cluster.model.Cluster` and
:func:`migctl.simulate.build.state_from_cluster`, the path ``migctl simulate`` takes, so templates
(v2.9) and ``migProfiles`` (v2.10, derived from the catalogue) are attached as for a real cluster.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from migctl.errors import InputError
from migctl.replay.openb import TraceNode
from migctl.replay.trace import TraceError

REGISTER = "hami.io/node-nvidia-register"


@dataclass(frozen=True, slots=True)
class MigNodes:
    """Which nodes run MIG: a count, a percentage of the nodes, or names."""

    count: int | None = None
    percent: float | None = None
    names: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> MigNodes:
        text = text.strip()
        if not text:
            raise InputError("--mig-nodes: empty (give N, P% or NAME,...)")
        if text.endswith("%"):
            try:
                p = float(text[:-1])
            except ValueError:
                raise InputError(f"--mig-nodes: {text!r} is not a percentage") from None
            if not 0 <= p <= 100:
                raise InputError(f"--mig-nodes: {text} is outside 0%..100%")
            return cls(percent=p)
        if text.isdigit():
            return cls(count=int(text))
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        return cls(names=names)

    def __str__(self) -> str:
        if self.percent is not None:
            return f"{self.percent:g}%"
        if self.count is not None:
            return str(self.count)
        return ",".join(self.names)

    def select(self, names: Sequence[str]) -> set[str]:
        """The MIG nodes among ``names`` (in list order). A count or a share is spread evenly over
        the list (node i is MIG when ``floor((i+1)k/n) > floor(ik/n)``), so it takes every kind of
        node of the list alike rather than its first rows."""
        if self.names:
            unknown = [n for n in self.names if n not in set(names)]
            if unknown:
                raise InputError(f"--mig-nodes: no node named {', '.join(unknown[:5])} in the node list")
            return set(self.names)
        n = len(names)
        k = self.count if self.count is not None else round(n * (self.percent or 0) / 100)
        if k > n:
            raise InputError(f"--mig-nodes: {k} nodes asked for, the node list has {n}")
        return {names[i] for i in range(n) if (i + 1) * k // n > i * k // n}


@dataclass(frozen=True, slots=True)
class GpuModels:
    """``--gpu-model``: one catalogue key for every trace GPU, or ``TRACE_MODEL=KEY,...``."""

    default: str | None
    by_trace_model: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> GpuModels:
        if "=" not in text:
            return cls(text.strip())
        pairs = []
        default = None
        for part in text.split(","):
            key, sep, value = part.partition("=")
            if not sep or not key.strip() or not value.strip():
                raise InputError(f"--gpu-model: {part!r}: expected TRACE_MODEL=KEY (or one KEY for all)")
            if key.strip() == "*":
                default = value.strip()
            else:
                pairs.append((key.strip(), value.strip()))
        return cls(default, tuple(pairs))

    def key_for(self, node: TraceNode) -> str:
        for trace_model, key in self.by_trace_model:
            if trace_model == node.model:
                return key
        if self.default is None:
            raise TraceError(f"{node.where}: column model: {node.model!r} has no --gpu-model mapping "
                             f"(mapped: {', '.join(m for m, _ in self.by_trace_model)}; add {node.model}=KEY or *=KEY)")
        return self.default

    def keys(self) -> list[str]:
        return ([self.default] if self.default else []) + [k for _, k in self.by_trace_model]


def resolve_model(key: str, catalogue: Any) -> Any:
    """The catalogue model for ``key``; InputError listing the keys when unknown or not MIG-capable."""
    try:
        model = catalogue.model(key)
    except KeyError:
        raise InputError(f"--gpu-model: unknown GPU model {key!r}",
                         hint=f"one of: {', '.join(catalogue.keys)} ('migctl hardware list')") from None
    if not model.total_memory_mib:
        raise InputError(f"--gpu-model: the catalogue has no total memory for {key!r}")
    return model


def node_objects(nodes: Sequence[TraceNode], models: GpuModels, mig: set[str], catalogue: Any,
                 split_count: int) -> list[dict[str, Any]]:
    """Kubernetes Node objects for the trace's nodes, GPUs registered as a device plugin would."""
    resolved: dict[str, Any] = {}
    out = []
    for node in nodes:
        key = models.key_for(node)
        model = resolved.get(key) or resolved.setdefault(key, resolve_model(key, catalogue))
        mode = "mig" if node.name in mig else "hami-core"
        gpu_type = model.nvml_names[0]
        devices = [
            {"id": f"GPU-{node.name}-{i}", "index": i, "count": split_count, "devmem": model.total_memory_mib,
             "devcore": 100, "type": gpu_type, "numa": 0, "mode": mode, "health": True}
            for i in range(node.gpus)
        ]
        out.append({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": node.name, "labels": {"kubernetes.io/hostname": node.name,
                                                       "migctl.io/trace-gpu-model": node.model},
                         "annotations": {REGISTER: json.dumps(devices, separators=(",", ":"))}},
            "status": {
                "allocatable": {"cpu": f"{node.cpu_milli}m", "memory": f"{node.memory_mib}Mi",
                                "nvidia.com/gpu": str(node.gpus * split_count)},
                "capacity": {"cpu": f"{node.cpu_milli}m", "memory": f"{node.memory_mib}Mi"},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        })
    return out


def model_memory(models: GpuModels, catalogue: Any) -> int:
    """The GPU memory the trace's shares are taken of: the (first) mapped model's total memory."""
    keys = models.keys()
    if not keys:
        raise InputError("--gpu-model: no model given")
    return int(resolve_model(keys[0], catalogue).total_memory_mib)
