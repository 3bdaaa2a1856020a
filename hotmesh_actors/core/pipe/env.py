"""The outside inputs a pipe may need (clock, randomness), passed in so the core never reads them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs

F = TypeVar("F", bound=Callable[..., Any])


@attrs.frozen(kw_only=True)
class PipeEnv:
    """Time and randomness for one evaluation; the engine supplies them, tests fix them.

    `now_ms` is milliseconds since the epoch (UTC); `fidelity_seconds` is the timer granularity
    used by `@cron.nextDelay`; `random` returns floats in [0, 1).
    """

    now_ms: float
    random: Callable[[], float]
    fidelity_seconds: int = 5


def uses_env(function: F) -> F:
    """Mark a catalog function that takes the PipeEnv as its first argument (e.g. @date.now)."""
    function.uses_env = True  # type: ignore[attr-defined]
    return function


def needs_env(function: Callable[..., Any]) -> bool:
    """True when the evaluator must pass a PipeEnv before the operands."""
    return bool(getattr(function, "uses_env", False))
