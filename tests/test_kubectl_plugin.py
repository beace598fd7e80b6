"""``kubectl migctl``: the kubectl-migctl entry point and the krew manifest (issue 14)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from migctl import __version__

REPO = Path(__file__).resolve().parent.parent
KREW = REPO / "deploy" / "krew"


def test_entry_point_is_declared():
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["kubectl-migctl"] == "migctl.cli.main:kubectl_plugin_main"


def test_help_says_kubectl_migctl_when_run_as_the_plugin(capsys):
    from migctl.cli.main import KUBECTL_PLUGIN_PROG_NAME, run

    assert run(["--help"], prog_name=KUBECTL_PLUGIN_PROG_NAME) == 0
    assert capsys.readouterr().out.startswith("Usage: kubectl migctl [OPTIONS] COMMAND")
    assert run(["hardware", "list", "--help"], prog_name=KUBECTL_PLUGIN_PROG_NAME) == 0
    assert "Usage: kubectl migctl hardware list" in capsys.readouterr().out
    assert run(["--help"]) == 0
    assert capsys.readouterr().out.startswith("Usage: migctl [OPTIONS]")


def _kubectl_or_skip() -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the plugin is only checked without it")
    return kubectl


def test_real_kubectl_finds_the_installed_plugin():
    kubectl = _kubectl_or_skip()
    bindir = Path(sys.executable).parent
    if not (bindir / "kubectl-migctl").exists():
        pytest.skip("kubectl-migctl is not installed in this environment (pip install -e .)")
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([kubectl, "migctl", "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: kubectl migctl [OPTIONS] COMMAND")
    listed = subprocess.run([kubectl, "plugin", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert "kubectl-migctl" in listed.stdout


def test_krew_manifest():
    manifest = yaml.safe_load((KREW / "migctl.yaml").read_text())
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert manifest["kind"] == "Plugin" and manifest["metadata"]["name"] == "migctl"
    spec = manifest["spec"]
    assert spec["version"] == f"v{__version__}"
    assert len(spec["shortDescription"]) <= 60 and spec["description"] and spec["homepage"].startswith("https://")
    assert spec["platforms"]
    for platform in spec["platforms"]:
        labels = platform["selector"]["matchLabels"]
        assert labels["os"] in ("linux", "darwin") and labels["arch"] in ("amd64", "arm64")
        assert platform["bin"] == "kubectl-migctl"
        assert f"/{spec['version']}/" in platform["uri"] and platform["uri"].endswith(
            f"migctl-{spec['version']}-{labels['os']}-{labels['arch']}.tar.gz")
        assert re.fullmatch(r"[0-9a-f]{64}", platform["sha256"])
        assert {f["from"] for f in platform["files"]} == {"kubectl-migctl", "lib", "LICENSE"}


def test_krew_archive_runs_through_kubectl_as_krew_installs_it(tmp_path):
    """package.py's archive, unpacked and linked the way krew does, answers ``kubectl migctl``."""
    kubectl = _kubectl_or_skip()
    out = tmp_path / "dist"
    proc = subprocess.run([sys.executable, str(KREW / "package.py"), "--platform", "linux/amd64", "--no-deps",
                           "--out", str(out)], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    (archive,) = out.glob("*.tar.gz")
    manifest = yaml.safe_load((out / "migctl.yaml").read_text())
    (platform,) = manifest["spec"]["platforms"]
    import hashlib

    assert platform["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    store, bindir = tmp_path / "store", tmp_path / "bin"
    store.mkdir()
    bindir.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(store, filter="data")
    assert (store / "lib" / "migctl" / "cli" / "main.py").is_file()
    (bindir / "kubectl-migctl").symlink_to(store / "kubectl-migctl")  # krew links the bin
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
           "MIGCTL_PYTHON": sys.executable, "PYTHONPATH": ""}
    run = subprocess.run([kubectl, "migctl", "--version"], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"migctl {__version__}"
    helped = subprocess.run([kubectl, "migctl", "status", "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert helped.stdout.startswith("Usage: kubectl migctl status")
