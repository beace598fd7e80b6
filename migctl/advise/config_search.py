"""Search a device-config and MIG/hami-core node split, scored by replaying a workload through HAMi.

What a candidate (:class:`Design`) fixes:

- legacy HAMi (v2.5-v2.9): per GPU model in the cluster, the ``knownMigGeometries`` to list, drawn
  from the catalogue's maximal geometries (``migctl hardware geometries``; profiles with an attribute
  such as ``+me`` are left out), in which order, and the entries inside each geometry in which order.
  Order is the point: HAMi's ``CustomFilterRule``/``AddResourceUsage`` (``pkg/device/nvidia/device.go``
  at v2.9.0) take, on an idle GPU, the first geometry (config order) with an entry whose memory covers
  the request, and on a locked GPU the first free slot (listed order) that covers it. Slot ``memory`` is
  the profile's real memory (NVIDIA's MIG user guide, "Supported MIG Profiles"), ``core`` its share of
  the GPU's SMs, so ``migctl validate config`` finds nothing to say;
- the share of nodes registered in ``mig`` mode, the rest ``hami-core``;
- HAMi v2.10 (its geometry is not configured): the node and GPU scheduler policies and the split.

Score: :func:`migctl.replay.run.run_variant` of the workload, the same replay ``migctl replay`` runs.
Candidates are screened on a deterministic 1/k sample of the nodes and tasks (every k-th, so the
load per node is kept) when the workload is large; the current design and the best few are then
replayed in full, and only full replays are reported.

Bounded, parallel, deterministic: candidates come in rounds of a fixed size, generated from the seed
and from the results of earlier rounds only; a round is scored in worker processes
(``multiprocessing``, results in candidate order) and the budget is checked between rounds. So for one
seed the sequence of candidates and scores is the same whatever the number of processes; the budget
(wall clock) only decides how far along that sequence the search gets, and ``tries`` bounds it by count.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

ROUND = 4  # candidates per round (fixed: determinism does not depend on the number of processes)
SPLITS = ("0%", "25%", "50%", "75%", "100%")
NODE_POLICIES = ("binpack", "spread")
GPU_POLICIES = ("spread", "binpack", "topology-aware", "mutex")

#: the device plugin fields HAMi's chart sets (the validator warns when they are missing)
PLUGIN_DEFAULTS = {"deviceSplitCount": 10, "deviceMemoryScaling": 1, "deviceCoreScaling": 1, "libCudaLogLevel": 1}


# ------------------------------------------------------------------ designs


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a legacy geometry."""

    name: str
    memory: int
    core: int
    count: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "memory": self.memory, "core": self.core, "count": self.count}


Geometry = tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class ModelTemplates:
    """The ``knownMigGeometries`` entry of one GPU model."""

    key: str  # catalogue key
    models: tuple[str, ...]  # the model strings (substrings of the NVML names HAMi matches)
    geometries: tuple[Geometry, ...]


@dataclass(frozen=True, slots=True)
class Design:
    """One candidate: templates per model (legacy), the MIG node share, and (v2.10) policies."""

    templates: tuple[ModelTemplates, ...] = ()
    mig_nodes: str = "50%"
    node_policy: str = "binpack"
    gpu_policy: str = "spread"
    how: str = ""  # how the search made it (for --explain)

    def key(self) -> tuple:
        return (self.templates, self.mig_nodes, self.node_policy, self.gpu_policy)

    def describe(self) -> str:
        parts = [f"mig-nodes={self.mig_nodes}", f"node-policy={self.node_policy}", f"gpu-policy={self.gpu_policy}"]
        for t in self.templates:
            parts.append(f"{t.key}: " + " | ".join(
                ",".join(f"{e.name}:{e.count}" for e in g) for g in t.geometries))
        return "; ".join(parts)


def profile_core(model: Any, profile: Any) -> int:
    """A profile's share of the GPU's SMs in percent (rounded up), what HAMi should account as used."""
    max_mp = max((p.multiprocessors or 0) for p in model.profiles) or 1
    if profile.multiprocessors:
        return min(100, math.ceil(profile.multiprocessors * 100 / max_mp))
    return min(100, math.ceil(profile.compute_slices * 100 / max(model.compute_slices, 1)))


def _slices(name: str) -> int:
    head = name.split(".", 1)[0]
    return int(head[:-1]) if head.endswith("g") and head[:-1].isdigit() else 0


def catalogue_geometries(model: Any) -> list[Geometry]:
    """The model's maximal geometries without attribute profiles, entries smallest first, each
    entry at the profile's real memory and SM share."""
    from migctl.hardware.solver import maximal_geometries

    out: list[Geometry] = []
    for geo in maximal_geometries(model):
        entries = []
        for name, count in geo.items():
            p = model.profile(name)
            if p is None or p.attribute or not p.memory_mib:
                break
            entries.append(Entry(p.name, int(p.memory_mib), profile_core(model, p), int(count)))
        else:
            out.append(tuple(sorted(entries, key=lambda e: (e.memory, _slices(e.name), e.name))))
    return out


def model_strings(model: Any) -> tuple[str, ...]:
    """Model strings for ``knownMigGeometries``: the NVML names without the vendor prefix."""
    names = []
    for n in model.nvml_names:
        s = n[len("NVIDIA "):] if n.startswith("NVIDIA ") else n
        if s not in names:
            names.append(s)
    return tuple(names)


def normalise(model: Any, geometry: Sequence[Any]) -> Geometry | None:
    """A configured geometry with real profile memory and core (None when a name is not the model's)."""
    entries = []
    for t in geometry:
        p = model.profile(t.name)
        if p is None or not p.memory_mib or p.attribute:
            return None
        entries.append(Entry(p.name, int(p.memory_mib), profile_core(model, p), int(t.count)))
    return tuple(entries)


# ------------------------------------------------------------------ the device-config document


def device_config_document(base: dict[str, Any] | None, design: Design) -> dict[str, Any]:
    """A complete device-config: the base's ``nvidia`` settings (node config left out: the scheduler
    ignores it), the chart's device plugin defaults where unset, and ``knownMigGeometries`` with the
    design's entries first and the base's entries for other models after them."""
    nvidia = dict((base or {}).get("nvidia") or {})
    nvidia.pop("knownMigGeometries", None)
    nvidia.pop("nodeconfig", None)  # HAMi's NvidiaConfig has no such field (the device plugin reads its own)
    nvidia.pop("migProfileAllowlist", None) if design.templates else None
    for k, v in PLUGIN_DEFAULTS.items():
        nvidia.setdefault(k, v)
    for k, v in (("resourceCountName", "nvidia.com/gpu"), ("resourceMemoryName", "nvidia.com/gpumem"),
                 ("resourceCoreName", "nvidia.com/gpucores")):
        nvidia.setdefault(k, v)
    if design.templates:
        nvidia["knownMigGeometries"] = [
            {"models": list(t.models), "allowedGeometries": [[e.to_dict() for e in g] for g in t.geometries]}
            for t in design.templates + other_models(base, {t.key for t in design.templates})
        ]
    elif (base or {}).get("nvidia", {}).get("knownMigGeometries") is not None:
        nvidia["knownMigGeometries"] = base["nvidia"]["knownMigGeometries"]  # type: ignore[index]
    out = {k: v for k, v in (base or {}).items() if k not in ("nvidia", "nodeconfig")}
    return {"nvidia": nvidia, **out}


def other_models(base: dict[str, Any] | None, keys: set[str]) -> tuple[ModelTemplates, ...]:
    """The base config's entries for catalogue models the design does not cover, made exact the same
    way (real memory and core, reachable geometries, entries smallest first, no slot-index finding);
    entries naming no catalogue model are left out."""
    from migctl.config.model import MigTemplate
    from migctl.hardware.catalogue import load_catalogue

    catalogue = load_catalogue()
    out: list[ModelTemplates] = []
    seen = set(keys)
    for entry in ((base or {}).get("nvidia") or {}).get("knownMigGeometries") or ():
        if not isinstance(entry, dict):
            continue
        model = None
        for name in entry.get("models") or ():
            match = catalogue.lookup(str(name))
            if match is not None:
                model = match.model
                break
        if model is None or model.key in seen:
            continue
        seen.add(model.key)
        geos = []
        for g in entry.get("allowedGeometries") or ():
            try:
                norm = normalise(model, [MigTemplate.from_dict(t) for t in g])
            except (TypeError, ValueError, AttributeError):
                norm = None
            if norm:
                geos.append(clean_orders(norm)[0])
        kept = [g for g in chain(geos) if _clean_alone(model, g)]
        if kept:
            out.append(ModelTemplates(model.key, model_strings(model), chain(kept)))
    return tuple(out)


def _clean_alone(model: Any, geometry: Geometry) -> bool:
    from migctl.config.checks import check_device_config

    doc = {"nvidia": {**PLUGIN_DEFAULTS, "resourceCountName": "nvidia.com/gpu",
                      "knownMigGeometries": [{"models": list(model_strings(model)),
                                              "allowedGeometries": [[e.to_dict() for e in geometry]]}]}}
    return not check_device_config(doc, hami_version="2.9")


def render_yaml(document: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def load_design(document: dict[str, Any], version: str) -> tuple[Any, list[Any]]:
    """(DeviceConfig, diagnostics) through validate's loader."""
    from migctl.config.load import load_device_config

    loaded = load_device_config(render_yaml(document), name="advised device-config", hami_version=version)
    return loaded.config, list(loaded.diagnostics)


# ------------------------------------------------------------------ scoring


@dataclass(frozen=True, slots=True)
class Score:
    """The figures a candidate is ranked by (higher ``rank`` is better)."""

    placed: int
    dropped: int
    waiting: int
    alloc_at_first_failure: float | None
    wait_mean_s: float
    fgd_mean: float | None

    @property
    def rank(self) -> tuple:
        return (self.placed, -self.dropped - self.waiting,
                self.alloc_at_first_failure if self.alloc_at_first_failure is not None else 1.0,
                -round(self.wait_mean_s, 6), -(self.fgd_mean or 0.0))

    @classmethod
    def of(cls, figures: Any) -> Score:
        fgds = [s.fgd for s in figures.series if s.fgd is not None]
        return cls(figures.placed, figures.dropped, figures.waiting, figures.alloc_at_first_failure,
                   figures.wait_mean_s, sum(fgds) / len(fgds) if fgds else None)

    def text(self) -> str:
        aff = "-" if self.alloc_at_first_failure is None else f"{self.alloc_at_first_failure:.3f}"
        fgd = "-" if self.fgd_mean is None else f"{self.fgd_mean:.3f}"
        return (f"placed {self.placed}, dropped {self.dropped}, waiting {self.waiting}, "
                f"alloc@first-failure {aff}, wait {self.wait_mean_s:.1f}s, fgd {fgd}")


@dataclass(frozen=True, slots=True)
class Problem:
    """What every candidate is replayed on (picklable: sent once to each worker)."""

    trace: Any  # migctl.replay.trace.Trace
    cluster: Any  # migctl.replay.run.ClusterInput
    settings: Any  # migctl.replay.run.Settings (the current design's)
    base_document: dict[str, Any] | None
    version: str  # "2.9" | "2.10"


def sample(problem: Problem, every: int) -> Problem:
    """Every ``every``-th node and task (the load per node stays that of the whole)."""
    if every <= 1:
        return problem
    from migctl.replay.trace import Trace

    trace = problem.trace
    tasks = tuple(t for i, t in enumerate(trace.tasks) if i % every == 0)
    cluster = problem.cluster
    if cluster.nodes:
        cluster = dataclasses.replace(cluster, nodes=tuple(n for i, n in enumerate(cluster.nodes) if i % every == 0))
    return dataclasses.replace(problem, trace=Trace(tasks, trace.source, trace.kind), cluster=cluster)


def settings_for(problem: Problem, design: Design, device_config: Any) -> Any:
    s = problem.settings
    changes: dict[str, Any] = {"mig_nodes": design.mig_nodes, "node_policy": design.node_policy,
                               "gpu_policy": design.gpu_policy, "hami_version": problem.version}
    if design.templates:
        changes.update(device_config=device_config, config_name="advised")
    return dataclasses.replace(s, **changes)


def evaluate(problem: Problem, design: Design, *, full: bool = False) -> tuple[Score, Any]:
    """Replay the problem under the design: (Score, ReplayFigures)."""
    from migctl.replay.run import run_variant

    config = problem.settings.device_config
    if design.templates:
        config, _ = load_design(device_config_document(problem.base_document, design), problem.version)
    settings = settings_for(problem, design, config)
    if not full:
        settings = dataclasses.replace(settings, samples=20)
    figures = run_variant(problem.trace, problem.cluster, settings, "advised" if full else "candidate")
    return Score.of(figures), figures


_WORKER: dict[str, Any] = {}


def _init_worker(problem: Problem) -> None:
    _WORKER["problem"] = problem


def _score_in_worker(design: Design) -> Score:
    return evaluate(_WORKER["problem"], design)[0]


# ------------------------------------------------------------------ the search


@dataclass(slots=True)
class Tried:
    design: Design
    score: Score
    round: int


@dataclass(slots=True)
class SearchResult:
    current: Design
    best: Design
    tried: list[Tried]
    stopped: str  # "budget" | "tries" | "exhausted"
    screen_every: int
    explain: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0  # wall time of the search (not the full replays after it)


def _top(g: Geometry) -> int:
    return max(e.memory for e in g)


def clean_orders(geometry: Geometry) -> list[Geometry]:
    """The entry orders ``validate config`` accepts: smallest memory first (``template-order``), so only
    entries of equal memory (``1g.10gb``/``2g.10gb``, ``3g.20gb``/``4g.20gb``) may change places."""
    import itertools

    groups: list[list[Entry]] = []
    for e in sorted(geometry, key=lambda e: (e.memory, e.name)):
        if groups and groups[-1][0].memory == e.memory:
            groups[-1].append(e)
        else:
            groups.append([e])
    out: list[Geometry] = [()]
    for group in groups:
        out = [prefix + tuple(p) for prefix in out for p in itertools.permutations(group)]
    return out


def chain(geometries: Sequence[Geometry]) -> tuple[Geometry, ...]:
    """Geometries as HAMi can reach them: ordered by their largest slot, a geometry whose largest slot
    is not above every earlier one dropped (``geometry-unreachable``: HAMi never picks it)."""
    out: list[Geometry] = []
    for g in sorted(geometries, key=_top):
        if not out or _top(g) > _top(out[-1]):
            out.append(g)
    return tuple(out)


class Searcher:
    """Generates candidates round by round from a seed and the results so far.

    Legacy candidates stay inside what ``migctl validate config`` passes with no finding: geometries
    ordered by their largest slot (one per level: a later one with no larger slot is never chosen),
    entries smallest first, and no entry HAMi picks on an idle GPU behind an entry of count > 1
    (v2.9's ``[t-s]`` slot-index bug). Every candidate is checked with the validator's own checks.
    """

    def __init__(self, current: Design, models: Sequence[Any], version: str, seed: int, splits: Sequence[str],
                 base_document: dict[str, Any] | None = None) -> None:
        self.current = current
        self.models = list(models)  # catalogue GpuModels, one per ModelTemplates of the design
        self.version = version
        self.rng = random.Random(seed)
        self.splits = list(dict.fromkeys([current.mig_nodes, *splits]))
        self.base_document = base_document
        self.pool: dict[str, list[Geometry]] = {}
        self.levels: dict[str, dict[int, list[Geometry]]] = {}
        for m in self.models:
            variants = [v for g in catalogue_geometries(m) for v in clean_orders(g)]
            self.pool[m.key] = variants
            levels: dict[int, list[Geometry]] = {}
            for v in variants:
                levels.setdefault(_top(v), []).append(v)
            self.levels[m.key] = levels
        self.seen: set[tuple] = set()
        self.queue: list[Design] = []
        self._seeded = False
        self.rejected = 0
        self.made: list[Design] = []

    def clean(self, design: Design) -> bool:
        """No finding from the validator's checks on the device-config this design ships."""
        if not design.templates:
            return True
        from migctl.config.checks import check_device_config

        doc = device_config_document(self.base_document, design)
        return not check_device_config(doc, hami_version="2.9")

    def covers(self, design: Design) -> bool:
        """The design keeps, per model, the largest slot the current design offers (a request the
        current config serves must still find a template)."""
        tops = {t.key: max((_top(g) for g in t.geometries), default=0) for t in design.templates}
        return all(tops.get(t.key, 0) >= max((_top(g) for g in t.geometries), default=0)
                   for t in self.current.templates)

    def _new(self, design: Design) -> bool:
        if design.key() in self.seen:
            return False
        self.seen.add(design.key())
        if not self.covers(design) or not self.clean(design):
            self.rejected += 1
            return False
        return True

    def _with(self, design: Design, key: str, geometries: Sequence[Geometry], how: str) -> Design:
        templates = tuple(dataclasses.replace(t, geometries=chain(geometries)) if t.key == key else t
                          for t in design.templates)
        return dataclasses.replace(design, templates=templates, how=how)

    def exact(self, design: Design) -> Design:
        """A design made clean where it can be: entries smallest first, unreachable geometries dropped,
        geometries the slot-index rule flags dropped (the largest level is kept)."""
        out = design
        for t in design.templates:
            geos = list(chain([clean_orders(g)[0] for g in t.geometries]))
            trial = self._with(out, t.key, geos, "current geometries, made exact")
            while len(geos) > 1 and not self.clean(trial):
                bad = next((i for i in range(len(geos)) if not self.clean(self._with(out, t.key, [geos[i]], ""))), 0)
                geos.pop(bad if bad < len(geos) - 1 else 0)
                trial = self._with(out, t.key, geos, "current geometries, made exact")
            out = trial
        return out

    def _seeds(self) -> list[Design]:
        """Structured first guesses: the current design made exact, the same at the other splits, and
        per model one geometry per slot level with the most instances (small pods get many slots)."""
        out: list[Design] = []
        cur = self.current
        if self.version == "2.10":
            for split in self.splits:
                for node_policy in NODE_POLICIES:
                    for gpu_policy in GPU_POLICIES:
                        out.append(dataclasses.replace(cur, mig_nodes=split, node_policy=node_policy,
                                                       gpu_policy=gpu_policy,
                                                       how=f"policy grid: {node_policy}/{gpu_policy} at {split}"))
            return out
        exact = self.exact(cur)
        out.append(exact)
        most = cur
        for t in cur.templates:
            levels = self.levels.get(t.key, {})
            picks = [max(vs, key=lambda g: (sum(e.count for e in g), -len(g), _text(g))) for _, vs in sorted(levels.items())]
            most = self._with(most, t.key, picks, "one geometry per slot size, the most instances each")
        out.append(most)
        for split in self.splits:
            if split != cur.mig_nodes:
                out.append(dataclasses.replace(exact, mig_nodes=split, how=f"current geometries at mig-nodes={split}"))
        return out

    def _mutate(self, design: Design) -> Design:
        rng = self.rng
        if self.version == "2.10":
            choice = rng.randrange(3)
            if choice == 0:
                return dataclasses.replace(design, mig_nodes=rng.choice(self.splits), how="other split")
            if choice == 1:
                return dataclasses.replace(design, node_policy=rng.choice(NODE_POLICIES), how="other node policy")
            return dataclasses.replace(design, gpu_policy=rng.choice(GPU_POLICIES), how="other GPU policy")
        if not design.templates or rng.random() < 0.15:
            return dataclasses.replace(design, mig_nodes=rng.choice(self.splits), how="other split")
        t = design.templates[rng.randrange(len(design.templates))]
        geos = list(t.geometries)
        levels = self.levels.get(t.key, {})
        present = {_top(g) for g in geos}
        op = rng.randrange(4)
        if op == 0 and geos:
            at = rng.randrange(len(geos))
            g = rng.choice(levels.get(_top(geos[at]), [geos[at]]))
            how = f"{t.key}: {_text(geos[at])} -> {_text(g)}"
            geos[at] = g
        elif op == 1 and len(present) < len(levels):
            level = rng.choice([lv for lv in sorted(levels) if lv not in present])
            g = rng.choice(levels[level])
            geos.append(g)
            how = f"{t.key}: add {_text(g)}"
        elif op == 2 and len(geos) > 1:
            at = rng.randrange(len(geos))
            how = f"{t.key}: drop {_text(geos[at])}"
            del geos[at]
        elif geos:
            at = rng.randrange(len(geos))
            orders = clean_orders(geos[at])
            g = rng.choice(orders)
            how = f"{t.key}: entries of {_text(geos[at])} as {_text(g)}"
            geos[at] = g
        else:
            return dataclasses.replace(design, mig_nodes=rng.choice(self.splits), how="other split")
        return self._with(design, t.key, geos, how)

    def next_round(self, best: Design, size: int = ROUND) -> list[Design]:
        out: list[Design] = []
        if not self._seeded:
            self._seeded = True
            self.queue = [d for d in self._seeds() if self._new(d)]
        while self.queue and len(out) < size:
            out.append(self.queue.pop(0))
        misses = 0
        while len(out) < size and misses < 400:
            # the best design's neighbours first; when they run out, neighbours of any design made so far
            origin = best if misses < 200 or not self.made else self.made[self.rng.randrange(len(self.made))]
            d = self._mutate(origin)
            if self._new(d):
                out.append(d)
            else:
                misses += 1
        self.made += out
        return out


def complexity(design: Design) -> int:
    """Ties go to the simpler config: fewer geometries and entries."""
    return sum(len(g) + 1 for t in design.templates for g in t.geometries)


def _text(g: Geometry) -> str:
    return ",".join(f"{e.name}:{e.count}" for e in g)


def _spread_pick(items: Sequence[Any], n: int) -> list[Any]:
    if len(items) <= n:
        return list(items)
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


def search(problem: Problem, current: Design, models: Sequence[Any], *, seed: int = 0, jobs: int = 1,
           budget_s: float = 60.0, tries: int | None = None, splits: Sequence[str] = SPLITS,
           screen_every: int = 1, clock: Callable[[], float], on_round: Callable[[int], None] | None = None
           ) -> SearchResult:
    """Rounds of candidates scored on ``sample(problem, screen_every)`` until the budget or ``tries``.

    The current design is scored first (round 0) for reference; the best is chosen among the
    candidates (all of them pass the validator), ties to the simpler config, then the earlier one.
    """
    screen = sample(problem, screen_every)
    searcher = Searcher(current, models, problem.version, seed, splits, problem.base_document)
    searcher.seen.add(current.key())
    start = clock()
    tried: list[Tried] = []
    explain: list[str] = []
    base_score = evaluate(screen, current)[0]
    tried.append(Tried(current, base_score, 0))
    explain.append(f"round 0: current design: {base_score.text()}")
    best: Design | None = None
    best_score: Score | None = None
    pool = None
    stopped = "exhausted"
    try:
        if jobs > 1:
            import multiprocessing

            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            pool = ctx.Pool(jobs, initializer=_init_worker, initargs=(screen,))
        rnd = 0
        while True:
            if best is not None and clock() - start >= budget_s:
                stopped = "budget"
                break
            if tries is not None and best is not None and len(tried) - 1 >= tries:
                stopped = "tries"
                break
            size = ROUND if tries is None else max(1, min(ROUND, tries - (len(tried) - 1)))
            batch = searcher.next_round(best or current, size)
            if not batch:
                break
            rnd += 1
            if pool is not None:
                scores = pool.map(_score_in_worker, batch, chunksize=1)
            else:
                scores = [evaluate(screen, d)[0] for d in batch]
            for d, sc in zip(batch, scores):
                tried.append(Tried(d, sc, rnd))
                better = best is None or (sc.rank, -complexity(d)) > (best_score.rank, -complexity(best))  # type: ignore[union-attr]
                explain.append(f"round {rnd}: {d.how or 'candidate'}: {sc.text()}" + ("  <- best so far" if better else ""))
                if better:
                    best, best_score = d, sc
            if on_round is not None:
                on_round(len(batch))
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    if searcher.rejected:
        explain.append(f"{searcher.rejected} generated candidate(s) left out: the validator had findings on them, "
                       "or they dropped the largest slot the current config offers")
    return SearchResult(current, best or searcher.exact(current), tried, stopped, screen_every, explain,
                        clock() - start)


# ------------------------------------------------------------------ the advice


@dataclass(slots=True)
class Advice:
    """What ``migctl advise config`` reports."""

    current: Any  # ReplayFigures of the current design (full replay)
    advised: Any  # ReplayFigures of the advised design (full replay)
    design: Design
    document: dict[str, Any]  # the complete advised device-config
    diagnostics: list[Any]  # validate's findings on it (empty when clean)
    mig_nodes: list[str]
    search: SearchResult
    kept_current: bool = False  # the full replay of the best candidate is worse than the current design

    def to_dict(self) -> dict[str, Any]:
        return {
            "current": self.current.to_dict(), "advised": self.advised.to_dict(),
            "device_config": self.document, "mig_nodes": self.mig_nodes, "mig_nodes_share": self.design.mig_nodes,
            "node_policy": self.design.node_policy, "gpu_policy": self.design.gpu_policy,
            "tried": len(self.search.tried), "stopped": self.search.stopped,
            "screen_every": self.search.screen_every, "kept_current": self.kept_current,
            "search_s": round(self.search.elapsed_s, 3),
            "design": self.design.describe(),
            "candidates": [{"round": t.round, "how": t.design.how or "current", "design": t.design.describe(),
                            "placed": t.score.placed, "dropped": t.score.dropped, "waiting": t.score.waiting,
                            "alloc_at_first_failure": t.score.alloc_at_first_failure,
                            "fgd_mean": None if t.score.fgd_mean is None else round(t.score.fgd_mean, 6)}
                           for t in self.search.tried],
            "diagnostics": [{"severity": getattr(d.severity, "value", str(d.severity)), "code": d.code,
                             "message": d.message} for d in self.diagnostics],
        }


def current_design(device_config: Any, models: Sequence[Any], mig_nodes: str, version: str,
                   node_policy: str = "binpack", gpu_policy: str = "spread") -> Design:
    """The design in effect, as a :class:`Design`. Legacy templates are taken as configured for the
    models present (memory and core made exact only by the search's own candidates)."""
    templates = []
    if version != "2.10":
        for model in models:
            entry = None
            if device_config is not None:
                for name in model.nvml_names:
                    entry = device_config.nvidia.geometries_for(name)
                    if entry is not None:
                        break
            geos = []
            for g in (entry.geometries if entry is not None else ()):
                norm = normalise(model, g)
                if norm is not None:
                    geos.append(norm)
            if not geos:
                geos = catalogue_geometries(model)
            templates.append(ModelTemplates(model.key, model_strings(model), tuple(geos)))
    return Design(tuple(templates), mig_nodes, node_policy, gpu_policy, how="current")


def advise_config(problem: Problem, models: Sequence[Any], *, seed: int = 0, jobs: int = 1, budget_s: float = 60.0,
                  tries: int | None = None, splits: Sequence[str] = SPLITS, screen_every: int = 1,
                  clock: Callable[[], float], on_round: Callable[[int], None] | None = None,
                  mig_node_names: Callable[[str], list[str]] | None = None) -> Advice:
    """Search, then replay the current design and the best candidate in full.

    The current design is replayed with the device-config as given (``problem.settings``); the
    search's own start point is that config made exact (real profile memory and core), which is what
    a shipped config would carry. If the best candidate does not beat the current design in the full
    replay, the advice is the current design made exact (``kept_current``).
    """
    s = problem.settings
    current = current_design(s.device_config, models, s.mig_nodes, problem.version, s.node_policy, s.gpu_policy)
    result = search(problem, current, models, seed=seed, jobs=jobs, budget_s=budget_s, tries=tries, splits=splits,
                    screen_every=screen_every, clock=clock, on_round=on_round)
    from migctl.replay.run import run_variant

    current_figures = run_variant(problem.trace, problem.cluster, dataclasses.replace(s, hami_version=problem.version),
                                  "current")
    best = result.best
    _, advised_figures = evaluate(problem, best, full=True)
    kept = Score.of(advised_figures).rank < Score.of(current_figures).rank
    if kept:
        result.explain.append("full replay: the best candidate does not beat the current design; keep the "
                              "current config (the advised one is the best candidate found, for reference)")
    document = device_config_document(problem.base_document, best)
    _, diagnostics = load_design(document, problem.version)
    names = mig_node_names(best.mig_nodes) if mig_node_names is not None else []
    return Advice(current_figures, advised_figures, best, document, diagnostics, names, result, kept)
