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
