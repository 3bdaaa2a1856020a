"""The @array domain of the pipe function catalog (JavaScript semantics).

Functions act like the `Array.prototype` methods they are named for, mutating the array in place
where JavaScript does (push, pop, shift, unshift, reverse, sort, splice). Read-only ones (get,
length, concat, indexOf, lastIndexOf, slice) also accept strings, as JavaScript's same-named
string methods do, counting UTF-16 code units. Calling a method a value does not have (null.pop)
raises PipeEvaluationError, as JavaScript throws a TypeError.

As in HotMesh, optional parameters are always passed on, even when the pipe left them out:
`lastIndexOf(arr, x)` searches from index 0 (JavaScript treats an explicit `undefined` fromIndex as
0) and `splice(arr, start)` deletes nothing. Pass the count explicitly to get the other behaviour.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable
from functools import cmp_to_key

from hotmesh_actors.core.pipe.jsvalues import (
    UNDEFINED,
    JSValue,
    from_utf16_units,
    get_property,
    is_nullish,
    js_gt,
    js_lt,
    strict_equals,
    to_integer_or_infinity,
    to_number,
    to_string,
    truthy,
    type_error,
    utf16_units,
)


def _require_array(value: JSValue, method: str) -> list[JSValue]:
    if not isinstance(value, list):
        raise type_error(f"{method} needs an array, got {to_string(value)!r}")
    return value


def _code_units(text: str) -> str:
    """The string re-spelled one Python character per UTF-16 code unit, for JS-style indexing."""
    return "".join(utf16_units(text))


def _from_code_units(units: str) -> str:
    return from_utf16_units(list(units))


def _relative_index(value: JSValue, length: int, default: int) -> int:
    """Resolve a slice/splice position: negative counts from the end, clamped to [0, length]."""
    if value is UNDEFINED:
        return default
    position = to_integer_or_infinity(value)
    if position < 0:
        return int(max(length + position, 0))
    return int(min(position, length))


def get(array: JSValue = UNDEFINED, index: JSValue = UNDEFINED, *_rest: JSValue) -> JSValue:
    """`array?.[index || 0]`: the element at index (default 0); undefined when array is null.

    Example: [['red', 'green'], 1] → 'green'
    """
    if is_nullish(array):
        return UNDEFINED
    return get_property(array, index if truthy(index) else 0)


def length(array: JSValue = UNDEFINED, *_rest: JSValue) -> JSValue:
    """`array?.length`: element count (UTF-16 units for strings); undefined for null.

    Example: [['a', 'b', 'c']] → 3
    """
    if is_nullish(array):
        return UNDEFINED
    return get_property(array, "length")


def concat(first: JSValue = UNDEFINED, second: JSValue = UNDEFINED, *_rest: JSValue) -> JSValue:
    """`first.concat(second)`: a new array (an array second is spread, anything else appended).

    Example: [[1, 2], [3, 4]] → [1, 2, 3, 4]
    """
    if isinstance(first, str):
        return first + to_string(second)
    items = _require_array(first, "@array.concat")
    return [*items, *second] if isinstance(second, list) else [*items, second]


def index_of(
    array: JSValue = UNDEFINED,
    search: JSValue = UNDEFINED,
    from_index: JSValue = UNDEFINED,
    *_rest: JSValue,
) -> int:
    """`array.indexOf(search, fromIndex)`: first position holding search (===), else -1.

    Example: [['red', 'green', 'blue'], 'green'] → 1
    """
    if isinstance(array, str):
        units = _code_units(array)
        start = int(min(max(to_integer_or_infinity(from_index), 0), len(units)))
        return units.find(_code_units(to_string(search)), start)
    items = _require_array(array, "@array.indexOf")
    offset = to_integer_or_infinity(from_index)
    if offset >= len(items):
        return -1
    first = int(offset) if offset >= 0 else int(max(len(items) + offset, 0))
    for position in range(first, len(items)):
        if strict_equals(items[position], search):
            return position
    return -1


def last_index_of(
    array: JSValue = UNDEFINED,
    search: JSValue = UNDEFINED,
    from_index: JSValue = UNDEFINED,
    *_rest: JSValue,
) -> int:
    """`array.lastIndexOf(search, fromIndex)`: last position ≤ fromIndex holding search, else -1.

    For arrays, like HotMesh, a missing fromIndex reaches JavaScript as undefined, i.e. 0.
    Example: [['a', 'b', 'a'], 'a', 2] → 2
    """
    if isinstance(array, str):
        units = _code_units(array)
        needle = _code_units(to_string(search))
        number = to_number(from_index)
        position = math.inf if math.isnan(number) else to_integer_or_infinity(number)  # NaN → search all
        start = int(min(max(position, 0), len(units)))
        return units.rfind(needle, 0, start + len(needle))
    items = _require_array(array, "@array.lastIndexOf")
    if not items:
        return -1
    offset = to_integer_or_infinity(from_index)
    last = min(offset, len(items) - 1) if offset >= 0 else len(items) + offset
    if last < 0:
        return -1
    for position in range(int(last), -1, -1):
        if strict_equals(items[position], search):
            return position
    return -1


def join(array: JSValue = UNDEFINED, separator: JSValue = UNDEFINED, *_rest: JSValue) -> str:
    """`array.join(separator)`: elements as strings (null/undefined → ''), ',' by default.

    Example: [['a', 'b', 'c'], ' '] → 'a b c'
    """
    items = _require_array(array, "@array.join")
    glue = "," if separator is UNDEFINED else to_string(separator)
    return glue.join("" if is_nullish(item) else to_string(item) for item in items)


def pop(array: JSValue = UNDEFINED, *_rest: JSValue) -> JSValue:
    """`array.pop()`: remove and return the last element (undefined when empty).

    Example: [[1, 2, 3]] → 3
    """
    items = _require_array(array, "@array.pop")
    return items.pop() if items else UNDEFINED


def push(array: JSValue = UNDEFINED, *items: JSValue) -> list[JSValue]:
    """`array.push(...items)`, returning the (mutated) array rather than its new length.

    Example: [[1, 2], 3] → [1, 2, 3]
    """
    target = _require_array(array, "@array.push")
    target.extend(items)
    return target


def reverse(array: JSValue = UNDEFINED, *_rest: JSValue) -> list[JSValue]:
    """`array.reverse()`: reverse in place and return the array.

    Example: [[1, 2, 3]] → [3, 2, 1]
    """
    target = _require_array(array, "@array.reverse")
    target.reverse()
    return target


def shift(array: JSValue = UNDEFINED, *_rest: JSValue) -> JSValue:
    """`array.shift()`: remove and return the first element (undefined when empty).

    Example: [[1, 2, 3]] → 1
    """
    items = _require_array(array, "@array.shift")
    return items.pop(0) if items else UNDEFINED


def slice_(
    array: JSValue = UNDEFINED, start: JSValue = UNDEFINED, end: JSValue = UNDEFINED, *_rest: JSValue
) -> JSValue:
    """`array.slice(start, end)`: a copy of [start, end), negatives counting from the end.

    Example: [[1, 2, 3, 4, 5], 1, 3] → [2, 3]
    """
    if isinstance(array, str):
        units = _code_units(array)
        first = _relative_index(start, len(units), 0)
        return _from_code_units(units[first : max(first, _relative_index(end, len(units), len(units)))])
    items = _require_array(array, "@array.slice")
    first = _relative_index(start, len(items), 0)
    return items[first : max(first, _relative_index(end, len(items), len(items)))]


# ICU's root collation order of the ASCII characters that are neither letters nor digits
# (what `localeCompare` uses in Node); everything of this kind sorts before digits and letters.
_ICU_ASCII_SYMBOLS = "\t\n\x0b\x0c\r _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$"
_SYMBOL_RANK = {char: rank for rank, char in enumerate(_ICU_ASCII_SYMBOLS)}
# Secondary (accent) order of the combining marks U+0300–U+036F in ICU: acute before grave, …
_ACCENT_ORDER = """
34f 332 313 343 314 301 341 300 340 306 302 30c 30a 342 308 344 30b 303 307 338 327 328 304 30d
30e 312 315 31a 33d 33e 33f 346 34a 34b 34c 350 351 352 357 35b 35d 35e 316 317 318 319 31c 31d
31e 31f 320 329 32a 32b 32c 32f 333 33a 33b 33c 347 348 349 34d 34e 353 354 355 356 359 35a 35c
35f 362 336 337 335 305 309 30f 310 311 31b 321 322 323 324 325 326 32d 32e 330 331 334 339 345
358 360 361 363 368 369 364 36a 365 36b 366 36c 36d 367 36e 36f
""".split()
_ACCENT_RANK = {chr(int(code, 16)): rank + 1 for rank, code in enumerate(_ACCENT_ORDER)}
_LETTER_VARIANT = 0x110000  # a secondary weight above every combining mark: æ after aé, ø after ö
# Latin letters ICU sorts as base letters plus a secondary difference after the first one
# (ß is 'ss' with a variant mark, so strasse < Strasse < straße): (letters, secondary, tertiary).
_LATIN_SPECIALS: dict[str, tuple[str, int, int]] = {
    "ß": ("ss", _LETTER_VARIANT, 0),
    "ẞ": ("ss", _LETTER_VARIANT, 1),
    "æ": ("ae", _LETTER_VARIANT, 0),
    "Æ": ("ae", _LETTER_VARIANT, 1),
    "œ": ("oe", _LETTER_VARIANT, 0),
    "Œ": ("oe", _LETTER_VARIANT, 1),
    "ø": ("o", _LETTER_VARIANT, 0),
    "Ø": ("o", _LETTER_VARIANT, 1),
    "ł": ("l", _LETTER_VARIANT, 0),
    "Ł": ("l", _LETTER_VARIANT, 1),
    "đ": ("d", _LETTER_VARIANT, 0),
    "Đ": ("d", _LETTER_VARIANT, 1),
    "ð": ("d", _LETTER_VARIANT + 1, 0),
    "Ð": ("d", _LETTER_VARIANT + 1, 1),
}

CollationKey = tuple[tuple[tuple[int, int], ...], tuple[int, ...], tuple[int, ...]]


def _collation_key(text: str) -> CollationKey:
    """An approximation of ICU root collation, enough for typical words, numbers and names.

    Level 1 compares base characters (symbols < digits < letters, case and accents ignored),
    level 2 accents (unaccented first), level 3 case (lowercase first), as `localeCompare` does.
    """
    primary: list[tuple[int, int]] = []
    secondary: list[int] = []
    tertiary: list[int] = []
    for char in unicodedata.normalize("NFD", text):
        if unicodedata.combining(char):
            secondary.append(_ACCENT_RANK.get(char, 0x10000 + ord(char)))
            continue
        special = _LATIN_SPECIALS.get(char)
        if special is not None:
            letters, accent, case = special
            primary.extend((3, ord(letter)) for letter in letters)
            secondary.extend([0, accent] + [0] * (len(letters) - 1))
            tertiary.extend([case] * len(letters))
            continue
        category = unicodedata.category(char)
        if char in _SYMBOL_RANK:
            primary.append((0, _SYMBOL_RANK[char]))
        elif category == "Cc":
            continue  # other control characters are ignorable
        elif category[0] in "PSZ":
            primary.append((1, ord(char)))
        elif category == "Nd":
            primary.append((2, unicodedata.digit(char)))
        else:
            primary.append((3, ord(char.lower())))
        secondary.append(0)
        tertiary.append(1 if char != char.lower() else 0)
    return tuple(primary), tuple(secondary), tuple(tertiary)


def locale_compare(left: str, right: str) -> int:
    """`left.localeCompare(right)` in the default (root/en) collation: -1, 0 or 1."""
    left_key, right_key = _collation_key(left), _collation_key(right)
    return -1 if left_key < right_key else (1 if left_key > right_key else 0)


def _sort_order(ascending: bool) -> Callable[[JSValue, JSValue], int]:
    """HotMesh's comparator: nulls first ascending (last descending), strings by locale."""

    def compare(a: JSValue, b: JSValue) -> int:
        if strict_equals(a, b):
            return 0
        if a is None:
            return -1 if ascending else 1
        if b is None:
            return 1 if ascending else -1
        if isinstance(a, str) and isinstance(b, str):
            return locale_compare(a, b) if ascending else locale_compare(b, a)
        if ascending:
            return -1 if js_lt(a, b) else 1
        return -1 if js_gt(a, b) else 1

    return compare


def sort(array: JSValue = UNDEFINED, order: JSValue = UNDEFINED, *_rest: JSValue) -> list[JSValue]:
    """`array.sort(…)` in place: 'ASCENDING' (default) or any other order value for descending.

    Nulls sort first ascending and last descending; undefined always goes last (JS sort never
    hands undefined to the comparator); two strings compare with localeCompare.
    Example: [[3, null, 1, 2]] → [null, 1, 2, 3]
    """
    target = _require_array(array, "@array.sort")
    ascending = order is UNDEFINED or order == "ASCENDING"
    defined = [item for item in target if item is not UNDEFINED]
    # Python's list.sort is the TimSort that V8 ported, so even an inconsistent comparator
    # (mixed types, NaN) visits elements in the same order and yields JavaScript's result.
    defined.sort(key=cmp_to_key(_sort_order(ascending)))
    target[:] = defined + [UNDEFINED] * (len(target) - len(defined))
    return target


def splice(
    array: JSValue = UNDEFINED,
    start: JSValue = UNDEFINED,
    delete_count: JSValue = UNDEFINED,
    *items: JSValue,
) -> list[JSValue]:
    """`array.splice(start, deleteCount, ...items)`: remove and insert in place; returns removed.

    Like HotMesh, a missing deleteCount counts as 0 (JavaScript's explicit undefined).
    Example: [[1, 2, 3, 4], 1, 2, 'x'] → [2, 3]
    """
    target = _require_array(array, "@array.splice")
    first = _relative_index(start, len(target), 0)
    count = int(min(max(to_integer_or_infinity(delete_count), 0), len(target) - first))
    removed = target[first : first + count]
    target[first : first + count] = items
    return removed


def unshift(array: JSValue = UNDEFINED, *items: JSValue) -> int:
    """`array.unshift(...items)`: insert at the front; returns the new length.

    Example: [[1, 2], 0] → 3
    """
    target = _require_array(array, "@array.unshift")
    target[:0] = items
    return len(target)


FUNCTIONS: dict[str, Callable[..., JSValue]] = {
    "get": get,
    "length": length,
    "concat": concat,
    "indexOf": index_of,
    "lastIndexOf": last_index_of,
    "join": join,
    "pop": pop,
    "push": push,
    "reverse": reverse,
    "shift": shift,
    "slice": slice_,
    "sort": sort,
    "splice": splice,
    "unshift": unshift,
}
