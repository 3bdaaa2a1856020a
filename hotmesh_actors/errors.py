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
