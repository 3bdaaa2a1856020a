"""@cron.nextDelay: properties over many "now" values (the JS vectors pin one instant)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotmesh_actors.core.pipe.env import PipeEnv, needs_env
from hotmesh_actors.core.pipe.functions import cron
from hotmesh_actors.errors import PipeEvaluationError

# 2000-01-01 .. 2100-01-01, in ms
now_values = st.floats(min_value=946_684_800_000, max_value=4_102_444_800_000)
PERIODS = {"* * * * *": 60, "*/5 * * * *": 300, "0 * * * *": 3600, "0 0 * * *": 86400, "*/10 * * * * *": 10}


def _env(now_ms: float, fidelity: int = 5) -> PipeEnv:
    return PipeEnv(now_ms=now_ms, random=lambda: 0.5, fidelity_seconds=fidelity)


def test_next_delay_takes_the_env() -> None:
    assert needs_env(cron.nextDelay)


@given(now_values, st.sampled_from(sorted(PERIODS)), st.integers(min_value=1, max_value=30))
def test_delay_is_at_least_fidelity_and_at_most_one_period(now_ms: float, expression: str, fidelity: int) -> None:
    delay = cron.nextDelay(_env(now_ms, fidelity), expression)
    assert delay >= fidelity
    assert delay <= max(PERIODS[expression], fidelity)


@given(now_values)
def test_daily_delay_lands_on_midnight_utc(now_ms: float) -> None:
    delay = cron.nextDelay(_env(now_ms, 1), "0 0 * * *")
    fire_ms = cron.next_fire_ms("0 0 * * *", now_ms)
    assert fire_ms % 86_400_000 == 0
    assert delay == max(math.floor((fire_ms - now_ms) / 1000 + 0.5), 1)


@pytest.mark.parametrize("value", [None, 5, ["* * * * *"], {"cron": "* * * * *"}])
def test_non_strings_give_minus_one(value: object) -> None:
    assert cron.nextDelay(_env(0), value) == -1


@pytest.mark.parametrize("expression", ["1 day", "60 * * * *", "* * * * * * *", "0 0 30 2 *", "0 0 1W * *"])
def test_invalid_expressions_raise(expression: str) -> None:
    with pytest.raises(PipeEvaluationError, match="Invalid cron expression"):
        cron.nextDelay(_env(0), expression)


def test_short_expressions_right_align_like_cron_parser() -> None:
    assert cron.six_fields("* * *") == ["0", "*", "*", "*", "*", "*"]
    assert cron.six_fields("@daily") == ["0", "0", "0", "*", "*", "*"]
