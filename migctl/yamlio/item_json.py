"""kubectl's YAML List items as JSON text, through one template per item *shape*: the typed YAML reader.

A 100,000-pod ``kubectl get -o yaml`` snapshot is 3.5 million lines, and the line parser
(:mod:`migctl.yamlio.block_yaml`) spends about a microsecond and a half on each in Python. But the pods of
a cluster are printed alike: the same keys at the same columns, in the same order, with only the values
changing (names, UIDs, node names, annotation values). This module reads an item as a *shape* (its text
with the values of ``key: value`` lines cut out, by one ``re.split`` in C: :data:`_SLOTS`) and its
*values*. The second time a shape is seen, the line parser itself reads the shape once, with a
placeholder in each value's place, and the result becomes a JSON template whose placeholders ``%``
fills. From its third item on, the shape gets its own pattern (its text, one group per value, then the
next item's start), and :meth:`ItemTemplates.read_block` matches each item of a recent shape in place in
the block: no Python work per line, one ``match`` and one ``%`` per item. The JSON is then decoded by
msgspec into the typed structs of :mod:`migctl.cluster.kube_json`, which skip every field the model does
not read. With a *builder* (``kube_json.item_builder``), a shape given its own pattern also gets a
function that makes those structs straight from the matched values: the shape's JSON is decoded and
type-checked once, with placeholders, and its items need neither ``%`` nor a decode (a quarter less
time per item).

Only values that are text whatever they say are cut out: a plain scalar that resolves to itself (not
``true``/``false``/``null``/``~`` or a decimal integer, which the line parser's ``_plain`` turns into
other types; no indicator first; no ``: `` or `` #`` inside; no space or colon last), a single-quoted
scalar without ``''`` and a double-quoted one without escapes, either possibly folded over more lines
(folded as the line parser folds them, or refused where it refuses them: :func:`_fold`). For the line
parser each is a string scalar on the key's line, whatever its text: the structure it reads around it is
the same as around the placeholder. Its JSON is the text between two double quotes, escaped where it
holds a quote, a backslash or a kept line break (``block_yaml.usual``, checked for the whole block
first, leaves no other character to escape). Every other value (numbers, booleans, ``{}``, block
scalars, quoted text with ``''`` or escapes) stays in the shape, so the template holds what the line
parser made of it.

Exactness: a template is made only from the line parser's own reading of the shape with placeholders,
and it is refused (the item's JSON is None: the caller reads the item with the line parser) when that
reading fails, stops before the item's end, has a key that is not text, or holds a placeholder anywhere
but as a whole string value (a value swallowed into a multi-line scalar, say). A shape seen once is not
turned into a template: an item of a unique shape costs only the split before the line parser reads it.
Tests hold the JSON to the line parser's value on generated clusters, Hypothesis-drawn items of one shape
with any values, mutated kubectl text and blocks cut at items (``tests/test_yamlio_item_json.py``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from migctl.yamlio.block_yaml import NotKubectlYaml, _item, _quoted_lines

__all__ = ["Builder", "ItemTemplates"]

#: A plain scalar that the line parser reads as this very text: not a word or integer ``_plain`` resolves
#: to another type, no indicator first (``-`` and ``~`` included), a colon or a space only before another
#: character that keeps it plain (no ``: ``, `` #``, trailing ``:`` or space). The rest after the first
#: character is written as an unrolled loop, a run of ordinary characters then any number of (colon or
#: space, run): the language of ``(?:[^\n: ]|:(?=[^ \n])| (?=[^ #\n]))*+``, each token one character, but
#: a value without a colon or space costs one run and no alternation (a fifth less per item's match).
_TEXT_PLAIN = (
    r"(?!(?:0|[1-9][0-9]*|true|True|TRUE|false|False|FALSE|null|Null|NULL)$)"
    r"[^\n'\"\\:\- ?,\[\]{}#&*!|>%@`~]"
    r"[^\n: ]*+(?:(?::(?=[^ \n])| (?=[^ #\n]))[^\n: ]*+)*+"
)
#: The same without a double quote or a backslash anywhere (nothing to escape in JSON).
_TEXT_PLAIN_PURE = _TEXT_PLAIN.replace(r"[^\n: ]*+", r"[^\n: \"\\]*+")


def _slot(first: int) -> str:
    """The pattern of a value slot whose three groups are numbered from ``first``: ``: `` then a single-quoted
    scalar without ``''`` (group ``first`` the quote), a double-quoted one without escapes (group
    ``first + 1``), either possibly folded over more lines, or a text plain scalar, to the end of a line;
    group ``first + 2`` is the value. The quote groups are optional, not empty, because an empty group
    would count as matched in the conditionals; possessive runs (Python 3.11) keep the engine from trying
    shorter matches that cannot end the line (the same matches, about twice as fast)."""
    q1, q2 = first, first + 1
    return (rf": (?:(')|(\"))?((?({q1})[^']*+|(?({q2})[^\"\\]*+|{_TEXT_PLAIN})))(?({q1})')(?({q2})\")$")


#: Every value slot of an item: ``re.split`` yields shape, quote, quote, value, shape, ...
_SLOTS = re.compile(_slot(1), re.M)
_STRIDE = 4
#: What a value needs escaped between JSON's double quotes (``block_yaml.usual`` leaves no control character
#: but the line breaks a folded quoted scalar keeps).
_ESCAPE = ("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n")
#: The placeholder put in each value's place to read a shape: a private-use character and the slot's number.
_MARK = "\ue000"
_PLACED = re.compile('"' + _MARK + r"([0-9]+)\"")
_MAX_SHAPES = 4096  # templates (and shapes seen once) kept; the cache starts afresh past it
_RECENT = 4  # templates tried whole on each item before the shape is looked up
_MATCH_AFTER = 3  # a template gets its own pattern when it has served this many items
_MAX_PATTERNS = 256  # shapes given their own pattern per file (each costs a compile, about a millisecond)
#: The line end before the next ``- `` item (a column-0 ``-`` then a space, a line end or the end).
_NEXT_ITEM = re.compile(r"\n-(?=[ \n]|\Z)")


class _Template:
    __slots__ = ("doc", "fmt", "pick", "shape", "columns", "uses", "match", "quotes", "folds", "escapes", "build")

    def __init__(self, doc: str, fmt: str, order: list[int], shape: tuple[str, ...], columns: list[int]) -> None:
        self.doc = doc  # the item's JSON with the placeholder of each value
        self.fmt = fmt  # the same with '"%s"' for each value, '%' doubled elsewhere
        if len(order) > 1:
            self.pick: Any = itemgetter(*order)
        elif order:
            k = order[0]
            self.pick = lambda values: (values[k],)
        else:
            self.pick = lambda values: ()
        self.shape = shape
        self.columns = columns  # each slot's key column (a quoted value's more lines are indented past it)
        self.uses = 0
        self.match: Any = None  # the shape's own pattern's match, once it is compiled
        self.quotes: list[str] = []  # the quote of each slot in that pattern
        self.folds: list[int] = []  # the slots where it takes a quoted value over more lines
        self.escapes = False  # whether it takes values with a quote or a backslash
        self.build: Any = None  # the caller's builder of the shape's items from their values, once compiled

    def compile(self, parts: list[str]) -> None:
        """The shape as one pattern, for items quoted as ``parts`` (a split item of the shape) is: its
        text, and between each two pieces a slot for a text value quoted the same way, then the start of
        the next item or the end. An item it matches is this shape with text scalars in the slots, whatever
        the split would make of it, so the template holds for it: the template is the line parser's reading
        with a text scalar in each slot. (No slot takes an item start: a value over more lines whose line
        starts at column 0 is refused by :func:`_fold`, as by the line parser.) One group per slot and no
        alternatives: the engine saves no group marks while it matches."""
        values = parts[_STRIDE - 1 :: _STRIDE]
        # values with a quote or a backslash need escaping in JSON: when none of this item's has one, the
        # pattern takes none (an item with one takes the split), and the JSON needs no escaping pass
        self.escapes = any('"' in v or "\\" in v for v in values)
        plain, other = (_TEXT_PLAIN, "") if self.escapes else (_TEXT_PLAIN_PURE, '"\\\\')
        pieces = [re.escape(self.shape[0])]
        for k, piece in enumerate(self.shape[1:]):
            quote = _quote(parts, k)
            self.quotes.append(quote)
            if quote:  # over more lines only where this item's value is (a node's long annotation)
                line_end = "" if "\n" in values[k] else "\\n"
                if not line_end:
                    self.folds.append(k)
                pattern = f"[^{line_end}'{other}]*+" if quote == "'" else f'[^{line_end}"\\\\]*+'
                pieces.append(f": {quote}({pattern}){quote}")
            else:
                pieces.append(f": ({plain})$")
            pieces.append(re.escape(piece))
        pieces.append(r"(?=-(?:[ \n]|\Z)|\Z)")  # the next item, or the end
        self.match = re.compile("".join(pieces), re.M).match


_REFUSED: Any = object()  # a shape the line parser's reading could not turn into a template


#: A caller's builder of typed objects: given a shape's JSON, in which value slot ``k`` is the string
#: ``placeholders``' key of ``k``, it answers a function that makes the object of an item of that shape
#: from its values (the text of each slot, in order), or None to have the shape's items as JSON.
Builder = Callable[[str, dict[str, int]], Callable[[Sequence[str]], Any] | None]


class ItemTemplates:
    """Turns the text of kubectl-style ``- `` List items into JSON, one template per shape, or with a
    ``builder`` straight into the caller's objects.

    One instance serves one file (its caches are the file's shapes). :meth:`read_block` answers None for
    an item it does not convert; the caller then reads that item with the line parser.

    With a ``builder`` (:data:`Builder`), each shape given its own pattern is also handed to it, once:
    the items of a shape it builds are that function's objects, made from their values without any
    JSON (``kube_json.item_builder`` builds typed structs: the shape's JSON is type-checked once, with
    placeholders, and only the values change from item to item). Every value is text, wherever it
    is: a placeholder in its place is checked as any value would be.
    """

    def __init__(self, builder: Builder | None = None) -> None:
        self._builder = builder
        self._templates: dict[tuple[str, ...], Any] = {}
        self._seen: set[tuple[str, ...]] = set()
        self._recent: list[_Template] = []  # the templates that served the last items, the most used first
        self._patterns = 0  # the shapes given their own pattern so far
        # the line parser's caches for reading shapes (immutable values only, as block_yaml keeps them)
        self._keys: dict[str, Any] = {}
        self._plains: dict[str, Any] = {}
        self._known: dict[str, Any] = {}

    def read_block(self, block: str) -> tuple[list[int], list[Any]]:
        """Where each ``- `` item of ``block`` starts, and what it reads as: the builder's object, its JSON
        or None (``block``: whole items, the first at 0, as ``kube_list`` cuts them; it passed
        ``block_yaml.usual``).

        An item of the shape of one of the last items is matched by that shape's pattern where it starts,
        and ends where the pattern does (the next item starts there); any other item is cut at the next
        ``- `` line and split into its shape and values (:meth:`read_item`).
        """
        starts: list[int] = []
        items: list[Any] = []
        recent = self._recent
        pos, end = 0, len(block)
        while pos < end:
            starts.append(pos)
            for k, template in enumerate(recent):  # the common case: the shape of one of the last items
                if template.match is not None:
                    found = template.match(block, pos)
                    if found is not None:
                        if k:  # one place up: the most used shapes come first
                            recent[k - 1], recent[k] = template, recent[k - 1]
                        stop = found.end()
                        if template.build is not None and not template.folds:
                            items.append(template.build(found.groups()))
                        elif template.folds or template.escapes:
                            items.append(_fill(template, found.groups(), template.quotes.__getitem__))
                        else:
                            items.append(template.fmt % template.pick(found.groups()))
                        break
            else:
                after = _NEXT_ITEM.search(block, pos)
                stop = after.start() + 1 if after is not None else end
                items.append(self.read_item(block[pos:stop]))
            pos = stop
        return starts, items

    def read_item(self, text: str) -> Any:
        """The builder's object or the JSON of the one ``- `` item ``text`` (starting at its ``-`` line,
        without or with its final line end; its block passed ``block_yaml.usual``), or None."""
        parts = _SLOTS.split(text)
        shape = tuple(parts[0::_STRIDE])
        template = self._templates.get(shape)
        if template is None:
            if shape not in self._seen:  # a shape seen once is read by the line parser
                if len(self._seen) >= _MAX_SHAPES:
                    self._seen.clear()
                self._seen.add(shape)
                return None
            template = self._template(parts, shape)
            if len(self._templates) >= _MAX_SHAPES:
                self._templates.clear()
            self._templates[shape] = template
        if template is _REFUSED:
            return None
        template.uses += 1
        if template.uses == _MATCH_AFTER and self._patterns < _MAX_PATTERNS:
            self._patterns += 1
            template.compile(parts)
            if self._builder is not None:
                template.build = self._builder(template.doc, _placeholders(len(template.columns)))
        recent = self._recent
        if template in recent:
            recent.remove(template)
        recent.insert(0, template)
        del recent[_RECENT:]
        return _fill(template, parts[_STRIDE - 1 :: _STRIDE], functools.partial(_quote, parts))

    def _template(self, parts: list[str], shape: tuple[str, ...]) -> Any:
        """The template of ``parts``' shape: the line parser's reading of it with placeholders, as JSON."""
        slots = len(parts) // _STRIDE
        pieces = [parts[0]]
        for k in range(slots):
            pieces.append(f": {_MARK}{k}")
            pieces.append(parts[_STRIDE * (k + 1)])
        text = "".join(pieces)
        if text.count(_MARK) != slots:  # the item's own text holds the placeholder character
            return _REFUSED
        lines = text.split("\n")
        try:
            value, end = _item(lines, 0, len(lines), self._keys, self._plains, self._known)
            if end != len(lines) or not _text_keys(value):
                return _REFUSED
            doc = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        except (NotKubectlYaml, LookupError, TypeError, ValueError, RecursionError):  # as iter_items catches
            return _REFUSED
        order: list[int] = []
        segments: list[str] = []
        pos = 0
        for match in _PLACED.finditer(doc):
            segments.append(doc[pos : match.start()].replace("%", "%%"))
            order.append(int(match.group(1)))
            pos = match.end()
        segments.append(doc[pos:].replace("%", "%%"))
        if doc.count(_MARK) != len(order):  # a placeholder inside a longer string: not a value of its own
            return _REFUSED
        columns = []
        for piece in parts[0::_STRIDE][:slots]:  # the line of each slot's key, up to the key's end
            line = piece[piece.rfind("\n") + 1 :]
            rest = line.lstrip(" ")
            if rest[:1] == "-" and rest[1:2] in ("", " "):  # "- key": the key's column (block_yaml._item's)
                rest = rest[2:].lstrip(" ")
            columns.append(len(line) - len(rest))
        return _Template(doc, '"%s"'.join(segments), order, shape, columns)


def _quote(parts: list[str], k: int) -> str:
    """The quote of slot ``k`` of a split item: ``'``, ``"`` or none."""
    return parts[_STRIDE * k + 1] or parts[_STRIDE * k + 2] or ""


def _fill(template: _Template, values: Any, quote: Callable[[int], str]) -> Any:
    """The template's builder's object of the item's ``values`` (the text of each slot; a quoted one folded
    as the line parser folds it), or its JSON with them (escaped for JSON), or None when a folded value
    is not the line parser's. ``quote(k)`` is slot ``k``'s quote."""
    joined = "\0".join(values)  # one pass over all the values, in C
    if "\n" in joined:  # a quoted scalar over several lines
        values = list(values)
        for k, value in enumerate(values):
            if "\n" in value:
                folded = _fold(value, quote(k), template.columns[k])
                if folded is None:
                    return None
                values[k] = folded
        if template.build is not None:
            return template.build(values)
        joined = "\0".join(values)
    elif template.build is not None:
        return template.build(values)
    elif '"' not in joined and "\\" not in joined:
        return template.fmt % template.pick(values)
    for old, new in _ESCAPE:
        joined = joined.replace(old, new)
    return template.fmt % template.pick(joined.split("\0"))


def _placeholders(slots: int) -> dict[str, int]:
    """Each value slot's placeholder in a template's JSON (``"\\ue000"`` and the slot's number), and the slot."""
    return {f"{_MARK}{k}": k for k in range(slots)}


def _fold(value: str, quote: str, column: int) -> str | None:
    """A quoted scalar's value that goes on over more lines, read as the line parser reads it (its key at
    ``column``), or None when the line parser refuses it (a line at or left of the key's column...)."""
    if " \n" not in value and _folded_once(column).fullmatch(value):
        # the usual case: no blank line, no space before a break, each further line indented past the
        # key: every line break and the next line's indentation is one space (block_yaml._quoted_lines)
        return _FOLD.sub(" ", value)
    lines = f"{quote}{value}{quote}".split("\n")
    try:
        folded, end = _quoted_lines(lines[0], lines, 1, column)
    except NotKubectlYaml:
        return None
    return folded if end == len(lines) else None


@functools.lru_cache(maxsize=64)
def _folded_once(column: int) -> re.Pattern[str]:
    """A value over several lines, none blank, each further line indented past ``column``."""
    return re.compile(rf"[^\n]*+(?:\n {{{column + 1},}}+[^ \n][^\n]*+)++")


_FOLD = re.compile(r"\n +")


def _text_keys(value: Any) -> bool:
    """Whether every mapping key in ``value`` is text (JSON would turn ``1:`` or ``true:`` into text)."""
    if value.__class__ is dict:
        return all(key.__class__ is str and _text_keys(v) for key, v in value.items())
    if value.__class__ is list:
        return all(_text_keys(v) for v in value)
    return True
