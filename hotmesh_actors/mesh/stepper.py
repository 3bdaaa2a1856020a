"""The Stepper: runs every job step of this process, one at a time per job, all of them in group commits.

Whatever reaches a job — a worker's reply, a timer, a signal, a child's result, an interrupt — comes here as
an :class:`Inbound` (the message, and the stream row to ack with the step). Per job, one step is in flight at
a time; messages that arrive meanwhile queue up and are decided together in the next step (a ten-way fan-in
takes a few steps, not ten). A step reads the job's state from this process's cache (written by its
previous step here) or from its row, decides with the pure core (`core/step.py`), and joins the next group
commit: ONE statement for every step decided while the previous one was in flight (`store/steps.py`).

Each write checks the revision it read, so a step decided on state that another process changed meanwhile
commits nothing; it is decided again on fresh state. A write also acks its messages only while their leases
are held. Crash safety is the transaction's: the state, the acks and what the step sends commit together or
not at all, and the collation ledger refuses any replay.

Two hand-offs keep a chain of steps inside this process when it can: a worker request published for a topic
a worker of this process serves (and has room for) is inserted already leased to that worker, which takes
it from memory without a claim; and a job finishing for a `pubsub` caller of this process is handed to it
directly, without the NOTIFY round trip.
"""

from __future__ import annotations

import enum
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import asyncpg
import attrs
import trio

from hotmesh_actors.clock import new_guid, system_env
from hotmesh_actors.core.activities.base import Outcome, Verdict
from hotmesh_actors.core.activities.context import EngineSettings, StepContext
from hotmesh_actors.core.activities.effects import Effect, Publish, StreamTarget
from hotmesh_actors.core.graph import AppVersion
from hotmesh_actors.core.jobstate import JobState
from hotmesh_actors.core.keys import job_key, quorum_channel
from hotmesh_actors.core.messages import StreamMessage
from hotmesh_actors.core.step import RETRY_EARLY_S, Decision, decide, decide_interrupt, start_child
from hotmesh_actors.errors import DuplicateJobError
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.apps import VersionCache
from hotmesh_actors.store.driver import Statement
from hotmesh_actors.store.jobs import JobStore
from hotmesh_actors.store.steps import (
    Ack,
    Handed,
    StepScript,
    StepWrite,
    WriteResult,
    add_effects,
    job_insert,
    job_update,
)
from hotmesh_actors.store.steps import Outcome as WriteOutcome
from hotmesh_actors.store.streams import ClaimedMessage, Outgoing, StreamKind

log = logging.getLogger("hotmesh_actors.mesh.stepper")

JSON = Any
MAX_ATTEMPTS = 20
"""Times a step is decided again on fresh state (another process kept changing the job) before giving up."""
MAX_DB_FAILURES = 5
"""Times a step's statement may fail in the database before its messages are left for redelivery."""


class Result(enum.StrEnum):
    """What became of an Inbound."""

    DONE = "done"
    """Its step committed and the message had its effect."""
    DROPPED = "dropped"
    """Acked without effect: a replay, a stale generation, a finished job (the collation ledger said so)."""
    NOT_FOUND = "not_found"
    """The job does not exist (any more); the message was acked."""
    LOST = "lost"
    """Its lease was lost before the step committed: another consumer owns the message now."""
    FAILED = "failed"
    """The step could not be decided (an error in the graph or the core); the message was dead-lettered."""


@attrs.frozen
class Interrupt:
    """The API's interrupt of a job, run as a step."""

    reason: str | None
    code: int
    throw: bool
    expire_s: float | None


@attrs.define(eq=False)
class Inbound:
    """One thing that reaches a job: a message (with the stream row it came in, if any) or an interrupt."""

    message: StreamMessage | None = None
    ack: Ack | None = None
    before: Sequence[Statement] = ()
    """A worker's own statements, committed in the step's transaction (then the step runs alone)."""
    signal_check: tuple[str, str] | None = None
    """(registry key, registration) a routed signal relies on, re-checked in the step's transaction."""
    interrupt: Interrupt | None = None
    result: Result | None = None
    verdict: Outcome | None = None
    done: trio.Event = attrs.field(factory=trio.Event)

    def resolve(self, result: Result, verdict: Outcome | None = None) -> None:
        self.result = result
        self.verdict = verdict
        self.done.set()


class LocalConsumer(Protocol):
    """A consumer of this process that can take rows handed to it at insert (see the module docstring)."""

    consumer_id: str

    def reserve(self) -> bool:
        """Take a slot for one handed message (False when full)."""
        ...

    def release(self) -> None:
        """Give back a slot whose message was not published after all."""
        ...

    def deliver(self, claimed: ClaimedMessage) -> None:
        """Take a handed message (its row is leased to this consumer already)."""
        ...


CompletionCallback = Callable[[str, dict[str, JSON]], None]
"""Called with (job id, output) when a job this process's `pubsub` waits for finishes here."""


@attrs.define(eq=False)
class _Pending:
    """A write waiting for the next group commit."""

    write: StepWrite
    result: WriteResult | None = None
    handed: list[Handed] = attrs.field(factory=list)
    error: BaseException | None = None
    done: trio.Event = attrs.field(factory=trio.Event)


@attrs.define(eq=False)
class _Slot:
    """One job's queue in this process, and whether its step task runs."""

    key: str
    queue: list[Inbound] = attrs.field(factory=list)
    running: bool = False


class Stepper:
    """See the module docstring. Start with `nursery.start(stepper.run)`."""

    def __init__(self, *, app_id: str, jobs: JobStore, versions: VersionCache, settings: Settings,
                 engine_settings: EngineSettings, guid: str, lanes: int = 2, cache_size: int = 10_000) -> None:
        self.app_id = app_id
        self.jobs = jobs
        self.script = StepScript(jobs.db, app_id)
        self.versions = versions
        self.settings = settings
        self.engine_settings = engine_settings
        self.guid = guid
        """The mesh's guid: completions for `pubsub` callers on this guid are handed over in-process."""
        self.lanes = lanes
        self.cache_size = cache_size
        self.local_workers: dict[str, LocalConsumer] = {}
        self.on_completed: CompletionCallback | None = None
        self.on_delayed: Callable[[], None] | None = None
        """Called after a commit that armed a timer or delayed a message (the engine re-reads its due time)."""
        self.new_guid: Callable[[], str] = new_guid
        self.steps = 0
        self.commits = 0
        self.crash_acks: set[tuple[StreamKind, int]] = set()
        """Test seam (hotmesh_actors.testing.schedule): the next write that acks one of these rows runs and
        is rolled back instead of committed, as if the process died before COMMIT."""
        self._slots: dict[str, _Slot] = {}
        self._cache: OrderedDict[str, JobState] = OrderedDict()
        self._in_flight_here: dict[str, int] = {}
        """Per cached job: requests this process handed to its own workers whose replies have not come."""
        self._queue: list[_Pending] = []
        self._wanted = trio.Event()
        self._nursery: trio.Nursery | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the group-commit lanes and the job steps until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for _ in range(self.lanes):
                nursery.start_soon(self._lane)
            task_status.started()

    # -- entry points ---------------------------------------------------------------------------------------

    async def submit(self, inbound: Inbound, jid: str) -> Result:
        """Run `inbound` against job `jid` (queued behind its step in flight); returns once it is settled."""
        key = job_key(self.app_id, jid)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(key=key)
        slot.queue.append(inbound)
        if not slot.running:
            slot.running = True
            assert self._nursery is not None, "Stepper.run is not running"
            self._nursery.start_soon(self._run_slot, slot)
        await inbound.done.wait()
        assert inbound.result is not None
        return inbound.result

    async def start(self, ctx: StepContext, *, ack: Ack | None = None, child: bool = False,
                    extra: Sequence[Outgoing] = ()) -> Result:
        """Create the job a trigger step made (`pub`, or a parent's `await` when `child`), with its effects.

        Raises DuplicateJobError when a live job has the id (a child start instead acks its `await` message
        and returns DROPPED). `extra` is published only if the job is new (a detached child's reply).
        """
        job = ctx.job
        for attempt in range(2):
            write = StepWrite(insert=job_insert(job), acks=[ack] if ack else [], ack_on_conflict=child)
            reserved = self._add_effects(write, ctx.effects, job, [])
            write.publishes.extend(extra)
            try:
                result, handed = await self._commit(write)
            except BaseException:
                self._release(reserved)
                raise
            if result.outcome is WriteOutcome.COMMITTED:
                job.row_id, job.rev = result.job_id, 1
                job.status_delta, job.created = 0, False
                job.clean()
                self._after_commit(job, ctx.completed, handed, ctx.effects)
                self._keep_or_forget(job, handed=len(handed))
                return Result.DONE
            self._release(reserved)
            if result.outcome is WriteOutcome.ACKED:
                return Result.DROPPED
            if result.outcome in (WriteOutcome.LOST, WriteOutcome.ROLLED_BACK):
                return Result.LOST
            expired = attempt == 0 and result.outcome is WriteOutcome.DUPLICATE
            if expired and await self.script.free_expired_key(job.key):
                continue  # the id belonged to an expired job: its row made room for this one
            if child:
                return Result.DROPPED
            raise DuplicateJobError(f"Duplicate job: {job.jid}", job_id=job.jid)
        raise DuplicateJobError(f"Duplicate job: {job.jid}", job_id=job.jid)

    async def start_child(self, message: StreamMessage, ack: Ack) -> Result:
        """A parent's `await` message: start the child job (a redelivery finds it started and just acks)."""
        app = await self.versions.active()
        child = start_child(app, message, env=self._env(), new_guid=self.new_guid, settings=self.engine_settings)
        extra = [] if child.reply_to_parent is None else [
            Outgoing(stream_name=self.app_id, message=child.reply_to_parent)]
        return await self.start(child.step, ack=ack, child=True, extra=extra)

    async def interrupt(self, jid: str, request: Interrupt) -> Result:
        """Interrupt a job as a step of its own: DONE, DROPPED (it had finished) or NOT_FOUND."""
        return await self.submit(Inbound(interrupt=request), jid)

    def forget(self, key: str) -> None:
        """Drop a job's cached state (it was scrubbed or changed outside a step)."""
        self._cache.pop(key, None)
        self._in_flight_here.pop(key, None)

    # -- one job's steps --------------------------------------------------------------------------------------

    async def _run_slot(self, slot: _Slot) -> None:
        try:
            while slot.queue:
                batch = _next_batch(slot.queue)
                try:
                    await self._step(slot.key, batch)
                except Exception:  # a bug or a database failure must not take the Stepper down
                    log.exception("step of %s failed; its messages are left for redelivery", slot.key,
                                  extra={"app_id": self.app_id})
                    self._cache.pop(slot.key, None)
                    for inbound in batch:
                        if not inbound.done.is_set():
                            inbound.resolve(Result.LOST)
        finally:
            slot.running = False
            if not slot.queue:
                self._slots.pop(slot.key, None)

    async def _step(self, key: str, batch: list[Inbound]) -> None:
        app = await self.versions.active()
        failures = 0
        for _ in range(MAX_ATTEMPTS):
            try:
                job = self._cache.pop(key, None) or await self.script.load(key)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
                failures += 1
                if failures >= MAX_DB_FAILURES:
                    log.error("cannot read job %s (%s); its messages are left for redelivery", key, err,
                              extra={"app_id": self.app_id})
                    for inbound in batch:
                        inbound.resolve(Result.LOST)
                    return
                await trio.sleep(min(2.0, 0.05 * 2 ** failures))
                continue
            if job is None:
                await self._settle_without_job(batch)
                return
            try:
                decision = self._decide(app, job, batch)
            except Exception:
                if len(batch) > 1:  # isolate the message that fails
                    for inbound in batch:
                        await self._step(key, [inbound])
                    return
                log.exception("step failed; message dead-lettered",
                              extra={"app_id": self.app_id, "job_id": job.jid})
                await self._dead_letter(batch[0])
                return
            write = StepWrite(acks=[inbound.ack for inbound in batch if inbound.ack is not None])
            for inbound in batch:
                write.before.extend(inbound.before)
                if inbound.signal_check is not None:
                    write.before.append(self.jobs.signal_check_statement(*inbound.signal_check))
            if decision.changed:
                write.update = job_update(job)
            reserved = self._add_effects(write, decision.effects, job, [inbound.ack for inbound in batch])
            for message in decision.retry_later:
                write.publishes.append(Outgoing(stream_name=self.app_id, message=message, delay_s=RETRY_EARLY_S))
            local_replies = sum(1 for inbound in batch if inbound.ack is not None
                                and inbound.ack.kind is StreamKind.WORKER)
            if not write.update and not write.acks and not write.publishes and not write.before:
                self._keep_or_forget(job, replied=local_replies)
                self._settle(batch, decision)
                return
            try:
                result, handed = await self._commit(write)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
                # the database failed the statement (connection lost, server restarting): nothing of this
                # step committed; its messages stay leased and come back, so decide again in a moment
                self._release(reserved)
                failures += 1
                if failures >= MAX_DB_FAILURES:
                    log.error("step of %s failed %d times (%s); its messages are left for redelivery", key,
                              failures, err, extra={"app_id": self.app_id})
                    for inbound in batch:
                        inbound.resolve(Result.LOST)
                    return
                log.warning("step of %s failed (%s); retrying", key, err, extra={"app_id": self.app_id})
                await trio.sleep(min(2.0, 0.05 * 2 ** failures))
                continue
            if result.outcome is WriteOutcome.COMMITTED:
                if result.rev is not None:
                    job.rev = result.rev
                job.clean()
                self._settle(batch, decision)  # (before a local waiter learns the job is done)
                self._after_commit(job, decision.completed, handed, decision.effects)
                self._keep_or_forget(job, handed=len(handed), replied=local_replies)
                return
            self._release(reserved)
            if result.outcome is WriteOutcome.STALE:
                continue  # decided on state another step changed: read it again and decide again
            if result.outcome is WriteOutcome.ROLLED_BACK:
                for inbound in batch:
                    inbound.resolve(Result.LOST)
                return
            if len(batch) > 1:  # a lease was lost: find out whose, one at a time
                for inbound in batch:
                    await self._step(key, [inbound])
                return
            batch[0].resolve(Result.LOST)
            return
        log.error("job %s kept changing under its step; messages left for redelivery", key,
                  extra={"app_id": self.app_id})
        for inbound in batch:
            inbound.resolve(Result.LOST)

    def _decide(self, app: AppVersion, job: JobState, batch: list[Inbound]) -> Decision:
        env = self._env()
        if batch[0].interrupt is not None:
            request = batch[0].interrupt
            return decide_interrupt(app, job, env=env, new_guid=self.new_guid, settings=self.engine_settings,
                                    reason=request.reason, code=request.code, throw=request.throw,
                                    expire_s=request.expire_s)
        messages = [inbound.message for inbound in batch if inbound.message is not None]
        return decide(app, job, messages, env=env, new_guid=self.new_guid, settings=self.engine_settings)

    def _settle(self, batch: list[Inbound], decision: Decision) -> None:
        for inbound, verdict in zip(batch, decision.outcomes, strict=True):
            if verdict.verdict is Verdict.DROP:
                log.debug("message dropped: %s", verdict.reason, extra={"app_id": self.app_id})
            inbound.resolve(Result.DONE if verdict.verdict is not Verdict.DROP else Result.DROPPED, verdict)
        self.steps += 1

    async def _settle_without_job(self, batch: list[Inbound]) -> None:
        acks = [inbound.ack for inbound in batch if inbound.ack is not None]
        outcome = WriteOutcome.COMMITTED
        if acks:
            outcome = (await self._commit(StepWrite(acks=acks)))[0].outcome
        for inbound in batch:
            inbound.resolve(Result.NOT_FOUND if outcome is WriteOutcome.COMMITTED else Result.LOST)

    async def _dead_letter(self, inbound: Inbound) -> None:
        if inbound.ack is not None:
            await self._commit(StepWrite(acks=[attrs.evolve(inbound.ack, dead=True)]))
        inbound.resolve(Result.FAILED)

    # -- effects and hand-offs ----------------------------------------------------------------------------------

    def _add_effects(self, write: StepWrite, effects: Sequence[Effect], job: JobState,
                     consumed: Sequence[Ack | None]) -> list[LocalConsumer]:
        """Add a decision's effects to the write, handing worker requests to local workers with room;
        returns the local consumers that reserved a slot (released if the write fails)."""
        reserved: list[LocalConsumer] = []

        def owner_for(topic: str) -> str | None:
            local = self.local_workers.get(topic)
            if local is None or not local.reserve():
                return None
            reserved.append(local)
            return local.consumer_id

        own_channel = quorum_channel(self.app_id, self.guid) if self.on_completed is not None else None
        add_effects(write, effects, self.jobs, consumed=[ack.id for ack in consumed if ack is not None],
                    owner_for=owner_for, skip_channel=own_channel)
        return reserved

    @staticmethod
    def _release(reserved: list[LocalConsumer]) -> None:
        for local in reserved:
            local.release()

    def _after_commit(self, job: JobState, completed: bool, handed: Sequence[Handed],
                      effects: Sequence[Effect]) -> None:
        """Deliver handed rows to their local consumers and a finished job to its local waiter."""
        if handed:
            requests = {(e.message.metadata.jid, e.message.metadata.aid, e.message.metadata.dad): e
                        for e in effects if isinstance(e, Publish) and e.target is StreamTarget.WORKER}
            for row in handed:
                effect = requests.get((row.jid, row.aid, row.dad))
                local = self.local_workers.get(effect.stream_name) if effect is not None else None
                if effect is None or local is None:
                    continue
                local.deliver(ClaimedMessage(
                    id=row.id, stream_name=effect.stream_name, message=effect.message, priority=effect.message.priority,
                    retry_attempt=0, delivery_count=1, redelivered=False,
                    retry_policy=effect.retry_policy or _default_policy()))
        if completed and self.on_completed is not None and job.metadata.get("ngn") == self.guid:
            metadata = dict(job.metadata)
            metadata["js"] = job.status
            self.on_completed(job.jid, {"metadata": metadata, "data": dict(job.data)})
        if self.on_delayed is not None and any(isinstance(e, Publish) and e.delay_s > 0 for e in effects):
            self.on_delayed()

    def _keep_or_forget(self, job: JobState, *, handed: int = 0, replied: int = 0) -> None:
        """Cache a job's state while this process has work of it in flight (requests it handed to its own
        workers), so the replies' steps need no read; forget it otherwise, so a sleeping or waiting workflow
        costs this process no memory. (The cache is also bounded: `cache_size` jobs.)"""
        outstanding = max(0, self._in_flight_here.pop(job.key, 0) + handed - replied)
        if outstanding and job.status > 0:
            self._in_flight_here[job.key] = outstanding
            self._cache[job.key] = job
            self._cache.move_to_end(job.key)
            while len(self._cache) > self.cache_size:
                evicted, _ = self._cache.popitem(last=False)
                self._in_flight_here.pop(evicted, None)
        else:
            self._cache.pop(job.key, None)

    # -- group commit ---------------------------------------------------------------------------------------------

    async def _commit(self, write: StepWrite) -> tuple[WriteResult, list[Handed]]:
        """Queue a write for the next group commit and wait for its result (raises what the commit raised)."""
        if self.crash_acks:
            crashing = {(ack.kind, ack.id) for ack in write.acks} & self.crash_acks
            if crashing:
                self.crash_acks -= crashing
                write.rollback = True
        pending = _Pending(write=write)
        self._queue.append(pending)
        self._wanted.set()
        await pending.done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.result is not None
        return pending.result, pending.handed

    async def _lane(self) -> None:
        """One group-commit lane: take every queued write, commit them in one statement, hand back results."""
        while True:
            await self._wanted.wait()
            batch, self._queue = self._queue, []
            self._wanted = trio.Event()
            if not batch:
                continue
            try:
                results, handed = await self.script.write([pending.write for pending in batch])
            except Exception as err:  # a statement error fails the batch; each step retries on its own
                log.warning("group commit of %d steps failed: %s", len(batch), err, extra={"app_id": self.app_id})
                for pending in batch:
                    pending.error = err
                    pending.done.set()
                continue
            self.commits += 1
            by_request = {(h.jid, h.aid, h.dad): h for h in handed}
            for pending, result in zip(batch, results, strict=True):
                pending.result = result
                if by_request:
                    pending.handed = [by_request[key] for key in _published_keys(pending.write)
                                      if key in by_request]
                pending.done.set()

    def _env(self) -> Any:
        return system_env(self.settings.fidelity_seconds)


def _next_batch(queue: list[Inbound]) -> list[Inbound]:
    """The next inbounds to decide together: a run of plain messages, or one that must go alone."""
    first = queue[0]
    if first.interrupt is not None or first.before or first.signal_check is not None:
        return [queue.pop(0)]
    count = 1
    while count < len(queue):
        nxt = queue[count]
        if nxt.interrupt is not None or nxt.before or nxt.signal_check is not None:
            break
        count += 1
    batch = queue[:count]
    del queue[:count]
    return batch


def _published_keys(write: StepWrite) -> list[tuple[str, str, str]]:
    return [(o.message.metadata.jid, o.message.metadata.aid, o.message.metadata.dad)
            for o in write.publishes if o.reserved_by is not None]


def _default_policy() -> Any:
    from hotmesh_actors.core.durations import RetryPolicy

    return RetryPolicy()


__all__ = ["CompletionCallback", "Inbound", "Interrupt", "LocalConsumer", "Result", "Stepper"]
