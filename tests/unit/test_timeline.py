"""The timeline renderers on exports: four captured from a real mesh, and hypothesis-generated ones.

The captured exports came from `mesh.export(job_id)` on real jobs (the integration test in
tests/integration/test_timeline.py makes the same kinds of job live); fields the renderers do not read (job
and activity data, transitions, the event list, ledgers) are left out here, and the error stacks are cut.
"""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotmesh_actors.errors import HotMeshError
from hotmesh_actors.timeline import (
    BarStatus,
    InvalidExportError,
    build_timeline,
    human_duration,
    mermaid_text,
    render_mermaid,
    render_svg,
)

JSON = Any
SVG = "{http://www.w3.org/2000/svg}"
ERR_500 = json.dumps({"message": "boom <&>", "code": 500, "stack": "Traceback …\nRuntimeError: boom <&>\n"})


def _export(job_id: str, status: int, metadata: dict[str, str],
            *rows: tuple[str, str, str, str | None, str | None, str | None]) -> dict[str, JSON]:
    return {"job_id": job_id, "status": status, "metadata": {"jid": job_id, **metadata},
            "activities": [{"activity_id": aid, "type": kind, "dimension": dad, "created_at": created,
                            "updated_at": updated, "error": error}
                           for aid, kind, dad, created, updated, error in rows]}


ORDER_RESERVED = _export(
    "HrTm_Y9bsZ7thJ3rUYVf3qk", 0,
    {"app": "tlf1919d", "jc": "20261203182534.566", "ju": "20261203182534.685", "tpc": "order.requested"},
    ("trigger", "trigger", ",0", "2026-12-03T18:25:34.566Z", "2026-12-03T18:25:34.566Z", None),
    ("checkInventory", "worker", ",0,0", "2026-12-03T18:25:34.566Z", "2026-12-03T18:25:34.649Z", None),
    ("reserveItem", "worker", ",0,0,0", "2026-12-03T18:25:34.649Z", "2026-12-03T18:25:34.685Z", None),
)

CYCLE_WITH_SIDE_BRANCH = _export(
    "HpYiyBD7payiwyoTj9K1_Bz", 0,
    {"app": "tl73f260", "jc": "20261203182535.086", "ju": "20261203182535.448", "tpc": "par.test"},
    ("t1", "trigger", ",0", "2026-12-03T18:25:35.086Z", "2026-12-03T18:25:35.086Z", None),
    ("a1", "hook", ",0,0", "2026-12-03T18:25:35.086Z", "2026-12-03T18:25:35.086Z", None),
    ("w2", "worker", ",0,0", "2026-12-03T18:25:35.086Z", "2026-12-03T18:25:35.269Z", None),
    ("w1", "worker", ",0,0,0", "2026-12-03T18:25:35.086Z", "2026-12-03T18:25:35.227Z", None),
    ("c1", "cycle", ",0,0,0,0", "2026-12-03T18:25:35.227Z", None, None),
    ("a1", "hook", ",0,1", "2026-12-03T18:25:35.293Z", "2026-12-03T18:25:35.293Z", None),
    ("w1", "worker", ",0,1,0", "2026-12-03T18:25:35.293Z", "2026-12-03T18:25:35.373Z", None),
    ("c1", "cycle", ",0,1,0,0", "2026-12-03T18:25:35.373Z", None, None),
    ("a1", "hook", ",0,2", "2026-12-03T18:25:35.381Z", "2026-12-03T18:25:35.381Z", None),
    ("w1", "worker", ",0,2,0", "2026-12-03T18:25:35.381Z", "2026-12-03T18:25:35.448Z", None),
)

FAILED_WORKER = _export(
    "HuyRUvDvG20Qxiuzh-gFVcb", 0,
    {"app": "tlb3403c", "jc": "20261203182535.921", "ju": "20261203182536.072", "tpc": "fail.test", "err": ERR_500},
    ("t1", "trigger", ",0", "2026-12-03T18:25:35.921Z", "2026-12-03T18:25:35.921Z", None),
    ("w1", "worker", ",0,0", "2026-12-03T18:25:35.921Z", "2026-12-03T18:25:36.033Z", None),
    ("w2", "worker", ",0,0,0", "2026-12-03T18:25:36.033Z", "2026-12-03T18:25:36.072Z", ERR_500),
)

WAITING_IN_HOOK = _export(
    "HptkHLKc_nmZ8GWUithY_Nb", 1,
    {"app": "tlc18b3d", "jc": "20261203182536.475", "ju": "20261203182536.475", "tpc": "wait.test"},
    ("t1", "trigger", ",0", "2026-12-03T18:25:36.475Z", "2026-12-03T18:25:36.475Z", None),
    ("w1", "worker", ",0,0", "2026-12-03T18:25:36.475Z", "2026-12-03T18:25:36.617Z", None),
    ("a1", "hook", ",0,0,0", "2026-12-03T18:25:36.617Z", None, None),
)

CAPTURED = [ORDER_RESERVED, CYCLE_WITH_SIDE_BRANCH, FAILED_WORKER, WAITING_IN_HOOK]


# -- helpers that read the rendered output -------------------------------------------------------------------

def svg_rows(svg: str) -> list[ET.Element]:
    """The `<g class="bar">` rows of a rendered SVG (parsing it as XML on the way)."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return [group for group in root.iter(f"{SVG}g") if group.get("class") == "bar"]


def row_text(row: ET.Element, css_class: str) -> str:
    found = [text for text in row.iter(f"{SVG}text") if text.get("class") == css_class]
    assert len(found) == 1
    return found[0].text or ""


TASK_LINE = re.compile(r"^    (?P<name>[^:\n]+) :(?P<tags>(?:(?:done|active|crit|milestone), )*)task(?P<n>\d+), "
                       r"(?P<start>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}), "
                       r"(?P<end>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})$")


def mermaid_tasks(text: str) -> list[re.Match[str]]:
    """Every task line of a rendered gantt, each checked against the shape Mermaid's grammar accepts."""
    lines = text.splitlines()
    assert lines[0] == "gantt"
    body = [line for line in lines[1:] if not line.startswith(("    title ", "    dateFormat ", "    axisFormat ",
                                                                 "    todayMarker ", "    section "))]
    matches = [TASK_LINE.match(line) for line in body]
    assert all(matches), [line for line, found in zip(body, matches, strict=True) if not found]
    return [found for found in matches if found]


def unescape_mermaid(name: str) -> str:
    return re.sub(r"#(\d+);", lambda found: chr(int(found.group(1))), name)


# -- captured exports -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("export", CAPTURED, ids=["order", "cycle", "failed", "running"])
def test_svg_of_a_captured_export_parses_and_names_every_activity(export: dict[str, JSON]) -> None:
    rows = svg_rows(render_svg(export))
    assert [(row.get("data-activity"), row.get("data-dimension")) for row in rows] == [
        (item["activity_id"], item["dimension"]) for item in export["activities"]]
    for row in rows:
        assert row_text(row, "label").split(" ")[0] == row.get("data-activity")


@pytest.mark.parametrize("export", CAPTURED, ids=["order", "cycle", "failed", "running"])
def test_mermaid_of_a_captured_export_has_one_task_per_activity_and_dimension(export: dict[str, JSON]) -> None:
    text = render_mermaid(export)
    assert text.startswith("gantt\n")
    tasks = mermaid_tasks(text)
    assert len(tasks) == len(export["activities"])
    assert [int(task.group("n")) for task in tasks] == list(range(1, len(tasks) + 1))
    for task in tasks:
        assert task.group("start") < task.group("end")  # at least 1 ms, so every bar is visible


def test_failed_worker_is_marked_in_both_renderings() -> None:
    rows = {row.get("data-activity"): row for row in svg_rows(render_svg(FAILED_WORKER))}
    assert rows["w2"].get("data-status") == "failed"
    assert "FAILED 500: boom <&>" in row_text(rows["w2"], "status")
    assert [rect.get("class") for rect in rows["w2"].iter(f"{SVG}rect")] == ["failed"]
    assert {rows[aid].get("data-status") for aid in ("t1", "w1")} == {"done"}
    tasks = {task.group("name"): task.group("tags") for task in mermaid_tasks(render_mermaid(FAILED_WORKER))}
    assert tasks == {"t1": "done, ", "w1": "done, ", "w2": "crit, "}


def test_job_title_gives_id_status_and_duration() -> None:
    root = ET.fromstring(render_svg(FAILED_WORKER))
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == "Job HuyRUvDvG20Qxiuzh-gFVcb (failed, 151 ms)"
    assert root.get("data-job-status") == "failed"
    assert "    title Job HuyRUvDvG20Qxiuzh-gFVcb (failed, 151 ms)" in render_mermaid(FAILED_WORKER).splitlines()


def test_hook_still_waiting_is_running_and_reaches_now() -> None:
    timeline = build_timeline(WAITING_IN_HOOK)
    assert timeline.status == "running"
    assert [bar.status for bar in timeline.bars] == [BarStatus.DONE, BarStatus.DONE, BarStatus.RUNNING]
    now = datetime(2026, 12, 3, 18, 25, 46, 617_000, tzinfo=UTC)
    later = build_timeline(WAITING_IN_HOOK, now=now)
    assert later.bars[-1].end == now and later.end == now
    rows = svg_rows(render_svg(WAITING_IN_HOOK, now=now))
    assert rows[-1].get("data-status") == "running"
    assert row_text(rows[-1], "status") == "\u25b6 RUNNING for 10 s"
    tasks = mermaid_tasks(render_mermaid(WAITING_IN_HOOK, now=now))
    assert (tasks[-1].group("tags"), tasks[-1].group("end")) == ("active, ", "2026-12-03 18:25:46.617")


def test_now_earlier_than_the_export_changes_nothing() -> None:
    early = datetime(2000, 1, 1, tzinfo=UTC)
    assert render_svg(WAITING_IN_HOOK, now=early) == render_svg(WAITING_IN_HOOK)


def test_cycle_iterations_are_labelled_by_dimension() -> None:
    labels = [bar.label for bar in build_timeline(CYCLE_WITH_SIDE_BRANCH).bars]
    assert labels == ["t1", "a1", "w2", "w1", "c1", "a1 [,0,1]", "w1 [,0,1,0]", "c1 [,0,1,0,0]", "a1 [,0,2]",
                      "w1 [,0,2,0]"]
    names = [task.group("name") for task in mermaid_tasks(render_mermaid(CYCLE_WITH_SIDE_BRANCH))]
    assert names == labels
    # a cycle activity never records an update: it is done the moment it sends the job back
    assert {bar.status for bar in build_timeline(CYCLE_WITH_SIDE_BRANCH).bars} == {BarStatus.DONE}


def test_open_branch_of_an_ended_job_is_open_not_running() -> None:
    export = copy.deepcopy(WAITING_IN_HOOK)
    export["status"] = -1_000_000_000 + 1  # interrupted while the hook waited
    timeline = build_timeline(export, now=datetime(2030, 1, 1, tzinfo=UTC))
    assert timeline.status == "interrupted"
    assert timeline.bars[-1].status is BarStatus.OPEN
    assert timeline.bars[-1].end == timeline.bars[-1].start  # an ended job's chart does not reach `now`
    assert svg_rows(render_svg(export))[-1].get("data-status") == "open"
    assert mermaid_tasks(render_mermaid(export))[-1].group("tags") == ""


def test_rendering_is_deterministic_and_leaves_the_export_alone() -> None:
    before = copy.deepcopy(CYCLE_WITH_SIDE_BRANCH)
    assert render_svg(CYCLE_WITH_SIDE_BRANCH) == render_svg(copy.deepcopy(CYCLE_WITH_SIDE_BRANCH))
    assert render_mermaid(CYCLE_WITH_SIDE_BRANCH) == render_mermaid(copy.deepcopy(CYCLE_WITH_SIDE_BRANCH))
    assert CYCLE_WITH_SIDE_BRANCH == before


def test_activity_without_a_time_is_listed_without_a_bar() -> None:
    export = copy.deepcopy(ORDER_RESERVED)
    export["activities"].append({"activity_id": "lost", "type": "worker", "dimension": ",0,0,0",
                                 "created_at": None, "updated_at": None, "error": None})
    row = svg_rows(render_svg(export))[-1]
    assert row.get("data-activity") == "lost" and row_text(row, "status") == "no time recorded"
    assert not [rect for rect in row.iter(f"{SVG}rect") if rect.get("class")]
    last = mermaid_tasks(render_mermaid(export))[-1]
    assert (last.group("name"), last.group("tags")) == ("lost (no time recorded)", "milestone, ")


def test_empty_export_renders_a_chart_with_no_bars() -> None:
    export = {"job_id": "j", "status": 0, "activities": []}
    assert svg_rows(render_svg(export)) == []
    assert mermaid_tasks(render_mermaid(export)) == []


# -- what is not an export ------------------------------------------------------------------------------------

def _with(**changes: JSON) -> dict[str, JSON]:
    export = copy.deepcopy(ORDER_RESERVED)
    export.update(changes)
    return export


def _with_activity(**changes: JSON) -> dict[str, JSON]:
    export = copy.deepcopy(ORDER_RESERVED)
    export["activities"][1].update(changes)
    return export


@pytest.mark.parametrize(("value", "says"), [
    (None, "an export is a mapping"),
    ([ORDER_RESERVED], "an export is a mapping"),
    ({"status": 0, "activities": []}, "no 'job_id'"),
    (_with(status="0"), "'status'] has type str"),
    (_with(status=True), "'status'] has type bool"),
    (_with(activities={"a": 1}), "'activities'] has type dict"),
    (_with(metadata=["x"]), "'metadata' has type list"),
    (_with(activities=["trigger"]), "activities[0] has type str"),
    (_with_activity(activity_id=7), "activities[1]['activity_id'] has type int"),
    (_with_activity(dimension=None), "activities[1]['dimension'] has type NoneType"),
    (_with_activity(created_at="yesterday"), "activities[1]['created_at'] is not an ISO 8601 time"),
    (_with_activity(updated_at=1764786334), "activities[1]['updated_at'] must be an ISO 8601 string"),
    (_with_activity(type=3), "activities[1]['type'] must be a string"),
])
def test_a_value_that_is_not_an_export_gets_a_typed_error(value: JSON, says: str) -> None:
    for render in (render_svg, render_mermaid):
        with pytest.raises(InvalidExportError, match=re.escape(says)) as raised:
            render(value)
        assert isinstance(raised.value, ValueError) and isinstance(raised.value, HotMeshError)


# -- escaping ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["section x", "title: y", "click me", "gantt", "%%{init}%%", "a:b", "a#b;c",
                                  "dateFormat X", "2026-01-01 z", " lead ", "<b>", "accTitle: t", "tab\there",
                                  "new\nline", "%comment", "style:a#b;", "}", ""])
def test_mermaid_names_that_look_like_syntax_are_escaped(name: str) -> None:
    escaped = mermaid_text(name)
    assert re.fullmatch(r"(?:[^\W]|[ .,()\[\]+=@$!?'~*/-]|#\d+;)+", escaped)
    assert unescape_mermaid(escaped) == (name or "\u00a0")
    assert not escaped.startswith(" ") and not escaped.endswith(" ")


@given(st.text())
def test_mermaid_text_round_trips_and_never_holds_gantt_syntax(text: str) -> None:
    escaped = mermaid_text(text)
    assert ":" not in escaped and "\n" not in escaped and "%" not in escaped
    assert re.sub(r"#\d+;", "", escaped).count("#") == 0 and re.sub(r"#\d+;", "", escaped).count(";") == 0
    assert unescape_mermaid(escaped) == (text or "\u00a0")


def test_svg_escapes_markup_and_drops_characters_xml_forbids() -> None:
    export = copy.deepcopy(FAILED_WORKER)
    export["job_id"] = 'j<1>&"2"'
    export["activities"][1]["activity_id"] = "<script>alert(1)</script>\x00\x1b"
    svg = render_svg(export)
    assert "<script" not in svg
    root = ET.fromstring(svg)
    assert root.get("data-job-id") == 'j<1>&"2"'
    assert svg_rows(svg)[1].get("data-activity") == "<script>alert(1)</script>\ufffd\ufffd"


def test_human_duration_reads_at_every_scale() -> None:
    assert [human_duration(timedelta(milliseconds=ms)) for ms in (0, 83, 1520, 125_000, 10_920_000, 183_600_000)] \
        == ["0 ms", "83 ms", "1.52 s", "2 min 5 s", "3 h 2 min", "2 d 3 h"]


# -- generated exports ------------------------------------------------------------------------------------------

_XML_CHARS = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff")
_ORIGIN = datetime(2026, 12, 3, 18, 0, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@st.composite
def exports(draw: st.DrawFn) -> dict[str, JSON]:
    """Exports shaped like `mesh.export(job_id)`'s: unique (activity, dimension) pairs, times from one origin,
    some activities unfinished, some failed, a job live, ended, failed or interrupted; spans from ms to days."""
    scale = draw(st.sampled_from([1, 1000, 60_000, 3_600_000]))
    keys = draw(st.lists(st.tuples(st.text(_XML_CHARS, min_size=1, max_size=60),
                                   st.lists(st.integers(0, 3), min_size=1, max_size=4).map(
                                       lambda digits: "," + ",".join(map(str, digits)))),
                         max_size=12, unique=True))
    activities = []
    for activity_id, dimension in keys:
        start = draw(st.integers(0, 500))
        finished = draw(st.booleans())
        error = draw(st.none() | st.builds(lambda code, message: json.dumps({"code": code, "message": message}),
                                           st.integers(400, 599), st.text(_XML_CHARS, max_size=80)))
        activities.append({
            "activity_id": activity_id, "dimension": dimension,
            "type": draw(st.sampled_from(["trigger", "worker", "hook", "cycle", "await", None])),
            "created_at": _iso(_ORIGIN + timedelta(milliseconds=start * scale)),
            "updated_at": _iso(_ORIGIN + timedelta(milliseconds=(start + draw(st.integers(0, 500))) * scale))
            if finished else None,
            "error": error,
        })
    metadata: dict[str, JSON] = {"jc": _ORIGIN.strftime("%Y%m%d%H%M%S.000"), "tpc": draw(st.text(_XML_CHARS))}
    if draw(st.booleans()):
        metadata["err"] = json.dumps({"code": 500, "message": "failed"})
    status = draw(st.sampled_from([0, 1, 3, -1_000_000_000, -999_999_998]))
    return {"job_id": draw(st.text(_XML_CHARS, min_size=1)), "status": status, "metadata": metadata,
            "activities": activities}


@settings(max_examples=150, deadline=None)
@given(exports())
def test_generated_svg_parses_names_every_activity_and_marks_each_failure(export: dict[str, JSON]) -> None:
    rows = svg_rows(render_svg(export))
    assert [(row.get("data-activity"), row.get("data-dimension")) for row in rows] == [
        (item["activity_id"], item["dimension"]) for item in sorted(export["activities"],
                                                                     key=lambda item: item["created_at"])]
    by_key = {(item["activity_id"], item["dimension"]): item for item in export["activities"]}
    for row in rows:
        item = by_key[(row.get("data-activity"), row.get("data-dimension"))]
        label = row_text(row, "label")
        assert label.startswith(item["activity_id"][:39])
        if item["error"] is not None:
            assert row.get("data-status") == "failed"
            assert "FAILED" in row_text(row, "status")
        else:
            assert row.get("data-status") != "failed" and "FAILED" not in row_text(row, "status")


@settings(max_examples=150, deadline=None)
@given(exports())
def test_generated_mermaid_has_one_task_line_per_activity_and_dimension(export: dict[str, JSON]) -> None:
    text = render_mermaid(export)
    assert text.startswith("gantt\n")
    tasks = mermaid_tasks(text)
    expected = sorted(export["activities"], key=lambda item: item["created_at"])
    assert [unescape_mermaid(task.group("name")).split(" [")[0] for task in tasks] == [
        item["activity_id"].split(" [")[0] or "\u00a0" for item in expected]
    assert [task.group("tags") == "crit, " for task in tasks] == [item["error"] is not None for item in expected]


@settings(max_examples=50, deadline=None)
@given(exports(), st.integers(0, 10**9))
def test_running_bars_end_at_now_only_while_the_job_is_live(export: dict[str, JSON], offset_ms: int) -> None:
    now = _ORIGIN + timedelta(milliseconds=offset_ms)
    timeline = build_timeline(export, now=now)
    for bar in timeline.bars:
        assert bar.start is not None and bar.end is not None and bar.end >= bar.start
        if bar.status is BarStatus.RUNNING:
            assert timeline.status == "running" and bar.end >= now
        if bar.status is BarStatus.OPEN:
            assert timeline.status != "running"


@pytest.mark.parametrize(("error", "failed", "message"), [
    (None, False, None), ("", False, None), ("null", False, None), ("{}", False, None),
    ('{"code": 422, "message": "no"}', True, "no"), ('{"stack": "Traceback"}', True, '{"stack": "Traceback"}'),
    ("plain words", True, "plain words"), ({"code": 500}, True, None),
])
def test_what_counts_as_a_failed_activity(error: JSON, failed: bool, message: str | None) -> None:
    export = copy.deepcopy(ORDER_RESERVED)
    export["activities"][1]["error"] = error
    bar = build_timeline(export).bars[1]
    assert (bar.status is BarStatus.FAILED, bar.error_message) == (failed, message)


def test_naive_now_is_taken_as_utc() -> None:
    naive = datetime(2026, 12, 3, 18, 30)
    assert build_timeline(WAITING_IN_HOOK, now=naive).end == naive.replace(tzinfo=UTC)
