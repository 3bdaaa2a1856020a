"""Mesh processes SIGKILLed at random while 5-step jobs run: every job completes, every step's effect once.

The chaos kit (hotmesh_actors.chaos) does the run: three node processes each serve the app (engine + the
five `chaos.s<k>` workers of `sequence_workers.py`), the jobs are published over `kills × interval`
seconds while a random node is SIGKILLed every ~`HMSH_CHAOS_KILL_S` seconds and restarted, then the kit
waits for every job and for the streams to settle, and reports. On top of the kit's report (nothing lost,
no effect doubled, no node crashed, no message left unacked or dead-lettered), this test reads the streams
to check what only the engine can promise:

- each (job, activity) got exactly one worker request, acked exactly once, and the engine accepted exactly
  one reply for it — the engine commits a step's reads, writes, publishes and ack together, and a worker's
  reply commits with its ack only while it still holds the lease. An acked row is deleted, so the test
  records removed rows (tests/integration/stream_history.py) from before the run; a reply is stepped in
  the worker's own process (no engine row), so the engine's acceptance is read from each activity's
  ledger (its Leg-2 entry counter is 1), and any reply that did travel as an engine row is counted too;
- the callbacks ran at least once per step (re-runs after kills are expected), while the effect — the
  kit's row committed in the reply's transaction, in a table with NO unique key — is there exactly once.

Knobs (environment): HMSH_CHAOS_JOBS (300), HMSH_CHAOS_KILLS (10), HMSH_CHAOS_KILL_S (2.0),
HMSH_CHAOS_PROCS (3), HMSH_CHAOS_DEADLINE_S (240), HMSH_CHAOS_WORK_S (callback work before its reply,
0.02), HMSH_CHAOS_SEED (random).
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import pytest

from hotmesh_actors.chaos import ChaosPlan, run_chaos
from hotmesh_actors.core.ledger import LEG2_ENTRY, LEG2_MASK
from hotmesh_actors.store.driver import Database
from hotmesh_actors.store.migrations import migrate_app
from hotmesh_actors.store.queries import app_schema, quote_ident
from tests.integration.stream_history import keep_history, rows_sql

HERE = Path(__file__).resolve().parent
STEPS = 5

pytestmark = pytest.mark.chaos

log = logging.getLogger("hotmesh_actors.tests.chaos")


def _env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def chaos_graph(name: str, app_id: str, directory: Path) -> str:
    """`tests/chaos/graphs/<name>.yaml` written to `directory` with its placeholder app id set to `app_id`."""
    text = (HERE / "graphs" / f"{name}.yaml").read_text("utf-8")
    text = text[text.index("app:"):].replace("id: chaos", f"id: {app_id}", 1)
    path = directory / f"{name}.yaml"
    path.write_text(text, "utf-8")
    return str(path)


async def _value(db: Database, sql: str) -> int:
    value: int = await db.fetchval(sql)
    return value


async def test_sigkilled_mesh_processes_complete_every_job_with_each_effect_once(
    db: Database, pg_dsn: str, app_id: str, tmp_path: Path
) -> None:
    total = int(_env("HMSH_CHAOS_JOBS", 300))
    plan = ChaosPlan(graph=chaos_graph("sequence5", app_id, tmp_path),
                     workers=f"{HERE / 'sequence_workers.py'}:WORKERS", app_id=app_id, data={"n": 1}, jobs=total,
                     kills=int(_env("HMSH_CHAOS_KILLS", 10)), processes=int(_env("HMSH_CHAOS_PROCS", 3)),
                     kill_interval_s=_env("HMSH_CHAOS_KILL_S", 2.0), deadline_s=_env("HMSH_CHAOS_DEADLINE_S", 240.0),
                     seed=int(_env("HMSH_CHAOS_SEED", random.randrange(1 << 30))), dsn=pg_dsn,
                     log_dir=str(tmp_path / "logs"))
    # An acked row is deleted: record the removed rows from the start (the app's schema made first, as the
    # run's own mesh would), so every request and response of the run can be counted afterwards.
    await migrate_app(db, app_id)
    await keep_history(db, app_id)
    report = await run_chaos(plan)

    steps = total * STEPS
    worker_rows, engine_rows = rows_sql(app_id, "worker"), rows_sql(app_id, "engine")
    requests = await _value(db, f"SELECT count(*) FROM {worker_rows} AS r")
    request_pairs = await _value(db, f"SELECT count(DISTINCT (jid, aid)) FROM {worker_rows} AS r")
    acked = f"{worker_rows} AS r WHERE removed_at IS NOT NULL AND dead_lettered_at IS NULL"
    acked_requests = await _value(db, f"SELECT count(*) FROM {acked}")
    acked_pairs = await _value(db, f"SELECT count(DISTINCT (jid, aid)) FROM {acked}")
    # replies that travelled to an engine in another process (a node's own replies are stepped in place)
    responses = await _value(db, f"SELECT count(*) FROM {engine_rows} AS r WHERE msg_type = 'response'")
    response_pairs = await _value(
        db, f"SELECT count(DISTINCT (jid, aid)) FROM {engine_rows} AS r WHERE msg_type = 'response'")
    # the engine's own record: each worker activity's ledger, whose Leg-2 entry counter counts the replies
    # it accepted (positions 8-15)
    ledgers = (f"{quote_ident(app_schema(app_id))}.jobs AS j, jsonb_each(j.state) AS a "
               f"WHERE a.key ~ '^s[1-{STEPS}],'")
    worker_activities = await _value(db, f"SELECT count(*) FROM {ledgers}")
    accepted_once = await _value(
        db, f"SELECT count(*) FROM {ledgers} "
            f"AND ((a.value #>> '{{output,metadata,as}}')::bigint % {LEG2_MASK}) = {LEG2_ENTRY}")
    redelivered = await _value(db, f"SELECT count(*) FROM {worker_rows} AS r WHERE delivery_count > 1")
    summary = (f"jobs {report.jobs_completed}/{total}, kills {report.kills}, nodes started {report.nodes_started}, "
               f"seed {report.seed}, {report.seconds} s; callbacks run {report.callback_runs} times for {steps} "
               f"steps ({report.callback_reruns} re-runs); worker requests redelivered {redelivered}; "
               f"logs in {report.log_dir}")
    print(summary)  # shown with -s / -rP: the figures of this run
    log.info(summary)

    assert not report.crashed, f"nodes exited on their own: {report.crashed} ({summary})"
    assert report.kills >= 3, f"too few kills to mean anything ({summary})"
    assert report.jobs_lost == 0 and report.jobs_completed == total, f"lost {report.lost_job_ids} ({summary})"
    assert report.jobs_failed == 0, summary
    assert report.dead_lettered == 0, f"{report.dead_lettered} messages dead-lettered ({summary})"
    assert report.unsettled_messages == 0, f"{report.unsettled_messages} stream rows left unacked ({summary})"
    # the engine dispatched each step once, each request was acked once (not parked), and the engine
    # accepted one reply for it
    assert requests == request_pairs == steps, f"worker requests {requests} for {request_pairs} pairs ({summary})"
    assert acked_requests == acked_pairs == steps, (
        f"worker requests acked {acked_requests} for {acked_pairs} pairs ({summary})")
    assert responses == response_pairs <= steps, f"responses {responses} for {response_pairs} pairs ({summary})"
    assert worker_activities == accepted_once == steps, (
        f"{accepted_once} of {worker_activities} worker activities accepted exactly one reply ({summary})")
    # every step ran its callback at least once, and its effect (no unique key) landed exactly once
    assert report.callback_runs >= steps and report.callback_runs - report.callback_reruns == steps, summary
    assert report.effects_doubled == 0, f"doubled: {report.doubled_examples} ({summary})"
    assert report.effects == report.effect_steps == steps, summary
    assert report.ok
