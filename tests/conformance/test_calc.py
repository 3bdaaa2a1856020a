"""HotMesh's calc app behaviours (tests/functional/retry with tests/$setup/apps/calc), with our own YAML.

Two graphs as in calc: `calculate` awaits the child graph `calculation.execute`, whose worker activity has the
legacy YAML retry map `{'404': [2], '500': [3]}`. The worker behaves like HotMesh's test worker: a one-time
recoverable 500 (retried by the YAML map), an optional unrecoverable 403 (not in the map: fails at once and
propagates through the parent), otherwise the arithmetic.
"""

from __future__ import annotations

import json
from functools import reduce
from typing import Any

import pytest
import trio

from hotmesh_actors import StreamMessage, Worker
from hotmesh_actors.errors import JobFailedError, PubSubTimeout
from tests.integration.activities_kit import app_yaml, open_mesh
from tests.integration.conformance_kit import wait_status, wait_until

JSON = Any

CALC = """
- subscribes: calculate
  publishes: calculated
  expire: 120
  activities:
    calculate:
      type: trigger
    operate:
      type: await
      topic: calculation.execute
      input:
        maps:
          operation: '{calculate.output.data.operation}'
          values: '{calculate.output.data.values}'
      job:
        maps:
          result: '{operate.output.data.result}'
  transitions:
    calculate:
      - to: operate
- subscribes: calculation.execute
  publishes: calculation.executed
  expire: 120
  activities:
    receiver:
      type: trigger
    executor:
      type: worker
      topic: calculation.execute
      retry:
        '404': [2]
        '500': [3]
      input:
        maps:
          operation: '{receiver.output.data.operation}'
          values: '{receiver.output.data.values}'
      job:
        maps:
          result: '{executor.output.data.result}'
  transitions:
    receiver:
      - to: executor
"""

OPERATIONS = {
    "add": lambda a, b: a + b,
    "subtract": lambda a, b: a - b,
    "multiply": lambda a, b: a * b,
    "divide": lambda a, b: a / b,
}


class Calculator:
    """HotMesh's calc test worker (`simulateOneTimeError`, `simulateUnrecoverableError`)."""

    def __init__(self, *, one_time_error: bool = True, fail_operation: str | None = None) -> None:
        self.one_time_error = one_time_error
        self.unrecoverable_error = False
        self.fail_operation = fail_operation
        self.calls: list[StreamMessage] = []

    async def __call__(self, msg: StreamMessage) -> dict[str, JSON]:
        self.calls.append(msg)
        values = json.loads(msg.data["values"])
        result = reduce(OPERATIONS[msg.data["operation"]], values)
        if self.unrecoverable_error or msg.data["operation"] == self.fail_operation:
            self.unrecoverable_error = False
            return {"status": "error", "code": 403, "metadata": {**msg.metadata},
                    "data": {"code": 403, "message": "unrecoverable error"}}
        if self.one_time_error:
            self.one_time_error = False
            return {"status": "error", "code": 500, "metadata": {**msg.metadata},
                    "data": {"error": "recoverable error"}}
        return {"status": "success", "metadata": {**msg.metadata}, "data": {"result": result}}


def _calc(app_id: str, pg_dsn: str, worker: Calculator) -> Any:
    return open_mesh(app_id, pg_dsn, app_yaml(app_id, CALC), workers=[Worker("calculation.execute", worker)])


@pytest.mark.parametrize(("operation", "values", "result"), [
    ("add", [1, 2, 3, 4, 5], 15), ("subtract", [5, 4, 3, 2, 1], -5), ("multiply", [5, 4, 3, 2, 1], 120),
    ("divide", [100, 4, 5], 5)])
async def test_calculator_operations_through_await_and_worker(pg_dsn: str, app_id: str, operation: str,
                                                              values: list[int], result: int) -> None:
    """HotMesh: 'should invoke a worker activity (add|subtract|multiply|divide) in calculator app'; the first
    call answers a recoverable 500, which the YAML `retry: {'500': [3]}` retries (2 attempts in all)."""
    worker = Calculator()
    async with _calc(app_id, pg_dsn, worker) as mesh:
        output = await mesh.pubsub("calculate", {"operation": operation, "values": json.dumps(values)}, timeout=10)
        assert output["metadata"]["jid"]
        assert output["data"]["result"] == result
        assert [call.metadata.get("try", 0) for call in worker.calls] == [0, 1]


async def test_timeout_then_wait_longer(pg_dsn: str, app_id: str) -> None:
    """HotMesh: 'should throw a timeout error and resolve by waiting longer' — the job keeps running."""
    async with _calc(app_id, pg_dsn, Calculator(one_time_error=False)) as mesh:
        with pytest.raises(PubSubTimeout) as timed_out:
            await mesh.pubsub("calculate", {"operation": "divide", "values": "[100,4,5]"}, timeout=0)
        assert timed_out.value.code == 504 and timed_out.value.job_id
        await wait_status(mesh, timed_out.value.job_id, 0)
        assert (await mesh.get_state("calculate", timed_out.value.job_id))["data"]["result"] == 5


async def test_synchronous_calls_in_parallel(pg_dsn: str, app_id: str) -> None:
    """HotMesh: 'should run synchronous calls in parallel' (divide 200/4/5 and multiply 10·10·10)."""
    results: dict[str, JSON] = {}
    async with _calc(app_id, pg_dsn, Calculator(one_time_error=False)) as mesh:

        async def run(operation: str, values: str) -> None:
            results[operation] = (await mesh.pubsub("calculate", {"operation": operation, "values": values},
                                                    timeout=10))["data"]["result"]

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run, "divide", "[200,4,5]")
            nursery.start_soon(run, "multiply", "[10,10,10]")
    assert results == {"divide": 10, "multiply": 1000}


async def test_a_failing_call_beside_a_succeeding_one_fails_alone(pg_dsn: str, app_id: str) -> None:
    """The parallel calls of HotMesh's calc test with one of them meeting the unrecoverable 403: each job gets
    its own outcome (the error does not leak into the concurrent job)."""
    outcomes: dict[str, JSON] = {}
    async with _calc(app_id, pg_dsn, Calculator(one_time_error=False, fail_operation="divide")) as mesh:

        async def run(operation: str, values: str) -> None:
            try:
                output = await mesh.pubsub("calculate", {"operation": operation, "values": values}, timeout=10)
                outcomes[operation] = output["data"]["result"]
            except JobFailedError as failed:
                outcomes[operation] = (failed.code, failed.message)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run, "divide", "[200,4,5]")
            nursery.start_soon(run, "multiply", "[10,10,10]")
    assert outcomes == {"divide": (403, "unrecoverable error"), "multiply": 1000}


async def test_subscribe_to_one_jobs_results(pg_dsn: str, app_id: str) -> None:
    """HotMesh: 'should subscribe to a topic to see a single job results' (`calculated.<job id>`)."""
    seen: list[JSON] = []
    async with _calc(app_id, pg_dsn, Calculator(one_time_error=False)) as mesh:
        jid = f"calc-{app_id}"

        async def on_result(topic: str, message: JSON) -> None:
            seen.append((topic, message))

        await mesh.sub(f"calculated.{jid}", on_result)  # before the job starts, so its result cannot be missed
        assert await mesh.pub("calculate", {"operation": "divide", "values": "[100,4,5]"}, job_id=jid) == jid

        async def got_one() -> bool:
            return bool(seen)

        await wait_until(got_one, timeout=10, what="the calculated.<jid> notification")
        topic, message = seen[0]
        assert topic == "calculated"  # the graph's `publishes`, as HotMesh's callbacks receive it
        assert message["data"]["result"] == 5 and message["metadata"]["jid"] == jid
        await mesh.unsub(f"calculated.{jid}")


async def test_unrecoverable_child_error_fails_the_parent_with_its_code_and_message(pg_dsn: str,
                                                                                   app_id: str) -> None:
    """HotMesh: 'should return an error if the job throws an error' — the child's 403 (no retry for it in the
    YAML map) reaches the awaiting parent: error.message 'unrecoverable error', error.code 403, and the
    parent's `metadata.err` is '{"message":"unrecoverable error","code":403,"is_stream_error":true}'."""
    worker = Calculator(one_time_error=False)
    worker.unrecoverable_error = True
    async with _calc(app_id, pg_dsn, worker) as mesh:
        with pytest.raises(JobFailedError) as failed:
            await mesh.pubsub("calculate", {"operation": "divide", "values": "[100,4,5]"}, timeout=10)
        assert failed.value.error == {"message": "unrecoverable error", "code": 403, "is_stream_error": True}
        assert (failed.value.code, failed.value.message) == (403, "unrecoverable error")
        state = await mesh.get_state("calculate", failed.value.job_id)
        assert state["metadata"]["err"] == '{"message":"unrecoverable error","code":403,"is_stream_error":true}'
        assert len(worker.calls) == 1
