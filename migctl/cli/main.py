"""The ``migctl`` application and its process entry point.

``main()`` owns the process-level promises: exit codes from :mod:`migctl.errors`, a one-line
message instead of a traceback for any failure (``--debug`` or ``MIGCTL_DEBUG=1`` shows it),
and usage errors as exit 2.
"""

from __future__ import annotations

import os
import sys
import traceback

import typer
from typer.exceptions import Abort, Exit

try:  # typer >= 0.20 vendors click
    from typer._click.exceptions import ClickException, UsageError
except ImportError:  # pragma: no cover - older typer on top of click
    from click.exceptions import ClickException, UsageError

from migctl import __version__
from migctl.errors import ExitCode, MigctlError

app = typer.Typer(
    name="migctl",
    help="The admin console for NVIDIA MIG on Kubernetes with HAMi dynamic MIG.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"migctl {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_version_callback, is_eager=True
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors (for bug reports)."),
) -> None:
    """Validate HAMi device-configs, inspect GPU state, simulate placement and apply MIG geometry."""
    if debug:
        os.environ["MIGCTL_DEBUG"] = "1"


def _register_commands() -> None:
    # Each module adds its commands to ``app``; none imports kubernetes or pynvml at import time.
    for name in ("hardware", "validate", "status", "cluster", "simulate", "node", "node_daemon"):
        try:
            __import__(f"migctl.cli.{name}")
        except ModuleNotFoundError as exc:  # a command module not written yet
            if exc.name != f"migctl.cli.{name}":
                raise


_register_commands()


def _debug_enabled(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("MIGCTL_DEBUG", "") not in ("", "0")


def _error(message: str, hint: str | None = None) -> None:
    sys.stderr.write(f"migctl: error: {message}\n")
    if hint:
        sys.stderr.write(f"  hint: {hint}\n")
    sys.stderr.flush()


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (the testable form of :func:`main`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_enabled(args)
    try:
        result = app(args=args, prog_name="migctl", standalone_mode=False)
    except Exit as exc:
        return int(exc.exit_code)
    except Abort:
        _error("aborted")
        return 130
    except ClickException as exc:  # usage errors: bad option, missing argument
        exc.show()
        return ExitCode.USAGE if isinstance(exc, UsageError) else int(exc.exit_code or ExitCode.USAGE)
    except MigctlError as exc:
        if debug:
            traceback.print_exc()
        _error(exc.message, exc.hint)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:
        # stdout closed early (``migctl ... | head``): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - the promise is: never a traceback for users
        if debug:
            traceback.print_exc()
        _error(f"internal error: {type(exc).__name__}: {exc}", "this is a bug in migctl; rerun with --debug and report it")
        return ExitCode.FAILED
    return int(result) if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run())
