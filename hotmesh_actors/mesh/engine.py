"""The Engine actor: claims engine-stream messages and runs each step as ONE transaction.

A step (DESIGN §5): claim a batch of messages (SKIP LOCKED), route signals through the registry, lock the
jobs they address (in key order), load their state, decide each message with the pure core, then write the
changed rows, publish the children and worker requests, notify waiters and ack the batch — all in the same
transaction. A crash anywhere before COMMIT leaves every claimed message visible again, untouched; after
COMMIT nothing is left to redo. The collation ledger still refuses replays and early arrivals.

Several steps run concurrently (`concurrency` loops); steps on the same job serialise on its row lock.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import attrs
import cattrs
import trio

from hotmesh_actors.actors import Actor, ThrottleGate
from hotmesh_actors.clock import new_guid, system_env
from hotmesh_actors.core.activities.base import Verdict
from hotmesh_actors.core.activities.context import EngineSettings, StepContext
from hotmesh_actors.core.activities.dispatch import run_message, run_transitions
from hotmesh_actors.core.activities.effects import Effect
from hotmesh_actors.core.activities.hook import signal_lookup
from hotmesh_actors.core.activities.trigger import Lineage, start_job
from hotmesh_actors.core.graph import AppVersion
from hotmesh_actors.core.jobstate import JobState
from hotmesh_actors.core.keys import job_key
from hotmesh_actors.core.messages import MessageMetadata, MessageType, StreamMessage, from_wire
from hotmesh_actors.errors import DuplicateJobError, NotActivatedError
from hotmesh_actors.mesh.consumer import new_consumer_id
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.apps import VersionCache
from hotmesh_actors.store.driver import Connection, Listener
from hotmesh_actors.store.jobs import JobStore, pending_ttl, run
from hotmesh_actors.store.streams import Outgoing, StreamKind

log = logging.getLogger("hotmesh_actors.mesh.engine")

RETRY_EARLY_S = 0.5
"""Delay before re-offering a Leg-2 message that arrived before its Leg 1 committed."""


@attrs.define
class EngineStats:
    """Counters for roll call and tests."""

    steps: int = 0
    messages: int = 0
    dropped: int = 0
    retried_early: int = 0
    failed_transactions: int = 0
    dead_lettered: int = 0


def child_job_id(await_guid: str) -> str:
    """A child job's default id, derived from the parent's `await` message so a redelivery finds it taken."""
    return "H" + hashlib.sha256(await_guid.encode()).hexdigest()[:22]


class StepAborted(Exception):
    """A pure step raised; the transaction is rolled back and the batch re-run one message at a time."""


class Engine(Actor):
    """Runs the engine stream of one app; see the module docstring."""

    def __init__(
        self,
        *,
        jobs: JobStore,
        versions: VersionCache,
        settings: Settings,
        engine_settings: EngineSettings,
        listener: Listener | None = None,
        gate: ThrottleGate | None = None,
        concurrency: int = 2,
        guid: str | None = None,
    ) -> None:
        super().__init__(f"engine:{jobs.app_id}")
        self.jobs = jobs
        self.versions = versions
        self.settings = settings
        self.engine_settings = engine_settings
        self.listener = listener
        self.gate = gate or ThrottleGate()
        self.concurrency = concurrency
        self.guid = guid or new_consumer_id("engine")
        self.stats = EngineStats()
        self._wake = trio.Event()
        self._isolate = 0
        self.new_guid: Callable[[], str] = new_guid

    @property
    def app_id(self) -> str:
        return self.jobs.app_id

    def wake(self, *_: object) -> None:
        """Claim again now (a NOTIFY arrived, or this process published delayed work)."""
        self._wake.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run `concurrency` claim loops until stopped; in-flight steps finish first."""
        channel = StreamKind.ENGINE.channel(self.app_id)
        if self.listener is not None:
            await self.listener.add(channel, self.wake)
        try:
            async with trio.open_nursery() as nursery:
                for _ in range(self.concurrency):
                    nursery.start_soon(self._loop)
                task_status.started()
        finally:
            if self.listener is not None:
                with trio.CancelScope(shield=True):
                    await self.listener.remove(channel, self.wake)

    async def _loop(self) -> None:
        store = self.jobs.engine_streams
        while not self.stopping:
            with self.cancel_on_stop():
                await self.gate.wait()
            if self.stopping:
                break
            try:
                app = await self.versions.active()
            except NotActivatedError:
                with self.cancel_on_stop(), trio.move_on_after(min(1.0, self.settings.fallback_poll_s)):
                    await self._wake.wait()
                self._wake = trio.Event()
                await self.versions.refresh()
                continue
            batch = 1 if self._isolate else self.settings.batch_size
            self._wake = trio.Event()
            isolate = bool(self._isolate)

            async def step(conn: Connection, app: AppVersion = app, batch: int = batch,
                           isolate: bool = isolate) -> int:
                return await self._transaction(conn, app, batch, isolate=isolate)

            try:
                claimed = await self.jobs.db.with_connection(step)
            except StepAborted:
                self._isolate = self.settings.batch_size
                continue
            except (asyncpg.PostgresError, OSError) as err:
                self.stats.failed_transactions += 1
                log.warning("engine step rolled back (%s); retrying", err, extra={"app_id": self.app_id})
                await trio.sleep(0.05)
                continue
            if self._isolate:
                self._isolate = max(0, self._isolate - 1)
            if claimed == batch:
                continue
            due = await store.next_wake(self.app_id, self.settings.reservation_timeout_s)
            timeout = min(self.settings.fallback_poll_s, math.inf if due is None else due + 0.01)
            with self.cancel_on_stop(), trio.move_on_after(timeout):
                await self._wake.wait()

    # -- the transaction (runs on the driver's asyncio side) ------------------------------------------

    async def _transaction(self, conn: Connection, app: AppVersion, batch: int, *, isolate: bool) -> int:
        store = self.jobs.engine_streams
        async with conn.transaction():
            rows = await conn.fetch(store._sql("claim_batch"), self.app_id, batch,
                                    float(self.settings.reservation_timeout_s), self.guid)
            if not rows:
                return 0
            await self.process_rows(conn, app, rows, isolate=isolate)
            return len(rows)

    async def process_rows(self, conn: Connection, app: AppVersion, rows: Sequence[asyncpg.Record], *,
                           isolate: bool) -> None:
        """Decide and commit-prepare claimed engine rows inside the caller's open transaction, then ack them.

        The rows must be locked by this transaction (claimed FOR UPDATE). Raises StepAborted when the pure
        core fails on a message and `isolate` is False (the caller retries one message at a time).
        """
        store = self.jobs.engine_streams
        rows = sorted(rows, key=lambda r: (-r["priority"], r["id"]))
        ids = [row["id"] for row in rows]
        messages: list[StreamMessage | None] = []
        dead: list[int] = []
        for row in rows:
            try:
                messages.append(from_wire(row["message"]))
            except (ValueError, TypeError, KeyError, cattrs.BaseValidationError) as err:
                log.error("unreadable engine message %s dead-lettered: %s", row["id"], err,
                          extra={"app_id": self.app_id, "message_id": row["id"]})
                messages.append(None)
                dead.append(row["id"])
        effects: list[Effect] = []
        republish: list[Outgoing] = []
        routed = await self._route(conn, app, messages)
        keys = {job_key(self.app_id, m.metadata.jid) for m in routed if m is not None
                and m.type is not MessageType.AWAIT}
        jobs = await self.jobs.lock_and_load(conn, keys)
        touched: dict[str, JobState] = {}
        env = system_env(self.settings.fidelity_seconds)
        for row_id, message in zip(ids, routed, strict=True):
            if message is None:
                continue
            try:
                if message.type is MessageType.AWAIT:
                    await self._start_child(conn, app, message, env)
                    continue
                job = jobs.get(job_key(self.app_id, message.metadata.jid))
                if job is None:
                    self.stats.dropped += 1
                    continue
                ctx = StepContext(app=app, job=job, env=env, new_guid=self.new_guid,
                                  settings=self.engine_settings)
                outcome = run_message(ctx, message)
            except DuplicateJobError:
                continue
            except Exception as err:
                if not isolate:
                    raise StepAborted(str(err)) from err
                log.exception("engine step failed; message %s dead-lettered", row_id,
                              extra={"app_id": self.app_id, "job_id": message.metadata.jid,
                                     "activity_id": message.metadata.aid, "message_id": row_id})
                dead.append(row_id)
                self.stats.dead_lettered += 1
                touched.clear()
                effects.clear()
                continue
            if outcome.verdict is Verdict.DONE:
                touched[job.key] = job
                effects.extend(ctx.effects)
            elif outcome.verdict is Verdict.RETRY:
                self.stats.retried_early += 1
                republish.append(Outgoing(stream_name=self.app_id, message=message, delay_s=RETRY_EARLY_S))
            else:
                self.stats.dropped += 1
                log.debug("message dropped: %s", outcome.reason,
                          extra={"app_id": self.app_id, "job_id": message.metadata.jid,
                                 "activity_id": message.metadata.aid})
        await self.jobs.write_state(conn, list(touched.values()))
        await self.jobs.apply_effects(conn, effects)
        if republish:
            await run(conn, store.publish_statement(republish))
        if dead:
            await run(conn, store.dead_letter_statement(self.app_id, dead))
        await conn.execute(store._sql("ack_locked"), self.app_id, ids)
        self.stats.steps += 1
        self.stats.messages += len(ids)
        if republish:
            # This runs on the driver's asyncio side: hand the wake-up to trio rather than touch its Event here.
            self.jobs.db.bridge.to_trio(self.wake)

    async def _route(self, conn: Connection, app: AppVersion,
                     messages: list[StreamMessage | None]) -> list[StreamMessage | None]:
        """Address each message to its job; a signal goes where the registry says (or waits as pending)."""
        routed: list[StreamMessage | None] = []
        for message in messages:
            if message is None or message.type is not MessageType.WEBHOOK or message.metadata.jid:
                routed.append(message)
                continue
            key = signal_lookup(app, system_env(self.settings.fidelity_seconds), message.metadata.topic,
                                dict(message.data))
            if key is None:
                log.warning("signal on %r matches no hook rule; dropped", message.metadata.topic,
                            extra={"app_id": self.app_id, "topic": message.metadata.topic})
                routed.append(None)
                continue
            ttl = pending_ttl(message, self.settings.pending_signal_expire_s)
            target = await self.jobs.route_signal(conn, key, message, ttl)
            if target is None:
                routed.append(None)
                continue
            aid, dad, gid, jid = target.split("::", 3)
            routed.append(attrs.evolve(message, metadata=attrs.evolve(message.metadata, aid=aid, dad=dad, gid=gid,
                                                                      jid=jid)))
        return routed

    async def _start_child(self, conn: Connection, app: AppVersion, message: StreamMessage, env: Any) -> None:
        """An `await` message: run the child graph's trigger with the parent's pointers."""
        meta = message.metadata
        detached = meta.await_ is False
        ctx = start_job(app, meta.topic, dict(message.data), env=env, new_guid=self.new_guid,
                        settings=self.engine_settings, default_job_id=child_job_id(meta.guid),
                        lineage=Lineage(parent_jid=meta.jid, parent_gid=meta.gid, parent_dad=meta.dad,
                                        parent_aid=meta.aid, detached=detached,
                                        origin_id=None))
        run_transitions(ctx)
        try:
            async with conn.transaction():  # a savepoint: a duplicate child must not undo the batch
                await self.jobs.insert_job(conn, ctx.job)
                await self.jobs.write_state(conn, [ctx.job])
                await self.jobs.apply_effects(conn, ctx.effects)
        except DuplicateJobError:
            log.info("child job %s already exists; await message ignored", ctx.job.jid,
                     extra={"app_id": self.app_id, "job_id": ctx.job.jid})
            raise
        if detached:
            stamp = ctx.timestamp
            ctx.publish_engine(StreamMessage(
                metadata=MessageMetadata(guid=self.new_guid(), jid=meta.jid, gid=meta.gid, dad=meta.dad,
                                         aid=meta.aid),
                type=MessageType.RESULT,
                data={"job_id": ctx.job.jid, "jc": stamp, "ju": stamp},
            ))
            await self.jobs.apply_effects(conn, ctx.effects[-1:])
