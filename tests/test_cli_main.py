"""The process-level promises of the CLI: version, usage errors, no tracebacks."""

from __future__ import annotations

import json
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
        "heavy = [m for m in ('kubernetes', 'pynvml', 'jsonschema', 'msgspec') if m in sys.modules]\n"
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


# --- a closed stdout (``migctl ... | head -1``) never changes the exit code (issue 14) --------------

_MIGCTL = [sys.executable, "-m", "migctl"]


def _run_with_closed_stdout(*args: str) -> subprocess.CompletedProcess[str]:
    """Run migctl with a stdout pipe whose reader is already gone: the first write meets EPIPE."""
    import os

    from conftest import REPO

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([*_MIGCTL, *args], stdout=write_end, stderr=subprocess.PIPE, text=True,
                              timeout=120, cwd=REPO)
    finally:
        os.close(write_end)


def test_closed_stdout_keeps_the_exit_code_of_a_valid_config():
    proc = _run_with_closed_stdout("validate", "config", "examples/device-config.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "error" not in proc.stderr


def test_closed_stdout_keeps_the_exit_code_in_json_mode_and_for_a_failure():
    ok = _run_with_closed_stdout("status", "--cluster", "examples/cluster.yaml", "-o", "json")
    assert ok.returncode == 0, ok.stderr
    # simulate's second pod stays Pending: the command's own answer is 1, pipe or not
    pending = _run_with_closed_stdout("simulate", "examples/pods.yaml", "--cluster", "examples/cluster.yaml")
    assert pending.returncode == 1, pending.stderr
    assert "Traceback" not in pending.stderr


def test_a_closed_stderr_pipe_keeps_the_report_and_the_exit_code():
    """Warnings to a stderr whose reader is gone (``2>&1 | head -1``) neither lose the report nor turn
    the answer into exit 1 (click exits 1 on EPIPE): stderr is pipe-safe like stdout."""
    import os

    from conftest import REPO

    for args, code in ((["capacity", "--cluster", "examples/cluster.yaml", "-o", "json"], 0),
                       (["simulate", "examples/pods.yaml", "--cluster", "examples/cluster.yaml", "-o", "json"], 1)):
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            proc = subprocess.run([*_MIGCTL, *args], stdout=subprocess.PIPE, stderr=write_end, text=True,
                                  timeout=120, cwd=REPO)
        finally:
            os.close(write_end)
        assert proc.returncode == code, args
        assert json.loads(proc.stdout)["hami_version"] == "2.9"  # the whole report, on stdout


def _run_with_closed_fd(fd: int, *args: str) -> subprocess.CompletedProcess[str]:
    """Run migctl with file descriptor ``fd`` closed before it starts (a shell's ``>&-`` / ``2>&-``)."""
    import os

    from conftest import REPO

    return subprocess.run([*_MIGCTL, *args], capture_output=True, text=True, timeout=120, cwd=REPO,
                          preexec_fn=lambda: os.close(fd))  # noqa: PLW1509 - a single-threaded test process


def test_a_stream_closed_before_the_start_loses_its_output_not_the_exit_code():
    """Python sets a stream closed at start-up to None; migctl writes it to /dev/null instead of failing."""
    for fd in (1, 2):
        valid = _run_with_closed_fd(fd, "validate", "config", "examples/device-config.yaml")
        assert valid.returncode == 0, (fd, valid.stderr)
        pending = _run_with_closed_fd(fd, "simulate", "examples/pods.yaml", "--cluster", "examples/cluster.yaml",
                                      "-o", "json")
        assert pending.returncode == 1, (fd, pending.stderr)  # the second pod stays Pending
        assert "Traceback" not in pending.stderr and "internal error" not in pending.stderr
        if fd == 2:  # the report still reaches stdout
            assert '"unschedulable":1' in pending.stdout


def test_pipefail_head_one_succeeds_every_time():
    """The reported scenario, in a real shell: 5 runs each, no false failure."""
    import shutil

    from conftest import REPO

    bash = shutil.which("bash")
    assert bash, "bash is needed for the pipefail scenario"
    migctl = " ".join(_MIGCTL)
    script = (
        "set -o pipefail\n"
        "for i in 1 2 3 4 5; do\n"
        f"  {migctl} validate config examples/device-config.yaml | head -1 >/dev/null || exit 10\n"
        f"  {migctl} status --cluster examples/cluster.yaml -o json | head -1 >/dev/null || exit 11\n"
        f"  {migctl} hardware list | head -1 >/dev/null || exit 12\n"
        "done\n"
    )
    proc = subprocess.run([bash, "-c", script], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr


def test_no_headers_leaves_out_only_the_header_row_in_every_plain_table(cli):
    """--no-headers on the plain text tables (one helper, cli.output.text_table): same rows, no header."""
    from conftest import REPO

    for argv, head in (
        (("hardware", "list"), "MODEL"),
        (("hardware", "geometries", "a100-40gb"), "GEOMETRY"),
        (("simulate", str(REPO / "examples" / "pods.yaml"), "--cluster", str(REPO / "examples" / "cluster.yaml")), "POD"),
    ):
        full = cli(*argv).stdout.splitlines()
        bare = cli(*argv, "--no-headers").stdout.splitlines()
        at = next(i for i, line in enumerate(full) if line.startswith(head))
        assert bare == full[:at] + full[at + 1:], argv


# --- start-up: what a run off a terminal does not import ----------------------------------------------


def test_simulate_off_a_terminal_with_a_valid_config_imports_neither_jsonschema_nor_rich():
    """The shipped config is proven valid without jsonschema (migctl.config.schema.proven_valid) and
    warnings off a terminal are plain lines: neither library is imported (about 90 ms of start-up)."""
    code = (
        "import sys, runpy\n"
        "sys.argv = ['migctl', 'simulate', 'examples/pods.yaml', '--cluster', 'examples/cluster.yaml',"
        " '--config', 'examples/device-config.yaml', '-o', 'json']\n"
        "try:\n"
        "    runpy.run_module('migctl', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    code = e.code\n"
        "loaded = [m for m in ('jsonschema', 'rich') if m in sys.modules]\n"
        "print('LOADED', loaded, file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    import os

    from conftest import REPO

    env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}  # a CI may force colour
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env=env)
    assert proc.returncode == 1, proc.stderr  # the shipped example leaves one pod Pending
    assert "LOADED []" in proc.stderr
    assert '"scheduled"' in proc.stdout


def test_a_warning_off_a_terminal_is_one_plain_line_taken_literally(capsys, monkeypatch):
    from migctl.cli.output import warn

    monkeypatch.delenv("FORCE_COLOR", raising=False)
    message = "pod team-a/job-[0] asks for " + "x" * 120 + " [bold]not markup[/bold]"
    warn(message)
    assert capsys.readouterr().err == f"warning: {message}\n"  # neither wrapped at 80 columns nor styled


def test_a_warning_with_colour_forced_is_styled_by_rich(capsys, monkeypatch):
    from migctl.cli.output import warn

    monkeypatch.setenv("FORCE_COLOR", "1")
    warn("pod job-[0] is [bold]literal[/bold]")
    err = capsys.readouterr().err
    assert "\x1b[" in err and "warning:" in err
    assert "job-[0] is [bold]literal[/bold]" in err
