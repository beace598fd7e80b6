"""A line parser for the block YAML that ``kubectl get -o yaml`` prints, several times faster than libyaml.

It reads List items (:func:`iter_items`, snapshots) and whole documents (:func:`documents`, pod files as
``yaml.dump`` and people write them); the caller says how a plain scalar resolves (``_plain``: the
snapshot reader's rules; :mod:`migctl.yamlio.documents`: PyYAML's safe loader's).

libyaml hands PyYAML one Python event object per scalar, start and end (about 8 million for a
100,000-pod snapshot, 5 s before anything is built). kubectl's output uses a small, fixed part of YAML,
and this module reads exactly that part, a line at a time:

- block mappings whose keys are plain one-line scalars (``key: value`` / ``key:`` then a nested block);
- block sequences, indented or at the key's own column (``containers:`` then ``- name: x``), whose
  entries are ``- scalar`` or ``- key: value ...`` (a mapping);
- plain one-line scalars (resolved like the snapshot reader's event builder: ``true``/``false``/``null``/
  ``~`` and decimal ints; everything else stays text), ``{}`` and ``[]``;
- single- and double-quoted scalars, also folded over several more-indented lines (kubectl wraps long
  strings), double-quoted only without backslash escapes;
- literal block scalars ``|``, ``|-``, ``|+`` (ConfigMap data, ``last-applied-configuration``).

Everything else raises :class:`NotKubectlYaml` and the caller reads the text with libyaml instead: anchors,
aliases, tags, flow collections, folded ``>`` scalars, multi-line plain scalars, quoted or complex keys,
comments after a value, tabs, CR line ends, document markers, odd indentation, and any character YAML does
not allow. The parser never guesses: for text it accepts it builds exactly what the event builder in
:mod:`migctl.cluster.snapshot` builds (a property test holds it to that), and for text it refuses the
exact path answers (with an error message and line number when the text is not YAML at all).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

from migctl.yamlio.numbers import too_long


class NotKubectlYaml(Exception):
    """The text uses YAML this parser does not read; use the exact (libyaml) path."""


#: Anything that is not printable YAML text, plus tab, CR, BOM and the unicode line breaks (fall back).
#: Compiled on first use (:func:`_unusual`): its character ranges take ``re`` about 4 ms to compile,
#: and text that is all ASCII, nearly every file, never needs it.
_UNUSUAL_PATTERN = "[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
_DECIMAL_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_PLAIN = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False,
          "null": None, "Null": None, "NULL": None, "~": None}
#: Characters that may not start a plain scalar this parser reads (YAML indicators; '-' only before a space).
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")
_OPEN: Any = object()  # a cached "key:" line: the value is the nested block that follows
_KNOWN_LINES = 200_000  # at most this many whole lines remembered per iter_items call
_SINGLE_LINE = {"'": re.compile(r"'(?:[^']|'')*'"), '"': re.compile(r'"[^"\\]*"')}


_ASCII_USUAL = b"\n" + bytes(range(0x20, 0x7F))


def usual(text: str) -> bool:
    """True when ``text`` has no tab, CR, BOM, unicode line break or non-printable character."""
    if text.isascii():  # the common case, three times faster than the pattern
        return not text.encode("ascii").translate(None, _ASCII_USUAL)
    return _unusual().search(text) is None


@functools.cache
def _unusual() -> re.Pattern[str]:
    return re.compile(_UNUSUAL_PATTERN)


def plain_shape(text: str) -> None:
    """Raise :class:`NotKubectlYaml` unless ``text`` (a key or value on one line) is a plain scalar whose
    text is exactly the line's text: no indicator first, no ``: `` or `` #`` inside, no ``:`` or space last."""
    if text[0] in _INDICATORS and not (text[0] == "-" and len(text) > 1 and text[1] != " "):
        raise NotKubectlYaml(text)
    if ": " in text or " #" in text or text[-1] == ":" or text[-1] == " ":
        raise NotKubectlYaml(text)


def _plain(text: str) -> Any:
    """A one-line plain scalar (value or key) resolved like the snapshot reader's event builder."""
    plain_shape(text)
    if text in _PLAIN:
        return _PLAIN[text]
    if text[0] in "-0123456789" and _DECIMAL_INT.fullmatch(text):
        if too_long(text):
            raise NotKubectlYaml("a number too long")  # libyaml's loader says so with the line
        return int(text)
    return text


def parse_items(text: str) -> list[Any]:
    """Parse ``- `` list items at column 0 (a chunk of a kubectl ``items:`` list) into a list.

    Raises :class:`NotKubectlYaml` when any item uses YAML outside kubectl's subset.
    """
    if not usual(text):
        raise NotKubectlYaml("unusual character")
    out = []
    for _start, _end, item in iter_items(text.split("\n")):
        if item is NOT_OURS:
            raise NotKubectlYaml(f"line {_start + 1}: not kubectl's YAML")
        out.append(item)
    return out


class _NotOurs:
    def __repr__(self) -> str:
        return "NOT_OURS"


#: What :func:`iter_items` yields for an item this parser does not read.
NOT_OURS: Any = _NotOurs()


def iter_items(lines: list[str], start: int = 0, stop: int | None = None) -> Iterator[tuple[int, int, Any]]:
    """Yield ``(first, end, value)`` for each column-0 ``- `` item in ``lines[start:stop]``.

    ``lines`` hold no line ends (``text.split("\\n")``) and no character :data:`_UNUSUAL_PATTERN` matches (the
    caller checks the text once). ``first``/``end`` are the item's line indexes (``end`` exclusive);
    ``value`` is the parsed item, or :data:`NOT_OURS` when the item uses YAML outside kubectl's subset:
    the caller then reads ``lines[first:end]`` with the exact parser. Other lines at column 0 must be
    blank or comments (:class:`NotKubectlYaml` otherwise).
    """
    stop = len(lines) if stop is None else stop
    keys: dict[str, Any] = {}
    plains: dict[str, Any] = {}
    known: dict[str, Any] = {}
    i = start
    while i < stop:
        line = lines[i]
        if line[:1] == "-" and (len(line) == 1 or line[1] == " "):
            first = i
            try:
                value, i = _item(lines, i, stop, keys, plains, known)
            except (NotKubectlYaml, LookupError, TypeError, ValueError):  # the exact path decides
                i = first + 1
                while i < stop and not (lines[i][:1] == "-" and (len(lines[i]) == 1 or lines[i][1] == " ")):
                    i += 1
                value = NOT_OURS
            yield first, i, value
            continue
        s = line.lstrip(" ")
        if s and s[0] != "#":
            raise NotKubectlYaml(f"line {i + 1}: not a list item")
        i += 1


def _item(
    lines: list[str], i: int, stop: int, keys: dict[str, Any], plains: dict[str, Any], known: dict[str, Any],
    plain: Callable[[str], Any] = _plain,
) -> tuple[Any, int]:
    """Parse the item whose ``- `` line is ``lines[i]``; return it and the index after it.

    ``keys`` and ``plains`` remember what :func:`_plain` answered for each key and value text; ``known``
    remembers whole one-line entries already read (most lines repeat from object to object), by shape:
    ``(column, key, value)`` for ``key: scalar`` / ``key:`` (value :data:`_OPEN`), ``(column, scalar)``
    for ``- scalar`` and ``(column, key column, key, value)`` for ``- key: scalar`` / ``- key:``. They
    are shared by the items of one :func:`iter_items` call and hold only immutable values. ``plain``
    resolves a plain scalar's text (a key or value) to its value.
    """
    holder: list[Any] = []
    indents = [0]  # the column of each open container
    containers: list[Any] = [holder]
    pending: Any = None  # the mapping whose last key had no value on its line
    pending_key: Any = None
    pending_indent = -1
    first = True
    remember = len(known) < _KNOWN_LINES
    while i < stop:
        line = lines[i]
        hit = known.get(line)
        if hit is not None:  # a line read before: same shape, column, key and value
            ind = hit[0]
            size = len(hit)
            i += 1
            if pending is not None:
                if ind > pending_indent or (ind == pending_indent and size != 3):
                    new: Any = {} if size == 3 else []
                    pending[pending_key] = new
                    indents.append(ind)
                    containers.append(new)
                pending = None
            while ind < indents[-1]:
                indents.pop()
                containers.pop()
            if ind != indents[-1]:
                raise NotKubectlYaml(f"line {i}: unexpected indentation")
            cont = containers[-1]
            if size == 3:
                key, value = hit[1], hit[2]
                if cont.__class__ is list:  # a key at the column of a sequence that was a mapping's value
                    indents.pop()
                    containers.pop()
                    if not indents or indents[-1] != ind or containers[-1].__class__ is not dict:
                        raise NotKubectlYaml(f"line {i}: a mapping key inside a sequence")
                    cont = containers[-1]
            else:
                if cont.__class__ is not list:
                    raise NotKubectlYaml(f"line {i}: a sequence entry inside a mapping")
                if size == 2:
                    cont.append(hit[1])
                    continue
                ind, key, value = hit[1], hit[2], hit[3]
                cont.append(new := {})
                indents.append(ind)
                containers.append(new)
                cont = new
            if value is _OPEN:
                cont[key] = None
                pending, pending_key, pending_indent = cont, key, ind
                continue
            cont[key] = value
        else:
            s = line.lstrip(" ")
            if not s or s[0] == "#":
                i += 1
                continue
            ind = len(line) - len(s)
            dash = s[0] == "-" and (len(s) == 1 or s[1] == " ")
            if ind == 0:
                if not first:
                    break  # the next item
                first = False
            i += 1
            if pending is not None:
                if ind > pending_indent or (ind == pending_indent and dash):
                    new = [] if dash else {}
                    pending[pending_key] = new
                    indents.append(ind)
                    containers.append(new)
                pending = None
            while ind < indents[-1]:
                indents.pop()
                containers.pop()
            if ind != indents[-1]:
                raise NotKubectlYaml(f"line {i}: unexpected indentation")
            cont = containers[-1]
            dash_ind = ind
            if dash:
                if cont.__class__ is not list:
                    raise NotKubectlYaml(f"line {i}: a sequence entry inside a mapping")
                rest = s[2:].lstrip(" ")
                if not rest or rest[0] == "#" or (rest[0] == "-" and (len(rest) == 1 or rest[1] == " ")):
                    raise NotKubectlYaml(f"line {i}: nested block in a sequence entry")
                if ": " not in rest and rest[-1] != ":":
                    if rest[0] in "'\"":
                        if not _SINGLE_LINE[rest[0]].fullmatch(rest):
                            raise NotKubectlYaml(f"line {i}: multi-line quoted sequence entry")
                        value = _quoted(rest)
                    elif rest == "{}":
                        cont.append({})
                        continue
                    elif rest == "[]":
                        cont.append([])
                        continue
                    else:
                        value = plain(rest)
                    cont.append(value)
                    if remember and ind > 0:  # column-0 lines start items: never remembered
                        known[line] = (ind, value)
                    continue
                # "- key: value": a mapping whose keys sit at the column after the dash
                ind = len(line) - len(rest)
                cont = {}
                containers[-1].append(cont)
                indents.append(ind)
                containers.append(cont)
                s = rest
            elif cont.__class__ is list:  # a key at the column of a sequence that was a mapping's value
                indents.pop()
                containers.pop()
                if not indents or indents[-1] != ind or containers[-1].__class__ is not dict:
                    raise NotKubectlYaml(f"line {i}: a mapping key inside a sequence")
                cont = containers[-1]
            colon = s.find(": ")
            if colon > 0:
                key_text, value_text = s[:colon], s[colon + 2 :]
                if value_text[:1] == " ":
                    value_text = value_text.lstrip(" ")
            elif s[-1] == ":":
                key_text, value_text = s[:-1], ""
            else:
                raise NotKubectlYaml(f"line {i}: not a 'key: value' line")
            key = keys.get(key_text, keys)
            if key is keys:
                key = plain(key_text)
                if key_text == "<<":
                    raise NotKubectlYaml("merge key")
                if len(keys) < 10_000:
                    keys[key_text] = key
            single = remember and dash_ind > 0  # remember this line (column-0 lines start items)
            if not value_text:
                cont[key] = None
                pending, pending_key, pending_indent = cont, key, ind
                if single:
                    known[line] = (dash_ind, ind, key, _OPEN) if dash else (ind, key, _OPEN)
                continue
            c = value_text[0]
            if c == "'" or c == '"':
                at = i
                value, i = _quoted_lines(value_text, lines, i, ind)
                single = single and i == at
            elif c == "|":
                value, i = _literal(value_text, lines, i, ind, stop)
                single = False
            elif value_text == "{}":
                value = {}
                single = False
            elif value_text == "[]":
                value = []
                single = False
            else:
                value = plains.get(value_text, plains)
                if value is plains:
                    value = plain(value_text)
                    if len(plains) < 50_000:
                        plains[value_text] = value
            cont[key] = value
            if single:
                known[line] = (dash_ind, ind, key, value) if dash else (ind, key, value)
        # the sibling "key: scalar" lines that follow, read before, go straight in (the common case)
        while i < stop:
            hit = known.get(lines[i])
            if hit is None or len(hit) != 3 or hit[0] != ind or hit[2] is _OPEN:
                break
            cont[hit[1]] = hit[2]
            i += 1
    if len(holder) != 1:
        raise NotKubectlYaml("not one item")
    return holder[0], i


def _quoted(token: str) -> str:
    if token[0] == "'":
        return token[1:-1].replace("''", "'")
    return token[1:-1]


def _quoted_lines(text: str, lines: list[str], i: int, ind: int) -> tuple[str, int]:
    """A quoted scalar starting at ``text`` (line ``i``, 1-based); folded over more-indented lines."""
    quote = text[0]
    whole = text.rstrip(" ")
    if _SINGLE_LINE[quote].fullmatch(whole):
        return _quoted(whole), i
    # a multi-line scalar: each line is content up to the closing quote; line breaks fold to spaces
    pieces: list[str] = []
    body = text[1:]
    breaks = 0
    while True:
        end = _closing(body, quote)
        if end >= 0:
            if body[end + 1 :].strip(" "):
                raise NotKubectlYaml(f"line {i}: text after a quoted scalar")
            piece = body[:end]
        else:
            piece = body.rstrip(" ")
        if pieces or breaks:  # a continuation line: leading white space is not content
            piece = piece.lstrip(" ")
            if breaks == 1:
                pieces.append(" ")
            else:
                pieces.append("\n" * (breaks - 1))
        pieces.append(piece)
        if end >= 0:
            break
        breaks = 1
        while True:
            if i >= len(lines) or lines[i][:1] not in ("", " "):
                raise NotKubectlYaml("unterminated quoted scalar, or continued at column 0")
            body = lines[i]
            i += 1
            stripped = body.lstrip(" ")
            if stripped:
                if len(body) - len(stripped) <= ind:
                    raise NotKubectlYaml(f"line {i}: a quoted scalar continues at a lower indentation")
                break
            breaks += 1
    result = "".join(pieces)
    if quote == "'":
        return result.replace("''", "'"), i
    if "\\" in result:
        raise NotKubectlYaml(f"line {i}: escapes in a double-quoted scalar")
    return result, i


def _closing(body: str, quote: str) -> int:
    """Index of the closing quote in ``body``, or -1 when the scalar goes on to the next line."""
    pos = 0
    while True:
        end = body.find(quote, pos)
        if end < 0:
            return -1
        if quote == '"':
            if "\\" in body[:end]:
                raise NotKubectlYaml("escapes in a double-quoted scalar")
            return end
        if body[end + 1 : end + 2] == "'":  # '' is an escaped quote
            pos = end + 2
            continue
        return end


def _literal(header: str, lines: list[str], i: int, ind: int, stop: int) -> tuple[str, int]:
    """A literal block scalar ``|``, ``|-`` or ``|+`` whose content starts on line ``i`` (0-based)."""
    if header not in ("|", "|-", "|+"):
        raise NotKubectlYaml(f"line {i}: block scalar header {header!r}")
    if i >= stop:
        raise NotKubectlYaml("empty block scalar")
    first = lines[i]
    content = first.lstrip(" ")
    column = len(first) - len(content)
    if not content or column <= ind:
        raise NotKubectlYaml(f"line {i + 1}: block scalar without content or with leading blank lines")
    body: list[str] = []
    n = stop
    while i < n:
        line = lines[i]
        if line[:column].strip(" "):  # less indented and not blank: the scalar has ended
            break
        body.append(line[column:])
        i += 1
    trailing = 0
    while body and body[-1] == "":
        body.pop()
        trailing += 1
    # the text ends on the scalar's last line: no line break follows it to clip or keep
    unbroken = i == len(lines) and not trailing
    if i == len(lines) and trailing and lines[-1] == "":  # the text's final newline is no blank line
        trailing -= 1
    text = "\n".join(body)
    if header == "|-" or unbroken:
        return text, i
    if header == "|":
        return text + "\n", i
    return text + "\n" + "\n" * trailing, i


#: Lines that end a document, start a directive or carry a marker with content: the exact path reads them.
_MARKERS = re.compile(r"^(?:---.|\.\.\.|%)", re.M)


def documents(text: str, plain: Callable[[str], Any] = _plain) -> list[tuple[Any, int]]:
    """Every document of a multi-document block YAML text as ``(value, first line)``: documents
    separated by ``---`` lines, each a block mapping at column 0 in the subset this module reads (what
    ``yaml.dump`` and people write for Kubernetes manifests); ``plain`` resolves plain scalars.

    Like a YAML loader, the text before the first ``---`` is a document only when it holds content,
    and a document after ``---`` with none is ``None`` (at the line of the next ``---`` or of the end, where
    PyYAML's composer puts its empty scalar). Raises :class:`NotKubectlYaml` for anything else: a document that is a scalar or a
    sequence, ``...``/``%`` lines, ``--- content``, ``|+`` (the last line of a document is not the
    text's), and everything :func:`iter_items` refuses.
    """
    if not usual(text) or "|+" in text or _MARKERS.search(text):
        raise NotKubectlYaml("not plain block documents")
    lines = text.split("\n")
    keys: dict[str, Any] = {}
    plains: dict[str, Any] = {}
    known: dict[str, Any] = {}
    out: list[tuple[Any, int]] = []
    bounds: list[tuple[int, int, bool]] = []  # (first line, end, explicit ---)
    start, explicit = 0, False
    for i, line in enumerate(lines):
        if line == "---":
            bounds.append((start, i, explicit))
            start, explicit = i + 1, True
    bounds.append((start, len(lines), explicit))
    for first, end, explicit in bounds:
        content = first
        while content < end and (not lines[content].strip(" ") or lines[content].lstrip(" ")[0] == "#"):
            content += 1
        if content == end:
            if explicit:  # PyYAML's empty scalar sits where the next token is: the next '---', or the end
                out.append((None, min(end, len(lines) - 1) + 1))
            continue
        head = lines[content]
        if head[0] == " " or (head[0] == "-" and (len(head) == 1 or head[1] == " ")):
            raise NotKubectlYaml(f"line {content + 1}: a document that is not a mapping at column 0")
        # as the one item of a list: '- ' before the first line, every later line two columns in
        block = ["- " + head] + ["  " + line if line else line for line in lines[content + 1 : end]]
        if end < len(lines):
            block.append("")  # the line break before the next '---' (a block scalar at the end keeps it)
        value, stop = _item(block, 0, len(block), keys, plains, known, plain)
        if stop != len(block) or not isinstance(value, dict):
            raise NotKubectlYaml(f"line {content + 1}: not one mapping")
        out.append((value, content + 1))
    return out
