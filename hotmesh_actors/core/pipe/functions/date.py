"""The @date domain of the pipe function catalog (JavaScript semantics).

A JavaScript Date is a :class:`JSDate`: an immutable time value in ms (NaN for an Invalid Date).
Every function taking a date accepts what HotMesh's `getDateInstance` accepts — a JSDate, a
number of ms, a string of exactly `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS[.sss]Z`, or any other
string whose leading integer is read as ms (so, as in HotMesh, '2024-01-01T00:00:00' without the
Z counts as 2024 ms) — and raises `Invalid date format` for anything else.

Deliberate differences from HotMesh, both in favour of what a graph author means:
- Setters and `UTC` treat trailing optional arguments that were not supplied (or are undefined)
  as absent. HotMesh forwards them as explicit `undefined`, which makes JS return NaN (e.g.
  `setHours(d, 15)` is NaN there); here it is the ms of the date with the hour changed.
- Setters return the new ms and leave a JSDate argument untouched (HotMesh mutates it).

Local-time getters, setters and formatters use the process's time zone (deployments and the test
suite run with TZ=UTC). The clock is read only through the PipeEnv (`now`, `yyyymmdd`,
`toISOXString` with no date). `toLocale*String` supports the locales en-US (default), en-GB,
de-DE and sv-SE and the option `timeZone`; anything else raises rather than guessing.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from hotmesh_actors.core.pipe.env import PipeEnv, uses_env
from hotmesh_actors.core.pipe.functions import _jstime as jt
from hotmesh_actors.core.pipe.functions._jsops import JS_WHITESPACE, js_error
from hotmesh_actors.core.pipe.jsvalues import (
    UNDEFINED,
    JSValue,
    is_number,
    normalize_number,
    to_number,
    to_primitive,
    to_string,
    truthy,
)


@attrs.frozen
class JSDate:
    """A JavaScript Date: `ms` since the epoch (UTC), NaN for an Invalid Date."""

    ms: float = attrs.field(converter=float)

    @property
    def is_valid(self) -> bool:
        """False for an Invalid Date."""
        return not math.isnan(self.ms)

    def __js_primitive__(self, hint: str) -> JSValue:
        """ToPrimitive: the toString text for hint 'string', else the time value."""
        if hint == "string":
            return to_string_text(self.ms)
        return normalize_number(self.ms)

    def to_json(self) -> JSValue:
        """Date#toJSON: the ISO string, or null for an Invalid Date."""
        return jt.iso_string(self.ms) if self.is_valid else None

    def __repr__(self) -> str:
        return f"JSDate({jt.iso_string(self.ms) if self.is_valid else 'Invalid Date'})"


def to_string_text(ms: float) -> str:
    """Date#toString of a time value ('Invalid Date' for NaN)."""
    return jt.full_string(ms) if not math.isnan(ms) else "Invalid Date"


def construct(value: JSValue) -> JSDate:
    """`new Date(value)` for one argument: dates copy, strings parse, anything else is ToNumber."""
    if isinstance(value, JSDate):
        return JSDate(value.ms)
    primitive = to_primitive(value)
    if isinstance(primitive, str):
        return JSDate(jt.parse_date(primitive))
    return JSDate(jt.time_clip(float(to_number(primitive))))


_HOTMESH_ISO = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{3})?Z)?$")
_LEADING_INT = re.compile(f"^[{JS_WHITESPACE}]*([+-]?[0-9]+)")


def date_input(value: JSValue) -> JSDate:
    """HotMesh's DateHandler.getDateInstance: a Date from a JSDate, ms number or date string."""
    if isinstance(value, JSDate):
        return value
    if is_number(value):
        return JSDate(jt.time_clip(float(value)))
    if isinstance(value, str):
        if _HOTMESH_ISO.match(value):
            return JSDate(jt.parse_date(value))
        leading = _LEADING_INT.match(value)
        if leading:
            return JSDate(jt.time_clip(float(int(leading.group(1)))))
    raise js_error("Error", "Invalid date format")


def _ms(value: float) -> JSValue:
    return normalize_number(value)


def _present(args: tuple[JSValue, ...]) -> list[float]:
    """The supplied optional arguments as numbers, trailing undefined ones dropped (see module doc)."""
    supplied = list(args)
    while supplied and supplied[-1] is UNDEFINED:
        supplied.pop()
    return [float(to_number(arg)) for arg in supplied]


# --- clock-reading functions (through the PipeEnv) ----------------------------------------


@uses_env
def now(env: PipeEnv) -> JSValue:
    """Milliseconds since the epoch, from the engine's clock (`Date.now()`).

    Example: [] → 1682251200000
    """
    return _ms(float(math.floor(env.now_ms)))


@uses_env
def yyyymmdd(env: PipeEnv) -> JSValue:
    """Today's UTC date as 'YYYY-MM-DD'.

    Example: [] → '2023-04-23'
    """
    year, month, day, *_ = jt.split_time(float(math.floor(env.now_ms)))
    return f"{year:04d}-{month + 1:02d}-{day:02d}"


@uses_env
def toISOXString(env: PipeEnv, date: JSValue = UNDEFINED) -> JSValue:  # noqa: N802 - JS name
    """Compact sortable UTC text 'YYYYMMDDHHmmss.sss' of a date (now when the date is falsy).

    Example: ['2023-04-23T12:34:56.789Z'] → '20230423123456.789'
    """
    moment = date_input(date) if truthy(date) else JSDate(float(math.floor(env.now_ms)))
    return re.sub(r"[:TZ-]", "", toISOString(moment))


# --- construction and parsing --------------------------------------------------------------


def fromISOString(isoString: JSValue = UNDEFINED) -> JSValue:  # noqa: N802, N803 - JS names
    """A Date from a date string (`new Date(s)`); unparseable text gives an Invalid Date.

    Example: ['2023-04-23T12:00:00.000Z'] → Date(2023-04-23T12:00:00.000Z)
    """
    return construct(isoString)


def parse(dateString: JSValue = UNDEFINED) -> JSValue:  # noqa: N803 - JS name
    """Milliseconds of a date string, NaN when unparseable (`Date.parse(s)`).

    Example: ['2023-04-23T12:00:00Z'] → 1682251200000
    """
    return _ms(jt.parse_date(to_string(dateString)))


def UTC(year: JSValue = UNDEFINED, *rest: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Milliseconds of UTC date parts (year, month 0-11, day, h, m, s, ms) (`Date.UTC`).

    Example: [2023, 3, 23] → 1682208000000
    """
    parts = [float(to_number(year)), *_present(rest)][:7]
    full_year = parts[0]
    if math.isfinite(full_year) and 0 <= jt.integer_part(full_year) <= 99:
        full_year = 1900 + jt.integer_part(full_year)
    defaults = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    month, day, hours, minutes, seconds, millis = parts[1:] + defaults[len(parts) - 1 :]
    made = jt.make_date(jt.make_day(full_year, month, day), jt.make_time(hours, minutes, seconds, millis))
    return _ms(jt.time_clip(made))


# --- getters -------------------------------------------------------------------------------


def _field(date: JSValue, index: int, local: bool) -> JSValue:
    moment = date_input(date).ms
    if math.isnan(moment):
        return math.nan
    return jt.split_time(jt.local_time(moment) if local else moment)[index]


def getDate(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Day of the month (1-31) in local time.

    Example: ['2023-04-23'] → 23
    """
    return _field(date, 2, True)


def getDay(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Day of the week (0 = Sunday) in local time.

    Example: ['2023-04-23'] → 0
    """
    return _field(date, 7, True)


def getFullYear(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Year in local time.

    Example: ['2023-04-23'] → 2023
    """
    return _field(date, 0, True)


def getHours(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Hours (0-23) in local time.

    Example: ['2023-04-23T15:04:05Z'] → 15
    """
    return _field(date, 3, True)


def getMilliseconds(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Milliseconds (0-999) in local time.

    Example: ['2023-04-23T15:04:05.678Z'] → 678
    """
    return _field(date, 6, True)


def getMinutes(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Minutes (0-59) in local time.

    Example: ['2023-04-23T15:04:05Z'] → 4
    """
    return _field(date, 4, True)


def getMonth(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Month (0 = January) in local time.

    Example: ['2023-04-23'] → 3
    """
    return _field(date, 1, True)


def getSeconds(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Seconds (0-59) in local time.

    Example: ['2023-04-23T15:04:05Z'] → 5
    """
    return _field(date, 5, True)


def getTime(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Milliseconds since the epoch (`d.getTime()`).

    Example: ['1970-01-02'] → 86400000
    """
    return _ms(date_input(date).ms)


def getTimezoneOffset(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Minutes to add to local time to get UTC (0 under TZ=UTC; -60 for CET).

    Example: ['2023-04-23'] → 0
    """
    moment = date_input(date).ms
    if math.isnan(moment):
        return math.nan
    return _ms(-jt.local_offset_ms(moment) / 60_000 + 0.0)


def getUTCDate(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Day of the month (1-31) in UTC.

    Example: ['2023-04-23'] → 23
    """
    return _field(date, 2, False)


def getUTCDay(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Day of the week (0 = Sunday) in UTC.

    Example: ['2023-04-24'] → 1
    """
    return _field(date, 7, False)


def getUTCFullYear(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Year in UTC.

    Example: [0] → 1970
    """
    return _field(date, 0, False)


def getUTCHours(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Hours (0-23) in UTC.

    Example: ['2023-04-23T15:04:05Z'] → 15
    """
    return _field(date, 3, False)


def getUTCMilliseconds(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Milliseconds (0-999) in UTC.

    Example: [1234] → 234
    """
    return _field(date, 6, False)


def getUTCMinutes(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Minutes (0-59) in UTC.

    Example: ['2023-04-23T15:04:05Z'] → 4
    """
    return _field(date, 4, False)


def getUTCMonth(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Month (0 = January) in UTC.

    Example: ['2023-12-01'] → 11
    """
    return _field(date, 1, False)


def getUTCSeconds(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Seconds (0-59) in UTC.

    Example: ['2023-04-23T15:04:05Z'] → 5
    """
    return _field(date, 5, False)


# --- setters (return the new ms; the argument is not changed) ------------------------------


def _set(
    date: JSValue,
    first: JSValue,
    rest: tuple[JSValue, ...],
    local: bool,
    build: Callable[[tuple[int, int, int, int, int, int, int, int], list[float]], tuple[float, float]],
    nan_base_is_zero: bool = False,
) -> JSValue:
    """Shared setter body: read the fields, replace some, rebuild (MakeDay/MakeTime), TimeClip."""
    moment = date_input(date).ms
    values = [float(to_number(first)), *_present(rest)]
    if math.isnan(moment) and not nan_base_is_zero:
        return math.nan
    if math.isnan(moment):
        base = 0.0  # setFullYear on an Invalid Date starts from +0, as the spec says
    else:
        base = jt.local_time(moment) if local else moment
    day, time_in_day = build(jt.split_time(base), values)
    made = jt.make_date(day, time_in_day)
    return _ms(jt.time_clip(jt.utc_from_local(made) if local else made))


def _time_of(fields: tuple[int, int, int, int, int, int, int, int]) -> float:
    return jt.make_time(fields[3], fields[4], fields[5], fields[6])


def _day_of(fields: tuple[int, int, int, int, int, int, int, int]) -> float:
    return jt.make_day(fields[0], fields[1], fields[2])


def _pick(values: list[float], index: int, default: float) -> float:
    return values[index] if index < len(values) else default


def _with_date(f: tuple[int, int, int, int, int, int, int, int], v: list[float]) -> tuple[float, float]:
    return jt.make_day(f[0], f[1], v[0]), _time_of(f)


def _with_year(f: tuple[int, int, int, int, int, int, int, int], v: list[float]) -> tuple[float, float]:
    return jt.make_day(v[0], _pick(v, 1, f[1]), _pick(v, 2, f[2])), _time_of(f)


def _with_month(f: tuple[int, int, int, int, int, int, int, int], v: list[float]) -> tuple[float, float]:
    return jt.make_day(f[0], v[0], _pick(v, 1, f[2])), _time_of(f)


def _with_hours(f: tuple[int, int, int, int, int, int, int, int], v: list[float]) -> tuple[float, float]:
    time_in_day = jt.make_time(v[0], _pick(v, 1, f[4]), _pick(v, 2, f[5]), _pick(v, 3, f[6]))
    return _day_of(f), time_in_day


def _with_minutes(f: tuple[int, int, int, int, int, int, int, int], v: list[float]) -> tuple[float, float]:
    return _day_of(f), jt.make_time(f[3], v[0], _pick(v, 1, f[5]), _pick(v, 2, f[6]))


def _with_seconds(f: tuple[int, int, int, int, int, int, int, int], v: list[float]) -> tuple[float, float]:
    return _day_of(f), jt.make_time(f[3], f[4], v[0], _pick(v, 1, f[6]))


def _with_millis(f: tuple[int, int, int, int, int, int, int, int], v: list[float]) -> tuple[float, float]:
    return _day_of(f), jt.make_time(f[3], f[4], f[5], v[0])


def setDate(date: JSValue, day: JSValue = UNDEFINED) -> JSValue:  # noqa: N802 - JS name
    """Set the local day of the month; returns the new ms (`d.setDate(day)`).

    Example: ['2023-04-23', 1] → 1680307200000
    """
    return _set(date, day, (), True, _with_date)


def setFullYear(date: JSValue, year: JSValue = UNDEFINED, *rest: JSValue) -> JSValue:  # noqa: N802
    """Set the local year (and optionally month, day); returns the new ms.

    Example: ['2023-04-23', 2024] → 1713830400000
    """
    return _set(date, year, rest[:2], True, _with_year, nan_base_is_zero=True)


def setHours(date: JSValue, hours: JSValue = UNDEFINED, *rest: JSValue) -> JSValue:  # noqa: N802
    """Set the local hours (and optionally minutes, seconds, ms); returns the new ms.

    Example: ['2023-04-23', 15] → 1682262000000
    """
    return _set(date, hours, rest[:3], True, _with_hours)


def setMilliseconds(date: JSValue, ms: JSValue = UNDEFINED) -> JSValue:  # noqa: N802 - JS name
    """Set the local milliseconds; returns the new ms.

    Example: [0, 123] → 123
    """
    return _set(date, ms, (), True, _with_millis)


def setMinutes(date: JSValue, minutes: JSValue = UNDEFINED, *rest: JSValue) -> JSValue:  # noqa: N802
    """Set the local minutes (and optionally seconds, ms); returns the new ms.

    Example: [0, 45, 30] → 2730000
    """
    return _set(date, minutes, rest[:2], True, _with_minutes)


def setMonth(date: JSValue, month: JSValue = UNDEFINED, *rest: JSValue) -> JSValue:  # noqa: N802
    """Set the local month (0-11, and optionally the day); returns the new ms.

    Example: ['2023-01-31', 1] → 1677801600000
    """
    return _set(date, month, rest[:1], True, _with_month)


def setSeconds(date: JSValue, seconds: JSValue = UNDEFINED, *rest: JSValue) -> JSValue:  # noqa: N802
    """Set the local seconds (and optionally ms); returns the new ms.

    Example: [0, 30] → 30000
    """
    return _set(date, seconds, rest[:1], True, _with_seconds)


def setTime(date: JSValue, time: JSValue = UNDEFINED) -> JSValue:  # noqa: N802 - JS name
    """Replace the time value (clipped to the Date range); returns it (`d.setTime(ms)`).

    Example: ['2023-04-23', 0] → 0
    """
    date_input(date)
    return _ms(jt.time_clip(float(to_number(time))))


def setUTCDate(date: JSValue, day: JSValue = UNDEFINED) -> JSValue:  # noqa: N802 - JS name
    """Set the UTC day of the month; returns the new ms.

    Example: ['2023-04-23', 32] → 1682985600000
    """
    return _set(date, day, (), False, _with_date)


def setUTCFullYear(date: JSValue, year: JSValue = UNDEFINED, *rest: JSValue) -> JSValue:  # noqa: N802
    """Set the UTC year (and optionally month, day); returns the new ms.

    Example: ['2024-02-29', 2025] → 1740787200000
    """
    return _set(date, year, rest[:2], False, _with_year, nan_base_is_zero=True)


def setUTCHours(date: JSValue, hours: JSValue = UNDEFINED, *rest: JSValue) -> JSValue:  # noqa: N802
    """Set the UTC hours (and optionally minutes, seconds, ms); returns the new ms.

    Example: [0, 18] → 64800000
    """
    return _set(date, hours, rest[:3], False, _with_hours)


def setUTCMilliseconds(date: JSValue, ms: JSValue = UNDEFINED) -> JSValue:  # noqa: N802 - JS name
    """Set the UTC milliseconds; returns the new ms.

    Example: [0, 500] → 500
    """
    return _set(date, ms, (), False, _with_millis)


def setUTCMinutes(date: JSValue, minutes: JSValue = UNDEFINED, *rest: JSValue) -> JSValue:  # noqa: N802
    """Set the UTC minutes (and optionally seconds, ms); returns the new ms.

    Example: [0, 45] → 2700000
    """
    return _set(date, minutes, rest[:2], False, _with_minutes)


def setUTCMonth(date: JSValue, month: JSValue = UNDEFINED, *rest: JSValue) -> JSValue:  # noqa: N802
    """Set the UTC month (0-11, and optionally the day); returns the new ms.

    Example: [0, 2] → 5097600000
    """
    return _set(date, month, rest[:1], False, _with_month)


def setUTCSeconds(date: JSValue, seconds: JSValue = UNDEFINED, *rest: JSValue) -> JSValue:  # noqa: N802
    """Set the UTC seconds (and optionally ms); returns the new ms.

    Example: [0, 30] → 30000
    """
    return _set(date, seconds, rest[:1], False, _with_seconds)


# --- formatters ----------------------------------------------------------------------------


def toDateString(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """The local date part as 'Sun Apr 23 2023' ('Invalid Date' for NaN).

    Example: ['2023-04-23'] → 'Sun Apr 23 2023'
    """
    moment = date_input(date).ms
    return "Invalid Date" if math.isnan(moment) else jt.date_string(moment)


def toISOString(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """ISO 8601 UTC text 'YYYY-MM-DDTHH:mm:ss.sssZ'; an Invalid Date is a RangeError.

    Example: [0] → '1970-01-01T00:00:00.000Z'
    """
    moment = date_input(date).ms
    if math.isnan(moment):
        raise js_error("RangeError", "Invalid time value")
    return jt.iso_string(moment)


def toJSON(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """The ISO string of a date, or null for an Invalid Date (`d.toJSON()`).

    Example: [0] → '1970-01-01T00:00:00.000Z'
    """
    return date_input(date).to_json()


def toString(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """The local date and time as JS prints a Date ('Sun Apr 23 2023 12:00:00 GMT+0000 (…)').

    Example: [0] → 'Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)'
    """
    return to_string_text(date_input(date).ms)


def valueOf(date: JSValue) -> JSValue:  # noqa: N802 - JS name
    """Milliseconds since the epoch (`d.valueOf()`).

    Example: ['1970-01-01T00:00:01.000Z'] → 1000
    """
    return _ms(date_input(date).ms)


_LOCALES = ("en-US", "en-GB", "de-DE", "sv-SE")
_LOCALE_JOIN = {"en-US": ", ", "en-GB": ", ", "de-DE": ", ", "sv-SE": " "}


def _locale_parts(date: JSValue, locales: JSValue, options: JSValue) -> tuple[str, tuple[int, ...]] | None:
    """The supported locale name and the wall-clock fields to print, None for an Invalid Date."""
    locale = locales[0] if isinstance(locales, list) and locales else locales
    if locale is UNDEFINED or locale is None or locale == "en":
        locale = "en-US"
    if locale not in _LOCALES:
        raise js_error("RangeError", f"@date locale {to_string(locale)!r} is not supported here")
    zone: str | None = None
    if isinstance(options, dict):
        unknown = set(options) - {"timeZone"}
        if unknown:
            raise js_error("RangeError", f"@date locale options {sorted(unknown)} are not supported here")
        zone = None if options.get("timeZone", UNDEFINED) is UNDEFINED else to_string(options["timeZone"])
    moment = date_input(date).ms
    if math.isnan(moment):
        return None
    if zone is None:
        wall = jt.local_time(moment)
    else:
        try:
            tz = ZoneInfo("UTC" if zone.upper() == "UTC" else zone)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise js_error("RangeError", f"Invalid time zone specified: {zone}") from error
        clamped = min(max(moment, -62_135_596_800_000.0), 253_402_300_799_000.0)
        offset = tz.utcoffset(_utc_datetime(clamped))
        wall = moment + (offset.total_seconds() * 1000 if offset is not None else 0.0)
    return str(locale), jt.split_time(wall)


def _utc_datetime(ms: float) -> datetime.datetime:
    return _EPOCH + datetime.timedelta(milliseconds=ms)


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def _locale_date(locale: str, fields: tuple[int, ...]) -> str:
    year, month, day = fields[0], fields[1] + 1, fields[2]
    if locale == "en-GB":
        return f"{day:02d}/{month:02d}/{year}"
    if locale == "de-DE":
        return f"{day}.{month}.{year}"
    if locale == "sv-SE":
        return f"{year}-{month:02d}-{day:02d}"
    return f"{month}/{day}/{year}"


def _locale_time(locale: str, fields: tuple[int, ...]) -> str:
    hours, minutes, seconds = fields[3], fields[4], fields[5]
    if locale == "en-US":
        return f"{hours % 12 or 12}:{minutes:02d}:{seconds:02d} {'AM' if hours < 12 else 'PM'}"
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def toLocaleDateString(date: JSValue, locales: JSValue = UNDEFINED, options: JSValue = UNDEFINED) -> JSValue:  # noqa: N802
    """The local date formatted for a locale (en-US '4/23/2023' by default).

    Example: ['2023-04-23', 'en-US'] → '4/23/2023'
    """
    parts = _locale_parts(date, locales, options)
    return "Invalid Date" if parts is None else _locale_date(*parts)


def toLocaleString(date: JSValue, locales: JSValue = UNDEFINED, options: JSValue = UNDEFINED) -> JSValue:  # noqa: N802
    """The local date and time formatted for a locale (en-US '4/23/2023, 3:04:05 PM').

    Example: ['2023-04-23T15:04:05Z', 'en-US'] → '4/23/2023, 3:04:05 PM'
    """
    parts = _locale_parts(date, locales, options)
    if parts is None:
        return "Invalid Date"
    locale, fields = parts
    return _locale_date(locale, fields) + _LOCALE_JOIN[locale] + _locale_time(locale, fields)


def toLocaleTimeString(date: JSValue, locales: JSValue = UNDEFINED, options: JSValue = UNDEFINED) -> JSValue:  # noqa: N802
    """The local time formatted for a locale (en-US '3:04:05 PM').

    Example: ['2023-04-23T15:04:05Z', 'en-US'] → '3:04:05 PM'
    """
    parts = _locale_parts(date, locales, options)
    return "Invalid Date" if parts is None else _locale_time(*parts)


FUNCTIONS: dict[str, Callable[..., JSValue]] = {
    "now": now,
    "yyyymmdd": yyyymmdd,
    "fromISOString": fromISOString,
    "parse": parse,
    "getDate": getDate,
    "getDay": getDay,
    "getFullYear": getFullYear,
    "getHours": getHours,
    "getMilliseconds": getMilliseconds,
    "getMinutes": getMinutes,
    "getMonth": getMonth,
    "getSeconds": getSeconds,
    "getTime": getTime,
    "getTimezoneOffset": getTimezoneOffset,
    "getUTCDate": getUTCDate,
    "getUTCDay": getUTCDay,
    "getUTCFullYear": getUTCFullYear,
    "getUTCHours": getUTCHours,
    "getUTCMilliseconds": getUTCMilliseconds,
    "getUTCMinutes": getUTCMinutes,
    "getUTCMonth": getUTCMonth,
    "getUTCSeconds": getUTCSeconds,
    "setDate": setDate,
    "setFullYear": setFullYear,
    "setHours": setHours,
    "setMilliseconds": setMilliseconds,
    "setMinutes": setMinutes,
    "setMonth": setMonth,
    "setSeconds": setSeconds,
    "setTime": setTime,
    "setUTCDate": setUTCDate,
    "setUTCFullYear": setUTCFullYear,
    "setUTCHours": setUTCHours,
    "setUTCMilliseconds": setUTCMilliseconds,
    "setUTCMinutes": setUTCMinutes,
    "setUTCMonth": setUTCMonth,
    "setUTCSeconds": setUTCSeconds,
    "toDateString": toDateString,
    "toISOString": toISOString,
    "toISOXString": toISOXString,
    "toJSON": toJSON,
    "toLocaleDateString": toLocaleDateString,
    "toLocaleString": toLocaleString,
    "toLocaleTimeString": toLocaleTimeString,
    "toString": toString,
    "valueOf": valueOf,
    "UTC": UTC,
}
