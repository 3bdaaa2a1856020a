"""The @symbol domain of the pipe function catalog: nullary constants such as null or NaN.

Each call returns a fresh value (a new `{}` or `[]`), so pipes may mutate what they get. `date`
reads the clock through the PipeEnv, never directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from hotmesh_actors.core.pipe.env import PipeEnv, uses_env
from hotmesh_actors.core.pipe.functions.date import JSDate
from hotmesh_actors.core.pipe.jsvalues import NAN, UNDEFINED, JSValue


def null(*_rest: JSValue) -> None:
    """`null`.

    Example: [] → null
    """
    return None


def undefined(*_rest: JSValue) -> JSValue:
    """`undefined` (a value that is never written to job data).

    Example: [] → undefined
    """
    return UNDEFINED


def whitespace(*_rest: JSValue) -> str:
    """A single space, `' '` (YAML makes a bare space awkward to write).

    Example: [] → ' '
    """
    return " "


def empty_object(*_rest: JSValue) -> dict[str, JSValue]:
    """A new empty object, `{}`.

    Example: [] → {}
    """
    return {}


def empty_array(*_rest: JSValue) -> list[JSValue]:
    """A new empty array, `[]`.

    Example: [] → []
    """
    return []


def pos_infinity(*_rest: JSValue) -> float:
    """`Infinity`.

    Example: [] → Infinity
    """
    return math.inf


def neg_infinity(*_rest: JSValue) -> float:
    """`-Infinity`.

    Example: [] → -Infinity
    """
    return -math.inf


def not_a_number(*_rest: JSValue) -> float:
    """`NaN`.

    Example: [] → NaN
    """
    return NAN


@uses_env
def date(env: PipeEnv, *_rest: JSValue) -> JSDate:
    """`new Date()`: the current time (the engine's clock, from the PipeEnv).

    Example: [] → Date(2026-01-01T00:00:00.000Z)
    """
    return JSDate(env.now_ms)


FUNCTIONS: dict[str, Callable[..., JSValue]] = {
    "null": null,
    "undefined": undefined,
    "whitespace": whitespace,
    "object": empty_object,
    "array": empty_array,
    "posInfinity": pos_infinity,
    "negInfinity": neg_infinity,
    "NaN": not_a_number,
    "date": date,
}
