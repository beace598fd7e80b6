"""``migctl node status`` and ``migctl node apply-geometry`` through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from migctl.nvml.fake import FakeState

A100 = "NVIDIA A100-SXM4-40GB"


@pytest.fixture
def fake_env(tmp_path, monkeypatch):
    """MIGCTL_FAKE_NVML pointing at a fresh state file; returns a loader for it."""
    path = tmp_path / "nvml.json"
    monkeypatch.setenv("MIGCTL_FAKE_NVML", str(path))
    monkeypatch.setenv("MIGCTL_FAKE_NVML_GPUS", f"{A100}:2,NVIDIA L4:1")
    monkeypatch.setenv("MIGCTL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("MIGCTL_FAKE_NVML_FAIL", raising=False)
    FakeState.from_spec(f"{A100}:2,NVIDIA L4:1").save(path)  # what the first command would create

    def state() -> FakeState:
        return FakeState.load(path)

    state.path = path  # type: ignore[attr-defined]
    return state


def test_status_json_shape(cli, fake_env):
    assert cli("node", "apply-geometry", "3g.20gb:1,1g.5gb:2", "--gpu", "1").exit_code == 0
    result = cli("node", "status", "-o", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    gpus = data["gpus"]
    assert [g["index"] for g in gpus] == [0, 1, 2]
    assert set(gpus[0]) == {"index", "uuid", "name", "mig_enabled", "mig_pending", "geometry", "instances"}
    assert gpus[0]["geometry"] == "" and gpus[0]["instances"] == []
    assert gpus[1]["geometry"] == "3g.20gb:1,1g.5gb:2"
    first = gpus[1]["instances"][0]
    assert set(first) == {"profile", "start", "size", "gpu_instance_id", "compute_instance_ids", "mig_uuid", "processes"}
    assert (first["profile"], first["start"], first["size"], first["processes"]) == ("3g.20gb", 0, 4, 0)
    assert first["mig_uuid"].startswith("MIG-") and isinstance(first["compute_instance_ids"], list)
    assert gpus[2] == {"index": 2, "uuid": gpus[2]["uuid"], "name": "NVIDIA L4", "mig_enabled": False,
                       "mig_pending": False, "geometry": None, "instances": []}
    assert result.stderr == ""
    yaml_out = cli("node", "status", "-o", "yaml", "--gpu", "1")
    assert yaml_out.exit_code == 0 and "geometry: 3g.20gb:1,1g.5gb:2" in yaml_out.stdout


def test_status_no_headers_drops_the_instance_table_header(cli, fake_env):
    assert cli("node", "apply-geometry", "3g.20gb:1,1g.5gb:2", "--gpu", "0").exit_code == 0
    with_header = cli("node", "status", "--gpu", "0").stdout
    without = cli("node", "status", "--gpu", "0", "--no-headers")
    assert without.exit_code == 0, without.stderr
    assert "MIG UUID" in with_header and "MIG UUID" not in without.stdout
    rows = [line.split() for line in without.stdout.splitlines() if line.startswith(("3g.", "1g."))]
    assert [(r[0], r[1]) for r in rows] == [("3g.20gb", "0:4"), ("1g.5gb", "4:1"), ("1g.5gb", "5:1")]


def test_status_text_draws_slot_grid(cli, fake_env):
    cli("node", "apply-geometry", "3g.20gb:1,2g.10gb:1,1g.5gb:2", "--gpu", "0")
    state = fake_env()
    state.gpus[0].gpu_instances[0].compute_instances[0].processes.append(777)
    state.save(fake_env.path)
    result = cli("node", "status", "--gpu", "0")
    assert result.exit_code == 0
    out = result.stdout
    assert "GPU 0" in out and A100 in out and "MIG: enabled" in out
    assert "geometry: 3g.20gb:1,2g.10gb:1,1g.5gb:2" in out
    assert "0    1    2    3    4    5    6    7" in out
    assert "[2g.10gb]" in out and "3g.20gb" in out and "[1g]" in out
    assert "MIG-" in out


def test_apply_json_report_and_idempotency(cli, fake_env):
    result = cli("node", "apply-geometry", "2g.10gb:3,1g.5gb:1", "--gpu", "0", "-o", "json")
    assert result.exit_code == 0, result.stderr
    gpu = json.loads(result.stdout)["gpus"][0]
    assert {"index", "uuid", "before", "after", "status", "actions"} <= set(gpu)
    assert (gpu["before"], gpu["after"], gpu["status"]) == ("", "2g.10gb:3,1g.5gb:1", "applied")
    assert gpu["actions"][0] == {"op": "create", "profile": "2g.10gb", "start": 0, "size": 2}
    again = json.loads(cli("node", "apply-geometry", "2g.10gb:3,1g.5gb:1", "--gpu", "0", "-o", "json").stdout)["gpus"][0]
    assert again["status"] == "unchanged" and again["actions"] == []
    import yaml

    as_yaml = yaml.safe_load(cli("node", "apply-geometry", "2g.10gb:3,1g.5gb:1", "--gpu", "0", "-o", "yaml").stdout)
    assert as_yaml["gpus"][0]["status"] == "unchanged"


def test_dry_run_changes_nothing(cli, fake_env):
    before = fake_env().to_dict()
    result = cli("node", "apply-geometry", "7g.40gb:1", "--dry-run", "-o", "json")
    assert result.exit_code == 0
    gpus = json.loads(result.stdout)["gpus"]
    assert [g["status"] for g in gpus] == ["planned", "planned", "unchanged"]  # the L4 is skipped
    assert fake_env().to_dict() == before


def test_exit_codes(cli, fake_env):
    # 1: infeasible, nothing changed
    result = cli("node", "apply-geometry", "3g.20gb:2,1g.5gb:1", "--gpu", "0")
    assert result.exit_code == 1 and "failed" in result.stdout
    # 2: bad geometry text, bad --gpu, conflicting sources
    assert cli("node", "apply-geometry", "2g.10gb:x").exit_code == 2
    result = cli("node", "apply-geometry", "1g.5gb:1", "--gpu", "9")
    assert result.exit_code == 2 and "no such GPU" in result.stderr
    assert cli("node", "apply-geometry").exit_code == 2
    assert cli("node", "apply-geometry", "1g.5gb:1", "-f", "x.yaml").exit_code == 2
    # explicit non-MIG GPU: failed
    assert cli("node", "apply-geometry", "1g.5gb:1", "--gpu", "2").exit_code == 1
    # 4: a busy instance in the way
    assert cli("node", "apply-geometry", "1g.5gb:7", "--gpu", "0").exit_code == 0
    state = fake_env()
    state.gpus[0].gpu_instances[3].compute_instances[0].processes.append(31337)
    state.save(fake_env.path)
    result = cli("node", "apply-geometry", "7g.40gb:1", "--gpu", "0")
    assert result.exit_code == 4 and "31337" in result.stdout and "refused" in result.stdout
    # 5: MIG mode change pending a reset
    state = fake_env()
    state.gpus[1].mig_current = state.gpus[1].mig_pending = False
    state.gpus[1].clients_holding = True
    state.save(fake_env.path)
    result = cli("node", "apply-geometry", "7g.40gb:1", "--gpu", "1", "-o", "json")
    assert result.exit_code == 5
    gpu = json.loads(result.stdout)["gpus"][0]
    assert gpu["status"] == "reset-required" and "nvidia-smi -r -i 1" in gpu["hint"]
    status = json.loads(cli("node", "status", "--gpu", "1", "-o", "json").stdout)["gpus"][0]
    assert (status["mig_enabled"], status["mig_pending"], status["geometry"]) == (False, True, None)
    assert "pending: enabled after a GPU reset" in cli("node", "status", "--gpu", "1").stdout


def test_fault_rolls_back_with_exit_1(cli, fake_env, monkeypatch):
    cli("node", "apply-geometry", "3g.20gb:1,2g.10gb:1,1g.5gb:2", "--gpu", "0")
    before = fake_env().to_dict()["gpus"][0]["gpu_instances"]
    monkeypatch.setenv("MIGCTL_FAKE_NVML_FAIL", "create_compute_instance:1")
    result = cli("node", "apply-geometry", "3g.20gb:2", "--gpu", "0", "-o", "json")
    assert result.exit_code == 1
    gpu = json.loads(result.stdout)["gpus"][0]
    assert gpu["status"] == "rolled-back" and "create compute instance" in gpu["message"]
    after = fake_env().to_dict()["gpus"][0]["gpu_instances"]
    assert [(g["profile"], g["start"]) for g in after] == [(g["profile"], g["start"]) for g in before] or sorted(
        (g["profile"], g["start"]) for g in after) == sorted((g["profile"], g["start"]) for g in before)


def test_gpu_by_uuid_and_disabled(cli, fake_env):
    uuid = fake_env().gpus[1].uuid
    assert cli("node", "apply-geometry", "4g.20gb:1", "--gpu", uuid).exit_code == 0
    assert fake_env().gpus[1].gpu_instances[0].profile.name == "4g.20gb"
    result = cli("node", "apply-geometry", "disabled", "--gpu", uuid, "-o", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["gpus"][0]["after"] is None
    assert fake_env().gpus[1].mig_current is False


def test_mig_parted_config_drop_in(cli, fake_env):
    from conftest import EXAMPLES

    config = EXAMPLES / "mig-parted-config.yaml"
    result = cli("node", "apply-geometry", "-f", config, "-c", "custom-config", "-o", "json")
    assert result.exit_code == 0, result.stderr
    gpus = json.loads(result.stdout)["gpus"]
    assert [(g["index"], g["after"]) for g in gpus] == [(0, "7g.40gb:1"), (1, "2g.10gb:3,1g.5gb:1")]
    result = cli("node", "apply-geometry", "-f", config, "-c", "all-balanced", "--dry-run", "-o", "json")
    gpus = json.loads(result.stdout)["gpus"]
    assert [g["after"] for g in gpus] == ["3g.20gb:1,2g.10gb:1,1g.5gb:2"] * 2
    result = cli("node", "apply-geometry", "-f", config, "-c", "all-1g.5gb", "--dry-run", "-o", "json")
    assert result.exit_code == 0  # devices: all skips the L4 like mig-parted does
    assert [g["index"] for g in json.loads(result.stdout)["gpus"]] == [0, 1]
    result = cli("node", "apply-geometry", "-f", config)
    assert result.exit_code == 2 and "-c" in result.stderr
    result = cli("node", "apply-geometry", "-f", config, "-c", "nope")
    assert result.exit_code == 2 and "nope" in result.stderr


def test_template_from_device_config(cli, fake_env, tmp_path):
    config = tmp_path / "device-config.yaml"
    config.write_text(
        "nvidia:\n"
        "  knownMigGeometries:\n"
        "    - models: [\"A100-SXM4-40GB\"]\n"
        "      allowedGeometries:\n"
        "        - - {name: 1g.5gb, memory: 5120, count: 7}\n"
        "        - - {name: 2g.10gb, memory: 10240, count: 3}\n"
        "          - {name: 1g.5gb, memory: 5120, count: 1}\n"
    )
    result = cli("node", "apply-geometry", "--template", "A100-SXM4-40GB:1", "--config", config, "--gpu", "0", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["gpus"][0]["after"] == "2g.10gb:3,1g.5gb:1"
    result = cli("node", "apply-geometry", "--template", "A100-SXM4-40GB:5", "--config", config)
    assert result.exit_code == 2 and "out of range" in result.stderr
    assert cli("node", "apply-geometry", "--template", "A100-SXM4-40GB:0").exit_code == 2


def test_bad_fake_state_is_a_clear_input_error(cli, fake_env):
    fake_env.path.write_text('{"gpus": [{"name": "NVIDIA A100-SXM4-40GB", "gpu_instances": [{"profile": "3g.20gb", "start": 1}]}]}')
    result = cli("node", "status")
    assert result.exit_code == 2
    assert "gpus[0].gpu_instances[0].start" in result.stderr and "Traceback" not in result.stderr


def test_no_nvml_is_exit_3(cli, monkeypatch):
    import pynvml

    monkeypatch.delenv("MIGCTL_FAKE_NVML", raising=False)
    if pynvml.nvmlLib is not None:  # pragma: no cover
        pytest.skip("a real NVML is loaded here")
    result = cli("node", "status")
    assert result.exit_code == 3 and "NVML" in result.stderr and "Traceback" not in result.stderr


def test_node_commands_do_not_import_pynvml_at_startup():
    code = (
        "import sys; from migctl.cli import node; "
        "assert not {'pynvml', 'migctl.nvml.adapter', 'migctl.apply.engine'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_empty_geometry_means_mig_on_without_instances(cli, fake_env):
    assert cli("node", "apply-geometry", "1g.5gb:2", "--gpu", "0").exit_code == 0
    result = cli("node", "apply-geometry", "", "-o", "json")
    assert result.exit_code == 0, result.stderr
    gpus = json.loads(result.stdout)["gpus"]
    assert [(g["status"], g["after"]) for g in gpus] == [("applied", ""), ("unchanged", ""), ("unchanged", None)]
    assert fake_env().gpus[0].mig_current is True and fake_env().gpus[0].gpu_instances == []


def test_one_gpu_failing_does_not_stop_the_others(cli, fake_env, monkeypatch):
    state = fake_env()
    for gpu in state.gpus[:2]:
        gpu.mig_current = gpu.mig_pending = False
    state.save(fake_env.path)
    monkeypatch.setenv("MIGCTL_FAKE_NVML_FAIL", "set_mig_mode:1")
    result = cli("node", "apply-geometry", "7g.40gb:1", "-o", "json")
    assert result.exit_code == 1
    gpus = json.loads(result.stdout)["gpus"]
    assert gpus[0]["status"] == "failed" and "enable MIG mode failed" in gpus[0]["message"]
    assert gpus[1]["status"] == "applied" and gpus[1]["after"] == "7g.40gb:1"


def test_a_gpu_that_cannot_be_read_is_not_reported_as_mig_disabled(cli, fake_env):
    path = fake_env.path
    data = json.loads(path.read_text())
    data["user"] = "unprivileged"  # cannot list MIG instances
    path.write_text(json.dumps(data))
    r = cli("node", "apply-geometry", "1g.5gb:2", "--gpu", "0", "-o", "json")
    assert r.exit_code == 1
    gpu = json.loads(r.stdout)["gpus"][0]
    assert gpu["status"] == "failed" and gpu["state_unknown"] is True
    assert gpu["uuid"].startswith("GPU-")
    assert "Insufficient Permissions" in gpu["message"]
    r = cli("node", "apply-geometry", "1g.5gb:2", "--gpu", "0")
    assert "could not be read" in r.stdout and "MIG disabled" not in r.stdout


def test_mig_parted_apply_undoes_earlier_gpus_like_the_daemon(cli, fake_env, monkeypatch):
    """-f -c changes the selected GPUs as one request: a failure on GPU 1 puts GPU 0 back (as the daemon does)."""
    from conftest import EXAMPLES

    config = EXAMPLES / "mig-parted-config.yaml"
    monkeypatch.setenv("MIGCTL_FAKE_NVML_FAIL", "create_gpu_instance:2")  # GPU 0 needs 1 create, GPU 1 fails on its first
    result = cli("node", "apply-geometry", "-f", config, "-c", "custom-config", "-o", "json")
    assert result.exit_code == 1, result.stderr
    data = json.loads(result.stdout)
    assert [(g["index"], g["status"]) for g in data["gpus"]] == [(0, "applied"), (1, "rolled-back")]
    assert [(g["index"], g["status"], g["after"]) for g in data["undo"]] == [(0, "applied", "")]
    state = fake_env()
    assert state.gpus[0].gpu_instances == [] and state.gpus[1].gpu_instances == []
