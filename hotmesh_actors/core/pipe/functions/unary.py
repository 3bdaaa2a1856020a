"""The @unary domain of the pipe function catalog (JavaScript semantics): `!`, `+`, `-` and `~`."""

from __future__ import annotations

from collections.abc import Callable

from hotmesh_actors.core.pipe.jsvalues import (
    UNDEFINED,
    JSValue,
    normalize_number,
    to_int32,
    to_number,
    truthy,
)


def logical_not(value: JSValue = UNDEFINED, *_rest: JSValue) -> bool:
    """`!value`: true for the falsy values ('' 0 -0 NaN null undefined false).

    Example: [''] → true
    """
    return not truthy(value)


def positive(value: JSValue = UNDEFINED, *_rest: JSValue) -> int | float:
    """`+value`: JavaScript ToNumber ('' → 0, '0x1A' → 26, [] → 0, 'abc' → NaN).

    Example: ['42'] → 42
    """
    return to_number(value)


def negative(value: JSValue = UNDEFINED, *_rest: JSValue) -> int | float:
    """`-value`: ToNumber then negate (so `-0` for 0 and null).

    Example: ['5'] → -5
    """
    return normalize_number(-float(to_number(value)))


def bitwise_not(value: JSValue = UNDEFINED, *_rest: JSValue) -> int:
    """`~value`: bitwise NOT of the value as a signed 32-bit integer.

    Example: [5] → -6
    """
    return ~to_int32(value)


FUNCTIONS: dict[str, Callable[..., JSValue]] = {
    "not": logical_not,
    "positive": positive,
    "negative": negative,
    "bitwise_not": bitwise_not,
}
