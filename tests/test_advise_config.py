"""advise config: the search finds the known better template order, the emitted config validates
clean, results do not depend on --jobs, and the JSON contract."""

from __future__ import annotations

import json

import pytest
import yaml
from advise_builders import STRANDING_CONFIG, as_list, small_workload, stranding_cluster

from migctl.advise.config_search import (
    Design,
    Entry,
    ModelTemplates,
    chain,
    clean_orders,
    current_design,
    device_config_document,
    load_design,
)
from migctl.config.load import load_device_config
from migctl.hardware.catalogue import load_catalogue


@pytest.fixture
def files(tmp_path):
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(yaml.safe_dump(as_list(stranding_cluster()), sort_keys=False))
    workload = tmp_path / "workload.yaml"
    workload.write_text(yaml.safe_dump(small_workload(), sort_keys=False))
    return cluster, workload


def _advise(cli, files, *extra):
    cluster, workload = files
    r = cli("advise", "config", "--workload", workload, "--cluster", cluster, "--on-fail", "drop",
            "--tries", "8", *extra)
    assert r.exit_code == 0, r.stderr
    return r


def test_finds_the_order_that_does_not_strand_1g_slots(cli, files):
    """3g.20gb:2 listed first: each small pod locks an idle GPU into two 3g slots (4 pods on 2 GPUs).
    The advisor lists a 1g geometry first and places all 14."""
    data = json.loads(_advise(cli, files, "--jobs", "1", "-o", "json").stdout)
    assert data["current"]["placed"] == 4 and data["current"]["dropped"] == 10
    assert data["advised"]["placed"] == 14 and data["advised"]["dropped"] == 0
    first = data["device_config"]["nvidia"]["knownMigGeometries"][0]["allowedGeometries"][0]
    assert first[0]["name"] == "1g.5gb" and first[0]["memory"] == 4864
    assert data["mig_nodes"] == ["m1", "m2"]
    assert data["tried"] >= 2 and {"current", "advised", "device_config", "mig_nodes", "tried"} <= set(data)


def test_the_emitted_config_validates_clean(cli, files, tmp_path):
    r = _advise(cli, files, "--jobs", "1", "-o", "yaml")
    advised = tmp_path / "advised.yaml"
    advised.write_text(r.stdout)
    v = cli("validate", "config", advised)
    assert v.exit_code == 0, v.stdout
    assert "0 error(s), 0 warning(s), 0 note(s)" in v.stdout
    loaded = load_device_config(advised, hami_version="2.9")
    assert loaded.config is not None and not loaded.diagnostics


def test_deterministic_whatever_jobs(cli, files):
    one = json.loads(_advise(cli, files, "--jobs", "1", "--seed", "7", "--explain", "-o", "json").stdout)
    two = json.loads(_advise(cli, files, "--jobs", "2", "--seed", "7", "--explain", "-o", "json").stdout)
    assert one["candidates"] == two["candidates"]
    assert one["device_config"] == two["device_config"]
    assert one["advised"] == two["advised"]


def test_text_shows_a_diff_against_the_current_config(cli, files):
    r = _advise(cli, files, "--jobs", "1", "--explain")
    assert "round 0: current design" in r.stdout
    assert "--- current device-config" in r.stdout and "+++ advised device-config" in r.stdout
    assert "placed" in r.stdout


def test_v2_10_advises_policies(cli, files):
    r = _advise(cli, files, "--jobs", "1", "--hami-version", "2.10", "-o", "json")
    data = json.loads(r.stdout)
    assert data["node_policy"] in ("binpack", "spread")
    assert data["gpu_policy"] in ("spread", "binpack", "topology-aware", "mutex")
    assert data["advised"]["settings"]["hami_version"] == "2.10"
    assert data["advised"]["placed"] >= data["current"]["placed"]


def test_bad_workload_exits_2(cli, files, tmp_path):
    cluster, _ = files
    r = cli("advise", "config", "--workload", tmp_path / "nope.yaml", "--cluster", cluster)
    assert r.exit_code == 2 and "nope.yaml" in r.stderr and "Traceback" not in r.stderr
    r = cli("advise", "config", "--workload", files[1])
    assert r.exit_code == 2 and "--nodes" in r.stderr


def test_clean_space_rules():
    """Entries smallest first (equal memory may swap); geometries reachable only with a larger top slot."""
    model = load_catalogue().model("a100-40gb")
    g = (Entry("2g.10gb", 9856, 29, 1), Entry("1g.10gb", 9856, 15, 1), Entry("1g.5gb", 4864, 15, 2))
    orders = clean_orders(g)
    assert len(orders) == 2 and all(o[0].name == "1g.5gb" for o in orders)
    small = (Entry("1g.5gb", 4864, 15, 7),)
    big = (Entry("3g.20gb", 19968, 43, 2),)
    other_small = (Entry("1g.5gb", 4864, 15, 7),)
    assert chain([big, small, other_small]) == (small, big)
    design = Design((ModelTemplates("a100-40gb", ("A100-SXM4-40GB",), chain([big, small])),), "50%")
    _, diagnostics = load_design(device_config_document(None, design), "2.9")
    assert diagnostics == []
    cur = current_design(load_device_config(STRANDING_CONFIG).config, [model], "50%", "2.9")
    assert [e.name for e in cur.templates[0].geometries[0]] == ["3g.20gb"]


def test_openb_style_trace_with_a_node_list_advises_the_split(cli):
    from conftest import EXAMPLES

    r = cli("advise", "config", "--workload", EXAMPLES / "trace-openb.csv", "--nodes", EXAMPLES / "trace-nodes.csv",
            "--config", EXAMPLES / "device-config.yaml", "--tries", "6", "--jobs", "1", "-o", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["mig_nodes_share"] in ("0%", "25%", "50%", "75%", "100%")
    names = {line.split(",")[0] for line in (EXAMPLES / "trace-nodes.csv").read_text().splitlines()[1:]}
    assert set(data["mig_nodes"]) <= names
    assert data["advised"]["placed"] + data["advised"]["waiting"] + data["advised"]["dropped"] == data["advised"]["pods"]
    assert data["advised"]["settings"]["mig_nodes"] == data["mig_nodes_share"]
    assert not data["diagnostics"]


def test_the_advised_figures_are_what_replay_prints_for_the_advised_config(cli, files, tmp_path):
    """The claim re-simulates: `migctl replay` with the emitted config gives the advised figures."""
    cluster, workload = files
    data = json.loads(_advise(cli, files, "--jobs", "1", "-o", "json").stdout)
    advised = tmp_path / "advised.yaml"
    advised.write_text(yaml.safe_dump(data["device_config"], sort_keys=False))
    r = cli("replay", workload, "--cluster", cluster, "--config", advised, "--on-fail", "drop",
            "--hami-version", "2.9", "-o", "json")
    assert r.exit_code in (0, 1), r.stderr
    variant = json.loads(r.stdout)["variants"][0]
    for key in ("pods", "placed", "dropped", "waiting", "alloc_at_first_failure"):
        assert variant[key] == data["advised"][key], key
