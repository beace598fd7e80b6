"""deploy/helm/migctl: linted and rendered by Helm's own engine, validated against Kubernetes 1.29-1.34.

Helm runs in-process through ``helm-python-sdk`` (Helm v4's Go SDK as a shared library, from PyPI:
no helm binary or network needed); the rendered manifests and the kustomize base are validated
with ``kubernetes-validate``'s offline schemas; alert expressions are parsed with ``promql-parser``.
These come with the ``chart`` extra (``pip install -e '.[test,chart]'``, what ``.ci/run`` does).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from migctl import __version__

helm = pytest.importorskip("helm_python", reason="the chart tests need the 'chart' extra: pip install -e '.[chart]'")
kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="needs the 'chart' extra")
promql = pytest.importorskip("promql_parser", reason="needs the 'chart' extra")

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
CHART = DEPLOY / "helm" / "migctl"
KUBE_VERSIONS = ["1.29.0", "1.30.0", "1.31.0", "1.32.0", "1.33.0", "1.34.0"]
ALL_ON = {
    "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
    "migParted": {"enabled": True, "config": {"version": "v1", "mig-configs": {
        "all-1g.5gb": [{"devices": "all", "mig-enabled": True, "mig-devices": {"1g.5gb": 7}}]}}},
}


def image_env() -> str:
    (line,) = [l for l in (CHART / "image.env").read_text().splitlines() if l.startswith("IMAGE=")]
    return line.removeprefix("IMAGE=")


def render(values: dict[str, Any] | None = None, *, name: str = "migctl",
           namespace: str = "migctl-system") -> list[dict[str, Any]]:
    with helm.Chart.load(str(CHART)) as chart:
        out = chart.render(values or {}, name=name, namespace=namespace)
    docs = []
    for path, text in sorted(out.items()):
        if path.endswith(".yaml"):
            docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, [d["metadata"]["name"] for d in found])
    return found[0]


def kustomize_base() -> list[dict]:
    """``kubectl kustomize deploy/`` where kubectl exists, else the base's files with the image set."""
    kubectl = shutil.which("kubectl")
    if kubectl:
        proc = subprocess.run([kubectl, "kustomize", str(DEPLOY)], capture_output=True, text=True, timeout=120)
        if proc.returncode == 0:
            return [d for d in yaml.safe_load_all(proc.stdout) if d]
    docs = []
    for name in yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"]:
        docs += [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]
    for d in docs:
        if d["kind"] == "DaemonSet":
            d["spec"]["template"]["spec"]["containers"][0]["image"] = image_env()
    return docs


# --- helm lint / helm template -------------------------------------------------------------------


@pytest.mark.parametrize("values", [{}, ALL_ON], ids=["defaults", "all-on"])
def test_helm_lint_strict_is_clean(values):
    report = helm.lint(str(CHART), values, strict=True, kube_version="v1.34.0")
    assert report["errors"] == [], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], report


def test_chart_versions_and_image_reference_are_in_one_place():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == __version__
    assert image_env().endswith(f":{__version__}")
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["image"]["repository"] == "" and values["image"]["tag"] == ""  # image.env decides
    ds = one(render(), "DaemonSet")
    assert ds["spec"]["template"]["spec"]["containers"][0]["image"] == image_env()
    (base_ds,) = [d for d in kustomize_base() if d["kind"] == "DaemonSet"]
    assert base_ds["spec"]["template"]["spec"]["containers"][0]["image"] == image_env()
    # no other file names the image
    for path in list(DEPLOY.rglob("*.yaml")) + [DEPLOY / "Dockerfile"]:
        assert "ghcr.io/example/migctl:" not in path.read_text(), path


def test_default_render_is_the_kustomize_base_daemon():
    """Same pod, same RBAC rules, same admission policy as deploy/ (the kustomize base stays)."""
    docs, base = render(), kustomize_base()
    pod = one(docs, "DaemonSet")["spec"]["template"]["spec"]
    (base_ds,) = [d for d in base if d["kind"] == "DaemonSet"]
    base_pod = base_ds["spec"]["template"]["spec"]
    for key in ("runtimeClassName", "nodeSelector", "tolerations", "priorityClassName",
                "terminationGracePeriodSeconds", "volumes", "serviceAccountName"):
        assert pod[key] == base_pod[key], key
    container, base_container = pod["containers"][0], base_pod["containers"][0]
    for key in ("image", "env", "ports", "livenessProbe", "readinessProbe", "resources", "securityContext",
                "volumeMounts"):
        assert container[key] == base_container[key], key
    assert sorted(container["args"]) == sorted(base_container["args"] + ["--log-level=info"])
    for kind in ("ClusterRole", "Role"):
        chart_rules = {d["metadata"]["name"]: d["rules"] for d in docs if d["kind"] == kind}
        base_rules = {d["metadata"]["name"]: d["rules"] for d in base if d["kind"] == kind}
        assert chart_rules == base_rules, kind  # RBAC as tight as the kustomize base, no wider
    for kind in ("ClusterRoleBinding", "RoleBinding"):
        for d in docs:
            if d["kind"] == kind:
                assert d["subjects"] == [{"kind": "ServiceAccount", "name": "migctl-daemon", "namespace": "migctl-system"}]
    policy = one(docs, "ValidatingAdmissionPolicy")
    (base_policy,) = [d for d in base if d["kind"] == "ValidatingAdmissionPolicy"]
    # kustomize re-folds the >- CEL scalars (an extra newline); whitespace means nothing in CEL
    assert _squeezed(policy["spec"]) == _squeezed(base_policy["spec"])
    assert policy["metadata"]["name"] == base_policy["metadata"]["name"]


def _squeezed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _squeezed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_squeezed(v) for v in value]
    return " ".join(value.split()) if isinstance(value, str) else value


def test_rendered_daemon_args_are_options_of_the_command(cli):
    container = one(render(ALL_ON | {"daemon": {"allowHamiManaged": True}}), "DaemonSet")["spec"]["template"]["spec"]["containers"][0]
    assert "--allow-hami-managed" in container["args"]
    result = cli(*container["args"], "--help")
    assert result.exit_code == 0, result.stderr


def test_values_reach_the_manifests():
    values = {
        "image": {"repository": "registry.example/migctl", "digest": "sha256:" + "a" * 64},
        "nodeSelector": {"gpu": "mig", "nvidia.com/gpu.present": None},  # Helm merges maps: null drops a default
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoExecute"}],
        "resources": {"requests": {"cpu": "20m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "admissionPolicy": {"enabled": False},
        "rbac": {"geometryEditor": False},
        **ALL_ON,
    }
    docs = render(values, name="gpu", namespace="ops")
    ds = one(docs, "DaemonSet", "gpu-migctl-daemon")
    pod = ds["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "registry.example/migctl@sha256:" + "a" * 64
    assert pod["nodeSelector"] == {"gpu": "mig"} and pod["tolerations"] == values["tolerations"]
    assert container["resources"] == values["resources"]
    assert not [d for d in docs if d["kind"].startswith("ValidatingAdmissionPolicy")]
    assert not [d for d in docs if d["metadata"]["name"].endswith("geometry-editor")]
    # mig-parted compat mode: the config as a ConfigMap, mounted, passed to the daemon
    cm = one(docs, "ConfigMap", "gpu-migctl-mig-parted")
    assert yaml.safe_load(cm["data"]["config.yaml"]) == ALL_ON["migParted"]["config"]
    assert "--mig-parted-config=/etc/migctl/mig-parted/config.yaml" in container["args"]
    assert {"name": "mig-parted", "configMap": {"name": "gpu-migctl-mig-parted"}} in pod["volumes"]
    # metrics: headless Service -> ServiceMonitor on the same labels and port name
    service = one(docs, "Service")
    monitor = one(docs, "ServiceMonitor")
    assert service["spec"]["selector"] == ds["spec"]["selector"]["matchLabels"]
    assert all(service["metadata"]["labels"][k] == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"] == "metrics"
    assert service["spec"]["ports"][0]["port"] == int(next(a.split("=")[1] for a in container["args"]
                                                           if a.startswith("--metrics-port=")))


def test_bad_values_fail_to_render():
    with pytest.raises(Exception, match="migParted.config"):
        render({"migParted": {"enabled": True}})
    with pytest.raises(Exception, match="stallTimeout"):
        render({"daemon": {"stallTimeout": 30, "lockTimeout": 60}})


# --- alerts --------------------------------------------------------------------------------------


def _exported_metric_names() -> set[str]:
    from prometheus_client.parser import text_string_to_metric_families

    from migctl.daemon.metrics import DaemonMetrics

    metrics = DaemonMetrics("n")
    from migctl.node_protocol import State

    metrics.record(State.success, now=1.0, changed=True, seconds=1.0)
    metrics.count_nvml_error("create 1g.5gb GPU instance")
    return {s.name for f in text_string_to_metric_families(metrics.render()) for s in f.samples}


def _selectors(expr: Any) -> list[Any]:
    found = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if type(node).__name__ == "VectorSelector":
            found.append(node)
        for attr in ("expr", "lhs", "rhs", "vector_selector", "param"):
            child = getattr(node, attr, None)
            if child is not None and not isinstance(child, (str, int, float)):
                stack.append(child)
        stack.extend(a for a in (getattr(node, "args", None) or []) if a is not None)
    return found


def test_alerts_parse_and_use_metrics_the_daemon_exports():
    rules = one(render(ALL_ON), "PrometheusRule")["spec"]["groups"][0]["rules"]
    alerts = {r["alert"]: r for r in rules}
    assert {"MigctlGeometryFailed", "MigctlGeometryStuckPending", "MigctlReconcileErrors"} <= set(alerts)
    exported = _exported_metric_names()
    for rule in rules:
        expr = promql.parse(rule["expr"])  # a syntax error raises
        names = {s.name for s in _selectors(expr)}
        assert names and names <= exported, (rule["alert"], names - exported)
        if "for" in rule:
            promql.parse_duration(rule["for"])
        assert rule["labels"]["severity"] in ("info", "warning", "critical")
        assert "{{ $labels.node }}" in rule["annotations"]["summary"]
    assert 'state="failed"' in alerts["MigctlGeometryFailed"]["expr"]
    assert "pending-reset" in alerts["MigctlGeometryStuckPending"]["expr"]
    assert "migctl_daemon_reconcile_errors_total" in alerts["MigctlReconcileErrors"]["expr"]


# --- Kubernetes schemas, offline -----------------------------------------------------------------

CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}  # prometheus-operator CRDs: no schema in kubernetes-validate


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_chart_and_kustomize_base_validate_against_kubernetes_schemas(version):
    policy = version >= "1.30"  # ValidatingAdmissionPolicy v1 is GA from 1.30
    docs = render({**ALL_ON, "admissionPolicy": {"enabled": policy}}) + [
        d for d in kustomize_base() if policy or not d["kind"].startswith("ValidatingAdmissionPolicy")]
    checked = 0
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            assert doc["apiVersion"] == "monitoring.coreos.com/v1"
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} against {version}: "
                        f"{'.'.join(map(str, exc.path))}: {exc.message}")
        checked += 1
    assert checked >= 12
