"""Starting and reaching workflows: `Client`, its `workflow` namespace, and workflow handles.

Written against any DurableBackend. Phase 1 builds it on the in-memory backend
(:class:`hotmesh_actors.durable.testing.WorkflowEnvironment`); phase 2 adds `Client.open(dsn=...)` on Postgres.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from hotmesh_actors.clock import new_guid
from hotmesh_actors.core.durations import RetryPolicy
from hotmesh_actors.durable.backend import DurableBackend, WorkflowDescription, WorkflowStart, WorkflowStatus
from hotmesh_actors.durable.failures import error_of
from hotmesh_actors.durable.values import (
    identifier,
    retry_policy_argument,
    seconds,
    to_json,
    to_json_args,
    workflow_name,
)

JSON = Any


class WorkflowHandle:
    """A started workflow, by id (`client.workflow.get_handle(id)` makes one without I/O)."""

    def __init__(self, backend: DurableBackend, workflow_id: str) -> None:
        self._backend = backend
        self.workflow_id = workflow_id

    async def result(self) -> JSON:
        """Wait for the workflow to finish; → its return value.

        Raises DurableFatalError (598: a fatal error, NonDeterminismError, UnknownActivityError…),
        DurableMaxedError (597: retries used up), CancelledFailure (cancelled), InterruptedJobError (410:
        terminated), JobNotFoundError. Bound the wait with `trio.fail_after`.
        """
        described = await self._backend.wait_closed(self.workflow_id)
        if described.status is WorkflowStatus.COMPLETED:
            return described.result
        assert described.failure is not None
        raise error_of(described.failure)

    async def describe(self) -> WorkflowDescription:
        """The workflow as stored now (status, result or failure, history, search fields, entity)."""
        return await self._backend.describe(self.workflow_id)

    async def status(self) -> int:
        """The job semaphore: > 0 running, 0 done, < 0 interrupted."""
        return (await self.describe()).semaphore

    async def query_state(self, fields: Sequence[str]) -> dict[str, JSON]:
        """The workflow's searchable fields named in `fields` (None for those unset)."""
        search = (await self.describe()).search
        return {name: search.get(name) for name in fields}

    async def export(self) -> dict[str, JSON]:
        """Status, result or error, history (calls in order with outcomes), search fields and entity."""
        described = await self.describe()
        failure = described.failure
        return {"workflow_id": described.workflow_id, "workflow_name": described.workflow_name,
                "status": described.status.value, "generation": described.generation,
                "result": described.result,
                "error": None if failure is None else {"type": failure.type, "message": failure.message,
                                                       "code": failure.code},
                "history": described.history.to_json(), "search": dict(described.search),
                "entity": described.entity}

    async def signal(self, signal_id: str, data: object = None) -> None:
        """Send a signal (as `client.workflow.signal`)."""
        await self._backend.signal(identifier("signal_id", signal_id), to_json(data, "signal data"))

    async def cancel(self) -> None:
        """Ask the workflow to stop: its next durable call (or the `sleep`/`condition` it waits in) raises
        CancelledFailure inside it. Cooperative: the workflow may clean up, or even carry on."""
        await self._backend.request_cancel(self.workflow_id)

    async def terminate(self, reason: str | None = None) -> None:
        """Stop the workflow now (the engine's interrupt): nothing of it runs afterwards; `result()` raises
        InterruptedJobError."""
        await self._backend.terminate(self.workflow_id, reason)

    interrupt = terminate

    def __repr__(self) -> str:
        return f"<WorkflowHandle {self.workflow_id!r}>"


class WorkflowClient:
    """`client.workflow`: start workflows, get handles, send signals."""

    def __init__(self, backend: DurableBackend, namespace: str) -> None:
        self._backend = backend
        self._namespace = namespace

    async def start(self, workflow: Callable[..., Awaitable[Any]] | str, *, args: Sequence[object] = (),
                    task_queue: str, workflow_id: str | None = None, retry_policy: RetryPolicy | None = None,
                    expire: float | str | None = None, search: dict[str, object] | None = None) -> WorkflowHandle:
        """Start `workflow(*args)` on `task_queue`; → its handle.

        Raises SerializationError (naming the bad value's path) or InvalidArgumentError before anything is
        written, DuplicateJobError when a live workflow has `workflow_id` (it is left untouched).
        """
        name = workflow_name(workflow)
        values = to_json_args(list(args))
        queue = identifier("task_queue", task_queue)
        chosen = new_guid() if workflow_id is None else identifier("workflow_id", workflow_id)
        policy = retry_policy_argument("retry_policy", retry_policy)
        start = WorkflowStart(workflow_id=chosen, workflow_name=name, task_queue=queue, args=values,
                              namespace=self._namespace, retry_policy=policy,
                              expire=None if expire is None else seconds("expire", expire),
                              search=None if search is None else to_json(search, "search"))
        await self._backend.start_workflow(start)
        return WorkflowHandle(self._backend, chosen)

    def get_handle(self, workflow_id: str) -> WorkflowHandle:
        """A handle on `workflow_id` (no I/O; its calls raise JobNotFoundError for an unknown id)."""
        return WorkflowHandle(self._backend, identifier("workflow_id", workflow_id))

    async def signal(self, signal_id: str, data: object = None) -> None:
        """Deliver `data` to the condition waiting on `signal_id`, or keep it until one waits."""
        await self._backend.signal(identifier("signal_id", signal_id), to_json(data, "signal data"))


class Client:
    """The durable client of one namespace: ``client.workflow.start(...)``, handles, signals."""

    def __init__(self, backend: DurableBackend, *, namespace: str = "durable") -> None:
        self.backend = backend
        self.namespace = namespace
        self.workflow = WorkflowClient(backend, namespace)
