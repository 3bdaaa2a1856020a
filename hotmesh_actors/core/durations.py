"""Durations ('30 seconds', '2 minutes', 90) and the retry policy's backoff maths.

Numbers, and strings that are only a number, mean seconds. Strings with a unit follow the
`ms` library that HotMesh uses: '500ms', '5s', '5 seconds', '2m', '1 hour', '30d', '2 weeks', '1y'.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final

import attrs

_UNIT_SECONDS: Final[dict[str, float]] = {
    "ms": 0.001,
    "msec": 0.001,
    "msecs": 0.001,
    "millisecond": 0.001,
    "milliseconds": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
    "w": 604800.0,
    "week": 604800.0,
    "weeks": 604800.0,
    "y": 31557600.0,
    "yr": 31557600.0,
    "yrs": 31557600.0,
    "year": 31557600.0,
    "years": 31557600.0,
}

_DURATION = re.compile(r"^\s*(-?(?:\d+(?:\.\d*)?|\.\d+))\s*([a-zA-Z]*)\s*$")

Duration = int | float | str


def parse_duration(value: Duration) -> float:
    """Return the duration in seconds.

    Raises ValueError for text that is neither a number nor a number with a known unit,
    and for NaN or infinite numbers.

    Example: ``parse_duration('2 minutes') == 120.0``; ``parse_duration(1.5) == 1.5``.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        found = _DURATION.match(value)
        if not found:
            raise ValueError(f"not a duration: {value!r} (try '30 seconds', '2m', '1 hour' or a number)")
        number, unit = found.groups()
        factor = _UNIT_SECONDS.get(unit.lower(), None) if unit else 1.0
        if factor is None:
            raise ValueError(f"unknown duration unit {unit!r} in {value!r}")
        seconds = float(number) * factor
    else:
        raise ValueError(f"not a duration: {value!r}")
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"not a finite duration: {value!r}")
    return seconds


def _seconds_field(value: Duration) -> float:
    return parse_duration(value)


def _positive_attempts(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be >= 1, got {value}")


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How often and how late a failed message is tried again.

    Attempt ``n`` (0-based) that fails is retried when ``n + 1 < maximum_attempts``, after
    ``min(initial_interval * backoff_coefficient ** (n + 1), maximum_interval)`` seconds.
    Defaults (3 attempts, coefficient 10, cap 120 s, initial 1 s) are HotMesh's.

    Example: ``RetryPolicy(maximum_attempts=5, backoff_coefficient=2, maximum_interval='60s')``.
    """

    maximum_attempts: int = attrs.field(default=3, validator=_positive_attempts)
    backoff_coefficient: float = attrs.field(default=10.0, converter=float, validator=_non_negative)
    maximum_interval: float = attrs.field(default=120.0, converter=_seconds_field, validator=_non_negative)
    initial_interval: float = attrs.field(default=1.0, converter=_seconds_field, validator=_non_negative)

    def should_retry(self, attempt: int) -> bool:
        """True when the failed attempt number ``attempt`` (0-based) earns another try."""
        return attempt + 1 < self.maximum_attempts

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retrying after failed attempt ``attempt`` (0-based)."""
        try:
            grown = self.initial_interval * self.backoff_coefficient ** (attempt + 1)
        except OverflowError:
            return self.maximum_interval
        return min(grown, self.maximum_interval)

    def delays(self) -> list[float]:
        """Every retry delay this policy will ever apply, in order."""
        return [self.delay(n) for n in range(self.maximum_attempts - 1)]

    def poison_threshold(self, floor: int = 5) -> int:
        """Deliveries after which a message is dead-lettered unseen: max(attempts, floor)."""
        return max(self.maximum_attempts, floor)


DEFAULT_RETRY_POLICY: Final = RetryPolicy()
"""What a worker declared without `retry_policy` applies to an uncoded failure: 3 attempts in all, after
10 s and 100 s (initial 1 s × 10^(try+1), capped at 120 s)."""

NO_RETRY: Final = RetryPolicy(maximum_attempts=1)
"""One attempt: the failure is reported to the engine at once."""

LEGACY_RETRY_BASE_S: Final = 0.001
"""HotMesh's code-keyed YAML retry waits 10^(try+1) ms: 10 ms, 100 ms, 1 s, then 10 s (try capped at 3)."""

_POLICY_KEYS: Final = {"maximumAttempts": "maximum_attempts", "backoffCoefficient": "backoff_coefficient",
                       "maximumInterval": "maximum_interval", "initialInterval": "initial_interval"}


def legacy_retry_policy(retries: int) -> RetryPolicy:
    """The policy of a YAML `retry: {'<code>': [retries]}` entry: `retries` more tries after the first.

    The waits are HotMesh's legacy ones (10 ms, 100 ms, 1 s, then 10 s each); HotMesh sleeps in process,
    we publish the retry as a delayed row, so a crash while waiting loses nothing.
    """
    return RetryPolicy(maximum_attempts=max(0, retries) + 1, backoff_coefficient=10.0,
                       initial_interval=LEGACY_RETRY_BASE_S, maximum_interval=10.0)


def is_policy_spec(retry: Mapping[str, Any]) -> bool:
    """True when a YAML `retry:` is written as a RetryPolicy (`maximumAttempts`, …), not as a code map."""
    return any(key in _POLICY_KEYS for key in retry)


def policy_from_spec(spec: Mapping[str, Any]) -> RetryPolicy:
    """A RetryPolicy from its camelCase JSON form (`{maximumAttempts: 5, maximumInterval: '30s'}`).

    Raises ValueError for an unknown key or a bad value.
    """
    unknown = sorted(set(spec) - set(_POLICY_KEYS))
    if unknown:
        raise ValueError(f"unknown retry policy key(s) {unknown}; expected {sorted(_POLICY_KEYS)}")
    return RetryPolicy(**{_POLICY_KEYS[key]: value for key, value in spec.items()})


def legacy_retries_for(retry: Mapping[str, Any], code: int) -> int:
    """How many retries a code-keyed YAML `retry:` map grants error `code` (0 when the code is absent).

    An entry is `[n, …]` (HotMesh's form) or a bare `n`.
    """
    entry = retry.get(str(code))
    if isinstance(entry, list | tuple) and entry:
        entry = entry[0]
    if isinstance(entry, bool) or not isinstance(entry, int | float) or math.isnan(entry):
        return 0
    return max(0, int(entry))


def choose_retry_policy(
    *, worker_policy: RetryPolicy | None, activity_retry: Mapping[str, Any] | None, code: int, coded: bool,
) -> RetryPolicy:
    """The policy that governs one failed worker attempt: worker policy > activity YAML `retry:` > default.

    - `worker_policy` (``Worker(..., retry_policy=...)``) wins for every failure, coded or not;
    - else the activity's YAML `retry:`: a RetryPolicy-shaped map applies to every failure, a code map
      retries only the codes it lists (`{'500': [3]}`: a 500 is tried 4 times in all, a 403 once);
    - else :data:`DEFAULT_RETRY_POLICY` for an uncoded failure (an exception without a `code`), and
      :data:`NO_RETRY` for a coded one (a returned `status: error` reply, or an exception with an integer
      `code`): a deliberate answer such as 422 is routed at once, as HotMesh does.
    """
    if worker_policy is not None:
        return worker_policy
    if activity_retry:
        if is_policy_spec(activity_retry):
            return policy_from_spec(activity_retry)
        retries = legacy_retries_for(activity_retry, code)
        return legacy_retry_policy(retries) if retries else NO_RETRY
    return NO_RETRY if coded else DEFAULT_RETRY_POLICY


def widest_retry_policy(*, worker_policy: RetryPolicy | None, activity_retry: Mapping[str, Any] | None,
                        ) -> RetryPolicy:
    """The largest attempt budget any failure of this message could get (sizes the poison threshold)."""
    if worker_policy is not None:
        return worker_policy
    if activity_retry:
        if is_policy_spec(activity_retry):
            return policy_from_spec(activity_retry)
        most = max((legacy_retries_for(activity_retry, int(code)) for code in activity_retry
                    if str(code).isdigit()), default=0)
        return legacy_retry_policy(most)
    return DEFAULT_RETRY_POLICY


def round_up_to_fidelity(seconds: float, fidelity_seconds: float) -> float:
    """Round a delay up to the next multiple of the timer fidelity (timers fire on slots)."""
    if fidelity_seconds <= 0:
        return seconds
    return math.ceil(seconds / fidelity_seconds) * fidelity_seconds
