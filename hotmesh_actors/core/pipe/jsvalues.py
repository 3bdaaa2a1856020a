"""JavaScript value semantics in Python, for the @pipe function catalog.

Workflow graphs written for HotMesh expect JavaScript's rules (loose equality, `||` returning an
operand, `Number` to string formatting, 32-bit bitwise maths). JSON values map onto Python as
null → None, numbers → int/float, strings, lists, dicts; JavaScript's `undefined` is the
:data:`UNDEFINED` sentinel, which never reaches JSON (it is dropped, like JSON.stringify does).
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

from hotmesh_actors.errors import PipeEvaluationError


class _Undefined:
    """The JavaScript `undefined` value: distinct from null (None)."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = _Undefined()

JSValue = Any
"""Any value a pipe can hold: None, UNDEFINED, bool, int, float, str, list, dict, JSDate.

JSDate lives in functions/date.py; objects take part in ToPrimitive through `__js_primitive__`.
"""

NAN: Final = float("nan")


def is_nullish(value: JSValue) -> bool:
    """True for null and undefined (the operands `??` skips)."""
    return value is None or value is UNDEFINED


def is_number(value: JSValue) -> bool:
    """True for JS numbers (Python int/float, but not bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def typeof(value: JSValue) -> str:
    """JavaScript's `typeof` operator."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "object"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if callable(value):
        return "function"
    return "object"


def truthy(value: JSValue) -> bool:
    """JavaScript ToBoolean: '', 0, -0, NaN, null, undefined and false are falsy."""
    if value is None or value is UNDEFINED or value is False:
        return False
    if value is True:
        return True
    if is_number(value):
        return not (value == 0 or math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


_NUMERIC_LITERAL = re.compile(
    r"^[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?))$"
)
_RADIX_DIGITS: Final = {
    16: re.compile(r"^[0-9a-fA-F]+$"),
    8: re.compile(r"^[0-7]+$"),
    2: re.compile(r"^[01]+$"),
}
_JS_WHITESPACE = (
    " \t\n\r\x0b\x0c\xa0\ufeff\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
JS_WHITESPACE: Final = _JS_WHITESPACE
"""Characters JavaScript trims from numeric strings (WhiteSpace and LineTerminator)."""


def string_to_number(text: str) -> float | int:
    """JavaScript StringToNumber: trimmed decimal, hex/octal/binary literals, '' → 0, else NaN."""
    s = text.strip(_JS_WHITESPACE)
    if s == "":
        return 0
    lowered = s.lower()
    for prefix, base in (("0x", 16), ("0o", 8), ("0b", 2)):
        if lowered.startswith(prefix):
            # Python's int() would also accept '_' separators and inner blanks; JS does not.
            if not _RADIX_DIGITS[base].match(s[2:]):
                return NAN
            return normalize_number(float(int(s[2:], base)))
    if not _NUMERIC_LITERAL.match(s):
        return NAN
    if s.endswith("Infinity"):
        return -math.inf if s.startswith("-") else math.inf
    return normalize_number(float(s))


def to_number(value: JSValue) -> float | int:
    """JavaScript ToNumber (the unary `+` operator)."""
    if value is UNDEFINED:
        return NAN
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    if is_number(value):
        return value  # type: ignore[no-any-return]
    if isinstance(value, str):
        return string_to_number(value)
    return to_number(to_primitive(value, "number"))


def to_primitive(value: JSValue, hint: str = "default") -> JSValue:
    """JavaScript ToPrimitive for our object kinds: arrays join, dates give their time value."""
    if isinstance(value, list):
        return ",".join("" if is_nullish(item) else to_string(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    to_prim = getattr(value, "__js_primitive__", None)
    if to_prim is not None:
        return to_prim(hint)
    return value


def shortest_digits(number: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits of a finite, non-zero |number| and the point position n.

    The value is 0.d1d2…dk × 10**n (the `k` digits and `n` of the ECMAScript Number::toString
    algorithm); Python's repr already picks the same shortest digits JavaScript does.
    """
    mantissa, _, exp_part = repr(abs(number)).partition("e")
    exponent = int(exp_part) if exp_part else 0
    int_part, _, frac_part = mantissa.partition(".")
    if int_part != "0":
        point = len(int_part) + exponent
        digits = int_part + frac_part
    else:
        stripped = frac_part.lstrip("0")
        point = exponent - (len(frac_part) - len(stripped))
        digits = stripped
    return digits.rstrip("0") or "0", point


def number_to_string(number: float | int) -> str:
    """JavaScript Number::toString (radix 10): shortest round-trip digits in JS notation."""
    if isinstance(number, int):
        if abs(number) <= 2**53:
            return str(number)
        number = float(number)  # beyond 2**53 JS holds (and prints) the nearest double
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    digits, point = shortest_digits(number)
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * (-point) + digits
    e = point - 1
    exp_text = f"e+{e}" if e >= 0 else f"e-{-e}"
    if k == 1:
        return sign + digits + exp_text
    return sign + digits[0] + "." + digits[1:] + exp_text


def to_string(value: JSValue) -> str:
    """JavaScript ToString (String(value))."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if is_number(value):
        return number_to_string(value)
    if isinstance(value, str):
        return value
    primitive = to_primitive(value, "string")
    return primitive if isinstance(primitive, str) else to_string(primitive)


def to_int32(value: JSValue) -> int:
    """JavaScript ToInt32, the operand conversion of the bitwise operators."""
    number = to_number(value)
    if isinstance(number, float):
        if math.isnan(number) or math.isinf(number):
            return 0
        number = int(number)
    number &= 0xFFFFFFFF
    return number - 0x100000000 if number >= 0x80000000 else number


def to_uint32(value: JSValue) -> int:
    """JavaScript ToUint32 (used by `>>>`)."""
    return to_int32(value) & 0xFFFFFFFF


def strict_equals(left: JSValue, right: JSValue) -> bool:
    """JavaScript `===`: same type and value; NaN is never equal; objects by identity."""
    if typeof(left) != typeof(right):
        return False
    if left is UNDEFINED or left is None:
        return left is right
    if is_number(left):
        return bool(left == right)  # NaN != NaN, 0 == -0, as in JS
    if isinstance(left, bool | str):
        return bool(left == right)
    return left is right


def loose_equals(left: JSValue, right: JSValue) -> bool:
    """JavaScript `==` (the abstract equality comparison)."""
    if typeof(left) == typeof(right) and not (left is None) ^ (right is None):
        return strict_equals(left, right)
    if is_nullish(left) and is_nullish(right):
        return True
    if is_nullish(left) or is_nullish(right):
        return False
    if is_number(left) and isinstance(right, str):
        return bool(left == string_to_number(right))
    if isinstance(left, str) and is_number(right):
        return bool(string_to_number(left) == right)
    if isinstance(left, bool):
        return loose_equals(to_number(left), right)
    if isinstance(right, bool):
        return loose_equals(left, to_number(right))
    left_is_object = typeof(left) == "object"
    right_is_object = typeof(right) == "object"
    if left_is_object and not right_is_object:
        return loose_equals(to_primitive(left), right)
    if right_is_object and not left_is_object:
        return loose_equals(left, to_primitive(right))
    return False


def less_than(left: JSValue, right: JSValue) -> bool | None:
    """JavaScript's abstract relational comparison `left < right`; None means undefined (NaN)."""
    left_p = to_primitive(left, "number")
    right_p = to_primitive(right, "number")
    if isinstance(left_p, str) and isinstance(right_p, str):
        return _utf16_key(left_p) < _utf16_key(right_p)
    left_n = to_number(left_p)
    right_n = to_number(right_p)
    if math.isnan(left_n) or math.isnan(right_n):
        return None
    return bool(left_n < right_n)


def _utf16_key(text: str) -> list[int]:
    """Code units, so strings compare the way JavaScript compares them."""
    encoded = text.encode("utf-16-be", "surrogatepass")
    return [int.from_bytes(encoded[i : i + 2], "big") for i in range(0, len(encoded), 2)]


def js_lt(left: JSValue, right: JSValue) -> bool:
    """`left < right`."""
    return less_than(left, right) is True


def js_gt(left: JSValue, right: JSValue) -> bool:
    """`left > right`."""
    return less_than(right, left) is True


def js_le(left: JSValue, right: JSValue) -> bool:
    """`left <= right` (false when either side is NaN)."""
    result = less_than(right, left)
    return result is False


def js_ge(left: JSValue, right: JSValue) -> bool:
    """`left >= right` (false when either side is NaN)."""
    result = less_than(left, right)
    return result is False


def js_add(left: JSValue, right: JSValue) -> JSValue:
    """The JavaScript `+` operator: string concatenation when either primitive is a string."""
    left_p = to_primitive(left)
    right_p = to_primitive(right)
    if isinstance(left_p, str) or isinstance(right_p, str):
        return to_string(left_p) + to_string(right_p)
    # JS numbers are doubles: 2**53 + 1 must round the way JavaScript rounds it
    return normalize_number(float(to_number(left_p)) + float(to_number(right_p)))


def normalize_number(number: float | int) -> float | int:
    """Keep integral results as Python ints (as JSON would show them), others as floats."""
    if isinstance(number, float) and number.is_integer() and abs(number) < 2**53:
        if number == 0 and math.copysign(1.0, number) < 0:
            return number  # keep -0
        return int(number)
    return number


def to_integer_or_infinity(value: JSValue) -> float | int:
    """JavaScript ToIntegerOrInfinity: NaN → 0, ±Infinity kept, otherwise truncated toward zero."""
    number = to_number(value)
    if isinstance(number, int):
        return number
    if math.isnan(number):
        return 0
    if math.isinf(number):
        return number
    return int(number)


def js_remainder(left: float | int, right: float | int) -> float | int:
    """The JavaScript `%` operator on numbers: the result takes the dividend's sign (C fmod)."""
    if math.isnan(left) or math.isnan(right) or math.isinf(left) or right == 0:
        return NAN
    if math.isinf(right) or left == 0:
        return left
    return normalize_number(math.fmod(float(left), float(right)))


def utf16_length(text: str) -> int:
    """`text.length` in JavaScript: UTF-16 code units, so astral characters count twice."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def utf16_units(text: str) -> list[str]:
    """Split text into JavaScript string elements (UTF-16 code units; astral chars → surrogates)."""
    units: list[str] = []
    for char in text:
        code = ord(char)
        if code > 0xFFFF:
            code -= 0x10000
            units.append(chr(0xD800 + (code >> 10)))
            units.append(chr(0xDC00 + (code & 0x3FF)))
        else:
            units.append(char)
    return units


def from_utf16_units(units: list[str]) -> str:
    """Join code units back into a Python string, pairing surrogates into astral characters."""
    joined = "".join(units)
    return joined.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def to_property_key(value: JSValue) -> str:
    """JavaScript ToPropertyKey for our value kinds (numbers print as JS would: 1.0 → '1')."""
    return to_string(value)


def _array_index(key: str) -> int | None:
    """The integer index a canonical numeric key names ('0', '12'), else None ('01', '-1', '1.5')."""
    if key == "0" or (key.isascii() and key.isdigit() and not key.startswith("0")):
        return int(key)
    return None


def get_property(target: JSValue, key: JSValue) -> JSValue:
    """`target[key]` for JSON-like values; own data only (no prototype methods), undefined if absent.

    Raises PipeEvaluationError when target is null or undefined, as JavaScript throws a TypeError.
    """
    if is_nullish(target):
        raise PipeEvaluationError(f"TypeError: cannot read property {to_string(key)!r} of {to_string(target)}")
    name = to_property_key(key)
    if isinstance(target, list | str):
        items: list[Any] | list[str] = target if isinstance(target, list) else utf16_units(target)
        if name == "length":
            return len(items)
        index = _array_index(name)
        if index is not None and index < len(items):
            return items[index]
        return UNDEFINED
    if isinstance(target, dict):
        return target.get(name, UNDEFINED)
    return UNDEFINED


def type_error(message: str) -> PipeEvaluationError:
    """The error a catalog function raises where JavaScript would throw a TypeError."""
    return PipeEvaluationError(f"TypeError: {message}")


def range_error(message: str) -> PipeEvaluationError:
    """The error a catalog function raises where JavaScript would throw a RangeError."""
    return PipeEvaluationError(f"RangeError: {message}")
