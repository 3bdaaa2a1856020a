"""Run workflows in memory: the DurableBackend protocol implemented with dicts and trio, for unit tests.

    async with WorkflowEnvironment.open(workflows=[order_flow], activities=[charge]) as env:
        handle = await env.client.workflow.start(order_flow, args=["A-1"], task_queue=env.task_queue)
        assert await handle.result() == {...}

The environment plays the engine: it keeps each workflow's history, hands workflow tasks to the same worker
loops a real worker runs (durable/worker.py), runs activities with their retry policies and timeouts, fires
timers with `trio.sleep` (instant under `trio.testing.MockClock(autojump_threshold=0)`), routes signals
(buffering early ones), starts children and reports their results to parents. `sticky=False` makes every
workflow task replay from the start instead of resuming a live coroutine.

Nothing here is durable across processes, and there is no transaction: each protocol call is atomic because
it runs without awaiting in between. Escalations of conditions are recorded in `backend.escalations`; their
Postgres rows and `client.escalations` come with phase 2's backend.
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from hotmesh_actors.core.durations import RetryPolicy
from hotmesh_actors.core.escalations import CANCELLED_MARK, Escalation
from hotmesh_actors.durable.backend import (
    ActivityTask,
    Decide,
    WorkflowDescription,
    WorkflowStart,
    WorkflowStatus,
)
from hotmesh_actors.durable.client import Client
from hotmesh_actors.durable.failures import failure_of
from hotmesh_actors.durable.history import (
    AwaitSignal,
    CancelRequested,
    Completed,
    ContinuedAsNew,
    Failed,
    Failure,
    History,
    Outcome,
    Returned,
    ScheduleActivity,
    SendSignal,
    StartChild,
    StartTimer,
    TerminateWorkflow,
    Turn,
    WriteEntity,
    WriteSearch,
)
from hotmesh_actors.durable.replay import WorkflowFunction, WorkflowInfo, WorkflowState
from hotmesh_actors.durable.runner import WorkflowRunner, WorkflowTask
from hotmesh_actors.durable.worker import (
    ActivityFunction,
    activity_table,
    serve_activity_tasks,
    serve_workflow_tasks,
    workflow_table,
)
from hotmesh_actors.errors import DuplicateJobError, InterruptedJobError, JobNotFoundError, UnknownActivityError
from hotmesh_actors.hosts import on_asyncio

log = logging.getLogger("hotmesh_actors.durable")

JSON = Any


@attrs.define
class _Workflow:
    start: WorkflowStart
    args: list[JSON]
    generation: int = 0
    attempt: int = 1
    history: History = attrs.field(factory=History)
    search: dict[str, JSON] = attrs.field(factory=dict)
    entity: JSON = None
    status: WorkflowStatus = WorkflowStatus.RUNNING
    result: JSON = None
    failure: Failure | None = None
    queued: bool = False
    closed: trio.Event = attrs.field(factory=trio.Event)
    timers: dict[int, trio.CancelScope] = attrs.field(factory=dict)
    waits: dict[int, str] = attrs.field(factory=dict)
    """Condition index → signal id, while registered."""
    tasks_decided: int = 0
    parent_generation: int = 0
    not_before: float = 0.0
    """A retried run waits out its backoff: no workflow task before this (trio) time."""


@attrs.frozen(kw_only=True)
class RecordedEscalation:
    """An escalation a condition asked for (what phase 2 writes to `public.hmsh_escalations`)."""

    workflow_id: str
    index: int
    signal_id: str
    escalation: Escalation


class InMemoryBackend:
    """The DurableBackend protocol in memory (see the module docstring). Open it with :meth:`open`."""

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self.workflows: dict[str, _Workflow] = {}
        self._ready: dict[str, deque[str]] = {}
        self._activities: dict[str, list[tuple[float, int, ActivityTask]]] = {}
        self._waiting: dict[str, tuple[str, int]] = {}
        self._pending_signals: dict[str, deque[JSON]] = {}
        self._workers: dict[str, tuple[str, frozenset[str], frozenset[str]]] = {}
        self._wake = trio.Event()
        self._order = itertools.count()
        self._leases = itertools.count(1)
        self.escalations: list[RecordedEscalation] = []
        self.activity_attempts: list[tuple[str, int, str, int]] = []
        """Every activity attempt leased: (workflow id, index, name, attempt)."""

    @classmethod
    @asynccontextmanager
    async def open(cls) -> AsyncIterator[InMemoryBackend]:
        """A backend whose timers run in a nursery that lives for the block."""
        async with trio.open_nursery() as nursery:
            backend = cls(nursery)
            try:
                yield backend
            finally:
                nursery.cancel_scope.cancel()

    # -- helpers ---------------------------------------------------------------------------------------------

    def _get(self, workflow_id: str) -> _Workflow:
        found = self.workflows.get(workflow_id)
        if found is None:
            raise JobNotFoundError(workflow_id)
        return found

    def _poke(self) -> None:
        self._wake.set()
        self._wake = trio.Event()

    def _queue_task(self, workflow: _Workflow) -> None:
        if trio.current_time() < workflow.not_before:
            return  # the retry's own timer queues it
        if workflow.status is WorkflowStatus.RUNNING and not workflow.queued:
            workflow.queued = True
            self._ready.setdefault(workflow.start.task_queue, deque()).append(workflow.start.workflow_id)
            self._poke()

    def _record(self, workflow_id: str, generation: int, index: int, outcome: Outcome) -> bool:
        """Append call `index`'s outcome (once) to a running workflow's history and queue a workflow task."""
        workflow = self.workflows.get(workflow_id)
        if workflow is None or workflow.status is not WorkflowStatus.RUNNING or workflow.generation != generation:
            return False
        if index >= len(workflow.history.calls) or any(
                isinstance(e, Completed) and e.index == index for e in workflow.history.events):
            return False
        workflow.history = workflow.history.with_event(Completed(index, outcome))
        scope = workflow.timers.pop(index, None)
        if scope is not None:
            scope.cancel()
        signal_id = workflow.waits.pop(index, None)
        if signal_id is not None and self._waiting.get(signal_id) == (workflow_id, index):
            del self._waiting[signal_id]
        self._queue_task(workflow)
        return True

    def _arm(self, workflow: _Workflow, index: int, seconds: float, outcome: Outcome) -> None:
        scope = trio.CancelScope()
        workflow.timers[index] = scope
        workflow_id, generation = workflow.start.workflow_id, workflow.generation

        async def fire() -> None:
            with scope:
                await trio.sleep(seconds)
                workflow.timers.pop(index, None)
                self._record(workflow_id, generation, index, outcome)

        self._nursery.start_soon(fire)

    def _served(self, task_queue: str) -> tuple[bool, frozenset[str]]:
        names: set[str] = set()
        live = False
        for queue, _workflows, activities in self._workers.values():
            if queue == task_queue:
                live = True
                names |= activities
        return live, frozenset(names)

    # -- the client's side --------------------------------------------------------------------------------

    async def start_workflow(self, start: WorkflowStart) -> None:
        self._start(start)

    def _start(self, start: WorkflowStart) -> _Workflow:
        existing = self.workflows.get(start.workflow_id)
        if existing is not None and existing.status is WorkflowStatus.RUNNING:
            raise DuplicateJobError(f"Duplicate job: {start.workflow_id}", job_id=start.workflow_id)
        if not any(start.workflow_name in workflows for queue, workflows, _ in self._workers.values()
                   if queue == start.task_queue):
            log.warning("no live worker of task queue %r serves workflow %r; it waits for one",
                        start.task_queue, start.workflow_name)
        workflow = _Workflow(start=start, args=list(start.args), search=dict(start.search or {}))
        self.workflows[start.workflow_id] = workflow
        self._queue_task(workflow)
        return workflow

    async def signal(self, signal_id: str, data: JSON) -> None:
        self._signal(signal_id, data)

    def _signal(self, signal_id: str, data: JSON) -> None:
        target = self._waiting.get(signal_id)
        if target is not None:
            workflow = self.workflows[target[0]]
            self._record(target[0], workflow.generation, target[1], Outcome(value=_condition_value(data)))
        else:
            self._pending_signals.setdefault(signal_id, deque()).append(data)

    async def request_cancel(self, workflow_id: str) -> None:
        workflow = self._get(workflow_id)
        if workflow.status is WorkflowStatus.RUNNING and not workflow.history.cancel_requested:
            workflow.history = workflow.history.with_event(CancelRequested())
            self._queue_task(workflow)

    async def terminate(self, workflow_id: str, reason: str | None = None) -> None:
        self._terminate(workflow_id, reason)

    def _terminate(self, workflow_id: str, reason: str | None) -> None:
        workflow = self.workflows.get(workflow_id)
        if workflow is None:
            raise JobNotFoundError(workflow_id)
        if workflow.status is not WorkflowStatus.RUNNING:
            return
        self._close(workflow, WorkflowStatus.TERMINATED, failure=failure_of(InterruptedJobError(workflow_id, reason)))

    async def describe(self, workflow_id: str) -> WorkflowDescription:
        workflow = self._get(workflow_id)
        return self._describe(workflow)

    @staticmethod
    def _describe(workflow: _Workflow) -> WorkflowDescription:
        start = workflow.start
        return WorkflowDescription(
            workflow_id=start.workflow_id, workflow_name=start.workflow_name, task_queue=start.task_queue,
            status=workflow.status, generation=workflow.generation, attempt=workflow.attempt,
            result=workflow.result, failure=workflow.failure, history=workflow.history,
            search=dict(workflow.search), entity=workflow.entity, parent_workflow_id=start.parent_workflow_id,
            origin_workflow_id=start.origin_workflow_id)

    async def wait_closed(self, workflow_id: str) -> WorkflowDescription:
        workflow = self._get(workflow_id)
        await workflow.closed.wait()
        return self._describe(self.workflows.get(workflow_id, workflow))

    # -- workers ---------------------------------------------------------------------------------------------

    async def register_worker(self, worker_id: str, task_queue: str, *, workflows: Collection[str],
                              activities: Collection[str]) -> None:
        self._workers[worker_id] = (task_queue, frozenset(workflows), frozenset(activities))
        _live, served = self._served(task_queue)
        queued = self._activities.get(task_queue, [])
        for entry in list(queued):
            task = entry[2]
            if task.name not in served:
                queued.remove(entry)
                self._fail_unknown(task, served)

    async def unregister_worker(self, worker_id: str) -> None:
        self._workers.pop(worker_id, None)

    def _fail_unknown(self, task: ActivityTask, served: frozenset[str]) -> None:
        error = UnknownActivityError(task.name, task.task_queue, tuple(sorted(served)))
        self._record(task.workflow_id, task.generation, task.index, Outcome(failure=failure_of(error)))

    async def process_workflow_task(self, task_queue: str, workflows: Collection[str], decide: Decide) -> str | None:
        while True:
            queue = self._ready.get(task_queue, deque())
            for _ in range(len(queue)):
                workflow_id = queue.popleft()
                workflow = self.workflows.get(workflow_id)
                if workflow is None or workflow.status is not WorkflowStatus.RUNNING:
                    continue
                if workflow.start.workflow_name not in workflows:
                    queue.append(workflow_id)
                    continue
                workflow.queued = False
                self._decide(workflow, decide)
                return workflow_id
            await self._wake.wait()

    def _decide(self, workflow: _Workflow, decide: Decide) -> None:
        start = workflow.start
        info = WorkflowInfo(workflow_id=start.workflow_id, workflow_name=start.workflow_name,
                            task_queue=start.task_queue, namespace=start.namespace,
                            parent_workflow_id=start.parent_workflow_id,
                            origin_workflow_id=start.origin_workflow_id, generation=workflow.generation,
                            attempt=workflow.attempt, retry_policy=start.retry_policy)
        task = WorkflowTask(info=info, args=list(workflow.args), history=workflow.history,
                            state=WorkflowState(search=dict(workflow.search), entity=workflow.entity))
        try:
            turn = decide(task)
        except BaseException:
            workflow.queued = False
            self._queue_task(workflow)
            raise
        workflow.tasks_decided += 1
        self._commit(workflow, turn)

    def _commit(self, workflow: _Workflow, turn: Turn) -> None:
        if turn.first_index != len(workflow.history.calls):
            raise RuntimeError(f"turn of {turn.workflow_id} starts at call {turn.first_index}, history has "
                               f"{len(workflow.history.calls)}")
        workflow.history = workflow.history.with_calls(turn.calls, turn.patches)
        for index in turn.abandoned:
            scope = workflow.timers.pop(index, None)
            if scope is not None:
                scope.cancel()
            signal_id = workflow.waits.pop(index, None)
            if signal_id is not None and self._waiting.get(signal_id) == (workflow.start.workflow_id, index):
                del self._waiting[signal_id]
        for index, command in turn.commands:
            self._carry_out(workflow, index, command)
        status = turn.status
        if isinstance(status, Returned):
            self._close(workflow, WorkflowStatus.COMPLETED, result=status.value)
        elif isinstance(status, ContinuedAsNew):
            self._end_generation(workflow)
            workflow.generation += 1
            workflow.attempt = 1
            workflow.args = list(status.args)
            workflow.history = History()
            self._queue_task(workflow)
        elif isinstance(status, Failed):
            policy = workflow.start.retry_policy or RetryPolicy()
            if status.retryable and policy.should_retry(workflow.attempt - 1):
                delay = policy.delay(workflow.attempt - 1)
                workflow.attempt += 1
                workflow.not_before = trio.current_time() + delay
                self._later(workflow, delay)  # its calls in flight stay armed: the retry replays and awaits them
            elif status.retryable:
                self._close(workflow, WorkflowStatus.FAILED, failure=Failure(
                    type="DurableMaxedError", code=597, details={"last_error": status.failure.message},
                    message=f"workflow {turn.workflow_id} failed after {workflow.attempt} attempt(s); last "
                            f"error: {status.failure.type}: {status.failure.message}"))
            else:
                cancelled = status.failure.type == "CancelledFailure"
                self._close(workflow, WorkflowStatus.CANCELLED if cancelled else WorkflowStatus.FAILED,
                            failure=status.failure)

    def _later(self, workflow: _Workflow, delay: float) -> None:
        async def requeue() -> None:
            await trio.sleep(delay)
            self._queue_task(workflow)

        self._nursery.start_soon(requeue)

    def _carry_out(self, workflow: _Workflow, index: int, command: object) -> None:
        workflow_id, generation = workflow.start.workflow_id, workflow.generation
        if isinstance(command, ScheduleActivity):
            live, served = self._served(command.task_queue)
            task = ActivityTask(workflow_id=workflow_id, workflow_name=workflow.start.workflow_name,
                                generation=generation, index=index, name=command.name, args=list(command.args),
                                task_queue=command.task_queue, retry_policy=command.retry_policy,
                                start_to_close_timeout=command.start_to_close_timeout)
            if live and command.name not in served:
                self._fail_unknown(task, served)
            else:
                self._enqueue_activity(task, 0.0)
        elif isinstance(command, StartTimer):
            self._arm(workflow, index, command.seconds, Outcome(value=command.seconds))
        elif isinstance(command, AwaitSignal):
            if command.escalation is not None and not command.escalation.is_empty():
                self.escalations.append(RecordedEscalation(workflow_id=workflow_id, index=index,
                                                           signal_id=command.signal_id,
                                                           escalation=command.escalation))
            buffered = self._pending_signals.get(command.signal_id)
            if buffered:
                data = buffered.popleft()
                if not buffered:
                    del self._pending_signals[command.signal_id]
                self._record(workflow_id, generation, index, Outcome(value=_condition_value(data)))
                return
            self._waiting[command.signal_id] = (workflow_id, index)
            workflow.waits[index] = command.signal_id
            if command.timeout is not None:
                self._arm(workflow, index, command.timeout, Outcome(value=False))
        elif isinstance(command, StartChild):
            self._start_child(workflow, index, command)
        elif isinstance(command, SendSignal):
            self._signal(command.signal_id, command.data)
        elif isinstance(command, TerminateWorkflow):
            if command.workflow_id in self.workflows:
                self._terminate(command.workflow_id, command.reason)
        elif isinstance(command, WriteSearch):
            workflow.search.update(command.set)
            for key in command.delete:
                workflow.search.pop(key, None)
        elif isinstance(command, WriteEntity):
            workflow.entity = command.document

    def _start_child(self, parent: _Workflow, index: int, command: StartChild) -> None:
        parent_id = parent.start.workflow_id
        start = WorkflowStart(
            workflow_id=command.workflow_id, workflow_name=command.workflow_name, task_queue=command.task_queue,
            args=list(command.args), namespace=parent.start.namespace, retry_policy=command.retry_policy,
            parent_workflow_id=parent_id, parent_index=index if command.wait else None,
            origin_workflow_id=parent.start.origin_workflow_id or parent_id, expire=command.expire,
            search=command.search)
        try:
            child = self._start(start)
        except DuplicateJobError as error:
            self._record(parent_id, parent.generation, index, Outcome(failure=failure_of(error)))
            return
        child.parent_generation = parent.generation
        if not command.wait:
            self._record(parent_id, parent.generation, index, Outcome(value=command.workflow_id))

    def _end_generation(self, workflow: _Workflow) -> None:
        """Release what the finished run still holds: timers and condition registrations."""
        for scope in workflow.timers.values():
            scope.cancel()
        workflow.timers.clear()
        for index, signal_id in workflow.waits.items():
            if self._waiting.get(signal_id) == (workflow.start.workflow_id, index):
                del self._waiting[signal_id]
        workflow.waits.clear()

    def _close(self, workflow: _Workflow, status: WorkflowStatus, *, result: JSON = None,
               failure: Failure | None = None) -> None:
        self._end_generation(workflow)
        workflow.status, workflow.result, workflow.failure = status, result, failure
        workflow.queued = False
        workflow.closed.set()
        start = workflow.start
        if start.parent_workflow_id is not None and start.parent_index is not None:
            generation = workflow.parent_generation
            outcome = Outcome(value=result) if status is WorkflowStatus.COMPLETED else Outcome(failure=failure)
            self._record(start.parent_workflow_id, generation, start.parent_index, outcome)

    # -- activities -----------------------------------------------------------------------------------------

    def _enqueue_activity(self, task: ActivityTask, delay: float) -> None:
        due = trio.current_time() + delay
        self._activities.setdefault(task.task_queue, []).append((due, next(self._order), task))
        self._poke()

    async def claim_activity(self, task_queue: str, activities: Collection[str]) -> ActivityTask | None:
        while True:
            queued = self._activities.get(task_queue, [])
            now = trio.current_time()
            live = [entry for entry in queued if self._is_live(entry[2])]
            queued[:] = live
            due = sorted((entry for entry in live if entry[2].name in activities), key=lambda e: (e[0], e[1]))
            if due and due[0][0] <= now:
                entry = due[0]
                queued.remove(entry)
                task = attrs.evolve(entry[2], lease=str(next(self._leases)))
                self.activity_attempts.append((task.workflow_id, task.index, task.name, task.attempt))
                return task
            with trio.move_on_after(due[0][0] - now if due else 1.0):
                await self._wake.wait()

    def _is_live(self, task: ActivityTask) -> bool:
        workflow = self.workflows.get(task.workflow_id)
        return (workflow is not None and workflow.status is WorkflowStatus.RUNNING
                and workflow.generation == task.generation)

    async def complete_activity(self, task: ActivityTask, outcome: Outcome) -> None:
        self._record(task.workflow_id, task.generation, task.index, outcome)

    async def retry_activity(self, task: ActivityTask, failure: Failure, delay: float) -> None:
        if self._is_live(task):
            self._enqueue_activity(attrs.evolve(task, attempt=task.attempt + 1, lease=""), delay)


def _condition_value(data: JSON) -> JSON:
    """What a condition returns for signal data: None for an escalation's cancellation wake, else the data."""
    if isinstance(data, dict) and data.get(CANCELLED_MARK) is True:
        return None
    return data


# -- the environment -------------------------------------------------------------------------------------------


class WorkflowEnvironment:
    """An in-memory durable world for tests: a backend, a worker for one task queue, and a client."""

    def __init__(self, backend: InMemoryBackend, runner: WorkflowRunner, task_queue: str, client: Client) -> None:
        self.backend = backend
        self.runner = runner
        self.task_queue = task_queue
        self.client = client

    @classmethod
    @asynccontextmanager
    async def open(cls, *, workflows: Iterable[WorkflowFunction] | Mapping[str, WorkflowFunction],
                   activities: Iterable[ActivityFunction] | Mapping[str, ActivityFunction] = (),
                   task_queue: str = "default", sticky: bool = True, namespace: str = "durable",
                   activity_concurrency: int = 10) -> AsyncIterator[WorkflowEnvironment]:
        """Serve `workflows` and `activities` on `task_queue` for the duration of the block.

        On an asyncio host the environment runs as a trio guest run on its loop, `async def` activities on
        that loop (durable/hosted.py); `add_activity_worker` takes a trio nursery, so it is for trio hosts.
        """
        if on_asyncio():
            from hotmesh_actors.durable.hosted import open_hosted_environment  # it builds on this module

            async with open_hosted_environment(cls, workflows=workflows, activities=activities, task_queue=task_queue,
                                               sticky=sticky, namespace=namespace,
                                               activity_concurrency=activity_concurrency) as hosted:
                yield hosted
            return
        workflow_fns = workflow_table(workflows)
        activity_fns = activity_table(activities)
        async with InMemoryBackend.open() as backend, trio.open_nursery() as nursery:
            runner = WorkflowRunner(workflow_fns, sticky=sticky)
            await backend.register_worker("memory-worker", task_queue, workflows=workflow_fns,
                                          activities=activity_fns)
            nursery.start_soon(serve_workflow_tasks, backend, runner, task_queue)
            nursery.start_soon(serve_activity_tasks, backend, task_queue, activity_fns)
            try:
                yield cls(backend, runner, task_queue, Client(backend, namespace=namespace))
            finally:
                nursery.cancel_scope.cancel()

    async def add_activity_worker(self, task_queue: str,
                                  activities: Iterable[ActivityFunction] | Mapping[str, ActivityFunction],
                                  nursery: trio.Nursery, *, worker_id: str | None = None) -> None:
        """Serve more activities on another queue (e.g. for `proxy_activities(task_queue=...)`)."""
        table = activity_table(activities)
        await self.backend.register_worker(worker_id or f"memory-{task_queue}", task_queue, workflows=(),
                                           activities=table)
        nursery.start_soon(serve_activity_tasks, self.backend, task_queue, table)


__all__ = ["InMemoryBackend", "RecordedEscalation", "WorkflowEnvironment"]
