"""The process-level promises of the CLI: version, usage errors, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

from migctl import __version__


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"migctl {__version__}"


def test_unknown_command_is_usage_error(cli):
    result = cli("no-such-command")
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr


def test_python_dash_m_runs_and_help_imports_no_heavy_modules():
    code = (
        "import sys, runpy\n"
        "sys.argv = ['migctl', '--help']\n"
        "try:\n"
        "    runpy.run_module('migctl', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "heavy = [m for m in ('kubernetes', 'pynvml', 'jsonschema') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout
