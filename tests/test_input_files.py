"""Every file migctl reads is a regular file: a FIFO, socket or device is refused at once (issue 12)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from migctl.errors import InputError
from migctl.yamlio.documents import NotRegularFileError, open_regular, read_text

DATA = Path(__file__).parent / "data"
SNAPSHOT = DATA / "cluster" / "v27-colon.yaml"
POD = """apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    resources: {limits: {nvidia.com/gpu: 1}}
"""


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    yield path
    # a reader that blocked on the FIFO would hang the test run: open it for writing without blocking
    # only if someone is reading (ENXIO otherwise), which is what a regression would look like
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    os.close(fd)
    pytest.fail("something opened the FIFO for reading and waited on it")


def _in_thread(fn):
    """Run ``fn`` on a thread; a call that blocks on a FIFO is a test failure, not a hang."""
    result: dict = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the read blocked on a FIFO"
    return result


def test_open_regular_refuses_a_fifo_without_blocking(fifo):
    out = _in_thread(lambda: open_regular(fifo))
    assert isinstance(out.get("error"), NotRegularFileError)
    assert "FIFO" in out["error"].strerror


def test_open_regular_refuses_devices_and_directories(tmp_path):
    with pytest.raises(NotRegularFileError, match="a device"):
        open_regular("/dev/null")
    with pytest.raises(IsADirectoryError):
        open_regular(tmp_path)


def test_open_regular_reads_regular_files_and_symlinks_to_them(tmp_path):
    target = tmp_path / "a.yaml"
    target.write_text("x: 1\n", encoding="utf-8")
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    with open_regular(link, "r", encoding="utf-8") as fh:
        assert fh.read() == "x: 1\n"


def test_read_text_names_the_file(fifo):
    out = _in_thread(lambda: read_text(fifo, "pod file"))
    assert isinstance(out.get("error"), InputError)
    assert str(fifo) in out["error"].message and "FIFO" in out["error"].message


@pytest.mark.parametrize("args", [
    ("validate", "config", "{fifo}"),
    ("simulate", "--cluster", "{fifo}", "{pod}"),
    ("simulate", "--cluster", str(SNAPSHOT), "{fifo}"),
    ("simulate", "--cluster", str(SNAPSHOT), "--config", "{fifo}", "{pod}"),
    ("status", "--cluster", "{fifo}"),
    ("status", "--cluster", str(SNAPSHOT), "--config", "{fifo}"),
    ("capacity", "--cluster", "{fifo}"),
    ("capacity", "--cluster", str(SNAPSHOT), "--workload", "{fifo}"),
])
def test_every_command_refuses_a_fifo_with_exit_2(cli, fifo, tmp_path, args):
    pod = tmp_path / "pod.yaml"
    pod.write_text(POD, encoding="utf-8")
    argv = [a.format(fifo=fifo, pod=pod) for a in args]
    out = _in_thread(lambda: cli(*argv))
    assert "error" not in out, out.get("error")
    result = out["value"]
    assert result.exit_code == 2, result
    assert "FIFO" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_mig_parted_config_refuses_a_fifo(fifo):
    from migctl.config.migparted import load_mig_parted_config

    out = _in_thread(lambda: load_mig_parted_config(fifo))
    assert isinstance(out.get("error"), InputError)
    assert "FIFO" in out["error"].message


def test_read_text_reads_at_most_the_limit(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("x" * 101, encoding="utf-8")
    with pytest.raises(InputError, match="larger than"):
        read_text(path, "pod file", limit=100)
    assert read_text(path, "pod file", limit=101) == "x" * 101
