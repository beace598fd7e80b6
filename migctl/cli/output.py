"""Shared conventions of every command: ``-o/--output``, stdout/stderr consoles, progress.

- Machine output (JSON, YAML) goes to stdout and nothing else does.
- Progress, logs and warnings go to stderr.
- A rich progress display appears only when stderr is a terminal.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from collections.abc import Callable, Iterator
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # rich is imported lazily to keep ``migctl --help`` fast
    from rich.console import Console


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    yaml = "yaml"


OutputOption = Annotated[
    OutputFormat,
    typer.Option(
        "-o",
        "--output",
        help="Output format: text for people, json or yaml for programs (stdout only).",
        case_sensitive=False,
    ),
]


class PipeSafeStream:
    """``sys.stdout`` or ``sys.stderr`` that survives its reader going away (``migctl ... | head -1``,
    ``2>&1 | head -1``).

    When a write or flush meets a closed pipe (EPIPE), the stream is pointed at ``/dev/null`` and the
    command goes on to its own result and exit code, as if the output had been read: a closed stdout
    or stderr never turns a valid config or a schedulable pod into a failure under ``set -o pipefail``
    (click would otherwise exit 1 on the first warning written to a closed stderr).
    Everything else is delegated to the real stream (``isatty``, ``fileno``, ``encoding``...), so
    rich and typer see an ordinary text stream; rich's own broken-pipe handler (which exits 1)
    never runs because no ``BrokenPipeError`` reaches it.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.closed_by_reader = False

    def _discard(self) -> None:
        self.closed_by_reader = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # pragma: no cover - no file descriptor (embedded use)
            pass

    def _guard(self, call: Callable[..., Any], *args: Any) -> Any:
        try:
            return call(*args)
        except BrokenPipeError:
            pass
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
        self._discard()
        try:  # what was buffered now goes to /dev/null; the stream stays usable
            return call(*args)
        except OSError:
            return len(args[0]) if args and isinstance(args[0], str) else None

    def write(self, text: str) -> int:
        return int(self._guard(self._stream.write, text) or 0)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._guard(self._stream.flush)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


#: Set by ``migctl.cli.main.main`` only: the command runs in a process of its own that ends after it.
_PROCESS_ENDS = False


def process_ends_after_command() -> None:
    """Say that this process ends when the command returns (``main``; never for ``run`` in-process)."""
    global _PROCESS_ENDS
    _PROCESS_ENDS = True


def leave_to_process_end(*objects: Any) -> None:
    """Leave a command's large results (a cluster model, its report) to the end of the process instead
    of freeing them object by object when the command returns: about 0.25 s of CPU at 100,000 pods, for
    memory the system takes back at exit anyway (``bench/README.md``).

    Only when the command runs in a process of its own (:func:`process_ends_after_command`); in-process
    (tests, ``migctl.cli.main.run``) it does nothing. The objects are put in a reference cycle that only
    the cyclic collector could free, and moved to its permanent generation (``gc.freeze()``), which no
    collection walks, not even the one at interpreter shutdown. Call it last, after the output."""
    if _PROCESS_ENDS:
        import gc

        kept: list[Any] = [*objects]
        kept.append(kept)
        gc.freeze()


def guard_streams() -> None:
    """Install :class:`PipeSafeStream` as ``sys.stdout`` and ``sys.stderr`` (idempotent).

    A stream closed before the process started (``>&-``, ``2>&-``: Python then sets ``sys.stdout`` or
    ``sys.stderr`` to None) is pointed at ``/dev/null`` first: the command runs to its own result and
    exit code, its output unread, as with a reader that goes away."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
        if not isinstance(stream, PipeSafeStream):
            setattr(sys, name, PipeSafeStream(stream))


def stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, emoji=False)  # user text like ":x:" stays text


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, emoji=False)


#: JSON is written compact, on one line: ``json.dumps`` takes the C encoder only without ``indent``
#: (``indent=2`` runs the pure-Python encoder, several times slower on large documents). ``jq .``
#: indents it for people.
_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def json_text(data: Any) -> str:
    """``data`` as compact JSON through the C encoder (no trailing newline)."""
    return _JSON_ENCODER.encode(data)


def to_json(data: Any) -> str:
    return _JSON_ENCODER.encode(data) + "\n"


def yaml_text(data: Any) -> str:
    """``data`` as block YAML through libyaml's emitter (``CSafeDumper``) where PyYAML has it."""
    import yaml

    dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)


def to_yaml(data: Any) -> str:
    return yaml_text(data)


def emit(data: Any, fmt: OutputFormat, render_text: Callable[[], None]) -> None:
    """Write ``data`` as JSON/YAML to stdout, or call ``render_text`` for people."""
    if fmt is OutputFormat.json:
        sys.stdout.write(to_json(data))
    elif fmt is OutputFormat.yaml:
        sys.stdout.write(to_yaml(data))
    else:
        render_text()
    sys.stdout.flush()


def _stderr_styled() -> bool:
    """Whether stderr gets rich's styling: a terminal, or colour forced (``FORCE_COLOR``, as rich reads it)."""
    return bool(os.environ.get("FORCE_COLOR")) or sys.stderr.isatty()


def warn(message: str) -> None:
    """A warning for people, on stderr (safe in JSON mode); ``message`` is plain text, taken literally
    (``[t-s]`` or a pod's ``[0]`` is not rich markup).

    On a terminal it is styled by rich; elsewhere (a log, a pipe, a CI job) it is written as one
    plain line, neither wrapped at 80 columns nor styled, and rich is not imported: a command whose
    stderr is not a terminal starts about 30 ms faster (``bench/README.md``)."""
    if not _stderr_styled():
        sys.stderr.write(f"warning: {message}\n")
        sys.stderr.flush()
        return
    from rich.markup import escape

    stderr_console().print(f"[yellow]warning:[/yellow] {escape(message)}", markup=True, highlight=False)


class _NoProgress:
    shown = False  # nothing to advance: a loop of many items may skip calling advance

    def advance(self, n: int = 1) -> None:
        pass

    def update(self, description: str) -> None:
        pass


class _RichProgress:
    shown = True

    def __init__(self, progress: Any, task: Any) -> None:
        self._progress = progress
        self._task = task

    def advance(self, n: int = 1) -> None:
        self._progress.advance(self._task, n)

    def update(self, description: str) -> None:
        self._progress.update(self._task, description=description)


@contextlib.contextmanager
def progress(description: str, total: int | None = None) -> Iterator[_NoProgress | _RichProgress]:
    """A progress bar on stderr when stderr is a terminal, otherwise a silent no-op."""
    if not sys.stderr.isatty():
        yield _NoProgress()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    with Progress(*columns, console=stderr_console(), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield _RichProgress(bar, task)


#: ``--no-headers`` (kubectl's flag): every command that prints a table takes it and leaves out the header
#: row of its text tables (rich tables: ``Table(show_header=not no_headers)``); JSON/YAML are unchanged.
NoHeadersOption = Annotated[bool, typer.Option(
    "--no-headers", help="Print text tables without their header row (for scripts).")]


def text_table(headers: Any, rows: Any, *, none: str = "", no_headers: bool = False) -> list[str]:
    """A plain aligned text table as lines (no rich, so fast commands stay fast); ``None`` cells print as
    ``none``; with ``no_headers`` (``--no-headers``) the header row is left out, the widths stay the same."""
    cells = [[(none if v is None else str(v)) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = [] if no_headers else ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return lines
