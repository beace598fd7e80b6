"""`migctl status` on snapshot files: the text a person reads, the JSON programs read, and the exit codes."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

DATA = Path(__file__).parent / "data" / "cluster"
EXAMPLE = EXAMPLES / "cluster.yaml"


def rows(stdout: str) -> dict[str, list[str]]:
    """The node table as {node: columns split on 2+ spaces}."""
    import re

    lines = stdout.splitlines()
    table = {}
    for line in lines[1:]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        table[cells[0]] = cells
    return table


def test_default_table_shows_one_row_per_node(cli):
    r = cli("status", "--cluster", EXAMPLE)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[0].split() == ["NODE", "HAMI", "MODE", "GPUS", "HEALTH", "IN", "USE", "GPU", "MEMORY",
                                                "MIG", "GEOMETRY"]
    table = rows(r.stdout)
    # v2.8-v2.9 adds every container's devices (HAMi v2.9.0 getNodesUsage): notebook's init 8000 + app 4000 MiB
    assert table["gpu-node-a"] == ["gpu-node-a", "v2.8-v2.9", "hami-core", "2× A100-PCIE-40GB", "ok", "2/2",
                                   "31.2/80.0 GiB 39%", "-"]
    assert table["gpu-node-b"] == ["gpu-node-b", "v2.8-v2.9", "mig", "2× A100-PCIE-40GB", "ok", "2/2",
                                   "25.0/80.0 GiB 31%", "2g.10gb:3,1g.5gb:1; 1g.5gb:7"]
    assert table["cpu-node-1"][1:3] == ["none", "-"]
    assert "3 nodes (2 with GPUs), 4 GPUs: 4 in use, 0 unhealthy" in r.stdout
    assert "HAMi generation v2.8-v2.9; device config: ConfigMap kube-system/hami-scheduler-device" in r.stdout
    assert "Problems" not in r.stdout
    assert r.stderr == ""


def test_node_view_draws_the_slot_grid(cli):
    r = cli("status", "--cluster", EXAMPLE, "--node", "gpu-node-b")
    assert r.exit_code == 0, r.stderr
    out = r.stdout
    assert "gpu-node-a" not in out
    assert "GPU 0  GPU-7a3e9b10-2c4d-4e5f-8a9b-1c2d3e4f5b00  A100-PCIE-40GB  mig  healthy" in out
    assert "geometry 2g.10gb:3,1g.5gb:1  (template 1 of the device config)" in out
    bar = next(line for line in out.splitlines() if line.strip().startswith("[") and "2g.10gb" in line)
    # three 2g.10gb instances (two used by gpu-pod1, one free), one free 1g.5gb, the 8th unit not carved
    assert [seg.strip() for seg in bar.strip().rstrip("·").strip("[]").split("][")] == [
        "2g.10gb ●", "2g.10gb ●", "2g.10gb ○", "1g.5gb ○"]
    assert bar.rstrip().endswith("·")
    assert "pod ml/gpu-pod1  20480 MiB  0% cores  slots 1-0, 1-1" in out
    assert "geometry 1g.5gb:7  (template 0 of the device config)" in out
    assert "pod ml/small-infer  5120 MiB  0% cores  slots 0-0" in out


def test_wide_shows_every_node_block_and_hami_core_memory_bar(cli):
    r = cli("status", "--cluster", EXAMPLE, "-o", "wide")
    assert r.exit_code == 0
    assert "gpu-node-a  HAMi v2.8-v2.9  mode hami-core  Ready" in r.stdout
    assert "pod default/train-llm  20000 MiB  50% cores" in r.stdout
    # notebook: init container 8000 MiB, app container 4000 MiB on a v2.8-v2.9 node -> both count, as
    # HAMi v2.9.0's getNodesUsage adds every entry (the init peak is v2.10's CollapseInitContainerUsage)
    assert "pod default/notebook  12000 MiB  0% cores" in r.stdout
    assert "batch-done" not in r.stdout  # Succeeded pods do not count
    assert "cpu-node-1  HAMi none" in r.stdout and "no GPUs registered by HAMi" in r.stdout


def test_json_shape(cli):
    r = cli("status", "--cluster", EXAMPLE, "-o", "json")
    assert r.exit_code == 0 and r.stderr == ""
    doc = json.loads(r.stdout)
    assert doc["generation"] == "v2.8-v2.9" and doc["warnings"] == []
    nodes = {n["name"]: n for n in doc["nodes"]}
    b = nodes["gpu-node-b"]
    assert b["generation"] == "v2.8-v2.9" and b["warnings"] == []
    gpu0 = b["gpus"][0]
    for key, kind in [("uuid", str), ("index", int), ("type", str), ("mode", str), ("health", bool),
                      ("memory_total_mib", int), ("memory_used_mib", int), ("cores_used", int), ("slots_used", int),
                      ("instances", list), ("pods", list)]:
        assert isinstance(gpu0[key], kind), key
    assert gpu0["geometry"] == "2g.10gb:3,1g.5gb:1"
    assert (gpu0["memory_used_mib"], gpu0["slots_used"]) == (20480, 2)
    assert [(i["profile"], i["used"], i["placement"]["start"], i.get("pod")) for i in gpu0["instances"]] == [
        ("2g.10gb", True, 0, "ml/gpu-pod1"), ("2g.10gb", True, 2, "ml/gpu-pod1"),
        ("2g.10gb", False, 4, None), ("1g.5gb", False, 6, None)]
    a = nodes["gpu-node-a"]
    assert [g["geometry"] for g in a["gpus"]] == [None, None]
    assert a["cpu"] == {"allocatable_millis": 32000, "requested_millis": 10000}
    assert {"migctl_desired", "migctl_applied", "migctl_state"} <= set(a)
    assert doc["summary"]["gpus"] == 4 and doc["summary"]["gpu_pods"] == 4


def test_yaml_output_is_the_same_document(cli):
    as_json = json.loads(cli("status", "--cluster", EXAMPLE, "-o", "json").stdout)
    as_yaml = yaml.safe_load(cli("status", "--cluster", EXAMPLE, "-o", "yaml").stdout)
    assert as_yaml == as_json


def test_v27_colon_cluster(cli):
    doc = json.loads(cli("status", "--cluster", DATA / "v27-colon.yaml", "-o", "json").stdout)
    assert doc["generation"] == "<=v2.7"
    nodes = {n["name"]: n for n in doc["nodes"]}
    mig = nodes["old-mig"]
    assert [g["geometry"] for g in mig["gpus"]] == ["2g.10gb:3,1g.5gb:1", None]
    assert mig["gpus"][0]["type"] == "NVIDIA-NVIDIA A100-PCIE-40GB"
    core = nodes["old-core"]
    assert [w["code"] for w in core["warnings"]] == ["stale-handshake"]


def test_v210_cluster_shows_reservations_lock_cordon_and_daemon(cli):
    doc = json.loads(cli("status", "--cluster", DATA / "v210-current.json", "-o", "json").stdout)
    assert doc["generation"] == "v2.10+"
    nodes = {n["name"]: n for n in doc["nodes"]}
    mig = nodes["mig-node"]
    gpu0, gpu1 = mig["gpus"]
    assert gpu0["geometry"] is None
    assert [(i["profile"], i["placement"], i["pod"], i["runtime_ready"]) for i in gpu0["instances"]] == [
        ("2g.10gb", {"start": 0, "size": 2}, "ml/two-slices", True),
        ("2g.10gb", {"start": 2, "size": 2}, "ml/two-slices", False),
        ("1g.5gb", {"start": 6, "size": 1}, "ml/one-slice", False)]
    assert (gpu0["memory_used_mib"], gpu0["cores_used"], gpu0["slots_used"]) == (24832, 73, 3)
    assert gpu1["cordoned"] is True
    assert mig["lock"]["holder"] == "ml/pending-pod"
    assert any(w["code"] in ("node-lock-held", "node-lock-expired") for w in mig["warnings"])
    core = nodes["core-node"]
    assert (core["migctl_desired"], core["migctl_state"]) == ("3g.40gb:2", "refused")
    assert [w["code"] for w in core["warnings"]] == ["geometry-refused"]


def test_problems_are_flagged_and_the_rest_still_shows(cli):
    r = cli("status", "--cluster", DATA / "problems.yaml", "-o", "json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    nodes = {n["name"]: n for n in doc["nodes"]}
    codes = {name: sorted({w["code"] for w in n["warnings"]}) for name, n in nodes.items()}
    assert codes["garbled"] == ["bad-annotation"]
    assert nodes["garbled"]["generation"] == "unknown"
    assert {"stale-handshake", "node-lock-expired", "unhealthy-gpu", "undecodable-pod", "bad-annotation"} <= set(
        codes["sick"])
    assert {"undecodable-pod", "config-missing-model", "no-allocatable-gpus"} <= set(codes["mig-uncovered"])
    # the good pod on the sick node is still counted
    assert nodes["sick"]["gpus"][0]["memory_used_mib"] == 4000
    assert [w["code"] for w in doc["warnings"]] == ["config-generation", "unknown-node"]
    text = cli("status", "--cluster", DATA / "problems.yaml")
    assert "Problems (14):" in text.stdout and "sick" in text.stdout and "1 unhealthy" in text.stdout


def test_config_override_replaces_the_configmap(cli, tmp_path):
    cfg = tmp_path / "device-config.yaml"
    cfg.write_text("nvidia:\n  knownMigGeometries:\n  - models: [A30]\n    allowedGeometries:\n"
                   "    - - {name: 1g.6gb, memory: 6144, count: 4}\n")
    doc = json.loads(cli("status", "--cluster", EXAMPLE, "--config", cfg, "-o", "json").stdout)
    assert doc["config"] == str(cfg)
    b = next(n for n in doc["nodes"] if n["name"] == "gpu-node-b")
    assert [g["geometry"] for g in b["gpus"]] == [None, None]
    assert {w["code"] for w in b["warnings"]} == {"config-missing-model"}


def test_without_config_legacy_geometry_is_unknown_but_usage_shows(cli, tmp_path):
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["items"] = [i for i in doc["items"] if i["kind"] != "ConfigMap"]
    path = tmp_path / "no-config.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = json.loads(cli("status", "--cluster", path, "-o", "json").stdout)
    assert [w["code"] for w in out["warnings"]] == ["no-config"]
    b = next(n for n in out["nodes"] if n["name"] == "gpu-node-b")
    assert b["gpus"][0]["memory_used_mib"] == 20480 and b["gpus"][0]["geometry"] is None


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("apiVersion: v1\nitems:\n- kind: Node\n  metadata: {name: a\n", "flow mapping at line 4"),
        ("apiVersion: v1\nitems:\n- 42\n", ":3: a list item must be a Kubernetes object"),
        ('{"apiVersion": "v1", "items": [{"kind": "Node"}, }', ":1: not valid JSON"),
        ("just some text\n", "not a Kubernetes List"),
        ("", "empty"),
    ],
)
def test_unreadable_snapshot_is_exit_2_with_file_and_line(cli, tmp_path, content, fragment):
    path = tmp_path / "snap.yaml"
    path.write_text(content)
    r = cli("status", "--cluster", path)
    assert r.exit_code == 2
    assert r.stderr.startswith(f"migctl: error: {path}")
    assert fragment in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_missing_snapshot_and_binary_file(cli, tmp_path):
    r = cli("status", "--cluster", tmp_path / "nope.yaml")
    assert r.exit_code == 2 and "no such file" in r.stderr
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    r = cli("status", "--cluster", binary)
    assert r.exit_code == 2 and "not a text file" in r.stderr


def test_unknown_node_and_bad_config_are_usage_errors(cli, tmp_path):
    r = cli("status", "--cluster", EXAMPLE, "--node", "nope")
    assert r.exit_code == 2 and "no node 'nope'" in r.stderr and "gpu-node-a" in r.stderr
    bad = tmp_path / "cfg.yaml"
    bad.write_text("nvidia: [\n")
    r = cli("status", "--cluster", EXAMPLE, "--config", bad)
    assert r.exit_code == 2 and "not valid YAML" in r.stderr
    r = cli("status", "--cluster", EXAMPLE, "--config", tmp_path / "missing.yaml")
    assert r.exit_code == 2 and "no such file" in r.stderr
    r = cli("status", "--cluster", EXAMPLE, "-o", "xml")
    assert r.exit_code == 2


def test_terminal_output_is_coloured_but_says_the_same(cli, monkeypatch):
    import re
    import sys

    plain = cli("status", "--cluster", EXAMPLE, "--node", "gpu-node-b").stdout
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = cli("status", "--cluster", EXAMPLE, "--node", "gpu-node-b").stdout
    assert "\x1b[" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


def test_no_kubeconfig_anywhere_is_exit_3_with_a_hint(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    r = cli("status")
    assert r.exit_code == 3
    assert "does not exist" in r.stderr and "--cluster FILE" in r.stderr


def test_streamed_json_is_the_report_document(cli):
    from datetime import datetime, timezone

    from migctl.cluster.device_config import attach_device_config
    from migctl.cluster.snapshot import load_snapshot
    from migctl.cluster.status import build_status
    from migctl.hardware.catalogue import load_catalogue

    cluster = load_snapshot(EXAMPLE)
    attach_device_config(cluster)
    expected = build_status(cluster, now=datetime.now(timezone.utc), catalogue=load_catalogue()).to_dict()
    assert json.loads(cli("status", "--cluster", EXAMPLE, "-o", "json").stdout) == expected


def test_empty_cluster(cli, tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("apiVersion: v1\nkind: List\nitems: []\n")
    r = cli("status", "--cluster", path, "-o", "json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["nodes"] == [] and [w["code"] for w in doc["warnings"]] == ["empty-snapshot"]
    assert yaml.safe_load(cli("status", "--cluster", path, "-o", "yaml").stdout) == doc
    text = cli("status", "--cluster", path, "-o", "wide")
    assert text.exit_code == 0 and "no nodes" in text.stdout and "holds no Node objects" in text.stdout


def test_daemon_desired_and_applied(cli, tmp_path):
    doc = yaml.safe_load(EXAMPLE.read_text())
    node_b = next(i for i in doc["items"] if i["metadata"]["name"] == "gpu-node-b")
    node_b["metadata"]["annotations"].update({
        "migctl.io/geometry": "1g.5gb:7",
        "migctl.io/geometry-state": "success",
        "migctl.io/geometry-applied": '{"0":"1g.5gb:7","1":"1g.5gb:7"}',
    })
    path = tmp_path / "daemon.yaml"
    path.write_text(yaml.safe_dump(doc))
    text = cli("status", "--cluster", path)
    assert "MIGCTL DESIRED -> APPLIED [STATE]" in text.stdout
    assert rows(text.stdout)["gpu-node-b"][-1] == "1g.5gb:7 -> 1g.5gb:7 ×2 [success]"
    out = json.loads(cli("status", "--cluster", path, "-o", "json").stdout)
    b = next(n for n in out["nodes"] if n["name"] == "gpu-node-b")
    assert (b["migctl_desired"], b["migctl_state"]) == ("1g.5gb:7", "success")
    assert b["migctl_applied"] == {"0": "1g.5gb:7", "1": "1g.5gb:7"}
    assert [g["migctl_applied"] for g in b["gpus"]] == ["1g.5gb:7", "1g.5gb:7"]
    # GPU 0's pods hold HAMi's template 1 while migctl says it applied 1g.5gb:7: the records disagree
    disagree = [w for w in b["warnings"] if w["code"] == "gpu-disagreement"]
    assert len(disagree) == 1 and "GPU 0" in disagree[0]["message"]


def test_config_may_be_the_configmap_manifest(cli, tmp_path):
    doc = yaml.safe_load(EXAMPLE.read_text())
    configmap = next(i for i in doc["items"] if i["kind"] == "ConfigMap")
    path = tmp_path / "cm.yaml"
    path.write_text(yaml.safe_dump(configmap))
    out = json.loads(cli("status", "--cluster", EXAMPLE, "--config", path, "-o", "json").stdout)
    assert out["config"] == str(path)
    b = next(n for n in out["nodes"] if n["name"] == "gpu-node-b")
    assert b["gpus"][0]["geometry"] == "2g.10gb:3,1g.5gb:1"
    configmap["data"] = {"other": "x"}
    path.write_text(yaml.safe_dump(configmap))
    r = cli("status", "--cluster", EXAMPLE, "--config", path)
    assert r.exit_code == 2 and "no data key 'device-config.yaml'" in r.stderr


def test_failed_and_stuck_allocations_are_flagged(cli, tmp_path):
    doc = yaml.safe_load(EXAMPLE.read_text())
    pods = {i["metadata"]["name"]: i for i in doc["items"] if i["kind"] == "Pod"}
    pods["train-llm"]["metadata"]["annotations"]["hami.io/bind-phase"] = "failed"
    pods["gpu-pod1"]["metadata"]["annotations"].update({"hami.io/bind-phase": "allocating",
                                                         "hami.io/bind-time": "1000000000"})
    pods["small-infer"]["metadata"]["annotations"].update({"hami.io/bind-phase": "allocating",
                                                            "hami.io/bind-time": "not a time"})
    path = tmp_path / "alloc.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = json.loads(cli("status", "--cluster", path, "-o", "json").stdout)
    codes = {n["name"]: [(w["code"], w.get("pod")) for w in n["warnings"]] for n in out["nodes"]}
    assert codes["gpu-node-a"] == [("allocation-failed", "default/train-llm")]
    assert codes["gpu-node-b"] == [("allocation-stuck", "ml/gpu-pod1")]


def _gpu_pod(name: str, node: str, devices: str, init: list[dict], containers: list[dict]) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default",
                         "annotations": {"hami.io/vgpu-node": node, "hami.io/vgpu-devices-allocated": devices}},
            "spec": {"nodeName": node, "initContainers": init, "containers": containers},
            "status": {"phase": "Running"}}


def test_shifted_container_layout_is_flagged_on_v210_nodes(cli, tmp_path):
    # HAMi v2.10.0 writes only the GPU containers' entries on nodes whose GPUs register a model type
    # (pkg/scheduler/score.go allocateInitContainers/allocateAppContainers; PatchAnnotations): the app's
    # devices sit at entry 0, which CollapseInitContainerUsage takes for the init container's
    doc = json.loads((DATA / "v210-current.json").read_text())
    gpu = "GPU-bbbb0000-0000-0000-0000-000000000000"
    doc["items"].append(_gpu_pod(
        "shifted", "core-node", f"{gpu},NVIDIA,1000,0:;{gpu},NVIDIA,1000,0:;",
        [{"name": "setup", "resources": {}}],
        [{"name": f"c{i}", "resources": {"limits": {"nvidia.com/gpu": "1"}}} for i in range(2)]))
    path = tmp_path / "shifted.json"
    path.write_text(json.dumps(doc))
    out = json.loads(cli("status", "--cluster", path, "-o", "json").stdout)
    core = next(n for n in out["nodes"] if n["name"] == "core-node")
    (w,) = [w for w in core["warnings"] if w["code"] == "shifted-containers"]
    assert w["pod"] == "default/shifted" and "HAMi counts the devices of 'c0' as an init" in w["message"]
    # 40000 (h100-job) + max(peak 1000, app 1000) with one slot: v2.10.0's CollapseInitContainerUsage
    assert (core["gpus"][0]["memory_used_mib"], core["gpus"][0]["slots_used"]) == (41000, 2)


def test_legacy_pod_with_two_geometries_on_one_gpu_is_flagged(cli, tmp_path):
    # [0-1] for the init container, [2-0] for the app on the GPU small-infer holds [0-0] of: HAMi
    # v2.9.0's getNodesUsage expands geometry 0 and marks slot 0 of it again for [2-0]
    doc = yaml.safe_load(EXAMPLE.read_text())
    gpu = "GPU-7a3e9b10-2c4d-4e5f-8a9b-1c2d3e4f5b01"
    limits = {"nvidia.com/gpu": "1", "nvidia.com/gpumem": "4000"}
    doc["items"].append(_gpu_pod("mixed", "gpu-node-b", f"{gpu}[0-1],NVIDIA,5120,0:;{gpu}[2-0],NVIDIA,20480,0:;",
                                 [{"name": "init", "resources": {"limits": limits}}],
                                 [{"name": "app", "resources": {"limits": limits}}]))
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = json.loads(cli("status", "--cluster", path, "-o", "json").stdout)
    node = next(n for n in out["nodes"] if n["name"] == "gpu-node-b")
    messages = [w["message"] for w in node["warnings"] if w.get("pod") == "default/mixed"]
    assert any("geometries 0 and 2" in m and "HAMi v2.9.0 cannot rebuild this" in m for m in messages)


def test_selector_keeps_matching_nodes_and_their_pods(cli):
    r = cli("status", "--cluster", str(EXAMPLE), "-l", "kubernetes.io/hostname in (gpu-node-a, cpu-node-1)", "-o", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [n["name"] for n in doc["nodes"]] == ["cpu-node-1", "gpu-node-a"]
    r = cli("status", "--cluster", str(EXAMPLE), "--selector", "!gpu", "-o", "json")
    assert [n["name"] for n in json.loads(r.stdout)["nodes"]] == ["cpu-node-1"]


def test_malformed_selector_is_a_usage_error(cli):
    r = cli("status", "--cluster", str(EXAMPLE), "-l", "gpu in (")
    assert r.exit_code == 2
    assert "label selector" in r.stderr and "Traceback" not in r.stderr


def test_no_headers_leaves_out_the_header_row_only(cli):
    with_headers = cli("status", "--cluster", str(EXAMPLE)).stdout.splitlines()
    without = cli("status", "--cluster", str(EXAMPLE), "--no-headers").stdout.splitlines()
    assert with_headers[0].startswith("NODE")
    assert without == with_headers[1:]


@pytest.mark.parametrize("generation", ["v2.9", "v2.10"])
def test_node_documents_encode_alike_through_msgspec_and_json(cli, tmp_path, generation, monkeypatch):
    """Large documents are encoded by msgspec: the same bytes as the C json encoder (`-o json` of a
    cluster with every kind of node problem, and the generated ones), and text msgspec refuses falls back."""
    import sys

    from migctl.api import cluster_status, load_cluster
    from migctl.cli.output import json_text
    from migctl.cli.status import node_json_text

    sys.path.insert(0, str(EXAMPLES.parent / "bench"))
    from gen_cluster import generate, write

    snapshot = tmp_path / "cluster.json"
    write(snapshot, generate(12, 8, 200, generation=generation, realistic=True, seed=3), "json")
    fast = node_json_text(10**6)
    assert fast is not json_text
    for source in (snapshot, EXAMPLE, DATA / "problems.yaml", DATA / "v210-current.json", DATA / "v27-colon.yaml"):
        for node in cluster_status(load_cluster(source)).nodes:
            doc = node.to_dict()
            assert fast(doc) == json_text(doc)
    odd = {"name": "n\ud800", "warnings": [{"message": "é\u2028\x1f"}]}
    assert fast(odd) == json_text(odd)
    # the whole -o json document is the same with either encoder
    monkeypatch.setattr("migctl.cli.status.MSGSPEC_NODES", 0)
    r_fast = cli("status", "--cluster", snapshot, "-o", "json")
    monkeypatch.setattr("migctl.cli.status.node_json_text", lambda nodes: json_text)
    r_json = cli("status", "--cluster", snapshot, "-o", "json")
    assert r_fast.exit_code == r_json.exit_code == 0
    assert r_fast.stdout == r_json.stdout and len(json.loads(r_fast.stdout)["nodes"]) == 12


def test_the_model_is_left_to_the_process_end_only_in_a_process_of_its_own(cli):
    """``migctl`` (a process of its own) leaves the model unfreed at exit; ``run`` in-process frees it."""
    import gc
    import subprocess
    import sys

    frozen = gc.get_freeze_count()
    inproc = cli("status", "--cluster", EXAMPLE, "-o", "json")
    assert inproc.exit_code == 0 and gc.get_freeze_count() == frozen  # nothing kept, nothing frozen here
    code = ("import gc, sys; from migctl.cli.main import main; sys.argv[1:] = sys.argv[2:]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n"
            "    print(gc.get_freeze_count() > 0, exc.code, file=sys.stderr)")
    child = subprocess.run([sys.executable, "-c", code, "--", "status", "--cluster", str(EXAMPLE), "-o", "json"],
                           capture_output=True, text=True, check=False, cwd=EXAMPLES.parent)
    assert child.stdout == inproc.stdout
    assert child.stderr.split()[-2:] == ["True", "0"]


@pytest.mark.parametrize("path", [EXAMPLE, *sorted(DATA.glob("*.yaml")), *sorted(DATA.glob("*.json"))],
                         ids=lambda p: p.name)
def test_the_node_table_is_the_same_without_the_gpus_pod_lists(path, capsys):
    """``status``'s node table is built without each GPU's pod list: it shows the same as with it."""
    from migctl.api import cluster_status, load_cluster
    from migctl.cli.status import render_text

    cluster = load_cluster(path)
    now = datetime(2026, 12, 4, tzinfo=timezone.utc)
    full, summary = cluster_status(cluster, now=now), cluster_status(cluster, now=now, gpu_pods=False)
    assert not any(g.pods for n in summary.nodes for g in n.gpus)
    outputs = []
    for report in (full, summary):
        capsys.readouterr()
        render_text(report, wide=False)
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    assert summary.summary() == full.summary()
