"""The @math domain of the pipe function catalog (JavaScript `Math` semantics).

`add`, `subtract`, `multiply` and `divide` are HotMesh's variadic forms: array operands are
flattened (recursively for add/multiply, one level for subtract/divide), `add` uses JavaScript `+`
(so it concatenates once a string appears) and `divide` answers NaN for any zero divisor instead
of ±Infinity. The others are `Math.*`: every argument goes through ToNumber, missing arguments are
NaN, and domain errors give NaN or ±Infinity rather than raising. `random` draws from the PipeEnv.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from fractions import Fraction

from hotmesh_actors.core.pipe.env import PipeEnv, uses_env
from hotmesh_actors.core.pipe.jsvalues import (
    NAN,
    UNDEFINED,
    JSValue,
    js_add,
    normalize_number,
    to_number,
    to_uint32,
    type_error,
)

Number = int | float

_FLOAT32_MAX = 3.4028234663852886e38
_FLOAT32_OVERFLOW = 2.0**128 - 2.0**103  # halfway between float32 max and 2**128: rounds to ∞


def _num(value: JSValue) -> float:
    """ToNumber as a Python float, the representation all Math functions compute in."""
    return float(to_number(value))


def _result(number: float) -> Number:
    return normalize_number(number)


def _is_negative_zero(number: float) -> bool:
    return number == 0 and math.copysign(1.0, number) < 0


def _flatten_once(operands: tuple[JSValue, ...]) -> list[JSValue]:
    flat: list[JSValue] = []
    for operand in operands:
        if isinstance(operand, list):
            flat.extend(operand)
        else:
            flat.append(operand)
    return flat


def _times(left: JSValue, right: JSValue) -> Number:
    return _result(_num(left) * _num(right))


def _minus(left: JSValue, right: JSValue) -> Number:
    return _result(_num(left) - _num(right))


def _over(left: JSValue, right: JSValue) -> Number:
    numerator, denominator = _num(left), _num(right)
    if denominator == 0:
        if numerator == 0 or math.isnan(numerator):
            return NAN
        negative = (numerator < 0) != (math.copysign(1.0, denominator) < 0)
        return -math.inf if negative else math.inf
    return _result(numerator / denominator)


def add(*operands: JSValue) -> JSValue:
    """Sum with JS `+`, starting from 0; arrays are summed recursively (strings concatenate).

    Example: [[1, [2, 3]]] → 6
    """
    total: JSValue = 0
    for operand in operands:
        total = js_add(total, add(*operand) if isinstance(operand, list) else operand)
    return total


def subtract(*operands: JSValue) -> JSValue:
    """First operand minus the rest; arrays flattened one level. Throws with no operands.

    Example: [[10, 3], 2] → 5
    """
    if not operands:
        raise type_error("@math.subtract needs at least one operand")
    flat = _flatten_once(operands)
    if not flat:
        raise type_error("@math.subtract needs at least one operand after flattening")
    result: JSValue = flat[0]  # a lone operand comes back untouched, as with Array.reduce
    for operand in flat[1:]:
        result = _minus(result, operand)
    return result


def multiply(*operands: JSValue) -> Number:
    """Product starting from 1; arrays multiplied recursively. Throws on no (or empty) operands.

    Example: [[2, 3], 4] → 24
    """
    if not operands:
        raise type_error("@math.multiply needs at least one operand")
    product: Number = 1
    for operand in operands:
        product = _times(product, multiply(*operand) if isinstance(operand, list) else operand)
    return product


def divide(*operands: JSValue) -> JSValue:
    """First operand divided by the rest (arrays flattened one level); any zero divisor ⇒ NaN.

    Example: [[100, 5], 2] → 10
    """
    if not operands:
        raise type_error("@math.divide needs at least one operand")
    flat = _flatten_once(operands)
    if not flat:
        raise type_error("@math.divide needs at least one operand after flattening")
    result: JSValue = flat[0]
    for operand in flat[1:]:
        # HotMesh checks the raw operand with `=== 0`: a numeric zero, but not the string '0'
        is_zero = isinstance(operand, int | float) and not isinstance(operand, bool) and operand == 0
        result = NAN if is_zero else _over(result, operand)
    return NAN if math.isnan(_num(result)) else result


def _unary(compute: Callable[[float], float]) -> Callable[[float], Number]:
    """Run a float function with IEEE results where Python's math module would raise instead."""

    def run(x: float) -> Number:
        if math.isnan(x):
            return NAN
        try:
            return _result(compute(x))
        except OverflowError:
            return math.inf  # callers that can overflow negatively handle the sign themselves
        except ValueError:
            return NAN  # outside the function's domain (sqrt(-1), acos(2), sin(Infinity), …)

    return run


_sin, _cos, _tan = _unary(math.sin), _unary(math.cos), _unary(math.tan)
_asin, _acos, _atan = _unary(math.asin), _unary(math.acos), _unary(math.atan)
_asinh, _acosh, _tanh = _unary(math.asinh), _unary(math.acosh), _unary(math.tanh)
_cosh, _exp = _unary(math.cosh), _unary(math.exp)


def _cube_root(x: float) -> float:
    """The cube root rounded correctly (libm's cbrt can be an ulp off: cbrt(27) → 3.0000000000000004).

    Starts from libm's answer and steps to a neighbour while a rounding midpoint, cubed exactly,
    shows the true root lies on the other side of it.
    """
    if x == 0 or not math.isfinite(x):
        return x
    target = Fraction(abs(x))
    root = math.cbrt(abs(x))
    for _ in range(4):  # libm is within an ulp or two; a few steps always suffice
        above = math.nextafter(root, math.inf)
        below = math.nextafter(root, 0.0)
        if ((Fraction(root) + Fraction(above)) / 2) ** 3 < target:
            root = above
        elif ((Fraction(root) + Fraction(below)) / 2) ** 3 > target:
            root = below
        else:
            break
    return math.copysign(root, x)


_cbrt = _unary(_cube_root)


def js_abs(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.abs(x)` (ToNumber first, so '-7.5' → 7.5 and null → 0).

    Example: [-5] → 5
    """
    return _result(abs(_num(x)))


def acos(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.acos(x)` in radians; NaN outside [-1, 1].

    Example: [1] → 0
    """
    return _acos(_num(x))


def acosh(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.acosh(x)`; NaN below 1.

    Example: [1] → 0
    """
    return _acosh(_num(x))


def asin(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.asin(x)` in radians; NaN outside [-1, 1].

    Example: [0] → 0
    """
    return _asin(_num(x))


def asinh(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.asinh(x)`.

    Example: [0] → 0
    """
    return _asinh(_num(x))


def atan(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.atan(x)` in radians.

    Example: [0] → 0
    """
    return _atan(_num(x))


def atan2(y: JSValue = UNDEFINED, x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.atan2(y, x)`: the angle of the point (x, y), signed zeros respected.

    Example: [0, 1] → 0
    """
    return _result(math.atan2(_num(y), _num(x)))


def atanh(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.atanh(x)`; ±Infinity at ±1, NaN beyond.

    Example: [0] → 0
    """
    number = _num(x)
    if abs(number) == 1:
        return math.copysign(math.inf, number)
    return _unary(math.atanh)(number)


def cbrt(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.cbrt(x)`: the real cube root (negative for negative x).

    Example: [-8] → -2
    """
    return _cbrt(_num(x))


def _round_toward(x: float, rounded: float) -> Number:
    """An integral Math result, keeping the -0 JavaScript gives for negatives that round to zero."""
    if rounded == 0 and (x < 0 or _is_negative_zero(x)):
        return -0.0
    return _result(rounded)


def ceil(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.ceil(x)`: the smallest integer ≥ x (-0.5 → -0).

    Example: [1.2] → 2
    """
    number = _num(x)
    if not math.isfinite(number):
        return number
    return _round_toward(number, float(math.ceil(number)))


def clz32(x: JSValue = UNDEFINED, *_rest: JSValue) -> int:
    """`Math.clz32(x)`: leading zero bits of x as an unsigned 32-bit integer.

    Example: [1] → 31
    """
    return 32 - to_uint32(x).bit_length()


def cos(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.cos(x)` (x in radians); NaN for ±Infinity.

    Example: [0] → 1
    """
    return _cos(_num(x))


def cosh(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.cosh(x)`; Infinity when it overflows.

    Example: [0] → 1
    """
    return _cosh(_num(x))


def exp(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.exp(x)`: e**x (Infinity on overflow, 0 for -Infinity).

    Example: [0] → 1
    """
    return _exp(_num(x))


def expm1(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.expm1(x)`: e**x - 1, accurate near 0.

    Example: [0] → 0
    """
    return _unary(math.expm1)(_num(x))


def floor(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.floor(x)`: the largest integer ≤ x.

    Example: [-1.2] → -2
    """
    number = _num(x)
    if not math.isfinite(number):
        return number
    return _round_toward(number, float(math.floor(number)))


def fround(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.fround(x)`: x rounded to the nearest single-precision (float32) value.

    Example: [5.05] → 5.050000190734863
    """
    number = _num(x)
    if math.isnan(number) or math.isinf(number):
        return number
    if abs(number) >= _FLOAT32_OVERFLOW:
        return math.copysign(math.inf, number)
    if abs(number) > _FLOAT32_MAX:
        return math.copysign(_FLOAT32_MAX, number)
    (single,) = struct.unpack("<f", struct.pack("<f", number))
    return _result(single)


def hypot(*values: JSValue) -> Number:
    """`Math.hypot(...values)`: square root of the sum of squares (Infinity wins over NaN).

    Example: [3, 4] → 5
    """
    magnitudes = [abs(_num(v)) for v in values]
    if any(math.isinf(m) for m in magnitudes):
        return math.inf
    if any(math.isnan(m) for m in magnitudes):
        return NAN
    largest = max(magnitudes, default=0.0)
    if largest == 0:
        return 0
    # V8's method rather than Python's (more exact) math.hypot, so results match Node bit for bit:
    # scale by the largest magnitude and add the squares with Kahan compensation.
    total = 0.0
    compensation = 0.0
    for magnitude in magnitudes:
        scaled = magnitude / largest
        summand = scaled * scaled - compensation
        running = total + summand
        compensation = (running - total) - summand
        total = running
    return _result(math.sqrt(total) * largest)


def imul(x: JSValue = UNDEFINED, y: JSValue = UNDEFINED, *_rest: JSValue) -> int:
    """`Math.imul(x, y)`: C-like 32-bit integer multiplication (wraps around).

    Example: [65536, 65536] → 0
    """
    product = (to_uint32(x) * to_uint32(y)) & 0xFFFFFFFF
    return product - 0x1_0000_0000 if product >= 0x8000_0000 else product


def _logarithm(compute: Callable[[float], float], x: float) -> Number:
    if math.isnan(x) or x < 0:
        return NAN
    if x == 0:
        return -math.inf
    if math.isinf(x):
        return math.inf
    return _result(compute(x))


def log(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.log(x)`: natural logarithm; -Infinity at 0, NaN below.

    Example: [1] → 0
    """
    return _logarithm(math.log, _num(x))


def log10(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.log10(x)`: base-10 logarithm.

    Example: [1000] → 3
    """
    return _logarithm(math.log10, _num(x))


def log1p(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.log1p(x)`: ln(1 + x), accurate near 0; -Infinity at -1, NaN below.

    Example: [0] → 0
    """
    number = _num(x)
    if number == -1:
        return -math.inf
    return _unary(math.log1p)(number)


def log2(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.log2(x)`: base-2 logarithm.

    Example: [8] → 3
    """
    return _logarithm(math.log2, _num(x))


def js_max(*values: JSValue) -> Number:
    """`Math.max(...values)`: -Infinity for none, NaN if any is NaN, +0 beats -0.

    Example: [5, 7, 3] → 7
    """
    best = -math.inf
    for number in [_num(v) for v in values]:  # every argument is converted, as in JS
        if math.isnan(number):
            return NAN
        if number > best or (number == 0 and best == 0 and not _is_negative_zero(number)):
            best = number
    return _result(best)


def js_min(*values: JSValue) -> Number:
    """`Math.min(...values)`: Infinity for none, NaN if any is NaN, -0 beats +0.

    Example: [5, 7, 3] → 3
    """
    best = math.inf
    for number in [_num(v) for v in values]:
        if math.isnan(number):
            return NAN
        if number < best or (number == 0 and best == 0 and _is_negative_zero(number)):
            best = number
    return _result(best)


def js_pow(base: JSValue = UNDEFINED, exponent: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.pow(base, exponent)`, i.e. `base ** exponent` (1 ** Infinity is NaN in JS).

    Example: [2, 10] → 1024
    """
    return power(_num(base), _num(exponent))


def power(x: float, y: float) -> Number:
    """Number::exponentiate on floats; shared with @number.pow."""
    if math.isnan(y):
        return NAN
    if y == 0:
        return 1
    if math.isnan(x) or (abs(x) == 1 and math.isinf(y)):
        return NAN
    odd_integer = math.isfinite(y) and y.is_integer() and y % 2 == 1
    if x == 0:
        if y > 0:
            return _result(x if odd_integer else 0.0)
        return math.copysign(math.inf, x) if odd_integer else math.inf
    try:
        return _result(math.pow(x, y))
    except OverflowError:
        return -math.inf if x < 0 and odd_integer else math.inf
    except ValueError:
        return NAN  # negative base with a non-integer exponent


@uses_env
def random(env: PipeEnv, *_rest: JSValue) -> float:
    """`Math.random()`: a float in [0, 1), drawn from the engine's PipeEnv.

    Example: [] → 0.375
    """
    return env.random()


def js_round(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.round(x)`: nearest integer, halves toward +Infinity (2.5 → 3, -2.5 → -2).

    Example: [-2.5] → -2
    """
    number = _num(x)
    if not math.isfinite(number):
        return number
    lower = float(math.floor(number))
    # compare the exact fraction rather than adding 0.5, which misrounds 0.49999999999999994
    rounded = lower + 1 if number - lower >= 0.5 else lower
    return _round_toward(number, rounded)


def sign(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.sign(x)`: 1, -1, or x itself for ±0 and NaN.

    Example: [-3] → -1
    """
    number = _num(x)
    if number > 0:
        return 1
    if number < 0:
        return -1
    return _result(number)


def sin(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.sin(x)` (x in radians); NaN for ±Infinity.

    Example: [0] → 0
    """
    return _sin(_num(x))


def sinh(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.sinh(x)`; ±Infinity when it overflows.

    Example: [0] → 0
    """
    number = _num(x)
    try:
        return _result(math.sinh(number))
    except OverflowError:
        return math.copysign(math.inf, number)


def sqrt(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.sqrt(x)`; NaN for negatives (but sqrt(-0) is -0).

    Example: [16] → 4
    """
    return _unary(math.sqrt)(_num(x))


def tan(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.tan(x)` (x in radians).

    Example: [0] → 0
    """
    return _tan(_num(x))


def tanh(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.tanh(x)`.

    Example: [0] → 0
    """
    return _tanh(_num(x))


def trunc(x: JSValue = UNDEFINED, *_rest: JSValue) -> Number:
    """`Math.trunc(x)`: drop the fractional part (-0.2 → -0).

    Example: [-4.7] → -4
    """
    number = _num(x)
    if not math.isfinite(number):
        return number
    return _round_toward(number, float(math.trunc(number)))


FUNCTIONS: dict[str, Callable[..., JSValue]] = {
    "add": add,
    "subtract": subtract,
    "multiply": multiply,
    "divide": divide,
    "abs": js_abs,
    "acos": acos,
    "acosh": acosh,
    "asin": asin,
    "asinh": asinh,
    "atan": atan,
    "atan2": atan2,
    "atanh": atanh,
    "cbrt": cbrt,
    "ceil": ceil,
    "clz32": clz32,
    "cos": cos,
    "cosh": cosh,
    "exp": exp,
    "expm1": expm1,
    "floor": floor,
    "fround": fround,
    "hypot": hypot,
    "imul": imul,
    "log": log,
    "log10": log10,
    "log1p": log1p,
    "log2": log2,
    "max": js_max,
    "min": js_min,
    "pow": js_pow,
    "random": random,
    "round": js_round,
    "sign": sign,
    "sin": sin,
    "sinh": sinh,
    "sqrt": sqrt,
    "tan": tan,
    "tanh": tanh,
    "trunc": trunc,
}
