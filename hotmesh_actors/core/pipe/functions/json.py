"""The @json domain of the pipe function catalog (JavaScript semantics).

`stringify` writes exactly the text `JSON.stringify` writes: no spaces unless a `space` is given,
object keys in JS order, `undefined` members dropped (and written `null` inside arrays), NaN and
±Infinity as `null`, numbers spelled by JS rules, dates through `toJSON`. Functions cannot occur in
pipe values, so a function `replacer` is impossible; an array replacer (a key allow-list) works.
`parse` accepts only strict JSON (what `JSON.parse` accepts) and raises on anything else.
"""

from __future__ import annotations

import json as _pyjson
import math
from collections.abc import Callable

from hotmesh_actors.core.pipe.functions._jsops import (
    from_units,
    js_error,
    own_keys,
    to_integer_or_infinity,
    to_units,
)
from hotmesh_actors.core.pipe.functions.date import JSDate
from hotmesh_actors.core.pipe.jsvalues import UNDEFINED, JSValue, is_number, number_to_string, to_string

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote(text: str) -> str:
    """JSON.stringify's QuoteJSONString: escapes quotes, controls and lone surrogates only."""
    units = to_units(text)
    pieces = ['"']
    index = 0
    while index < len(units):
        char = units[index]
        code = ord(char)
        following = ord(units[index + 1]) if index + 1 < len(units) else 0
        if char in _ESCAPES:
            pieces.append(_ESCAPES[char])
        elif code < 0x20:
            pieces.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDBFF and 0xDC00 <= following <= 0xDFFF:
            pieces.append(char + units[index + 1])
            index += 1
        elif 0xD800 <= code <= 0xDFFF:
            pieces.append(f"\\u{code:04x}")  # a lone surrogate is written as an escape
        else:
            pieces.append(char)
        index += 1
    pieces.append('"')
    return from_units("".join(pieces))


class _Writer:
    """SerializeJSONProperty and friends, with the gap/indent state of one stringify call."""

    def __init__(self, gap: str, allowed: list[str] | None) -> None:
        self.gap = gap
        self.allowed = allowed
        self.stack: list[int] = []

    def value(self, value: JSValue, indent: str) -> str | None:
        if isinstance(value, JSDate):
            value = value.to_json()
        if value is None:
            return "null"
        if value is True:
            return "true"
        if value is False:
            return "false"
        if isinstance(value, str):
            return quote(value)
        if is_number(value):
            return number_to_string(value) if math.isfinite(value) else "null"
        if isinstance(value, list):
            return self.array(value, indent)
        if isinstance(value, dict):
            return self.object(value, indent)
        return None  # undefined (and anything JSON cannot show) is skipped

    def _enter(self, container: list[JSValue] | dict[str, JSValue]) -> None:
        if id(container) in self.stack:
            raise js_error("TypeError", "Converting circular structure to JSON")
        self.stack.append(id(container))

    def _wrap(self, open_: str, close: str, parts: list[str], indent: str, inner: str) -> str:
        if not parts:
            return open_ + close
        if not self.gap:
            return open_ + ",".join(parts) + close
        separator = ",\n" + inner
        return f"{open_}\n{inner}{separator.join(parts)}\n{indent}{close}"

    def array(self, items: list[JSValue], indent: str) -> str:
        self._enter(items)
        inner = indent + self.gap
        parts = [self.value(item, inner) or "null" for item in items]
        self.stack.pop()
        return self._wrap("[", "]", parts, indent, inner)

    def object(self, obj: dict[str, JSValue], indent: str) -> str:
        self._enter(obj)
        inner = indent + self.gap
        colon = ": " if self.gap else ":"
        names = self.allowed if self.allowed is not None else own_keys(obj)
        parts = []
        for key in names:
            if key not in obj:
                continue
            text = self.value(obj[key], inner)
            if text is not None:
                parts.append(quote(key) + colon + text)
        self.stack.pop()
        return self._wrap("{", "}", parts, indent, inner)


def _gap(space: JSValue) -> str:
    if is_number(space):
        width = to_integer_or_infinity(space)
        return " " * int(min(10, width)) if width >= 1 else ""
    if isinstance(space, str):
        return space[:10]
    return ""


def _allow_list(replacer: JSValue) -> list[str] | None:
    if not isinstance(replacer, list):
        return None
    names: list[str] = []
    for item in replacer:
        if isinstance(item, str) or is_number(item):
            name = item if isinstance(item, str) else to_string(item)
            if name not in names:
                names.append(name)
    return names


def stringify(value: JSValue, replacer: JSValue = UNDEFINED, space: JSValue = UNDEFINED) -> JSValue:
    """The JSON text of a value, exactly as `JSON.stringify(value, replacer, space)` writes it.

    Example: [{'a': [1, None]}, None, 2] → '{\\n  "a": [\\n    1,\\n    null\\n  ]\\n}'
    """
    written = _Writer(_gap(space), _allow_list(replacer)).value(value, "")
    return UNDEFINED if written is None else written


def _reject_constant(name: str) -> JSValue:
    raise ValueError(f"Unexpected token '{name}' (not JSON)")


def _parse_int(text: str) -> int | float:
    number = int(text)
    if number == 0 and text.startswith("-"):
        return -0.0
    return number if abs(number) < 2**53 else float(text)


def _parse_float(text: str) -> float | int:
    number = float(text)
    if number.is_integer() and abs(number) < 2**53 and not (number == 0 and text.startswith("-")):
        return int(number)
    return number


def parse(text: JSValue, reviver: JSValue = UNDEFINED) -> JSValue:
    """The value a JSON text stands for (`JSON.parse(String(text))`); raises on malformed text.

    Example: ['{"a":[1,2]}'] → {'a': [1, 2]}
    """
    source = text if isinstance(text, str) else to_string(text)
    try:
        return _pyjson.loads(
            source,
            parse_constant=_reject_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
        )
    except (ValueError, RecursionError) as error:
        raise js_error("SyntaxError", f"@json.parse: {error}") from error


FUNCTIONS: dict[str, Callable[..., JSValue]] = {
    "stringify": stringify,
    "parse": parse,
}
