"""``migctl validate config`` end to end through the real entry point (exit codes, formats, bad input)."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "examples" / "device-config.yaml"
DATA = Path(__file__).resolve().parent / "data" / "config"
POINTER = re.compile(r"^(/([^~/]|~[01])*)*$")


def check_report_shape(report):
    assert set(report) >= {"valid", "errors", "warnings", "diagnostics"}
    assert isinstance(report["valid"], bool)
    assert report["errors"] == sum(d["severity"] == "error" for d in report["diagnostics"])
    assert report["warnings"] == sum(d["severity"] == "warning" for d in report["diagnostics"])
    for d in report["diagnostics"]:
        assert set(d) >= {"severity", "code", "path", "line", "column", "message", "hint"}
        assert d["severity"] in ("error", "warning", "info")
        assert POINTER.match(d["path"]), d["path"]
        assert d["line"] is None or (isinstance(d["line"], int) and d["line"] >= 1)
        assert d["column"] is None or (isinstance(d["column"], int) and d["column"] >= 1)
        assert isinstance(d["message"], str) and d["message"]
        assert d["hint"] is None or isinstance(d["hint"], str)


def feed_stdin(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_seed_example_is_valid_with_exit_0(cli):
    result = cli("validate", "config", SEED, "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    check_report_shape(report)
    assert report["valid"] is True and report["errors"] == 0 and report["warnings"] > 0
    assert report["files"][0]["configs"][0] == {"kind": "device-config", "origin": "the file", "hami_version": "2.9"}
    memory = next(d for d in report["diagnostics"] if d["code"] == "memory-over-profile")
    assert memory["path"] == "/nvidia/knownMigGeometries/0/allowedGeometries/0/0/memory"
    assert (memory["line"], memory["column"]) == (16, 19)


def test_strict_makes_warnings_fail(cli):
    result = cli("validate", "config", SEED, "--strict", "-o", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["valid"] is False


def test_hami_version_flag(cli):
    assert cli("validate", "config", SEED, "--hami-version", "2.9").exit_code == 0
    result = cli("validate", "config", SEED, "--hami-version", "2.10", "-o", "json")
    assert result.exit_code == 1
    assert "mig-key-ignored" in {d["code"] for d in json.loads(result.stdout)["diagnostics"]}


def test_invalid_config_exits_1_and_yaml_output_parses(cli):
    result = cli("validate", "config", DATA / "helm-render.yaml", "-o", "yaml")
    assert result.exit_code == 1
    report = yaml.safe_load(result.stdout)
    check_report_shape(report)
    assert report["valid"] is False and report["errors"] == 1


def test_text_report_shows_the_line_and_a_caret_under_the_column(cli):
    result = cli("validate", "config", DATA / "helm-render.yaml")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == str(DATA / "helm-render.yaml")
    i = next(i for i, line in enumerate(lines) if "|       resourcePriority: nvidia.com/priority" in line)
    source, caret = lines[i], lines[i + 1]
    assert caret.index("^") == source.index("resourcePriority")
    assert "did you mean 'resourcePriorityName'?" in result.stdout
    assert "invalid: 1 error(s), 1 warning(s)" in result.stdout


def test_sarif_output(cli):
    result = cli("validate", "config", DATA / "kubectl-list.yaml", "-o", "sarif")
    assert result.exit_code == 1
    sarif = json.loads(result.stdout)
    assert sarif["version"] == "2.1.0" and "sarif" in sarif["$schema"]
    run = sarif["runs"][0]
    assert run["tool"]["driver"]["name"] == "migctl"
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} == {"profile-unknown", "migstrategy-no-effect"}
    by_rule = {r["ruleId"]: r for r in run["results"]}
    hit = by_rule["profile-unknown"]
    assert hit["level"] == "error" and rules[hit["ruleIndex"]]["id"] == "profile-unknown"
    location = hit["locations"][0]
    assert location["physicalLocation"]["artifactLocation"]["uri"].endswith("kubectl-list.yaml")
    assert location["physicalLocation"]["region"] == {"startLine": 14, "startColumn": 33}
    assert location["logicalLocations"][0]["fullyQualifiedName"] == "/nvidia/migProfileAllowlist/0/profiles/1"
    assert by_rule["migstrategy-no-effect"]["level"] == "warning"
    strict = json.loads(cli("validate", "config", DATA / "kubectl-list.yaml", "-o", "sarif", "--strict").stdout)
    assert {r["level"] for r in strict["runs"][0]["results"]} == {"error"}


def test_stdin(cli, monkeypatch):
    feed_stdin(monkeypatch, SEED.read_bytes())
    result = cli("validate", "config", "-", "-o", "json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["diagnostics"][0]["file"] == "<stdin>"


def test_several_files_grouped_and_the_worst_exit_code_wins(cli, tmp_path):
    result = cli("validate", "config", SEED, DATA / "website-flat.yaml", "-o", "json")
    assert result.exit_code == 1
    assert {d["file"] for d in json.loads(result.stdout)["diagnostics"]} == {str(SEED), str(DATA / "website-flat.yaml")}
    result = cli("validate", "config", DATA / "website-flat.yaml", tmp_path / "missing.yaml", "-o", "json")
    assert result.exit_code == 2


def test_usage_errors_exit_2(cli):
    assert cli("validate", "config").exit_code == 2
    assert cli("validate", "config", SEED, "-o", "xml").exit_code == 2
    assert cli("validate", "config", SEED, "--hami-version", "3.0").exit_code == 2
    assert cli("validate", "config", "-", "-").exit_code == 2


@pytest.mark.parametrize(("data", "code", "exit_code"), [
    (b"", "input-empty", 1),
    (b"\x00\x01\x02binary", "input-binary", 2),
    (b"nvidia: [\n", "yaml-syntax", 1),
    (b"- just\n- a list\n", "document-type", 1),
    (b"#" * (10 * 1024 * 1024 + 1), "input-too-large", 2),
    (b"[" * 3000 + b"]" * 3000, "yaml-too-deep", 1),
    (b"a: &a [x,x,x,x,x,x,x,x,x,x]\n" + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [".encode() + b",".join([f"*{chr(97 + i)}".encode()] * 10) + b"]\n"
        for i in range(9)), "yaml-alias-bomb", 1),
])
def test_bad_input_gets_one_clear_diagnostic_and_the_right_exit_code(cli, tmp_path, data, code, exit_code):
    path = tmp_path / "input.yaml"
    path.write_bytes(data)
    for fmt in ("json", "text"):
        result = cli("validate", "config", path, "-o", fmt)
        assert result.exit_code == exit_code
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    report = json.loads(cli("validate", "config", path, "-o", "json").stdout)
    assert [d["code"] for d in report["diagnostics"]] == [code]


def test_an_unreadable_file_exits_2_with_a_diagnostic(cli, tmp_path):
    result = cli("validate", "config", tmp_path / "nope.yaml", "-o", "json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["diagnostics"][0]["code"] == "input-unreadable"
    assert cli("validate", "config", tmp_path).exit_code == 2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.binary(max_size=400),
    st.text(max_size=400).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12)),
        lambda inner: st.one_of(st.lists(inner, max_size=4),
                                st.dictionaries(st.sampled_from(
                                    ["nvidia", "knownMigGeometries", "migProfileAllowlist", "models", "profiles",
                                     "allowedGeometries", "name", "memory", "count", "core", "nodeconfig",
                                     "resourceCountName", "deviceSplitCount", "kind", "apiVersion", "data",
                                     "device-config.yaml", "x"]), inner, max_size=4)),
        max_leaves=25,
    ).map(lambda v: yaml.safe_dump(v).encode()),
), st.sampled_from(["json", "text", "sarif"]))
def test_any_input_gives_a_clean_result(cli, monkeypatch, data, fmt):
    feed_stdin(monkeypatch, data)
    result = cli("validate", "config", "-", "-o", fmt)
    assert result.exit_code in (0, 1, 2), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    if fmt == "json":
        check_report_shape(json.loads(result.stdout))
    elif fmt == "sarif":
        assert json.loads(result.stdout)["version"] == "2.1.0"
    else:
        assert "<stdin>" in result.stdout


def test_readme_documents_the_command_and_every_code():
    from migctl.config.diagnostics import CODES

    readme = (REPO / "README.md").read_text()
    section = readme.split("## migctl validate config", 1)[1].split("\n## ", 1)[0]
    for code in CODES:
        assert f"| `{code}` |" in section, code
    for option in ("--from-cluster", "--kind", "--hami-version", "--strict", "-o sarif", "--namespace", "--context"):
        assert option in section, option


def test_no_stdin_is_a_usage_error(cli, monkeypatch):
    monkeypatch.setattr(sys, "stdin", None)
    result = cli("validate", "config", "-")
    assert result.exit_code == 2
    assert "no stdin" in result.stderr


def test_sarif_uri_of_stdin_is_a_valid_uri_reference(cli, monkeypatch):
    feed_stdin(monkeypatch, b"nvidia: [\n")
    sarif = json.loads(cli("validate", "config", "-", "-o", "sarif").stdout)
    uri = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "%3Cstdin%3E"


def test_source_lines_are_shown_verbatim_not_as_rich_markup_or_emoji(cli, tmp_path):
    path = tmp_path / "passwd.yaml"
    path.write_text("root:x:0:0:[bold]root[/bold]:/root:/bin/bash\n")
    r = cli("validate", "config", path)
    assert r.exit_code == 1
    assert "root:x:0:0:[bold]root[/bold]:/root:/bin/bash" in r.stdout


def test_a_finding_with_a_line_but_no_column_prints_the_line_alone(cli, tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"nvidia:\n\x00\x01\x02")
    r = cli("validate", "config", path)
    assert r.exit_code == 2
    assert "None" not in r.stdout
