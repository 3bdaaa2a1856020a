"""Durable: workflows as plain async functions, with a Temporal-style API, on the hotmesh_actors engine.

    from hotmesh_actors import durable, RetryPolicy
    from hotmesh_actors.durable import workflow as wf

    async def order_flow(order_id):
        acts = wf.proxy_activities(retry_policy=RetryPolicy(maximum_attempts=5))
        receipt = await acts.charge(order_id, 500)
        ok = await wf.condition(f"approve-{order_id}", timeout="72 hours",
                                escalation=durable.Escalation(role="manager", metadata={"id": order_id}))
        return {"receipt": receipt, "approved": ok}

Workflow code: `durable.workflow` (`wf`). Inside an activity: `durable.activity.info()`. Errors are re-exported
here from `hotmesh_actors.errors`. Phase 1 runs workflows in memory (`hotmesh_actors.durable.testing`); the
Postgres-backed `durable.Worker` and `Client.open` come with phase 2 (docs/durable.md).
"""

from __future__ import annotations

from hotmesh_actors.core.durations import RetryPolicy
from hotmesh_actors.core.escalations import (
    BatchFailure,
    BatchResult,
    ClaimResult,
    Escalation,
    EscalationEntry,
    EscalationResult,
    EscalationStatus,
)
from hotmesh_actors.durable import activity, workflow
from hotmesh_actors.durable.backend import DurableBackend, WorkflowDescription, WorkflowStart, WorkflowStatus
from hotmesh_actors.durable.client import Client, WorkflowClient, WorkflowHandle
from hotmesh_actors.durable.replay import WorkflowInfo, WorkflowInterruption
from hotmesh_actors.errors import (
    CancelledFailure,
    DuplicateJobError,
    DurableError,
    DurableFatalError,
    DurableMaxedError,
    DurableTimeoutError,
    InterruptedJobError,
    JobNotFoundError,
    NonDeterminismError,
    SerializationError,
    UnknownActivityError,
    WorkflowUsageError,
)

__all__ = [
    "BatchFailure",
    "BatchResult",
    "CancelledFailure",
    "ClaimResult",
    "Client",
    "DuplicateJobError",
    "DurableBackend",
    "DurableError",
    "DurableFatalError",
    "DurableMaxedError",
    "DurableTimeoutError",
    "Escalation",
    "EscalationEntry",
    "EscalationResult",
    "EscalationStatus",
    "InterruptedJobError",
    "JobNotFoundError",
    "NonDeterminismError",
    "RetryPolicy",
    "SerializationError",
    "UnknownActivityError",
    "WorkflowClient",
    "WorkflowDescription",
    "WorkflowHandle",
    "WorkflowInfo",
    "WorkflowInterruption",
    "WorkflowStart",
    "WorkflowStatus",
    "WorkflowUsageError",
    "activity",
    "workflow",
]
