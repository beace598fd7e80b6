"""A text file and its YAML documents, each with the 1-based line it starts on."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from migctl.errors import InputError


#: The largest pod file read (``simulate PODS``): 50 MiB, far above any real manifest; README "Limits".
MAX_TEXT_BYTES = 50 * 2**20


class NotRegularFileError(OSError):
    """The path names a FIFO, socket or device: reading it could block forever or never end."""


def _file_type(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def open_regular(path: str | Path, mode: str = "rb", *, encoding: str | None = None) -> IO[Any]:
    """Open ``path`` for reading only if it is a regular file (a symlink to one is fine).

    The one reader of input files: a FIFO, socket or device is refused before anything blocks on it
    (:class:`NotRegularFileError`, an ``OSError``), a directory with ``IsADirectoryError``. The file is
    opened non-blocking (opening a FIFO never waits for a writer), checked with ``fstat`` on the open
    descriptor (no race with a swapped path), then read normally.
    """
    if mode not in ("r", "rb"):
        raise ValueError(f"open_regular reads only, not mode {mode!r}")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(errno.EINVAL, f"not a regular file ({_file_type(st.st_mode)})", str(path))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, mode, encoding=encoding if mode == "r" else None)
    except BaseException:
        os.close(fd)
        raise


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
    except NotRegularFileError as exc:
        raise InputError(f"{path}: {exc.strerror}, not a {what}") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: " + (not_text or "not UTF-8 text ({what})").format(what=what, byte=exc.start)) from None


def read_text(path: str | Path, what: str, *, limit: int = MAX_TEXT_BYTES) -> str:
    """The whole text of ``path`` (``-``: stdin), at most ``limit`` bytes (UTF-8 for stdin too);
    :class:`InputError` naming the file otherwise (a FIFO, device or socket is refused, not read)."""
    if str(path) == "-":
        text = sys.stdin.read(limit + 1)
        if len(text) > limit:
            raise InputError(f"stdin: larger than {limit >> 20} MiB; not a {what}")
        return text
    with input_file(path, what), open_regular(path, "rb") as fh:
        data = fh.read(limit + 1)
        if len(data) > limit:
            raise InputError(f"{path}: larger than {limit >> 20} MiB; not a {what}")
        return data.decode("utf-8")


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
