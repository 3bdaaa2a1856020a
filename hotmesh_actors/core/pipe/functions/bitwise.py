"""The @bitwise domain of the pipe function catalog (JavaScript semantics).

Operands are converted with ToInt32 (truncate, wrap modulo 2**32 into the signed range; NaN and
±Infinity become 0); shift counts use only their low five bits, so `1 << 32` is 1.
"""

from __future__ import annotations

from collections.abc import Callable

from hotmesh_actors.core.pipe.jsvalues import UNDEFINED, JSValue, to_int32, to_uint32


def _wrap_int32(number: int) -> int:
    """Reduce an integer to the signed 32-bit range, as every JS bitwise result is."""
    number &= 0xFFFFFFFF
    return number - 0x1_0000_0000 if number >= 0x8000_0000 else number


def bitwise_and(left: JSValue = UNDEFINED, right: JSValue = UNDEFINED, *_rest: JSValue) -> int:
    """`left & right` on 32-bit integers.

    Example: [12, 10] → 8
    """
    return to_int32(left) & to_int32(right)


def bitwise_or(left: JSValue = UNDEFINED, right: JSValue = UNDEFINED, *_rest: JSValue) -> int:
    """`left | right` on 32-bit integers (so `x | 0` truncates to int32).

    Example: [12, 10] → 14
    """
    return to_int32(left) | to_int32(right)


def bitwise_xor(left: JSValue = UNDEFINED, right: JSValue = UNDEFINED, *_rest: JSValue) -> int:
    """`left ^ right` on 32-bit integers.

    Example: [12, 10] → 6
    """
    return to_int32(left) ^ to_int32(right)


def left_shift(value: JSValue = UNDEFINED, count: JSValue = UNDEFINED, *_rest: JSValue) -> int:
    """`value << count`: shift left by count mod 32, wrapping into the signed 32-bit range.

    Example: [1, 31] → -2147483648
    """
    return _wrap_int32(to_int32(value) << (to_uint32(count) & 31))


def right_shift(value: JSValue = UNDEFINED, count: JSValue = UNDEFINED, *_rest: JSValue) -> int:
    """`value >> count`: sign-propagating shift right by count mod 32.

    Example: [-16, 2] → -4
    """
    return to_int32(value) >> (to_uint32(count) & 31)


def unsigned_right_shift(value: JSValue = UNDEFINED, count: JSValue = UNDEFINED, *_rest: JSValue) -> int:
    """`value >>> count`: zero-filling shift right of the value as an unsigned 32-bit integer.

    Example: [-1, 28] → 15
    """
    return to_uint32(value) >> (to_uint32(count) & 31)


FUNCTIONS: dict[str, Callable[..., JSValue]] = {
    "and": bitwise_and,
    "or": bitwise_or,
    "xor": bitwise_xor,
    "leftShift": left_shift,
    "rightShift": right_shift,
    "unsignedRightShift": unsigned_right_shift,
}
