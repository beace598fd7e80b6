"""The solver against an independent brute force, on random multisets for every model."""

from __future__ import annotations

from collections import Counter

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from migctl.hardware.catalogue import load_catalogue
from migctl.hardware.placement import PlacedInstance
from migctl.hardware.solver import maximal_geometries, solve

CATALOGUE = load_catalogue()
MODELS = list(CATALOGUE)


def _rules_allow(model, names: list[str]) -> bool:
    """The counting rules, written independently of the solver (mig-profiles.md rules 3-4)."""
    counts = Counter(names)
    if len(names) > model.max_gpu_instances:
        return False
    for name, count in counts.items():
        if count > model.profile(name).max_instances:
            return False
    me_all = [n for n in names if n.endswith("+me.all")]
    if me_all:
        if len(me_all) > 1:
            return False
        if any(not n.endswith("-me") for n in names if not n.endswith("+me.all")):
            return False
    # Engine budget: what the whole-GPU profile (most slices, no suffix) has, where known.
    whole = max((p for p in model.profiles if "+" not in p.name and "-" not in p.name), key=lambda p: p.compute_slices)
    for engine in ("multiprocessors", "copy_engines", "decoders", "encoders", "jpeg", "ofa"):
        values = [getattr(model.profile(n), engine) for n in names]
        if getattr(whole, engine) is not None and None not in values and sum(values) > getattr(whole, engine):
            return False
    return True


def _brute_force(model, names: list[str], occupied: set[int]) -> bool:
    """Try every placement of every instance, in the given order, with no pruning tricks."""
    if not _rules_allow(model, names):
        return False

    def place(i: int, used: set[int]) -> bool:
        if i == len(names):
            return True
        profile = model.profile(names[i])
        for start in profile.placement_starts:
            cells = set(range(start, start + profile.placement_size))
            if cells & used:
                continue
            if place(i + 1, used | cells):
                return True
        return False

    return place(0, set(occupied))


def _assert_valid(model, wanted: Counter, solution, existing=()) -> None:
    assert Counter(p.profile for p in solution.placements) == wanted
    everything = list(existing) + list(solution.placements)
    for placed in solution.placements:
        profile = model.profile(placed.profile)
        assert placed.start in profile.placement_starts
        assert placed.size == profile.placement_size
    for i, a in enumerate(everything):
        for b in everything[i + 1 :]:
            assert not a.overlaps(b), (a, b)


@st.composite
def multiset(draw, model):
    names = [p.name for p in model.profiles]
    size = draw(st.integers(min_value=0, max_value=model.max_gpu_instances + 1))
    return draw(st.lists(st.sampled_from(names), min_size=size, max_size=size))


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.key)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_solver_matches_brute_force(model, data):
    names = data.draw(multiset(model))
    wanted = Counter(names)
    solution = solve(model, dict(wanted))
    assert solution.feasible == _brute_force(model, names, set()), (model.key, names, solution.reason)
    if solution.feasible:
        _assert_valid(model, wanted, solution)
        # Deterministic: the same multiset in another order gives the same answer.
        assert solve(model, dict(reversed(list(wanted.items())))) == solution
    else:
        assert solution.reason and solution.unplaced in wanted


@st.composite
def existing_layout(draw, model):
    # Existing instances: a random feasible layout built one instance at a time.
    existing: list[PlacedInstance] = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        profile = draw(st.sampled_from(model.profiles))
        start = draw(st.sampled_from(profile.placement_starts))
        candidate = PlacedInstance(profile.name, start, profile.placement_size)
        if not any(candidate.overlaps(e) for e in existing):
            existing.append(candidate)
    return existing


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.key)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_solver_with_existing_matches_brute_force(model, data):
    names = data.draw(multiset(model))
    existing = data.draw(existing_layout(model))
    wanted = Counter(names)
    solution = solve(model, dict(wanted), existing=existing)
    occupied = {u for e in existing for u in range(e.start, e.end)}
    all_names = names + [e.profile for e in existing]
    expected = _rules_allow(model, all_names) and _brute_force(model, names, occupied)
    assert solution.feasible == expected, (model.key, names, existing, solution.reason)
    if solution.feasible:
        _assert_valid(model, wanted, solution, existing)
        assert solution.existing == tuple(existing)


def test_maximal_geometries_match_brute_force_for_every_model():
    """Every feasible multiset, found by brute force, is contained in some maximal geometry."""
    for model in MODELS:
        maximal = [Counter(g) for g in maximal_geometries(model)]
        names = [p.name for p in model.profiles]
        frontier = [Counter()]
        seen = set()
        while frontier:
            current = frontier.pop()
            key = tuple(sorted(current.items()))
            if key in seen:
                continue
            seen.add(key)
            grown_any = False
            for name in names:
                grown = current + Counter({name: 1})
                if _brute_force(model, list(grown.elements()), set()):
                    frontier.append(grown)
                    grown_any = True
            if not grown_any and current:
                assert current in maximal, (model.key, dict(current))
        assert all(tuple(sorted(m.items())) in seen for m in maximal), model.key
