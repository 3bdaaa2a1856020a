"""The @cron domain of the pipe function catalog (JavaScript semantics).

HotMesh reads cron text with the npm package `cron-parser` (v4); we read it with `croniter`, after
normalising the text the way cron-parser does: `@daily`-style aliases expand, and the fields are
right-aligned into six (second minute hour day-of-month month day-of-week) with missing leading
fields defaulting to `0 * * * * *` — so a 5-field expression fires at second 0 and `'* * *'`
means every minute, as in HotMesh. "Now" and the timer fidelity come from the PipeEnv.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable

from croniter import croniter

from hotmesh_actors.core.pipe.env import PipeEnv, uses_env
from hotmesh_actors.core.pipe.functions._jsops import js_error
from hotmesh_actors.core.pipe.jsvalues import JSValue

_ALIASES = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
    "@minutely": "0 * * * * *",
    "@secondly": "* * * * * *",
    "@weekdays": "0 0 0 * * 1-5",
    "@weekends": "0 0 0 * * 0,6",
}
_DEFAULTS = ("0", "*", "*", "*", "*", "*")
_FEBRUARY = re.compile(r"^(?:2|feb)$", re.IGNORECASE)
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def six_fields(expression: str) -> list[str]:
    """The expression as cron-parser sees it: aliases expanded, right-aligned into six fields."""
    text = expression.strip()
    text = _ALIASES.get(text.lower(), text)
    atoms = text.split()
    if len(atoms) > 6:
        raise js_error("Error", f"Invalid cron expression: {expression}")
    return list(_DEFAULTS[: 6 - len(atoms)]) + atoms


def _check_days(fields: list[str], expression: str) -> None:
    """cron-parser refuses explicit days that never occur (30 or 31 in February only) and `W`."""
    day_of_month, month = fields[3], fields[4]
    if "W" in day_of_month.upper():
        raise js_error("Error", f"Invalid cron expression: {expression}")
    if _FEBRUARY.match(month) and day_of_month.isdigit() and int(day_of_month) > 29:
        raise js_error("Error", f"Invalid cron expression: {expression}")


def next_fire_ms(expression: str, now_ms: float) -> float:
    """Epoch ms of the first UTC fire strictly after now_ms; raises on an invalid expression."""
    fields = six_fields(expression)
    _check_days(fields, expression)
    start = _EPOCH + datetime.timedelta(milliseconds=math.floor(now_ms))
    try:
        schedule = croniter(" ".join(fields), start, second_at_beginning=True)
        following: float = schedule.get_next(float)
    except (ValueError, KeyError, TypeError, OverflowError) as error:
        raise js_error("Error", f"Invalid cron expression: {expression}") from error
    return following * 1000


@uses_env
def nextDelay(env: PipeEnv, cronExpression: JSValue = None) -> JSValue:  # noqa: N802, N803 - JS names
    """Seconds until the cron expression next fires (UTC), rounded, at least the timer fidelity.

    Returns -1 for null or non-string input; raises on an invalid expression.
    Example: ['0 0 * * *'] → 43200
    """
    if not isinstance(cronExpression, str):
        return -1
    delay = (next_fire_ms(cronExpression, env.now_ms) - env.now_ms) / 1000
    if delay <= 0:
        return env.fidelity_seconds
    return max(math.floor(delay + 0.5), env.fidelity_seconds)


FUNCTIONS: dict[str, Callable[..., JSValue]] = {
    "nextDelay": nextDelay,
}
