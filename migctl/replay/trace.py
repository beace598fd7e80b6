"""A workload trace: pods with an arrival time and how long each runs once placed.

Two kinds of task:

- a pod given as a Pod spec (Pod YAML traces): :attr:`Task.pod` is the :class:`PodSpec` as it is;
- a task of a GPU-sharing trace (openb): :attr:`Task.ask` holds what the trace says (GPU count, GPU
  share in thousandths, CPU, memory), and :func:`materialize` turns it into the HAMi request of
  the chosen GPU model (:func:`gpu_request`, the documented mapping rule).

Times are seconds (floats); a task without a duration runs until the end of the replay.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from migctl.errors import InputError

from migctl.simulate.pod import ContainerSpec, PodSpec

class TraceError(InputError):
    """A trace or node list that cannot be read (exit 2); the message names file, line and column."""


def parse_seconds(value: str, where: str) -> float:
    """A trace time: seconds, a finite number >= 0; ``where`` starts the error ("file:line: column c")."""
    try:
        t = float(value)
    except ValueError:
        raise TraceError(f"{where}: expected seconds, got {value!r}") from None
    if not t >= 0 or t == float("inf"):
        raise TraceError(f"{where}: expected seconds >= 0, got {value!r}")
    return t


ARRIVAL = "migctl.io/arrival"
DURATION = "migctl.io/duration"
TRACE_NAMESPACE = "trace"


@dataclass(frozen=True, slots=True)
class GpuAsk:
    """One task of a GPU-sharing trace (the openb columns)."""

    num_gpu: int
    gpu_milli: int  # share of one GPU in thousandths (num_gpu == 1); 1000 = the whole GPU
    cpu_milli: int
    memory_mib: int


@dataclass(frozen=True, slots=True)
class Task:
    name: str
    arrival: float
    duration: float | None  # None: runs to the end of the replay
    where: str  # "file:line" of the task, for messages
    pod: PodSpec | None = None
    ask: GpuAsk | None = None


@dataclass(frozen=True, slots=True)
class Trace:
    tasks: tuple[Task, ...]
    source: str
    kind: str  # "openb" | "pods"

    def __len__(self) -> int:
        return len(self.tasks)


@dataclass(frozen=True, slots=True)
class Resources:
    """The HAMi resource names of the device-config in use."""

    count: str = "nvidia.com/gpu"
    memory: str = "nvidia.com/gpumem"


def gpu_request(ask: GpuAsk, model_memory_mib: int) -> tuple[int, int | None]:
    """The mapping rule from a trace's GPU share to a HAMi request: ``(gpu count, gpumem MiB | None)``.

    - ``num_gpu == 0``: no GPU (count 0);
    - one GPU with ``gpu_milli < 1000``: one GPU and ``gpumem = ceil(gpu_milli / 1000 x the model's
      memory)`` MiB; no ``gpucores`` (HAMi's default cores apply). On a MIG GPU HAMi then takes the
      smallest slot (v2.9) or profile (v2.10) whose memory covers it;
    - whole GPUs (``gpu_milli >= 1000``, or several GPUs): ``nvidia.com/gpu: N`` alone, which HAMi's
      webhook turns into exclusive whole cards (100 % memory, ``gpucores: 100``).
    """
    if ask.num_gpu <= 0:
        return 0, None
    if ask.num_gpu == 1 and 0 < ask.gpu_milli < 1000:
        return 1, math.ceil(ask.gpu_milli * model_memory_mib / 1000)
    return ask.num_gpu, None


def pod_for(task: Task, model_memory_mib: int, resources: Resources = Resources()) -> PodSpec:
    """The pod a task submits (its own spec, or the trace ask mapped by :func:`gpu_request`)."""
    if task.pod is not None:
        return task.pod
    ask = task.ask
    assert ask is not None
    limits: dict[str, object] = {}
    count, memory = gpu_request(ask, model_memory_mib)
    if count:
        limits[resources.count] = count
        if memory is not None:
            limits[resources.memory] = memory
    requests = {"cpu": f"{ask.cpu_milli}m", "memory": f"{ask.memory_mib}Mi"}
    return PodSpec(TRACE_NAMESPACE, task.name, {}, (ContainerSpec("main", limits, requests),), source=task.where)


def materialize(trace: Trace, model_memory_mib: int, resources: Resources = Resources()) -> list[PodSpec]:
    """Every task's pod, in trace order."""
    return [pod_for(t, model_memory_mib, resources) for t in trace.tasks]

