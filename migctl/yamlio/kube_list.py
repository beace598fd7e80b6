"""Reading the objects of a Kubernetes ``v1 List`` file (what ``kubectl get ... -o yaml|json`` prints) item by item.

Generic: no HAMi concept. The caller says which kinds it keeps (:class:`ListSource`) and builds its own
model from the dicts; nested Lists are opened, other kinds skipped, anything else is an
:class:`~migctl.errors.InputError` naming the file and line.

- JSON: the ``items`` array is walked with the C JSON scanner one item at a time (:func:`json_items`);
- YAML: kubectl's block layout (``items:`` then ``- `` entries at column 0) is read item by item with
  the line parser :mod:`migctl.yamlio.block_yaml`; an item it does not read (anchors, flow style,
  escapes, odd indentation, a syntax error...), and every item of a block with a tab or an unusual
  character, takes the exact path: libyaml's events built by :func:`fast_yaml`, PyYAML's own loader
  for merge keys and for error messages with line numbers (:func:`yaml_items`). Any other YAML layout
  (several documents, single objects, flow style) is one whole-file load (:func:`yaml_whole`).
  :func:`yaml_batches` gives the same objects a block at a time; with ``typed``, the items whose shape
  repeats are turned into JSON (or, with ``builder``, straight into the caller's objects) by
  :mod:`migctl.yamlio.item_json` instead and handed to the caller's decoder, which answers a typed object
  or None for each (then the item takes the line parser as above).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import yaml

from migctl.errors import InputError
from migctl.yamlio import block_yaml, item_json, numbers

# libyaml when PyYAML has it; long integers refused with the project's own message
_Loader: Any = numbers.Loader


@dataclass(frozen=True)
class ListSource:
    """The file being read: its name (``str()``, in every message) and the object kinds kept, in order."""

    name: str
    kept: tuple[str, ...]
    described: str  # the kept objects in words, for "not a Kubernetes List of ..."
    kinds: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", frozenset(self.kept))

    @property
    def kinds_text(self) -> str:
        return "/".join(self.kept)

    def __str__(self) -> str:
        return self.name


def first_char(fh: IO[str]) -> str:
    while True:
        chunk = fh.read(4096)
        if not chunk:
            return ""
        stripped = chunk.lstrip()
        if stripped:
            return stripped[0]


def _check_item(obj: Any, path: ListSource, where: Any) -> dict[str, Any] | None:
    if not isinstance(obj, dict):
        raise InputError(f"{path}:{where}: a list item must be a Kubernetes object (a mapping), got {_kind_of(obj)}")
    kind = obj.get("kind")
    if kind == "List" or (kind is None and "items" in obj):
        return obj  # a nested List; the caller expands it
    if kind in path.kept:
        return obj
    return None


def _kind_of(value: Any) -> str:
    return {list: "a list", str: "text", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _expand(obj: dict[str, Any], path: ListSource, where: Any) -> Iterator[dict[str, Any]]:
    if obj.get("kind") in path.kept:
        yield obj
        return
    items = obj.get("items")
    if not isinstance(items, list):
        raise InputError(f"{path}:{where}: 'items' must be a list of Kubernetes objects")
    for i, item in enumerate(items):
        checked = _check_item(item, path, _Where(where, None, f" items[{i}]"))
        if checked is not None:
            yield from _expand(checked, path, where)


# --- JSON ------------------------------------------------------------------------------------------------


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


class _Where:
    """A position for error messages, turned into a line number only when a message is formatted."""

    __slots__ = ("base", "pos", "suffix")

    def __init__(self, base: str | _Where, pos: int | None = None, suffix: str = "") -> None:
        self.base, self.pos, self.suffix = base, pos, suffix

    def __str__(self) -> str:
        if isinstance(self.base, str) and self.pos is not None:
            return f"{_line_of(self.base, self.pos)}{self.suffix}"
        return f"{self.base}{self.suffix}"


_JSON_WS = re.compile(r"[ \t\n\r]*")


def json_items(fh: IO[str], path: ListSource) -> Iterator[dict[str, Any]]:
    text = fh.read()
    decoder = json.JSONDecoder(parse_int=numbers.loads_int)
    whitespace = _JSON_WS.match

    def skip(pos: int) -> int:
        return whitespace(text, pos).end()  # type: ignore[union-attr]  # the pattern matches ""

    def fail(pos: int, message: str) -> InputError:
        return InputError(f"{path}:{_line_of(text, pos)}: not valid JSON: {message}")

    def value(pos: int) -> tuple[Any, int]:
        try:
            return decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise fail(exc.pos, exc.msg) from None
        except numbers.NumberTooLong as exc:
            raise fail(pos, str(exc)) from None

    pos = skip(0)
    if text.startswith("[", pos):  # a bare JSON list of objects
        whole, end = value(pos)
        if text[skip(end) :].strip():
            raise fail(skip(end), "extra data after the list")
        yield from _expand({"items": whole}, path, _Where(text, pos))
        return
    if not text.startswith("{", pos):
        raise fail(pos, "expected a JSON object")
    pos = skip(pos + 1)
    top: dict[str, Any] = {}
    saw_items = False
    while pos < len(text) and text[pos] != "}":
        key, pos = value(pos)
        pos = skip(pos)
        if not text.startswith(":", pos):
            raise fail(pos, "expected ':'")
        pos = skip(pos + 1)
        if key == "items" and text.startswith("[", pos):
            saw_items = True
            pos = skip(pos + 1)
            index = 0
            kept = path.kept
            raw_decode = decoder.raw_decode
            while not text.startswith("]", pos):
                start = pos
                try:
                    item, pos = raw_decode(text, pos)
                except json.JSONDecodeError as exc:
                    raise fail(exc.pos, exc.msg) from None
                except numbers.NumberTooLong as exc:
                    raise fail(start, str(exc)) from None
                if item.__class__ is dict and item.get("kind") in kept:
                    yield item  # the usual item, without the checks' generators
                else:
                    checked = _check_item(item, path, _Where(text, start, f" items[{index}]"))
                    if checked is not None:
                        yield from _expand(checked, path, _Where(text, start))
                pos = skip(pos)
                if text.startswith(",", pos):
                    pos = skip(pos + 1)
                elif not text.startswith("]", pos):
                    raise fail(pos, "expected ',' or ']' in 'items'")
                index += 1
            pos = skip(pos + 1)
        else:
            top[key], pos = value(pos)
            pos = skip(pos)
        if text.startswith(",", pos):
            pos = skip(pos + 1)
        elif not text.startswith("}", pos):
            raise fail(pos, "expected ',' or '}'")
    if pos >= len(text):
        raise fail(len(text), "unexpected end of file")
    if text[skip(pos + 1) :].strip():
        raise fail(skip(pos + 1), "extra data after the object")
    if not saw_items:
        checked = _check_item(top, path, "1")
        if checked is None:
            raise InputError(f"{path}:1: not a Kubernetes List or {path.kinds_text} object "
                             f"(kind {top.get('kind')!r})")
        yield from _expand(checked, path, "1")


# --- YAML ------------------------------------------------------------------------------------------------


def _yaml_error(path: ListSource, exc: yaml.YAMLError, line_offset: int = 0) -> InputError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    context_mark = getattr(exc, "context_mark", None)
    if context and context_mark is not None and context_mark is not mark:
        problem += f" ({context} at line {context_mark.line + 1 + line_offset})"
    if mark is not None:
        return InputError(f"{path}:{mark.line + 1 + line_offset}:{mark.column + 1}: not valid YAML: {problem}")
    return InputError(f"{path}: not valid YAML: {problem}")


def yaml_items(fh: IO[str], path: ListSource, *, line_parser: bool = True) -> Iterator[dict[str, Any]]:
    """Split kubectl's layout into items; fall back to a whole-file load for any other layout.

    With ``line_parser`` (the default) items are read by :mod:`migctl.yamlio.block_yaml` where the
    file allows it, each item it does not read through :func:`_exact_item`; without, every item takes
    the exact path (the reference the line parser is tested against).
    """
    for batch in yaml_batches(fh, path, line_parser=line_parser):
        yield from batch


def yaml_batches(
    fh: IO[str], path: ListSource, *, line_parser: bool = True,
    typed: Callable[[list[Any]], list[Any]] | None = None, builder: item_json.Builder | None = None,
) -> Iterator[list[Any]]:
    """:func:`yaml_items` a list at a time (a block of kubectl's items, about :data:`_BLOCK_CHARS`).

    With ``typed`` (line parser only), what :class:`~migctl.yamlio.item_json.ItemTemplates` (with
    ``builder``) reads each item of a block as is passed to ``typed`` as a list (the builder's object, the
    item's JSON or None); what it answers for an item is in the batch in the item's place, unless it is
    None: every other object is there as a dict, in the file's order.
    """
    first_item_line = _find_kubectl_items(fh)
    if first_item_line is None:
        fh.seek(0)
        yield list(yaml_whole(fh, path))
        return
    rest: list[str] = []
    if line_parser:
        yield from _line_parsed_batches(fh, first_item_line, path, rest, typed, builder)
    else:
        for first_line, chunk in _item_chunks(fh, first_item_line, rest):
            yield list(_exact_item(chunk, first_line, path))
    if rest:
        yield list(_documents_after(rest, path))


#: Where the ``items:`` list ends: a column-0 line that is not a ``- `` item, blank, indented or a comment
#: (a line starting with a tab or CR stays in the list, as :func:`_item_chunks` has it).
_ITEMS_END = re.compile(r"\n(?:[^ \t\r\n#-]|-[^ \t\r\n])")
#: The line parser reads the items in blocks of about this many characters (bounds its line lists;
#: 1 MiB measured fastest: the block stays in the CPU caches while its objects are built).
_BLOCK_CHARS = 1 << 20


def _line_parsed_batches(
    fh: IO[str], first_line: int, path: ListSource, rest: list[str],
    typed: Callable[[list[Any]], list[Any]] | None = None, builder: item_json.Builder | None = None,
) -> Iterator[list[Any]]:
    """The items from ``fh`` (at the first ``- `` item, line ``first_line``), read and listed a block at a time.

    Only about one block of text and its lines are in memory at once; what follows the items (the
    List's own keys, then perhaps ``---`` and more documents) goes to ``rest`` as :func:`_item_chunks`
    has it.
    """
    line_no = first_line
    buf = ""
    searched = 0  # buf[:searched] holds no end of the items
    templates = item_json.ItemTemplates(builder) if typed is not None else None
    while True:
        chunk = fh.read(_BLOCK_CHARS)
        buf += chunk
        end_match = _ITEMS_END.search(buf, max(searched - 1, 0))
        tail = None
        if end_match is not None:
            tail = buf[end_match.start() + 1 :] + fh.read()
            block, buf = buf[: end_match.start() + 1], ""
        elif not chunk:
            block, buf, tail = buf, "", ""
        else:
            cut = buf.rfind("\n- ")
            if cut < 0:  # one item longer than a block: read on
                searched = len(buf)
                continue
            block, buf = buf[: cut + 1], buf[cut + 1 :]
            searched = len(buf)
        if templates is None:
            yield list(_block_items(block, line_no, path))
        else:
            yield _typed_block_items(block, line_no, path, typed, templates)
        line_no += block.count("\n")
        if tail is not None:
            break
    lines = tail.split("\n")
    for k, line in enumerate(lines):
        if line.startswith("---"):
            rest.append(str(line_no + k + 1))
            rest.append("\n".join(lines[k + 1 :]))
            break


def _block_items(block: str, line_no: int, path: ListSource) -> Iterator[dict[str, Any]]:
    """The items of one block of whole items starting at line ``line_no``."""
    if not block_yaml.usual(block):  # tabs, CR line ends, unusual characters: the exact path
        for first_line, chunk in _item_chunks(io.StringIO(block), line_no, []):
            yield from _exact_item(chunk, first_line, path)
        return
    lines = block.split("\n")
    # the whole block first, then its objects: interleaving parsing and building is 25% slower
    try:
        parsed = list(block_yaml.iter_items(lines))
    except block_yaml.NotKubectlYaml:  # not items at all (the block is cut at items): the exact path
        for first_line, chunk in _item_chunks(io.StringIO(block), line_no, []):
            yield from _exact_item(chunk, first_line, path)
        return
    del block
    kinds = path.kinds
    for first, stop, value in parsed:
        kind = value.get("kind") if value.__class__ is dict else None
        if kind.__class__ is str and kind in kinds:
            yield value  # the common case, without _check_item/_expand
        elif value is block_yaml.NOT_OURS:  # the item's own lines, each with its line end, as in the file
            chunk = "\n".join(lines[first:stop]) + ("\n" if stop < len(lines) else "")
            yield from _exact_item(chunk, line_no + first, path)
        else:
            checked = _check_item(value, path, line_no + first)
            if checked is not None:
                yield from _expand(checked, path, line_no + first)


def _typed_block_items(
    block: str, line_no: int, path: ListSource, typed: Callable[[list[Any]], list[Any]],
    templates: item_json.ItemTemplates,
) -> list[Any]:
    """What :func:`_block_items` yields, as a list, with each item that ``templates`` reads and ``typed``
    answers an object for in the list as that object; the runs of items between them go through
    :func:`_block_items`.

    Reading a run of whole items by itself is reading it in its block: the line parser reads items one
    by one, and a block holds no other column-0 line but blank ones, comments and tab or CR lines,
    which fail :func:`block_yaml.usual` for the whole block first.
    """
    if not block_yaml.usual(block):
        return list(_block_items(block, line_no, path))
    starts, read = templates.read_block(block)
    objs = typed(read)
    del read
    if None not in objs:
        return objs
    out: list[Any] = []
    run = 0  # the first item not yet in ``out``
    starts.append(len(block))
    for k, obj in enumerate([*objs, True]):  # True: the end, after the last run
        if obj is not None:
            if run < k:  # the items starts[run:k], by the line parser, at their line in the file
                first = starts[run]
                out.extend(_block_items(block[first : starts[k]], line_no + block.count("\n", 0, first), path))
            if k < len(objs):
                out.append(obj)
            run = k + 1
    return out


def _exact_item(chunk: str, first_line: int, path: ListSource) -> Iterator[dict[str, Any]]:
    """One ``- `` item through libyaml: the event builder, PyYAML's loader for merge keys and errors."""
    try:
        loaded = fast_yaml(chunk)
    except (yaml.YAMLError, Unsupported):
        try:  # PyYAML's own loader: the exact result, or an error message with the position
            loaded = yaml.load(chunk, Loader=_Loader)  # noqa: S506 - CSafeLoader
        except yaml.YAMLError as exc:
            raise _yaml_error(path, exc, first_line - 1) from None
    if not isinstance(loaded, list) or len(loaded) != 1:
        raise InputError(f"{path}:{first_line}: expected one Kubernetes object in this list item")
    checked = _check_item(loaded[0], path, f"{first_line}")
    if checked is not None:
        yield from _expand(checked, path, str(first_line))


def _documents_after(rest: list[str], path: ListSource) -> Iterator[dict[str, Any]]:
    """More YAML documents after the List (``rest``: the first line number, then the text)."""
    if rest:
        offset = int(rest.pop(0))
        try:
            documents = list(yaml.load_all("".join(rest), Loader=_Loader))  # noqa: S506
        except yaml.YAMLError as exc:
            raise _yaml_error(path, exc, offset - 1) from None
        for doc in documents:
            if isinstance(doc, dict):
                checked = _check_item(doc, path, str(offset))
                if checked is not None:
                    yield from _expand(checked, path, str(offset))


_DECIMAL_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")  # other YAML 1.1 ints (010, 0x1F, 1:20) stay text
_PLAIN = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False,
          "null": None, "Null": None, "NULL": None, "~": None, "": None}


class Unsupported(Exception):
    """A YAML feature the fast builder leaves to PyYAML's own constructor (merge keys, complex keys)."""


_SCALAR, _ALIAS = yaml.ScalarEvent, yaml.AliasEvent
_MAP_START, _SEQ_START = yaml.MappingStartEvent, yaml.SequenceStartEvent
_MAP_END, _SEQ_END = yaml.MappingEndEvent, yaml.SequenceEndEvent


def fast_yaml(text: str) -> Any:
    """Build one YAML document from libyaml's events, without PyYAML's Python resolver and constructor.

    About six times faster for kubectl output: plain scalars become bool/None/int as YAML 1.1 would,
    everything else (floats, timestamps, quoted values) stays text, which is all the cluster model reads.
    Raises ``yaml.YAMLError`` on a syntax error and ``Unsupported`` for merge keys or non-scalar keys;
    the caller then uses PyYAML's loader for the exact result or error message.
    """
    parser = _Loader(text)
    try:
        return _build(parser.get_event)
    finally:
        parser.dispose()


def _build(next_event: Callable[[], Any]) -> Any:
    stack: list[list[Any]] = []  # [container, pending mapping key]
    anchors: dict[str, Any] = {}
    no_key = Unsupported  # a sentinel no YAML value can be
    root: Any = None
    while (event := next_event()) is not None:  # the parser answers None after the stream end
        kind = event.__class__
        if kind is _SCALAR:
            value: Any = event.value
            if not event.style and event.tag is None:
                if value in _PLAIN:
                    value = _PLAIN[value]
                elif _DECIMAL_INT.fullmatch(value):
                    if numbers.too_long(value):
                        raise Unsupported("a number too long")  # the loader's message, with the line
                    value = int(value)
            if event.anchor:
                anchors[event.anchor] = value
        elif kind is _MAP_START or kind is _SEQ_START:
            container: Any = {} if kind is _MAP_START else []
            if event.anchor:
                anchors[event.anchor] = container
            stack.append([container, no_key])
            continue
        elif kind is _MAP_END or kind is _SEQ_END:
            value = stack.pop()[0]
        elif kind is _ALIAS:
            if event.anchor not in anchors:
                raise Unsupported("unknown alias")
            value = anchors[event.anchor]
        else:
            continue  # stream and document start/end
        if not stack:
            root = value
            continue
        top = stack[-1]
        if top[0].__class__ is list:
            top[0].append(value)
        elif top[1] is no_key:
            if isinstance(value, (dict, list)) or value == "<<":
                raise Unsupported("complex or merge key")
            top[1] = value
        else:
            top[0][top[1]] = value
            top[1] = no_key
    return root


def _find_kubectl_items(fh: IO[str]) -> int | None:
    """Position ``fh`` just before the first ``- `` item under a column-0 ``items:`` key.

    Returns that item's line number, or None when the file is not in kubectl's block layout (flow style,
    an indented sequence, a bare list, several documents before the List).
    """
    line_no = 0
    content = False
    found_items = False
    while True:
        pos = fh.tell()
        line = fh.readline()
        if not line:
            return None
        line_no += 1
        bare = line.strip()
        if not bare or bare.startswith("#"):
            continue
        if found_items:
            if line.startswith("- ") or line.rstrip("\r\n") == "-":
                fh.seek(pos)
                return line_no
            return None
        if line.startswith("---"):
            if content:
                return None
            continue
        if line.startswith(("[", "{", "-")):
            return None
        content = True
        if line.startswith("items:"):
            rest = line[len("items:") :].strip()
            if rest and not rest.startswith("#"):
                return None  # `items: []` or flow style
            found_items = True


def _item_chunks(fh: IO[str], line_no: int, rest: list[str]) -> Iterator[tuple[int, str]]:
    """Yield (first line, text) per ``- `` item; lines after a later ``---`` go to ``rest``."""
    buf: list[str] = []
    first = line_no
    in_items = True
    for line in iter(fh.readline, ""):
        if in_items:
            if line.startswith("- ") or line.rstrip("\r\n") == "-":
                if buf:
                    yield first, "".join(buf)
                buf, first = [line], line_no
            elif line[:1] in (" ", "\t", "\n", "\r", "#"):
                buf.append(line)
            else:  # a top-level key after the items (kind: List, metadata:) or a new document
                if buf:
                    yield first, "".join(buf)
                    buf = []
                in_items = False
        if not in_items and line.startswith("---"):
            rest.append(str(line_no + 1))
            rest.extend(iter(fh.readline, ""))
            return
        line_no += 1
    if buf:
        yield first, "".join(buf)


def yaml_whole(fh: IO[str], path: ListSource) -> Iterator[dict[str, Any]]:
    try:
        documents = list(yaml.load_all(fh, Loader=_Loader))  # noqa: S506 - CSafeLoader
    except yaml.YAMLError as exc:
        raise _yaml_error(path, exc) from None
    found = False
    for n, doc in enumerate(documents, start=1):
        if doc is None:
            continue
        where = f"document {n}" if len(documents) > 1 else "1"
        if isinstance(doc, list):
            yield from _expand({"items": doc}, path, where)
            found = True
            continue
        if not isinstance(doc, dict):
            raise InputError(f"{path}:{where}: not a Kubernetes List or object (the document is {_kind_of(doc)})")
        checked = _check_item(doc, path, where)
        if checked is None:
            if not isinstance(doc.get("kind"), str):
                raise InputError(f"{path}:{where}: not a Kubernetes List or object (no 'kind')")
            continue
        found = True
        yield from _expand(checked, path, where)
    if not found and not any(isinstance(d, dict) and isinstance(d.get("kind"), str) for d in documents):
        raise InputError(f"{path}: empty, or not a Kubernetes List of {path.described}")
