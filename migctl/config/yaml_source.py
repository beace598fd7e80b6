"""A bounded YAML loader that keeps the line and column of every value and key.

PyYAML's composer is recursive and expands aliases into shared nodes that a naive constructor would copy,
so a deeply nested document can exhaust the stack and a "billion laughs" document can exhaust memory.
This loader builds plain Python values (dict, list, str, int, float, bool, None) directly from the event
stream, without recursion, and stops with one diagnostic when a limit is crossed:

- nesting deeper than :attr:`Limits.max_depth` (``yaml-too-deep``),
- more than :attr:`Limits.max_nodes` values built, counting every alias expansion
  (``yaml-alias-bomb``) -- aliased values are shared, never copied, so the check is cheap,
- an alias inside the collection it names (``yaml-recursive-alias``).

Scalars resolve like YAML 1.1, the dialect of HAMi's ``gopkg.in/yaml.v2`` (HAMi charts/hami/templates/scheduler/device-configmap.yaml): ``yes`` is a
bool, ``0x10`` an int. Keys are kept as the text written (HAMi matches struct fields by that text).
Duplicate keys are an error (yaml.v2 rejects them), merge keys (``<<``) are applied.

Positions are kept per JSON Pointer: ``positions[ptr]`` is where the value starts, ``key_positions[ptr]``
where its key starts; both are 1-based ``(line, column)`` in the text parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from migctl.config.diagnostics import Diagnostic, Severity, diag, pointer, pointer_parts
from migctl.yamlio.numbers import check_digits

Position = tuple[int, int]  # 1-based (line, column)

_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def yaml_lines(text: str) -> list[str]:
    """The lines of ``text`` as YAML counts them (``\r\n``, ``\r``, ``\n``, NEL, LS, PS break a line)."""
    return _LINE_BREAK.split(text)

_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_SCALAR_TAGS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    _STR_TAG,
}


# Findings that stop the parse; the others (duplicate key, bad scalar, complex key) keep going.
FATAL_CODES = frozenset({"yaml-syntax", "yaml-too-deep", "yaml-alias-bomb", "yaml-recursive-alias", "input-too-large"})


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 10 * 1024 * 1024
    max_depth: int = 64
    max_nodes: int = 100_000


@dataclass
class YamlDocument:
    """One document of a stream: its value and where each part of it is."""

    value: Any
    index: int
    start: Position
    positions: dict[str, Position] = field(default_factory=dict)
    key_positions: dict[str, Position] = field(default_factory=dict)

    def locate(self, ptr: str, *, at_key: bool = False) -> Position:
        """Where ``ptr`` is: its key (``at_key``) or value; else the nearest enclosing value we know."""
        if at_key and ptr in self.key_positions:
            return self.key_positions[ptr]
        parts = pointer_parts(ptr)
        while True:
            here = pointer(*parts)
            if here in self.positions:
                return self.positions[here]
            if here in self.key_positions:
                return self.key_positions[here]
            if not parts:
                return self.start
            parts.pop()


@dataclass
class YamlStream:
    documents: list[YamlDocument]
    diagnostics: list[Diagnostic]  # loader findings; positions relative to the text parsed

    @property
    def failed(self) -> bool:
        """Parsing stopped early (the last document is missing); other findings leave the values usable."""
        return any(d.code in FATAL_CODES for d in self.diagnostics)


class _Abort(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


_AWAIT_KEY = object()
_INVALID_KEY = object()
_MERGE_KEY = object()


@dataclass
class _Frame:
    is_map: bool
    value: Any
    ptr: str
    start: Position
    anchor: str | None
    size: int = 1
    key: Any = _AWAIT_KEY  # mappings: the pending key, or _AWAIT_KEY
    merges: list[Any] = field(default_factory=list)


def _pos(mark: Any) -> Position:
    return (mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, limits: Limits, *, json_mode: bool) -> None:
        self.limits = limits
        self.json_mode = json_mode
        self.constructor = SafeConstructor()
        self.resolver = Resolver()
        self.documents: list[YamlDocument] = []
        self.diagnostics: list[Diagnostic] = []
        self.nodes = 0
        self.aliases_seen = False
        self._reset_document(None)

    def _reset_document(self, start: Position | None) -> None:
        self.frames: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int] | _Frame] = {}
        self.doc: YamlDocument | None = None
        if start is not None:
            self.doc = YamlDocument(None, len(self.documents), start)

    # -- events --------------------------------------------------------------------------------
    def feed(self, event: Any) -> None:
        if isinstance(event, DocumentStartEvent):
            self._reset_document(_pos(event.start_mark))
        elif isinstance(event, DocumentEndEvent):
            if self.doc is not None:
                self.documents.append(self.doc)
            self._reset_document(None)
        elif isinstance(event, ScalarEvent):
            self._scalar(event)
        elif isinstance(event, (SequenceStartEvent, MappingStartEvent)):
            self._start(event)
        elif isinstance(event, (SequenceEndEvent, MappingEndEvent)):
            self._end()
        elif isinstance(event, AliasEvent):
            self._alias(event)

    def _count(self, size: int, where: Position) -> None:
        self.nodes += size
        if self.nodes > self.limits.max_nodes:
            if self.aliases_seen:
                raise _Abort(diag(
                    "yaml-alias-bomb", "",
                    f"alias expansion builds more than {self.limits.max_nodes:,} values; refusing to expand further",
                    "remove the aliases (*name) that multiply the document; a device-config needs none",
                    line=where[0], column=where[1]))
            raise _Abort(diag(
                "input-too-large", "", f"the file holds more than {self.limits.max_nodes:,} values; not read further",
                "a device-config holds a few hundred values; check the file is the one you meant",
                line=where[0], column=where[1]))

    def _child_ptr(self) -> tuple[str, _Frame | None]:
        if not self.frames:
            return "", None
        top = self.frames[-1]
        if not top.is_map:
            return top.ptr + pointer(len(top.value)), top
        if top.key is _AWAIT_KEY:
            return top.ptr + "/?key", top  # a key being built (only complex keys reach here)
        if isinstance(top.key, str):
            return top.ptr + pointer(top.key), top
        return top.ptr + "/?", top

    def _scalar(self, event: ScalarEvent) -> None:
        where = _pos(event.start_mark)
        self._count(1, where)
        top = self.frames[-1] if self.frames else None
        if top is not None and top.is_map and top.key is _AWAIT_KEY:
            self._take_key(top, event, where)
            return
        value = self._construct(event, where)
        if event.anchor:
            self.anchors[event.anchor] = (value, 1)
        self._deliver(value, 1, where)

    def _construct(self, event: ScalarEvent, where: Position) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            tag = _STR_TAG if tag == "!" else self.resolver.resolve(ScalarNode, event.value, event.implicit)
        if tag not in _SCALAR_TAGS:
            return event.value  # timestamps, binary, custom tags: keep the text HAMi would see
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            if tag == _INT_TAG:
                check_digits(event.value, "integer")
            return self.constructor.yaml_constructors[tag](self.constructor, node)
        except Exception as exc:  # noqa: BLE001 - e.g. int() beyond Python's digit limit
            ptr, _ = self._child_ptr()
            self.diagnostics.append(diag(
                "yaml-bad-scalar", ptr, f"cannot read {event.value[:40]!r} as {tag.rsplit(':', 1)[-1]}: {exc}",
                line=where[0], column=where[1]))
            return event.value

    def _take_key(self, top: _Frame, event: ScalarEvent, where: Position) -> None:
        key = event.value
        plain = event.style in (None, "")
        if key == "<<" and not self.json_mode and (event.tag == _MERGE_TAG or (event.tag is None and plain)):
            top.key = _MERGE_KEY
            return
        ptr = top.ptr + pointer(key)
        if key in top.value:
            first = self.doc.key_positions.get(ptr) if self.doc else None
            seen = f" (first at line {first[0]})" if first else ""
            self.diagnostics.append(diag(
                "duplicate-key", ptr, f"key {key!r} appears twice in one mapping{seen}",
                "the JSON parser keeps the last value" if self.json_mode else "yaml.v2 rejects duplicate keys; keep one",
                severity=Severity.warning if self.json_mode else Severity.error,
                at_key=True, line=where[0], column=where[1]))
        if self.doc is not None:
            self.doc.key_positions[ptr] = where
        top.key = key

    def _start(self, event: Any) -> None:
        where = _pos(event.start_mark)
        if len(self.frames) >= self.limits.max_depth:
            raise _Abort(diag(
                "yaml-too-deep", "", f"collections nest more than {self.limits.max_depth} levels deep",
                "a device-config nests about 6 levels; check the file is the one you meant",
                line=where[0], column=where[1]))
        self._count(1, where)
        ptr, _ = self._child_ptr()
        frame = _Frame(isinstance(event, MappingStartEvent), {} if isinstance(event, MappingStartEvent) else [],
                       ptr, where, event.anchor)
        if event.anchor:
            self.anchors[event.anchor] = frame
        self.frames.append(frame)

    def _end(self) -> None:
        frame = self.frames.pop()
        if frame.is_map and frame.merges:
            for merged in frame.merges:
                for source in (merged if isinstance(merged, list) else [merged]):
                    if isinstance(source, dict):
                        for k, v in source.items():
                            frame.value.setdefault(k, v)
        if frame.anchor:
            self.anchors[frame.anchor] = (frame.value, frame.size)
        if self.frames and self.frames[-1].is_map and self.frames[-1].key is _AWAIT_KEY:
            parent = self.frames[-1]
            self.diagnostics.append(diag(
                "yaml-complex-key", parent.ptr, "a mapping key is a list or mapping; keys must be plain strings",
                line=frame.start[0], column=frame.start[1]))
            parent.key = _INVALID_KEY
            return
        self._deliver(frame.value, frame.size, frame.start)

    def _alias(self, event: AliasEvent) -> None:
        where = _pos(event.start_mark)
        self.aliases_seen = True
        target = self.anchors.get(event.anchor)
        if target is None:
            raise _Abort(diag("yaml-syntax", "", f"found undefined alias *{event.anchor}",
                              line=where[0], column=where[1]))
        if isinstance(target, _Frame):
            raise _Abort(diag("yaml-recursive-alias", target.ptr,
                              f"alias *{event.anchor} refers to a collection that contains it",
                              line=where[0], column=where[1]))
        value, size = target
        self._count(size, where)
        top = self.frames[-1] if self.frames else None
        if top is not None and top.is_map and top.key is _AWAIT_KEY:
            if isinstance(value, str):
                top.key = value
                if self.doc is not None:
                    self.doc.key_positions[top.ptr + pointer(value)] = where
            else:
                self.diagnostics.append(diag("yaml-complex-key", top.ptr, "a mapping key is not a string",
                                             line=where[0], column=where[1]))
                top.key = _INVALID_KEY
            return
        self._deliver(value, size, where)

    def _deliver(self, value: Any, size: int, where: Position) -> None:
        if not self.frames:
            if self.doc is not None:
                self.doc.value = value
                self.doc.positions[""] = where
            return
        top = self.frames[-1]
        top.size += size
        ptr, _ = self._child_ptr()
        if not top.is_map:
            top.value.append(value)
        elif top.key is _MERGE_KEY:
            top.merges.append(value)
            top.key = _AWAIT_KEY
            return
        elif top.key is _INVALID_KEY:
            top.key = _AWAIT_KEY
            return
        else:
            top.value[top.key] = value
            top.key = _AWAIT_KEY
        if self.doc is not None:
            self.doc.positions.setdefault(ptr, where)


def _error_position(exc: BaseException) -> Position | None:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return _pos(mark)
    return None


def _syntax_message(exc: BaseException) -> str:
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    if problem:
        return f"{context}: {problem}" if context else str(problem)
    reason = getattr(exc, "reason", None)
    if reason:  # ReaderError
        return f"{reason} (character {getattr(exc, 'character', '')!r})"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _reader_position(text: str, exc: BaseException) -> Position | None:
    index = getattr(exc, "position", None)
    if not isinstance(index, int):
        return None
    head = text[:index]
    return (head.count("\n") + 1, index - (head.rfind("\n") + 1) + 1)


def parse_yaml(text: str, *, limits: Limits = Limits(), json_mode: bool = False) -> YamlStream:
    """Parse every document of ``text``; never raises for any input.

    On a syntax error or a crossed limit, the documents completed before it are kept and one
    diagnostic says what went wrong and where.
    """
    builder = _Builder(limits, json_mode=json_mode)
    loader = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader
    try:
        for event in yaml.parse(text, Loader=loader):
            builder.feed(event)
    except _Abort as abort:
        builder.diagnostics.append(abort.diagnostic)
    except yaml.reader.ReaderError as exc:
        where = _reader_position(text, exc)
        builder.diagnostics.append(diag(
            "yaml-syntax", "", f"unacceptable character: {_syntax_message(exc)}",
            "YAML allows printable Unicode only; remove the control character",
            line=where[0] if where else None, column=where[1] if where else None))
    except yaml.YAMLError as exc:
        where = _error_position(exc)
        message = _syntax_message(exc)
        too_deep = "nesting depth" in message
        builder.diagnostics.append(diag(
            "yaml-too-deep" if too_deep else "yaml-syntax", "", message, None,
            line=where[0] if where else None, column=where[1] if where else None))
    except (RecursionError, MemoryError, ValueError, TypeError) as exc:  # defensive: never a traceback
        builder.diagnostics.append(diag("yaml-syntax", "", f"cannot parse: {type(exc).__name__}: {exc}"))
    return YamlStream(builder.documents, builder.diagnostics)
