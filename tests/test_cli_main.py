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


def test_command_index_matches_the_registered_commands():
    """``migctl --help`` lists COMMAND_INDEX without importing the command modules: keep it true."""
    import typer

    from migctl.cli.main import COMMAND_INDEX, app, load_commands

    load_commands()
    root = typer.main.get_command(app)
    registered = {name: root.commands[name].get_short_help_str(limit=10**6) for name in root.list_commands(None)}
    assert registered == COMMAND_INDEX
    assert list(registered) == list(COMMAND_INDEX)


def test_top_level_help_is_the_same_with_and_without_command_modules():
    lazy = subprocess.run([sys.executable, "-m", "migctl", "--help"], capture_output=True, text=True, timeout=60,
                          env={**__import__("os").environ, "COLUMNS": "100"})
    code = (
        "import sys\n"
        "from migctl.cli.main import load_commands, run\n"
        "load_commands()\n"
        "sys.exit(run(['--help']))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**__import__("os").environ, "COLUMNS": "100"})
    assert lazy.returncode == loaded.returncode == 0
    assert lazy.stdout == loaded.stdout
    assert "hardware" in lazy.stdout and "simulate" in lazy.stdout


def test_running_one_command_imports_only_its_module():
    code = (
        "import sys\n"
        "from migctl.cli.main import run\n"
        "code = run(['hardware', 'list', '-o', 'json'])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('migctl.cli.'))\n"
        "print(loaded, file=sys.stderr)\n"
        "assert 'migctl.cli.simulate' not in loaded and 'migctl.cli.status' not in loaded, loaded\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
