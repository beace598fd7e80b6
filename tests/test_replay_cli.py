"""``migctl replay`` end to end: the JSON contract, variants side by side, --plot, and bad input (exit 2,
a message naming the row, nothing written)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EX = REPO / "examples"
TRACE = EX / "trace.yaml"
OPENB = EX / "trace-openb.csv"
NODES = EX / "trace-nodes.csv"
CONFIG = EX / "device-config.yaml"
VARIANT_KEYS = {"name", "pods", "placed", "dropped", "waiting", "wait_mean_s", "wait_p95_s", "alloc_at_first_failure",
                "series"}
SAMPLE_KEYS = {"t", "alloc_mem", "alloc_slices", "pending", "fgd"}


def _check_contract(doc: dict) -> None:
    assert doc["variants"]
    for v in doc["variants"]:
        assert VARIANT_KEYS <= set(v)
        assert isinstance(v["name"], str)
        for key in ("pods", "placed", "dropped", "waiting"):
            assert isinstance(v[key], int)
        assert isinstance(v["wait_mean_s"], float | int) and isinstance(v["wait_p95_s"], float | int)
        assert v["alloc_at_first_failure"] is None or 0 <= v["alloc_at_first_failure"] <= 1
        assert v["placed"] + v["dropped"] + v["waiting"] == v["pods"]
        for s in v["series"]:
            assert set(s) == SAMPLE_KEYS
            assert isinstance(s["pending"], int) and isinstance(s["t"], float | int)


def test_pod_yaml_trace_json(cli):
    r = cli("replay", TRACE, "--nodes", NODES, "--config", CONFIG, "--samples", "20", "-o", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    _check_contract(doc)
    (v,) = doc["variants"]
    assert v["name"] == "base" and v["pods"] == 10 and len(v["series"]) == 20
    assert v["settings"]["hami_version"] == "2.9"  # inferred from knownMigGeometries
    assert doc["trace"] == {"source": str(TRACE), "kind": "pods", "pods": 10}


def test_openb_example_compare_side_by_side(cli):
    r = cli("replay", OPENB, "--nodes", NODES, "--config", CONFIG, "--compare", "--variant", "node-policy=spread",
            "--variant", "hami-version=2.10,mig-nodes=node-a,node-c", "--on-fail", "drop", "-o", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    _check_contract(doc)
    names = [v["name"] for v in doc["variants"]]
    assert names == ["base", "node-policy=spread", "hami-version=2.10,mig-nodes=node-a,node-c"]
    assert doc["variants"][1]["settings"]["node_policy"] == "spread"
    third = doc["variants"][2]["settings"]
    assert third["hami_version"] == "2.10" and third["mig_nodes"] == "node-a,node-c" and third["mig_gpus"] == 6
    assert all(v["waiting"] == 0 for v in doc["variants"])  # drop: nothing waits
    assert doc["variants"][0]["dropped"] >= 1  # the 8-GPU task fits no node of 4 GPUs

    text = cli("replay", OPENB, "--nodes", NODES, "--config", CONFIG, "--variant", "node-policy=spread",
               "--variant", "node-policy=binpack")
    assert text.exit_code == 0
    assert "node-policy=spread" in text.stdout and "alloc at 1st failure" in text.stdout


def test_openb_node_list_found_beside_the_trace(cli, tmp_path):
    (tmp_path / "pods.csv").write_text(OPENB.read_text())
    r = cli("replay", tmp_path / "pods.csv", "-o", "json")
    assert r.exit_code == 2 and "no nodes to replay on" in r.stderr
    (tmp_path / "openb_node_list_gpu_node.csv").write_text(NODES.read_text())
    r = cli("replay", tmp_path / "pods.csv", "-o", "json", "--no-fgd")
    assert r.exit_code == 0, r.stderr
    assert all(s["fgd"] is None for s in json.loads(r.stdout)["variants"][0]["series"])


def test_plot_written(cli, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "replay.png"
    r = cli("replay", OPENB, "--nodes", NODES, "--config", CONFIG, "--variant", "node-policy=spread",
            "--variant", "node-policy=binpack", "--plot", out)
    assert r.exit_code == 0, r.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*tmp*"))


def test_plot_without_matplotlib_is_a_clear_usage_error(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if not installed
    out = tmp_path / "replay.png"
    r = cli("replay", OPENB, "--nodes", NODES, "--plot", out)
    assert r.exit_code == 2
    assert "matplotlib" in r.stderr and "migctl[plot]" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


@pytest.mark.parametrize("row,where", [
    ("bad-task,2000,4096,1,2500,,LS,Running,0,10,0", "gpu_milli: 2500 is out of range"),
    ("bad-task,2000,4096,x,250,,LS,Running,0,10,0", "num_gpu: expected a whole number"),
    ("bad-task,2000,4096,1,250,,LS,Running,50,10,0", "deletion_time: 10 is before creation_time 50"),
])
def test_bad_csv_row_exit_2_nothing_written(cli, tmp_path, row, where):
    trace = tmp_path / "pods.csv"
    lines = OPENB.read_text().splitlines()
    trace.write_text("\n".join(lines[:5] + [row] + lines[5:]) + "\n")
    out = tmp_path / "plot.png"
    r = cli("replay", trace, "--nodes", NODES, "-o", "json", "--plot", out)
    if "matplotlib" in r.stderr:
        pytest.skip("matplotlib missing; the plot check runs first")
    assert r.exit_code == 2
    assert f"{trace}:6: column {where}" in r.stderr
    assert r.stdout == "" and not out.exists()


def test_unknown_model_and_bad_options(cli, tmp_path):
    r = cli("replay", OPENB, "--nodes", NODES, "--gpu-model", "a100-99gb")
    assert r.exit_code == 2 and "unknown GPU model 'a100-99gb'" in r.stderr
    r = cli("replay", OPENB, "--nodes", NODES, "--gpu-model", "T4=a100-40gb")
    assert r.exit_code == 2 and f"{NODES}:4: column model: 'V100M32' has no --gpu-model mapping" in r.stderr
    r = cli("replay", OPENB, "--nodes", NODES, "--variant", "colour=blue")
    assert r.exit_code == 2 and "'colour' is not a variant key" in r.stderr
    r = cli("replay", OPENB, "--nodes", NODES, "--variant", "node-policy=sideways")
    assert r.exit_code == 2 and "'sideways' is not one of binpack, spread" in r.stderr
    r = cli("replay", OPENB, "--nodes", NODES, "--mig-nodes", "nowhere")
    assert r.exit_code == 2 and "no node named nowhere" in r.stderr
    bad = tmp_path / "trace.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    migctl.io/arrival: soon\n"
                   "spec:\n  containers:\n  - name: c\n")
    r = cli("replay", bad, "--nodes", NODES)
    assert r.exit_code == 2 and "annotation migctl.io/arrival: expected seconds, got 'soon'" in r.stderr
    r = cli("replay", tmp_path / "missing.csv", "--nodes", NODES)
    assert r.exit_code == 2 and "no such file" in r.stderr


def test_snapshot_nodes_with_and_without_running_pods(cli):
    cluster = EX / "cluster.yaml"
    free = cli("replay", TRACE, "--cluster", cluster, "-o", "json", "--no-fgd", "--samples", "5")
    kept = cli("replay", TRACE, "--cluster", cluster, "--keep-running", "-o", "json", "--no-fgd", "--samples", "5")
    assert free.exit_code == 0 and kept.exit_code == 0, free.stderr + kept.stderr
    a, b = json.loads(free.stdout)["variants"][0], json.loads(kept.stdout)["variants"][0]
    assert a["settings"]["nodes"] == b["settings"]["nodes"] == 3
    # the snapshot's running pods hold GPU memory from the start when kept
    assert a["series"][0]["alloc_mem"] < b["series"][0]["alloc_mem"]
    r = cli("replay", TRACE, "--nodes", NODES, "--keep-running")
    assert r.exit_code == 2 and "--keep-running needs --cluster" in r.stderr


def test_readme_example_is_what_the_command_prints(cli, monkeypatch):
    import re
    import shlex

    monkeypatch.chdir(REPO)
    section = (REPO / "README.md").read_text().split("## migctl replay", 1)[1]
    block = re.search(r"```console\n\$ (migctl replay examples/.*?)```", section, re.S).group(1).split("\n")
    command = [block[0]]
    while command[-1].endswith("\\"):
        command.append(block[len(command)])
    shown = "\n".join(block[len(command):]).strip()
    argv = shlex.split(" ".join(line.rstrip("\\") for line in command))
    r = cli(*argv[1:])
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == shown


def test_jobs_give_the_same_figures(cli):
    args = ["replay", OPENB, "--nodes", NODES, "--config", CONFIG, "--compare", "--variant", "node-policy=spread",
            "--variant", "hami-version=2.10", "-o", "json"]
    one, two = cli(*args), cli(*args, "--jobs", "2")
    assert one.exit_code == 0 and two.exit_code == 0, two.stderr
    assert json.loads(one.stdout) == json.loads(two.stdout)
