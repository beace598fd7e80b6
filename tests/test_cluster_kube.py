"""The live path: the real `kubernetes` client over HTTP against kmock's KubernetesEmulator."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml
from kube_emulator import KubeEmulator

from migctl.cluster.snapshot import load_snapshot

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cluster.yaml"
ITEMS = yaml.safe_load(EXAMPLE.read_text())["items"]


def many_nodes(n: int) -> list[dict]:
    return [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"extra-{i:03d}"}} for i in range(n)]


def test_live_status_matches_the_snapshot(cli, kube, tmp_path):
    kube.add(*ITEMS)
    kc = kube.write_kubeconfig(tmp_path / "kubeconfig")
    live = json.loads(cli("status", "--kubeconfig", kc, "-o", "json").stdout)
    offline = json.loads(cli("status", "--cluster", EXAMPLE, "-o", "json").stdout)
    assert live["source"].startswith("live cluster, context kmock (http://127.0.0.1:")
    for doc in (live, offline):
        doc.pop("source")
        doc["summary"].pop("pods")  # kmock ignores the field selector that leaves terminal pods out
    assert live == offline
    plurals = [plural for plural, _ in kube.list_requests]
    assert plurals == ["nodes", "pods", "configmaps"]
    pods_params = kube.list_requests[1][1]
    assert pods_params["fieldSelector"] == "status.phase!=Succeeded,status.phase!=Failed"
    assert pods_params["limit"] == "500"


def test_paging_follows_continue_tokens(cli, kube, tmp_path):
    kube.add(*ITEMS, *many_nodes(7))
    kc = kube.write_kubeconfig(tmp_path / "kubeconfig")
    r = cli("status", "--kubeconfig", kc, "--page-size", "3", "-o", "json")
    assert r.exit_code == 0, r.stderr
    names = [n["name"] for n in json.loads(r.stdout)["nodes"]]
    assert len(names) == 10 and "gpu-node-b" in names and "extra-006" in names
    node_requests = [params for plural, params in kube.list_requests if plural == "nodes"]
    assert [p.get("continue") is not None for p in node_requests] == [False, True, True, True]
    assert all(p["limit"] == "3" for p in node_requests)
    pod_requests = [params for plural, params in kube.list_requests if plural == "pods"]
    assert len(pod_requests) == 3  # 7 pods in pages of 3


def test_server_side_page_cap_is_honoured(cli, kube, tmp_path):
    kube.add(*ITEMS, *many_nodes(4))
    kube.page_size = 2  # the server returns fewer than asked, as a real API server may
    kc = kube.write_kubeconfig(tmp_path / "kubeconfig")
    doc = json.loads(cli("status", "--kubeconfig", kc, "-o", "json").stdout)
    assert len(doc["nodes"]) == 7
    assert len([1 for plural, _ in kube.list_requests if plural == "nodes"]) == 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_is_exit_3_with_reason(cli, tmp_path):
    with KubeEmulator() as emulator:
        config = emulator.kubeconfig()
    port = free_port()
    config["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{port}"
    kc = tmp_path / "kubeconfig"
    kc.write_text(yaml.safe_dump(config))
    r = cli("status", "--kubeconfig", kc)
    assert r.exit_code == 3
    assert f"cannot reach the Kubernetes API at http://127.0.0.1:{port}" in r.stderr
    assert "refused" in r.stderr.lower()
    assert "Traceback" not in r.stderr and r.stdout == ""


@pytest.mark.parametrize("status, words", [(403, "forbidden"), (401, "unauthorized")])
def test_auth_failures_are_exit_3(cli, kube, tmp_path, status, words):
    kube.add(*ITEMS)
    kube.fail_lists(status)
    kc = kube.write_kubeconfig(tmp_path / "kubeconfig")
    r = cli("status", "--kubeconfig", kc)
    assert r.exit_code == 3
    assert f"HTTP {status} {words}" in r.stderr and "list_node" in r.stderr


def test_forbidden_configmap_is_only_a_warning(cli, kube, tmp_path):
    kube.add(*ITEMS)
    kube.fail_lists(403, "configmaps")
    kc = kube.write_kubeconfig(tmp_path / "kubeconfig")
    r = cli("status", "--kubeconfig", kc, "-o", "json")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [w["code"] for w in doc["warnings"]] == ["no-config", "no-config"]
    assert "cannot read the hami-scheduler-device ConfigMap" in doc["warnings"][0]["message"]


@pytest.mark.parametrize(
    "content, fragment",
    [
        (None, "does not exist"),
        ("this: [is not\n", "cannot load kubeconfig"),
        ("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n", "cannot load kubeconfig"),
    ],
)
def test_bad_kubeconfig_is_exit_3(cli, tmp_path, content, fragment):
    kc = tmp_path / "kubeconfig"
    if content is not None:
        kc.write_text(content)
    r = cli("status", "--kubeconfig", kc)
    assert r.exit_code == 3, r.stderr
    assert fragment in r.stderr and "Traceback" not in r.stderr


def test_unknown_context_is_exit_3(cli, kube, tmp_path):
    kc = kube.write_kubeconfig(tmp_path / "kubeconfig")
    r = cli("status", "--kubeconfig", kc, "--context", "nope")
    assert r.exit_code == 3 and "nope" in r.stderr


def test_context_selects_the_cluster(cli, kube, tmp_path):
    kube.add(*ITEMS)
    config = kube.kubeconfig(context="real")
    config["contexts"].append({"name": "broken", "context": {"cluster": "broken", "user": "real"}})
    config["clusters"].append({"name": "broken", "cluster": {"server": f"http://127.0.0.1:{free_port()}"}})
    config["current-context"] = "broken"
    kc = tmp_path / "kubeconfig"
    kc.write_text(yaml.safe_dump(config))
    assert cli("status", "--kubeconfig", kc).exit_code == 3
    r = cli("status", "--kubeconfig", kc, "--context", "real", "-o", "json")
    assert r.exit_code == 0 and "context real" in json.loads(r.stdout)["source"]


@pytest.mark.parametrize("name", ["snap.yaml", "snap.json"])
def test_cluster_snapshot_round_trips(cli, kube, tmp_path, name):
    kube.add(*ITEMS)
    kc = kube.write_kubeconfig(tmp_path / "kubeconfig")
    out = tmp_path / name
    r = cli("cluster", "snapshot", "-f", out, "--kubeconfig", kc, "--page-size", "2")
    assert r.exit_code == 0, r.stderr
    assert "wrote 3 Nodes, 7 Pods, 1 ConfigMap" in r.stderr and r.stdout == ""
    text = out.read_text()
    if name.endswith(".yaml"):
        assert text.startswith("apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Node\n")
    else:
        assert json.loads(text)["kind"] == "List"
    assert "managedFields" not in text
    cluster = load_snapshot(out)
    assert [n.name for n in cluster.nodes] == ["cpu-node-1", "gpu-node-a", "gpu-node-b"]
    assert cluster.device_config_source == "ConfigMap kube-system/hami-scheduler-device"
    offline = json.loads(cli("status", "--cluster", EXAMPLE, "-o", "json").stdout)
    again = json.loads(cli("status", "--cluster", out, "-o", "json").stdout)
    assert again["nodes"] == offline["nodes"]


def test_failed_snapshot_leaves_no_file(cli, tmp_path):
    with KubeEmulator() as emulator:
        config = emulator.kubeconfig()
    config["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{free_port()}"
    kc = tmp_path / "kubeconfig"
    kc.write_text(yaml.safe_dump(config))
    out = tmp_path / "snap.yaml"
    r = cli("cluster", "snapshot", "-f", out, "--kubeconfig", kc)
    assert r.exit_code == 3
    assert not out.exists() and list(tmp_path.iterdir()) == [kc]


def test_snapshot_to_stdout_with_all_pods(cli, kube, tmp_path):
    kube.add(*ITEMS)
    kc = kube.write_kubeconfig(tmp_path / "kubeconfig")
    r = cli("cluster", "snapshot", "-f", "-", "--kubeconfig", kc, "--all-pods")
    assert r.exit_code == 0, r.stderr
    doc = yaml.safe_load(r.stdout)
    assert doc["kind"] == "List" and len(doc["items"]) == 11
    assert "fieldSelector" not in [p for plural, p in kube.list_requests if plural == "pods"][0]
    assert "wrote 3 Nodes, 7 Pods, 1 ConfigMap" in r.stderr


def test_typed_pages_build_what_the_dict_pages_build(kube, tmp_path, monkeypatch):
    """Node and pod pages are decoded by msgspec (``kube_json.read_page``); a page outside Kubernetes'
    own form is read as dicts. Either way the cluster is the one the dict reader builds, page by page."""
    import sys

    from migctl.cluster import kube_json
    from migctl.cluster.kube import read_cluster

    sys.path.insert(0, str(EXAMPLE.parent.parent / "bench"))
    from gen_cluster import generate

    objects = list(generate(6, 8, 60, generation="v2.10", realistic=True, seed=5))
    odd_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "odd", "namespace": "default",
                                                               "annotations": {"hami.io/vgpu-node": "gpu-node-00000"}},
               "spec": {"nodeName": "gpu-node-00000", "containers": [{"name": "c", "resources": {
                   "requests": {"cpu": 2, "memory": "1Gi"}}}]}}  # a number where a quantity string belongs
    kube.add(*ITEMS, *objects, odd_pod)
    kc = kube.write_kubeconfig(tmp_path / "kubeconfig")
    decoded: list[bool] = []
    real = kube_json.read_page

    def counting(data, kind):
        page = real(data, kind)
        decoded.append(page is not None)
        return page

    monkeypatch.setattr(kube_json, "read_page", counting)
    typed = read_cluster(kubeconfig=str(kc), page_size=20)
    assert True in decoded and False in decoded  # typed pages, and the odd pod's page as dicts
    monkeypatch.setattr(kube_json, "read_page", lambda data, kind: None)
    reference = read_cluster(kubeconfig=str(kc), page_size=20)
    assert len(typed.pods) == sum(o["kind"] == "Pod" for o in ITEMS) + 61 and typed.pods == reference.pods
    assert typed.nodes == reference.nodes
    assert (typed.device_config_text, typed.device_config_source, typed.warnings) == (
        reference.device_config_text, reference.device_config_source, reference.warnings)
