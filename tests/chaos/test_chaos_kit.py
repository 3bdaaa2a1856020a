"""`hotmesh chaos`, the chaos kit a user runs on their own graph and workers, run as a user would.

- On the README's order graph with the README's workers (examples/order_yaml.py), with kills, it reports
  nothing lost and nothing doubled, and exits 0.
- With a worker that commits its effect on its own and then works before replying
  (tests/chaos/order_workers.py), kills land between effect and reply: the kit reports the doubled
  effects it saw, all on that worker's activity, and exits 1. The kit can fail.

The figures of each run are printed (`pytest -s`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.integration.conformance_kit import ROOT, graph_yaml

pytestmark = pytest.mark.chaos

ORDER = {"itemId": "item-123", "requestedQty": 5}


async def _chaos(pg_dsn: str, app_id: str, tmp_path: Path, workers: str, *options: str) -> tuple[int, dict[str, Any]]:
    graph = tmp_path / "order.yaml"
    graph.write_text(graph_yaml("order.yaml", app_id), "utf-8")
    result = await trio.run_process(
        [sys.executable, "-m", "hotmesh_actors", "chaos", "--graph", str(graph), "--workers", workers,
         "--app", app_id, "--dsn", pg_dsn, "--data", json.dumps(ORDER), "--log-dir", str(tmp_path / "logs"),
         "--json", *options],
        capture_stdout=True, capture_stderr=True, check=False, cwd=ROOT)
    assert result.stdout, result.stderr.decode()
    report: dict[str, Any] = json.loads(result.stdout)
    print({key: report[key] for key in ("jobs_started", "jobs_completed", "jobs_lost", "kills", "seconds",
                                        "effects", "effect_steps", "effects_doubled", "callback_reruns", "seed")})
    return result.returncode, report


async def test_chaos_on_the_readme_order_graph_loses_nothing_doubles_nothing_and_exits_0(
    pg_dsn: str, app_id: str, tmp_path: Path
) -> None:
    jobs = 60
    status, report = await _chaos(pg_dsn, app_id, tmp_path, "examples/order_yaml.py:WORKERS",
                                  "--jobs", str(jobs), "--kills", "3", "--processes", "2", "--seed", "11")
    assert status == 0, report
    assert report["ok"] is True
    assert (report["jobs_started"], report["jobs_completed"], report["jobs_lost"]) == (jobs, jobs, 0)
    assert report["kills"] == 3 and report["nodes_started"] == 2 + 3 and report["crashed"] == []
    # each order is two worker steps (check, then reserve): one effect each, with the reply
    assert report["effects"] == report["effect_steps"] == 2 * jobs
    assert report["effects_doubled"] == 0 and report["doubled_examples"] == []
    assert report["unsettled_messages"] == 0 and report["dead_lettered"] == 0


async def test_chaos_reports_the_doubled_effects_of_a_worker_that_commits_its_effect_before_its_reply(
    pg_dsn: str, app_id: str, tmp_path: Path
) -> None:
    jobs = 30
    workers = str(ROOT / "tests" / "chaos" / "order_workers.py") + ":EFFECT_BEFORE_REPLY"
    status, report = await _chaos(pg_dsn, app_id, tmp_path, workers, "--jobs", str(jobs), "--kills", "4",
                                  "--interval", "1", "--processes", "2", "--seed", "5")
    assert status == 1, report
    assert report["ok"] is False
    assert report["jobs_lost"] == 0  # the engine still completes every job: the worker's effect is what doubles
    assert report["effects_doubled"] > 0
    assert report["effects"] > report["effect_steps"] == 2 * jobs
    assert {step["activity_id"] for step in report["doubled_examples"]} == {"checkInventory"}
    assert all(step["times"] >= 2 for step in report["doubled_examples"])
