"""kubectl's label-selector grammar: parsing and matching node labels."""

from __future__ import annotations

import pytest

from migctl.cluster.selector import Requirement, parse_selector
from migctl.errors import InputError

LABELS = {"gpu": "a100", "zone": "z1", "nvidia.com/mig.capable": "true", "empty": ""}


@pytest.mark.parametrize("text, expected", [
    ("gpu=a100", True), ("gpu==a100", True), ("gpu=h100", False),
    ("gpu!=h100", True), ("gpu!=a100", False), ("missing!=x", True),
    ("gpu in (a100, h100)", True), ("gpu in (h100)", False), ("missing in (x)", False),
    ("gpu notin (h100,h200)", True), ("gpu notin (a100)", False), ("missing notin (x)", True),
    ("gpu", True), ("missing", False), ("!missing", True), ("!gpu", False),
    ("gpu=a100,zone=z1", True), ("gpu=a100,zone=z2", False), ("gpu=a100, !missing, zone in (z1)", True),
    ("nvidia.com/mig.capable=true", True), ("empty=", True), ("empty!=", False),
])
def test_matches_as_kubernetes_does(text, expected):
    selector = parse_selector(text)
    assert selector is not None and selector.matches(LABELS) is expected


def test_parsed_requirements():
    selector = parse_selector("a=1,b!=2,c in (3,4),d notin (5),e,!f")
    assert selector.requirements == (
        Requirement("a", "in", ("1",)), Requirement("b", "notin", ("2",)), Requirement("c", "in", ("3", "4")),
        Requirement("d", "notin", ("5",)), Requirement("e", "exists"), Requirement("f", "!exists"),
    )
    assert selector.text == "a=1,b!=2,c in (3,4),d notin (5),e,!f"


def test_no_selector():
    assert parse_selector(None) is None
    assert parse_selector("  ") is None


def test_unlabelled_objects_match_only_negative_requirements():
    assert parse_selector("!gpu").matches(None)
    assert not parse_selector("gpu").matches(None)


@pytest.mark.parametrize("text", [
    "gpu=", "=a100", "gpu in", "gpu in (", "gpu in ()", "gpu in (a b)", "gpu notin a",
    "gpu=a100,", ",gpu", "gpu a100", "gpu=a=b", "!", "bad key=x", "k=-bad", "k in (x,)",
])
def test_malformed_selectors_are_input_errors(text):
    if text == "gpu=":
        assert parse_selector(text).matches({"gpu": ""})
        return
    with pytest.raises(InputError, match="label selector"):
        parse_selector(text)


def test_restrict_drops_pods_on_filtered_out_nodes():
    from conftest import REPO

    from migctl.api import load_cluster

    full = load_cluster(REPO / "examples" / "cluster.yaml")
    kept = load_cluster(REPO / "examples" / "cluster.yaml", selector="kubernetes.io/hostname=gpu-node-b")
    assert [n.name for n in kept.nodes] == ["gpu-node-b"]
    on_b = [p.key for p in full.pods if (p.vgpu_node or p.node_name) in (None, "gpu-node-b")]
    assert [p.key for p in kept.pods] == on_b
    assert len(kept.pods) < len(full.pods)


def test_live_listing_sends_the_selector_for_nodes_only():
    from migctl.cluster.kube import list_objects

    calls = []

    class Session:
        def list_pages(self, method, page_size, **kwargs):
            calls.append((method, kwargs))
            yield []

    list(list_objects(Session(), selector="gpu in (a100)"))
    assert calls[0] == ("list_node", {"label_selector": "gpu in (a100)"})
    assert all("label_selector" not in kwargs for method, kwargs in calls[1:])
