"""Numbers in YAML and JSON input, bounded: the project's own answer to a 5,000-digit integer.

Python refuses to convert integer text longer than 4,300 digits (``sys.set_int_max_str_digits``,
a guard against quadratic conversion) with a message meant for programmers. No number migctl
reads is anywhere near that long, so every reader goes through these guards and a long number is
refused as input with a sentence an admin understands:

- :data:`Loader`: the safe YAML loader (libyaml when present) whose ``int`` constructor refuses
  more than :data:`MAX_DIGITS` digits with a ``yaml.constructor.ConstructorError`` at the value;
- :func:`loads_json`: ``json.loads`` that does the same (``NumberTooLong``, a ``ValueError``);
- :func:`check_digits`: the test itself, for command-line arguments and annotation values.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError

#: The most digits an integer in any input may have (Python itself stops at 4,300).
MAX_DIGITS = 1000

__all__ = ["MAX_DIGITS", "NumberTooLong", "check_digits", "too_long", "loads_int", "loads_json", "Loader", "shorten"]


class NumberTooLong(ValueError):
    """An integer with more than :data:`MAX_DIGITS` digits."""


def too_long(text: str) -> bool:
    """Whether ``text`` (an integer's text) has more digits than migctl reads."""
    return len(text) > MAX_DIGITS and sum(c.isdigit() for c in text) > MAX_DIGITS


def shorten(text: object, limit: int = 40) -> str:
    """``repr`` of ``text`` cut to ``limit`` characters (``'9999…' (5000 characters)``), for messages."""
    value = str(text)
    if len(value) <= limit:
        return repr(value) if isinstance(text, str) else value
    return f"{value[:limit]!r}... ({len(value)} characters)"


def check_digits(text: str, what: str = "number") -> str:
    """``text`` itself, or :class:`NumberTooLong` naming ``what`` when it is an absurdly long number."""
    if too_long(text):
        raise NumberTooLong(f"{what}: a number of {len(text)} characters is too long (at most {MAX_DIGITS} digits)")
    return text


def loads_int(text: str) -> int:
    """A JSON integer (``parse_int`` of the ``json`` module) with long ones refused."""
    check_digits(text)
    return int(text)


#: A run of more digits than an integer may have: text without one holds no integer that is too long.
_LONG_RUN = re.compile(rf"[0-9]{{{MAX_DIGITS + 1}}}")


def loads_json(text: str | bytes, **kwargs: Any) -> Any:
    """``json.loads`` with long integers refused (:class:`NumberTooLong`, a ``ValueError``).

    Text with no run of more than :data:`MAX_DIGITS` digits cannot hold a long integer, so it is decoded
    with the C scanner's own integers (calling :func:`loads_int` per number costs as much as the decoding).
    """
    if len(text) <= MAX_DIGITS or (isinstance(text, str) and _LONG_RUN.search(text) is None):
        return json.loads(text, **kwargs)
    return json.loads(text, parse_int=loads_int, **kwargs)


_BASE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SAFE_INT = yaml.SafeLoader.yaml_constructors["tag:yaml.org,2002:int"]


class Loader(_BASE):  # type: ignore[misc,valid-type]
    """The safe loader (libyaml's when built with it) refusing integers of more than :data:`MAX_DIGITS` digits."""


def _construct_int(loader: Any, node: Any) -> int:
    if too_long(node.value):
        raise ConstructorError(None, None, f"a number of {len(node.value)} characters is too long "
                               f"(at most {MAX_DIGITS} digits)", node.start_mark)
    return _SAFE_INT(loader, node)


Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
