"""The @conditional domain of the pipe function catalog (JavaScript semantics).

Comparisons follow JavaScript's operators exactly: `equality` is loose `==` (so `'1' == 1` and
`null == undefined` hold), the relational ones coerce like `<` does (strings compare by UTF-16 code
units, anything against NaN is false) and `nullish` is `??`, returning an operand.

`gte`, `lte`, `gt` and `lt` are aliases of `greater_than_or_equal`, `less_than_or_equal`,
`greater_than` and `less_than` (HotMesh itself only has the long names; the short ones are what
users copy from the README, and @number has them too).
"""

from __future__ import annotations

from collections.abc import Callable

from hotmesh_actors.core.pipe.jsvalues import (
    UNDEFINED,
    JSValue,
    is_nullish,
    js_ge,
    js_gt,
    js_le,
    js_lt,
    loose_equals,
    strict_equals,
    truthy,
)


def ternary(
    condition: JSValue = UNDEFINED,
    if_true: JSValue = UNDEFINED,
    if_false: JSValue = UNDEFINED,
    *_rest: JSValue,
) -> JSValue:
    """`condition ? if_true : if_false`, with JavaScript truthiness ('' 0 NaN null are false).

    Example: [0, 'yes', 'no'] → 'no'
    """
    return if_true if truthy(condition) else if_false


def equality(left: JSValue = UNDEFINED, right: JSValue = UNDEFINED, *_rest: JSValue) -> bool:
    """`left == right`: loose equality with JavaScript's type coercion.

    Example: ['1', 1] → true
    """
    return loose_equals(left, right)


def strict_equality(left: JSValue = UNDEFINED, right: JSValue = UNDEFINED, *_rest: JSValue) -> bool:
    """`left === right`: same type and value; NaN never equals itself; objects by identity.

    Example: ['1', 1] → false
    """
    return strict_equals(left, right)


def inequality(left: JSValue = UNDEFINED, right: JSValue = UNDEFINED, *_rest: JSValue) -> bool:
    """`left != right`: the negation of loose equality.

    Example: [null, undefined] → false
    """
    return not loose_equals(left, right)


def strict_inequality(left: JSValue = UNDEFINED, right: JSValue = UNDEFINED, *_rest: JSValue) -> bool:
    """`left !== right`: the negation of strict equality.

    Example: ['1', 1] → true
    """
    return not strict_equals(left, right)


def greater_than(left: JSValue = UNDEFINED, right: JSValue = UNDEFINED, *_rest: JSValue) -> bool:
    """`left > right` (two strings compare by code units, otherwise as numbers). Alias: `gt`.

    Example: ['10', 9] → true
    """
    return js_gt(left, right)


def less_than(left: JSValue = UNDEFINED, right: JSValue = UNDEFINED, *_rest: JSValue) -> bool:
    """`left < right` (false when either side is NaN). Alias: `lt`.

    Example: ['abc', 'abd'] → true
    """
    return js_lt(left, right)


def greater_than_or_equal(left: JSValue = UNDEFINED, right: JSValue = UNDEFINED, *_rest: JSValue) -> bool:
    """`left >= right` (`null >= 0` is true, `undefined >= 0` false). Alias: `gte`.

    Example: [5, 5] → true
    """
    return js_ge(left, right)


def less_than_or_equal(left: JSValue = UNDEFINED, right: JSValue = UNDEFINED, *_rest: JSValue) -> bool:
    """`left <= right` (false when either side is NaN). Alias: `lte`.

    Example: ['2', 10] → true
    """
    return js_le(left, right)


def nullish(left: JSValue = UNDEFINED, right: JSValue = UNDEFINED, *_rest: JSValue) -> JSValue:
    """`left ?? right`: right only when left is null or undefined (0 and '' are kept).

    Example: [0, 'default'] → 0
    """
    return right if is_nullish(left) else left


FUNCTIONS: dict[str, Callable[..., JSValue]] = {
    "ternary": ternary,
    "equality": equality,
    "strict_equality": strict_equality,
    "inequality": inequality,
    "strict_inequality": strict_inequality,
    "greater_than": greater_than,
    "less_than": less_than,
    "greater_than_or_equal": greater_than_or_equal,
    "less_than_or_equal": less_than_or_equal,
    "nullish": nullish,
    # README-style short aliases (see the module docstring)
    "gte": greater_than_or_equal,
    "lte": less_than_or_equal,
    "gt": greater_than,
    "lt": less_than,
}
