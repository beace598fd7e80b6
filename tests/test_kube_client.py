"""The one Kubernetes client (``migctl.kube``): kubeconfig order, kubectl's KUBECONFIG merge, one error
mapping for every command that talks to a cluster, and finding HAMi's chart-named ConfigMaps."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from migctl.cluster.kube import DEVICE_PLUGIN_CONFIG, SCHEDULER_DEVICE_CONFIG, parse_config_map_ref
from migctl.errors import InputError, UnreachableError
from migctl.kube import ConfigSource, find_config, merge_kubeconfigs, read_kubeconfig

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "cluster.yaml"
ITEMS = yaml.safe_load(EXAMPLE.read_text())["items"]
NODES_AND_PODS = [i for i in ITEMS if i["kind"] != "ConfigMap"]
DEVICE_CONFIG = next(i for i in ITEMS if i["kind"] == "ConfigMap")["data"]["device-config.yaml"]
SEED_PODS = REPO / "examples" / "pods.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kubeconfig_doc(contexts: dict[str, str], *, current: str | None = None, user: str = "u") -> dict:
    """A kubeconfig: context name -> server URL (each context has its own cluster of the same name)."""
    doc = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": c, "cluster": {"server": url}} for c, url in contexts.items()],
        "users": [{"name": user, "user": {"token": "t"}}],
        "contexts": [{"name": c, "context": {"cluster": c, "user": user}} for c in contexts],
    }
    if current:
        doc["current-context"] = current
    return doc


def write(path: Path, doc: object) -> Path:
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return path


@pytest.fixture
def no_ambient_config(monkeypatch, tmp_path):
    """No ~/.kube/config, no KUBECONFIG, not in a pod: only what a test sets counts."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    monkeypatch.delenv("NODE_NAME", raising=False)
    monkeypatch.setenv("MIGCTL_STATE_DIR", str(tmp_path / "state"))
    return home


# --- every command that talks to a cluster: the same message and exit code -------------------------

#: Each command that reads or writes the cluster, as a user types it (without kubeconfig flags).
COMMANDS = {
    "status": ["status"],
    "simulate": ["simulate", str(SEED_PODS)],
    "capacity": ["capacity"],
    "validate --from-cluster": ["validate", "config", "--from-cluster"],
    "cluster snapshot": ["cluster", "snapshot", "-f", "{tmp}/snap.yaml"],
    "node set-geometry": ["node", "set-geometry", "gpu-node-a", "1g.5gb:7"],
    "node daemon": ["node", "daemon", "--node", "gpu-node-a", "--once", "--metrics-port", "-1"],
}


def _fault(name: str, tmp_path: Path, monkeypatch) -> tuple[list[str], str]:
    """Set up one unusable configuration: (extra CLI args, the error line every command must print)."""
    kc = tmp_path / "kubeconfig"
    if name == "missing --kubeconfig":
        return ["--kubeconfig", str(kc)], f"cannot load kubeconfig {kc}: the file does not exist"
    if name == "not YAML":
        write(kc, "apiVersion: v1\nclusters: [\n")
        return ["--kubeconfig", str(kc)], f"cannot load kubeconfig {kc}: not valid YAML (line 3, column 1)"
    if name == "not a kubeconfig":
        write(kc, "- just\n- a list\n")
        return ["--kubeconfig", str(kc)], f"cannot load kubeconfig {kc}: not a kubeconfig"
    if name == "no contexts":
        write(kc, "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
        return ["--kubeconfig", str(kc)], f"cannot load kubeconfig {kc}: it defines no context"
    if name == "unknown --context":
        write(kc, kubeconfig_doc({"real": "http://127.0.0.1:9"}, current="real"))
        return ["--kubeconfig", str(kc), "--context", "nope"], \
            f"cannot load kubeconfig {kc}: no context 'nope' (contexts: real)"
    if name == "KUBECONFIG names no file":
        monkeypatch.setenv("KUBECONFIG", f"{tmp_path}/a:{tmp_path}/b")
        return [], f"cannot load a Kubernetes configuration: no file of KUBECONFIG={tmp_path}/a:{tmp_path}/b exists"
    if name == "nothing anywhere":
        return [], "cannot load a Kubernetes configuration: "
    if name == "in-cluster without a token":
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(free_port()))
        return [], "cannot load the in-cluster configuration: "
    raise AssertionError(name)


FAULTS = ["missing --kubeconfig", "not YAML", "not a kubeconfig", "no contexts", "unknown --context",
          "KUBECONFIG names no file", "nothing anywhere", "in-cluster without a token"]


@pytest.mark.parametrize("fault", FAULTS)
def test_an_unusable_kubeconfig_is_exit_3_with_the_same_message_in_every_command(
        cli, tmp_path, monkeypatch, no_ambient_config, fault):
    args, expected = _fault(fault, tmp_path, monkeypatch)
    errors = {}
    for name, command in COMMANDS.items():
        argv = [a.replace("{tmp}", str(tmp_path)) for a in command] + args
        r = cli(*argv)
        assert r.exit_code == 3, (name, r.stderr)
        assert "Traceback" not in r.stderr and "internal error" not in r.stderr, (name, r.stderr)
        assert r.stdout == "", name
        errors[name] = r.stderr
    assert len(set(errors.values())) == 1, errors  # message and hint, word for word
    first = next(iter(errors.values())).splitlines()
    assert first[0].startswith(f"migctl: error: {expected}"), first
    assert first[1].startswith("  hint: pass --kubeconfig FILE")
    assert not (tmp_path / "snap.yaml").exists()


def test_an_unreachable_api_server_is_exit_3_in_every_command(cli, tmp_path, no_ambient_config):
    kc = write(tmp_path / "kc", kubeconfig_doc({"x": f"http://127.0.0.1:{free_port()}"}, current="x"))
    for name, command in COMMANDS.items():
        r = cli(*[a.replace("{tmp}", str(tmp_path)) for a in command], "--kubeconfig", kc)
        assert r.exit_code == 3, (name, r.stderr)
        assert "Traceback" not in r.stderr and r.stdout == "", name


def test_importing_the_client_modules_does_not_import_kubernetes():
    code = ("import sys, migctl.kube, migctl.cluster.kube, migctl.daemon.kube; "
            "print('kubernetes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


# --- which configuration --------------------------------------------------------------------------


def test_precedence_is_flag_then_KUBECONFIG_then_home_then_in_cluster(tmp_path, no_ambient_config):
    (no_ambient_config / ".kube").mkdir()
    home_config = write(no_ambient_config / ".kube" / "config", kubeconfig_doc({"h": "http://h"}, current="h"))
    flag = write(tmp_path / "flag", kubeconfig_doc({"f": "http://f"}, current="f"))
    env_file = write(tmp_path / "env", kubeconfig_doc({"e": "http://e"}, current="e"))
    env = {"KUBECONFIG": str(env_file), "KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    assert find_config(flag, environ=env) == ConfigSource("--kubeconfig", (str(flag),))
    assert find_config(None, environ=env) == ConfigSource("$KUBECONFIG", (str(env_file),))
    assert find_config(None, environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1"}) == \
        ConfigSource("~/.kube/config", (str(home_config),))
    home_config.unlink()
    assert find_config(None, environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1"}).in_cluster
    # KUBECONFIG naming only missing files falls through to the pod's service account, like kubectl
    assert find_config(None, environ={"KUBECONFIG": str(tmp_path / "gone"), "KUBERNETES_SERVICE_HOST": "x"}).in_cluster
    with pytest.raises(UnreachableError, match="does not exist"):
        find_config(tmp_path / "gone", environ=env)  # an explicit file must exist


def test_merge_follows_kubectl_first_file_wins():
    first = {"current-context": "", "clusters": [{"name": "shared", "cluster": {"server": "https://first"}}],
             "contexts": [{"name": "a", "context": {"cluster": "shared", "user": "u1"}}],
             "users": [{"name": "u1", "user": {"token": "1"}}]}
    second = {"current-context": "b", "clusters": [{"name": "shared", "cluster": {"server": "https://second"}},
                                                   {"name": "only2", "cluster": {"server": "https://only2"}}],
              "contexts": [{"name": "a", "context": {"cluster": "only2", "user": "u2"}},
                           {"name": "b", "context": {"cluster": "only2", "user": "u2"}}],
              "users": [{"name": "u1", "user": {"token": "shadowed"}}, {"name": "u2", "user": {"token": "2"}}]}
    third = {"current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "shared", "user": "u1"}}]}
    merged = merge_kubeconfigs([first, None, second, third])
    assert merged["current-context"] == "b"  # the first file that sets a non-empty one
    assert [(c["name"], c["cluster"]["server"]) for c in merged["clusters"]] == [
        ("shared", "https://first"), ("only2", "https://only2")]
    assert [(c["name"], c["context"]["cluster"]) for c in merged["contexts"]] == [
        ("a", "shared"), ("b", "only2"), ("c", "shared")]
    assert [(u["name"], u["user"]["token"]) for u in merged["users"]] == [("u1", "1"), ("u2", "2")]


def test_relative_paths_are_relative_to_the_file_that_holds_them(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    path = write(sub / "config", {
        "clusters": [{"name": "c", "cluster": {"server": "https://x", "certificate-authority": "ca.crt"}}],
        "users": [{"name": "u", "user": {"client-certificate": "certs/me.crt", "client-key": "/abs/me.key",
                                         "exec": {"command": "./bin/login", "apiVersion": "v1"}}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    })
    doc = read_kubeconfig(str(path))
    assert doc["clusters"][0]["cluster"]["certificate-authority"] == str(sub / "ca.crt")
    user = doc["users"][0]["user"]
    assert user["client-certificate"] == str(sub / "certs" / "me.crt") and user["client-key"] == "/abs/me.key"
    assert user["exec"]["command"] == str(sub / "bin" / "login")


def test_KUBECONFIG_with_two_files_is_merged_like_kubectl(cli, kube, tmp_path, monkeypatch, no_ambient_config):
    kube.add(*ITEMS)
    dead = f"http://127.0.0.1:{free_port()}"
    # a: no current-context, and the cluster "shared" pointing nowhere (it shadows b's)
    a = write(tmp_path / "a", {"clusters": [{"name": "shared", "cluster": {"server": dead}}],
                               "contexts": [{"name": "via-a", "context": {"cluster": "shared", "user": "ua"}}],
                               "users": [{"name": "ua", "user": {"token": "a"}}]})
    empty = write(tmp_path / "empty", "")
    b = write(tmp_path / "b", {"current-context": "real",
                               "clusters": [{"name": "shared", "cluster": {"server": kube.url}},
                                            {"name": "emulator", "cluster": {"server": kube.url}}],
                               "contexts": [{"name": "real", "context": {"cluster": "emulator", "user": "ua"}},
                                            {"name": "via-b", "context": {"cluster": "shared", "user": "ua"}}],
                               "users": [{"name": "ub", "user": {"token": "b"}}]})
    monkeypatch.setenv("KUBECONFIG", f"{a}:{tmp_path / 'missing'}:{empty}:{b}")
    r = cli("status", "-o", "json")  # current-context from b, user from a: contexts, clusters, users of every file
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["source"] == f"live cluster, context real ({kube.url})"
    assert cli("status", "--context", "via-b").exit_code == 3  # "shared" is a's: the first file wins
    assert cli("validate", "config", "--from-cluster", "--context", "real").exit_code == 0
    write(b, "clusters: [\n")
    r = cli("status")
    assert r.exit_code == 3 and f"cannot load kubeconfig {b}: not valid YAML (line 2" in r.stderr


# --- HAMi's ConfigMaps, as its Helm chart names them ---------------------------------------------


def chart_configmap(namespace: str, name: str, *, component: str = "hami-scheduler", key: str = "device-config.yaml",
                    text: str = DEVICE_CONFIG, labelled: bool = True) -> dict:
    labels = {"app.kubernetes.io/component": component, "app.kubernetes.io/name": "hami",
              "app.kubernetes.io/instance": "gpu"} if labelled else {}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels}, "data": {key: text}}


def test_matching_rules():
    assert SCHEDULER_DEVICE_CONFIG.matches(chart_configmap("a", "gpu-hami-scheduler-device", labelled=False))
    assert SCHEDULER_DEVICE_CONFIG.matches(chart_configmap("a", "renamed-by-kustomize"))  # the chart's label
    assert SCHEDULER_DEVICE_CONFIG.matches({"metadata": {"name": "hami-scheduler-device"}, "data": {}})
    # the scheduler's other ConfigMap carries the same label but not the key
    assert not SCHEDULER_DEVICE_CONFIG.matches(chart_configmap("a", "gpu-hami-scheduler-newversion", key="config.yaml"))
    assert not SCHEDULER_DEVICE_CONFIG.matches(chart_configmap("a", "x-scheduler-device", key="other", labelled=False))
    assert DEVICE_PLUGIN_CONFIG.matches(chart_configmap("a", "gpu-hami-device-plugin", component="hami-device-plugin",
                                                        key="config.json", labelled=False))
    assert parse_config_map_ref("hami/x") == ("hami", "x") and parse_config_map_ref("x", "ns") == ("ns", "x")
    for bad in ("a/b/c", "/x", "x/", ""):
        with pytest.raises(InputError):
            parse_config_map_ref(bad)
    with pytest.raises(InputError, match="namespace"):
        parse_config_map_ref("a/x", "b")


def test_status_finds_the_chart_named_configmap_in_any_namespace_and_says_which(cli, kube, tmp_path):
    kube.add(*NODES_AND_PODS, chart_configmap("gpu-system", "gpu-hami-scheduler-device"),
             chart_configmap("gpu-system", "gpu-hami-scheduler-newversion", key="config.yaml"),
             {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "namespace": "x"},
              "data": {"ca.crt": "..."}})
    kc = kube.write_kubeconfig(tmp_path / "kc")
    r = cli("status", "--kubeconfig", kc, "-o", "json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["config"] == "ConfigMap gpu-system/gpu-hami-scheduler-device"
    assert "found HAMi's device-config in ConfigMap gpu-system/gpu-hami-scheduler-device" in r.stderr
    assert [(p, q) for p, q in kube.list_requests if p == "configmaps"] == [("configmaps", {"limit": "500"})]
    assert [s for s in kube.list_scopes if s[0] == "configmaps"] == [("configmaps", None)]  # every namespace
    r = cli("simulate", SEED_PODS, "--kubeconfig", kc, "-o", "json")
    assert "found HAMi's device-config in ConfigMap gpu-system/gpu-hami-scheduler-device" in r.stderr


def test_a_configmap_found_only_by_the_charts_label_is_used(cli, kube, tmp_path):
    kube.add(*NODES_AND_PODS, chart_configmap("gpu-system", "renamed"))
    kc = kube.write_kubeconfig(tmp_path / "kc")
    r = cli("status", "--kubeconfig", kc, "-o", "json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["config"] == "ConfigMap gpu-system/renamed"


def test_two_configmaps_are_exit_2_listing_them_and_config_map_or_namespace_chooses(cli, kube, tmp_path):
    kube.add(*NODES_AND_PODS, chart_configmap("team-a", "a-hami-scheduler-device"),
             chart_configmap("team-b", "b-hami-scheduler-device", text="nvidia: {resourceCountName: x/gpu}\n"))
    kc = kube.write_kubeconfig(tmp_path / "kc")
    for command in (["status"], ["simulate", str(SEED_PODS)], ["validate", "config", "--from-cluster"],
                    ["cluster", "snapshot", "-f", str(tmp_path / "s.yaml")]):
        r = cli(*command, "--kubeconfig", kc)
        assert r.exit_code == 2, (command, r.stderr)
        assert "2 HAMi scheduler device ConfigMaps found: team-a/a-hami-scheduler-device, " \
               "team-b/b-hami-scheduler-device" in r.stderr
        assert "--config-map NAMESPACE/NAME" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "s.yaml").exists()
    r = cli("status", "--kubeconfig", kc, "--config-map", "team-b/b-hami-scheduler-device", "-o", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["config"] == "ConfigMap team-b/b-hami-scheduler-device"
    r = cli("status", "--kubeconfig", kc, "-n", "team-a", "-o", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)["config"] == "ConfigMap team-a/a-hami-scheduler-device"
    assert kube.list_scopes[-1] == ("configmaps", "team-a")  # -n lists that namespace only
    r = cli("validate", "config", "--from-cluster", "--kubeconfig", kc, "--config-map", "team-a/a-hami-scheduler-device",
            "-o", "json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["files"][0]["file"] == "configmap/team-a/a-hami-scheduler-device/device-config.yaml"
    assert "using ConfigMap team-a/a-hami-scheduler-device" in r.stderr
    r = cli("validate", "config", "--from-cluster", "--kubeconfig", kc, "-n", "team-b", "-o", "json")
    assert json.loads(r.stdout)["files"][0]["file"] == "configmap/team-b/b-hami-scheduler-device/device-config.yaml"
    out = tmp_path / "snap.yaml"
    r = cli("cluster", "snapshot", "-f", out, "--kubeconfig", kc, "--config-map", "team-b/b-hami-scheduler-device")
    assert r.exit_code == 0 and "using ConfigMap team-b/b-hami-scheduler-device" in r.stderr
    saved = [i for i in yaml.safe_load(out.read_text())["items"] if i["kind"] == "ConfigMap"]
    assert [i["metadata"]["name"] for i in saved] == ["b-hami-scheduler-device"]


def test_a_named_configmap_that_does_not_exist_is_exit_2(cli, kube, tmp_path):
    kube.add(*ITEMS)
    kc = kube.write_kubeconfig(tmp_path / "kc")
    for command in (["status"], ["validate", "config", "--from-cluster"]):
        r = cli(*command, "--kubeconfig", kc, "--config-map", "hami/nope")
        assert r.exit_code == 2 and "ConfigMap hami/nope not found" in r.stderr, r.stderr
        r = cli(*command, "--kubeconfig", kc, "--config-map", "a/b/c")
        assert r.exit_code == 2 and "expected NAMESPACE/NAME" in r.stderr


def test_validate_node_config_finds_the_charts_device_plugin_configmap(cli, kube, tmp_path):
    kube.add(chart_configmap("gpu-system", "gpu-hami-device-plugin", component="hami-device-plugin", key="config.json",
                             text=json.dumps({"nodeconfig": [{"name": "a", "migstrategy": "mixed"}]})))
    r = cli("validate", "config", "--from-cluster", "--kind", "node-config",
            "--kubeconfig", kube.write_kubeconfig(tmp_path / "kc"), "-o", "json")
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["files"][0]["file"] == "configmap/gpu-system/gpu-hami-device-plugin/config.json"
    assert [d["code"] for d in report["diagnostics"]] == ["migstrategy-no-effect"]


def test_namespace_and_config_map_with_a_snapshot_are_a_usage_error(cli):
    for command in (["status"], ["simulate", str(SEED_PODS)]):
        for flags in (["-n", "hami"], ["--config-map", "hami/x"]):
            r = cli(*command, "--cluster", EXAMPLE, *flags)
            assert r.exit_code == 2 and "--config FILE" in r.stderr, (command, flags, r.stderr)
    r = cli("validate", "config", str(REPO / "examples" / "device-config.yaml"), "-n", "hami")
    assert r.exit_code == 2 and "--from-cluster" in r.stderr


# --- the one error mapping -----------------------------------------------------------------------


def test_error_mapping_table():
    from kubernetes.client.exceptions import ApiException

    from migctl.kube import ApiError, describe_failure, error_for_status

    codes = {status: int(error_for_status(status, "m", "get node x").exit_code)
             for status in (None, 401, 403, 404, 409, 429, 500, 503)}
    assert codes == {None: 3, 401: 3, 403: 3, 404: 2, 409: 3, 429: 3, 500: 3, 503: 3}
    assert "kubectl auth can-i" in error_for_status(403, "m", "patch node x").hint
    exc = ApiException(status=403, reason="Forbidden")
    exc.body = json.dumps({"message": 'nodes "x" is forbidden'})
    assert describe_failure(exc) == (403, 'HTTP 403 forbidden (RBAC denies it): nodes "x" is forbidden')
    assert describe_failure(ConnectionRefusedError(111, "Connection refused"))[0] is None
    assert ApiError("m", status=409).transient and not ApiError("m", status=403).transient


def test_a_node_that_does_not_exist_is_exit_2_for_set_geometry_and_the_daemon(cli, kube, tmp_path, monkeypatch):
    from migctl.nvml.fake import FakeState

    state = tmp_path / "nvml.json"
    FakeState.from_spec("NVIDIA A100-SXM4-40GB:1").save(state)
    monkeypatch.setenv("MIGCTL_FAKE_NVML", str(state))
    kc = kube.write_kubeconfig(tmp_path / "kc")
    for command in (["node", "set-geometry", "ghost", "1g.5gb:7"],
                    ["node", "daemon", "--node", "ghost", "--once", "--state-dir", str(tmp_path / "s")]):
        r = cli(*command, "--kubeconfig", kc)
        assert r.exit_code == 2, (command, r.stderr)
        assert "node ghost: not found in the cluster" in r.stderr and "Traceback" not in r.stderr
