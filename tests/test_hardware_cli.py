"""``migctl hardware list|show|geometries|check`` through the real entry point."""

from __future__ import annotations

import json

import pytest
import yaml


def _json(result):
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def test_list_text_and_json(cli):
    text = cli("hardware", "list")
    assert text.exit_code == 0
    assert "a100-40gb" in text.stdout and "NVIDIA A100-PCIE-40GB" in text.stdout
    assert "rtx-pro-6000-blackwell" in text.stdout and "low-medium" in text.stdout

    data = _json(cli("hardware", "list", "-o", "json"))
    assert len(data["models"]) == 16
    first = data["models"][0]
    assert first["key"] == "a100-40gb"
    assert first["compute_slices"] == 7 and first["placement_units"] == 8
    assert first["confidence"] == "high"
    assert "NVIDIA A100-SXM4-40GB" in first["nvml_names"]
    assert first["hami_models"] == ["A100-SXM4-40GB", "A100-40GB-PCIe", "A100-PCIE-40GB"]


def test_list_yaml(cli):
    result = cli("hardware", "list", "-o", "yaml")
    assert result.exit_code == 0
    assert len(yaml.safe_load(result.stdout)["models"]) == 16


@pytest.mark.parametrize("name", ["A100-SXM4-40GB", "a100-40gb", "NVIDIA A100-PCIE-40GB", "A100-40GB-PCIe"])
def test_show_accepts_key_nvml_name_and_hami_model(cli, name):
    result = cli("hardware", "show", name)
    assert result.exit_code == 0, result.stderr
    assert "a100-40gb" in result.stdout
    assert "1g.5gb+me" in result.stdout
    # The slot grid drawing: 3g.20gb has two placements, at 0 and 4.
    grid = [line for line in result.stdout.splitlines() if line.startswith("3g.20gb ")]
    assert grid and grid[-1].count("[") == 2


def test_show_draws_the_twelve_unit_grid(cli):
    result = cli("hardware", "show", "rtx-pro-6000-blackwell")
    assert result.exit_code == 0
    header = [line for line in result.stdout.splitlines() if line.startswith("unit")][0]
    assert header.split()[1:] == [str(u) for u in range(12)]
    row = [line for line in result.stdout.splitlines() if line.startswith("1g.24gb ")][-1]
    assert row.count("[") == 4


def test_show_json(cli):
    data = _json(cli("hardware", "show", "A100-80GB-PCIe", "-o", "json"))
    assert data["key"] == "a100-80gb"
    assert data["match"] == {"rule": "hami-model", "matched": "A100-80GB-PCIe"}
    profiles = {p["name"]: p for p in data["profiles"]}
    assert profiles["7g.80gb"]["aliases"] == ["7g.79gb"]
    assert profiles["1g.10gb+me"]["attribute"] == "+me"
    assert profiles["3g.40gb"]["placement_starts"] == [0, 4]
    assert profiles["3g.40gb"]["board_profile_id"] == 9
    assert profiles["1g.20gb"]["memory_mib"] is None


def test_unknown_model_is_a_usage_error(cli):
    result = cli("hardware", "show", "GeForce RTX 4090")
    assert result.exit_code == 2
    assert "unknown GPU model" in result.stderr and "a100-40gb" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_substring_match_warns_on_stderr(cli):
    result = cli("hardware", "show", "Tesla A100-PCIE-40GB custom", "-o", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["match"]["rule"] == "hami-substring"
    assert "substring" in result.stderr


def test_geometries(cli):
    text = cli("hardware", "geometries", "A100-SXM4-40GB")
    assert text.exit_code == 0
    assert "2g.10gb:3,1g.5gb:1" in text.stdout
    data = _json(cli("hardware", "geometries", "a100-40gb", "-o", "json"))
    assert data["model"] == "a100-40gb"
    by_text = {g["geometry"]: g for g in data["geometries"]}
    assert data["geometries"][0]["geometry"] == "7g.40gb:1"
    seven = by_text["1g.5gb:7"]
    assert seven["instances"] == 7 and seven["units_free"] == 1
    assert seven["memory_mib_used"] == 7 * 4864
    assert seven["memory_mib_unused"] == 40960 - 7 * 4864
    assert "3g.20gb:1" not in by_text
    assert by_text["7g.40gb:1"]["placements"] == [{"profile": "7g.40gb", "start": 0, "size": 8}]
    assert any("R510" in w for w in by_text["4g.20gb:1,3g.20gb:1"]["warnings"])
    assert by_text["2g.10gb:3,1g.5gb:1"]["warnings"] == []
    # Text: caveats are numbered footnotes.
    assert "[1] a 4g and a 3g instance on one GPU need driver R510" in text.stdout


def test_geometries_unknown_memory_is_null(cli):
    data = _json(cli("hardware", "geometries", "b300-288gb", "-o", "json"))
    assert all(g["memory_mib_used"] is None and g["memory_mib_unused"] is None for g in data["geometries"])


def test_check_feasible(cli):
    result = cli("hardware", "check", "A100-SXM4-40GB", "1g.5gb:2,2g.10gb:1,3g.20gb:1")
    assert result.exit_code == 0
    assert result.stdout.startswith("feasible: 3g.20gb:1,2g.10gb:1,1g.5gb:2 on a100-40gb")
    data = _json(cli("hardware", "check", "a100-40gb", "2g.10gb:3,1g.5gb:1", "-o", "json"))
    assert data["feasible"] is True
    assert data["geometry"] == "2g.10gb:3,1g.5gb:1"
    assert [(p["profile"], p["start"]) for p in data["placements"]] == [
        ("2g.10gb", 0),
        ("2g.10gb", 2),
        ("2g.10gb", 4),
        ("1g.5gb", 6),
    ]


def test_check_infeasible_exits_1_with_the_reason(cli):
    result = cli("hardware", "check", "a100-40gb", "3g.20gb:2,1g.5gb:1")
    assert result.exit_code == 1
    assert "infeasible" in result.stdout and "no room for 1g.5gb" in result.stdout
    data = _json(cli("hardware", "check", "a100-40gb", "1g.5gb+me:2", "-o", "json"))
    assert data["feasible"] is False and data["unplaced"] == "1g.5gb+me" and data["placements"] == []


def test_check_unknown_profile_suggests_the_nearest(cli):
    result = cli("hardware", "check", "a100-40gb", "2g.12gb:1", "-o", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["unplaced"] == "2g.12gb" and data["hint"] == "did you mean 2g.10gb?"


def test_check_with_existing_instances(cli):
    result = cli("hardware", "check", "a100-40gb", "3g.20gb:1", "--existing", "1g.5gb@0,1g.5gb@1,1g.5gb@5")
    assert result.exit_code == 1
    assert "1g.5gb@5:1" in result.stdout
    data = _json(cli("hardware", "check", "a100-40gb", "2g.10gb:1", "-e", "1g.5gb@0,1g.5gb@1,1g.5gb@5", "-o", "json"))
    assert data["feasible"] and data["placements"] == [{"profile": "2g.10gb", "start": 2, "size": 2}]
    assert [(p["start"], p["existing"]) for p in data["layout"]] == [(0, True), (1, True), (2, False), (5, True)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("a100-40gb", "2g10gb"), "invalid geometry"),
        (("a100-40gb", "1g.5gb:x"), "not a whole number"),
        (("a100-40gb", "1g.5gb:1", "--existing", "1g.5gb"), "PROFILE@START"),
        (("a100-40gb", "1g.5gb:1", "--existing", "9g.1gb@0"), "no profile"),
    ],
)
def test_check_bad_input_is_exit_2(cli, args, message):
    result = cli("hardware", "check", *args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_check_empty_geometry_is_feasible(cli):
    result = cli("hardware", "check", "a30-24gb", "")
    assert result.exit_code == 0 and "(empty geometry)" in result.stdout


def test_check_rtx_pro_me_all(cli):
    result = cli("hardware", "check", "RTX PRO 6000 Blackwell Server Edition", "1g.24gb+me.all:1,1g.24gb:1")
    assert result.exit_code == 1 and "-me" in result.stdout


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = st.sampled_from(["1g.5gb", "2g.10gb", "3g.20gb", "7g.79gb", "1g.5gb+me", "1c.1g.5gb", "9g.9gb", ":", ",", "@", "+", "-", "x", "0", "7", " ", "g.", "gb"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    model=st.sampled_from(["a100-40gb", "A100-SXM4-40GB", "rtx-pro-6000-blackwell", "a30", "nope", ""]),
    geometry=st.one_of(st.text(max_size=30), st.lists(_PIECES, max_size=8).map("".join), st.sampled_from(["-x", "--"])),
    existing=st.one_of(st.just(""), st.lists(_PIECES, max_size=5).map("".join)),
)
def test_check_never_shows_a_traceback(cli, model, geometry, existing):
    result = cli("hardware", "check", model, geometry, "--existing", existing, "-o", "json")
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    if result.exit_code in (0, 1):
        assert json.loads(result.stdout)["feasible"] is (result.exit_code == 0)
    else:
        # Our own message, or click's usage error for a GEOMETRY that looks like an option ("-x", "--").
        assert result.stdout == "" and (result.stderr.startswith("migctl: error:") or result.stderr.startswith("Usage:"))


def test_hardware_commands_import_no_heavy_modules():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from migctl.cli.main import run\n"
        "assert run(['hardware', 'list', '-o', 'json']) == 0\n"
        "assert run(['hardware', 'check', 'a100-40gb', '2g.10gb:3,1g.5gb:1']) == 0\n"
        "heavy = [m for m in ('kubernetes', 'pynvml', 'jsonschema') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
