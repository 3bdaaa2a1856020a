"""A mesh process for chaos tests: one HotMesh (engine + the five `chaos.s<k>` workers) until killed.

Each worker callback records its side effect twice, each with its own autocommitted INSERT on a separate
`Database` (the public Worker API offers no way to commit a write with the request's ack):

- `chaos_attempts (jid, activity, pid)` — no unique key: one row per execution, so re-runs are countable;
- `chaos_effects (jid, activity, pid)` — unique key, `ON CONFLICT DO NOTHING`: the idempotent effect.

Both tables live in the app's schema and are created by the test (`side_tables_ddl`). The callback then
sleeps `WORK_SECONDS` (so a kill often lands between the effect and the ack) and replies `{step}`.

Usage: python -m tests.chaos.mesh_proc DSN APP_ID WORK_SECONDS
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import trio

from hotmesh_actors import HotMesh, Settings, Statement, StreamMessage, StreamResponse, Worker
from hotmesh_actors.store.driver import Database
from hotmesh_actors.store.queries import app_schema, quote_ident

GRAPHS = Path(__file__).resolve().parent / "graphs"
STEPS = 5
TOPICS = [f"chaos.s{k}" for k in range(1, STEPS + 1)]

CHAOS_SETTINGS = Settings(reservation_timeout_s=3, fallback_poll_s=1, fidelity_seconds=1, pool_size=6)
"""Short leases so a killed process's claims are reclaimed within seconds."""


def graph_yaml(name: str, app_id: str) -> str:
    """The inline YAML of `tests/chaos/graphs/<name>.yaml` with its placeholder app id replaced by `app_id`."""
    text = (GRAPHS / f"{name}.yaml").read_text("utf-8")
    return text[text.index("app:"):].replace("id: chaos", f"id: {app_id}", 1)


def side_tables_ddl(app_id: str) -> list[str]:
    """DDL for the two side-effect tables the callbacks write."""
    schema = quote_ident(app_schema(app_id))
    return [
        f"CREATE TABLE IF NOT EXISTS {schema}.chaos_attempts (jid TEXT NOT NULL, activity TEXT NOT NULL, "
        "pid INT NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())",
        # No unique key: the effect commits in the same transaction as the worker's reply and ack
        # (StreamResponse.statements), so a duplicate would show up here as a second row.
        f"CREATE TABLE IF NOT EXISTS {schema}.chaos_effects (jid TEXT NOT NULL, activity TEXT NOT NULL, "
        "pid INT NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())",
    ]


async def main(dsn: str, app_id: str, work_s: float) -> None:
    schema = quote_ident(app_schema(app_id))
    pid = os.getpid()
    attempt_sql = f"INSERT INTO {schema}.chaos_attempts (jid, activity, pid) VALUES ($1, $2, $3)"
    effect_sql = f"INSERT INTO {schema}.chaos_effects (jid, activity, pid) VALUES ($1, $2, $3)"
    async with Database.open(dsn, pool_size=4) as side:

        async def callback(message: StreamMessage) -> StreamResponse:
            jid, activity = message.metadata.jid, message.metadata.aid
            await side.execute(attempt_sql, jid, activity, pid)
            if work_s > 0:
                await trio.sleep(work_s)
            return StreamResponse(data={"step": message.data["step"]},
                                  statements=[Statement(effect_sql, (jid, activity, pid), "execute")])

        workers = [Worker(topic, callback) for topic in TOPICS]
        async with HotMesh.open(app_id=app_id, dsn=dsn, workers=workers, settings=CHAOS_SETTINGS):
            print("ready", flush=True)
            await trio.sleep_forever()


if __name__ == "__main__":
    try:
        trio.run(main, sys.argv[1], sys.argv[2], float(sys.argv[3]))
    except KeyboardInterrupt:
        pass
