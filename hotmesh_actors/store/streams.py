"""Stream operations on `engine_streams` / `worker_streams`: publish, claim, heartbeat, ack, retry, reap.

Every operation is available as a :class:`~hotmesh_actors.store.driver.Statement` so callers can bundle
it into their own transaction (a worker's ack travels with its reply), and as a convenience coroutine that
runs it alone. An acked row is deleted; a dead-lettered one is kept, expired, with its payload. A delayed row
(a timer, a retry's backoff) and a leased one are invisible to the claim's ready-row index, so sleeping
work costs a claim nothing; :meth:`StreamStore.reap` hands stale leases back.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg
import attrs
import cattrs

from hotmesh_actors.core.durations import RetryPolicy
from hotmesh_actors.core.messages import StreamMessage, from_wire, to_wire
from hotmesh_actors.store.driver import Database, Statement
from hotmesh_actors.store.queries import app_schema, bind, quote_ident

log = logging.getLogger("hotmesh_actors.store.streams")


class StreamKind(enum.StrEnum):
    """Which stream table: the engine's (stream name = app id) or the workers' (stream name = topic)."""

    ENGINE = "engine"
    WORKER = "worker"

    @property
    def table(self) -> str:
        return f"{self.value}_streams"

    def channel(self, stream_name: str) -> str:
        """The LISTEN channel the insert trigger notifies for a stream."""
        prefix = "eng_" if self is StreamKind.ENGINE else "wrk_"
        return (prefix + stream_name)[:63]


@attrs.frozen(kw_only=True)
class Outgoing:
    """A message to publish, with where it goes and how it is delivered."""

    stream_name: str
    message: StreamMessage
    kind: StreamKind = StreamKind.ENGINE
    """Which stream table (a step's worker requests go to the worker streams)."""
    delay_s: float = 0.0
    retry_policy: RetryPolicy | None = None
    retry_attempt: int = 0
    order_key: str | None = None
    """Stored in the `topic` column of webhook rows: signals with one key are claimed strictly in order."""
    reserved_by: str | None = None
    """Lease the row at insert to this consumer (a consumer in the publishing process takes it from memory)."""
    wire: str | None = None
    """The message's wire form, when the caller already has it."""


@attrs.frozen(kw_only=True)
class ClaimedMessage:
    """A leased stream row: the message plus the facts the consumer needs to ack, retry or park it."""

    id: int
    stream_name: str
    message: StreamMessage
    priority: int
    retry_attempt: int
    delivery_count: int
    redelivered: bool
    retry_policy: RetryPolicy


def _policy_of(row: asyncpg.Record) -> RetryPolicy:
    return RetryPolicy(
        maximum_attempts=max(1, row["max_retry_attempts"]),
        backoff_coefficient=row["backoff_coefficient"],
        maximum_interval=row["maximum_interval_seconds"],
        initial_interval=row["initial_interval_seconds"],
    )


class StreamStore:
    """The SQL of one stream table of one app, as statements and as one-shot coroutines."""

    def __init__(self, db: Database, app_id: str, kind: StreamKind) -> None:
        self.db = db
        self.kind = kind
        self.app_id = app_id
        self.table = f"{quote_ident(app_schema(app_id))}.{kind.table}"

    def _sql(self, name: str) -> str:
        return bind("streams", name, table=self.table)

    # -- statements (to bundle into a caller's transaction) --------------------------------------

    def publish_statement(self, outgoing: Sequence[Outgoing]) -> Statement:
        """One multi-row INSERT for all messages; returns their ids when run."""
        default = RetryPolicy()
        columns: list[list[Any]] = [[] for _ in range(16)]
        for item in outgoing:
            meta = item.message.metadata
            policy = item.retry_policy or default
            values = (
                item.stream_name, meta.jid, meta.aid, meta.dad, item.message.type.value, item.order_key or meta.topic,
                meta.wfn, item.wire or to_wire(item.message), item.message.priority, float(item.delay_s),
                policy.maximum_attempts, policy.backoff_coefficient, int(policy.maximum_interval),
                policy.initial_interval, item.retry_attempt, item.reserved_by,
            )
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        return Statement(self._sql("publish"), tuple(columns), "fetch")

    def ack_and_publish_statement(self, claimed: ClaimedMessage, consumer: str, target: StreamStore,
                                  reply: Outgoing) -> Statement:
        """Ack `claimed` and publish `reply` into `target` in ONE statement, only while the lease is held."""
        meta = reply.message.metadata
        sql = bind("streams", "ack_and_publish", table=self.table, target=target.table)
        return Statement(
            sql,
            (claimed.stream_name, claimed.id, consumer, reply.stream_name, meta.jid, meta.aid, meta.dad,
             reply.message.type.value, meta.topic, meta.wfn, reply.wire or to_wire(reply.message),
             reply.message.priority),
            "fetch", require_rows=True, acks=True,
        )

    def ack_statement(self, stream_name: str, ids: Sequence[int], consumer: str) -> Statement:
        """Soft-delete rows this consumer holds; returns the ids actually acked."""
        return Statement(self._sql("ack"), (stream_name, list(ids), consumer), "fetch", require_rows=True)

    def retry_statement(
        self, claimed: ClaimedMessage, consumer: str, message: StreamMessage, delay_s: float,
        policy: RetryPolicy | None = None,
    ) -> Statement:
        """Ack `claimed` and re-publish `message` as a new row visible after `delay_s`, recording `policy`."""
        policy = policy or claimed.retry_policy
        return Statement(
            self._sql("retry"),
            (claimed.stream_name, claimed.id, consumer, to_wire(message), delay_s, policy.maximum_attempts,
             policy.backoff_coefficient, int(policy.maximum_interval), policy.initial_interval),
            "fetch",
            require_rows=True,
        )

    def dead_letter_statement(self, stream_name: str, ids: Sequence[int]) -> Statement:
        """Park rows for good, keeping their payload."""
        return Statement(self._sql("dead_letter"), (stream_name, list(ids)), "fetch")

    # -- one-shot operations ----------------------------------------------------------------------

    async def publish(self, outgoing: Sequence[Outgoing]) -> list[int]:
        """Publish messages in one statement; returns the new row ids."""
        if not outgoing:
            return []
        rows: list[asyncpg.Record] = await self.db.run(self.publish_statement(outgoing))
        return [row["id"] for row in rows]

    async def claim(self, stream_name: str, consumer: str, *, batch_size: int) -> list[ClaimedMessage]:
        """Lease up to `batch_size` claimable messages, ordered by priority then id.

        A row whose message cannot be read is dead-lettered at once (logged), not returned.
        """
        rows: list[asyncpg.Record] = await self.db.fetch(self._sql("claim_batch"), stream_name, batch_size, consumer)
        claimed: list[ClaimedMessage] = []
        unreadable: list[int] = []
        for row in rows:
            try:
                message = from_wire(row["message"])
            except (ValueError, TypeError, KeyError, cattrs.BaseValidationError) as err:
                log.error("unreadable %s message %s dead-lettered: %s", self.kind.value, row["id"], err,
                          extra={"topic": stream_name, "message_id": row["id"]})
                unreadable.append(row["id"])
                continue
            claimed.append(ClaimedMessage(
                id=row["id"], stream_name=row["stream_name"], message=message, priority=row["priority"],
                retry_attempt=row["retry_attempt"], delivery_count=row["delivery_count"],
                redelivered=row["delivery_count"] > 1, retry_policy=_policy_of(row)))
        if unreadable:
            await self.dead_letter(stream_name, unreadable)
        claimed.sort(key=lambda item: (-item.priority, item.id))
        return claimed

    def _wake_payload(self, stream_name: str) -> str:
        return json.dumps({"stream_name": stream_name, "table_type": self.kind.value})

    async def reap(self, stream_name: str, lease_s: float) -> int:
        """Hand back leases not renewed for `lease_s` seconds (their consumer died), waking the stream's
        consumers; returns how many."""
        freed: int = await self.db.fetchval(self._sql("reap"), stream_name, float(lease_s),
                                            self.kind.channel(stream_name), self._wake_payload(stream_name))
        return freed

    async def release(self, stream_name: str, ids: Sequence[int], consumer: str) -> int:
        """Hand back rows this consumer holds but will not handle (it is stopping), waking the others."""
        freed: int = await self.db.fetchval(self._sql("release"), stream_name, list(ids), consumer,
                                            self.kind.channel(stream_name), self._wake_payload(stream_name))
        return freed

    async def next_wake(self, stream_name: str, lease_s: float) -> float | None:
        """Seconds until this stream next has claimable work, or None when nothing is pending."""
        value = await self.db.fetchval(self._sql("next_wake"), stream_name, float(lease_s))
        return None if value is None else max(0.0, float(value))

    async def heartbeat(self, stream_name: str, ids: Sequence[int], consumer: str) -> set[int]:
        """Renew leases; returns the ids whose lease this consumer still holds."""
        rows = await self.db.fetch(self._sql("heartbeat"), stream_name, list(ids), consumer)
        return {row["id"] for row in rows}

    async def ack(self, stream_name: str, ids: Sequence[int], consumer: str) -> set[int]:
        """Acknowledge rows; returns the ids acked (a lost lease acks nothing)."""
        statement = attrs.evolve(self.ack_statement(stream_name, ids, consumer), require_rows=False)
        rows: list[asyncpg.Record] = await self.db.run(statement)
        return {row["id"] for row in rows}

    async def dead_letter(self, stream_name: str, ids: Sequence[int]) -> set[int]:
        """Dead-letter rows; returns the ids parked."""
        rows: list[asyncpg.Record] = await self.db.run(self.dead_letter_statement(stream_name, ids))
        return {row["id"] for row in rows}

    async def depth(self, stream_name: str) -> int:
        """Number of live (unacked) rows of a stream."""
        value: int = await self.db.fetchval(self._sql("depth"), stream_name)
        return value
