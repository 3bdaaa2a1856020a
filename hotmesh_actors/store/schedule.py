"""The SQL behind hotmesh_actors.testing.schedule: pick the next message to deliver, lock or lease it, and
inject faults (duplicates, timers skipped ahead) on an app's engine and worker streams. Test machinery: the
mesh itself never runs these statements (store/sql/schedule.sql holds them)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from hotmesh_actors.core.messages import from_wire
from hotmesh_actors.store.driver import Database
from hotmesh_actors.store.queries import bind
from hotmesh_actors.store.streams import ClaimedMessage, StreamKind, StreamStore, _policy_of


class ScheduleStreams:
    """One stream table (engine or worker) of one app, as a schedule runner sees it."""

    def __init__(self, db: Database, store: StreamStore) -> None:
        self.db = db
        self.kind = store.kind
        self.table = store.table

    def sql(self, name: str) -> str:
        """A statement of store/sql/schedule.sql for this table."""
        return bind("schedule", name, table=self.table)

    async def watermark(self) -> int:
        """The table's highest id now: a run only looks at rows above it."""
        value: int = await self.db.fetchval(self.sql("watermark"))
        return value

    async def deliverable(self, above: int) -> list[int]:
        """Ids of the rows a consumer could claim now, oldest first (signals of one key in order)."""
        return [row["id"] for row in await self.db.fetch(self.sql("deliverable"), above)]

    async def next_delayed(self, above: int) -> tuple[int, datetime] | None:
        """The delayed row due soonest and when, or None."""
        row = await self.db.fetchrow(self.sql("next_delayed"), above)
        return None if row is None else (row["id"], row["visible_at"])

    async def make_visible(self, row_id: int) -> None:
        """Make a delayed row due now (the test skips time ahead)."""
        await self.db.execute(self.sql("make_visible"), row_id)

    async def claim(self, row_id: int, consumer: str) -> ClaimedMessage | None:
        """Lease one worker row to `consumer`, whatever its lease; None when it is no longer live."""
        assert self.kind is StreamKind.WORKER
        row: asyncpg.Record | None = await self.db.fetchrow(self.sql("claim_worker_row"), row_id, consumer)
        if row is None:
            return None
        return ClaimedMessage(id=row["id"], stream_name=row["stream_name"], message=from_wire(row["message"]),
                              priority=row["priority"], retry_attempt=row["retry_attempt"],
                              delivery_count=row["delivery_count"], redelivered=row["redelivered"],
                              retry_policy=_policy_of(row))

    async def processed(self, above: int) -> list[int]:
        """Engine rows already stepped (not dead letters, not `await`), oldest first."""
        assert self.kind is StreamKind.ENGINE
        return [row["id"] for row in await self.db.fetch(self.sql("processed_engine_rows"), above)]

    async def duplicate(self, row_id: int) -> int:
        """Insert a live copy of an engine row; returns the copy's id."""
        assert self.kind is StreamKind.ENGINE
        value: int = await self.db.fetchval(self.sql("duplicate_engine_row"), row_id)
        return value

    async def dead_lettered(self, above: int) -> int:
        """Rows above the watermark parked as dead letters."""
        value: int = await self.db.fetchval(self.sql("dead_lettered"), above)
        return value
