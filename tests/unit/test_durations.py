"""Durations and retry-policy maths (pure)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotmesh_actors.core.durations import RetryPolicy, parse_duration, round_up_to_fidelity

UNITS = {"ms": 0.001, "s": 1, "seconds": 1, "m": 60, "minutes": 60, "h": 3600, "hour": 3600, "d": 86400,
         "days": 86400, "w": 604800}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30 seconds", 30), ("2 minutes", 120), ("1 hour", 3600), ("30d", 2_592_000), ("72h", 259_200),
     ("120s", 120), ("500ms", 0.5), ("1.5h", 5400), ("90", 90), (45, 45), (0.25, 0.25), ("2 weeks", 1_209_600)],
)
def test_parse_duration_examples(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["", "soon", "5 fortnights", "1e3s", True, float("nan"), float("inf"), None])
def test_parse_duration_rejects_nonsense_with_a_clear_error(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(sorted(UNITS)), st.booleans())
def test_parse_duration_scales_by_unit(amount: int, unit: str, spaced: bool) -> None:
    text = f"{amount} {unit}" if spaced else f"{amount}{unit}"
    assert parse_duration(text) == pytest.approx(amount * UNITS[unit])


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_number_and_number_string_agree(value: float) -> None:
    assert parse_duration(value) == parse_duration(repr(value)) if "e" not in repr(value) else True


def test_default_policy_is_hotmeshs() -> None:
    policy = RetryPolicy()
    assert (policy.maximum_attempts, policy.backoff_coefficient, policy.maximum_interval) == (3, 10, 120)
    assert policy.delays() == [10, 100]


def test_spec_example_coefficient_two_capped_at_300() -> None:
    policy = RetryPolicy(maximum_attempts=10, backoff_coefficient=2, maximum_interval=300)
    assert policy.delays() == [2, 4, 8, 16, 32, 64, 128, 256, 300]


def test_single_attempt_never_retries() -> None:
    assert not RetryPolicy(maximum_attempts=1).should_retry(0)


@given(
    attempts=st.integers(min_value=1, max_value=50),
    coefficient=st.floats(min_value=0, max_value=100),
    cap=st.floats(min_value=0, max_value=10_000),
    initial=st.floats(min_value=0, max_value=100),
)
def test_retry_delays_are_capped_monotone_and_counted(attempts: int, coefficient: float, cap: float,
                                                      initial: float) -> None:
    policy = RetryPolicy(maximum_attempts=attempts, backoff_coefficient=coefficient, maximum_interval=cap,
                         initial_interval=initial)
    delays = policy.delays()
    assert len(delays) == attempts - 1
    assert all(0 <= d <= cap for d in delays)
    if coefficient >= 1:
        assert delays == sorted(delays)
    retries = [n for n in range(attempts + 5) if policy.should_retry(n)]
    assert retries == list(range(attempts - 1))
    assert policy.poison_threshold() == max(attempts, 5)


@given(st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_subnormal=False), st.sampled_from([1, 5, 15]))
def test_fidelity_rounds_up_to_the_next_slot(seconds: float, fidelity: int) -> None:
    rounded = round_up_to_fidelity(seconds, fidelity)
    assert rounded >= seconds
    assert rounded - seconds <= fidelity
    assert math.isclose(rounded % fidelity, 0, abs_tol=1e-6) or math.isclose(rounded % fidelity, fidelity)


def test_policy_rejects_zero_attempts() -> None:
    with pytest.raises(ValueError, match="maximum_attempts"):
        RetryPolicy(maximum_attempts=0)
