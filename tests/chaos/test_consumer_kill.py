"""A consumer process SIGKILLed mid-batch loses nothing: another process finishes after lease expiry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from hotmesh_actors.store.driver import Database
from hotmesh_actors.store.migrations import migrate_app
from hotmesh_actors.store.queries import app_schema, quote_ident
from hotmesh_actors.store.streams import StreamKind, StreamStore
from tests.integration.stream_history import keep_history, rows_sql
from tests.integration.streamkit import outgoing

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.chaos


def _spawn(dsn: str, app_id: str, lease_s: float, handler_s: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.chaos.consumer_proc", dsn, app_id, str(lease_s), str(handler_s)],
        cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def _count(db: Database, sql: str) -> int:
    value: int = await db.fetchval(sql)
    return value


async def test_sigkilled_consumer_loses_nothing_and_effects_apply_once(db: Database, pg_dsn: str,
                                                                       app_id: str) -> None:
    await migrate_app(db, app_id)
    await keep_history(db, app_id)  # acked rows are deleted: keep them to see which were redelivered
    schema = quote_ident(app_schema(app_id))
    await db.execute(f"CREATE TABLE {schema}.attempts (guid TEXT NOT NULL, at TIMESTAMPTZ DEFAULT now())")
    await db.execute(f"CREATE TABLE {schema}.effects (guid TEXT NOT NULL)")
    store = StreamStore(db, app_id, StreamKind.WORKER)
    total = 300
    await store.publish([outgoing("chaos", f"m{i}") for i in range(total)])

    victim = _spawn(pg_dsn, app_id, lease_s=2.0, handler_s=0.1)
    try:
        with trio.fail_after(60):
            while await _count(db, f"SELECT count(*) FROM {schema}.effects") < 60:
                await trio.sleep(0.05)
        victim.send_signal(signal.SIGKILL)  # mid-batch: ~10 handlers are in flight at any instant
        victim.wait()
    finally:
        if victim.poll() is None:
            victim.kill()
    killed_with = await _count(db, f"SELECT count(*) FROM {schema}.effects")
    assert killed_with < total

    survivor = _spawn(pg_dsn, app_id, lease_s=2.0, handler_s=0.0)
    try:
        with trio.fail_after(90):
            while await store.depth("chaos") > 0:
                await trio.sleep(0.1)
    finally:
        survivor.send_signal(signal.SIGTERM)
        survivor.wait(timeout=10)

    effects = await _count(db, f"SELECT count(*) FROM {schema}.effects")
    distinct_effects = await _count(db, f"SELECT count(DISTINCT guid) FROM {schema}.effects")
    distinct_attempted = await _count(db, f"SELECT count(DISTINCT guid) FROM {schema}.attempts")
    history = rows_sql(app_id, "worker")
    redelivered = await _count(db, f"SELECT count(*) FROM {history} AS r WHERE delivery_count > 1")
    removed = await _count(db, f"SELECT count(*) FROM {history} AS r WHERE removed_at IS NOT NULL")
    removed_guids = await _count(
        db, f"SELECT count(DISTINCT message::jsonb #>> '{{metadata,guid}}') FROM {history} AS r "
            "WHERE removed_at IS NOT NULL")
    # The effect commits with the ack or not at all: no duplicate, none lost (no unique key enforces it).
    assert effects == distinct_effects == total
    assert distinct_attempted == total
    assert redelivered > 0  # the victim's leased, unacked messages were reclaimed by the survivor
    # every message was acked (its row deleted) exactly once, none parked, none left
    assert removed == removed_guids == total
    assert await _count(db, f"SELECT count(*) FROM {schema}.worker_streams") == 0
