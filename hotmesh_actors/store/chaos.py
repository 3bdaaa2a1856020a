"""The chaos kit's SQL: its effect log (one row per callback call and per committed effect) and the counts
its report reads. The statements live in `store/sql/chaos.sql`; hotmesh_actors.chaos says what they mean.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Final

import attrs

from hotmesh_actors.core.messages import StreamMessage
from hotmesh_actors.store.driver import Database, Statement
from hotmesh_actors.store.queries import app_schema, bind, quote_ident

CALL: Final = "call"
"""A worker callback started (written on its own, before the callback: re-runs are countable)."""
EFFECT: Final = "effect"
"""A step's effect: written in the worker reply's transaction, or by the worker itself."""


@attrs.frozen(kw_only=True)
class EffectCounts:
    """What the effect log of one run holds."""

    effects: int
    effect_steps: int
    """Distinct (job, activity, dimension) with at least one effect."""
    calls: int
    call_steps: int


@attrs.frozen(kw_only=True)
class DoubledStep:
    """A step whose effect was committed more than once."""

    job_id: str
    activity_id: str
    dimension: str
    times: int


class EffectLog:
    """The `hmsh_chaos_log` table of one app, seen by one chaos run (`run_id`)."""

    def __init__(self, app_id: str, run_id: str) -> None:
        self.app_id = app_id
        self.run_id = run_id
        self._schema = quote_ident(app_schema(app_id))

    def _sql(self, name: str) -> str:
        return bind("chaos", name, schema=self._schema)

    async def create(self, db: Database) -> None:
        """Create the table and its index if they do not exist (idempotent; the app's schema must exist)."""
        await db.execute(self._sql("create_effect_log"))
        await db.execute(self._sql("create_effect_log_index"))

    def record_statement(self, kind: str, message: StreamMessage) -> Statement:
        """The INSERT of one `call` or `effect` row for the step `message` asks for (its jid, aid, dad)."""
        meta = message.metadata
        return Statement(self._sql("record"), (self.run_id, kind, meta.jid, meta.aid, meta.dad, os.getpid()),
                         "execute")

    async def counts(self, db: Database) -> EffectCounts:
        """Rows and distinct steps of this run, per kind."""
        row = await db.fetchrow(self._sql("summary"), self.run_id)
        assert row is not None  # an aggregate always returns its row
        return EffectCounts(effects=row["effects"], effect_steps=row["effect_steps"], calls=row["calls"],
                            call_steps=row["call_steps"])

    async def doubled(self, db: Database, *, limit: int = 20) -> tuple[int, list[DoubledStep]]:
        """How many steps of this run have more than one effect, and the first `limit` of them."""
        rows = await db.fetch(self._sql("doubled"), self.run_id, limit)
        steps = [DoubledStep(job_id=row["job_id"], activity_id=row["activity_id"], dimension=row["dimension"],
                             times=row["times"]) for row in rows]
        return (rows[0]["total"] if rows else 0), steps

    async def stream_health(self, db: Database, since: datetime) -> tuple[int, int]:
        """(stream rows of the app not yet acked, rows dead-lettered among those created since `since`)."""
        row = await db.fetchrow(self._sql("stream_health"), since)
        assert row is not None
        return row["live"], row["dead_lettered"]
