"""Run one job of your graph under a chosen delivery order with crashes and duplicates, on a real database.

A *schedule* is a list of steps. Each step delivers one message the app's streams hold for the job (the
test picks which: `pick` indexes the deliverable messages, oldest first, modulo their number), optionally
crashing it, or injects a duplicate, or sends the next planned signal:

- `Deliver("engine", pick, crash=False)` runs the engine's own step on that message in one transaction;
  `crash=True` rolls the transaction back after the step did all its work (a process killed before
  COMMIT): the message stays queued, nothing it decided is kept.
- `Deliver("worker", pick, crash=False)` leases the worker request and runs the worker's own handling
  (your callback, the reply, retries and dead letters as configured); `crash=True` runs your callback and
  then dies before the reply commits (a kill between callback and reply): the request is delivered again
  later and your callback runs again. A request is never crashed into the poison threshold.
- `Duplicate(pick, now=False)` copies an engine message already processed (one of the last three), as a
  redelivery would; `now=True` delivers the copy at once.
- `SendSignal()` sends the next signal of the run's `signals` (a no-op when all are sent).

After the schedule, the runner sends the signals not yet sent and drains: it delivers the rest oldest
first, skipping time ahead when only delayed messages (timers, retry backoff) are left. The outcome is
the job's status, data and error, with counts of what happened; compare it with `reference()` (the same
job with no faults) or assert your own property.

The runner needs a mesh that runs nothing by itself (`engine=False`, no workers): it is the only one to
touch the app's streams while it runs. It drives the engine's and the worker actor's step code directly
(`Engine.process_rows`, `WorkerActor`'s message handling); see docs/testing.md.
"""

from __future__ import annotations

import collections
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import attrs

from hotmesh_actors.chaos.run import graph_worker_topics
from hotmesh_actors.core.keys import job_key
from hotmesh_actors.errors import ConfigurationError
from hotmesh_actors.mesh.engine import Engine
from hotmesh_actors.mesh.hotmesh import HotMesh
from hotmesh_actors.mesh.worker import Worker, WorkerActor
from hotmesh_actors.store.driver import Connection, Statement
from hotmesh_actors.store.schedule import ScheduleStreams
from hotmesh_actors.store.streams import ClaimedMessage

JSON = Any
RUNNER_CONSUMER = "schedule-runner"
"""The consumer id the runner leases worker requests to."""


@attrs.frozen
class Deliver:
    """Deliver the `pick`-th deliverable message of a stream (modulo their number); `crash` before COMMIT."""

    stream: Literal["engine", "worker"]
    pick: int
    crash: bool = False


@attrs.frozen
class Duplicate:
    """Copy one of the last three processed engine messages (`pick` modulo three); deliver it `now` or later."""

    pick: int
    now: bool = False


@attrs.frozen
class SendSignal:
    """Send the run's next planned signal."""


Step = Deliver | Duplicate | SendSignal
SignalPlan = tuple[str, Callable[[str], Mapping[str, JSON]]]
"""A signal to send during a run: its topic and a function of the job id returning its data."""


@attrs.frozen(kw_only=True)
class ScheduleOutcome:
    """What became of the job, and what the schedule did to it."""

    job_id: str
    status: int
    data: Mapping[str, JSON]
    error: JSON
    """The job's error (`metadata.err`), or None."""
    deliveries: int
    crashes: int
    duplicates: int
    callback_runs: Mapping[tuple[str, str], int]
    """Worker callback runs per (activity id, dimension)."""
    dead_lettered: int

    @property
    def result(self) -> tuple[int, Mapping[str, JSON], JSON]:
        """(status, data, error): what a crash-free run must also end with."""
        return self.status, self.data, self.error


class _Crash(BaseException):
    """Ends a worker's handling between its callback and the commit of its reply, as a kill would.

    A BaseException, so the consumer's failure handling (which catches Exception) does not see it."""


class _Rollback(Exception):
    """Rolls an engine step's transaction back after its work (a kill before COMMIT)."""


class ScheduleRunner:
    """Runs jobs of the mesh's active app version under schedules (see the module docstring).

    Raises ConfigurationError when the mesh runs an engine or workers, or a worker topic of the app has no
    worker in `workers`.
    """

    def __init__(self, mesh: HotMesh, workers: Sequence[Worker]) -> None:
        if mesh.engine is not None or mesh.workers:
            raise ConfigurationError("a ScheduleRunner needs a mesh that runs nothing by itself: open it with "
                                     "engine=False and no workers (give the workers to the runner)")
        self.mesh = mesh
        self._runs: collections.Counter[tuple[str, str]] = collections.Counter()
        self._engine_rows = ScheduleStreams(mesh.db, mesh.jobs.engine_streams)
        self._worker_rows = ScheduleStreams(mesh.db, mesh.jobs.worker_streams)
        self._engine = Engine(jobs=mesh.jobs, versions=mesh.versions, settings=mesh.settings,
                              engine_settings=mesh.engine_settings)
        self._actors: dict[str, WorkerActor] = {}
        for worker in workers:
            actor = WorkerActor(worker=attrs.evolve(worker, callback=self._counted(worker)),
                                worker_streams=mesh.jobs.worker_streams, engine_streams=mesh.jobs.engine_streams,
                                settings=mesh.settings)
            actor.consumer_id = RUNNER_CONSUMER
            self._actors[worker.topic] = actor

    def _counted(self, worker: Worker) -> Any:
        callback = worker.callback

        async def counted(message: Any) -> Any:
            self._runs[(message.metadata.aid, message.metadata.dad)] += 1
            return await callback(message)

        return counted

    async def reference(self, topic: str, data: Mapping[str, JSON] | None = None, *,
                        signals: Sequence[SignalPlan] = (), job_id: str | None = None) -> ScheduleOutcome:
        """The same job with no faults: every message delivered oldest first, signals sent at the start."""
        return await self.run(topic, data, [], signals=signals, job_id=job_id)

    async def run(self, topic: str, data: Mapping[str, JSON] | None, schedule: Sequence[Step], *,
                  signals: Sequence[SignalPlan] = (), job_id: str | None = None,
                  max_drain: int = 1000) -> ScheduleOutcome:
        """Start a job on `topic`, apply `schedule`, drain, and return the outcome.

        Raises ConfigurationError when the app has a worker topic the runner has no worker for, and
        AssertionError when the job still has messages after `max_drain` deliveries (a livelock).
        """
        app = await self.mesh.versions.active()
        missing = sorted(graph_worker_topics(app) - set(self._actors))
        if missing:
            raise ConfigurationError(f"no worker given for the app's worker topics {', '.join(missing)}")
        engine_mark = await self._engine_rows.watermark()
        worker_mark = await self._worker_rows.watermark()
        job_id = job_id or f"schedule-{uuid.uuid4().hex[:16]}"
        self._runs.clear()
        counts = collections.Counter[str]()
        pending_signals = list(signals)
        await self.mesh.pub(topic, dict(data or {}), job_id=job_id)
        for step in schedule:
            if isinstance(step, SendSignal):
                if pending_signals:
                    await self._signal(pending_signals.pop(0), job_id)
            elif isinstance(step, Duplicate):
                processed = (await self._engine_rows.processed(engine_mark))[-3:]
                if processed:
                    copy = await self._engine_rows.duplicate(processed[step.pick % len(processed)])
                    counts["duplicates"] += 1
                    if step.now:
                        await self._step_engine(copy, crash=False, counts=counts)
            else:
                rows = self._engine_rows if step.stream == "engine" else self._worker_rows
                ids = await rows.deliverable(engine_mark if step.stream == "engine" else worker_mark)
                if not ids:
                    continue
                row_id = ids[step.pick % len(ids)]
                if step.stream == "engine":
                    await self._step_engine(row_id, crash=step.crash, counts=counts)
                else:
                    await self._step_worker(row_id, crash=step.crash, counts=counts)
        for plan in pending_signals:
            await self._signal(plan, job_id)
        await self._drain(engine_mark, worker_mark, max_drain, counts)
        state = await self.mesh.jobs.load(job_key(self.mesh.app_id, job_id))
        assert state is not None, f"job {job_id} vanished"
        dead = await self._engine_rows.dead_lettered(engine_mark) + await self._worker_rows.dead_lettered(worker_mark)
        return ScheduleOutcome(job_id=job_id, status=state.status, data=dict(state.data),
                               error=state.metadata.get("err"), deliveries=counts["deliveries"],
                               crashes=counts["crashes"], duplicates=counts["duplicates"],
                               callback_runs=dict(self._runs), dead_lettered=dead)

    async def _signal(self, plan: SignalPlan, job_id: str) -> None:
        topic, data = plan
        await self.mesh.signal(topic, dict(data(job_id)))

    async def _step_engine(self, row_id: int, *, crash: bool, counts: collections.Counter[str]) -> None:
        app = await self.mesh.versions.active()
        lock = self._engine_rows.sql("lock_engine_row")

        async def step(conn: Connection) -> None:
            async with conn.transaction():
                rows = await conn.fetch(lock, row_id)
                if rows:
                    await self._engine.process_rows(conn, app, rows, isolate=True)
                    if crash:
                        raise _Rollback

        try:
            await self.mesh.db.with_connection(step)
        except _Rollback:
            counts["crashes"] += 1
        counts["deliveries"] += 1

    async def _step_worker(self, row_id: int, *, crash: bool, counts: collections.Counter[str]) -> None:
        claimed = await self._worker_rows.claim(row_id, RUNNER_CONSUMER)
        if claimed is None:
            return
        actor = self._actors.get(claimed.stream_name)
        if actor is None:
            raise ConfigurationError(f"no worker given for topic {claimed.stream_name!r}")
        handler = actor.handler
        if crash and claimed.delivery_count < self.mesh.settings.poison_threshold:
            async def crashing(message: ClaimedMessage) -> Sequence[Statement] | None:
                await handler(message)
                raise _Crash

            actor.handler = crashing
        try:
            await actor._process(claimed)  # the consumer's own path: callback, reply + ack, retry, dead letter
        except _Crash:
            counts["crashes"] += 1
        finally:
            actor.handler = handler
        counts["deliveries"] += 1

    async def _drain(self, engine_mark: int, worker_mark: int, max_drain: int,
                     counts: collections.Counter[str]) -> None:
        for _ in range(max_drain):
            engine = await self._engine_rows.deliverable(engine_mark)
            if engine:
                await self._step_engine(engine[0], crash=False, counts=counts)
                continue
            worker = await self._worker_rows.deliverable(worker_mark)
            if worker:
                await self._step_worker(worker[0], crash=False, counts=counts)
                continue
            soonest: tuple[datetime, ScheduleStreams, int] | None = None
            for rows, mark in ((self._engine_rows, engine_mark), (self._worker_rows, worker_mark)):
                found = await rows.next_delayed(mark)
                if found is not None and (soonest is None or found[1] < soonest[0]):
                    soonest = (found[1], rows, found[0])
            if soonest is None:
                return
            _, rows, row_id = soonest
            await rows.make_visible(row_id)  # only timers are left: skip time ahead to the next one
        raise AssertionError(f"the job still had messages after {max_drain} deliveries")
