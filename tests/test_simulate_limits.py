"""``simulate`` and ``capacity --workload`` expand at most ``--max-pods`` pods (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

import migctl.simulate.workloads as workloads
from migctl.simulate.workloads import MAX_PODS, Document, WorkloadError, pods_from_documents

SNAPSHOT = Path(__file__).parent / "data" / "cluster" / "v27-colon.yaml"


def _workload(kind="Deployment", **spec):
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "web"},
            "spec": {**spec, "template": {"spec": {"containers": [
                {"name": "c", "resources": {"limits": {"nvidia.com/gpu": 1}}}]}}}}


@pytest.fixture
def built(monkeypatch):
    """Count the pods built: a refused expansion builds none (the check comes before the work)."""
    calls = []
    real = workloads.pod_from_object

    def counting(obj, **kw):
        calls.append(1)
        return real(obj, **kw)

    monkeypatch.setattr(workloads, "pod_from_object", counting)
    return calls


def test_the_cli_default_is_the_library_default():
    from migctl.cli.choices import DEFAULT_MAX_PODS

    assert DEFAULT_MAX_PODS == MAX_PODS == 100_000


@pytest.mark.parametrize("kind, spec, field", [
    ("Deployment", {"replicas": 1_000_000_000}, "spec.replicas"),
    ("StatefulSet", {"replicas": 10**30}, "spec.replicas"),
    ("Job", {"parallelism": 10**30}, "spec.parallelism"),
    ("Job", {"parallelism": 10**30, "completions": 10**12}, "spec.completions"),
])
def test_a_huge_workload_is_refused_before_any_pod_is_built(built, kind, spec, field):
    with pytest.raises(WorkloadError) as err:
        pods_from_documents([Document(_workload(kind, **spec), "pods.yaml", 3)])
    assert err.value.where == "pods.yaml:3"
    assert f"{kind} web {field}" in err.value.message and "--max-pods" in err.value.message
    assert built == []


def test_a_huge_repeat_is_refused_before_any_pod_is_built(built):
    with pytest.raises(WorkloadError) as err:
        pods_from_documents([Document(_workload(replicas=3), "pods.yaml")], repeat=99999999999999999999)
    assert err.value.where == "--repeat"
    assert built == []


def test_the_limit_counts_every_document_and_can_be_raised(built):
    docs = [Document(_workload(replicas=6), "a.yaml"), Document(_workload(replicas=5), "b.yaml", 7)]
    with pytest.raises(WorkloadError) as err:
        pods_from_documents(docs, max_pods=10)
    assert err.value.where == "b.yaml:7" and "6 pods before it" in err.value.message
    assert built == []
    assert len(pods_from_documents(docs, max_pods=11)) == 11
    assert len(pods_from_documents(docs, max_pods=22, repeat=2)) == 22
    with pytest.raises(WorkloadError):
        pods_from_documents(docs, max_pods=21, repeat=2)


def test_a_job_runs_no_more_pods_than_completions():
    assert len(pods_from_documents([Document(_workload("Job", parallelism=10**20, completions=4), "j.yaml")])) == 4
    assert len(pods_from_documents([Document(_workload("Job", parallelism=2, completions=4), "j.yaml")])) == 2


def _pod_file(tmp_path, replicas):
    path = tmp_path / "pods.yaml"
    path.write_text(f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: {replicas}
  template:
    spec:
      containers:
      - name: c
        resources: {{limits: {{nvidia.com/gpu: 1}}}}
""", encoding="utf-8")
    return path


def test_simulate_refuses_huge_replicas_with_exit_2(cli, tmp_path, built):
    result = cli("simulate", "--cluster", SNAPSHOT, _pod_file(tmp_path, 1_000_000_000))
    assert result.exit_code == 2
    assert "pods.yaml:1: Deployment web spec.replicas: 1000000000 pods" in result.stderr
    assert built == []


def test_simulate_refuses_a_huge_repeat_and_honours_max_pods(cli, tmp_path, built):
    pods = _pod_file(tmp_path, 3)
    result = cli("simulate", "--cluster", SNAPSHOT, pods, "--repeat", "99999999999999999999")
    assert result.exit_code == 2 and "--repeat" in result.stderr and built == []
    assert cli("simulate", "--cluster", SNAPSHOT, pods, "--repeat", "3", "--max-pods", "8").exit_code == 2
    assert cli("simulate", "--cluster", SNAPSHOT, pods, "--repeat", "3", "--max-pods", "9",
               "-o", "json").exit_code in (0, 1)
    assert len(built) == 9


def test_capacity_workload_has_the_same_limit(cli, tmp_path, built):
    result = cli("capacity", "--cluster", SNAPSHOT, "--workload", _pod_file(tmp_path, 10**9))
    assert result.exit_code == 2 and "spec.replicas" in result.stderr and "--max-pods" in result.stderr
    assert built == []
    assert cli("capacity", "--cluster", SNAPSHOT, "--workload", _pod_file(tmp_path, 5), "--max-pods", "4").exit_code == 2


def test_the_python_api_has_the_same_limit():
    import migctl
    from migctl.errors import InputError

    with pytest.raises(InputError, match="spec.replicas"):
        migctl.simulate(SNAPSHOT, [_workload(replicas=10**9)])
    with pytest.raises(InputError, match="--repeat"):
        migctl.simulate(SNAPSHOT, [_workload(replicas=2)], repeat=3, max_pods=5)
