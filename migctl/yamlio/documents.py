"""A text file and its YAML documents, each with the 1-based line it starts on."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from migctl.errors import InputError


@contextlib.contextmanager
def input_file(path: str | Path, what: str, *, not_text: str | None = None) -> Iterator[None]:
    """Turn the errors of reading ``path`` (a ``what``: "pod file", "snapshot file") into :class:`InputError`
    naming the file; ``not_text`` replaces the message for a file that is not UTF-8."""
    try:
        yield
    except FileNotFoundError:
        raise InputError(f"{path}: no such file ({what})") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a {what}") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: " + (not_text or "not UTF-8 text ({what})").format(what=what, byte=exc.start)) from None


def read_text(path: str | Path, what: str) -> str:
    """The whole text of ``path`` (``-``: stdin); :class:`InputError` naming the file otherwise."""
    if str(path) == "-":
        return sys.stdin.read()
    with input_file(path, what):
        return Path(path).read_text(encoding="utf-8")


def yaml_documents(text: str, name: str) -> list[tuple[Any, int]]:
    """Every YAML document of ``text`` as ``(value, first line)``; InputError names ``name`` and the line."""
    import yaml

    from migctl.yamlio.numbers import Loader

    loader = Loader(text)
    docs = []
    try:
        while loader.check_node():
            node = loader.get_node()
            line = node.start_mark.line + 1 if node is not None else 1
            docs.append((loader.construct_document(node) if node is not None else None, line))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"{where}: not valid YAML: {problem}") from None
    finally:
        loader.dispose()
    return docs
