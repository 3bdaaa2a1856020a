"""The @number domain of the pipe function catalog (JavaScript semantics).

`isFinite`, `isInteger` and `isNaN` are the strict `Number.*` checks (no coercion: '5' is not an
integer), while `isEven`/`isOdd` coerce like HotMesh's `!isNaN(x) && x % 2 …` (so '4' is even and,
as in HotMesh, Infinity counts as odd). The formatters are `Number.prototype` methods: they throw
for anything that is not a number and round ties away from zero on the exact binary value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Context, Decimal

from hotmesh_actors.core.pipe.functions.math import js_max, js_min, js_round, power
from hotmesh_actors.core.pipe.jsvalues import (
    JS_WHITESPACE,
    NAN,
    UNDEFINED,
    JSValue,
    is_number,
    js_ge,
    js_gt,
    js_le,
    js_lt,
    js_remainder,
    normalize_number,
    number_to_string,
    range_error,
    shortest_digits,
    to_int32,
    to_integer_or_infinity,
    to_number,
    to_string,
    type_error,
)

Number = int | float

_DECIMAL_PREFIX = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def is_finite(value: JSValue = UNDEFINED, *_rest: JSValue) -> bool:
    """`Number.isFinite(value)`: a number other than ±Infinity and NaN (no coercion).

    Example: ['42'] → false
    """
    return is_number(value) and math.isfinite(value)


def _parity(value: JSValue) -> Number | None:
    """`value % 2` as HotMesh's isEven/isOdd see it; None when the global isNaN(value) is true."""
    number = to_number(value)
    if math.isnan(number):
        return None
    return js_remainder(number, 2)


def is_even(value: JSValue = UNDEFINED, *_rest: JSValue) -> bool:
    """`!isNaN(x) && x % 2 === 0` (coercing: '4' and null count as even).

    Example: [42] → true
    """
    remainder = _parity(value)
    return remainder is not None and remainder == 0


def is_odd(value: JSValue = UNDEFINED, *_rest: JSValue) -> bool:
    """`!isNaN(x) && x % 2 !== 0` (so 2.5 and, as in HotMesh, Infinity count as odd).

    Example: [55] → true
    """
    remainder = _parity(value)
    return remainder is not None and not remainder == 0


def is_integer(value: JSValue = UNDEFINED, *_rest: JSValue) -> bool:
    """`Number.isInteger(value)`: a finite number with no fractional part (no coercion).

    Example: [5.0] → true
    """
    return is_number(value) and math.isfinite(value) and float(value).is_integer()


def is_nan(value: JSValue = UNDEFINED, *_rest: JSValue) -> bool:
    """`Number.isNaN(value)`: true only for the number NaN ('abc' is false).

    Example: ['abc'] → false
    """
    return is_number(value) and math.isnan(value)


def parse_float(text: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`parseFloat(text)`: the longest decimal prefix after leading blanks, else NaN.

    Example: ['3.14abc'] → 3.14
    """
    found = _DECIMAL_PREFIX.match(to_string(text).lstrip(JS_WHITESPACE))
    if found is None:
        return NAN
    literal = found.group(0)
    if literal.endswith("Infinity"):
        return -math.inf if literal.startswith("-") else math.inf
    return normalize_number(float(literal))


def parse_int(text: JSValue = UNDEFINED, radix: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`parseInt(text, radix)`: leading integer in base 2–36 (0/absent = 10, or 16 after '0x').

    Example: ['ff', 16] → 255
    """
    source = to_string(text).lstrip(JS_WHITESPACE)
    negative = source.startswith("-")
    if source and source[0] in "+-":
        source = source[1:]
    base = to_int32(radix)
    strip_prefix = True
    if base != 0:
        if base < 2 or base > 36:
            return NAN
        strip_prefix = base == 16
    else:
        base = 10
    if strip_prefix and source[:2].lower() == "0x":
        source = source[2:]
        base = 16
    allowed = _DIGITS[:base]
    end = 0
    while end < len(source) and source[end].lower() in allowed:
        end += 1
    if end == 0:
        return NAN
    magnitude = float(int(source[:end], base))
    return normalize_number(-magnitude if negative else magnitude)


def _this_number(value: JSValue, method: str) -> float:
    """The receiver of a Number.prototype method: JavaScript throws unless it is a number."""
    if not is_number(value):
        raise type_error(f"{to_string(value)!r}.{method} is not a function (not a number)")
    return float(value)


def _round_significant(number: float, digits: int) -> tuple[str, int]:
    """|number| rounded half-up to `digits` significant digits: (digit string, exponent e).

    The value is d.ddd × 10**e; rounding is on the exact binary value, as the ECMAScript
    algorithms for toExponential and toPrecision require.
    """
    rounded = Context(prec=digits, rounding=ROUND_HALF_UP).plus(Decimal(abs(number)))
    _, digit_tuple, exponent = rounded.as_tuple()
    text = "".join(str(d) for d in digit_tuple).ljust(digits, "0")[:digits]
    assert isinstance(exponent, int)
    return text, exponent + len(digit_tuple) - 1


def to_fixed(value: JSValue = UNDEFINED, digits: JSValue = UNDEFINED, *_rest: JSValue) -> str:
    """`value.toFixed(digits)`: fixed-point text with 0–100 decimals, ties away from zero.

    Example: [3.14159, 2] → '3.14'
    """
    number = _this_number(value, "toFixed")
    places = to_integer_or_infinity(digits)
    if not math.isfinite(places) or places < 0 or places > 100:
        raise range_error("toFixed() digits argument must be between 0 and 100")
    if not math.isfinite(number) or abs(number) >= 1e21:
        return number_to_string(normalize_number(number))
    exact = Decimal(abs(number)).quantize(
        Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_UP, context=Context(prec=200)
    )
    sign = "-" if number < 0 else ""
    return sign + format(exact, "f")


def to_exponential(value: JSValue = UNDEFINED, digits: JSValue = UNDEFINED, *_rest: JSValue) -> str:
    """`value.toExponential(digits)`: d.ddde±n with `digits` decimals (shortest when absent).

    Example: [123456, 2] → '1.23e+5'
    """
    number = _this_number(value, "toExponential")
    places = to_integer_or_infinity(digits)
    if not math.isfinite(number):
        return number_to_string(number)
    if not math.isfinite(places) or places < 0 or places > 100:
        raise range_error("toExponential() argument must be between 0 and 100")
    sign = "-" if number < 0 else ""
    if number == 0:
        mantissa, exponent = "0" * (int(places) + 1), 0
    elif digits is UNDEFINED:
        mantissa, point = shortest_digits(number)
        exponent = point - 1
    else:
        mantissa, exponent = _round_significant(number, int(places) + 1)
    fraction = "." + mantissa[1:] if len(mantissa) > 1 else ""
    return f"{sign}{mantissa[0]}{fraction}e{'+' if exponent >= 0 else '-'}{abs(exponent)}"


def to_precision(value: JSValue = UNDEFINED, precision: JSValue = UNDEFINED, *_rest: JSValue) -> str:
    """`value.toPrecision(precision)`: 1–100 significant digits, exponential when very big/small.

    Example: [123.456, 4] → '123.5'
    """
    number = _this_number(value, "toPrecision")
    if precision is UNDEFINED:
        return number_to_string(normalize_number(number))
    wanted = to_integer_or_infinity(precision)
    if not math.isfinite(number):
        return number_to_string(number)
    if not math.isfinite(wanted) or wanted < 1 or wanted > 100:
        raise range_error("toPrecision() argument must be between 1 and 100")
    size = int(wanted)
    sign = "-" if number < 0 else ""
    if number == 0:
        mantissa, exponent = "0" * size, 0
    else:
        mantissa, exponent = _round_significant(number, size)
    if exponent < -6 or exponent >= size:
        fraction = "." + mantissa[1:] if size > 1 else ""
        return f"{sign}{mantissa[0]}{fraction}e{'+' if exponent >= 0 else '-'}{abs(exponent)}"
    if exponent == size - 1:
        return sign + mantissa
    if exponent >= 0:
        return sign + mantissa[: exponent + 1] + "." + mantissa[exponent + 1 :]
    return sign + "0." + "0" * (-exponent - 1) + mantissa


def gte(left: JSValue = UNDEFINED, right: JSValue = UNDEFINED, *_rest: JSValue) -> bool:
    """`left >= right`.

    Example: [5, 5] → true
    """
    return js_ge(left, right)


def lte(left: JSValue = UNDEFINED, right: JSValue = UNDEFINED, *_rest: JSValue) -> bool:
    """`left <= right`.

    Example: [5, 5] → true
    """
    return js_le(left, right)


def gt(left: JSValue = UNDEFINED, right: JSValue = UNDEFINED, *_rest: JSValue) -> bool:
    """`left > right`.

    Example: [6, 5] → true
    """
    return js_gt(left, right)


def lt(left: JSValue = UNDEFINED, right: JSValue = UNDEFINED, *_rest: JSValue) -> bool:
    """`left < right`.

    Example: [null, 1] → true
    """
    return js_lt(left, right)


def number_max(*values: JSValue) -> Number:
    """`Math.max(...values)`: -Infinity for none, NaN if any operand converts to NaN.

    Example: [1, 5, 3] → 5
    """
    return js_max(*values)


def number_min(*values: JSValue) -> Number:
    """`Math.min(...values)`: Infinity for none, NaN if any operand converts to NaN.

    Example: [1, 5, 3] → 1
    """
    return js_min(*values)


def number_pow(base: JSValue = UNDEFINED, exponent: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.pow(base, exponent)`.

    Example: [2, 8] → 256
    """
    return power(float(to_number(base)), float(to_number(exponent)))


def number_round(value: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.round(value)`: halves round toward +Infinity.

    Example: [2.5] → 3
    """
    return js_round(value)


FUNCTIONS: dict[str, Callable[..., JSValue]] = {
    "isFinite": is_finite,
    "isEven": is_even,
    "isOdd": is_odd,
    "isInteger": is_integer,
    "isNaN": is_nan,
    "parseFloat": parse_float,
    "parseInt": parse_int,
    "toFixed": to_fixed,
    "toExponential": to_exponential,
    "toPrecision": to_precision,
    "gte": gte,
    "lte": lte,
    "gt": gt,
    "lt": lt,
    "max": number_max,
    "min": number_min,
    "pow": number_pow,
    "round": number_round,
}
