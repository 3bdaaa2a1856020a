"""The @string domain of the pipe function catalog (JavaScript semantics).

Indexes, lengths and positions count UTF-16 code units, exactly as JavaScript does: '😀' has
length 2, `charAt('😀', 0)` is a lone high surrogate, and `padStart` may cut a pair in half. We
reproduce this (rather than counting code points) so that graphs give the same answers they gave
under HotMesh; lone surrogates survive JSON round trips as `\\udXXX` escapes in both languages.

Each function receives its operands the way HotMesh calls `input.method(...args)`: a non-string
input is a TypeError, except that arrays answer `includes`, `indexOf`, `lastIndexOf` and `slice`
with the Array methods of the same name (as they do in JavaScript).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from hotmesh_actors.core.pipe.functions._jsops import (
    JS_WHITESPACE,
    MAX_STRING_LENGTH,
    clamp_index,
    from_units,
    js_error,
    relative_index,
    to_integer_or_infinity,
    to_length,
    to_units,
)
from hotmesh_actors.core.pipe.jsvalues import (
    UNDEFINED,
    JSValue,
    is_nullish,
    is_number,
    js_lt,
    strict_equals,
    to_number,
    to_string,
    typeof,
)


def _receiver(method: str, value: JSValue) -> str:
    """The string a method is called on; anything else fails the way `x.method` fails in JS."""
    if isinstance(value, str):
        return value
    if is_nullish(value):
        raise js_error("TypeError", f"Cannot read properties of {to_string(value)} (reading '{method}')")
    raise js_error("TypeError", f"@string.{method} needs a string input, got {typeof(value)}")


def _array_index_of(items: list[JSValue], search: JSValue, start: JSValue) -> int:
    length = len(items)
    position = to_integer_or_infinity(start)
    begin = relative_index(position, length)
    for index in range(begin, length):
        if strict_equals(items[index], search):
            return index
    return -1


def _same_value_zero(left: JSValue, right: JSValue) -> bool:
    if is_number(left) and is_number(right) and math.isnan(left) and math.isnan(right):
        return True
    return strict_equals(left, right)


def split(input: JSValue, delimiter: JSValue = UNDEFINED) -> JSValue:
    """Split a string on a separator string (`s.split(sep)`); '' splits into code units.

    Example: ['a-b', '-'] → ['a', 'b']
    """
    units = to_units(_receiver("split", input))
    if delimiter is UNDEFINED:
        return [input]
    separator = to_units(to_string(delimiter))
    if separator == "":
        return [from_units(unit) for unit in units]
    return [from_units(part) for part in units.split(separator)]


def charAt(input: JSValue, index: JSValue = UNDEFINED) -> JSValue:  # noqa: N802 - JS name
    """The code unit at an index as a one-character string, '' when out of range (`s.charAt(i)`).

    Example: ['Luke', 0] → 'L'
    """
    units = to_units(_receiver("charAt", input))
    position = to_integer_or_infinity(index)
    if 0 <= position < len(units):
        return from_units(units[int(position)])
    return ""


def concat(*strings: JSValue) -> JSValue:
    """Join every operand as a string, null/undefined as '' (`strings.join('')`).

    Example: ['Luke', ' ', 'Birdeau'] → 'Luke Birdeau'
    """
    joined = "".join("" if is_nullish(item) else to_string(item) for item in strings)
    return from_units(joined)  # two halves of a surrogate pair become one character again


def includes(input: JSValue, search: JSValue = UNDEFINED, position: JSValue = UNDEFINED) -> JSValue:
    """True when the substring occurs at or after a position (`s.includes(sub, pos)`).

    Example: ['the quick fox', 'fox'] → True
    """
    if isinstance(input, list):
        begin = relative_index(to_integer_or_infinity(position), len(input))
        return any(_same_value_zero(item, search) for item in input[begin:])
    units = to_units(_receiver("includes", input))
    start = clamp_index(to_integer_or_infinity(position), len(units))
    return units.find(to_units(to_string(search)), start) != -1


def indexOf(input: JSValue, search: JSValue = UNDEFINED, fromIndex: JSValue = UNDEFINED) -> JSValue:  # noqa: N802, N803
    """Code-unit index of the first occurrence at or after fromIndex, else -1 (`s.indexOf`).

    Example: ['Luke Birdeau', 'Birdeau'] → 5
    """
    if isinstance(input, list):
        return _array_index_of(input, search, fromIndex)
    units = to_units(_receiver("indexOf", input))
    start = clamp_index(to_integer_or_infinity(fromIndex), len(units))
    return units.find(to_units(to_string(search)), start)


def lastIndexOf(  # noqa: N802 - JS name
    input: JSValue,
    search: JSValue = UNDEFINED,
    fromIndex: JSValue = UNDEFINED,  # noqa: N803
) -> JSValue:
    """Code-unit index of the last occurrence starting at or before fromIndex, else -1.

    Example: ['canal', 'a'] → 3
    """
    if isinstance(input, list):
        length = len(input)
        if length == 0:
            return -1
        # HotMesh always passes fromIndex, and an explicit undefined is 0 for Array#lastIndexOf
        position = to_integer_or_infinity(fromIndex)
        begin = min(position, length - 1) if position >= 0 else length + position
        if begin < 0:
            return -1
        for index in range(int(begin), -1, -1):
            if strict_equals(input[index], search):
                return index
        return -1
    units = to_units(_receiver("lastIndexOf", input))
    needle = to_units(to_string(search))
    number = to_number(fromIndex)
    position = math.inf if math.isnan(number) else to_integer_or_infinity(number)
    start = clamp_index(position, len(units))
    return units.rfind(needle, 0, start + len(needle))


def slice(input: JSValue, start: JSValue = UNDEFINED, end: JSValue = UNDEFINED) -> JSValue:
    """The section between two code-unit indexes; negatives count from the end (`s.slice`).

    Example: ['Luke Birdeau', 0, 4] → 'Luke'
    """
    if isinstance(input, list):
        length = len(input)
        begin = relative_index(to_integer_or_infinity(start), length)
        finish = length if end is UNDEFINED else relative_index(to_integer_or_infinity(end), length)
        return input[begin:finish]
    units = to_units(_receiver("slice", input))
    length = len(units)
    begin = relative_index(to_integer_or_infinity(start), length)
    finish = length if end is UNDEFINED else relative_index(to_integer_or_infinity(end), length)
    return from_units(units[begin:finish]) if begin < finish else ""


def toLowerCase(input: JSValue) -> JSValue:  # noqa: N802 - JS name
    """The string in lower case, by the Unicode default mapping (`s.toLowerCase()`).

    Example: ['LUKE'] → 'luke'
    """
    return _receiver("toLowerCase", input).lower()


def toUpperCase(input: JSValue) -> JSValue:  # noqa: N802 - JS name
    """The string in upper case, by the Unicode default mapping (`s.toUpperCase()`).

    Example: ['straße'] → 'STRASSE'
    """
    return _receiver("toUpperCase", input).upper()


def trim(input: JSValue) -> JSValue:
    """The string without leading and trailing JS whitespace and line terminators (`s.trim()`).

    Example: ['  Luke  '] → 'Luke'
    """
    return _receiver("trim", input).strip(JS_WHITESPACE)


def trimStart(input: JSValue) -> JSValue:  # noqa: N802 - JS name
    """The string without leading whitespace (`s.trimStart()`).

    Example: ['  Luke  '] → 'Luke  '
    """
    return _receiver("trimStart", input).lstrip(JS_WHITESPACE)


def trimEnd(input: JSValue) -> JSValue:  # noqa: N802 - JS name
    """The string without trailing whitespace (`s.trimEnd()`).

    Example: ['  Luke  '] → '  Luke'
    """
    return _receiver("trimEnd", input).rstrip(JS_WHITESPACE)


def _padding(method: str, input: JSValue, max_length: JSValue, pad: JSValue) -> tuple[str, str]:
    text = _receiver(method, input)
    units = to_units(text)
    target = to_length(max_length)
    filler = " " if pad is UNDEFINED else to_units(to_string(pad))
    if target <= len(units) or filler == "":
        return text, ""
    if target > MAX_STRING_LENGTH:
        raise js_error("RangeError", "Invalid string length")
    needed = int(target) - len(units)
    repeated = filler * (needed // len(filler) + 1)
    return text, from_units(repeated[:needed])


def padStart(input: JSValue, maxLength: JSValue = UNDEFINED, padString: JSValue = UNDEFINED) -> JSValue:  # noqa: N802, N803
    """Pad the start with padString (default ' ') until the string has maxLength code units.

    Example: ['5', 3, '0'] → '005'
    """
    text, padding = _padding("padStart", input, maxLength, padString)
    return from_units(to_units(padding) + to_units(text)) if padding else text


def padEnd(input: JSValue, maxLength: JSValue = UNDEFINED, padString: JSValue = UNDEFINED) -> JSValue:  # noqa: N802, N803
    """Pad the end with padString (default ' ') until the string has maxLength code units.

    Example: ['Luke', 8, '-'] → 'Luke----'
    """
    text, padding = _padding("padEnd", input, maxLength, padString)
    return from_units(to_units(text) + to_units(padding)) if padding else text


def _substitute(replacement: str, subject: str, position: int, matched: str) -> str:
    """GetSubstitution for a string pattern: `$$`, `$&`, `` $` `` and `$'`; `$1`… stay literal."""
    pieces: list[str] = []
    index = 0
    while index < len(replacement):
        char = replacement[index]
        follower = replacement[index + 1] if index + 1 < len(replacement) else ""
        if char == "$" and follower in ("$", "&", "`", "'"):
            if follower == "$":
                pieces.append("$")
            elif follower == "&":
                pieces.append(matched)
            elif follower == "`":
                pieces.append(subject[:position])
            else:
                pieces.append(subject[position + len(matched) :])
            index += 2
            continue
        pieces.append(char)
        index += 1
    return "".join(pieces)


def replace(input: JSValue, search: JSValue = UNDEFINED, replacement: JSValue = UNDEFINED) -> JSValue:
    """Replace the first occurrence of a search string; `$&`, `$$`, `` $` ``, `$'` expand as in JS.

    Example: ['a-b-c', '-', '+'] → 'a+b-c'
    """
    units = to_units(_receiver("replace", input))
    needle = to_units(to_string(search))
    found = units.find(needle)
    if found == -1:
        return input
    substitute = _substitute(to_units(to_string(replacement)), units, found, needle)
    return from_units(units[:found] + substitute + units[found + len(needle) :])


_CLASS_ESCAPES = {"d": "0-9", "w": "A-Za-z0-9_", "s": JS_WHITESPACE.replace("\n", "\\n")}


def _translate_regexp(source: str) -> str:
    """Rewrite the common JavaScript regular-expression syntax into Python's `re` dialect.

    Covers \\d \\w \\s (ASCII digits/word, JS whitespace), `$` (end of input only), named groups,
    `[^]` and `[]`; the rest of the shared syntax passes through unchanged.
    """
    out: list[str] = []
    index = 0
    in_class = False
    while index < len(source):
        char = source[index]
        if char == "\\" and index + 1 < len(source):
            code = source[index + 1]
            if code in "dws":
                body = _CLASS_ESCAPES[code]
                out.append(body if in_class else f"[{body}]")
            elif code in "DWS" and not in_class:
                out.append(f"[^{_CLASS_ESCAPES[code.lower()]}]")
            elif code == "k" and source.startswith("<", index + 2):
                close = source.index(">", index + 2)
                out.append(f"(?P={source[index + 3 : close]})")
                index = close + 1
                continue
            else:
                out.append(source[index : index + 2])
            index += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
            out.append(char)
        elif source.startswith("[^]", index):
            out.append(r"[\s\S]")
            index += 3
            continue
        elif source.startswith("[]", index):
            out.append("(?!)")
            index += 2
            continue
        elif char == "[":
            in_class = True
            out.append(char)
        elif char == "$":
            out.append(r"\Z")
        elif char == ".":
            out.append("[^\n\r\u2028\u2029]")
        elif source.startswith("(?<", index) and source[index + 3 : index + 4] not in ("=", "!"):
            out.append("(?P<")
            index += 3
            continue
        else:
            out.append(char)
        index += 1
    return "".join(out)


def search(input: JSValue, regexp: JSValue = UNDEFINED) -> JSValue:
    """Code-unit index of the first match of a regular expression (from a string), else -1.

    Example: ['abc123', '\\\\d+'] → 3
    """
    units = to_units(_receiver("search", input))
    source = "(?:)" if regexp is UNDEFINED else to_units(to_string(regexp))
    try:
        pattern = re.compile(_translate_regexp(source), re.ASCII)
    except (re.error, ValueError) as error:
        raise js_error("SyntaxError", f"Invalid regular expression: /{source}/: {error}") from error
    found = pattern.search(units)
    return found.start() if found else -1


def substring(input: JSValue, start: JSValue = UNDEFINED, end: JSValue = UNDEFINED) -> JSValue:
    """The section between two indexes; negatives and NaN become 0, bounds swap when reversed.

    Example: ['  Luke  ', 2, 6] → 'Luke'
    """
    units = to_units(_receiver("substring", input))
    length = len(units)
    begin = clamp_index(to_integer_or_infinity(start), length)
    finish = length if end is UNDEFINED else clamp_index(to_integer_or_infinity(end), length)
    low, high = min(begin, finish), max(begin, finish)
    return from_units(units[low:high])


def startsWith(input: JSValue, search: JSValue = UNDEFINED, position: JSValue = UNDEFINED) -> JSValue:  # noqa: N802
    """True when the string has the search string at a position (default 0).

    Example: ['Luke Birdeau', 'Luke'] → True
    """
    units = to_units(_receiver("startsWith", input))
    start = clamp_index(to_integer_or_infinity(position), len(units))
    return units.startswith(to_units(to_string(search)), start)


def endsWith(input: JSValue, search: JSValue = UNDEFINED, length: JSValue = UNDEFINED) -> JSValue:  # noqa: N802
    """True when the string (cut to `length` code units, default all) ends with the search string.

    Example: ['Luke Birdeau', 'deau'] → True
    """
    units = to_units(_receiver("endsWith", input))
    end = len(units) if length is UNDEFINED else clamp_index(to_integer_or_infinity(length), len(units))
    needle = to_units(to_string(search))
    begin = end - len(needle)
    return begin >= 0 and units[begin:end] == needle


def repeat(input: JSValue, count: JSValue = UNDEFINED) -> JSValue:
    """The string repeated count times; a negative or infinite count is a RangeError.

    Example: ['ab', 3] → 'ababab'
    """
    if js_lt(count, 0) or (is_number(count) and count == math.inf):
        raise js_error("RangeError", "Invalid repeat count. Must be a positive finite number.")
    text = _receiver("repeat", input)
    times = to_integer_or_infinity(count)
    if times < 0 or math.isinf(times):
        raise js_error("RangeError", f"Invalid count value: {to_string(count)}")
    if times and len(to_units(text)) * times > MAX_STRING_LENGTH:
        raise js_error("RangeError", "Invalid string length")
    return from_units(text * int(times))


FUNCTIONS: dict[str, Callable[..., JSValue]] = {
    "split": split,
    "charAt": charAt,
    "concat": concat,
    "includes": includes,
    "indexOf": indexOf,
    "lastIndexOf": lastIndexOf,
    "slice": slice,
    "toLowerCase": toLowerCase,
    "toUpperCase": toUpperCase,
    "trim": trim,
    "trimStart": trimStart,
    "trimEnd": trimEnd,
    "padStart": padStart,
    "padEnd": padEnd,
    "replace": replace,
    "search": search,
    "substring": substring,
    "startsWith": startsWith,
    "endsWith": endsWith,
    "repeat": repeat,
}
