"""``validate config`` stays linear in its findings and caps what the text report prints (issue 12)."""

from __future__ import annotations

import json

import migctl.config.yaml_source as yaml_source


def _unknown_keys(tmp_path, n):
    path = tmp_path / "keys.yaml"
    path.write_text("nvidia:\n  resourceCountName: nvidia.com/gpu\n"
                    + "".join(f"  unknownKey{i}: 1\n" for i in range(n)), encoding="utf-8")
    return path


def test_text_report_splits_the_source_once_per_file(cli, tmp_path, monkeypatch):
    """The source excerpt used to re-split the whole file for every finding (quadratic): count the splits."""
    calls = []
    real = yaml_source.yaml_lines

    def counting(text):
        calls.append(len(text))
        return real(text)

    path = _unknown_keys(tmp_path, 300)
    monkeypatch.setattr(yaml_source, "yaml_lines", counting)
    result = cli("validate", "config", str(path))
    size = len(path.read_text(encoding="utf-8"))
    # the renderer splits the whole file once (it did once per finding)
    assert sum(1 for n in calls if n == size) <= 1, calls
    assert result.exit_code == 0


def test_text_report_prints_the_first_findings_of_each_code_and_counts_the_rest(cli, tmp_path):
    from migctl.cli.validate import MAX_TEXT_FINDINGS_PER_CODE as limit

    path = _unknown_keys(tmp_path, 10_000)
    text = cli("validate", "config", str(path))
    assert text.stdout.count("unknown-key") == limit + 1  # the shown ones and the "and N more" line
    assert f"... and {10_000 - limit} more unknown-key finding(s) not shown" in text.stdout
    assert "10001 warning(s)" in text.stdout  # the summary still counts every finding
    full = cli("validate", "config", str(path), "-o", "json")
    report = json.loads(full.stdout)
    codes = [d["code"] for d in report["diagnostics"]]
    assert codes.count("unknown-key") == 10_000  # every finding in JSON


def test_many_empty_documents_print_a_bounded_report(cli, tmp_path):
    from migctl.cli.validate import MAX_TEXT_FINDINGS_PER_CODE as limit

    path = tmp_path / "empty.yaml"
    path.write_text("---\n{}\n" * 8000, encoding="utf-8")
    result = cli("validate", "config", str(path))
    assert result.exit_code == 1
    assert "8000 error(s)" in result.stdout
    assert result.stdout.count("device-config in document") == limit
    assert f"... and {8000 - limit} more config(s) in this file" in result.stdout
    assert len(result.stdout.splitlines()) < 40 * limit
