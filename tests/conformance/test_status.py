"""Worker status codes route the job (HotMesh's tests/functional/status: 200 routes, an uncaught 422 fails the
job with its code and message, a `code: 422` transition catches it, a 202 keeps the activity open until a 200).

Our own YAML, shaped like HotMesh's `def` app (a worker `a1`, then a hook per outcome); the worker answers as
HotMesh's status test worker does, echoing `{**msg.metadata}`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio

from hotmesh_actors import StreamMessage, Worker
from hotmesh_actors.errors import JobFailedError
from tests.integration.activities_kit import add_response, app_yaml, open_mesh
from tests.integration.conformance_kit import wait_status

JSON = Any
REASON = "the account_id field is missing"

UNCAUGHT = """
- subscribes: status.test
  expire: 60
  activities:
    t1:
      type: trigger
    a1:
      type: worker
      topic: status.work
      input:
        maps:
          code: '{t1.output.data.code}'
      job:
        maps:
          code: '{$self.output.data.code}'
          message: success
    a200:
      type: hook
      job:
        maps:
          routed: a200
  transitions:
    t1:
      - to: a1
    a1:
      - to: a200
"""

CAUGHT = UNCAUGHT.replace("""  transitions:""", """    a422:
      type: hook
      job:
        maps:
          routed: a422
          message: '{a1.output.data.message}'
          reason: '{a1.output.data.reason}'
  transitions:""") + """      - to: a422
        conditions:
          code: 422
"""

PENDING = UNCAUGHT.replace("""  transitions:""", """    a202:
      type: hook
      job:
        maps:
          interim: '{a1.output.data.percentage}'
  transitions:""").replace("""          routed: a200
""", """          routed: a200
          percentage: '{a1.output.data.percentage}'
""") + """      - to: a202
        conditions:
          code: 202
"""


class StatusWorker:
    """HotMesh's status-test worker: the payload's `code` picks the answer; a 202 is followed by a 200."""

    def __init__(self) -> None:
        self.calls: list[StreamMessage] = []
        self.nursery: trio.Nursery | None = None
        self.mesh: Any = None

    async def __call__(self, msg: StreamMessage) -> dict[str, JSON]:
        self.calls.append(msg)
        code = int(msg.data["code"])
        data: dict[str, JSON] = {"code": code}
        if code == 202:
            data["percentage"] = 49
            status = "pending"
            assert self.nursery is not None
            self.nursery.start_soon(self._finish_later, msg)
        elif code == 422:
            data.update(message="invalid input", reason=REASON)
            status = "error"
        else:
            data["code"] = 200
            status = "success"
        return {"code": data["code"], "status": status, "metadata": {**msg.metadata}, "data": data}

    async def _finish_later(self, msg: StreamMessage) -> None:
        await trio.sleep(0.25)
        await add_response(self.mesh, msg, {"code": 200, "percentage": 99})


async def _run(app_id: str, pg_dsn: str, graphs: str, payload: dict[str, JSON]) -> tuple[dict[str, JSON], Any]:
    worker = StatusWorker()
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, graphs), workers=[Worker("status.work", worker)]) as mesh:
        worker.mesh = mesh
        async with trio.open_nursery() as nursery:
            worker.nursery = nursery
            output = await mesh.pubsub("status.test", payload, timeout=10)
        return output, worker


async def test_worker_200_routes_and_returns_success(pg_dsn: str, app_id: str) -> None:
    """HotMesh: 'routes worker 200 and returns a success message' (static `message: success` from the YAML)."""
    output, worker = await _run(app_id, pg_dsn, UNCAUGHT, {"code": 200})
    assert output["data"] == {"code": 200, "message": "success", "routed": "a200"}
    assert len(worker.calls) == 1


async def test_uncaught_worker_422_fails_the_job_with_its_code_and_message(pg_dsn: str, app_id: str) -> None:
    """HotMesh: 'does NOT catch worker 422 and returns an error message' — code 422, 'invalid input', job_id."""
    worker = StatusWorker()
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, UNCAUGHT),
                         workers=[Worker("status.work", worker)]) as mesh:
        with pytest.raises(JobFailedError) as failed:
            await mesh.pubsub("status.test", {"code": 422}, timeout=10)
        assert failed.value.code == 422
        assert failed.value.message == "invalid input"
        assert failed.value.job_id
        state = await mesh.get_state("status.test", failed.value.job_id)
        err = json.loads(state["metadata"]["err"])
        assert err == {"message": "invalid input", "code": 422, "reason": REASON, "is_stream_error": True}
        assert failed.value.error == err
        assert "routed" not in state["data"]
        assert len(worker.calls) == 1  # a coded answer is not retried by default


async def test_a_code_422_transition_catches_the_worker_error(pg_dsn: str, app_id: str) -> None:
    """HotMesh's def v2 ('Run With Catch'): a transition with `code: 422` routes the error; 200 still routes."""
    output, _ = await _run(app_id, pg_dsn, CAUGHT, {"code": 422})
    assert output["data"]["routed"] == "a422"
    assert output["data"]["message"] == "invalid input"
    assert output["data"]["reason"] == REASON
    assert "err" not in output["metadata"]
    output, _ = await _run(app_id, pg_dsn, CAUGHT, {"code": 200})
    assert output["data"] == {"code": 200, "message": "success", "routed": "a200"}


async def test_worker_202_keeps_the_activity_open_until_a_200(pg_dsn: str, app_id: str) -> None:
    """HotMesh's def v3 ('Pending'): a 202 (percentage 49) routes the 202 branch; the later 200 (99) finishes."""
    output, worker = await _run(app_id, pg_dsn, PENDING, {"code": 202})
    assert output["data"]["code"] == 200
    assert output["data"]["percentage"] == 99
    assert output["data"]["message"] == "success"
    assert output["data"]["interim"] == 49
    assert len(worker.calls) == 1  # one request; the 200 arrived as a second reply to it


async def test_uncaught_422_leaves_the_job_closed(pg_dsn: str, app_id: str) -> None:
    """HotMesh reads the failed job afterwards (`getState(job_id)`): it exists, done, semaphore 0."""
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, UNCAUGHT),
                         workers=[Worker("status.work", StatusWorker())]) as mesh:
        with pytest.raises(JobFailedError) as failed:
            await mesh.pubsub("status.test", {"code": 422}, timeout=10)
        await wait_status(mesh, failed.value.job_id, 0)
        state = await mesh.get_state("status.test", failed.value.job_id)
        assert state["data"]["done"] is True
        assert state["data"]["$error"]["message"] == "invalid input"
        assert state["data"]["$error"]["code"] == 597  # HotMesh's terminal-error code; 422 is in metadata.err
