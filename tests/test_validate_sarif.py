"""``validate config --strict -o sarif deploy/*.yaml`` in a manifest repository (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import REPO

DEPLOY = sorted(str(p) for p in (REPO / "deploy").glob("*.yaml"))
HAMI_CM_WITHOUT_KEY = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: hami-scheduler-device
  namespace: kube-system
data:
  other.yaml: "x: 1"
"""


def _sarif(cli, *args):
    result = cli("validate", "config", "--strict", "-o", "sarif", *map(str, args))
    return result, json.loads(result.stdout)["runs"][0]


def test_manifests_without_hami_config_are_notes_not_errors(cli):
    assert len(DEPLOY) >= 4
    result, run = _sarif(cli, *DEPLOY)
    assert result.exit_code == 0, result.stdout
    assert {(r["ruleId"], r["level"]) for r in run["results"]} == {("no-config-found", "note")}
    assert len(run["results"]) == len(DEPLOY)


def test_a_named_hami_configmap_without_its_config_is_an_error(cli, tmp_path):
    cm = tmp_path / "hami.yaml"
    cm.write_text(HAMI_CM_WITHOUT_KEY)
    result, run = _sarif(cli, *DEPLOY, cm)
    assert result.exit_code == 1
    errors = [r for r in run["results"] if r["level"] == "error"]
    assert [r["ruleId"] for r in errors] == ["configmap-key-missing"]
    assert errors[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].endswith("hami.yaml")


def test_explicit_kind_makes_a_file_without_config_an_error(cli):
    result = cli("validate", "config", "--kind", "device-config", "-o", "json", REPO / "deploy" / "rbac.yaml")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [(d["code"], d["severity"]) for d in report["diagnostics"]] == [("no-config-found", "error")]


def test_every_rule_links_to_its_readme_row(cli, tmp_path):
    from migctl.config.diagnostics import CODES

    bad = tmp_path / "bad.yaml"
    bad.write_text("nvidia:\n  resourceCountName: nvidia.com/gpu\n  unknownKey: 1\n")
    result, run = _sarif(cli, bad, *DEPLOY)
    driver = run["tool"]["driver"]
    assert driver["informationUri"].startswith("https://")
    readme = (REPO / "README.md").read_text()
    assert "\n### Diagnostic codes\n" in readme  # the anchor #diagnostic-codes
    assert len(driver["rules"]) >= 2
    for rule in driver["rules"]:
        assert rule["id"] in CODES
        assert rule["helpUri"].endswith(f"README.md#diagnostic-codes:~:text={rule['id']}")
        assert f"| `{rule['id']}` |" in readme.split("### Diagnostic codes", 1)[1]
