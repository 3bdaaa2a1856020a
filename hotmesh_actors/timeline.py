"""Draw a job's timeline from what `mesh.export(job_id)` returns: a Mermaid `gantt` or a standalone SVG.

Both renderers are pure: the same export (and the same `now`) gives the same text, byte for byte, and
nothing here reads a clock, the database or the network. One bar is drawn per activity and dimension
(a cycle's iterations and a fan-out's branches are separate bars), with one of four statuses:

- ``done``: the activity finished (a trigger or cycle counts as done the moment it ran);
- ``running``: entered and not finished while the job is still live (a worker at work, a hook waiting);
- ``failed``: the activity recorded an error (its code and message are shown);
- ``open``: entered and never finished in a job that has ended (a branch left behind by a failure or an
  interrupt).

Example::

    export = await mesh.export(job_id)
    Path("job.svg").write_text(render_svg(export), "utf-8")
    print(render_mermaid(export))
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import attrs

from hotmesh_actors.core.ledger import was_interrupted
from hotmesh_actors.errors import HotMeshError

__all__ = ["BarStatus", "InvalidExportError", "JobTimeline", "TimelineBar", "build_timeline", "render_mermaid",
           "render_svg"]

JSON = Any


class InvalidExportError(HotMeshError, ValueError):
    """The value given to a timeline renderer is not what `mesh.export(job_id)` returns; says which part."""


class BarStatus(enum.Enum):
    """What became of one activity in one dimension."""

    DONE = "done"
    RUNNING = "running"
    FAILED = "failed"
    OPEN = "open"


@attrs.frozen(kw_only=True)
class TimelineBar:
    """One activity in one dimension, placed in time (`start`/`end` are None when the export has no time)."""

    activity_id: str
    dimension: str
    activity_type: str | None
    status: BarStatus
    start: datetime | None
    end: datetime | None
    error_code: int | None = None
    error_message: str | None = None

    @property
    def label(self) -> str:
        """The activity id, followed by its dimension when that is not the root one (`a1 [,0,2]`)."""
        return self.activity_id if _is_root(self.dimension) else f"{self.activity_id} [{self.dimension}]"


@attrs.frozen(kw_only=True)
class JobTimeline:
    """The job as the renderers draw it: its status, its span, and one bar per activity and dimension."""

    job_id: str
    status: str
    """`completed`, `failed`, `running` or `interrupted`."""
    app_id: str | None
    topic: str | None
    start: datetime | None
    end: datetime | None
    bars: tuple[TimelineBar, ...]

    @property
    def duration(self) -> timedelta | None:
        if self.start is None or self.end is None:
            return None
        return max(self.end - self.start, timedelta(0))


# -- reading an export --------------------------------------------------------------------------------------

def _is_root(dimension: str) -> bool:
    return all(part == "0" for part in dimension.split(",") if part != "")


def _iso_time(value: JSON, where: str) -> datetime | None:
    """An export's ISO 8601 time (`2026-12-03T18:25:34.566Z`); None stays None, anything else is an error."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidExportError(f"{where} must be an ISO 8601 string or null, not {type(value).__name__}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidExportError(f"{where} is not an ISO 8601 time: {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _compact_time(value: JSON) -> datetime | None:
    """Job metadata's `YYYYMMDDHHmmss.sss` (jc, ju); None when absent or malformed (metadata is advisory)."""
    if not isinstance(value, str) or len(value) < 14:
        return None
    try:
        moment = datetime.strptime(value[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    millis = value[15:18]
    return moment + timedelta(milliseconds=int(millis)) if millis.isdigit() and len(millis) == 3 else moment


def _error_of(raw: JSON) -> tuple[int | None, str | None]:
    """(code, message) from an activity's `error` (HotMesh stores a JSON text `{message, code, stack}`)."""
    if raw is None or raw == "":
        return None, None
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            return None, raw
    if value is None:
        return None, None
    if isinstance(value, Mapping):
        code = value.get("code")
        message = value.get("message")
        code = code if isinstance(code, int) and not isinstance(code, bool) else None
        if code is None and message is None:  # an error record all the same: show what it holds
            return None, json.dumps(value, default=str) if value else None
        return code, str(message) if message is not None else None
    return None, json.dumps(value, default=str)


def _job_status(semaphore: int, metadata: Mapping[str, JSON]) -> str:
    if was_interrupted(semaphore):
        return "interrupted"
    if metadata.get("err"):
        return "failed"
    return "running" if semaphore > 0 else "completed"


def _field(mapping: Mapping[str, JSON], key: str, kind: type, where: str) -> JSON:
    if key not in mapping:
        raise InvalidExportError(f"{where} has no {key!r}: is this what mesh.export(job_id) returned?")
    value = mapping[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InvalidExportError(f"{where}[{key!r}] has type {type(value).__name__}, expected {kind.__name__}")
    return value


def build_timeline(export: JSON, *, now: datetime | None = None) -> JobTimeline:
    """Read an export into bars, checking its shape; raises InvalidExportError for anything else.

    `now` is where running bars end (a live job's chart reaches the present; a naive datetime is taken as
    UTC); by default, and whenever it is earlier, they end at the latest time the export records, so the
    result depends on the export alone.
    """
    if not isinstance(export, Mapping):
        raise InvalidExportError(f"an export is a mapping (mesh.export(job_id)), not {type(export).__name__}")
    job_id = _field(export, "job_id", str, "the export")
    semaphore = _field(export, "status", int, "the export")
    activities = _field(export, "activities", list, "the export")
    metadata = export.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise InvalidExportError(f"the export's 'metadata' has type {type(metadata).__name__}, expected a mapping")
    status = _job_status(semaphore, metadata)
    rows: list[tuple[str, str, str | None, datetime | None, datetime | None, JSON]] = []
    for index, item in enumerate(activities):
        where = f"activities[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidExportError(f"{where} has type {type(item).__name__}, expected a mapping")
        activity_type = item.get("type")
        if activity_type is not None and not isinstance(activity_type, str):
            raise InvalidExportError(f"{where}['type'] must be a string or null")
        rows.append((_field(item, "activity_id", str, where), _field(item, "dimension", str, where),
                     activity_type, _iso_time(item.get("created_at"), f"{where}['created_at']"),
                     _iso_time(item.get("updated_at"), f"{where}['updated_at']"), item.get("error")))
    job_start = _compact_time(metadata.get("jc"))
    job_updated = _compact_time(metadata.get("ju"))
    known = [moment for row in rows for moment in (row[3], row[4]) if moment is not None]
    known += [moment for moment in (job_start, job_updated) if moment is not None]
    latest = max(known) if known else None
    if now is not None:
        now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    live_end = max(now, latest) if now is not None and latest is not None else latest
    bars: list[TimelineBar] = []
    for activity_id, dimension, activity_type, created, updated, raw_error in rows:
        code, message = _error_of(raw_error)
        end = updated
        if message is not None or code is not None:
            bar_status = BarStatus.FAILED
        elif updated is not None or activity_type in ("trigger", "cycle"):
            bar_status = BarStatus.DONE
            end = updated or created
        else:
            bar_status = BarStatus.RUNNING if status == "running" else BarStatus.OPEN
            end = live_end if status == "running" else (job_updated or latest)
        if created is None:
            end = None
        elif end is None or end < created:
            end = created
        bars.append(TimelineBar(activity_id=activity_id, dimension=dimension, activity_type=activity_type,
                                status=bar_status, start=created, end=end, error_code=code, error_message=message))
    bars.sort(key=lambda bar: (bar.start is None, bar.start or datetime.min.replace(tzinfo=UTC)))
    starts = [bar.start for bar in bars if bar.start is not None]
    start = min([*starts, job_start] if job_start else starts, default=None)
    ends = [bar.end for bar in bars if bar.end is not None]
    end = live_end if status == "running" else max([*ends, job_updated] if job_updated else ends, default=None)
    return JobTimeline(job_id=job_id, status=status, app_id=_text_or_none(metadata.get("app")),
                       topic=_text_or_none(metadata.get("tpc")), start=start, end=end, bars=tuple(bars))


def _text_or_none(value: JSON) -> str | None:
    return value if isinstance(value, str) else None


def human_duration(span: timedelta) -> str:
    """`83 ms`, `1.52 s`, `2 min 5 s`, `3 h 2 min`, `2 d 3 h`: short, for titles and status columns."""
    millis = round(span.total_seconds() * 1000)
    if millis < 1000:
        return f"{millis} ms"
    if millis < 60_000:
        return f"{millis / 1000:.3g} s"
    seconds = millis // 1000
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    if seconds < 86_400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86_400} d {seconds % 86_400 // 3600} h"


# -- Mermaid ---------------------------------------------------------------------------------------------------

_MERMAID_SAFE: Final = re.compile(r"[^\W]|[ .,()\[\]+=@$!?'~*/-]")
"""Characters a gantt task name may hold as they are; every other one is written as an entity code `#N;`."""
_MERMAID_KEYWORD: Final = re.compile(
    r"(?i)(gantt|dateformat|inclusiveenddates|topaxis|axisformat|tickinterval|includes|excludes|todaymarker|"
    r"weekday|weekend|title|section|acc|click|href|call|\d{4}-\d\d-\d\d)")
"""Words the gantt lexer reads as statements at the start of a line; a name starting so gets its first letter
escaped."""
_MERMAID_TAGS: Final = {BarStatus.DONE: "done, ", BarStatus.RUNNING: "active, ", BarStatus.FAILED: "crit, ",
                        BarStatus.OPEN: ""}
_MERMAID_DATE: Final = "YYYY-MM-DD HH:mm:ss.SSS"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def mermaid_text(text: str) -> str:
    """`text` as a Mermaid gantt task name or title: `:`, `#`, `;`, `%`, newlines … become entity codes."""
    last = len(text) - 1
    escaped = "".join(
        char if _MERMAID_SAFE.fullmatch(char) and not (char == " " and index in (0, last)) else f"#{ord(char)};"
        for index, char in enumerate(text))
    if _MERMAID_KEYWORD.match(escaped):
        escaped = f"#{ord(escaped[0])};{escaped[1:]}"
    return escaped or "#160;"


def _mermaid_date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _mermaid_axis(span: timedelta) -> str:
    if span < timedelta(minutes=1):
        return "%H:%M:%S.%L"
    if span < timedelta(days=1):
        return "%H:%M:%S"
    return "%m-%d %H:%M"


def _title(timeline: JobTimeline) -> str:
    duration = timeline.duration
    return f"Job {timeline.job_id} ({timeline.status}" + (
        f", {human_duration(duration)})" if duration is not None else ")")


def render_mermaid(export: JSON, *, now: datetime | None = None) -> str:
    """A Mermaid `gantt` of the job: one task per activity and dimension, tagged done / active / crit.

    Running bars are `active`, failed ones `crit`, finished ones `done`; an activity left open in an ended job
    has no tag, and one without a recorded time is a milestone at the chart's start. Times are UTC, written
    as `YYYY-MM-DD HH:mm:ss.SSS` (the chart's `dateFormat`); a task lasts at least 1 ms so it stays visible.
    Task names are escaped with Mermaid entity codes, so any activity id is accepted. Raises
    InvalidExportError when `export` is not what `mesh.export(job_id)` returns.
    """
    timeline = build_timeline(export, now=now)
    origin = timeline.start or _EPOCH
    span = timeline.duration or timedelta(0)
    lines = ["gantt", f"    title {mermaid_text(_title(timeline))}", f"    dateFormat {_MERMAID_DATE}",
             f"    axisFormat {_mermaid_axis(span)}", "    todayMarker off",
             f"    section {mermaid_text(timeline.topic or 'activities')}"]
    for number, bar in enumerate(timeline.bars, start=1):
        task = f"task{number}"
        if bar.start is None or bar.end is None:
            lines.append(f"    {mermaid_text(bar.label + ' (no time recorded)')} :milestone, {task}, "
                         f"{_mermaid_date(origin)}, {_mermaid_date(origin)}")
            continue
        end = max(bar.end, bar.start + timedelta(milliseconds=1))
        lines.append(f"    {mermaid_text(bar.label)} :{_MERMAID_TAGS[bar.status]}{task}, "
                     f"{_mermaid_date(bar.start)}, {_mermaid_date(end)}")
    return "\n".join(lines) + "\n"



# -- SVG -------------------------------------------------------------------------------------------------------

_XML_ILLEGAL: Final = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TICK_STEPS_MS: Final = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000,
                         120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000,
                         21_600_000, 43_200_000, 86_400_000, 172_800_000, 604_800_000)
_MAX_TICKS: Final = 8
_WIDTH: Final = 1000
_MARGIN: Final = 16
_STATUS_WIDTH: Final = 250
_ROW: Final = 24
_BAR: Final = 14
_TOP: Final = 92
_LABEL_CHARS: Final = 40
_MESSAGE_CHARS: Final = 20
_FONT: Final = "DejaVu Sans, Helvetica, Arial, sans-serif"
_FILL: Final = {BarStatus.DONE: "#3b7dd8", BarStatus.RUNNING: "url(#hm-running)", BarStatus.FAILED: "#d62728",
                BarStatus.OPEN: "url(#hm-open)"}
_STROKE: Final = {BarStatus.DONE: "#1f4f99", BarStatus.RUNNING: "#b26b00", BarStatus.FAILED: "#000000",
                  BarStatus.OPEN: "#6b6b6b"}
_DEFS: Final = (
    '<defs>'
    '<pattern id="hm-running" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
    '<rect width="8" height="8" fill="#f5a623"/><rect width="3" height="8" fill="#ffd89a"/></pattern>'
    '<pattern id="hm-open" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
    '<rect width="6" height="6" fill="#ececec"/><rect width="2" height="6" fill="#b5b5b5"/></pattern>'
    '</defs>')


def xml_text(text: str) -> str:
    """`text` safe inside an XML element or a double-quoted attribute (characters XML forbids become U+FFFD)."""
    cleaned = _XML_ILLEGAL.sub("\ufffd", text)
    return (cleaned.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;"))


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _tick_step_ms(span_ms: float) -> int:
    for step in _TICK_STEPS_MS:
        if span_ms / step <= _MAX_TICKS:
            return step
    day = 86_400_000
    return -(-int(span_ms) // (_MAX_TICKS * day)) * day


def _tick_label(offset_ms: int, step_ms: int) -> str:
    if step_ms < 1000:
        return f"{offset_ms} ms"
    if step_ms < 60_000:
        return f"{offset_ms / 1000:g} s"
    if step_ms < 3_600_000:
        return f"{offset_ms / 60_000:g} min"
    if step_ms < 86_400_000:
        return f"{offset_ms / 3_600_000:g} h"
    return f"{offset_ms / 86_400_000:g} d"


def _clock(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d} UTC"


def _status_text(bar: TimelineBar) -> str:
    """The bar's status in words, so the chart reads without colour."""
    length = human_duration(bar.end - bar.start) if bar.start and bar.end else None
    if bar.start is None:
        return "no time recorded"
    if bar.status is BarStatus.FAILED:
        code = f" {bar.error_code}" if bar.error_code is not None else ""
        message = f": {_shorten(bar.error_message, _MESSAGE_CHARS)}" if bar.error_message else ""
        return f"\u2716 FAILED{code}{message}"
    if bar.status is BarStatus.RUNNING:
        return f"\u25b6 RUNNING for {length}" if bar.end != bar.start else "\u25b6 RUNNING"
    if bar.status is BarStatus.OPEN:
        return "\u25cb open, never finished"
    return f"done {length}"


def _tooltip(bar: TimelineBar) -> str:
    parts = [f"{bar.activity_id} ({bar.activity_type or 'activity'}), dimension {bar.dimension or '-'}",
             bar.status.value]
    if bar.start is not None and bar.end is not None:
        parts.append(f"{_clock(bar.start)} \u2192 {_clock(bar.end)} ({human_duration(bar.end - bar.start)})")
    if bar.error_code is not None or bar.error_message:
        parts.append(f"error {bar.error_code if bar.error_code is not None else ''} {bar.error_message or ''}")
    return "\n".join(parts)


def _draw_svg(timeline: JobTimeline) -> str:
    longest = max((len(_shorten(bar.label, _LABEL_CHARS)) for bar in timeline.bars), default=8)
    label_width = min(max(longest * 7 + 12, 90), 300)
    chart_left = _MARGIN + label_width + 12
    chart_width = _WIDTH - chart_left - _STATUS_WIDTH - _MARGIN
    status_left = chart_left + chart_width + 10
    origin = timeline.start or _EPOCH
    span_ms = max((timeline.duration or timedelta(0)).total_seconds() * 1000, 1.0)
    step_ms = _tick_step_ms(span_ms)
    rows_end = _TOP + _ROW * max(len(timeline.bars), 1)
    height = rows_end + 52

    def x_of(moment: datetime) -> float:
        return chart_left + (moment - origin).total_seconds() * 1000 / span_ms * chart_width

    subtitle = " \u00b7 ".join(part for part in (
        f"app {timeline.app_id}" if timeline.app_id else "", f"topic {timeline.topic}" if timeline.topic else "",
        f"started {_clock(timeline.start)}" if timeline.start else "", f"{len(timeline.bars)} bars") if part)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
           f'viewBox="0 0 {_WIDTH} {height}" font-family="{_FONT}" font-size="12" role="img" '
           f'aria-label="{xml_text(_title(timeline))}" data-job-id="{xml_text(timeline.job_id)}" '
           f'data-job-status="{timeline.status}">',
           f"<title>{xml_text(_title(timeline))}</title>", _DEFS,
           # labels wider than their column (wide glyphs) are cut at its edge instead of running into the bars
           f'<clipPath id="hm-labels"><rect x="{_MARGIN}" y="0" width="{label_width + 4}" height="{height}"/>'
           f"</clipPath>",
           f'<rect width="{_WIDTH}" height="{height}" fill="#ffffff"/>',
           f'<text x="{_MARGIN}" y="26" font-size="16" font-weight="bold" fill="#111111">'
           f"{xml_text(_title(timeline))}</text>",
           f'<text x="{_MARGIN}" y="46" fill="#555555">{xml_text(subtitle)}</text>',
           f'<g class="axis"><line x1="{chart_left}" y1="{_TOP - 8}" x2="{chart_left + chart_width}" '
           f'y2="{_TOP - 8}" stroke="#888888"/>']
    offset = 0
    while offset <= span_ms + 1e-9:
        x = chart_left + offset / span_ms * chart_width
        out.append(f'<line x1="{x:.1f}" y1="{_TOP - 12}" x2="{x:.1f}" y2="{rows_end}" stroke="#e3e3e3"/>'
                   f'<text x="{x:.1f}" y="{_TOP - 16}" text-anchor="middle" fill="#444444">'
                   f"{_tick_label(offset, step_ms)}</text>")
        offset += step_ms
    out.append("</g>")
    for index, bar in enumerate(timeline.bars):
        top = _TOP + index * _ROW
        middle = top + _ROW / 2 + 4
        out.append(f'<g class="bar" data-activity="{xml_text(bar.activity_id)}" '
                   f'data-dimension="{xml_text(bar.dimension)}" data-status="{bar.status.value}">'
                   f"<title>{xml_text(_tooltip(bar))}</title>")
        if index % 2:
            out.append(f'<rect x="{_MARGIN}" y="{top}" width="{_WIDTH - 2 * _MARGIN}" height="{_ROW}" '
                       f'fill="#f6f7f9"/>')
        weight = ' font-weight="bold"' if bar.status in (BarStatus.FAILED, BarStatus.RUNNING) else ""
        out.append(f'<text class="label" x="{_MARGIN + 4}" y="{middle:.1f}" fill="#111111" '
                   f'clip-path="url(#hm-labels)">'
                   f"{xml_text(_shorten(bar.label, _LABEL_CHARS))}</text>")
        if bar.start is not None and bar.end is not None:
            left = x_of(bar.start)
            width = max(x_of(bar.end) - left, 3.0)
            stroke = 2 if bar.status is BarStatus.FAILED else 1
            out.append(f'<rect class="{bar.status.value}" x="{left:.1f}" y="{top + (_ROW - _BAR) / 2:.1f}" '
                       f'width="{width:.1f}" height="{_BAR}" rx="2" fill="{_FILL[bar.status]}" '
                       f'stroke="{_STROKE[bar.status]}" stroke-width="{stroke}"/>')
            if bar.status is BarStatus.RUNNING:  # an arrow head: the bar goes on past the chart's end
                tip, y = left + width, top + _ROW / 2
                out.append(f'<path d="M{tip + 1:.1f},{y - 6:.1f} L{tip + 8:.1f},{y:.1f} L{tip + 1:.1f},{y + 6:.1f} Z" '
                           f'fill="#b26b00"/>')
        colour = {BarStatus.FAILED: "#b00000", BarStatus.RUNNING: "#8a5300"}.get(bar.status, "#333333")
        out.append(f'<text class="status" x="{status_left}" y="{middle:.1f}" fill="{colour}"{weight}>'
                   f"{xml_text(_status_text(bar))}</text></g>")
    if not timeline.bars:
        out.append(f'<text x="{chart_left}" y="{_TOP + 16}" fill="#555555">no activity recorded</text>')
    legend_y = rows_end + 30
    x = _MARGIN
    out.append('<g class="legend">')
    for status, words in ((BarStatus.DONE, "done"), (BarStatus.RUNNING, "\u25b6 running"),
                          (BarStatus.FAILED, "\u2716 failed"), (BarStatus.OPEN, "\u25cb open (job ended first)")):
        out.append(f'<rect x="{x}" y="{legend_y - 10}" width="22" height="{_BAR - 2}" rx="2" '
                   f'fill="{_FILL[status]}" stroke="{_STROKE[status]}"/>'
                   f'<text x="{x + 28}" y="{legend_y}" fill="#333333">{words}</text>')
        x += 40 + len(words) * 7
    out.append(f'<text x="{_WIDTH - _MARGIN}" y="{legend_y}" text-anchor="end" fill="#777777">'
               f"time since job start</text></g></svg>")
    return "\n".join(out) + "\n"


def render_svg(export: JSON, *, now: datetime | None = None) -> str:
    """A standalone SVG of the job's timeline: no script, no external resource, UTF-8 text.

    Bars sit on a time axis (ticks in time since the job started), one row per activity and dimension,
    labelled by activity id (and dimension when it is not the root one). Status is shown twice, so the chart
    reads without colour: by fill (blue done, striped amber running, red with a black outline failed, striped
    grey open) and by the words in the right-hand column (`done 83 ms`, `▶ RUNNING …`, `✖ FAILED 500: …`,
    `○ open`). Each row is a `<g class="bar">` carrying `data-activity`, `data-dimension`, `data-status` and a
    `<title>` tooltip with times and the error. The title names the job, its status and its duration. Raises
    InvalidExportError when `export` is not what `mesh.export(job_id)` returns.
    """
    return _draw_svg(build_timeline(export, now=now))
