"""Issue 12, "Wrong answers": invalid GPU requests, input errors that used to be internal errors,
strict geometry text and 5,000-digit numbers, each through the real entry point."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from migctl.cluster.quantity import parse_quantity
from migctl.simulate.requests import container_request, gpu_quantity_problem
from migctl.config.model import NvidiaConfig
from migctl.simulate.version import HamiVersion
from migctl.simulate.pod import pod_from_object

REPO = Path(__file__).resolve().parent.parent
EMPTY_A100 = REPO / "tests" / "data" / "simulate" / "a100-mig-empty.yaml"
LONG = "9" * 5000


def pod_yaml(limits: str, *, name: str = "p", container: str = "c") -> str:
    return textwrap.dedent(f"""\
        apiVersion: v1
        kind: Pod
        metadata: {{name: {name}}}
        spec:
          containers:
          - name: {container}
            resources:
              limits:
        """) + textwrap.indent(textwrap.dedent(limits), " " * 8)


def no_python_hint(text: str) -> None:
    assert "Traceback" not in text and "set_int_max_str_digits" not in text and "internal error" not in text


# ------------------------------------------------------------------ invalid GPU resources: exit 2 naming pod, container, field

BAD_VALUES = ["abc", "-1", "null", "NaN", ".nan", "1.5", "''", "'-0.5'", "'500m'", "[1]", "{a: 1}", "true", "'1Gb'",
              "'Infinity'", "'0x10'", "'１'", "'1e-3'", "'-1Ki'", "'  '", f"'{'9' * 200}'"]


@pytest.mark.parametrize("resource", ["nvidia.com/gpu", "nvidia.com/gpumem", "nvidia.com/gpumem-percentage",
                                      "nvidia.com/gpucores", "nvidia.com/priority"])
@pytest.mark.parametrize("value", BAD_VALUES)
def test_invalid_gpu_resource_is_an_input_error(cli, tmp_path, resource, value):
    extra = "" if resource == "nvidia.com/gpu" else "nvidia.com/gpu: 1\n"
    path = tmp_path / "pod.yaml"
    path.write_text(pod_yaml(f"{extra}{resource}: {value}\n", name="web", container="main"))
    r = cli("simulate", path, "--cluster", EMPTY_A100)
    assert r.exit_code == 2, (r.stdout, r.stderr)
    assert f"pod default/web container main: resources.limits.{resource}:" in r.stderr
    assert r.stdout == ""  # nothing half-printed
    no_python_hint(r.stderr)


def test_requests_are_checked_too_and_the_configured_names(cli, tmp_path):
    path = tmp_path / "pod.yaml"
    path.write_text(pod_yaml("nvidia.com/gpu: 1\n").replace("      limits:", "      requests:\n        example.com/vmem: -5\n      limits:"))
    assert cli("simulate", path, "--cluster", EMPTY_A100).exit_code != 2  # not a GPU resource for HAMi's defaults
    config = tmp_path / "config.yaml"
    config.write_text("nvidia:\n  resourceCountName: nvidia.com/gpu\n  resourceMemoryName: example.com/vmem\n")
    r = cli("simulate", path, "--cluster", EMPTY_A100, "--config", config)
    assert r.exit_code == 2 and "resources.requests.example.com/vmem: -5 is negative" in r.stderr


@pytest.mark.parametrize("count", ["'9223372036854775808'", "'1e30'", "100000", "'1E'"])
def test_huge_gpu_count_is_unschedulable_not_an_error(cli, tmp_path, count):
    path = tmp_path / "pod.yaml"
    path.write_text(pod_yaml(f"nvidia.com/gpu: {count}\n"))
    r = cli("simulate", path, "--cluster", EMPTY_A100, "-o", "json")
    assert r.exit_code == 1, r.stderr
    assert json.loads(r.stdout)["summary"]["unschedulable"] == 1


def test_huge_gpumem_is_unschedulable_with_the_reason(cli, tmp_path):
    path = tmp_path / "pod.yaml"
    path.write_text(pod_yaml("nvidia.com/gpu: 1\nnvidia.com/gpumem: 8Gi\n"))
    r = cli("simulate", path, "--cluster", EMPTY_A100, "--hami-version", "2.10", "-o", "json")
    assert r.exit_code == 1
    pod = json.loads(r.stdout)["pods"][0]
    assert "HAMi drops the GPU request" in json.dumps(pod)


def test_zero_gpus_is_valid_and_asks_for_none(cli, tmp_path):
    path = tmp_path / "pod.yaml"
    path.write_text(pod_yaml("nvidia.com/gpu: 0\n"))
    assert cli("simulate", path, "--cluster", EMPTY_A100).exit_code == 0


def test_gpu_quantity_rules():
    for good in (0, 1, "2", "1000m", "1k", "9223372036854775808", "1e30"):
        assert gpu_quantity_problem(good) is None, good
    for bad in (None, True, -1, 1.5, "abc", "nan", "-1", "500m", "１", [], {}):
        assert gpu_quantity_problem(bad) is not None, bad
    pod = pod_from_object({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "resources": {"limits": {"nvidia.com/gpu": "9223372036854775808"}}}]}})
    req = container_request(pod.containers[0], NvidiaConfig.hami_defaults(), HamiVersion.V2_10)
    assert req is not None and req.nums == 2**63 - 1  # Kubernetes caps a quantity at 2^63-1


def test_capacity_workload_with_a_negative_gpu_count(cli, tmp_path):
    path = tmp_path / "pod.yaml"
    path.write_text(pod_yaml("nvidia.com/gpu: -1\n"))
    r = cli("capacity", "--cluster", EMPTY_A100, "--workload", path)
    assert r.exit_code == 2 and "nvidia.com/gpu: -1 is negative" in r.stderr


@pytest.mark.parametrize("shape", ["gpu=１", "gpu=1_0", f"gpu={LONG}", "gpu=1,gpumem=٣"])
def test_capacity_shape_numbers_are_ascii_and_bounded(cli, shape):
    r = cli("capacity", "--cluster", EMPTY_A100, "--shape", shape)
    assert r.exit_code == 2, r.stderr
    no_python_hint(r.stderr)
    assert len(r.stderr) < 1000  # the 5,000 digits are not echoed back


# ------------------------------------------------------------------ input errors that ended as "internal error"

@pytest.mark.parametrize("items", ["5", "abc", "{a: 1}"])
def test_list_with_items_that_are_not_a_list(cli, tmp_path, items):
    path = tmp_path / "pods.yaml"
    path.write_text(f"kind: List\nitems: {items}\n")
    r = cli("simulate", path, "--cluster", EMPTY_A100)
    assert r.exit_code == 2 and "List items: expected a list" in r.stderr
    no_python_hint(r.stderr)
    r = cli("capacity", "--cluster", EMPTY_A100, "--workload", path)
    assert r.exit_code == 2
    no_python_hint(r.stderr)


# ------------------------------------------------------------------ 5,000-digit numbers

def test_long_numbers_in_pod_files(cli, tmp_path):
    path = tmp_path / "pod.yaml"
    path.write_text(pod_yaml(f"nvidia.com/gpu: {LONG}\n"))
    r = cli("simulate", path, "--cluster", EMPTY_A100)
    assert r.exit_code == 2 and "too long" in r.stderr and f"{path}:9" in r.stderr
    no_python_hint(r.stderr)
    path.write_text(pod_yaml(f"nvidia.com/gpu: '{LONG}'\n"))
    r = cli("simulate", path, "--cluster", EMPTY_A100)
    assert r.exit_code == 2 and "characters long" in r.stderr and len(r.stderr) < 1000
    no_python_hint(r.stderr)


@pytest.mark.parametrize("suffix", ["json", "yaml"])
def test_long_numbers_in_snapshots(cli, tmp_path, suffix):
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}, "status": {"capacity": {"pods": 7}}}
    text = json.dumps({"apiVersion": "v1", "kind": "List", "items": [node]}, indent=1)
    if suffix == "yaml":
        text = f"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata:\n    name: n\n  status:\n    capacity:\n      pods: 7\n"
    path = tmp_path / f"snap.{suffix}"
    path.write_text(text.replace("7", LONG))
    r = cli("status", "--cluster", path)
    assert r.exit_code == 2 and "too long" in r.stderr, r.stderr
    no_python_hint(r.stderr)


def test_long_numbers_in_configs(cli, tmp_path):
    cfg = tmp_path / "device-config.yaml"
    cfg.write_text(f"nvidia:\n  resourceCountName: nvidia.com/gpu\n  deviceSplitCount: {LONG}\n")
    r = cli("validate", "config", cfg, "-o", "json")
    assert r.exit_code == 1
    no_python_hint(r.stdout + r.stderr)
    assert "too long" in r.stdout
    node = tmp_path / "node-config.json"
    node.write_text('{"nodeconfig": [{"name": "n", "devicesplitcount": %s}]}' % LONG)
    r = cli("validate", "config", node, "-o", "json")
    assert r.exit_code in (1, 2)
    no_python_hint(r.stdout + r.stderr)
    assert "too long" in r.stdout + r.stderr


def test_long_numbers_in_annotations():
    from migctl.cluster.codecs import AnnotationError, decode_node_score
    from migctl.node_protocol import ProtocolError, decode_applied, parse_desired

    with pytest.raises(AnnotationError, match="too long"):
        decode_node_score(f'[{{"uuid": "GPU-0", "score": {LONG}}}]')
    with pytest.raises(ProtocolError, match="too long"):
        decode_applied(f'{{"0": {LONG}}}')
    with pytest.raises(ProtocolError):
        parse_desired(f'{{"0": "1g.5gb:{LONG}"}}')


def test_quantity_bounds():
    for bad in ("１", "1" * 101, "1e99999999", "1e-99999999"):
        with pytest.raises(ValueError) as info:
            parse_quantity(bad)
        assert "set_int_max_str_digits" not in str(info.value)
    assert parse_quantity("1e30") == 10**30


# ------------------------------------------------------------------ geometry text

@pytest.mark.parametrize("text", ["1g.5gb:１", "1g.5gb:²", "1g.5gb:1_0", "1g.5gb:+1", f"1g.5gb:{LONG}", "1g.5gb:0x1",
                                  "off", "none", "false", "disable", "disabled,1g.5gb:1"])
def test_geometry_text_is_strict(text):
    from migctl.hardware.geometry import Geometry
    from migctl.node_protocol import ProtocolError, parse_desired

    with pytest.raises(ValueError) as info:
        Geometry.parse(text)
    assert "set_int_max_str_digits" not in str(info.value)
    with pytest.raises(ProtocolError):
        parse_desired(text)


@pytest.mark.parametrize("text", ['{"0": "1g.5gb:1", "0": "2g.10gb:1"}', '{"*": "disabled", "*": "1g.5gb:7"}',
                                  '{"²": "1g.5gb:1"}', '{"１": "1g.5gb:1"}', '{"0": "1g.5gb:1", " 0": "disabled"}'])
def test_geometry_annotation_json_is_strict(text):
    from migctl.node_protocol import ProtocolError, parse_desired

    with pytest.raises(ProtocolError):
        parse_desired(text)


def test_set_geometry_gpu_selector_is_ascii():
    from migctl.node_protocol import ProtocolError, with_gpu_geometry

    for gpu in ("²", "１", "*"):
        with pytest.raises(ProtocolError):
            with_gpu_geometry(None, "1g.5gb:1", [gpu])
    assert with_gpu_geometry(None, "1g.5gb:1", ["3"]) == '{"3":"1g.5gb:1"}'
