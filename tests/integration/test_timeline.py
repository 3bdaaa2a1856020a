"""Timelines of real jobs on a real mesh: rendered as SVG and Mermaid, through the CLI, and in Chromium.

The browser test runs where Chromium is installed (`/usr/bin/chromium`, or `HOTMESH_CHROMIUM`) and is
skipped elsewhere; its Mermaid half also needs a local `mermaid.min.js` named by `HOTMESH_MERMAID_JS`.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import sys
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from hotmesh_actors import RetryPolicy, Worker
from hotmesh_actors.core.messages import StreamMessage
from hotmesh_actors.errors import JobFailedError
from hotmesh_actors.timeline import render_mermaid, render_svg

from .activities_kit import app_yaml
from .conformance_kit import ROOT, deploy_and_activate, open_mesh, wait_until

JSON = Any
SVG = "{http://www.w3.org/2000/svg}"
TASK = re.compile(r"^    \S.* :(?:done, |active, |crit, |milestone, )?task\d+, ")

FAILING_GRAPH = """
- subscribes: tl.fail
  expire: 120
  activities:
    t1:
      type: trigger
    prepare:
      type: worker
      topic: tl.ok
    charge:
      type: worker
      topic: tl.bad
  transitions:
    t1:
      - to: prepare
    prepare:
      - to: charge
"""

WAITING_GRAPH = """
- subscribes: tl.wait
  expire: 120
  activities:
    t1:
      type: trigger
    prepare:
      type: worker
      topic: tl.ok
    approval:
      type: hook
      hook:
        type: object
        properties:
          approved: {type: boolean}
  transitions:
    t1:
      - to: prepare
    prepare:
      - to: approval
  hooks:
    tl.approval:
      - to: approval
        conditions:
          match:
            - expected: '{$job.metadata.jid}'
              actual: '{$self.hook.data.id}'
"""

CYCLE_GRAPH = """
- subscribes: tl.cycle
  expire: 120
  activities:
    t1:
      type: trigger
    loop:
      type: hook
      cycle: true
    count:
      type: worker
      topic: tl.count
      job:
        maps:
          counter: '{$self.output.data.counter}'
    side:
      type: worker
      topic: tl.ok
    again:
      type: cycle
      ancestor: loop
  transitions:
    t1:
      - to: loop
      - to: side
    loop:
      - to: count
    count:
      - to: again
        conditions:
          match:
            - expected: true
              actual:
                '@pipe':
                  - ['{count.output.data.counter}', 3]
                  - ['{@conditional.less_than}']
"""


async def _ok(msg: StreamMessage) -> dict[str, JSON]:
    return {"data": {"ok": True}}


async def _refuse(msg: StreamMessage) -> dict[str, JSON]:
    raise RuntimeError("card declined <&>")


def _workers() -> list[Worker]:
    # one attempt: an uncoded exception is otherwise retried by the default policy (after 10 s, 100 s)
    return [Worker("tl.ok", _ok), Worker("tl.bad", _refuse, retry_policy=RetryPolicy(maximum_attempts=1))]


async def _failed_job(mesh: Any) -> str:
    with pytest.raises(JobFailedError) as failed:
        await mesh.pubsub("tl.fail", {}, timeout=20)
    return failed.value.job_id


def _rows(svg: str) -> dict[tuple[str | None, str | None], ET.Element]:
    root = ET.fromstring(svg)
    return {(group.get("data-activity"), group.get("data-dimension")): group
            for group in root.iter(f"{SVG}g") if group.get("class") == "bar"}


def _status_text(row: ET.Element) -> str:
    return next(text.text or "" for text in row.iter(f"{SVG}text") if text.get("class") == "status")


async def test_failing_activity_is_drawn_failed_in_svg_and_mermaid(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, _workers()) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, FAILING_GRAPH), "1")
        job_id = await _failed_job(mesh)
        export = await mesh.export(job_id)
    svg = render_svg(export)
    rows = _rows(svg)
    assert {aid for aid, _ in rows} == {"t1", "prepare", "charge"}
    assert {aid: row.get("data-status") for (aid, _), row in rows.items()} == {
        "t1": "done", "prepare": "done", "charge": "failed"}
    charge = next(row for (aid, _), row in rows.items() if aid == "charge")
    assert _status_text(charge) == "\u2716 FAILED 500: card declined <&>"
    title = ET.fromstring(svg).find(f"{SVG}title")
    assert title is not None and title.text is not None and title.text.startswith(f"Job {job_id} (failed, ")
    mermaid = render_mermaid(export)
    assert mermaid.startswith("gantt\n")
    tasks = [line.strip() for line in mermaid.splitlines() if TASK.match(line)]
    assert len(tasks) == len(export["activities"]) == 3
    assert [task.split(" :")[0] for task in tasks if " :crit, " in task] == ["charge"]


async def test_job_waiting_in_a_hook_is_drawn_running(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, _workers()) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, WAITING_GRAPH), "1")
        job_id = await mesh.pub("tl.wait", {})

        async def waiting() -> bool:
            return any(item["activity_id"] == "approval" for item in (await mesh.export(job_id))["activities"])

        await wait_until(waiting, what="the approval hook to be entered")
        export = await mesh.export(job_id)
    rows = _rows(render_svg(export))
    approval = next(row for (aid, _), row in rows.items() if aid == "approval")
    assert approval.get("data-status") == "running"
    assert _status_text(approval).startswith("\u25b6 RUNNING")
    assert " :active, " in next(line for line in render_mermaid(export).splitlines() if "approval" in line)


async def test_cycle_iterations_and_parallel_branch_get_a_bar_each(pg_dsn: str, app_id: str) -> None:
    calls: list[int] = []

    async def count(msg: StreamMessage) -> dict[str, JSON]:
        calls.append(1)
        return {"data": {"counter": len(calls)}}

    async with open_mesh(app_id, pg_dsn, [*_workers(), Worker("tl.count", count)]) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, CYCLE_GRAPH), "1")
        output = await mesh.pubsub("tl.cycle", {}, timeout=20)
        export = await mesh.export(output["metadata"]["jid"])
    rows = _rows(render_svg(export))
    assert set(rows) == {(item["activity_id"], item["dimension"]) for item in export["activities"]}
    assert sorted(dad for aid, dad in rows if aid == "count") == [",0,0,0", ",0,1,0", ",0,2,0"]
    assert ("side", ",0,0") in rows
    assert {row.get("data-status") for row in rows.values()} == {"done"}
    labels = [line.split(" :")[0].strip() for line in render_mermaid(export).splitlines() if " :" in line]
    assert {"count", "count [,0,1,0]", "count [,0,2,0]", "loop [,0,2]", "side"} <= set(labels)


# -- the CLI -----------------------------------------------------------------------------------------------------

async def _cli(*args: str) -> trio.CompletedProcess[bytes]:
    return await trio.run_process([sys.executable, "-m", "hotmesh_actors", *args], capture_stdout=True,
                                  capture_stderr=True, check=False, cwd=ROOT)


async def test_cli_draws_a_real_job_as_mermaid_and_svg(pg_dsn: str, app_id: str, tmp_path: Path) -> None:
    async with open_mesh(app_id, pg_dsn, _workers()) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, FAILING_GRAPH), "1")
        job_id = await _failed_job(mesh)
    default = await _cli("timeline", job_id, "--app", app_id, "--dsn", pg_dsn)
    assert default.returncode == 0, default.stderr
    text = default.stdout.decode()
    assert text.startswith("gantt\n") and " :crit, " in text
    target = tmp_path / "job.svg"
    drawn = await _cli("timeline", job_id, "--app", app_id, "--dsn", pg_dsn, "--svg", str(target), "--json")
    assert drawn.returncode == 0, drawn.stderr
    assert json.loads(drawn.stdout) == {"job_id": job_id, "app": app_id, "format": "svg", "path": str(target)}
    assert {aid for aid, _ in _rows(target.read_text("utf-8"))} == {"t1", "prepare", "charge"}
    wrapped = await _cli("--dsn", pg_dsn, "timeline", job_id, "--app", app_id, "--mermaid", "--json")
    assert wrapped.returncode == 0, wrapped.stderr
    assert json.loads(wrapped.stdout)["text"] == text


async def test_cli_unknown_job_is_an_error(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, _workers()) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, FAILING_GRAPH), "1")
    plain = await _cli("timeline", "no-such-job", "--app", app_id, "--dsn", pg_dsn)
    assert plain.returncode == 1
    assert plain.stdout == b"" and b"Job no-such-job not found" in plain.stderr
    wrapped = await _cli("timeline", "no-such-job", "--app", app_id, "--dsn", pg_dsn, "--json")
    assert wrapped.returncode == 1
    assert json.loads(wrapped.stdout) == {"job_id": "no-such-job", "error": {
        "type": "JobNotFoundError", "message": "Job no-such-job not found"}}


# -- a real browser ---------------------------------------------------------------------------------------------

CHROMIUM = os.environ.get("HOTMESH_CHROMIUM") or shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def _png_pixels(data: bytes) -> Iterator[tuple[int, ...]]:
    """Every pixel of an 8-bit RGB or RGBA PNG (what Chromium writes), decoded with zlib alone."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat, header = 8, b"", b""
    while position < len(data):
        (length,), kind = struct.unpack(">I", data[position:position + 4]), data[position + 4:position + 8]
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    channels = 3 if colour == 2 else 4
    stride = width * channels
    raw = zlib.decompress(idat)
    previous = bytearray(stride)
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for index in range(stride):
            left = line[index - channels] if index >= channels else 0
            up = previous[index]
            corner = previous[index - channels] if index >= channels else 0
            if kind == 1:
                line[index] = (line[index] + left) & 0xFF
            elif kind == 2:
                line[index] = (line[index] + up) & 0xFF
            elif kind == 3:
                line[index] = (line[index] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                best = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner))
                line[index] = (line[index] + best[2]) & 0xFF
        for column in range(width):
            yield tuple(line[column * channels:column * channels + 3])
        previous = line


async def _screenshot(page: Path, png: Path, profile: Path, *extra: str) -> None:
    assert CHROMIUM is not None
    result = await trio.run_process(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", f"--screenshot={png}", "--window-size=1000,400", *extra, page.as_uri()],
        capture_stdout=True, capture_stderr=True, check=False)
    assert result.returncode == 0 and png.exists(), result.stderr.decode(errors="replace")[-2000:]


def _near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 24) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (looked for HOTMESH_CHROMIUM, chromium on "
                                             "PATH, /usr/bin/chromium): the SVG is still checked by parsing")
async def test_svg_of_a_failed_job_shows_in_headless_chromium(pg_dsn: str, app_id: str, tmp_path: Path) -> None:
    async with open_mesh(app_id, pg_dsn, _workers()) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, FAILING_GRAPH), "1")
        export = await mesh.export(await _failed_job(mesh))
    page = tmp_path / "job.svg"
    page.write_text(render_svg(export), "utf-8")
    png = tmp_path / "job.png"
    with trio.fail_after(120):
        await _screenshot(page, png, tmp_path / "profile")
    pixels = list(_png_pixels(png.read_bytes()))
    colours = set(pixels)
    assert len(colours) > 20, "the screenshot is (nearly) blank"
    assert sum(1 for pixel in pixels if pixel != (255, 255, 255)) > 2000
    assert any(_near(pixel, (0xD6, 0x27, 0x28)) for pixel in pixels), "no red failed bar on screen"
    assert any(_near(pixel, (0x3B, 0x7D, 0xD8)) for pixel in pixels), "no blue done bar on screen"


MERMAID_JS = os.environ.get("HOTMESH_MERMAID_JS")


@pytest.mark.skipif(CHROMIUM is None or not MERMAID_JS,
                    reason="needs Chromium and HOTMESH_MERMAID_JS naming a local mermaid.min.js (e.g. from "
                           "`npm install mermaid`); the Mermaid text is still checked against the gantt grammar")
async def test_mermaid_of_a_failed_job_renders_with_mermaid_js(pg_dsn: str, app_id: str, tmp_path: Path) -> None:
    async with open_mesh(app_id, pg_dsn, _workers()) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, FAILING_GRAPH), "1")
        export = await mesh.export(await _failed_job(mesh))
    export["activities"][1]["activity_id"] = "section: #odd; %%name"  # a name that looks like gantt syntax
    assert MERMAID_JS is not None
    page = tmp_path / "gantt.html"
    page.write_text(
        '<!doctype html><html><head><meta charset="utf-8"></head><body><pre id="out">pending</pre>'
        f'<script src="{Path(MERMAID_JS).resolve().as_uri()}"></script><script>'
        "mermaid.initialize({startOnLoad: false});"
        f"mermaid.render('g', {json.dumps(render_mermaid(export))}).then("
        "r => { const names = [...new DOMParser().parseFromString(r.svg, 'image/svg+xml')"
        ".querySelectorAll('text.taskText, text.taskTextOutsideRight, text.taskTextOutsideLeft')]"
        ".map(t => t.textContent.trim()); document.getElementById('out').textContent = JSON.stringify(names); },"
        " e => { document.getElementById('out').textContent = 'ERROR ' + e; });</script></body></html>", "utf-8")
    assert CHROMIUM is not None
    with trio.fail_after(120):
        result = await trio.run_process(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--allow-file-access-from-files",
             "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
            capture_stdout=True, capture_stderr=True, check=False)
    dom = result.stdout.decode()
    out = dom[dom.index('<pre id="out">') + len('<pre id="out">'):dom.index("</pre>")]
    names = json.loads(html.unescape(out))
    assert names == ["t1", "section: #odd; %%name", "charge"]
