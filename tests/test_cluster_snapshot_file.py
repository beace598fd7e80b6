"""``migctl cluster snapshot``: -o is the format, -f the file; the file is written atomically (issue 14)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cluster.yaml"
ITEMS = yaml.safe_load(EXAMPLE.read_text())["items"]


def test_dash_o_json_is_the_format_not_a_file(cli, kube, tmp_path, monkeypatch):
    """The reported bug: ``-o json`` wrote YAML into a file named ``json``."""
    kube.add(*ITEMS)
    kc = kube.write_kubeconfig(tmp_path / "kubeconfig")
    monkeypatch.chdir(tmp_path)
    r = cli("cluster", "snapshot", "-o", "json", "--kubeconfig", kc)
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["kind"] == "List"
    assert not (tmp_path / "json").exists()
    r = cli("cluster", "snapshot", "-o", "yaml", "-f", "snap.out", "--kubeconfig", kc)
    assert r.exit_code == 0, r.stderr
    assert yaml.safe_load((tmp_path / "snap.out").read_text())["kind"] == "List"
    assert "to snap.out" in r.stderr and r.stdout == ""


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-o", "cluster.json"], "-f cluster.json"),  # the old spelling of the file: refused, with the fix
        (["-o", "text"], "json or yaml"),
        (["-f", "x.json", "-o", "yaml"], "contradicts"),
        (["-f", "x.yaml", "-o", "json"], "contradicts"),
    ],
)
def test_ambiguous_or_wrong_format_is_exit_2_before_connecting(cli, tmp_path, monkeypatch, args, needle):
    monkeypatch.chdir(tmp_path)
    r = cli("cluster", "snapshot", *args, "--kubeconfig", tmp_path / "missing-kubeconfig")
    assert r.exit_code == 2, r.stderr
    assert needle in r.stderr
    assert list(tmp_path.iterdir()) == []


def _refused(cli, tmp_path, target, needle):
    r = cli("cluster", "snapshot", "-f", target, "--kubeconfig", tmp_path / "missing-kubeconfig")
    assert r.exit_code == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
    return r


def test_refuses_a_directory_a_device_and_a_symlink(cli, tmp_path):
    _refused(cli, tmp_path, tmp_path, "is a directory")
    _refused(cli, tmp_path, "/dev/null", "not a regular file")
    target = tmp_path / "real.yaml"
    target.write_text("keep me\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    _refused(cli, tmp_path, link, "symbolic link")
    assert target.read_text() == "keep me\n" and link.is_symlink()
    _refused(cli, tmp_path, tmp_path / "no-such-dir" / "x.yaml", "does not exist")


def test_disk_full_is_exit_2_and_leaves_the_old_file(cli, kube, tmp_path, monkeypatch):
    kube.add(*ITEMS)
    kc = kube.write_kubeconfig(tmp_path / "kubeconfig")
    out = tmp_path / "snap.yaml"
    out.write_text("the previous snapshot\n")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("migctl.cli.cluster.os.fsync", full)
    r = cli("cluster", "snapshot", "-f", out, "--kubeconfig", kc)
    assert r.exit_code == 2, r.stderr
    assert "No space left on device" in r.stderr and "nothing was written" in r.stderr
    assert out.read_text() == "the previous snapshot\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kubeconfig", "snap.yaml"]


def test_no_permission_is_exit_2(cli, kube, tmp_path, monkeypatch):
    kube.add(*ITEMS)
    kc = kube.write_kubeconfig(tmp_path / "kubeconfig")

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr("migctl.cli.cluster.tempfile.mkstemp", denied)
    r = cli("cluster", "snapshot", "-f", tmp_path / "snap.yaml", "--kubeconfig", kc)
    assert r.exit_code == 2, r.stderr
    assert "Permission denied" in r.stderr
    assert not (tmp_path / "snap.yaml").exists()


def test_written_file_gets_ordinary_permissions(cli, kube, tmp_path):
    kube.add(*ITEMS)
    kc = kube.write_kubeconfig(tmp_path / "kubeconfig")
    out = tmp_path / "snap.json"
    r = cli("cluster", "snapshot", "-f", out, "--kubeconfig", kc)
    assert r.exit_code == 0, r.stderr
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    assert json.loads(out.read_text())["kind"] == "List"
