"""Job state in Postgres: lock and load jobs, and write one step's changes and effects.

These helpers run on the driver's asyncio side with a connection inside an open transaction (see
`Database.with_connection`), because an engine step reads, decides and writes in ONE transaction: the
claimed messages, the job rows (locked in key order), the attribute rows, the published children, the
notifications and the acks commit together or not at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import asyncpg
import attrs

from hotmesh_actors.clock import new_guid
from hotmesh_actors.core.activities.effects import (
    DeleteSignal,
    DisarmTimer,
    Effect,
    Notify,
    OpenEscalation,
    Publish,
    PurgeJob,
    RegisterSignal,
    SettleEscalation,
    SignalAll,
    StreamTarget,
)
from hotmesh_actors.core.jobstate import JobState
from hotmesh_actors.core.messages import StreamMessage, from_wire, to_wire
from hotmesh_actors.errors import DuplicateJobError
from hotmesh_actors.store.driver import Connection, Database
from hotmesh_actors.store.driver import run_statement as run
from hotmesh_actors.store.escalations import apply_escalation_effect
from hotmesh_actors.store.queries import app_schema, bind, quote_ident
from hotmesh_actors.store.streams import Outgoing, StreamKind, StreamStore

PENDING = "$pending::"


class JobStore:
    """The SQL of one app's jobs, attributes and signal registry."""

    def __init__(self, db: Database, app_id: str) -> None:
        self.db = db
        self.app_id = app_id
        self.schema = quote_ident(app_schema(app_id))
        self.engine_streams = StreamStore(db, app_id, StreamKind.ENGINE)
        self.worker_streams = StreamStore(db, app_id, StreamKind.WORKER)

    def sql(self, name: str) -> str:
        return bind("jobs", name, schema=self.schema, engine=self.engine_streams.table)

    # -- reading (asyncio side, inside a transaction) -------------------------------------------------

    async def lock_and_load(self, conn: Connection, keys: Iterable[str]) -> dict[str, JobState]:
        """Lock the live rows of these jobs (key order), then load their state (see `lock_jobs` for why two)."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        jobs: dict[str, JobState] = {}
        by_id: dict[str, JobState] = {}
        for row in await conn.fetch(self.sql("lock_jobs"), wanted):
            job = JobState(key=row["key"], jid=row["key"].split(":", 3)[3], status=row["status"], row_id=row["id"],
                           entity=row["entity"], origin_id=row["origin_id"], parent_id=row["parent_id"])
            jobs[job.key] = job
            by_id[row["id"]] = job
        if by_id:
            grouped: dict[str, list[tuple[str, str, str | None]]] = defaultdict(list)
            for row in await conn.fetch(self.sql("load_attributes"), list(by_id)):
                grouped[row["job_id"]].append((row["field"], row["dimension"], row["value"]))
            for row_id, job in by_id.items():
                job.load_rows(grouped.get(row_id, ()))
                job.gid = str(job.metadata.get("gid", ""))
        return jobs

    async def load(self, key: str) -> JobState | None:
        """Read a job (newest row for its key, live or not) without locking: for status/state/export."""

        async def work(conn: Connection) -> JobState | None:
            row = await conn.fetchrow(self.sql("find_job"), key)
            if row is None:
                return None
            job = JobState(key=row["key"], jid=row["key"].split(":", 3)[3], status=row["status"], row_id=row["id"],
                           entity=row["entity"], origin_id=row["origin_id"], parent_id=row["parent_id"])
            attributes = await conn.fetch(self.sql("load_attributes"), [row["id"]])
            job.load_rows((r["field"], r["dimension"], r["value"]) for r in attributes)
            job.gid = str(job.metadata.get("gid", ""))
            return job

        return await self.db.with_connection(work)

    # -- writing (asyncio side, inside a transaction) -------------------------------------------------

    async def insert_job(self, conn: Connection, job: JobState) -> None:
        """INSERT a new job row; DuplicateJobError when a live job has the same key."""
        import uuid

        job.row_id = job.row_id or str(uuid.uuid4())
        try:
            await conn.execute(self.sql("insert_job"), job.row_id, job.key, job.entity, job.origin_id,
                               job.parent_id, job.status, job.expire_s)
        except asyncpg.UniqueViolationError as err:
            raise DuplicateJobError(f"Duplicate job: {job.jid}", job_id=job.jid) from err
        if job.index_entries:
            await conn.execute(self.sql("index_insert"), [key for key, _ in job.index_entries],
                               [facet for _, facet in job.index_entries], job.row_id, job.jid)
            job.index_entries = []
        job.status_delta = 0
        job.expire_s = None

    async def write_state(self, conn: Connection, jobs: Sequence[JobState]) -> None:
        """Upsert every changed attribute row and apply each job's semaphore delta and expiry."""
        columns: list[list[str | None]] = [[], [], [], [], []]
        updates: list[list[object]] = [[], [], []]
        for job in jobs:
            for field, dimension, value, kind in job.dirty_rows():
                if value is None:
                    continue
                for column, item in zip(columns, (job.row_id, field, dimension, value, kind), strict=True):
                    column.append(item)
            if job.status_delta or job.expire_s is not None:
                updates[0].append(job.row_id)
                updates[1].append(job.status_delta)
                updates[2].append(job.expire_s)
            job.dirty.clear()
            job.status_delta = 0
            job.expire_s = None
        if columns[0] or updates[0]:
            await conn.execute(self.sql("write_state"), *columns, *updates)

    async def apply_effects(self, conn: Connection, effects: Sequence[Effect], *, pending_ttl_s: float = 600) -> None:
        """Carry out a step's effects in the open transaction, batched per kind."""
        engine: list[Outgoing] = []
        worker: list[Outgoing] = []
        channels: list[str] = []
        payloads: list[str] = []
        for effect in effects:
            if isinstance(effect, Publish):
                item = Outgoing(stream_name=effect.stream_name, message=effect.message, delay_s=effect.delay_s,
                                retry_policy=effect.retry_policy, order_key=effect.order_key)
                (engine if effect.target is StreamTarget.ENGINE else worker).append(item)
            elif isinstance(effect, Notify):
                channels.append(effect.channel)
                payloads.append(effect.payload)
            elif isinstance(effect, RegisterSignal):
                replay = await self._register_signal(conn, effect)
                if replay is not None:
                    engine.append(Outgoing(stream_name=self.app_id, message=replay, order_key=effect.key))
            elif isinstance(effect, DeleteSignal):
                await conn.execute(self.sql("signal_delete"), effect.key)
            elif isinstance(effect, DisarmTimer):
                await conn.execute(self.sql("disarm_timer"), self.app_id, effect.jid, effect.aid, effect.dad)
            elif isinstance(effect, SignalAll):
                engine.extend(await self._signal_all(conn, effect))
            elif isinstance(effect, PurgeJob):
                await run(conn, self.engine_streams.purge_job_statement(effect.jid))
                await run(conn, self.worker_streams.purge_job_statement(effect.jid))
                await conn.execute(self.sql("cancel_escalations"), self.app_id, effect.jid)
            elif isinstance(effect, OpenEscalation | SettleEscalation):
                await apply_escalation_effect(conn, effect)
        if engine:
            await run(conn, self.engine_streams.publish_statement(engine))
        if worker:
            await run(conn, self.worker_streams.publish_statement(worker))
        if channels:
            await conn.execute(self.sql("notify"), channels, payloads)

    async def _signal_all(self, conn: Connection, effect: SignalAll) -> list[Outgoing]:
        """One webhook per running job filed under the effect's facet (each routed through the registry)."""
        rows = await conn.fetch(self.sql("index_lookup"), effect.stats_key, effect.facet)
        if effect.scrub:
            await conn.execute(self.sql("index_scrub"), effect.stats_key, effect.facet)
        template = effect.message
        return [Outgoing(stream_name=self.app_id, message=attrs.evolve(
                    template, metadata=attrs.evolve(template.metadata, guid=new_guid()),
                    data={**template.data, "id": row["jid"]}))
                for row in rows]

    async def _register_signal(self, conn: Connection, effect: RegisterSignal) -> StreamMessage | None:
        """Register a hook's key; if a signal is already waiting there, return it to re-publish (SPEC §2.8)."""
        inserted = await conn.fetchval(self.sql("signal_insert"), effect.key, effect.target, effect.expire_s)
        if inserted is not None:
            return None
        value = await conn.fetchval(self.sql("signal_lock"), effect.key)
        await conn.execute(self.sql("signal_set"), effect.key, effect.target, effect.expire_s)
        if isinstance(value, str) and value.startswith(PENDING):
            return from_wire(value[len(PENDING):])
        return None

    async def route_signal(self, conn: Connection, key: str, message: StreamMessage,
                           pending_ttl_s: float) -> str | None:
        """Where a signal goes (`aid::dad::gid::jid`), or None when it was stored as pending."""
        pending = PENDING + to_wire(message)
        inserted = await conn.fetchval(self.sql("signal_insert"), key, pending, pending_ttl_s)
        if inserted is not None:
            return None
        value = await conn.fetchval(self.sql("signal_lock"), key)
        if not isinstance(value, str):
            return None
        if value.startswith(PENDING):
            await conn.execute(self.sql("signal_set"), key, pending, pending_ttl_s)
            return None
        return value


def pending_ttl(message: StreamMessage, default_s: float) -> float:
    """A pending signal's time to live: the payload's `$expire` (seconds or duration) or the default."""
    from hotmesh_actors.core.durations import parse_duration

    raw = message.data.get("$expire")
    if raw is None:
        return default_s
    try:
        return parse_duration(raw)
    except ValueError:
        return default_s


__all__ = ["PENDING", "JobStore", "pending_ttl", "run"]
