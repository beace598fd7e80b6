"""Event-driven replay: pods arrive, HAMi's scheduler (the simulator) places them, they run, they leave.

Rules (README, ``migctl replay``):

- arrivals in time order (ties: trace order); at equal times departures come first;
- a new arrival is tried at once, even while others wait (no head-of-line blocking, like
  kube-scheduler's unschedulable queue);
- ``on_fail="queue"``: a pod that cannot be placed waits; after each departure the waiting pods are
  retried in arrival order. ``"drop"``: it is counted and dropped;
- a placed pod runs its duration from the moment it is placed; its departure frees its devices as
  HAMi's next cycle rebuilds them (:class:`migctl.simulate.release.Departures`);
- ``scale_arrivals=K`` divides the gaps between arrivals by K (durations stay);
- the replay ends at the trace's horizon: the last arrival or the last departure the trace names
  (``arrival + duration``), whichever is later. Pods still waiting then are ``waiting``.

Every placement is :meth:`migctl.simulate.Simulator.place`. One shortcut, exact because HAMi's and
kube-scheduler's filters are monotone in usage (a node that does not fit a pod does not fit it after
more pods land; only a departure makes a node freer): ``place`` is not called for a pod that is known
to fail everywhere, namely

- a waiting pod after a departure, unless it fits the freed node alone (the only node that got freer
  since it last failed; :class:`~migctl.replay.probe.Probe` asks kube-scheduler's filters and HAMi's
  ``Fit`` on that node, cached per node version, waiting pods grouped by GPU request);
- an arriving pod whose scheduling signature (its spec without its name), or whose GPU request when
  every node failed HAMi's fit for it, failed everywhere before and fits none of the nodes freed since.

``memo=False`` calls ``place`` every time (a test holds both to the same outcome for every pod).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from migctl.replay.probe import Prepared, Probe, gpu_only_failure
from migctl.simulate.engine import Simulator
from migctl.simulate.pod import PodSpec
from migctl.simulate.release import Departures
from migctl.simulate.state import ClusterState, Gpu

MEMO_DIRTY_LIMIT = 64  # nodes freed since a failure beyond which a pod is simply tried again
QUEUE = "queue"
DROP = "drop"


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    on_fail: str = QUEUE
    scale_arrivals: float = 1.0
    samples: int = 200  # points of the time series
    memo: bool = True


@dataclass(frozen=True, slots=True)
class Sample:
    t: float
    alloc_mem: float  # share of the cluster's GPU memory allocated
    alloc_slices: float | None  # share of the MIG GPUs' compute slices in use (None: no MIG GPU)
    pending: int  # pods waiting
    fgd: float | None  # fragmentation (FGD): expected stranded share of the free GPU memory; None: not measured

    def to_dict(self) -> dict[str, Any]:
        return {"t": round(self.t, 3), "alloc_mem": round(self.alloc_mem, 6),
                "alloc_slices": None if self.alloc_slices is None else round(self.alloc_slices, 6),
                "pending": self.pending, "fgd": None if self.fgd is None else round(self.fgd, 6)}


@dataclass(slots=True)
class PodOutcome:
    """What happened to one task (index into the trace)."""

    placed_at: float | None = None
    node: str | None = None
    dropped: bool = False
    left_at: float | None = None


@dataclass(slots=True)
class ReplayFigures:
    """The figures of one replay (one variant)."""

    name: str
    pods: int = 0
    placed: int = 0
    dropped: int = 0
    waiting: int = 0
    wait_mean_s: float = 0.0
    wait_p95_s: float = 0.0
    alloc_at_first_failure: float | None = None
    fgd_at_first_failure: float | None = None
    first_failure_t: float | None = None
    first_failure_pod: str | None = None
    peak_alloc_mem: float = 0.0
    mean_alloc_mem: float = 0.0
    end_t: float = 0.0
    series: list[Sample] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    outcomes: list[PodOutcome] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "pods": self.pods, "placed": self.placed, "dropped": self.dropped,
            "waiting": self.waiting, "wait_mean_s": round(self.wait_mean_s, 3), "wait_p95_s": round(self.wait_p95_s, 3),
            "alloc_at_first_failure": (None if self.alloc_at_first_failure is None
                                       else round(self.alloc_at_first_failure, 6)),
            "fgd_at_first_failure": (None if self.fgd_at_first_failure is None
                                     else round(self.fgd_at_first_failure, 6)),
            "first_failure_t": self.first_failure_t, "first_failure_pod": self.first_failure_pod,
            "peak_alloc_mem": round(self.peak_alloc_mem, 6), "mean_alloc_mem": round(self.mean_alloc_mem, 6),
            "end_t": self.end_t, "settings": dict(self.settings),
            "series": [s.to_dict() for s in self.series],
        }


def _slices(name: str) -> int:
    head = name.split(".", 1)[0]
    if head.endswith("g") and head[:-1].isdigit():
        return int(head[:-1])
    return 0


class GpuMeter:
    """Cluster-wide allocation kept up to date GPU by GPU (never a whole-cluster pass per event).

    ``fgd`` (optional) measures the cluster's fragmentation now; it is called only at sample times.
    """

    def __init__(self, state: ClusterState, *, compute_slices: Callable[[Gpu], int],
                 fgd: Callable[[], float] | None = None, legacy: bool = True) -> None:
        self.legacy = legacy
        self.compute_slices = compute_slices
        self.measure_fgd = fgd
        self.total_mem = 0
        self.total_slices = 0
        self.used_mem = 0
        self.used_slices = 0
        self._last: dict[int, tuple[int, int]] = {}
        for node in state.nodes.values():
            for gpu in node.gpus:
                self.total_mem += gpu.totalmem
                if gpu.is_mig:
                    self.total_slices += compute_slices(gpu)
                self._last[id(gpu)] = (0, 0)
                self.update(gpu)

    def _slices_used(self, gpu: Gpu) -> int:
        if not gpu.is_mig:
            return 0
        if self.legacy:
            used = sum(_slices(s.name) for s in gpu.usage_list if s.in_use)
            if not used and gpu.used:  # v2.9.0 handed the MIG-mode GPU out whole (no template fitted)
                return self.compute_slices(gpu)
            return used
        sizes = {p.name: p.slice_count for p in gpu.profiles}
        return sum(sizes.get(a.profile, _slices(a.profile)) for a in gpu.allocations)

    def update(self, gpu: Gpu) -> None:
        mem, slices = self._last[id(gpu)]
        new_slices = self._slices_used(gpu)
        self.used_mem += gpu.usedmem - mem
        self.used_slices += new_slices - slices
        self._last[id(gpu)] = (gpu.usedmem, new_slices)

    @property
    def alloc_mem(self) -> float:
        return self.used_mem / self.total_mem if self.total_mem else 0.0

    @property
    def alloc_slices(self) -> float | None:
        return self.used_slices / self.total_slices if self.total_slices else None

    def fgd(self) -> float | None:
        return self.measure_fgd() if self.measure_fgd is not None else None


def _signature(pod: PodSpec) -> tuple:
    """Everything of a pod that the scheduler reads, without its name."""
    return (
        tuple((c.name, c.init, c.privileged, c.sidecar, tuple(sorted((k, str(v)) for k, v in c.limits.items())),
               tuple(sorted((k, str(v)) for k, v in c.requests.items()))) for c in pod.containers),
        tuple(sorted(pod.annotations.items())), tuple(sorted(pod.node_selector.items())),
        pod.affinity_terms, pod.tolerations, pod.node_name, pod.namespace,
    )


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return float(ordered[rank - 1])


def replay(simulator: Simulator, pods: Sequence[PodSpec], arrivals: Sequence[float],
           durations: Sequence[float | None], options: ReplayOptions = ReplayOptions(), *,
           meter: GpuMeter, name: str = "replay", on_progress: Callable[[int], None] | None = None) -> ReplayFigures:
    """Replay the tasks (``pods[i]`` arrives at ``arrivals[i]`` and runs ``durations[i]``) on the
    simulator's state, which it mutates. Pure: no I/O, no clock."""
    if options.on_fail not in (QUEUE, DROP):
        raise ValueError(f"on_fail must be {QUEUE!r} or {DROP!r}, not {options.on_fail!r}")
    if not options.scale_arrivals > 0:
        raise ValueError("scale_arrivals must be > 0")
    n = len(pods)
    departures = Departures(simulator)
    figures = ReplayFigures(name, pods=n, peak_alloc_mem=meter.alloc_mem)
    outcomes = [PodOutcome() for _ in range(n)]
    figures.outcomes = outcomes
    if n == 0:
        return figures
    nodes = simulator.state.nodes
    t0 = min(arrivals)
    k = options.scale_arrivals
    arrive = [t0 + (a - t0) / k for a in arrivals]
    order = sorted(range(n), key=lambda i: (arrive[i], i))
    rank = {i: r for r, i in enumerate(order)}
    horizon = max(arrive)
    for i in range(n):
        d = durations[i]
        if d is not None:
            horizon = max(horizon, arrive[i] + d)
    # the series covers the arrival window (where placement decisions are made), ending at the horizon
    # when everything arrives at once
    last = max(arrive) if max(arrive) > t0 else horizon
    steps = max(options.samples, 2)
    grid = [t0 + (last - t0) * j / (steps - 1) for j in range(steps)] if last > t0 else [t0]
    g = 0
    probe = Probe(simulator)
    prepared: dict[int, Prepared] = {}
    sigs: dict[int, Any] = {}
    freed: list[str] = []  # nodes in the order departures freed them
    sig_failed: dict[Any, int] = {}  # signature -> len(freed) when it last failed on every node
    gpu_failed: dict[Any, int] = {}  # GPU request -> len(freed) when every node failed HAMi's fit for it
    waiting: dict[int, None] = {}  # task -> None, in arrival order
    by_gpu: dict[Any, dict[int, None]] = {}  # waiting tasks grouped by GPU request
    leaving: list[tuple[float, int, int]] = []  # (time, seq, task)
    seq = 0
    waits: list[float] = []
    mem_area = 0.0
    last_t = t0
    last_alloc = meter.alloc_mem

    def prep(i: int) -> Prepared:
        p = prepared.get(i)
        if p is None:
            p = prepared[i] = probe.prepare(pods[i])
        return p

    def sig(i: int) -> Any:
        s = sigs.get(i)
        if s is None:
            s = sigs[i] = _signature(pods[i])
        return s

    def sample_until(t: float, inclusive: bool) -> None:
        nonlocal g
        fgd: Any = False
        while g < len(grid) and (grid[g] < t or (inclusive and grid[g] <= t)):
            if fgd is False:
                fgd = meter.fgd()
            figures.series.append(Sample(grid[g], meter.alloc_mem, meter.alloc_slices, len(waiting), fgd))
            g += 1

    def advance_clock(t: float) -> None:
        nonlocal mem_area, last_t, last_alloc
        mem_area += last_alloc * (t - last_t)
        last_t = t
        last_alloc = meter.alloc_mem

    def still_fails(memo: dict[Any, int], key: Any, check: Callable[[Any], bool]) -> bool:
        """Known to fail everywhere: it did when ``memo`` was written and fits none of the nodes
        freed since (then the memo moves to now)."""
        pos = memo.get(key)
        if pos is None:
            return False
        dirty = dict.fromkeys(freed[pos:])
        if len(dirty) > MEMO_DIRTY_LIMIT:
            del memo[key]
            return False
        if any(check(nodes[x]) for x in dirty):
            return False
        memo[key] = len(freed)
        return True

    def known_to_fail(i: int) -> bool:
        if not options.memo:
            return False
        p = prep(i)
        if still_fails(sig_failed, sig(i), lambda node: probe.fits(p, node)):
            return True
        return p.gpu_key is not None and still_fails(gpu_failed, p.gpu_id, lambda node: probe.gpu_fits(p, node))

    def place(i: int, now: float) -> bool:
        nonlocal seq
        result = departures.place(pods[i])
        if not result.scheduled:
            if options.memo:
                sig_failed[sig(i)] = len(freed)
                p = prep(i)
                if p.gpu_key is not None and gpu_only_failure(result.reason):
                    gpu_failed[p.gpu_id] = len(freed)
            return False
        out = outcomes[i]
        out.placed_at, out.node = now, result.node
        node = nodes[result.node]  # type: ignore[index]
        if result.allocations:
            gpus = {gpu.id: gpu for gpu in node.gpus}
            for gpu_id in dict.fromkeys(a.gpu_id for a in result.allocations):
                meter.update(gpus[gpu_id])
        figures.placed += 1
        waits.append(now - arrive[i])
        d = durations[i]
        if d is not None:
            seq += 1
            heapq.heappush(leaving, (now + d, seq, i))
        if meter.alloc_mem > figures.peak_alloc_mem:
            figures.peak_alloc_mem = meter.alloc_mem
        return True

    def wait(i: int) -> None:
        waiting[i] = None
        if options.memo:
            by_gpu.setdefault(prep(i).gpu_id, {})[i] = None

    def unwait(i: int) -> None:
        del waiting[i]
        if options.memo:
            gpu_id = prep(i).gpu_id
            group = by_gpu[gpu_id]
            del group[i]
            if not group:
                del by_gpu[gpu_id]

    def retry(now: float, freed_node: str) -> None:
        """After a departure, the waiting pods in arrival order. Each failed everywhere before and
        only ``freed_node`` got freer, so only a pod that fits there is tried."""
        if not options.memo:
            for j in list(waiting):
                if place(j, now):
                    unwait(j)
            return
        node = nodes[freed_node]
        candidates = []
        for gpu_id, group in by_gpu.items():
            first = prep(next(iter(group)))
            if probe.gpu_fits(first, node):
                candidates.extend(group)
        candidates.sort(key=rank.__getitem__)
        for j in candidates:
            if probe.fits(prep(j), node) and place(j, now):
                unwait(j)

    def depart_until(t: float) -> None:
        """Every pod due to leave by ``t`` leaves, in time order (the clock and series follow)."""
        while leaving and leaving[0][0] <= t:
            now, _, i = heapq.heappop(leaving)
            sample_until(now, inclusive=False)
            advance_clock(now)
            node_name = outcomes[i].node
            for gpu in departures.release(pods[i].key):
                meter.update(gpu)
            outcomes[i].left_at = now
            freed.append(node_name)  # type: ignore[arg-type]
            if waiting:
                retry(now, node_name)  # type: ignore[arg-type]

    done = 0
    for i in order:
        t = arrive[i]
        depart_until(t)  # departures first at equal times
        sample_until(t, inclusive=False)
        advance_clock(t)
        if known_to_fail(i) or not place(i, t):
            if figures.first_failure_t is None:
                figures.first_failure_t = t
                figures.first_failure_pod = pods[i].key
                figures.alloc_at_first_failure = meter.alloc_mem
                figures.fgd_at_first_failure = meter.fgd()
            if options.on_fail == DROP:
                outcomes[i].dropped = True
                figures.dropped += 1
            else:
                wait(i)
        done += 1
        if on_progress is not None and (done & 255) == 0:
            on_progress(256)
    depart_until(horizon)
    sample_until(horizon, inclusive=True)
    advance_clock(horizon)
    if on_progress is not None and done & 255:
        on_progress(done & 255)
    figures.waiting = len(waiting)
    figures.wait_mean_s = sum(waits) / len(waits) if waits else 0.0
    figures.wait_p95_s = percentile(waits, 95)
    figures.end_t = horizon
    figures.mean_alloc_mem = mem_area / (horizon - t0) if horizon > t0 else meter.alloc_mem
    return figures
