"""Workers: the user's callbacks bound to worker topics, and the actor that serves one topic.

A callback receives the request (a StreamMessage: `.data`, `.metadata`) and returns a dict
(`{"data": {...}}`, optionally with `status`/`code`), a :class:`StreamResponse`, or None (acknowledge and
send nothing). Its reply is published to the engine stream in the SAME transaction that acks the request,
and only while this worker still holds the request's lease, so a reply is sent once. An exception, or a
reply with status `error`, follows the worker's RetryPolicy; when retries are exhausted the engine receives
an error reply (its code routes `conditions: {code: …}` transitions) and the request is dead-lettered.
"""

from __future__ import annotations

import traceback
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs

from hotmesh_actors.clock import new_guid
from hotmesh_actors.core.durations import RetryPolicy
from hotmesh_actors.core.keys import job_key
from hotmesh_actors.core.messages import MessageStatus, MessageType, StreamMessage
from hotmesh_actors.errors import HotMeshError, InvalidPayloadError
from hotmesh_actors.mesh.consumer import StreamConsumer
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.driver import Listener, Statement
from hotmesh_actors.store.queries import app_schema, bind, quote_ident
from hotmesh_actors.store.streams import ClaimedMessage, Outgoing, StreamStore

JSON = Any

NO_RETRY = RetryPolicy(maximum_attempts=1)
"""A worker without a retry policy reports a failure to the engine at once (HotMesh's default)."""


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
    """A callback's error reply (or exception) with the code and data the engine will receive."""

    def __init__(self, code: int, data: dict[str, JSON]) -> None:
        super().__init__(str(data.get("message", f"worker failed with code {code}")))
        self.code = code
        self.data = data


def _reply(result: object) -> StreamResponse | None:
    if result is None:
        return None
    if isinstance(result, StreamResponse):
        return result
    if isinstance(result, dict):
        has_envelope = any(key in result for key in ("data", "status", "code", "metadata"))
        data = result.get("data", {}) if has_envelope else result
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InvalidPayloadError(f"worker reply data must be a JSON object, got {type(data).__name__}")
        return StreamResponse(data=data, status=result.get("status", MessageStatus.SUCCESS),
                              code=int(result.get("code", 200)))
    raise InvalidPayloadError(
        f"a worker callback must return a dict, a StreamResponse or None, not {type(result).__name__}")


def error_data(err: BaseException) -> tuple[int, dict[str, JSON]]:
    """The code and data of the error reply for an exception (code from `err.code`, else 500)."""
    if isinstance(err, WorkerFailure):
        return err.code, err.data
    code = getattr(err, "code", None)
    code = code if isinstance(code, int) and not isinstance(code, bool) else 500
    return code, {"message": str(err) or type(err).__name__, "code": code, "name": type(err).__name__,
                  "stack": "".join(traceback.format_exception(err))[-4000:]}


class WorkerActor(StreamConsumer):
    """Serves one worker topic: runs the callback per request and replies to the engine."""

    def __init__(self, *, worker: Worker, worker_streams: StreamStore, engine_streams: StreamStore,
                 settings: Settings, listener: Listener | None = None) -> None:
        self.worker = worker
        self.engine_streams = engine_streams
        super().__init__(store=worker_streams, stream_name=worker.topic, handler=self._handle_request,
                         settings=settings, listener=listener, concurrency=worker.concurrency,
                         on_exhausted=self._error_reply, retry_policy=worker.retry_policy or NO_RETRY)
        self._job_status_sql = bind("jobs", "job_status", schema=quote_ident(app_schema(engine_streams.app_id)),
                                    engine=engine_streams.table)

    async def _handle_request(self, claimed: ClaimedMessage) -> Sequence[Statement] | None:
        request = claimed.message
        if (claimed.redelivered or claimed.retry_attempt > 0) and await self._job_finished(request.metadata.jid):
            # Liveness guard (SPEC §2.5): a retried or reclaimed request of a finished job is not run again.
            return None
        reply = _reply(await self.worker.callback(request))
        if reply is None:
            return None
        status = MessageStatus(reply.status)
        if status is MessageStatus.ERROR:
            raise WorkerFailure(reply.code, {"message": str(reply.data.get("message", "worker error")),
                                             "code": reply.code, **reply.data})
        response = self._response(request, reply.data, status, reply.code)
        acking = self.store.ack_and_publish_statement(claimed, self.consumer_id, self.engine_streams, response)
        return [*reply.statements, acking]

    async def _job_finished(self, jid: str) -> bool:
        if not jid:
            return False
        status = await self.store.db.fetchval(self._job_status_sql, job_key(self.engine_streams.app_id, jid))
        return status is not None and status <= 0

    def _error_reply(self, claimed: ClaimedMessage, failure: BaseException | None) -> Sequence[Statement]:
        if failure is None:
            code, data = 999, {"message": "stream message max delivery count exceeded", "code": 999}
        else:
            code, data = error_data(failure)
        return [self._publish(claimed.message, data, MessageStatus.ERROR, code)]

    def _response(self, request: StreamMessage, data: dict[str, JSON], status: MessageStatus, code: int) -> Outgoing:
        response = StreamMessage(
            metadata=attrs.evolve(request.metadata, guid=new_guid()),
            type=MessageType.RESPONSE,
            data=data,
            status=status,
            code=code,
        )
        return Outgoing(stream_name=self.engine_streams.app_id, message=response)

    def _publish(self, request: StreamMessage, data: dict[str, JSON], status: MessageStatus, code: int) -> Statement:
        return self.engine_streams.publish_statement([self._response(request, data, status, code)])
