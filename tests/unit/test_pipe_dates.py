"""@date: JSDate arithmetic and formatting beyond the JS vectors (properties, local zones, the env clock)."""

from __future__ import annotations

import datetime
import math
import os
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotmesh_actors.core.pipe.env import PipeEnv, needs_env
from hotmesh_actors.core.pipe.functions import _jstime as jt
from hotmesh_actors.core.pipe.functions import date
from hotmesh_actors.core.pipe.functions.date import JSDate
from hotmesh_actors.core.pipe.jsvalues import UNDEFINED, js_add, to_number, to_string
from hotmesh_actors.errors import PipeEvaluationError

MAX_MS = 8_640_000_000_000_000
ENV = PipeEnv(now_ms=1_709_251_198_765.4, random=lambda: 0.5, fidelity_seconds=5)  # 2024-02-29T23:59:58.765Z

time_values = st.integers(min_value=-MAX_MS, max_value=MAX_MS)


def _set_zone(name: str) -> None:
    os.environ["TZ"] = name
    time.tzset()


@pytest.fixture(autouse=True)
def utc_zone() -> Iterator[None]:
    """Every test runs in UTC (as the vectors were made), and the process zone is restored after."""
    previous = os.environ.get("TZ")
    _set_zone("UTC")
    yield
    if previous is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = previous
    time.tzset()


@given(time_values)
def test_iso_string_round_trips_every_time_value(ms: int) -> None:
    assert date.parse(date.toISOString(ms)) == ms


@given(time_values)
def test_to_string_parses_back_to_the_same_second(ms: int) -> None:
    if not -62_198_755_200_000 <= ms:  # V8 itself cannot re-read toString of years before -1
        return
    assert date.parse(date.toString(ms)) == ms - ms % 1000


@given(st.integers(min_value=-3_000_000, max_value=3_000_000))
def test_civil_day_conversion_inverts(days: int) -> None:
    assert jt.days_from_civil(*jt.civil_from_days(days)) == days


@given(st.datetimes(min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31)))
def test_utc_getters_agree_with_python_datetime(moment: datetime.datetime) -> None:
    ms = (moment - datetime.datetime(1970, 1, 1)) // datetime.timedelta(milliseconds=1)
    assert date.getUTCFullYear(ms) == moment.year
    assert date.getUTCMonth(ms) == moment.month - 1
    assert date.getUTCDate(ms) == moment.day
    assert date.getUTCDay(ms) == (moment.isoweekday() % 7)
    assert date.getUTCHours(ms) == moment.hour
    assert date.getUTCMilliseconds(ms) == moment.microsecond // 1000


@given(time_values, st.integers(min_value=-100, max_value=100))
def test_set_utc_date_moves_by_whole_days(ms: int, day: int) -> None:
    result = date.setUTCDate(ms, day)
    if isinstance(result, float) and math.isnan(result):
        return  # stepped outside the ±8.64e15 range
    delta = result - ms
    assert delta % 86_400_000 == 0


def test_jsdate_to_primitive_follows_the_hint() -> None:
    moment = JSDate(0)
    assert to_string(moment) == "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)"
    assert to_number(moment) == 0
    assert js_add(JSDate(1000), 1) == 1001


def test_invalid_date_is_nan_and_prints_invalid() -> None:
    invalid = JSDate(math.nan)
    assert not invalid.is_valid
    assert math.isnan(date.getTime(invalid))
    assert date.toString(invalid) == "Invalid Date"
    assert date.toJSON(invalid) is None
    with pytest.raises(PipeEvaluationError, match="RangeError"):
        date.toISOString(invalid)


def test_setters_return_ms_and_leave_the_argument_alone() -> None:
    moment = JSDate(0)
    assert date.setUTCHours(moment, 18) == 18 * 3_600_000
    assert moment.ms == 0


def test_setters_treat_missing_trailing_arguments_as_absent() -> None:
    april = "2023-04-23T15:04:05.678Z"
    expected = date.setHours(april, 1, 4, 5, 678)
    assert date.setHours(april, 1) == expected
    assert date.setHours(april, 1, UNDEFINED, UNDEFINED) == expected
    assert math.isnan(date.setHours(april, 1, math.nan))


def test_hotmesh_reads_iso_without_z_as_leading_integer() -> None:
    assert date.getTime("2024-01-01T00:00:00") == 2024
    assert date.getTime("2024-01-01T00:00:00Z") == 1_704_067_200_000


@pytest.mark.parametrize("bad", [None, UNDEFINED, True, {}, [], "abc"])
def test_unusable_date_inputs_raise_invalid_date_format(bad: object) -> None:
    with pytest.raises(PipeEvaluationError, match="Invalid date format"):
        date.getTime(bad)


def test_clock_functions_read_the_env_only() -> None:
    assert needs_env(date.now) and needs_env(date.yyyymmdd) and needs_env(date.toISOXString)
    assert date.now(ENV) == 1_709_251_198_765
    assert date.yyyymmdd(ENV) == "2024-02-29"
    assert date.toISOXString(ENV) == "20240229235958.765"
    assert date.toISOXString(ENV, "2023-04-23") == "20230423000000.000"


def test_local_getters_follow_the_process_zone() -> None:
    _set_zone("Europe/Oslo")
    winter = "2024-01-15T12:00:00Z"
    summer = "2024-07-15T12:00:00Z"
    assert date.getHours(winter) == 13
    assert date.getHours(summer) == 14
    assert date.getTimezoneOffset(winter) == -60
    assert date.getTimezoneOffset(summer) == -120
    assert date.toString(winter).startswith("Mon Jan 15 2024 13:00:00 GMT+0100")
    # local setters work in wall-clock time and return UTC ms
    assert date.setHours(winter, 0, 0, 0, 0) == 1_705_273_200_000  # 2024-01-14T23:00:00Z
    assert date.parse("2024-07-15T14:00:00") == 1_721_044_800_000


def test_local_setter_across_a_dst_change() -> None:
    _set_zone("Europe/Oslo")
    # expected values from node under TZ=Europe/Oslo
    assert date.toISOString(date.setDate(date.parse("2024-03-30T12:00:00Z"), 31)) == "2024-03-31T11:00:00.000Z"
    # 02:30 is skipped on 2024-03-31: read with the offset before the change (+01:00)
    assert date.toISOString(date.setHours("2024-03-31T12:00:00Z", 2, 30, 0, 0)) == "2024-03-31T01:30:00.000Z"
    # 02:30 happens twice on 2024-10-27: the first one (+02:00) wins
    assert date.toISOString(date.setHours("2024-10-27T12:00:00Z", 2, 30, 0, 0)) == "2024-10-27T00:30:00.000Z"
    assert date.parse("2024-10-27T02:30:00") == 1_729_989_000_000


def test_locale_formatting_rejects_what_it_cannot_format() -> None:
    with pytest.raises(PipeEvaluationError, match="not supported"):
        date.toLocaleString(0, "fr-FR")
    with pytest.raises(PipeEvaluationError, match="not supported"):
        date.toLocaleString(0, "en-US", {"hour12": False})
