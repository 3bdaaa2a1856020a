"""Workers: the user's callbacks bound to worker topics, and the actor that serves one topic.

A callback receives the request (a StreamMessage: `.data`, `.metadata`) and returns a dict
(`{"data": {...}}`, optionally with `status`/`code` and an echoed `metadata`), a :class:`StreamResponse`, or
None (acknowledge and send nothing). Its reply is committed in the SAME transaction that acks the request, and
only while this worker still holds the request's lease, so a reply is taken once. When this process runs an
engine, the reply does not travel: the engine's step for it (the activity's Leg 2, and the next activities'
Leg 1) runs right here, in that transaction (mesh/stepper.py); otherwise it is published to the engine
stream for an engine elsewhere. An
exception, or a reply with status `error`, is retried per the policy :func:`choose_retry_policy` picks (the
worker's own > the activity's YAML `retry:` > the default); when retries are exhausted the engine receives an
error reply `{message, code, …}` (its code routes `conditions: {code: …}` transitions) and the request is
dead-lettered. docs/workers.md is the user's guide to this contract.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

import attrs

from hotmesh_actors.clock import new_guid
from hotmesh_actors.core.durations import (
    DEFAULT_RETRY_POLICY,
    NO_RETRY,
    RetryPolicy,
    choose_retry_policy,
    widest_retry_policy,
)
from hotmesh_actors.core.keys import job_key
from hotmesh_actors.core.messages import MessageStatus, MessageType, StreamMessage, to_wire
from hotmesh_actors.errors import HotMeshError, InvalidPayloadError, MalformedReplyError
from hotmesh_actors.mesh.arguments import check_payload, storable_text
from hotmesh_actors.mesh.consumer import ACKED, Acked, StreamConsumer
from hotmesh_actors.mesh.stepper import Inbound, Result, Stepper
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.driver import Listener, Statement
from hotmesh_actors.store.jobs import JobStore
from hotmesh_actors.store.steps import Ack
from hotmesh_actors.store.streams import ClaimedMessage, Outgoing, StreamKind

JSON = Any

log = logging.getLogger("hotmesh_actors.mesh.worker")

ROUTING_KEYS: Final = ("guid", "jid", "gid", "aid", "dad")
"""Keys of a returned `metadata` that must equal the request's: they say which job and activity the reply is
for, so a reply that names another is refused rather than delivered elsewhere. Other keys are ignored."""

UNKNOWN_ERROR_MESSAGE: Final = "unknown"
"""The message of an error reply that gave none (HotMesh's `HMSH_STATUS_UNKNOWN`)."""


@attrs.frozen(kw_only=True)
class StreamResponse:
    """An explicit worker reply: `status` success | pending | error, a `code` that routes transitions.

    `statements` are SQL statements (`Statement(sql, args, "execute")`) committed in the same transaction as
    the reply and the ack of the request: a side effect in your own tables of the same database then happens
    exactly once, even if this worker is killed and the request redelivered.
    """

    data: dict[str, JSON] = attrs.field(factory=dict)
    status: MessageStatus | str = MessageStatus.SUCCESS
    code: int = 200
    statements: Sequence[Statement] = ()


Callback = Callable[[StreamMessage], Awaitable["dict[str, JSON] | StreamResponse | None"]]


@attrs.frozen
class Worker:
    """Binds a worker topic to an async callback.

    Example: ``Worker("inventory.check", check_inventory, retry_policy=RetryPolicy(maximum_attempts=5))``.
    """

    topic: str
    callback: Callback
    retry_policy: RetryPolicy | None = attrs.field(default=None, kw_only=True)
    concurrency: int = attrs.field(default=10, kw_only=True)


class WorkerFailure(HotMeshError):
    """A callback's error reply, with the code and the data `{message, code, …}` the engine will receive."""

    def __init__(self, code: int, data: dict[str, JSON]) -> None:
        super().__init__(str(data.get("message", f"worker failed with code {code}")))
        self.code = code
        self.data = data


def failure_payload(code: int, data: Mapping[str, JSON]) -> dict[str, JSON]:
    """The data of an error reply: `message` and `code` first (as HotMesh structures it), then the rest.

    The worker's own keys (e.g. a 422's `reason`) are kept, so a transition that catches the code can map
    them; a `stack` that is None is dropped.
    """
    message = data.get("message")
    payload: dict[str, JSON] = {"message": UNKNOWN_ERROR_MESSAGE if message is None else str(message),
                                "code": code}
    payload.update((key, value) for key, value in data.items()
                   if key not in ("message", "code") and not (key == "stack" and value is None))
    return payload


def _checked_metadata(returned: object, request: StreamMessage) -> None:
    """Accept a reply's echoed `metadata` (HotMesh's idiom) if its routing keys are the request's."""
    if not isinstance(returned, Mapping):
        raise MalformedReplyError(
            f"a worker reply's metadata must be a mapping (e.g. {{**msg.metadata}}), not {type(returned).__name__}")
    expected = request.metadata
    for key in ROUTING_KEYS:
        if key in returned and returned[key] != expected.get(key, ""):
            raise MalformedReplyError(
                f"a worker reply's metadata.{key} is {returned[key]!r} but the request's is "
                f"{expected.get(key, '')!r}: a reply answers its own request (echo msg.metadata or omit it)")


def _reply(result: object, request: StreamMessage) -> StreamResponse | None:
    if result is None:
        return None
    if isinstance(result, StreamResponse):
        if isinstance(result.code, bool) or not isinstance(result.code, int):
            raise MalformedReplyError(f"StreamResponse.code must be an integer, got {result.code!r}")
        try:
            return attrs.evolve(result, status=MessageStatus(result.status))
        except ValueError as err:
            raise MalformedReplyError(f"malformed StreamResponse: {err}") from None
    if isinstance(result, dict):
        has_envelope = any(key in result for key in ("data", "status", "code", "metadata"))
        data = result.get("data", {}) if has_envelope else result
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise MalformedReplyError(f"worker reply data must be a JSON object, got {type(data).__name__}")
        if "metadata" in result and result["metadata"] is not None:
            _checked_metadata(result["metadata"], request)
        code = result.get("code", 200)
        if code is None:
            code = 200
        if isinstance(code, bool) or not isinstance(code, int | str):
            raise MalformedReplyError(f"worker reply code must be an integer, got {code!r}")
        try:
            status = MessageStatus(result.get("status") or MessageStatus.SUCCESS)
            return StreamResponse(data=data, status=status, code=int(code))
        except ValueError as err:
            raise MalformedReplyError(f"malformed worker reply: {err}") from None
    raise MalformedReplyError(
        f"a worker callback must return a dict, a StreamResponse or None, not {type(result).__name__}")


def error_code(err: BaseException) -> int | None:
    """The code an exception carries (`err.code`, an integer), or None for an uncoded failure."""
    if isinstance(err, WorkerFailure):
        return err.code
    code = getattr(err, "code", None)
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def error_data(err: BaseException) -> tuple[int, dict[str, JSON]]:
    """The code and data of the error reply for an exception (code from `err.code`, else 500)."""
    if isinstance(err, WorkerFailure):
        return err.code, failure_payload(err.code, err.data)
    code = error_code(err)
    code = 500 if code is None else code
    return code, {"message": str(err) or type(err).__name__, "code": code,
                  "stack": "".join(traceback.format_exception(err))[-4000:]}


class WorkerActor(StreamConsumer):
    """Serves one worker topic: runs the callback per request and replies (see the module docstring)."""

    def __init__(self, *, worker: Worker, jobs: JobStore, settings: Settings, listener: Listener | None = None,
                 stepper: Stepper | None = None) -> None:
        self.worker = worker
        self.jobs = jobs
        self.stepper = stepper
        super().__init__(store=jobs.worker_streams, stream_name=worker.topic, handler=self._handle_request,
                         settings=settings, listener=listener, concurrency=worker.concurrency,
                         on_exhausted=self._error_reply, retry_policy=self._policy_for)

    async def _handle_request(self, claimed: ClaimedMessage) -> Sequence[Statement] | Acked | None:
        request = claimed.message
        if (claimed.redelivered or claimed.retry_attempt > 0) and await self._job_finished(request.metadata.jid):
            # Liveness guard (SPEC §2.5): a retried or reclaimed request of a finished job is not run again.
            return None
        reply = _reply(await self.worker.callback(request), request)
        self.free_slot(claimed.id)  # the callback is done; the reply's commit needs no slot
        if reply is None:
            return None
        status = MessageStatus(reply.status)
        if status is MessageStatus.ERROR:
            raise WorkerFailure(reply.code, failure_payload(reply.code, reply.data))
        try:  # a NUL or lone surrogate would make the engine's step fail on every delivery
            check_payload(reply.data, argument="worker reply data")
        except MalformedReplyError:
            raise
        except InvalidPayloadError as err:
            raise MalformedReplyError(str(err)) from None
        response = self._response(request, reply.data, status, reply.code)
        try:
            wire = to_wire(response.message)
        except (TypeError, ValueError) as err:  # the wire form is JSON: the data held something JSON cannot
            raise MalformedReplyError(f"worker reply data is not JSON-serialisable: {err}") from err
        if self.stepper is not None:
            return await self._step(claimed, response.message, reply.statements)
        acking = self.store.ack_and_publish_statement(claimed, self.consumer_id, self.jobs.engine_streams,
                                                      attrs.evolve(response, wire=wire))
        return [*reply.statements, acking]

    async def _step(self, claimed: ClaimedMessage, response: StreamMessage, statements: Sequence[Statement] = (),
                    *, dead: bool = False) -> Acked:
        """Run the engine's step for a reply here, acking (or, `dead`, parking) the request with it."""
        assert self.stepper is not None
        inbound = Inbound(message=response, ack=Ack(StreamKind.WORKER, claimed.id, self.consumer_id, dead=dead),
                          before=tuple(statements))
        result = await self.stepper.submit(inbound, response.metadata.jid)
        return Acked.LOST if result is Result.LOST else ACKED

    async def _job_finished(self, jid: str) -> bool:
        if not jid:
            return False
        status = await self.jobs.status(job_key(self.jobs.app_id, jid))
        return status is not None and status <= 0

    def _policy_for(self, claimed: ClaimedMessage, failure: BaseException | None) -> RetryPolicy:
        """The retry policy of this failure: the worker's own > the activity's YAML `retry:` > the default."""
        retry = (claimed.message.policies or {}).get("retry")
        activity_retry = retry if isinstance(retry, dict) else None
        try:
            if failure is None:
                return widest_retry_policy(worker_policy=self.worker.retry_policy, activity_retry=activity_retry)
            if isinstance(failure, MalformedReplyError):
                # retrying cannot mend a reply the callback's code shapes wrongly, unless the user asked to
                return self.worker.retry_policy or NO_RETRY
            code = error_code(failure)
            return choose_retry_policy(worker_policy=self.worker.retry_policy, activity_retry=activity_retry,
                                       code=500 if code is None else code, coded=code is not None)
        except ValueError as err:  # a bad `retry:` that slipped past validation must not wedge the stream
            log.error("unusable retry policy %r on the request: %s; using the default", activity_retry, err,
                      extra=self._log_fields(claimed))
            return self.worker.retry_policy or DEFAULT_RETRY_POLICY

    async def _error_reply(self, claimed: ClaimedMessage, failure: BaseException | None) -> Sequence[Statement] | Acked:
        """The engine learns of a request that failed for good (its retries spent, or poison)."""
        if failure is None:
            code, data = 999, {"message": "stream message max delivery count exceeded", "code": 999}
        else:
            code, data = error_data(failure)
        try:
            check_payload(data, argument="error reply data")
            to_wire(self._response(claimed.message, data, MessageStatus.ERROR, code).message)
        except (TypeError, ValueError) as err:
            # the error reply's data held something JSON cannot carry: send its message and code alone
            log.warning("error reply data is not JSON-serialisable (%s); sending message and code only", err,
                        extra=self._log_fields(claimed))
            data = {"message": storable_text(str(data.get("message"))), "code": code}
        response = self._response(claimed.message, data, MessageStatus.ERROR, code)
        if self.stepper is not None:
            return await self._step(claimed, response.message, dead=True)
        return [self.jobs.engine_streams.publish_statement([response])]

    def _response(self, request: StreamMessage, data: dict[str, JSON], status: MessageStatus, code: int) -> Outgoing:
        response = StreamMessage(
            metadata=attrs.evolve(request.metadata, guid=new_guid()),
            type=MessageType.RESPONSE,
            data=data,
            status=status,
            code=code,
        )
        return Outgoing(stream_name=self.jobs.app_id, message=response)
