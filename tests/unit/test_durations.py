"""Durations and retry-policy maths (pure)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotmesh_actors.core.durations import (
    DEFAULT_RETRY_POLICY,
    NO_RETRY,
    RetryPolicy,
    choose_retry_policy,
    legacy_retries_for,
    legacy_retry_policy,
    parse_duration,
    policy_from_spec,
    round_up_to_fidelity,
    widest_retry_policy,
)

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


# -- which policy governs a failed worker attempt (worker policy > YAML retry: > default) ----------------

codes = st.integers(min_value=100, max_value=999)


def test_default_policy_tries_three_times_after_ten_and_a_hundred_seconds() -> None:
    """HotMesh counts every attempt: maximumAttempts 3 = the first try and two retries, min(1·10^(n+1), 120)."""
    assert [DEFAULT_RETRY_POLICY.should_retry(n) for n in range(3)] == [True, True, False]
    assert DEFAULT_RETRY_POLICY.delays() == [10.0, 100.0]
    assert DEFAULT_RETRY_POLICY.poison_threshold() == 5


@given(policy=st.builds(RetryPolicy, maximum_attempts=st.integers(1, 9)), code=codes, coded=st.booleans(),
       retry=st.none() | st.dictionaries(codes.map(str), st.lists(st.integers(0, 5), min_size=1, max_size=2)))
def test_a_workers_own_policy_wins_over_everything(policy: RetryPolicy, code: int, coded: bool,
                                                  retry: dict[str, list[int]] | None) -> None:
    assert choose_retry_policy(worker_policy=policy, activity_retry=retry, code=code, coded=coded) is policy
    assert widest_retry_policy(worker_policy=policy, activity_retry=retry) is policy


@given(code=codes, retries=st.integers(1, 6), coded=st.booleans())
def test_a_yaml_code_map_retries_the_listed_code_that_many_times(code: int, retries: int, coded: bool) -> None:
    policy = choose_retry_policy(worker_policy=None, activity_retry={str(code): [retries]}, code=code, coded=coded)
    assert policy.maximum_attempts == retries + 1
    assert policy == legacy_retry_policy(retries)


@given(code=codes, coded=st.booleans())
def test_a_yaml_code_map_does_not_retry_a_code_it_does_not_list(code: int, coded: bool) -> None:
    other = str(code + 1 if code < 999 else 100)
    policy = choose_retry_policy(worker_policy=None, activity_retry={other: [3]}, code=code, coded=coded)
    assert policy is NO_RETRY


def test_legacy_waits_are_hotmeshs_ten_to_the_try_plus_one_milliseconds() -> None:
    assert legacy_retry_policy(5).delays() == pytest.approx([0.01, 0.1, 1.0, 10.0, 10.0])
    assert legacy_retries_for({"500": [3, "x"]}, 500) == 3
    assert legacy_retries_for({"500": 2}, 500) == 2
    assert legacy_retries_for({"500": ["x"]}, 500) == 0
    assert legacy_retries_for({"500": [3]}, 404) == 0


def test_a_yaml_policy_object_applies_to_every_code() -> None:
    spec = {"maximumAttempts": 4, "backoffCoefficient": 2, "maximumInterval": "30s", "initialInterval": 0.5}
    expected = RetryPolicy(maximum_attempts=4, backoff_coefficient=2, maximum_interval=30, initial_interval=0.5)
    for code, coded in ((500, False), (422, True)):
        assert choose_retry_policy(worker_policy=None, activity_retry=spec, code=code, coded=coded) == expected
    with pytest.raises(ValueError, match="maximumAttempt"):
        policy_from_spec({"maximumAttempt": 4})


def test_without_policy_or_yaml_uncoded_failures_get_the_default_and_coded_answers_none() -> None:
    assert choose_retry_policy(worker_policy=None, activity_retry=None, code=500, coded=False) is DEFAULT_RETRY_POLICY
    assert choose_retry_policy(worker_policy=None, activity_retry={}, code=500, coded=False) is DEFAULT_RETRY_POLICY
    assert choose_retry_policy(worker_policy=None, activity_retry=None, code=422, coded=True) is NO_RETRY
    assert choose_retry_policy(worker_policy=None, activity_retry=None, code=500, coded=True) is NO_RETRY


def test_the_widest_budget_sizes_the_poison_threshold() -> None:
    assert widest_retry_policy(worker_policy=None, activity_retry={"404": [2], "500": [7]}).maximum_attempts == 8
    assert widest_retry_policy(worker_policy=None, activity_retry=None) is DEFAULT_RETRY_POLICY
