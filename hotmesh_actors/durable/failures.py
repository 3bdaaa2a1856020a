"""Errors as history stores them (a Failure: class name, message, code) and back as the exception to raise.

An activity's or child's failure is recorded once and raised again at the workflow's call site on every
replay, so the mapping must be stable: the Durable error classes and the engine's job errors come back as
themselves; anything else comes back by code (596 DurableTimeoutError, 597 DurableMaxedError, otherwise
DurableFatalError) with the original class name and message kept in the text.
"""

from __future__ import annotations

from hotmesh_actors.durable.history import Failure
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
)

RETRYABLE_CODE = 599
"""A plain exception's code: retried per policy (SPEC §7)."""


def failure_of(error: BaseException) -> Failure:
    """The Failure to record for `error` (its class name, message and code)."""
    if isinstance(error, CancelledFailure):
        return Failure(type="CancelledFailure", message=error.message, code=error.code)
    if isinstance(error, UnknownActivityError):
        return Failure(type="UnknownActivityError", message=str(error), code=error.code,
                       details={"activity": error.activity, "task_queue": error.task_queue,
                                "served": list(error.served)})
    if isinstance(error, NonDeterminismError):
        return Failure(type="NonDeterminismError", message=str(error), code=error.code,
                       details={"workflow_id": error.workflow_id, "index": error.index, "recorded": error.recorded,
                                "requested": error.requested})
    if isinstance(error, DurableError):
        return Failure(type=type(error).__name__, message=error.message, code=error.code)
    if isinstance(error, InterruptedJobError):
        return Failure(type="InterruptedJobError", message=str(error), code=410,
                       details={"job_id": error.job_id, "reason": error.reason})
    if isinstance(error, DuplicateJobError):
        return Failure(type="DuplicateJobError", message=str(error), code=409, details={"job_id": error.job_id})
    if isinstance(error, SerializationError):
        return Failure(type="SerializationError", message=str(error), code=598, details={"path": error.path})
    code = getattr(error, "code", None)
    return Failure(type=type(error).__name__, message=str(error) or type(error).__name__,
                   code=code if isinstance(code, int) and not isinstance(code, bool) else RETRYABLE_CODE)


def error_of(failure: Failure) -> BaseException:
    """The exception a workflow sees for a recorded failure."""
    details = failure.details if isinstance(failure.details, dict) else {}
    kind = failure.type
    if kind == "CancelledFailure":
        return CancelledFailure(failure.message)
    if kind == "UnknownActivityError":
        return UnknownActivityError(str(details.get("activity", "")), str(details.get("task_queue", "")),
                                    tuple(str(name) for name in details.get("served", ())))
    if kind == "NonDeterminismError" and details:
        return NonDeterminismError(str(details.get("workflow_id")), int(details.get("index", -1)),
                                   str(details.get("recorded")), str(details.get("requested")))
    if kind == "InterruptedJobError":
        reason = details.get("reason")
        return InterruptedJobError(str(details.get("job_id", "")), reason if isinstance(reason, str) else None)
    if kind == "DuplicateJobError":
        return DuplicateJobError(failure.message, job_id=str(details.get("job_id", "")))
    if kind == "JobNotFoundError":
        return JobNotFoundError(str(details.get("job_id", "")))
    by_name: dict[str, type[DurableError]] = {"DurableFatalError": DurableFatalError,
                                              "DurableMaxedError": DurableMaxedError,
                                              "DurableTimeoutError": DurableTimeoutError}
    if kind in by_name:
        return by_name[kind](failure.message, code=failure.code)
    message = failure.message if kind in ("DurableError", "SerializationError") else f"{kind}: {failure.message}"
    if failure.code == 596:
        return DurableTimeoutError(message)
    if failure.code == 597:
        return DurableMaxedError(message)
    return DurableFatalError(message, code=failure.code if failure.code in (598,) else 598)
