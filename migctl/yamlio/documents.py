"""A text file and its YAML documents, each with the 1-based line it starts on."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from migctl.errors import InputError


def read_text(path: str | Path, what: str) -> str:
    """The whole text of ``path`` (``-``: stdin); :class:`InputError` naming the file otherwise."""
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file ({what})") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a {what}") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text ({what})") from None


def yaml_documents(text: str, name: str) -> list[tuple[Any, int]]:
    """Every YAML document of ``text`` as ``(value, first line)``; InputError names ``name`` and the line."""
    import yaml

    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_cls(text)
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
