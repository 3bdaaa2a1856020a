"""ECMAScript time-value arithmetic, local-time conversion, Date string parsing and formatting.

A time value is a float of milliseconds since 1970-01-01T00:00:00Z, or NaN (an Invalid Date).
The calendar maths follows the ECMAScript spec (proleptic Gregorian, any year in ±271821), so it
does not go through `datetime`, whose years stop at 1..9999. Local time is the process's time
zone, read through `time.localtime` (the offset only: the clock itself is never read here).
"""

from __future__ import annotations

import math
import re
import time
from typing import Final

MS_PER_DAY: Final = 86_400_000
MAX_TIME: Final = 8.64e15
NAN: Final = float("nan")

DAY_NAMES: Final = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
MONTH_NAMES: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --- calendar ------------------------------------------------------------------------------


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (month 1..12), any integer year."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month 1..12, day) of a day count since 1970-01-01."""
    days += 719468
    era = days // 146097
    day_of_era = days - era * 146097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + (3 if shifted_month < 10 else -9)
    return year_of_era + era * 400 + (month <= 2), month, day


def integer_part(value: float) -> float:
    """ToIntegerOrInfinity on an already-converted number."""
    if math.isnan(value):
        return 0.0
    return float(math.trunc(value)) if math.isfinite(value) else value


def make_time(hour: float, minute: float, second: float, millisecond: float) -> float:
    """MakeTime: milliseconds of a (possibly out-of-range) time of day."""
    if not all(math.isfinite(part) for part in (hour, minute, second, millisecond)):
        return NAN
    return (
        integer_part(hour) * 3_600_000
        + integer_part(minute) * 60_000
        + integer_part(second) * 1000
        + integer_part(millisecond)
    )


def make_day(year: float, month: float, date: float) -> float:
    """MakeDay: the day number of year/month(0-based)/date, months and days may overflow."""
    if not all(math.isfinite(part) for part in (year, month, date)):
        return NAN
    whole_year = integer_part(year) + math.floor(integer_part(month) / 12)
    if abs(whole_year) > 400_000:
        return NAN  # far outside the representable range; TimeClip would reject it anyway
    month_in_year = int(integer_part(month) % 12)
    return days_from_civil(int(whole_year), month_in_year + 1, 1) + integer_part(date) - 1


def make_date(day: float, time_in_day: float) -> float:
    """MakeDate: day number and time of day to a time value (not yet clipped)."""
    if not (math.isfinite(day) and math.isfinite(time_in_day)):
        return NAN
    total = day * MS_PER_DAY + time_in_day
    return total if math.isfinite(total) else NAN


def time_clip(value: float) -> float:
    """TimeClip: NaN outside ±8.64e15 ms, otherwise an integral millisecond count (no -0)."""
    if not math.isfinite(value) or abs(value) > MAX_TIME:
        return NAN
    return float(math.trunc(value)) + 0.0


def split_time(value: float) -> tuple[int, int, int, int, int, int, int, int]:
    """(year, month 0..11, date, hours, minutes, seconds, ms, weekday) of a finite time value."""
    whole = int(value)
    days, in_day = divmod(whole, MS_PER_DAY)
    year, month, date = civil_from_days(days)
    hours, rest = divmod(in_day, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return year, month - 1, date, hours, minutes, seconds, millis, (days + 4) % 7


# --- local time ----------------------------------------------------------------------------

_LOCALTIME_MIN_S: Final = -62_135_596_800  # 0001-01-01
_LOCALTIME_MAX_S: Final = 253_402_300_799  # 9999-12-31


def local_offset_ms(utc_value: float) -> float:
    """Offset of local time from UTC, in ms, at a UTC time value (e.g. +3_600_000 for CET)."""
    seconds = min(max(math.floor(utc_value / 1000), _LOCALTIME_MIN_S), _LOCALTIME_MAX_S)
    try:
        return float(time.localtime(seconds).tm_gmtoff * 1000)
    except (OverflowError, OSError, ValueError):
        return float(time.localtime(0).tm_gmtoff * 1000)


def local_time(utc_value: float) -> float:
    """LocalTime(t): the wall-clock time value of a UTC time value."""
    return utc_value + local_offset_ms(utc_value)


def utc_from_local(local_value: float) -> float:
    """UTC(t): the UTC time value of a local wall-clock time value.

    Around a zone transition this follows the spec: a repeated wall time means its first
    occurrence, and a skipped one is read with the offset in force before the transition.
    """
    if not math.isfinite(local_value):
        return NAN
    before = local_value - local_offset_ms(local_value - MS_PER_DAY)
    after = local_value - local_offset_ms(local_value + MS_PER_DAY)
    valid = [candidate for candidate in (before, after) if local_time(candidate) == local_value]
    return min(valid) if valid else before


def zone_name(utc_value: float) -> str:
    """The name JS prints in Date#toString's parentheses (ICU long name for UTC, else the OS's)."""
    seconds = min(max(math.floor(utc_value / 1000), _LOCALTIME_MIN_S), _LOCALTIME_MAX_S)
    try:
        local = time.localtime(seconds)
    except (OverflowError, OSError, ValueError):
        local = time.localtime(0)
    name = local.tm_zone or ""
    if name in ("UTC", "UCT", "Universal", "Zulu", "GMT") and local.tm_gmtoff == 0:
        return "Coordinated Universal Time"
    return name


# --- formatting ----------------------------------------------------------------------------


def year_text(year: int) -> str:
    """Years as Date#toString prints them: at least four digits, a '-' for negative years."""
    return f"-{-year:04d}" if year < 0 else f"{year:04d}"


def iso_string(value: float) -> str:
    """Date#toISOString of a finite time value (six-digit signed years outside 0..9999)."""
    year, month, date, hours, minutes, seconds, millis, _ = split_time(value)
    if 0 <= year <= 9999:
        year_part = f"{year:04d}"
    else:
        year_part = f"{'+' if year > 0 else '-'}{abs(year):06d}"
    return f"{year_part}-{month + 1:02d}-{date:02d}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


def date_string(value: float) -> str:
    """Date#toDateString of a finite time value, in local time ('Sun Apr 23 2023')."""
    year, month, date, *_, weekday = split_time(local_time(value))
    return f"{DAY_NAMES[weekday]} {MONTH_NAMES[month]} {date:02d} {year_text(year)}"


def full_string(value: float) -> str:
    """Date#toString of a finite time value ('Sun Apr 23 2023 12:00:00 GMT+0000 (…)')."""
    offset_minutes = int(local_offset_ms(value) // 60_000)
    _, _, _, hours, minutes, seconds, _, _ = split_time(local_time(value))
    sign = "+" if offset_minutes >= 0 else "-"
    offset = f"{sign}{abs(offset_minutes) // 60:02d}{abs(offset_minutes) % 60:02d}"
    return f"{date_string(value)} {hours:02d}:{minutes:02d}:{seconds:02d} GMT{offset} ({zone_name(value)})"


# --- parsing -------------------------------------------------------------------------------

_ISO = re.compile(
    r"""^(?P<year>[+-]\d{6}|\d{4})
    (?:-(?P<month>\d{2})(?:-(?P<day>\d{2}))?)?
    (?:[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d+))?)?
       (?P<zone>[Zz]|[+-]\d{2}:?\d{2})?)?$""",
    re.VERBOSE,
)

_MONTHS = {name.lower(): index for index, name in enumerate(MONTH_NAMES)}
_FULL_MONTHS = {
    name: index
    for index, name in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        )
    )
}
_ZONES = {
    "ut": 0,
    "utc": 0,
    "gmt": 0,
    "z": 0,
    "est": -5,
    "edt": -4,
    "cst": -6,
    "cdt": -5,
    "mst": -7,
    "mdt": -6,
    "pst": -8,
    "pdt": -7,
}
_DAYS = {name.lower() for name in DAY_NAMES} | {
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
}


def _parse_iso(text: str) -> float | None:
    """The ECMAScript Date Time String Format; None when the text is not in that format."""
    found = _ISO.match(text)
    if not found:
        return None
    if found["year"] == "-000000":
        return NAN
    year = int(found["year"])
    month = int(found["month"] or 1)
    day = int(found["day"] or 1)
    hour = int(found["hour"] or 0)
    minute = int(found["minute"] or 0)
    second = int(found["second"] or 0)
    millis = int((found["fraction"] or "0")[:3].ljust(3, "0"))
    if not (1 <= month <= 12 and 1 <= day <= 31 and minute <= 59 and second <= 59):
        return NAN
    if hour > 24 or (hour == 24 and (minute or second or millis)):
        return NAN
    local_value = make_date(make_day(year, month - 1, day), make_time(hour, minute, second, millis))
    zone = found["zone"]
    if zone is None:
        # date-only forms are UTC; date-time forms without an offset are local time
        return time_clip(local_value if found["hour"] is None else utc_from_local(local_value))
    if zone in ("Z", "z"):
        return time_clip(local_value)
    digits = zone[1:].replace(":", "")
    offset_hours, offset_minutes = int(digits[:2]), int(digits[2:])
    if offset_hours > 23 or offset_minutes > 59:
        return NAN
    sign = 1 if zone[0] == "+" else -1
    return time_clip(local_value - sign * (offset_hours * 3_600_000 + offset_minutes * 60_000))


_TOKEN = re.compile(
    r"\((?:[^()]*)\)|(?P<time>\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)"
    r"|(?P<offset>[+-]\d{1,2}(?::?\d{2})?)|(?P<number>\d+)|(?P<word>[A-Za-z]+)|(?P<sep>[,/.\-\s]+)"
)


def _parse_legacy(text: str) -> float:
    """A subset of V8's fallback parser: 'April 23, 2023 12:00:00', 'Sun, 23 Apr 2023 12:00:00 GMT',
    Date#toString output, 'MM/DD/YYYY', 'YYYY/MM/DD', with AM/PM and GMT/UTC±hhmm offsets."""
    numbers: list[str] = []
    month: int | None = None
    clock: tuple[int, int, int, int] | None = None
    offset_ms: float | None = None
    meridiem: str | None = None
    position = 0
    while position < len(text):
        found = _TOKEN.match(text, position)
        if not found:
            return NAN
        position = found.end()
        if found["time"]:
            if clock is not None:
                return NAN
            pieces = found["time"].split(":")
            second, _, fraction = (pieces[2] if len(pieces) > 2 else "0").partition(".")
            clock = (int(pieces[0]), int(pieces[1]), int(second), int(fraction[:3].ljust(3, "0")))
        elif found["offset"]:
            if clock is None and offset_ms is None and found["offset"].startswith("-") and numbers:
                numbers.append(found["offset"][1:])  # '-' as a date separator, as in 4-23-2023
                continue
            digits = found["offset"][1:].replace(":", "")
            if len(digits) <= 2:
                hours, minutes = int(digits), 0
            else:
                hours, minutes = int(digits[:-2]), int(digits[-2:])
            sign = 1 if found["offset"][0] == "+" else -1
            offset_ms = sign * (hours * 3_600_000 + minutes * 60_000)
        elif found["number"]:
            numbers.append(found["number"])
        elif found["word"]:
            word = found["word"].lower()
            if word in ("am", "pm"):
                meridiem = word
            elif word in _ZONES:
                offset_ms = _ZONES[word] * 3_600_000
            elif word[:3] in _MONTHS and (word in _FULL_MONTHS or len(word) == 3):
                month = _MONTHS[word[:3]]
            elif word in _DAYS or (not numbers and month is None and clock is None):
                continue  # weekday names, and words before any date part, are ignored
            else:
                return NAN
    return _compose_legacy(numbers, month, clock, offset_ms, meridiem)


def _compose_legacy(
    numbers: list[str],
    month: int | None,
    clock: tuple[int, int, int, int] | None,
    offset_ms: float | None,
    meridiem: str | None,
) -> float:
    if month is not None:
        if len(numbers) != 2:
            return NAN
        first, second = numbers
        day, year_text_ = (first, second) if len(first) <= 2 else (second, first)
        day_number, year = int(day), int(year_text_)
        month_index = month
    else:
        if len(numbers) != 3:
            return NAN
        if len(numbers[0]) >= 3:
            year, month_index, day_number = int(numbers[0]), int(numbers[1]) - 1, int(numbers[2])
        else:
            month_index, day_number, year = int(numbers[0]) - 1, int(numbers[1]), int(numbers[2])
        if not 0 <= month_index <= 11:
            return NAN
    if year < 50 and len(str(year)) <= 2:
        year += 2000
    elif year < 100 and len(str(year)) <= 2:
        year += 1900
    if not 1 <= day_number <= 31:
        return NAN
    hours, minutes, seconds, millis = clock or (0, 0, 0, 0)
    if meridiem is not None:
        if not 1 <= hours <= 12:
            return NAN
        hours = hours % 12 + (12 if meridiem == "pm" else 0)
    if hours > 24 or minutes > 59 or seconds > 59:
        return NAN
    day_count = make_day(year, month_index, day_number)
    local_value = make_date(day_count, make_time(hours, minutes, seconds, millis))
    if offset_ms is None:
        return time_clip(utc_from_local(local_value))
    return time_clip(local_value - offset_ms)


def parse_date(text: str) -> float:
    """Date.parse: ISO format first, then the common legacy forms; NaN when neither fits."""
    stripped = text.lstrip()
    iso = _parse_iso(stripped)
    if iso is not None:
        return iso
    if not stripped:
        return NAN
    return _parse_legacy(stripped)
