"""JavaScript abstract operations shared by the string, object, json and date catalog domains.

These complement :mod:`hotmesh_actors.core.pipe.jsvalues` with the pieces only some domains need:
integer coercions, UTF-16 code-unit views of strings, and the property-key order of JS objects.
"""

from __future__ import annotations

import array
import re
from typing import Final

from hotmesh_actors.core.pipe.jsvalues import JS_WHITESPACE as JS_WHITESPACE  # re-exported for the domains
from hotmesh_actors.core.pipe.jsvalues import JSValue
from hotmesh_actors.core.pipe.jsvalues import to_integer_or_infinity as to_integer_or_infinity
from hotmesh_actors.errors import PipeEvaluationError

MAX_STRING_LENGTH: Final = 2**29 - 24
"""V8's longest string; building a longer one is a RangeError in JavaScript."""


_ARRAY_INDEX = re.compile(r"^(?:0|[1-9][0-9]*)$")


def js_error(kind: str, message: str) -> PipeEvaluationError:
    """An evaluation error that names the JavaScript error class it stands for (TypeError, …)."""
    return PipeEvaluationError(f"{kind}: {message}")


def to_length(value: JSValue) -> float | int:
    """ToLength: an integer clamped to [0, 2**53 - 1]."""
    length = to_integer_or_infinity(value)
    if length <= 0:
        return 0
    return min(length, 2**53 - 1)


def clamp_index(position: float | int, length: int) -> int:
    """Clamp an integer-or-infinity position into [0, length]."""
    if position <= 0:
        return 0
    if position >= length:
        return length
    return int(position)


def relative_index(position: float | int, length: int) -> int:
    """A slice bound: negative positions count back from the end, then clamp into [0, length]."""
    if position < 0:
        return clamp_index(length + position, length)
    return clamp_index(position, length)


def to_units(text: str) -> str:
    """Re-spell a string so each Python character is one UTF-16 code unit (astral → surrogate pair).

    JavaScript indexes strings by code units; working on this view gives JS indexes and lengths.
    """
    if all(ord(char) < 0x10000 for char in text):
        return text
    units = array.array("H")
    units.frombytes(text.encode("utf-16-le", "surrogatepass"))
    return "".join(map(chr, units))


def from_units(units: str) -> str:
    """Undo :func:`to_units`: rejoin surrogate pairs; lone surrogates stay as they are (as in JS)."""
    if all(not 0xD800 <= ord(char) <= 0xDFFF for char in units):
        return units
    return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def is_array_index(key: str) -> bool:
    """True for canonical array-index keys ('0', '17'), which JS objects list first, ascending."""
    return bool(_ARRAY_INDEX.match(key)) and int(key) < 2**32 - 1


def own_keys(obj: dict[str, JSValue]) -> list[str]:
    """OrdinaryOwnPropertyKeys for a plain object: integer keys ascending, then insertion order."""
    indexes = sorted((key for key in obj if is_array_index(key)), key=int)
    if not indexes:
        return list(obj)
    return indexes + [key for key in obj if not is_array_index(key)]
