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

from typer.core import TyperGroup

try:  # typer >= 0.20 vendors click
    from typer._click.exceptions import ClickException, UsageError
    from typer._click.utils import make_default_short_help
except ImportError:  # pragma: no cover - older typer on top of click
    from click.exceptions import ClickException, UsageError
    from click.utils import make_default_short_help

# The top-level commands as ``migctl --help`` lists them, so that help needs no command module
# imported (start-up latency, bench/cli_latency.py). tests/test_cli_main.py checks this table
# against the commands the modules register.
COMMAND_INDEX: dict[str, str] = {
    "status": "Show the GPU state HAMi records: per node, per GPU, MIG geometry and slots, and problems.",
    "simulate": "Simulate HAMi's scheduler: per pod the node, GPUs, MIG profile and geometry, or why it stays Pending.",
    "capacity": "How many more pods of each shape HAMi would place, and how much GPU sits free but unusable.",
    "replay": "Replay a workload trace through HAMi's scheduler over time and compare designs side by side.",
    "hardware": "The MIG hardware catalogue: GPU models, profiles, placement grids and valid geometries.",
    "validate": "Lint configuration against the schema and the real MIG hardware rules.",
    "cluster": "Work with the cluster state HAMi records (snapshots for offline status and simulate).",
    "node": "This node's GPUs through NVML: show MIG state, apply MIG geometry safely.",
    "advise": "Propose a device-config and MIG split, or a few pod moves, proven by simulation.",
}


class _RootGroup(TyperGroup):
    """The root command: lists :data:`COMMAND_INDEX` when no command module is loaded."""

    def format_commands(self, ctx, formatter) -> None:  # type: ignore[no-untyped-def]
        if self.commands:
            super().format_commands(ctx, formatter)
            return
        limit = formatter.width - 6 - max(len(name) for name in COMMAND_INDEX)
        rows = [(name, make_default_short_help(text, limit)) for name, text in COMMAND_INDEX.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

from migctl import __version__
from migctl.errors import ExitCode, MigctlError

app = typer.Typer(
    name="migctl",
    cls=_RootGroup,
    help="The admin console for NVIDIA MIG on Kubernetes with HAMi dynamic MIG.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
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


# Each command module adds its commands to ``app`` when imported; none imports kubernetes or
# pynvml at import time. Only the modules of the command being run are imported (start-up
# latency, bench/cli_latency.py); help, completion and unknown commands load them all.
_COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "hardware": ("hardware",),
    "validate": ("validate", "validate_schema"),
    "status": ("status",),
    "cluster": ("cluster",),
    "simulate": ("simulate",),
    "capacity": ("capacity",),
    "replay": ("replay",),
    "node": ("node", "node_daemon"),
    "advise": ("advise",),
}


def load_commands(names: list[str] | None = None) -> None:
    """Register the commands named (all of them when ``names`` is None) on ``app``."""
    wanted = _COMMAND_MODULES if names is None else {n: _COMMAND_MODULES[n] for n in names}
    for modules in wanted.values():
        for module in modules:
            __import__(f"migctl.cli.{module}")
    # Same order in help and completions whatever order the modules were first imported in.
    order = list(_COMMAND_MODULES)

    def rank(info: object) -> int:
        name = getattr(info, "name", None) or getattr(getattr(info, "callback", None), "__name__", "")
        return order.index(name) if name in order else len(order)

    app.registered_commands.sort(key=rank)
    app.registered_groups.sort(key=rank)


def _modules_needed(args: list[str]) -> list[str] | None:
    """The commands whose modules ``args`` need: ``[]`` for top-level help, None for all."""
    for arg in args:
        if arg in ("-h", "--help", "--version"):
            return []
        if not arg.startswith("-"):
            return [arg] if arg in _COMMAND_MODULES else None
    return []  # no command: top-level help


def _debug_enabled(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("MIGCTL_DEBUG", "") not in ("", "0")


def _error(message: str, hint: str | None = None) -> None:
    sys.stderr.write(f"migctl: error: {message}\n")
    if hint:
        sys.stderr.write(f"  hint: {hint}\n")
    sys.stderr.flush()


#: How help and usage name the program: ``migctl``, or ``kubectl migctl`` when run as a kubectl plugin.
PROG_NAME = "migctl"
KUBECTL_PLUGIN_PROG_NAME = "kubectl migctl"


def run(argv: list[str] | None = None, *, prog_name: str = PROG_NAME) -> int:
    """Run the CLI and return the exit code (the testable form of :func:`main`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_enabled(args)
    from migctl.cli.output import guard_streams

    guard_streams()  # a reader that closes stdout or stderr early (``| head``) does not change the exit code
    try:
        load_commands(_modules_needed(args))
        result = app(args=args, prog_name=prog_name, standalone_mode=False)
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
    except BrokenPipeError:  # pragma: no cover - PipeSafeStream catches these; a raw fd write might not
        # stdout closed early (``migctl ... | head``): not an error of ours, but the result is unknown.
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
    from migctl.cli.output import process_ends_after_command

    process_ends_after_command()
    sys.exit(run())


def kubectl_plugin_main() -> None:
    """The ``kubectl-migctl`` executable: kubectl runs it for ``kubectl migctl ...`` (krew installs it)."""
    from migctl.cli.output import process_ends_after_command

    process_ends_after_command()
    sys.exit(run(prog_name=KUBECTL_PLUGIN_PROG_NAME))
