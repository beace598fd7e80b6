"""deploy/: the manifests agree with the code (names, ports, args, RBAC covering exactly what it calls)."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import yaml
from daemon_support import FakeEngine, create_node, patch_annotations, wait_for

from migctl import node_protocol as protocol
from migctl.daemon.kube import NodeApi
from migctl.daemon.loop import Daemon, DaemonOptions

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def by_kind(name: str, kind: str) -> list[dict]:
    return [d for d in docs(name) if d["kind"] == kind]


def daemonset() -> dict:
    (ds,) = by_kind("daemonset.yaml", "DaemonSet")
    return ds


def container() -> dict:
    (c,) = daemonset()["spec"]["template"]["spec"]["containers"]
    return c


def args() -> dict[str, str]:
    return dict(a.removeprefix("--").split("=", 1) for a in container()["args"] if a.startswith("--"))


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = docs("kustomization.yaml")
    manifests = sorted(p.name for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == manifests


def test_daemonset_runs_the_daemon_with_node_name_state_dir_and_probes(cli) -> None:
    ds, c = daemonset(), container()
    pod = ds["spec"]["template"]["spec"]
    assert c["args"][:2] == ["node", "daemon"]
    env = {e["name"]: e for e in c["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    port = int(args()["metrics-port"])
    (metrics_port,) = [p for p in c["ports"] if p["name"] == "metrics"]
    assert metrics_port["containerPort"] == port
    assert ds["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    # liveness and readiness are separate endpoints (issue 14): /healthz restarts a stalled daemon
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts["state"] == args()["state-dir"] and volumes["state"]["hostPath"]["path"] == args()["state-dir"]
    assert pod["runtimeClassName"] == "nvidia" and pod["nodeSelector"]
    assert pod["terminationGracePeriodSeconds"] >= 60
    assert c["securityContext"].get("privileged") or "SYS_ADMIN" in c["securityContext"]["capabilities"]["add"]
    # every option the manifest passes exists on the command
    result = cli(*c["args"], "--help")
    assert result.exit_code == 0, result.stderr


def test_service_account_and_namespaces_line_up() -> None:
    (sa,) = by_kind("rbac.yaml", "ServiceAccount")
    (ns,) = by_kind("namespace.yaml", "Namespace")
    pod = daemonset()["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == sa["metadata"]["name"]
    assert daemonset()["metadata"]["namespace"] == sa["metadata"]["namespace"] == ns["metadata"]["name"]
    for binding in by_kind("rbac.yaml", "ClusterRoleBinding") + by_kind("rbac.yaml", "RoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                        "namespace": sa["metadata"]["namespace"]}]
    (policy,) = by_kind("admission-policy.yaml", "ValidatingAdmissionPolicy")
    username = f"system:serviceaccount:{sa['metadata']['namespace']}:{sa['metadata']['name']}"
    assert username in policy["spec"]["matchConditions"][0]["expression"]
    variables = {v["name"]: v["expression"] for v in policy["spec"]["variables"]}
    assert re.findall(r"'([^']+)'", variables["reportAnnotations"]) == [
        protocol.STATE, protocol.APPLIED, protocol.MESSAGE, protocol.OBSERVED]
    assert re.findall(r"'([^']+)'", variables["reportLabels"]) == [protocol.MIG_CONFIG_STATE_LABEL]
    (binding,) = by_kind("admission-policy.yaml", "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]


def _allowed() -> set[tuple[str | None, str, str]]:
    """(namespace or None for cluster-wide, resource, verb) the daemon's roles grant."""
    granted: set[tuple[str | None, str, str]] = set()
    roles = {("ClusterRole", r["metadata"]["name"]): (None, r) for r in by_kind("rbac.yaml", "ClusterRole")}
    roles |= {("Role", r["metadata"]["name"]): (r["metadata"]["namespace"], r) for r in by_kind("rbac.yaml", "Role")}
    for binding in by_kind("rbac.yaml", "ClusterRoleBinding") + by_kind("rbac.yaml", "RoleBinding"):
        namespace, role = roles[(binding["roleRef"]["kind"], binding["roleRef"]["name"])]
        namespace = binding["metadata"].get("namespace", namespace)
        for rule in role["rules"]:
            assert rule["apiGroups"] == [""] and "*" not in rule["verbs"] and "*" not in rule["resources"]
            granted |= {(namespace, res, verb) for res in rule["resources"] for verb in rule["verbs"]}
    return granted


def test_rbac_is_exactly_what_the_daemon_calls(kube) -> None:
    """Run the daemon against the API server, map every request to an RBAC verb, compare with rbac.yaml."""
    admin = kube.api_client()
    admin.user_agent = "migctl-test-admin"  # to tell the test's own requests from the daemon's
    create_node(admin, "n1")
    engine = FakeEngine({0: "disabled"})
    daemon = Daemon(NodeApi(kube.api_client(), "n1", request_timeout=2), engine, DaemonOptions(resync_interval=0.2))
    stop = threading.Event()
    thread = threading.Thread(target=daemon.run, args=(stop,), daemon=True)
    thread.start()
    try:
        patch_annotations(admin, "n1", {protocol.DESIRED: "1g.5gb:7"})
        wait_for(lambda: kube.annotations("n1").get(protocol.STATE) == "success")
        wait_for(lambda: len(kube.events()) >= 2)
    finally:
        stop.set()
        thread.join(10)
    used: set[tuple[str | None, str, str]] = set()
    for request in list(kube.handler):
        if request.headers.get("User-Agent") == "migctl-test-admin":
            continue
        path, params = request.url.path, dict(request.params)
        if params.get("fieldSelector") is None and request.method.upper() == "GET" and params.get("watch") == "true":
            raise AssertionError("the daemon watched nodes without a field selector")
        if path.startswith("/api/v1/namespaces/default/events") and request.method.upper() == "POST":
            used.add(("default", "events", "create"))
        elif path == "/api/v1/nodes" and params.get("watch") == "true":
            assert params["fieldSelector"] == "metadata.name=n1"
            used.add((None, "nodes", "watch"))
        elif path.startswith("/api/v1/nodes/"):
            used.add((None, "nodes", {"GET": "get", "PATCH": "patch"}[request.method.upper()]))
        else:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
    daemon_requests = used
    assert daemon_requests == {(None, "nodes", "get"), (None, "nodes", "watch"), (None, "nodes", "patch"),
                               ("default", "events", "create")}
    assert daemon_requests == _allowed()


def test_dockerfile_builds_an_image_that_runs_the_daemon() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["migctl"]' in text and 'CMD ["node", "daemon"]' in text
    for env in ("NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_DRIVER_CAPABILITIES=utility", "NVIDIA_MIG_CONFIG_DEVICES=all",
                "NVIDIA_MIG_MONITOR_DEVICES=all"):
        assert env in text
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.M)
    for item in " ".join(copied).split():
        assert (DEPLOY.parent / item).exists(), item


def test_dockerfile_copies_what_the_copied_symlinks_point_to() -> None:
    """``migctl/config/schemas`` links to the top-level ``schemas/``: the build context must hold both."""
    repo = DEPLOY.parent.resolve()
    text = (DEPLOY / "Dockerfile").read_text()
    copied = {item for line in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.M) for item in line.split()}
    for item in copied:
        root = repo / item
        paths = [root, *root.rglob("*")] if root.is_dir() else [root]
        for path in paths:
            if path.is_symlink():
                target = path.resolve().relative_to(repo)
                assert target.parts[0] in copied, f"{path.relative_to(repo)} -> {target}: not copied"


def test_geometry_editor_role_is_exactly_what_set_geometry_calls(kube, cli, tmp_path) -> None:
    """Run ``set-geometry --wait`` (whole node, then one GPU) against the API server while a daemon
    answers; map its requests to RBAC verbs and compare with the migctl-geometry-editor ClusterRole."""
    admin = kube.api_client()
    admin.user_agent = "migctl-test-admin"
    create_node(admin, "n1", labels={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"})
    daemon_client = kube.api_client()
    daemon_client.user_agent = "migctl-test-daemon"
    daemon = Daemon(NodeApi(daemon_client, "n1", request_timeout=2), FakeEngine({0: "disabled", 1: "disabled"}),
                    DaemonOptions(resync_interval=0.2))
    stop = threading.Event()
    thread = threading.Thread(target=daemon.run, args=(stop,), daemon=True)
    thread.start()
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    try:
        result = cli("node", "set-geometry", "n1", "1g.5gb:7", "--wait", "--timeout", "20", "--kubeconfig", kubeconfig)
        assert result.exit_code == 0, result
        result = cli("node", "set-geometry", "n1", "7g.40gb:1", "--gpu", "1", "--wait", "--timeout", "20",
                     "--kubeconfig", kubeconfig)
        assert result.exit_code == 0, result
    finally:
        stop.set()
        thread.join(10)
    used: set[str] = set()
    for request in list(kube.handler):
        if request.headers.get("User-Agent") in ("migctl-test-admin", "migctl-test-daemon"):
            continue
        path, method = request.url.path, request.method.upper()
        assert path.startswith("/api/v1/nodes/n1"), f"set-geometry called {method} {request.url}"
        assert "watch" not in dict(request.params)
        used.add({"GET": "get", "PATCH": "patch"}[method])
    (role,) = [r for r in by_kind("rbac.yaml", "ClusterRole") if r["metadata"]["name"] == "migctl-geometry-editor"]
    (rule,) = role["rules"]
    assert rule["apiGroups"] == [""] and rule["resources"] == ["nodes"]
    assert used == {"get", "patch"} == set(rule["verbs"])
