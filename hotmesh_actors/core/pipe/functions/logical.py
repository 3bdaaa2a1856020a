"""The @logical domain of the pipe function catalog (JavaScript semantics).

Like `&&` and `||`, both functions return one of their operands rather than a boolean, so
`{@logical.or}` doubles as "first truthy value". Logical negation lives in @unary (`not`).
"""

from __future__ import annotations

from collections.abc import Callable

from hotmesh_actors.core.pipe.jsvalues import UNDEFINED, JSValue, truthy


def logical_and(left: JSValue = UNDEFINED, right: JSValue = UNDEFINED, *_rest: JSValue) -> JSValue:
    """`left && right`: left when it is falsy, otherwise right.

    Example: [0, 'x'] → 0
    """
    return right if truthy(left) else left


def logical_or(left: JSValue = UNDEFINED, right: JSValue = UNDEFINED, *_rest: JSValue) -> JSValue:
    """`left || right`: left when it is truthy, otherwise right.

    Example: ['', 'fallback'] → 'fallback'
    """
    return left if truthy(left) else right


FUNCTIONS: dict[str, Callable[..., JSValue]] = {
    "and": logical_and,
    "or": logical_or,
}
