"""The SQL behind hotmesh_actors.testing.schedule: pick the next message to deliver, lease it, and inject
faults (duplicates, timers skipped ahead) on an app's engine and worker streams. Test machinery: the
mesh itself never runs these statements (store/sql/schedule.sql holds them)."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import attrs

from hotmesh_actors.core.messages import from_wire
from hotmesh_actors.store.driver import Database
from hotmesh_actors.store.queries import bind
from hotmesh_actors.store.streams import ClaimedMessage, StreamStore, _policy_of


@attrs.frozen
class DeliveredRow:
    """The columns of a delivered stream row, to insert a copy of it later."""

    stream_name: str
    jid: str
    aid: str
    dad: str
    msg_type: str
    topic: str
    workflow_name: str
    message: str
    priority: int


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

    async def claim(self, row_id: int, consumer: str) -> tuple[ClaimedMessage, DeliveredRow] | None:
        """Lease one row to `consumer`, whatever its lease; None when it is no longer live. Also returns
        the row's columns, so the runner can put a copy back later (a duplicate)."""
        row: asyncpg.Record | None = await self.db.fetchrow(self.sql("claim_row"), row_id, consumer)
        if row is None:
            return None
        claimed = ClaimedMessage(id=row["id"], stream_name=row["stream_name"], message=from_wire(row["message"]),
                                 priority=row["priority"], retry_attempt=row["retry_attempt"],
                                 delivery_count=row["delivery_count"], redelivered=row["delivery_count"] > 1,
                                 retry_policy=_policy_of(row))
        copy = DeliveredRow(stream_name=row["stream_name"], jid=row["jid"], aid=row["aid"], dad=row["dad"],
                            msg_type=row["msg_type"], topic=row["topic"], workflow_name=row["workflow_name"],
                            message=row["message"], priority=row["priority"])
        return claimed, copy

    async def insert_copy(self, row: DeliveredRow) -> int:
        """Put a delivered message back, live (a redelivery of the same message); returns the copy's id."""
        value: int = await self.db.fetchval(self.sql("insert_copy"), row.stream_name, row.jid, row.aid, row.dad,
                                            row.msg_type, row.topic, row.workflow_name, row.message, row.priority)
        return value

    async def dead_lettered(self, above: int) -> int:
        """Rows above the watermark parked as dead letters."""
        value: int = await self.db.fetchval(self.sql("dead_lettered"), above)
        return value
