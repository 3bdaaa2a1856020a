"""Typed errors raised by hotmesh_actors: each says what went wrong, where, and what to do."""

from __future__ import annotations


class HotMeshError(Exception):
    """Base class of every error this library raises on purpose."""


class ConfigurationError(HotMeshError):
    """A setting (DSN, app id, environment variable) is missing or malformed."""


class DatabaseUnavailableError(HotMeshError):
    """Postgres could not be reached or started; the message names the DSN or data dir tried."""


class GraphValidationError(HotMeshError):
    """A YAML graph failed validation; carries the file, line, column and key path of the fault.

    `str(err)` reads like ``order.yaml:14:7 graphs[0].activities.reserve.type: 'wokrer' is not one of …``.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        path: str = "",
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        location = ":".join(
            str(part) for part in (file or "<inline>", line, column) if part is not None
        )
        prefix = f"{location} {path}: " if path else f"{location}: "
        super().__init__(prefix + message)


class UnknownPipeFunctionError(HotMeshError, ValueError):
    """A `{@domain.fn}` cell names a domain or function the catalog does not have."""


class PipeEvaluationError(HotMeshError):
    """A @pipe function raised while a mapping was evaluated (e.g. @json.parse on bad text)."""


class StreamError(HotMeshError):
    """A stream operation failed (publish, claim, ack)."""


class LeaseExpiredError(StreamError):
    """A consumer lost its lease on a claimed message; the message is left for reclaim."""


class SupervisorGaveUpError(HotMeshError):
    """An actor kept failing past its restart limit; the last failure is attached as __cause__."""


class DuplicateJobError(HotMeshError):
    """A job with this id is still live (`Duplicate job: <id>`); the original job is unaffected."""

    def __init__(self, message: str, *, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class JobNotFoundError(HotMeshError, LookupError):
    """No job has this id (`Job <id> not found`)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"Job {job_id} not found")
        self.job_id = job_id


class JobAlreadyCompletedError(HotMeshError):
    """An interrupt was sent to a job that had already finished (`Job <id> already completed`)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"Job {job_id} already completed")
        self.job_id = job_id


class PubSubTimeout(HotMeshError, TimeoutError):
    """`pubsub` gave up waiting for the job to finish (code 504); the job keeps running."""

    def __init__(self, job_id: str, timeout: float) -> None:
        super().__init__(f"timeout: job {job_id} did not finish within {timeout} s")
        self.job_id = job_id
        self.code = 504


class JobFailedError(HotMeshError):
    """The job finished in error (its `metadata.err`): carries the code, message and job id.

    `error` is the parsed `metadata.err` (HotMesh's `{message, code, is_stream_error}`), the object HotMesh's
    `pubsub` rejects with as `{error, job_id}`.
    """

    def __init__(self, job_id: str, code: int, message: str, error: object = None) -> None:
        super().__init__(f"job {job_id} failed with {code}: {message}")
        self.job_id = job_id
        self.code = code
        self.message = message
        self.error = error


class UnknownTopicError(HotMeshError, LookupError):
    """No graph of the active version subscribes to this topic."""


class NotActivatedError(HotMeshError):
    """The app has no active version yet: deploy and activate one first."""


class InvalidPayloadError(HotMeshError, TypeError):
    """A payload is not a JSON object of JSON-serialisable values."""


class InvalidArgumentError(HotMeshError, ValueError, TypeError):
    """An argument of a mesh call has the wrong type or value (an empty or non-string job id, a NUL character,
    a negative timeout …); `argument` names it. Raised before anything is written. It is both a ValueError
    and a TypeError, so code that catches either for bad arguments keeps working."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(message)
        self.argument = argument


class MalformedReplyError(InvalidPayloadError):
    """A worker callback returned what the callback contract does not allow (docs/workers.md).

    E.g. a list instead of a dict, a `code` that is not an integer, an unknown `status`, or an echoed
    `metadata` whose `jid`/`gid`/`aid`/`dad`/`guid` differ from the request's. The job receives an error
    reply (code 500) naming the fault; it is retried only if the worker's own `retry_policy` asks.
    """


class InterruptedJobError(HotMeshError):
    """The job or workflow was interrupted (terminated) before it finished (code 410).

    Raised by a Durable handle's `result()` for a terminated workflow, and by a parent's `execute_child` when
    its child was terminated. `reason` is the reason given to `terminate`/`interrupt`, if any.
    """

    code = 410

    def __init__(self, job_id: str, reason: str | None = None) -> None:
        super().__init__(f"job {job_id} was interrupted" + (f": {reason}" if reason else ""))
        self.job_id = job_id
        self.reason = reason


class WorkflowUsageError(HotMeshError, RuntimeError):
    """A Durable call was made where it cannot work: `wf.sleep` outside a workflow function, or
    `durable.activity.info()` outside an activity. The message names the call and where it may be made."""


class SerializationError(HotMeshError, TypeError):
    """A value Durable must store is not JSON that Postgres can hold; `path` names it (``args[1]['items'][2]``).

    Raised by `client.workflow.start` before anything is written, and inside a workflow at the call site of
    the durable call whose arguments (or the workflow's result, or signal data) hold the value. Uncaught in a
    workflow, it ends the workflow with DurableFatalError (598), unretried: replaying would fail the same way.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class DurableError(HotMeshError):
    """Base class of the errors a Durable workflow or activity raises on purpose; `.code` is its status code.

    Subclasses carry HotMesh's codes: DurableTimeoutError 596, DurableMaxedError 597, DurableFatalError 598.
    """

    code: int = 500

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class DurableFatalError(DurableError):
    """Fail without retry (598). Raise it in an activity to fail the call at once; raised at a workflow's call
    site (and from `result()`) when a step failed for good."""

    code = 598


class DurableMaxedError(DurableError):
    """An activity or workflow used up its retry policy's attempts (597); the message quotes the last error."""

    code = 597


class DurableTimeoutError(DurableError):
    """An activity attempt outran its `start_to_close_timeout` (596); not retried."""

    code = 596


class NonDeterminismError(DurableFatalError):
    """Replay found the workflow asking for a different step than its history holds at that index.

    The workflow ends with this error (598) and its history is kept for inspection. `index` is the call's
    position, `recorded` what history holds there (e.g. ``activity 'charge'``), `requested` what the code asked.
    """

    def __init__(self, workflow_id: str, index: int, recorded: str, requested: str) -> None:
        super().__init__(
            f"workflow {workflow_id}: non-deterministic replay at call {index}: history holds {recorded}, the code "
            f"asked for {requested}; workflow code must make the same durable calls in the same order on every "
            "run (use wf.patched() to change running workflows)")
        self.workflow_id = workflow_id
        self.index = index
        self.recorded = recorded
        self.requested = requested


class UnknownActivityError(DurableFatalError):
    """No live worker of the activity's task queue serves this activity name (598, not retried)."""

    def __init__(self, activity: str, task_queue: str, served: tuple[str, ...] = ()) -> None:
        names = ", ".join(repr(name) for name in served) or "none"
        super().__init__(f"unknown activity {activity!r} on task queue {task_queue!r}: the live workers of that "
                         f"queue serve {names}")
        self.activity = activity
        self.task_queue = task_queue
        self.served = served


class CancelledFailure(BaseException):
    """The workflow was cancelled (`handle.cancel()`); raised inside it at its next durable call, or at a `sleep`
    or `condition` it is paused in.

    It derives from BaseException, like `trio.Cancelled`, so a workflow's `except Exception` cannot swallow its
    cancellation by accident; catch it by name (or test `wf.is_cancellation(err)`) to clean up, and run durable
    cleanup calls inside `with wf.CancellationScope.non_cancellable():`. Uncaught, the workflow ends cancelled
    (code 598) and its handle's `result()` raises CancelledFailure.
    """

    code = 598

    def __init__(self, message: str = "workflow cancelled") -> None:
        super().__init__(message)
        self.message = message


class UnroutableEscalationError(HotMeshError):
    """An escalation's wake cannot be addressed to its hook: the hook rule on the row's topic matches the signal
    with a pipe rather than a plain ``{$self.hook.data.<field>}`` reference (or no active version listens on the
    topic). Nothing was written; signal the hook with `mesh.signal` instead."""


class MeshClosedError(HotMeshError):
    """A mesh method was called on an asyncio host after its `async with HotMesh.open(...)` block ended (or while
    it was stopping): open the mesh again, or call it inside the block."""
