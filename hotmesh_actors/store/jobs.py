"""Job reads, and the statements a step's effects add to its transaction (signal registry, timers, purges).

A step's own write — the job's state patch, its acks, publishes and NOTIFYs — is `store/steps.py`'s. What a
step touches besides (a hook's signal registration, a disarmed timer, an interrupt's purge, a `signal: all`
fan-out) comes from here as Statements that join the step's transaction. Reads for the API (status, state,
export, getRaw) load a job's row without locking it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from hotmesh_actors.core.activities.effects import SignalAll
from hotmesh_actors.core.durations import parse_duration
from hotmesh_actors.core.jobstate import JobState
from hotmesh_actors.core.messages import StreamMessage, to_wire
from hotmesh_actors.store.driver import Database, Statement
from hotmesh_actors.store.queries import app_schema, bind, quote_ident
from hotmesh_actors.store.streams import StreamKind, StreamStore

PENDING = "$pending::"
"""A signal stored in the registry before its hook registered (SPEC §2.8)."""
ROUTE_ATTEMPTS = 10
"""Times a signal is routed again when a registration committed under the routing statement (see
`JobStore.route_signal`); each retry follows a commit, so more than one or two mean something is wrong."""


class SignalRouteError(RuntimeError):
    """A signal could be neither routed nor stored (its message is not acked, and is delivered again)."""


class JobStore:
    """The SQL of one app's jobs and signal registry."""

    def __init__(self, db: Database, app_id: str) -> None:
        self.db = db
        self.app_id = app_id
        self.schema = quote_ident(app_schema(app_id))
        self.engine_streams = StreamStore(db, app_id, StreamKind.ENGINE)
        self.worker_streams = StreamStore(db, app_id, StreamKind.WORKER)

    def sql(self, name: str) -> str:
        return bind("jobs", name, schema=self.schema, engine=self.engine_streams.table,
                    worker=self.worker_streams.table)

    # -- reading ---------------------------------------------------------------------------------------

    async def load(self, key: str) -> JobState | None:
        """Read a job (live or not) without locking: for status, state and export."""
        row = await self.db.fetchrow(self.sql("find_job"), key)
        if row is None:
            return None
        return job_from_row(row)

    async def status(self, key: str) -> int | None:
        """A job's semaphore, None when it does not exist."""
        value: int | None = await self.db.fetchval(self.sql("job_status"), key)
        return value

    # -- statements for a step's effects ---------------------------------------------------------------

    def register_signal_statements(self, key: str, target: str, expire_s: float) -> list[Statement]:
        """Register a hook's key; re-publish a signal that was waiting for it (SPEC §2.8).

        The same statement twice, in the step's transaction: a signal stored while the first run waited on
        its registry row is invisible to that run's snapshot (READ COMMITTED), which then leaves it alone;
        the second run sees it and re-publishes it. Without the second run that signal would be lost (the
        registration would overwrite it, or never be written). When the first run registered, the second
        finds nothing to change.
        """
        statement = Statement(self.sql("register_signal"), (key, target, float(expire_s), self.app_id), "execute")
        return [statement, statement]

    def delete_signal_statement(self, key: str) -> Statement:
        return Statement(self.sql("delete_signal"), (key,), "execute")

    def signal_check_statement(self, key: str, registration: str) -> Statement:
        """Fails the transaction unless `key` still routes to `registration` (and locks it until commit)."""
        return Statement(self.sql("signal_check"), (key, registration), "fetch", require_rows=True)

    def disarm_timer_statement(self, jid: str, aid: str, dad: str) -> Statement:
        return Statement(self.sql("disarm_timer"), (self.app_id, jid, aid, dad), "execute")

    def signal_all_statement(self, effect: SignalAll) -> Statement:
        """One webhook per job filed under the effect's facet, each routed through the registry."""
        return Statement(self.sql("signal_all"),
                         (effect.stats_key, effect.facet, self.app_id, to_wire(effect.message), effect.scrub,
                          effect.message.metadata.topic), "execute")

    def purge_statements(self, jid: str, keep_ids: Sequence[int]) -> list[Statement]:
        """Delete a job's live stream rows (but `keep_ids`, which the step itself acks) and cancel its
        open escalations (interrupt)."""
        return [Statement(self.sql("purge_job"), (jid, list(keep_ids)), "execute"),
                Statement(self.sql("cancel_escalations"), (self.app_id, jid), "execute")]

    # -- signals arriving -------------------------------------------------------------------------------

    async def route_signal(self, key: str, message: StreamMessage, pending_ttl_s: float) -> str | None:
        """Where a signal goes (`aid::dad::gid::jid`), or None when it was stored to wait for its hook.

        A registration that commits while the routing statement waits on its registry row is invisible to
        that statement's snapshot, which then neither routes nor stores the signal; the statement runs again
        (a fresh snapshot sees the registration). Acking the signal as "stored" then would lose it.
        """
        sql = self.sql("signal_route")
        pending = PENDING + to_wire(message)
        for _ in range(ROUTE_ATTEMPTS):
            row = await self.db.fetchrow(sql, key, pending, pending_ttl_s)
            if row is None:
                break
            registration = row["registration"]
            if isinstance(registration, str):
                return registration
            if row["stored"]:
                return None
        raise SignalRouteError(f"signal {key!r} could be neither routed nor stored; left for redelivery")

    # -- whole jobs ---------------------------------------------------------------------------------------

    async def delete(self, key: str, jid: str) -> None:
        """Scrub: delete the job's row and every stream row of it."""
        await self.db.execute(self.sql("delete_job"), key, jid)

    async def prune(self, seconds: float, *, jobs: bool, streams: bool, signals: bool) -> dict[str, int]:
        """Delete expired jobs, dead letters and signal registrations older than `seconds`; counts."""
        counts = {"jobs": 0, "engine_streams": 0, "worker_streams": 0, "signals": 0}
        if jobs:
            counts["jobs"] = await self.db.fetchval(self.sql("prune_jobs"), seconds)
        if streams:
            counts["engine_streams"] = await self.db.fetchval(self.sql("prune_engine_streams"), seconds)
            counts["worker_streams"] = await self.db.fetchval(self.sql("prune_worker_streams"), seconds)
        if signals:
            counts["signals"] = await self.db.fetchval(self.sql("prune_signals"))
        return counts


def job_from_row(row: asyncpg.Record) -> JobState:
    """The JobState of a `jobs` row (`find_job` / `load_job` shape)."""
    return JobState.from_document(row["key"], row["status"], json.loads(row["state"]), row_id=row["id"],
                                  rev=row["rev"], entity=row["entity"], origin_id=row["origin_id"],
                                  parent_id=row["parent_id"])


def pending_ttl(message: StreamMessage, default_s: float) -> float:
    """A pending signal's time to live: the payload's `$expire` (seconds or duration) or the default."""
    raw = message.data.get("$expire")
    if raw is None:
        return default_s
    try:
        return parse_duration(raw)
    except ValueError:
        return default_s


__all__ = ["PENDING", "ROUTE_ATTEMPTS", "JobStore", "SignalRouteError", "job_from_row", "pending_ttl"]
