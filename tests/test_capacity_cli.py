"""`migctl capacity`: the JSON contract, text and drill-down, and bad input (exit 2, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CLUSTER = EXAMPLES / "cluster.yaml"


def test_json_contract(cli):
    result = cli("capacity", "--cluster", CLUSTER, "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["hami_version"] == "2.9"
    assert [s["shape"] for s in data["shapes"]][:4] == [
        "gpu=1,gpumem=5120,mode=mig", "gpu=1,gpumem=10240,mode=mig", "gpu=1,gpumem=20480,mode=mig",
        "gpu=1,gpumem=40960,mode=mig"]
    for s in data["shapes"]:
        assert isinstance(s["fits_now"], int) and isinstance(s["fits_empty"], int)
        assert s["fits_empty"] >= s["fits_now"]
        assert isinstance(s["by_node"], dict) and sum(s["by_node"].values()) == s["fits_now"]
        assert s["next_failure"] is None or isinstance(s["next_failure"], str)
    cluster = data["fragmentation"]["cluster"]
    assert isinstance(cluster["free_mib"], int) and isinstance(cluster["stranded_mib"], int)
    assert isinstance(cluster["fgd"], float) and 0 <= cluster["fgd"] <= 1
    nodes = {n["name"]: n for n in data["fragmentation"]["nodes"]}
    assert set(nodes) == {"gpu-node-a", "gpu-node-b", "cpu-node-1"}
    assert sum(n["free_mib"] for n in nodes.values()) == cluster["free_mib"]
    b = nodes["gpu-node-b"]
    assert {"name", "free_mib", "stranded_mib", "gpus"} <= set(b)
    assert [g["free_slots"] for g in b["gpus"]] == [["2g.10gb", "1g.5gb"], ["1g.5gb"] * 6]
    assert set(b["causes"]) == {"locked_geometry", "small_slots"}


def test_yaml_output(cli):
    import yaml

    result = cli("capacity", "--cluster", CLUSTER, "--shape", "gpu=1,gpumem=5120,mode=mig", "-o", "yaml")
    assert result.exit_code == 0
    data = yaml.safe_load(result.stdout)
    assert data["shapes"][0]["fits_now"] == 8 and data["shapes"][0]["fits_empty"] == 14


def test_text_and_node_drill_down(cli):
    result = cli("capacity", "--cluster", CLUSTER, "--node", "gpu-node-b")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "FITS NOW" in out and "FITS EMPTY" in out and "Why the next one stays Pending" in out
    assert "gpu=1,gpumem=5120,mode=mig: 0/3 nodes are available" in out
    assert "Worst nodes" in out and "gpu-node-b" in out
    assert "[    2g.10gb ●     ][    2g.10gb ●     ][    2g.10gb ○     ][1g.5gb ○]××××××××××" in out
    assert "× stranded" in out and "stranded by: small_slots 7,680, locked_geometry 2,560" in out
    assert "HAMi 2.9 inferred" in result.stderr


def test_node_drill_down_json_v210(cli):
    result = cli("capacity", "--cluster", CLUSTER, "--hami-version", "2.10", "--node", "gpu-node-b", "-o", "json")
    node = json.loads(result.stdout)["node"]
    assert node["name"] == "gpu-node-b"
    assert node["gpus"][0]["layout"]["units"] == 8


def test_workload_shapes(cli):
    result = cli("capacity", "--cluster", CLUSTER, "--workload", EXAMPLES / "pods.yaml", "-o", "json")
    assert result.exit_code == 0, result.stderr
    shapes = json.loads(result.stdout)["shapes"]
    assert [(s["shape"], s["weight"]) for s in shapes] == [("gpu=2,gpumem=8000", 0.5), ("gpu=2,gpumem=8000,mode=mig", 0.5)]


@pytest.mark.parametrize("args, words", [
    (["--shape", "gpu=0"], "--shape 'gpu=0': gpu: expected a whole number >= 1"),
    (["--shape", "gpumem=lots"], "gpumem: expected a whole number"),
    (["--shape", "mode=vgpu"], "mode: expected one of mig, hami-core, either"),
    (["--shape", "colour=red"], "colour: unknown key"),
    (["--shape", "gpumem=50%"], "resourceMemoryPercentageName"),
    (["--node", "nope"], "--node: no node 'nope'"),
    (["--shape", "gpu=1", "--workload", "x.yaml"], "one or the other"),
    (["--workload", "/nonexistent/pods.yaml"], "no such file"),
])
def test_bad_input_exits_2(cli, args, words):
    result = cli("capacity", "--cluster", CLUSTER, *args)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize("text, words", [
    ("kind: Pod\nmetadata: {name: a}\nspec: {containers: [ {name: c\n", "w.yaml:"),
    ("kind: Service\nmetadata: {name: a}\n", "w.yaml:1: kind 'Service' is not supported"),
    ("---\nkind: Pod\nmetadata: {name: a}\nspec: {containers: []}\n", "w.yaml:2"),
    ("kind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c}]}\n", "no pod in the workload asks for a GPU"),
    ("kind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, resources: {limits: {nvidia.com/gpu: 1,"
     " nvidia.com/gpumem: 1.5}}}]}\n", "not a whole number"),
    ("", "no pods"),
])
def test_bad_workload_files_exit_2(cli, tmp_path, text, words):
    path = tmp_path / "w.yaml"
    path.write_text(text)
    result = cli("capacity", "--cluster", CLUSTER, "--workload", path)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_cluster_exits_2(cli, tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("kind: List\nitems: [\n")
    result = cli("capacity", "--cluster", bad)
    assert result.exit_code == 2 and "Traceback" not in result.stderr


def test_live_cluster_read_only_matches_the_snapshot(cli, tmp_path):
    import yaml
    from kube_emulator import KubeEmulator

    items = yaml.safe_load(CLUSTER.read_text())["items"]
    with KubeEmulator() as kube:
        kube.add(*items)
        kc = kube.write_kubeconfig(tmp_path / "kubeconfig")
        live = cli("capacity", "--kubeconfig", kc, "-o", "json")
        after = kube.get("Node", "gpu-node-b")
    snap = cli("capacity", "--cluster", CLUSTER, "-o", "json")
    assert live.exit_code == 0, live.stderr
    live_data, snap_data = json.loads(live.stdout), json.loads(snap.stdout)
    assert live_data["shapes"] == snap_data["shapes"]
    assert live_data["fragmentation"] == snap_data["fragmentation"]
    before = next(i for i in items if i["metadata"]["name"] == "gpu-node-b")
    assert after["metadata"]["annotations"] == before["metadata"]["annotations"]


def test_live_cluster_unreachable_is_exit_3(cli, tmp_path):
    import yaml

    kc = tmp_path / "kubeconfig"
    kc.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": "http://127.0.0.1:9"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
        "users": [{"name": "x", "user": {"token": "t"}}]}))
    r = cli("capacity", "--kubeconfig", kc)
    assert r.exit_code == 3 and "Traceback" not in r.stderr


def test_no_headers_leaves_out_the_table_headers(cli):
    from conftest import REPO

    snapshot = str(REPO / "examples" / "cluster.yaml")
    with_headers = cli("capacity", "--cluster", snapshot)
    without = cli("capacity", "--cluster", snapshot, "--no-headers")
    assert with_headers.exit_code == without.exit_code == 0, without.stderr
    assert "SHAPE" in with_headers.stdout and "SHAPE" not in without.stdout
    assert "FITS NOW" not in without.stdout
