"""``migctl simulate`` through the real entry point: inputs, outputs, exit codes."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "simulate"
SEED_PODS = DATA / "seed-pods.yaml"  # the guide's pods as written (both gpu-pod1); examples/pods.yaml names the second gpu-pod2
EMPTY_A100 = DATA / "a100-mig-empty.yaml"
MIXED = DATA / "mixed-v2.10.yaml"
SEED_CONFIG = DATA / "seed-device-config.yaml"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_seed_example_json(cli):
    r = cli("simulate", SEED_PODS, "--cluster", EMPTY_A100, "--config", SEED_CONFIG, "-o", "json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["summary"] == {"pods": 2, "scheduled": 2, "unschedulable": 0}
    assert data["hami_version"] == "2.9"
    first = data["pods"][0]
    assert first["pod"] == "default/gpu-pod1" and first["node"] == "gpu-a"
    assert [(d["gpu_uuid"], d["profile"], d["slot"], d["geometry"]) for d in first["devices"]] == [
        ("GPU-a1", "2g.10gb", 0, "2g.10gb:3,1g.5gb:1"), ("GPU-a1", "2g.10gb", 1, "2g.10gb:3,1g.5gb:1")]
    assert first["annotations"]["hami.io/vgpu-devices-allocated"] == \
        "GPU-a1[1-0],NVIDIA,10240,0:GPU-a1[1-1],NVIDIA,10240,0:;"
    assert first["annotations"]["hami.io/vgpu-node"] == "gpu-a"
    assert data["pods"][1]["devices"][0]["gpu_uuid"] == "GPU-a0"
    assert "AlreadyExists" in r.stderr and "2.9 inferred" in r.stderr
    assert {g["geometry"] for g in data["gpus"]} == {"2g.10gb:3,1g.5gb:1"}


def test_seed_example_text(cli):
    r = cli("simulate", SEED_PODS, "--cluster", EMPTY_A100, "--config", SEED_CONFIG)
    assert r.exit_code == 0
    assert "2g.10gb:3,1g.5gb:1" in r.stdout
    assert "2 pod(s): 2 scheduled, 0 unschedulable" in r.stdout


def test_v2_10_on_a_snapshot_without_mig_profiles_derives_them(cli):
    r = cli("simulate", SEED_PODS, "--cluster", EMPTY_A100, "--hami-version", "2.10", "-o", "yaml")
    assert r.exit_code == 0, r.stderr
    data = yaml.safe_load(r.stdout)
    devices = data["pods"][1]["devices"]
    assert [(d["profile"], d["placement"]) for d in devices] == [
        ("2g.10gb", {"start": 0, "size": 2}), ("2g.10gb", {"start": 2, "size": 2})]
    assert devices[0]["geometry"] is None and devices[0]["slot"] is None
    reservations = json.loads(data["pods"][1]["annotations"]["hami.io/vgpu-mig-allocations"])
    assert [r_["placement"]["start"] for r_ in reservations] == [0, 2]
    assert "derived from the hardware catalogue" in r.stderr


def test_mixed_cluster_reasons_and_exit_1(cli, tmp_path):
    pods = write(tmp_path, "p.yaml", """\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: infer, namespace: ml}
        spec:
          replicas: 3
          template:
            metadata:
              annotations: {nvidia.com/vgpu-mode: mig}
            spec:
              containers:
              - name: c
                resources:
                  limits: {nvidia.com/gpu: 1, nvidia.com/gpumem: 9000, cpu: "1"}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: big-cpu}
        spec:
          containers:
          - name: c
            resources: {limits: {nvidia.com/gpu: 1, nvidia.com/gpumem: 1000, cpu: "64"}}
        """)
    r = cli("simulate", pods, "--cluster", MIXED, "-o", "json")
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert data["hami_version"] == "2.10"
    assert data["summary"] == {"pods": 4, "scheduled": 3, "unschedulable": 1}
    # the existing reservation at start 0 on GPU-m0 is respected
    placements = [(d["gpu_uuid"], d["placement"]["start"]) for p in data["pods"][:3] for d in p["devices"]]
    assert placements == [("GPU-m1", 0), ("GPU-m1", 2), ("GPU-m0", 2)]
    big = data["pods"][3]
    assert big["scheduled"] is False and big["node"] is None and big["devices"] == []
    assert big["reason"] == ("0/4 nodes are available: 3 Insufficient cpu, "
                             "1 node(s) had untolerated taint {dedicated: infer}.")
    assert "annotations" not in big


def test_explain_json_lists_every_node_and_gpu(cli, tmp_path):
    pods = write(tmp_path, "p.yaml", """\
        apiVersion: v1
        kind: Pod
        metadata: {name: core}
        spec:
          containers:
          - name: c
            resources: {limits: {nvidia.com/gpu: 1, nvidia.com/gpumem: 1000, nvidia.com/gpucores: 10}}
        """)
    r = cli("simulate", pods, "--cluster", MIXED, "--explain", "-o", "json", "--node-policy", "spread")
    assert r.exit_code == 0
    explain = json.loads(r.stdout)["pods"][0]["explain"]
    assert [n["node"] for n in explain["nodes"]] == ["core-1", "mig-1", "small", "tainted"]
    assert explain["tie"] == []
    small = explain["nodes"][2]
    assert small["ok"] and small["score"] == 0.0 and small["gpus"][0]["verdict"] == "selected"
    assert json.loads(r.stdout)["pods"][0]["node"] == "small"  # spread: the emptiest node
    text = cli("simulate", pods, "--cluster", MIXED, "--explain")
    assert "node tainted: node(s) had untolerated taint {dedicated: infer}" in text.stdout


def test_repeat_and_combined_node_score(cli, tmp_path):
    pods = write(tmp_path, "p.yaml", """\
        apiVersion: v1
        kind: Pod
        metadata: {name: w}
        spec:
          containers:
          - name: c
            resources: {limits: {nvidia.com/gpu: 1, nvidia.com/gpumem: 1000, nvidia.com/gpucores: 5, cpu: "1"}}
        """)
    r = cli("simulate", pods, "--cluster", MIXED, "--repeat", "3", "--node-score", "combined", "-o", "json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert [p["pod"] for p in data["pods"]] == ["default/w", "default/w-r1", "default/w-r2"]
    # combined binpack: "small" (2 CPUs) is the most loaded by CPU once a pod is on it
    assert {p["node"] for p in data["pods"]} <= {"core-1", "mig-1", "small"}


def test_config_as_configmap_and_strict_config(cli, tmp_path):
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "hami-scheduler-device"},
          "data": {"device-config.yaml": SEED_CONFIG.read_text()}}
    cm_path = tmp_path / "cm.yaml"
    cm_path.write_text(yaml.safe_dump(cm))
    r = cli("simulate", SEED_PODS, "--cluster", EMPTY_A100, "--config", cm_path, "-o", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["hami_version"] == "2.9"
    empty_cm = tmp_path / "empty-cm.yaml"
    empty_cm.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "data": {"other": "x"}}))
    r = cli("simulate", SEED_PODS, "--cluster", EMPTY_A100, "--config", empty_cm)
    assert r.exit_code == 2 and "device-config.yaml" in r.stderr


def test_config_findings_are_reported_and_strict_stops(cli, tmp_path):
    # a flat allowedGeometries list (the website's mistake): HAMi's YAML parser would reject it, the
    # linter reports it as an error; without --strict-config the simulation goes on
    flawed = write(tmp_path, "flawed.yaml", """\
        nvidia:
          resourceCountName: nvidia.com/gpu
          resourceMemoryName: nvidia.com/gpumem
          resourceCoreName: nvidia.com/gpucores
          knownMigGeometries:
          - models: ["A100-PCIE-40GB"]
            allowedGeometries:
            - name: 1g.5gb
              memory: 5120
              count: 7
        """)
    r = cli("simulate", SEED_PODS, "--cluster", EMPTY_A100, "--config", flawed, "-o", "json")
    assert r.exit_code in (0, 1), r.stderr
    json.loads(r.stdout)  # stdout stays machine-readable; findings are on stderr
    assert "flawed.yaml:" in r.stderr and "error" in r.stderr
    r = cli("simulate", SEED_PODS, "--cluster", EMPTY_A100, "--config", flawed, "--strict-config")
    assert r.exit_code == 1 and "strict-config" in r.stderr


def test_many_config_warnings_are_counted_by_code_unless_explain(cli):
    example_config = REPO / "examples" / "device-config.yaml"
    r = cli("simulate", SEED_PODS, "--cluster", EMPTY_A100, "--config", example_config)
    assert "0 error(s)" in r.stderr
    assert "memory-over-profile x" in r.stderr  # counted, not one line each
    assert "[memory-over-profile]" not in r.stderr
    r = cli("simulate", SEED_PODS, "--cluster", EMPTY_A100, "--config", example_config, "--explain")
    assert r.stderr.count("[memory-over-profile]") >= 10
    r = cli("simulate", SEED_PODS, "--cluster", EMPTY_A100, "--config", example_config, "-o", "json")
    findings = json.loads(r.stdout)["config_findings"]
    assert sum("[memory-over-profile]" in f for f in findings) >= 10


def test_unparseable_config_is_an_input_error(cli, tmp_path):
    bad = write(tmp_path, "bad.yaml", "nvidia: [unclosed\n")
    r = cli("simulate", SEED_PODS, "--cluster", EMPTY_A100, "--config", bad)
    assert r.exit_code == 2 and "bad.yaml" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("text,needle", [
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers: [\n", "not valid YAML"),
    ("kind: DaemonSet\nmetadata: {name: ds}\n", "not supported"),
    ("kind: Pod\nmetadata: {name: x}\nspec: {containers: []}\n", "at least one container"),
    ("kind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - name: c\n    resources: {limits: {cpu: lots}}\n",
     "limits.cpu"),
    ("kind: Deployment\nmetadata: {name: d}\nspec: {replicas: -1, template: {spec: {containers: [{name: c}]}}}\n",
     "replicas"),
    ("- just\n- a list\n", "expected a Kubernetes object"),
    ("", "no pods"),
])
def test_bad_pod_files_exit_2_with_file_and_line(cli, tmp_path, text, needle):
    path = write(tmp_path, "pods.yaml", "---\n" + text if text else "")
    r = cli("simulate", path, "--cluster", EMPTY_A100)
    assert r.exit_code == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
    if text:
        assert "pods.yaml" in r.stderr


def test_missing_inputs_exit_2(cli, tmp_path):
    r = cli("simulate", tmp_path / "nope.yaml", "--cluster", EMPTY_A100)
    assert r.exit_code == 2 and "no such file" in r.stderr
    r = cli("simulate", SEED_PODS, "--cluster", tmp_path / "nope.yaml")
    assert r.exit_code == 2
    r = cli("simulate", SEED_PODS, "--cluster", EMPTY_A100, "--hami-version", "3.0")
    assert r.exit_code == 2


def test_geometry_the_hardware_cannot_create_is_reported(cli, tmp_path):
    config = write(tmp_path, "cfg.yaml", """\
        nvidia:
          resourceCountName: nvidia.com/gpu
          resourceMemoryName: nvidia.com/gpumem
          resourceCoreName: nvidia.com/gpucores
          knownMigGeometries:
          - models: ["A100-PCIE-40GB"]
            allowedGeometries:
            - - {name: 3g.20gb, memory: 20480, count: 2}
              - {name: 1g.5gb, memory: 5120, count: 1}
        """)
    pods = write(tmp_path, "p.yaml", """\
        kind: Pod
        metadata: {name: p}
        spec:
          containers:
          - name: c
            resources: {limits: {nvidia.com/gpu: 1, nvidia.com/gpumem: 20000}}
        """)
    r = cli("simulate", pods, "--cluster", EMPTY_A100, "--config", config, "-o", "json")
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert data["pods"][0]["devices"][0]["geometry"] == "3g.20gb:2,1g.5gb:1"
    assert len(data["node_problems"]) == 1 and "could not create geometry 3g.20gb:2,1g.5gb:1" in r.stderr


def test_live_cluster_unreachable_exits_3(cli, monkeypatch):
    import migctl.cli.status as status

    def unreachable(*_, **__):
        from migctl.errors import UnreachableError

        raise UnreachableError("cannot reach the Kubernetes API server")

    monkeypatch.setattr(status, "load_cluster", unreachable)
    r = cli("simulate", SEED_PODS)
    assert r.exit_code == 3


def test_help_does_not_import_heavy_modules():
    import subprocess

    code = ("import sys; from migctl.cli.main import run; run(['simulate', '--help']); "
            "print('MODS=' + ','.join(m for m in ('kubernetes', 'pynvml', 'migctl.simulate.engine') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert out.stdout.strip().splitlines()[-1] == "MODS="


def test_live_cluster_read_only_matches_the_snapshot(cli, tmp_path):
    from kube_emulator import KubeEmulator

    items = yaml.safe_load(MIXED.read_text())["items"]
    pods = write(tmp_path, "p.yaml", """\
        kind: Pod
        metadata: {name: m, annotations: {nvidia.com/vgpu-mode: mig}}
        spec:
          containers:
          - name: c
            resources: {limits: {nvidia.com/gpu: 2, nvidia.com/gpumem: 9000}}
        """)
    with KubeEmulator() as kube:
        kube.add(*items)
        kc = kube.write_kubeconfig(tmp_path / "kubeconfig")
        live = cli("simulate", pods, "--kubeconfig", kc, "-o", "json")
        after = kube.get("Node", "mig-1")
    snap = cli("simulate", pods, "--cluster", MIXED, "-o", "json")
    assert live.exit_code == 0, live.stderr
    assert json.loads(live.stdout)["pods"] == json.loads(snap.stdout)["pods"]
    assert after["metadata"]["annotations"] == next(i for i in items if i["metadata"]["name"] == "mig-1")["metadata"]["annotations"]


def test_live_cluster_unreachable_is_exit_3(cli, tmp_path):
    kc = tmp_path / "kubeconfig"
    kc.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": "http://127.0.0.1:9"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
        "users": [{"name": "x", "user": {"token": "t"}}]}))
    r = cli("simulate", SEED_PODS, "--kubeconfig", kc)
    assert r.exit_code == 3 and "Traceback" not in r.stderr


def test_pods_from_stdin(cli, monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO(SEED_PODS.read_text()))
    r = cli("simulate", "-", "--cluster", EMPTY_A100, "--config", SEED_CONFIG, "-o", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["summary"]["scheduled"] == 2


def test_many_cluster_notes_are_capped_on_stderr(cli, tmp_path):
    items = yaml.safe_load(EMPTY_A100.read_text())["items"]
    for i in range(30):  # pods holding GPUs the node does not register: one note each
        items.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"stale-{i}", "namespace": "x",
                      "annotations": {"hami.io/vgpu-node": "gpu-a",
                                      "hami.io/vgpu-devices-allocated": f"GPU-gone-{i},NVIDIA,100,0:;"}},
                      "spec": {"nodeName": "gpu-a", "containers": [{"name": "c"}]}, "status": {"phase": "Running"}})
    snap = tmp_path / "snap.yaml"
    snap.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    r = cli("simulate", SEED_PODS, "--cluster", snap, "--hami-version", "2.10", "-o", "json")
    assert r.exit_code == 0
    assert len(json.loads(r.stdout)["cluster_notes"]) >= 30
    assert "more notes about the cluster" in r.stderr and r.stderr.count("GPU-gone-") <= 20
