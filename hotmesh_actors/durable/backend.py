"""What Durable needs from the engine: the :class:`DurableBackend` protocol, and the data it exchanges.

Durable's workers and client are written against this protocol only. Phase 1 implements it in memory
(:mod:`hotmesh_actors.durable.testing`), for unit tests of workflow code; phase 2 implements it on Postgres on
the engine's lean step path (docs/dev/durable_engine.md says how). Every method that changes state is ONE
transaction in the Postgres implementation: that is what makes each durable step exactly-once in effect.

Two task kinds flow through a task queue, as in Temporal:

- a *workflow task* ("workflow X has new events") is decided by the worker's pure
  :class:`~hotmesh_actors.durable.runner.WorkflowRunner` *inside* the backend's transaction
  (:meth:`DurableBackend.process_workflow_task`), so loading the history, deciding, appending the new calls,
  carrying out their commands and acknowledging the task commit together or not at all;
- an *activity task* is leased (:meth:`DurableBackend.claim_activity`), run outside any transaction, and its
  outcome recorded (with the workflow task it causes) in one transaction
  (:meth:`DurableBackend.complete_activity`), or put back for a later attempt
  (:meth:`DurableBackend.retry_activity`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection
from typing import Any, Protocol

import attrs

from hotmesh_actors.core.durations import RetryPolicy
from hotmesh_actors.durable.history import Failure, History, Outcome, Turn
from hotmesh_actors.durable.runner import WorkflowTask

JSON = Any

Decide = Callable[[WorkflowTask], Turn]
"""The worker's pure decision, called by the backend inside its transaction."""


@attrs.frozen(kw_only=True)
class WorkflowStart:
    """A workflow to start: `workflow_name(*args)` as `workflow_id` on `task_queue`.

    A child carries its parent's id, the parent's call index that awaits it (`parent_index`, None for
    `start_child`) and the id of the root of its tree (`origin_workflow_id`).
    """

    workflow_id: str
    workflow_name: str
    task_queue: str
    args: list[JSON] = attrs.field(factory=list)
    namespace: str = "durable"
    retry_policy: RetryPolicy | None = None
    parent_workflow_id: str | None = None
    parent_index: int | None = None
    origin_workflow_id: str | None = None
    expire: float | None = None
    """Seconds a finished workflow stays readable before it may be pruned (None: the engine's default)."""
    search: dict[str, JSON] | None = None


class WorkflowStatus(enum.StrEnum):
    """Where a workflow stands. Only RUNNING is live; the others are final."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TERMINATED = "terminated"


INTERRUPTED_STATUS = -1_000_000_000
"""The semaphore of a terminated workflow (the engine's interrupted range, SPEC §1.7)."""


@attrs.frozen(kw_only=True)
class WorkflowDescription:
    """A workflow as stored: its status and, once finished, its result or failure; its history and data."""

    workflow_id: str
    workflow_name: str
    task_queue: str
    status: WorkflowStatus
    generation: int = 0
    attempt: int = 1
    result: JSON = None
    failure: Failure | None = None
    history: History = attrs.field(factory=History)
    search: dict[str, JSON] = attrs.field(factory=dict)
    entity: JSON = None
    parent_workflow_id: str | None = None
    origin_workflow_id: str | None = None

    @property
    def semaphore(self) -> int:
        """The engine's job status for the workflow: > 0 running, 0 finished, < 0 terminated."""
        if self.status is WorkflowStatus.RUNNING:
            return 1
        return INTERRUPTED_STATUS if self.status is WorkflowStatus.TERMINATED else 0


@attrs.frozen(kw_only=True)
class ActivityTask:
    """One attempt of an activity call, leased by an activity worker."""

    workflow_id: str
    workflow_name: str
    generation: int
    index: int
    name: str
    args: list[JSON]
    task_queue: str
    retry_policy: RetryPolicy
    start_to_close_timeout: float | None = None
    attempt: int = 1
    lease: str = ""
    """The backend's handle on this lease (a stream row id in phase 2)."""


class DurableBackend(Protocol):
    """The engine operations Durable runs on (see the module docstring for the transaction rules)."""

    # -- the client's side ------------------------------------------------------------------------------

    async def start_workflow(self, start: WorkflowStart) -> None:
        """Create the workflow's job and queue its first workflow task, in one transaction.

        Raises DuplicateJobError when a live workflow has this id (it is left untouched).
        """

    async def signal(self, signal_id: str, data: JSON) -> None:
        """Deliver `data` to the condition waiting on `signal_id` (record its outcome and queue a workflow
        task, in one transaction), or keep it until a condition on `signal_id` registers."""

    async def request_cancel(self, workflow_id: str) -> None:
        """Append a cancellation event to a running workflow's history and queue a workflow task.

        Raises JobNotFoundError for an unknown id; a finished workflow is left as it is.
        """

    async def terminate(self, workflow_id: str, reason: str | None = None) -> None:
        """Interrupt the workflow's job: status into the interrupted range, its queued and delayed work purged,
        its pending escalations cancelled, its parent told (InterruptedJobError), all in one transaction.
        Nothing of the workflow runs afterwards. Raises JobNotFoundError; a finished workflow is left alone.
        """

    async def describe(self, workflow_id: str) -> WorkflowDescription:
        """The workflow as stored now. Raises JobNotFoundError."""

    async def wait_closed(self, workflow_id: str) -> WorkflowDescription:
        """Wait until the workflow is final and return it (bound the wait with `trio.fail_after`)."""

    # -- workers -------------------------------------------------------------------------------------------

    async def register_worker(self, worker_id: str, task_queue: str, *, workflows: Collection[str],
                              activities: Collection[str]) -> None:
        """Record (and keep alive) what a worker serves on `task_queue`: an activity call to a name that no live
        worker of the queue serves fails with UnknownActivityError, while a queue with no live worker waits."""

    async def unregister_worker(self, worker_id: str) -> None:
        """The worker stops: forget what it serves."""

    async def process_workflow_task(self, task_queue: str, workflows: Collection[str], decide: Decide) -> str | None:
        """Take one runnable workflow task of `task_queue` (for a workflow named in `workflows`) and, in ONE
        transaction: load its WorkflowTask, call `decide`, then append the turn's calls to history, carry out
        each command (activity requests, timers, condition registrations with their escalations, children,
        signals, terminations, search/entity writes), release abandoned timers and registrations, and close,
        fail, retry or continue-as-new the workflow per the turn's status; then acknowledge the task.

        Returns the workflow id decided, or None when no task came within the backend's poll interval. If
        `decide` raises or the commit fails, nothing is written and the error propagates (the caller must then
        discard any live run it kept for that workflow).
        """

    async def claim_activity(self, task_queue: str, activities: Collection[str]) -> ActivityTask | None:
        """Lease the next due activity task of `task_queue` among `activities` (None when none came within the
        poll interval). A lease that is not completed in time is offered again."""

    async def complete_activity(self, task: ActivityTask, outcome: Outcome) -> None:
        """Record the call's outcome in its workflow's history and queue a workflow task, in one transaction
        with releasing the lease. A stale lease, or a workflow that is no longer running, records nothing."""

    async def retry_activity(self, task: ActivityTask, failure: Failure, delay: float) -> None:
        """Release the lease and queue attempt `task.attempt + 1`, due after `delay` seconds (one transaction)."""
