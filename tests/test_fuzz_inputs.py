"""Property/fuzz tests for every input surface (issue 12): whatever the input, migctl answers with
a documented exit code, never a traceback or an "internal error", and within a memory bound.

Each surface runs through the real entry point (``migctl.cli.main.run``) or its one parser:
device-config and node-config files, pod and workload files, cluster snapshots (kubectl YAML and
JSON), ``capacity --shape`` strings, geometry strings, the node annotations (``migctl.io/*`` and
HAMi's ``hami.io/*``), the simulated NVML state file and its environment variables.

Inputs are real example files with values replaced by adversarial tokens (wrong types, negative and
huge numbers, 5,000-digit numbers, NaN, non-ASCII digits, YAML tags and aliases), plus generated
structures. Memory is measured with ``tracemalloc`` (peak of one command); time is not asserted here
(``bench/worst_case.py`` measures it). The default run is small; ``-m slow`` runs many more examples
(CI runs both, see ``.ci/run``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from migctl.cli.main import run

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
EMPTY_A100 = REPO / "tests" / "data" / "simulate" / "a100-mig-empty.yaml"
PODS = EXAMPLES / "pods.yaml"

#: The peak of Python allocations one command may reach on these (small) inputs.
MEMORY_BOUND = 100 * 2**20
LONG = "9" * 5000

# Derandomized: the same examples in every run (CI must not turn red by chance); no shrinking, since one
# example through the CLI costs about half a second and a failing one is printed as found.
_COMMON = dict(deadline=None, derandomize=True, print_blob=True,
               phases=[Phase.explicit, Phase.reuse, Phase.generate],
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.function_scoped_fixture])


def fuzz(*strategies, fast: int = 3, slow: int = 25):
    """Two tests from one property: a quick one for the default run and a ``slow`` one for CI."""

    def wrap(fn):
        quick = settings(max_examples=fast, **_COMMON)(given(*strategies)(fn))
        thorough = pytest.mark.slow(settings(max_examples=slow, **_COMMON)(given(*strategies)(fn)))
        return quick, thorough

    return wrap


# ------------------------------------------------------------------ running the CLI


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    peak: int


def cli(*args: object, env: dict[str, str] | None = None) -> Outcome:
    """One command in-process with its output captured and its peak Python memory measured."""
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    os.environ.pop("MIGCTL_DEBUG", None)
    out, err = io.StringIO(), io.StringIO()
    tracemalloc.start()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run([str(a) for a in args])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return Outcome(code, out.getvalue(), err.getvalue(), peak)


def check(outcome: Outcome, allowed: set[int]) -> Outcome:
    text = outcome.stdout + outcome.stderr
    assert "Traceback" not in text, outcome.stderr[-2000:]
    assert "internal error" not in outcome.stderr, outcome.stderr[-2000:]
    assert "set_int_max_str_digits" not in text, outcome.stderr[-2000:]
    assert outcome.code in allowed, (outcome.code, outcome.stderr[-2000:])
    if outcome.code == 2:
        assert text.strip(), "exit 2 without a message"
    assert outcome.peak < MEMORY_BOUND, f"peak {outcome.peak / 2**20:.0f} MiB"
    return outcome


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """Import the commands once so that the memory bound measures the work, not the imports."""
    cli("simulate", PODS, "--cluster", EMPTY_A100, "-o", "json")
    cli("validate", "config", EXAMPLES / "device-config.yaml", "-o", "json")
    cli("status", "--cluster", EXAMPLES / "cluster.yaml", "-o", "json")
    cli("capacity", "--cluster", EMPTY_A100, "--shape", "gpu=1", "-o", "json")
    cli("hardware", "check", "a100-40gb", "1g.5gb:1", "-o", "json")


# ------------------------------------------------------------------ adversarial values

#: YAML tokens that replace a value (or a whole line) of a real file.
YAML_TOKENS = [
    "abc", "-1", "null", "~", "NaN", ".nan", ".inf", "-.inf", "1.5", "'2^63'", "9223372036854775808", "1e30", "'1e30'",
    "'１'", "'٣'", "500m", "8Gi", "''", "[]", "{}", "true", "yes", "0x1F", "0o17", "1_000", "1:30", "'disabled'",
    "'1g.5gb:1,1g.5gb:１'", "{a: 1, a: 2}", "-", "'\\t'", "[1, [2, [3, [4]]]]", "&a [1, 2]", "*a", "!!binary aGk=",
    "!!python/object/apply:os.system [echo]", "!!str 5", "!!int 5", "!!float x", LONG, f"'{LONG}'", f"-{LONG}",
    "1e99999999", "'1e99999999'", "2147483648", "-2147483649", "4294967296", "18446744073709551616", "'  '",
    "\"\\u0000\"", "'GPU-../../etc/passwd'", "'{\"0\": \"1g.5gb:1\", \"0\": \"disabled\"}'", "1000000000",
]
JSON_TOKENS = [
    "null", "true", "-1", "1.5", "1e400", "-1e400", "9223372036854775808", "\"abc\"", "\"\"", "[]", "{}",
    "[1, [2]]", "{\"a\": 1, \"a\": 2}", LONG, f"-{LONG}", f"\"{LONG}\"", "\"１\"", "0", "2147483648",
    "\"../../x\"", "\"GPU-a/../b\"", "1000000000", "\"NaN\"", "NaN", "Infinity",
]


def mutate_lines(text: str, edits: list[tuple[int, str, bool]]) -> str:
    """Replace the value on chosen lines (``key: VALUE`` or ``- VALUE``), or whole lines, by tokens."""
    lines = text.splitlines()
    for index, token, whole in edits:
        i = index % len(lines)
        line = lines[i]
        indent = line[: len(line) - len(line.lstrip())]
        key, sep, _ = line.partition(": ")
        if whole:
            lines[i] = indent + token
        elif sep:
            lines[i] = f"{key}: {token}"
        elif line.lstrip().startswith("- "):
            lines[i] = f"{indent}- {token}"
        elif line.rstrip().endswith(":"):
            lines[i] = f"{line} {token}"
        else:
            lines[i] = indent + token
    return "\n".join(lines) + "\n"


_JSON_VALUE = re.compile(r'(:\s*)("(?:[^"\\]|\\.)*"|-?\d[\d.eE+-]*|true|false|null)')


def mutate_json(text: str, edits: list[tuple[int, str]]) -> str:
    """Replace chosen JSON values (after a ``:``) by tokens (valid JSON or not)."""
    for index, token in edits:
        matches = list(_JSON_VALUE.finditer(text))
        if not matches:
            break
        m = matches[index % len(matches)]
        text = text[: m.start(2)] + token + text[m.end(2):]
    return text


yaml_edits = st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(YAML_TOKENS) | st.text(max_size=12),
                                st.booleans()), min_size=1, max_size=3)
json_edits = st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(JSON_TOKENS)), min_size=1, max_size=3)

scalars = (st.sampled_from([0, 1, -1, 2**31, 2**63, 10**30, 1.5, float("nan"), float("inf"), True, None, "", "abc",
                            "-1", "NaN", "１", "500m", "8Gi", "1e30", "9" * 2000, "disabled", "1g.5gb:1"])
           | st.integers() | st.text(max_size=16))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                          max_size=3), max_leaves=12)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


# Every property takes ``tmp_path_factory`` (session scoped, so hypothesis may reuse it) and makes a
# fresh directory per example.

# ------------------------------------------------------------------ device-config and node-config files


def _device_config_file(tmp_path_factory, edits) -> None:
    text = mutate_lines((EXAMPLES / "device-config.yaml").read_text(), edits)
    path = write(tmp_path_factory.mktemp("cfg"), "device-config.yaml", text)
    check(cli("validate", "config", path, "-o", "json"), {0, 1, 2})
    check(cli("simulate", PODS, "--cluster", EMPTY_A100, "--config", path, "-o", "json"), {0, 1, 2})


test_device_config_file, test_device_config_file_slow = fuzz(yaml_edits)(_device_config_file)


def _device_config_structure(tmp_path_factory, nvidia) -> None:
    keys = ["resourceCountName", "resourceMemoryName", "resourceCoreName", "resourceMemoryPercentageName",
            "defaultMemory", "defaultCores", "defaultGPUNum", "memoryFactor", "deviceSplitCount",
            "knownMigGeometries", "migProfileAllowlist", "gpuCorePolicy", "deviceMemoryScaling"]
    doc = {"nvidia": {keys[i % len(keys)]: value for i, value in nvidia}}
    path = write(tmp_path_factory.mktemp("cfg"), "device-config.yaml", yaml.safe_dump(doc))
    check(cli("validate", "config", path, "-o", "json"), {0, 1, 2})
    check(cli("simulate", PODS, "--cluster", EMPTY_A100, "--config", path, "-o", "json"), {0, 1, 2})


test_device_config_structure, test_device_config_structure_slow = fuzz(
    st.lists(st.tuples(st.integers(0, 100), values), max_size=6))(_device_config_structure)


def _node_config_file(tmp_path_factory, edits) -> None:
    text = mutate_json((EXAMPLES / "node-config.json").read_text(), edits)
    path = write(tmp_path_factory.mktemp("ncfg"), "node-config.json", text)
    check(cli("validate", "config", path, "-o", "json"), {0, 1, 2})


test_node_config_file, test_node_config_file_slow = fuzz(json_edits)(_node_config_file)


# ------------------------------------------------------------------ pod and workload files


def _pod_file(tmp_path_factory, edits) -> None:
    path = write(tmp_path_factory.mktemp("pods"), "pods.yaml", mutate_lines(PODS.read_text(), edits))
    check(cli("simulate", path, "--cluster", EMPTY_A100, "-o", "json"), {0, 1, 2})
    check(cli("capacity", "--cluster", EMPTY_A100, "--workload", path, "-o", "json"), {0, 1, 2})


test_pod_file, test_pod_file_slow = fuzz(yaml_edits)(_pod_file)

RESOURCES = ["nvidia.com/gpu", "nvidia.com/gpumem", "nvidia.com/gpumem-percentage", "nvidia.com/gpucores",
             "nvidia.com/priority", "cpu", "memory"]
KINDS = ["Pod", "Deployment", "StatefulSet", "ReplicaSet", "Job", "List", "CronJob", None, 5]


def _workload(kind, replicas, resources, annotations) -> dict:
    container = {"name": "c", "resources": {"limits": dict(resources)}}
    spec = {"containers": [container]}
    meta = {"name": "w", "annotations": dict(annotations)}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    if kind == "List":
        return {"apiVersion": "v1", "kind": "List", "items": [_workload("Pod", replicas, resources, annotations)]}
    field = "parallelism" if kind == "Job" else "replicas"
    return {"kind": kind, "metadata": {"name": "w"}, "spec": {field: replicas, "template": {"metadata": meta, "spec": spec}}}


def _workload_structure(tmp_path_factory, kind, replicas, resources, annotations, repeat) -> None:
    doc = _workload(kind, replicas, resources, annotations)
    path = write(tmp_path_factory.mktemp("pods"), "pods.yaml", yaml.safe_dump(doc))
    check(cli("simulate", path, "--cluster", EMPTY_A100, "--repeat", repeat, "-o", "json"), {0, 1, 2})


test_workload_structure, test_workload_structure_slow = fuzz(
    st.sampled_from(KINDS),
    st.sampled_from([0, 1, 3, -1, None, "2", 1.5, 10**9, 10**20]) | st.integers(0, 5),
    st.lists(st.tuples(st.sampled_from(RESOURCES), scalars), max_size=4),
    st.dictionaries(st.sampled_from(["nvidia.com/vgpu-mode", "nvidia.com/use-gputype", "nvidia.com/use-gpuuuid",
                                     "hami.io/gpu-scheduler-policy", "hami.io/node-scheduler-policy",
                                     "hami.io/device-scoring-weights", "nvidia.com/numa-bind"]),
                    st.text(max_size=20), max_size=3),
    st.sampled_from(["1", "2", "0", "-1", "abc", "99999999999999999999", LONG, "nan"]),
)(_workload_structure)


# ------------------------------------------------------------------ cluster snapshots (kubectl YAML and JSON)


def _snapshot_yaml(tmp_path_factory, edits) -> None:
    path = write(tmp_path_factory.mktemp("snap"), "cluster.yaml",
                 mutate_lines((EXAMPLES / "cluster.yaml").read_text(), edits))
    check(cli("status", "--cluster", path, "-o", "json"), {0, 1, 2})
    check(cli("simulate", PODS, "--cluster", path, "-o", "json"), {0, 1, 2})


test_snapshot_yaml, test_snapshot_yaml_slow = fuzz(yaml_edits)(_snapshot_yaml)

_CLUSTER_JSON = json.dumps(yaml.safe_load((EXAMPLES / "cluster.yaml").read_text()), indent=1)


def _snapshot_json(tmp_path_factory, edits) -> None:
    path = write(tmp_path_factory.mktemp("snap"), "cluster.json", mutate_json(_CLUSTER_JSON, edits))
    check(cli("status", "--cluster", path, "-o", "json"), {0, 1, 2})
    check(cli("capacity", "--cluster", path, "--shape", "gpu=1", "-o", "json"), {0, 1, 2})


test_snapshot_json, test_snapshot_json_slow = fuzz(json_edits)(_snapshot_json)


# ------------------------------------------------------------------ node annotations

NODE_ANNOTATIONS = ["hami.io/node-nvidia-register", "hami.io/node-handshake", "hami.io/node-nvidia-score",
                    "hami.io/mutex.lock", "hami.io/device-cordon", "migctl.io/geometry", "migctl.io/geometry-state",
                    "migctl.io/geometry-applied", "migctl.io/geometry-message", "migctl.io/geometry-observed"]
POD_ANNOTATIONS = ["hami.io/vgpu-devices-allocated", "hami.io/vgpu-devices-to-allocate", "hami.io/vgpu-node",
                   "hami.io/vgpu-mig-allocations", "hami.io/bind-phase", "hami.io/bind-time", "hami.io/vgpu-time",
                   "nvidia.com/vgpu-mode"]
annotation_text = (st.text(max_size=60)
                   | st.sampled_from(['[{"id":"GPU-x","count":-1,"devmem":1e400}]', '{"0":"1g.5gb:1","0":"disabled"}',
                                      f'[{{"uuid":"GPU-0","score":{LONG}}}]', "GPU-0,NVIDIA,-1,-1:;", "disabled",
                                      "1g.5gb:１", "GPU-a[1-0],NVIDIA,10240,0:;", "null", "[]", "{}", LONG])
                   | values.map(json.dumps))


def _annotations(tmp_path_factory, node_values, pod_values) -> None:
    cluster = json.loads(_CLUSTER_JSON)
    nodes = [i for i in cluster["items"] if i.get("kind") == "Node"]
    pods = [i for i in cluster["items"] if i.get("kind") == "Pod"]
    for n, (key, value) in enumerate(node_values):
        nodes[n % len(nodes)].setdefault("metadata", {}).setdefault("annotations", {})[key] = value
    for n, (key, value) in enumerate(pod_values):
        if pods:
            pods[n % len(pods)].setdefault("metadata", {}).setdefault("annotations", {})[key] = value
    path = write(tmp_path_factory.mktemp("ann"), "cluster.json", json.dumps(cluster))
    check(cli("status", "--cluster", path, "-o", "json"), {0, 1, 2})
    check(cli("simulate", PODS, "--cluster", path, "-o", "json"), {0, 1, 2})


test_annotations, test_annotations_slow = fuzz(
    st.lists(st.tuples(st.sampled_from(NODE_ANNOTATIONS), annotation_text), min_size=1, max_size=4),
    st.lists(st.tuples(st.sampled_from(POD_ANNOTATIONS), annotation_text), max_size=3),
)(_annotations)


@settings(max_examples=100, **_COMMON)
@given(st.sampled_from(NODE_ANNOTATIONS + POD_ANNOTATIONS), annotation_text)
def test_annotation_codecs_raise_only_their_errors(key, text):
    """Each decoder raises only its own error type (the status and daemon code rely on it)."""
    from migctl import node_protocol as proto
    from migctl.cluster import codecs

    decoders = {
        "hami.io/node-nvidia-register": codecs.decode_node_register, "hami.io/node-handshake": codecs.decode_handshake,
        "hami.io/node-nvidia-score": codecs.decode_node_score, "hami.io/mutex.lock": codecs.decode_node_lock,
        "hami.io/device-cordon": codecs.decode_device_cordon, "hami.io/vgpu-devices-allocated": codecs.decode_pod_devices,
        "hami.io/vgpu-devices-to-allocate": codecs.decode_pod_devices,
        "hami.io/vgpu-mig-allocations": codecs.decode_mig_allocations,
    }
    tracemalloc.start()
    try:
        if key in decoders:
            with contextlib.suppress(codecs.AnnotationError):
                decoders[key](text)
        with contextlib.suppress(proto.ProtocolError):
            proto.parse_desired(text)
        with contextlib.suppress(proto.ProtocolError):
            proto.decode_applied(text)
        proto.read_report({proto.STATE: text, proto.APPLIED: text, proto.OBSERVED: text})
        proto.answer_for({proto.STATE: "success", proto.APPLIED: text, proto.OBSERVED: text}, text)
        assert tracemalloc.get_traced_memory()[1] < MEMORY_BOUND
    finally:
        tracemalloc.stop()


# ------------------------------------------------------------------ shape and geometry strings

SHAPE_PIECES = ["gpu", "gpumem", "cores", "mode", "=", ",", "1", "0", "-1", "%", "mig", "hami-core", "10000", "１",
                "1_0", " ", LONG, "GPU", "gpumem%", "1.5", "e3"]
shape_text = st.lists(st.sampled_from(SHAPE_PIECES), max_size=8).map("".join) | st.text(max_size=30)


def _shape(tmp_path_factory, text) -> None:
    check(cli("capacity", "--cluster", EMPTY_A100, "--shape", text, "-o", "json"), {0, 1, 2})


test_shape_string, test_shape_string_slow = fuzz(shape_text)(_shape)

GEOMETRY_PIECES = ["1g.5gb", "2g.10gb", "3g.20gb", "7g.40gb", "1g.5gb+me", "1c.1g.5gb", ":", ",", "1", "7", "0", "１",
                   "²", "-1", "disabled", "DISABLED", "off", " ", "+", "me", "gfx", LONG, "1_0"]
geometry_text = st.lists(st.sampled_from(GEOMETRY_PIECES), max_size=8).map("".join) | st.text(max_size=30)


def _geometry(tmp_path_factory, text) -> None:
    check(cli("hardware", "check", "a100-40gb", text, "-o", "json"), {0, 1, 2})


test_geometry_string, test_geometry_string_slow = fuzz(geometry_text)(_geometry)


@settings(max_examples=300, **_COMMON)
@given(geometry_text)
def test_geometry_parse_raises_only_value_error(text):
    from migctl.hardware.geometry import Geometry

    try:
        g = Geometry.parse(text)
    except ValueError as exc:
        assert "set_int_max_str_digits" not in str(exc) and len(str(exc)) < 1000
        return
    assert Geometry.parse(str(g)) == g  # the canonical text reads back
    assert all(c.isascii() for c in str(g))


# ------------------------------------------------------------------ simulated NVML: state file and environment

_STATE_TEXT: dict[str, str] = {}


def _fresh_state(directory: Path) -> Path:
    if "text" not in _STATE_TEXT:
        path = directory / "seed.json"
        check(cli("node", "status", "-o", "json",
                  env={"MIGCTL_FAKE_NVML": str(path), "MIGCTL_FAKE_NVML_GPUS": "NVIDIA A100-SXM4-40GB:2"}), {0})
        _STATE_TEXT["text"] = json.dumps(json.loads(path.read_text()), indent=1)
    return write(directory, "state.json", _STATE_TEXT["text"])


def _nvml_state(tmp_path_factory, edits) -> None:
    directory = tmp_path_factory.mktemp("nvml")
    path = _fresh_state(directory)
    path.write_text(mutate_json(path.read_text(), edits))
    env = {"MIGCTL_FAKE_NVML": str(path), "MIGCTL_FAKE_NVML_GPUS": ""}
    check(cli("node", "status", "-o", "json", env=env), {0, 2, 3})
    check(cli("node", "apply-geometry", "1g.5gb:7", "--dry-run", "--state-dir", directory / "state", "-o", "json",
              env=env), {0, 1, 2, 3, 4, 5})


test_nvml_state_file, test_nvml_state_file_slow = fuzz(json_edits)(_nvml_state)

GPU_SPECS = ["NVIDIA A100-SXM4-40GB", ":", "2", "0", "-1", "99999999", "１", ",", "NVIDIA H100 80GB HBM3", " ", "x",
             LONG, "NVIDIA A100-SXM4-40GB:2"]
FAULT_SPECS = ["create_gi", ":", "1", "0", "crash", "NVML_ERROR_UNKNOWN", ",", "destroy_ci", "x", "-1", "１", LONG, "3"]


def _nvml_env(tmp_path_factory, gpus, faults) -> None:
    directory = tmp_path_factory.mktemp("nvml")
    env = {"MIGCTL_FAKE_NVML": str(directory / "state.json"), "MIGCTL_FAKE_NVML_GPUS": gpus,
           "MIGCTL_FAKE_NVML_FAIL": faults}
    check(cli("node", "status", "-o", "json", env=env), {0, 2, 3})


test_nvml_environment, test_nvml_environment_slow = fuzz(
    st.lists(st.sampled_from(GPU_SPECS), max_size=5).map("".join) | st.text(max_size=20),
    st.lists(st.sampled_from(FAULT_SPECS), max_size=5).map("".join),
)(_nvml_env)
