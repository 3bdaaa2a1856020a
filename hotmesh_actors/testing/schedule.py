"""Run one job of your graph under a chosen delivery order with crashes and duplicates, on a real database.

A *schedule* is a list of steps. Each step delivers one message the app's streams hold for the job (the
test picks which: `pick` indexes the deliverable messages, oldest first, modulo their number), optionally
crashing it, or injects a duplicate, or sends the next planned signal:

- `Deliver("engine", pick, crash=False)` leases that message and runs the engine's own handling of it (its
  job's step, committed with its ack); `crash=True` runs the step and rolls its transaction back after all
  its work (a process killed before COMMIT): the message stays queued, nothing it decided is kept.
- `Deliver("worker", pick, crash=False)` leases the worker request and runs the worker's own handling
  (your callback, then the reply's step with the ack, retries and dead letters as configured); `crash=True`
  runs your callback and the reply's step, then rolls that back (a kill before the reply commits): the
  request is delivered again later and your callback runs again. A request is never crashed into the
  poison threshold.
- `Duplicate(pick, now=False)` puts back a copy of an engine message already delivered (one of the last
  three), as a redelivery would; `now=True` delivers the copy at once.
- `SendSignal()` sends the next signal of the run's `signals` (a no-op when all are sent).

After the schedule, the runner sends the signals not yet sent and drains: it delivers the rest oldest
first, skipping time ahead when only delayed messages (timers, retry backoff) are left. The outcome is
the job's status, data and error, with counts of what happened; compare it with `reference()` (the same
job with no faults) or assert your own property.

The runner needs a mesh that runs nothing by itself (`engine=False`, no workers): it is the only one to
touch the app's streams while it runs. It hands each message to the engine's and the worker actor's own
handling (`StreamConsumer.handle`), which step the job through the mesh's Stepper; a crash is the Stepper's
`crash_acks` seam (the write that acks that row rolls back). See docs/testing.md.
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
from hotmesh_actors.store.schedule import DeliveredRow, ScheduleStreams
from hotmesh_actors.store.streams import StreamKind

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
        self._delivered: list[DeliveredRow] = []
        self._engine = Engine(jobs=mesh.jobs, versions=mesh.versions, stepper=mesh.stepper, settings=mesh.settings)
        self._engine.consumer_id = RUNNER_CONSUMER
        self._actors: dict[str, WorkerActor] = {}
        for worker in workers:
            actor = WorkerActor(worker=attrs.evolve(worker, callback=self._counted(worker)), jobs=mesh.jobs,
                                settings=mesh.settings, stepper=mesh.stepper)
            actor.consumer_id = RUNNER_CONSUMER
            self._actors[worker.topic] = actor

    @property
    def delivered(self) -> list[DeliveredRow]:
        """The engine rows delivered in the current (or last) run, copies included, oldest first."""
        return list(self._delivered)

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
        run = await self.begin(topic, data, signals=signals, job_id=job_id)
        for step in schedule:
            await run.apply(step)
        return await run.finish(max_drain=max_drain)

    async def begin(self, topic: str, data: Mapping[str, JSON] | None = None, *,
                    signals: Sequence[SignalPlan] = (), job_id: str | None = None) -> ScheduleRun:
        """Start a job and return the run, to apply steps one at a time (a hypothesis state machine's rules)
        and `finish`. Raises ConfigurationError as `run` does."""
        app = await self.mesh.versions.active()
        missing = sorted(graph_worker_topics(app) - set(self._actors))
        if missing:
            raise ConfigurationError(f"no worker given for the app's worker topics {', '.join(missing)}")
        engine_mark = await self._engine_rows.watermark()
        worker_mark = await self._worker_rows.watermark()
        job_id = job_id or f"schedule-{uuid.uuid4().hex[:16]}"
        self._runs.clear()
        self._delivered.clear()
        await self.mesh.pub(topic, dict(data or {}), job_id=job_id)
        return ScheduleRun(self, job_id, engine_mark, worker_mark, list(signals))

    async def _signal(self, plan: SignalPlan, job_id: str) -> None:
        topic, data = plan
        await self.mesh.signal(topic, dict(data(job_id)))

    async def _step_engine(self, row_id: int, *, crash: bool, counts: collections.Counter[str]) -> None:
        leased = await self._engine_rows.claim(row_id, RUNNER_CONSUMER)
        if leased is None:
            return
        claimed, row = leased
        self._delivered.append(row)
        crash = crash and claimed.delivery_count < self.mesh.settings.poison_threshold
        if crash:
            self.mesh.stepper.crash_acks.add((StreamKind.ENGINE, claimed.id))
        await self._engine.handle(claimed)  # the engine's own handling: route, step, ack (or roll back)
        if crash:
            self.mesh.stepper.crash_acks.discard((StreamKind.ENGINE, claimed.id))  # (a signal stored unstepped)
            counts["crashes"] += 1
        counts["deliveries"] += 1

    async def _step_worker(self, row_id: int, *, crash: bool, counts: collections.Counter[str]) -> None:
        leased = await self._worker_rows.claim(row_id, RUNNER_CONSUMER)
        if leased is None:
            return
        claimed, _ = leased
        actor = self._actors.get(claimed.stream_name)
        if actor is None:
            raise ConfigurationError(f"no worker given for topic {claimed.stream_name!r}")
        crashing = crash and claimed.delivery_count < self.mesh.settings.poison_threshold
        if crashing:
            self.mesh.stepper.crash_acks.add((StreamKind.WORKER, claimed.id))
        await actor.handle(claimed)  # the consumer's own path: callback, reply step + ack, retry, dead letter
        if crashing:
            self.mesh.stepper.crash_acks.discard((StreamKind.WORKER, claimed.id))  # (a retry never stepped)
            counts["crashes"] += 1
        counts["deliveries"] += 1

    async def _apply(self, run: ScheduleRun, step: Step) -> None:
        counts = run.counts
        if isinstance(step, SendSignal):
            if run.signals:
                await self._signal(run.signals.pop(0), run.job_id)
        elif isinstance(step, Duplicate):
            # (a copy of an `await` only re-runs the child's duplicate-id check: left out)
            delivered = [row for row in self._delivered if row.msg_type != "await"][-3:]
            if delivered:
                copy = await self._engine_rows.insert_copy(delivered[step.pick % len(delivered)])
                counts["duplicates"] += 1
                if step.now:
                    await self._step_engine(copy, crash=False, counts=counts)
        else:
            rows = self._engine_rows if step.stream == "engine" else self._worker_rows
            ids = await rows.deliverable(run.engine_mark if step.stream == "engine" else run.worker_mark)
            if not ids:
                return
            row_id = ids[step.pick % len(ids)]
            if step.stream == "engine":
                await self._step_engine(row_id, crash=step.crash, counts=counts)
            else:
                await self._step_worker(row_id, crash=step.crash, counts=counts)

    async def _finish(self, run: ScheduleRun, max_drain: int) -> ScheduleOutcome:
        for plan in run.signals:
            await self._signal(plan, run.job_id)
        run.signals.clear()
        await self._drain(run.engine_mark, run.worker_mark, max_drain, run.counts)
        state = await self.mesh.jobs.load(job_key(self.mesh.app_id, run.job_id))
        assert state is not None, f"job {run.job_id} vanished"
        dead = (await self._engine_rows.dead_lettered(run.engine_mark)
                + await self._worker_rows.dead_lettered(run.worker_mark))
        counts = run.counts
        return ScheduleOutcome(job_id=run.job_id, status=state.status, data=dict(state.data),
                               error=state.metadata.get("err"), deliveries=counts["deliveries"],
                               crashes=counts["crashes"], duplicates=counts["duplicates"],
                               callback_runs=dict(self._runs), dead_lettered=dead)

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


class ScheduleRun:
    """One job under a schedule, applied step by step (`ScheduleRunner.begin`)."""

    def __init__(self, runner: ScheduleRunner, job_id: str, engine_mark: int, worker_mark: int,
                 signals: list[SignalPlan]) -> None:
        self.runner = runner
        self.job_id = job_id
        self.engine_mark = engine_mark
        self.worker_mark = worker_mark
        self.signals = signals
        """Planned signals not sent yet."""
        self.counts = collections.Counter[str]()

    async def apply(self, step: Step) -> None:
        """Apply one step of a schedule (a delivery that finds nothing to deliver is a no-op)."""
        await self.runner._apply(self, step)

    async def finish(self, *, max_drain: int = 1000) -> ScheduleOutcome:
        """Send the signals not sent yet, drain, and return the outcome (see `ScheduleRunner.run`)."""
        return await self.runner._finish(self, max_drain)
