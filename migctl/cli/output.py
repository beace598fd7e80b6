"""Shared conventions of every command: ``-o/--output``, stdout/stderr consoles, progress.

- Machine output (JSON, YAML) goes to stdout and nothing else does.
- Progress, logs and warnings go to stderr.
- A rich progress display appears only when stderr is a terminal.
"""

from __future__ import annotations

import contextlib
import json
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


def stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, emoji=False)  # user text like ":x:" stays text


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, emoji=False)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def to_yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


def emit(data: Any, fmt: OutputFormat, render_text: Callable[[], None]) -> None:
    """Write ``data`` as JSON/YAML to stdout, or call ``render_text`` for people."""
    if fmt is OutputFormat.json:
        sys.stdout.write(to_json(data))
    elif fmt is OutputFormat.yaml:
        sys.stdout.write(to_yaml(data))
    else:
        render_text()
    sys.stdout.flush()


def warn(message: str) -> None:
    """A warning for people, on stderr (safe in JSON mode)."""
    stderr_console().print(f"[yellow]warning:[/yellow] {message}", markup=True, highlight=False)


class _NoProgress:
    def advance(self, n: int = 1) -> None:
        pass

    def update(self, description: str) -> None:
        pass


class _RichProgress:
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
