"""Worker errors reach the caller with their code and message, and HotMesh's worker idioms carry over.

Mirrors HotMesh's worker error path (services/router/error-handling `structureError`, activities'
`bindJobError`, engine `pubsub` rejecting with `{error, job_id}`): a returned `status: error` reply or an
exception carrying a `code` fails the job with that code AND message, `metadata.err` is HotMesh's compact
`{"message", "code", "is_stream_error": true}` JSON, and a `code:` transition routes it. HotMesh's callbacks
echo `metadata: {...data.metadata}`; ours do `{**msg.metadata}`. Our own YAML throughout.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from hotmesh_actors import RetryPolicy, StreamMessage, Worker
from hotmesh_actors.errors import JobFailedError
from tests.integration.activities_kit import app_yaml, attributes, decode, open_mesh, stream_rows

JSON = Any

GRAPH = """
- subscribes: errors.test
  expire: 60
  activities:
    t1:
      type: trigger
    w1:
      type: worker
      topic: errors.work
      input:
        maps:
          kind: '{t1.output.data.kind}'
      job:
        maps:
          answer: '{$self.output.data.answer}'
    caught:
      type: hook
      job:
        maps:
          routed: caught
          reason: '{w1.output.data.reason}'
  transitions:
    t1:
      - to: w1
    w1:
      - to: caught
        conditions:
          code: 409
"""


class CodedError(Exception):
    """An exception carrying an HTTP-like `code`, as HotMesh workers throw `{code, message}` errors."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Answers:
    """A worker whose answer the payload's `kind` picks; it records every call."""

    def __init__(self) -> None:
        self.calls: list[StreamMessage] = []

    async def __call__(self, msg: StreamMessage) -> JSON:
        self.calls.append(msg)
        kind = msg.data["kind"]
        if kind == "returned-403":  # HotMesh's retry test: 'simulate an error for which there is no retry policy'
            return {"status": "error", "code": 403, "metadata": {**msg.metadata},
                    "data": {"code": 403, "message": "unrecoverable error"}}
        if kind == "raised-403":
            raise CodedError("forbidden by policy", 403)
        if kind == "raised-409":
            raise CodedError("version conflict", 409)
        if kind == "echo-dict":
            return {"metadata": dict(msg.metadata), "data": {"answer": sorted(msg.metadata)}}
        if kind == "echo-spread":
            return {"metadata": {**msg.metadata}, "data": {"answer": msg.metadata["aid"]}}
        if kind == "echo-extra":  # non-routing keys (try, topic, anything) are ignored
            return {"metadata": {**msg.metadata, "try": 7, "topic": "elsewhere", "custom": 1},
                    "data": {"answer": "ok"}}
        if kind == "error-with-opaque-data":
            return {"status": "error", "code": 418, "data": {"message": "teapot", "detail": object()}}
        if kind == "wrong-jid":
            return {"metadata": {**msg.metadata, "jid": "someone-else"}, "data": {"answer": "misrouted"}}
        raise AssertionError(f"unexpected kind {kind}")


def _mesh(app_id: str, pg_dsn: str, answers: Answers, **worker: Any) -> Any:
    return open_mesh(app_id, pg_dsn, app_yaml(app_id, GRAPH), workers=[Worker("errors.work", answers, **worker)])


async def test_returned_error_fails_the_job_with_its_code_and_message(pg_dsn: str, app_id: str) -> None:
    """HotMesh retry test 'should return an error if the job throws an error': code 403, 'unrecoverable error',
    and `metadata.err` exactly '{"message":"unrecoverable error","code":403,"is_stream_error":true}'."""
    answers = Answers()
    async with _mesh(app_id, pg_dsn, answers) as mesh:
        with pytest.raises(JobFailedError) as failed:
            await mesh.pubsub("errors.test", {"kind": "returned-403"}, timeout=10)
        assert (failed.value.code, failed.value.message) == (403, "unrecoverable error")
        assert failed.value.error == {"message": "unrecoverable error", "code": 403, "is_stream_error": True}
        state = await mesh.get_state("errors.test", failed.value.job_id)
        assert state["metadata"]["err"] == '{"message":"unrecoverable error","code":403,"is_stream_error":true}'
        assert len(answers.calls) == 1


async def test_raised_exception_with_a_code_fails_the_job_with_that_code(pg_dsn: str, app_id: str) -> None:
    """HotMesh `structureUnhandledError`: a thrown error's `code` (else 500) and message, with its stack."""
    answers = Answers()
    async with _mesh(app_id, pg_dsn, answers) as mesh:
        with pytest.raises(JobFailedError) as failed:
            await mesh.pubsub("errors.test", {"kind": "raised-403"}, timeout=10)
        assert (failed.value.code, failed.value.message) == (403, "forbidden by policy")
        state = await mesh.get_state("errors.test", failed.value.job_id)
        err = json.loads(state["metadata"]["err"])
        assert list(err)[:2] == ["message", "code"] and err["is_stream_error"] is True
        assert "CodedError: forbidden by policy" in err["stack"]
        [row] = [r for r in await attributes(mesh, failed.value.job_id) if r["field"] == "w1/output/metadata/err"]
        activity_err = json.loads(decode(row["value"]))  # the activity's own record of the error
        assert (activity_err["message"], activity_err["code"]) == ("forbidden by policy", 403)
        assert len(answers.calls) == 1  # a coded exception is an answer: no default retry


async def test_a_code_transition_catches_a_raised_coded_error(pg_dsn: str, app_id: str) -> None:
    """HotMesh: any 3-digit code routes `conditions: {code: …}` transitions, thrown or returned."""
    async with _mesh(app_id, pg_dsn, Answers()) as mesh:
        output = await mesh.pubsub("errors.test", {"kind": "raised-409"}, timeout=10)
        assert output["data"]["routed"] == "caught"
        assert "err" not in output["metadata"]


async def test_worker_may_echo_its_metadata_as_hotmesh_workers_do(pg_dsn: str, app_id: str) -> None:
    """HotMesh's worker idiom `return {metadata: {...data.metadata}, data}`: `dict()` and `{**}` both work."""
    answers = Answers()
    async with _mesh(app_id, pg_dsn, answers) as mesh:
        output = await mesh.pubsub("errors.test", {"kind": "echo-spread"}, timeout=10)
        assert output["data"]["answer"] == "w1"
        output = await mesh.pubsub("errors.test", {"kind": "echo-dict"}, timeout=10)
        assert {"guid", "jid", "gid", "aid", "dad", "topic"} <= set(output["data"]["answer"])
        output = await mesh.pubsub("errors.test", {"kind": "echo-extra"}, timeout=10)
        assert output["data"]["answer"] == "ok"
        request = answers.calls[0]
        assert request.metadata["jid"] == request.metadata.jid and request.metadata["topic"] == "errors.work"


async def test_echoed_metadata_naming_another_job_is_refused(pg_dsn: str, app_id: str) -> None:
    """Ours (HotMesh would publish the reply under the returned metadata): a reply whose `jid` is not the
    request's is refused — the job fails with 500 naming the key, the reply reaches no other job."""
    answers = Answers()
    async with _mesh(app_id, pg_dsn, answers) as mesh:
        with pytest.raises(JobFailedError) as failed:
            await mesh.pubsub("errors.test", {"kind": "wrong-jid"}, timeout=10)
        assert failed.value.code == 500
        assert "metadata.jid" in failed.value.message and "someone-else" in failed.value.message
        assert len(answers.calls) == 1  # a malformed reply is not retried by default
        replies = await stream_rows(mesh, "engine", "message::jsonb -> 'metadata' ->> 'jid' = $1", "someone-else")
        assert replies == []


async def test_malformed_reply_is_retried_only_when_the_worker_asks(pg_dsn: str, app_id: str) -> None:
    """A worker's own policy governs every failure, a refused reply included."""
    answers = Answers()
    policy = RetryPolicy(maximum_attempts=2, backoff_coefficient=1, initial_interval=0.01)
    async with _mesh(app_id, pg_dsn, answers, retry_policy=policy) as mesh:
        with pytest.raises(JobFailedError):
            await mesh.pubsub("errors.test", {"kind": "wrong-jid"}, timeout=10)
        assert len(answers.calls) == 2


async def test_error_reply_with_data_json_cannot_carry_still_fails_with_code_and_message(
        pg_dsn: str, app_id: str) -> None:
    """Ours: the error reply keeps its code and message even when its other data cannot be serialised."""
    async with _mesh(app_id, pg_dsn, Answers()) as mesh:
        with pytest.raises(JobFailedError) as failed:
            await mesh.pubsub("errors.test", {"kind": "error-with-opaque-data"}, timeout=10)
        assert (failed.value.code, failed.value.message) == (418, "teapot")
