"""Shared test fixtures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
REFERENCE = REPO.parent / "shared" / "reference"


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def typed_for_any_size(monkeypatch):
    """Snapshots read through typed structs whatever their size (``load_snapshot`` uses them from
    ``TYPED_MIN_BYTES``, 1 MiB, on): the typed readers' tests use small files."""
    from migctl.cluster import snapshot

    monkeypatch.setattr(snapshot, "TYPED_MIN_BYTES", 0)


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run migctl in-process: ``cli("hardware", "list", "-o", "json")`` -> CliResult.

    Output goes through the real entry point (``migctl.cli.main.run``), so exit codes and the
    no-traceback promise are exercised exactly as a user meets them.
    """
    from migctl.cli.main import run

    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.delenv("MIGCTL_DEBUG", raising=False)

    def invoke(*args: str) -> CliResult:
        capsys.readouterr()
        code = run([str(a) for a in args])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return invoke


@pytest.fixture
def kube():
    """A fresh Kubernetes API (``kube_emulator.KubeEmulator``, kmock over real HTTP) for one test."""
    from kube_emulator import KubeEmulator

    with KubeEmulator() as emulator:
        yield emulator
