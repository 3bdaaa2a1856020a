"""The step's transaction script: a decided step becomes one statement, and many steps one commit.

A *step write* (:class:`StepWrite`) is what one decided step changes: one job (a patch of its state document
under a revision check, or a new job), the stream rows it consumed (acked only while their lease is held),
the messages it publishes and the NOTIFYs it sends. :meth:`StepScript.write` commits any number of them in
ONE statement (`write_steps` in store/sql/steps.sql), each all or nothing: an item whose job changed since
it was read, whose lease was lost, or whose new job already exists writes nothing and says why, while the
others commit. That is the engine's group commit: steps decided while the previous statement was in flight
ride the next one together.

A write that must carry other statements in the same transaction (a worker's own `StreamResponse.statements`;
the signal registry, timers or purges a step's effects touch) runs alone, in a transaction:
`before` statements, the item, then `after` statements — rolled back entirely if the item fails.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import attrs

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
from hotmesh_actors.core.durations import RetryPolicy
from hotmesh_actors.core.jobstate import JobState
from hotmesh_actors.core.messages import to_wire
from hotmesh_actors.store.driver import Connection, Database, Statement, run_statement
from hotmesh_actors.store.escalations import escalation_statement
from hotmesh_actors.store.jobs import JobStore, job_from_row
from hotmesh_actors.store.queries import app_schema, bind, quote_ident
from hotmesh_actors.store.streams import Outgoing, StreamKind

_DEFAULT_POLICY = RetryPolicy()


@attrs.frozen
class Ack:
    """A consumed stream row: deleted (or, `dead`, parked as dead-lettered) if `owner` still leases it."""

    kind: StreamKind
    id: int
    owner: str
    dead: bool = False


@attrs.frozen
class JobUpdate:
    """Patch an existing job, if its row is still at revision `rev`."""

    key: str
    rev: int
    delta: int
    patch: str
    """JSON object of the changed top-level document keys."""
    finish: bool = False
    """Set `expired_at` from `expire_s` (the job finished)."""
    expire_s: float = 0.0


@attrs.frozen
class JobInsert:
    """Create a job, if no row has its key."""

    key: str
    status: int
    state: str
    """The whole state document, JSON."""
    entity: str | None = None
    origin_id: str | None = None
    parent_id: str | None = None
    expire_s: float | None = None
    index_entries: Sequence[tuple[str, str]] = ()
    """(stats key, facet) rows filing the new job under its trigger's index measures."""


@attrs.define
class StepWrite:
    """One item of a group commit; see the module docstring."""

    update: JobUpdate | None = None
    insert: JobInsert | None = None
    acks: list[Ack] = attrs.field(factory=list)
    publishes: list[Outgoing] = attrs.field(factory=list)
    notifies: list[tuple[str, str]] = attrs.field(factory=list)
    before: list[Statement] = attrs.field(factory=list)
    """Statements committed in the same transaction, before the item (a worker's own writes)."""
    after: list[Statement] = attrs.field(factory=list)
    """Statements committed in the same transaction, after the item (effects on other tables)."""
    ack_on_conflict: bool = False
    """A child start: if the child exists already, still ack the `await` message (nothing else)."""
    rollback: bool = False
    """Run everything, then roll back instead of committing: a process killed before COMMIT (tests)."""

    @property
    def alone(self) -> bool:
        """True when this write needs a transaction of its own (it carries other statements, or rolls back)."""
        return bool(self.before or self.after or self.rollback)


class Outcome(enum.StrEnum):
    """How an item of a group commit ended."""

    COMMITTED = "valid"
    STALE = "stale"
    """The job changed (or vanished) since the step read it: reload and decide again."""
    LOST = "lost"
    """A consumed row's lease is no longer held: another consumer owns the message now."""
    DUPLICATE = "duplicate"
    """The new job's key is taken."""
    ACKED = "acked"
    """A child start whose child exists: its `await` message was acked, nothing else written."""
    ROLLED_BACK = "rolled_back"
    """The write ran and was rolled back on purpose (`StepWrite.rollback`): nothing was written."""


@attrs.frozen
class WriteResult:
    """One item's outcome; for a committed job write its new revision (and a new job's row id)."""

    outcome: Outcome
    rev: int | None = None
    job_id: str | None = None


@attrs.frozen
class Handed:
    """A published row leased at insert to a consumer of this process (the in-process hand-off)."""

    kind: StreamKind
    id: int
    jid: str
    aid: str
    dad: str


class StepFailed(Exception):
    """An item run alone did not commit (its outcome says why); its transaction was rolled back."""

    def __init__(self, result: WriteResult) -> None:
        super().__init__(f"step write not committed: {result.outcome.value}")
        self.result = result


class _RolledBack(StepFailed):
    """Raised inside a `rollback` write's transaction, after its work, to undo it."""


def add_effects(write: StepWrite, effects: Sequence[Effect], jobs: JobStore, *, consumed: Sequence[int] = (),
                owner_for: Callable[[str], str | None] | None = None, skip_channel: str | None = None) -> None:
    """Turn a decision's effects into the write's publishes, NOTIFYs and statements.

    `consumed`: the stream row ids the step acks (an interrupt's purge spares them). `owner_for(topic)`
    may lease a worker request at insert to a consumer of this process (the in-process hand-off; None
    leaves it to be claimed). A NOTIFY on `skip_channel` is left out (its listener is handed the result in
    process).
    """
    for effect in effects:
        if isinstance(effect, Publish):
            kind = StreamKind.ENGINE if effect.target is StreamTarget.ENGINE else StreamKind.WORKER
            owner = None
            if owner_for is not None and kind is StreamKind.WORKER and effect.delay_s <= 0:
                owner = owner_for(effect.stream_name)
            write.publishes.append(Outgoing(stream_name=effect.stream_name, message=effect.message, kind=kind,
                                            delay_s=effect.delay_s, retry_policy=effect.retry_policy,
                                            order_key=effect.order_key, reserved_by=owner))
        elif isinstance(effect, Notify):
            if effect.channel != skip_channel:
                write.notifies.append((effect.channel, effect.payload))
        elif isinstance(effect, RegisterSignal):
            write.after.extend(jobs.register_signal_statements(effect.key, effect.target, effect.expire_s))
        elif isinstance(effect, DeleteSignal):
            write.after.append(jobs.delete_signal_statement(effect.key))
        elif isinstance(effect, DisarmTimer):
            write.after.append(jobs.disarm_timer_statement(effect.jid, effect.aid, effect.dad))
        elif isinstance(effect, SignalAll):
            write.after.append(jobs.signal_all_statement(effect))
        elif isinstance(effect, PurgeJob):
            write.before.extend(jobs.purge_statements(effect.jid, consumed))
        elif isinstance(effect, OpenEscalation | SettleEscalation):
            write.after.append(escalation_statement(effect))


def job_update(job: JobState, *, dumps: Any = json.dumps) -> JobUpdate:
    """The write of a loaded job's changes (its dirty keys, semaphore delta and expiry)."""
    return JobUpdate(key=job.key, rev=job.rev, delta=job.status_delta,
                     patch=dumps(job.patch(), separators=(",", ":"), allow_nan=False),
                     finish=job.expire_s is not None, expire_s=job.expire_s or 0.0)


def job_insert(job: JobState) -> JobInsert:
    """The write of a job a step creates."""
    return JobInsert(key=job.key, status=job.status,
                     state=json.dumps(job.document(), separators=(",", ":"), allow_nan=False),
                     entity=job.entity, origin_id=job.origin_id, parent_id=job.parent_id, expire_s=job.expire_s,
                     index_entries=list(job.index_entries))


class StepScript:
    """The SQL of one app's steps (see the module docstring)."""

    def __init__(self, db: Database, app_id: str) -> None:
        self.db = db
        self.app_id = app_id
        schema = quote_ident(app_schema(app_id))
        names = {"jobs": f"{schema}.jobs", "engine": f"{schema}.engine_streams",
                 "worker": f"{schema}.worker_streams", "job_index": f"{schema}.job_index"}
        self._write_sql = bind("steps", "write_steps", **names)
        self._load_sql = bind("steps", "load_job", **names)
        self._replace_sql = bind("steps", "replace_expired_job", **names)

    # -- reading ----------------------------------------------------------------------------------------

    def load_statement(self, key: str) -> Statement:
        return Statement(self._load_sql, (key,), "fetchrow")

    async def load(self, key: str) -> JobState | None:
        """A job's current state (no lock: a write checks the revision it was read at)."""
        row = await self.db.run(self.load_statement(key))
        return None if row is None else job_from_row(row)

    async def free_expired_key(self, key: str) -> bool:
        """Delete an expired job so a new one can take its id; True if there was one."""
        status: str = await self.db.execute(self._replace_sql, key)
        return status.endswith(" 1")

    # -- writing ----------------------------------------------------------------------------------------

    def write_statement(self, items: Sequence[StepWrite]) -> Statement:
        """ONE statement committing every item (each all or nothing)."""
        ju: list[list[Any]] = [[] for _ in range(7)]
        ji: list[list[Any]] = [[] for _ in range(9)]
        ak: list[list[Any]] = [[] for _ in range(5)]
        ix: list[list[Any]] = [[] for _ in range(5)]
        pe: list[list[Any]] = [[] for _ in range(17)]
        pw: list[list[Any]] = [[] for _ in range(17)]
        nt: list[list[Any]] = [[] for _ in range(3)]
        for item, write in enumerate(items):
            if write.update is not None:
                u = write.update
                for column, value in zip(ju, (item, u.key, u.rev, u.delta, u.patch, u.finish, u.expire_s),
                                         strict=True):
                    column.append(value)
            if write.insert is not None:
                i = write.insert
                for column, value in zip(ji, (item, i.key, i.entity, i.origin_id, i.parent_id, i.status, i.state,
                                              i.expire_s, write.ack_on_conflict), strict=True):
                    column.append(value)
                for stats_key, facet in i.index_entries:
                    for column, value in zip(ix, (item, i.key, stats_key, facet, i.key.split(":", 3)[3]),
                                             strict=True):
                        column.append(value)
            for ack in write.acks:
                for column, value in zip(ak, (item, ack.id, ack.owner, ack.kind is StreamKind.ENGINE, ack.dead),
                                         strict=True):
                    column.append(value)
            for out in write.publishes:
                _publish_columns(pe if out.kind is StreamKind.ENGINE else pw, item, out)
            for channel, payload in write.notifies:
                for column, value in zip(nt, (item, channel, payload), strict=True):
                    column.append(value)
        return Statement(self._write_sql, (*ju, *ji, *ak, *ix, *pe, *pw, *nt), "fetch")

    @staticmethod
    def read_results(rows: Sequence[asyncpg.Record], count: int) -> tuple[list[WriteResult], list[Handed]]:
        """Each item's outcome, and the rows handed to consumers of this process."""
        results: list[WriteResult | None] = [None] * count
        handed: list[Handed] = []
        for row in rows:
            kind = row["kind"]
            if kind == "handed" or kind == "handed_engine":
                handed.append(Handed(kind=StreamKind.WORKER if kind == "handed" else StreamKind.ENGINE,
                                     id=row["id"], jid=row["jid"], aid=row["aid"], dad=row["dad"]))
            elif kind == "counts":
                continue
            else:
                outcome = Outcome(kind)
                current = results[row["item"]]
                if current is None or outcome is not Outcome.COMMITTED:  # a problem outranks
                    results[row["item"]] = WriteResult(outcome=outcome, rev=row["rev"], job_id=row["job_id"])
        return [result or WriteResult(Outcome.COMMITTED) for result in results], handed

    async def write(self, items: Sequence[StepWrite]) -> tuple[list[WriteResult], list[Handed]]:
        """Commit the items that can go together in one statement, and each `alone` one in its own transaction.

        Returns each item's result (in order) and every handed-off row.
        """
        together = [write for write in items if not write.alone]
        results: dict[int, WriteResult] = {}
        handed: list[Handed] = []
        if together:
            rows = await self.db.run(self.write_statement(together))
            batch_results, batch_handed = self.read_results(rows, len(together))
            handed.extend(batch_handed)
            positions = [index for index, write in enumerate(items) if not write.alone]
            results.update(zip(positions, batch_results, strict=True))
        for index, write in enumerate(items):
            if write.alone:
                results[index] = await self._write_alone(write, handed)
        return [results[index] for index in range(len(items))], handed

    async def _write_alone(self, write: StepWrite, handed: list[Handed]) -> WriteResult:
        async def work(conn: Connection) -> tuple[WriteResult, list[Handed]]:
            return await self.write_alone(conn, write)

        try:
            result, alone_handed = await self.db.with_connection(work)
        except StepFailed as failed:
            return failed.result
        handed.extend(alone_handed)
        return result

    async def write_alone(self, conn: Connection, write: StepWrite) -> tuple[WriteResult, list[Handed]]:
        """One item in its own transaction with its `before` and `after` statements (asyncio side).

        Raises StepFailed (rolled back) when the item does not commit; a `before` statement marked
        `require_rows` that matches nothing (a routed signal's registration changed) counts as a lost lease.
        """
        async with conn.transaction():
            for statement in write.before:
                found = await run_statement(conn, statement)
                if statement.require_rows and not found:
                    raise StepFailed(WriteResult(Outcome.LOST))
            rows = await run_statement(conn, self.write_statement([write]))
            (result,), handed = self.read_results(rows, 1)
            if result.outcome not in (Outcome.COMMITTED, Outcome.ACKED):
                raise StepFailed(result)
            if result.outcome is Outcome.COMMITTED:
                for statement in write.after:
                    await run_statement(conn, statement)
            if write.rollback:
                raise _RolledBack(WriteResult(Outcome.ROLLED_BACK))
        return result, handed


def _publish_columns(columns: list[list[Any]], item: int, out: Outgoing) -> None:
    meta = out.message.metadata
    policy = out.retry_policy or _DEFAULT_POLICY
    values = (item, out.stream_name, meta.jid, meta.aid, meta.dad, out.message.type.value,
              out.order_key or meta.topic, meta.wfn, out.wire or to_wire(out.message), out.message.priority,
              float(out.delay_s), policy.maximum_attempts, policy.backoff_coefficient, int(policy.maximum_interval),
              policy.initial_interval, out.retry_attempt, out.reserved_by)
    for column, value in zip(columns, values, strict=True):
        column.append(value)


__all__ = ["Ack", "Handed", "JobInsert", "JobUpdate", "Outcome", "StepFailed", "StepScript", "StepWrite",
           "WriteResult", "add_effects", "job_insert", "job_update"]
