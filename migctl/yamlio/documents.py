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
    """Every YAML document of ``text`` as ``(value, first line)``; InputError names ``name`` and the line.

    The values are exactly PyYAML's ``SafeLoader``'s, each plain scalar resolved and constructed by the
    loader's own resolver and constructors (once per distinct text: a pod file repeats most of its
    scalars). Block mappings in the everyday subset of YAML (what ``yaml.dump`` and people write for
    manifests) are read by the line parser :func:`migctl.yamlio.block_yaml.documents`; any other text
    is built from libyaml's events, which skips PyYAML's node graph and costs about a third of
    ``construct_document``. Explicit tags, merge keys, non-scalar keys and every error take PyYAML's
    own path (:func:`_exact_documents`), whose messages carry the line.
    """
    import yaml

    from migctl.yamlio import block_yaml

    try:
        return block_yaml.documents(text, _pyyaml_plain())
    except (block_yaml.NotKubectlYaml, LookupError, TypeError, ValueError):
        pass
    try:
        return _event_documents(text)
    except (yaml.YAMLError, _Unsupported, ValueError, TypeError, OverflowError):
        return _exact_documents(text, name)


def _pyyaml_plain() -> Any:
    """A plain scalar's text (key or value) to the value PyYAML's safe loader gives it (its resolver,
    then its constructor unless the text stays a string); anything it would not build is left to the
    exact path (:class:`~migctl.yamlio.block_yaml.NotKubectlYaml`)."""
    import yaml

    from migctl.yamlio.block_yaml import NotKubectlYaml, plain_shape
    from migctl.yamlio.numbers import Loader

    loader = Loader("")
    resolve, construct, scalar_node = loader.resolve, loader.construct_object, yaml.ScalarNode
    str_tag, implicit = "tag:yaml.org,2002:str", (True, False)

    def plain(text: str) -> Any:
        plain_shape(text)
        tag = resolve(scalar_node, text, implicit)
        if tag == str_tag:
            return text
        try:
            return construct(scalar_node(tag, text))
        except Exception as exc:  # a merge key, a number too long...: PyYAML's path says what it is
            raise NotKubectlYaml(text) from exc

    return plain


class _Unsupported(Exception):
    """A YAML feature left to PyYAML's constructor."""


def _event_documents(text: str) -> list[tuple[Any, int]]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    scalar_node, str_tag = yaml.ScalarNode, "tag:yaml.org,2002:str"
    scalar_ev, alias_ev = yaml.ScalarEvent, yaml.AliasEvent
    map_start, seq_start = yaml.MappingStartEvent, yaml.SequenceStartEvent
    map_end, seq_end = yaml.MappingEndEvent, yaml.SequenceEndEvent
    doc_start, doc_end = yaml.DocumentStartEvent, yaml.DocumentEndEvent
    resolved: dict[tuple[str, tuple[bool, bool]], Any] = {}
    no_key = _Unsupported  # a sentinel no YAML value can be
    docs: list[tuple[Any, int]] = []
    stack: list[list[Any]] = []  # [container, pending mapping key]
    anchors: dict[str, Any] = {}
    line = 1
    root: Any = None
    try:
        get = loader.get_event
        while (event := get()) is not None:
            kind = event.__class__
            if kind is scalar_ev:
                if event.tag is not None and event.tag != "!":
                    raise _Unsupported("explicit tag")
                key = (event.value, event.implicit)
                if key in resolved:
                    value: Any = resolved[key]
                else:
                    tag = loader.resolve(scalar_node, event.value, event.implicit)
                    value = event.value if tag == str_tag else loader.construct_object(
                        scalar_node(tag, event.value, style=event.style))
                    resolved[key] = value
                if event.anchor:
                    anchors[event.anchor] = value
            elif kind is map_start or kind is seq_start:
                if event.tag is not None and event.tag != "!":
                    raise _Unsupported("explicit tag")
                container: Any = {} if kind is map_start else []
                if event.anchor:
                    anchors[event.anchor] = container
                if not stack:
                    line = event.start_mark.line + 1
                stack.append([container, no_key])
                continue
            elif kind is map_end or kind is seq_end:
                value = stack.pop()[0]
            elif kind is alias_ev:
                if event.anchor not in anchors:
                    raise _Unsupported("unknown alias")
                value = anchors[event.anchor]
            elif kind is doc_start:
                root = None
                continue
            elif kind is doc_end:
                docs.append((root, line))
                anchors = {}
                continue
            else:
                continue  # stream start and end
            if not stack:
                if kind is scalar_ev or kind is alias_ev:
                    line = event.start_mark.line + 1
                root = value
                continue
            top = stack[-1]
            if top[0].__class__ is list:
                top[0].append(value)
            elif top[1] is no_key:
                if isinstance(value, (dict, list)) or value == "<<":
                    raise _Unsupported("complex or merge key")
                top[1] = value
            else:
                top[0][top[1]] = value
                top[1] = no_key
    finally:
        loader.dispose()
    return docs


def _exact_documents(text: str, name: str) -> list[tuple[Any, int]]:
    """PyYAML's own loader, document by document; the reference for :func:`yaml_documents`."""
    import yaml

    from migctl.yamlio.numbers import Loader

    loader = Loader(text)
    docs = []
    try:
        while loader.check_node():
            node = loader.get_node()
            line = node.start_mark.line + 1 if node is not None else 1
            try:
                docs.append((loader.construct_document(node) if node is not None else None, line))
            except (ValueError, TypeError, OverflowError) as exc:  # a tagged scalar PyYAML cannot build (!!int x)
                raise InputError(f"{name}:{line}: not valid YAML: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"{where}: not valid YAML: {problem}") from None
    finally:
        loader.dispose()
    return docs
