"""Retry precedence on a real mesh: a worker's own policy > the activity's YAML `retry:` > the default.

Mirrors HotMesh's tests/functional/retry-policy (policy columns stored with each message; exponential delays
`min(initialInterval × coefficient^(try+1), maximumInterval)`; `maximumAttempts` counts every attempt, so 1
means no retry and 2 one retry) and its ErrorHandler's legacy path (a YAML code map `{'500': [n]}` retries that
code n times, other codes not at all). The default (3 attempts, coefficient 10, cap 120 s) is ours: HotMesh
does not retry a worker without a policy; its arithmetic is unit-tested in tests/unit/test_durations.py and
here we only see that its first retry is scheduled, without waiting 10 s for it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from hotmesh_actors import RetryPolicy, StreamMessage, Worker
from hotmesh_actors.errors import JobFailedError
from tests.integration.activities_kit import app_yaml, open_mesh, stream_rows
from tests.integration.conformance_kit import history_rows, keep_stream_history, wait_until

JSON = Any

GRAPH = """
- subscribes: retry.test
  expire: 60
  activities:
    t1:
      type: trigger
    w1:
      type: worker
      topic: retry.work
      input:
        maps:
          code: '{t1.output.data.code}'
{retry}
  transitions:
    t1:
      - to: w1
"""

LEGACY_MAP = """      retry:
        '404': [1]
        '500': [2]"""

POLICY_OBJECT = """      retry:
        maximumAttempts: 3
        backoffCoefficient: 2
        initialInterval: 0.05
        maximumInterval: 5"""


class Failing:
    """Fails every call with the payload's `code` (returned as an error reply), or raises when code is 0."""

    def __init__(self) -> None:
        self.calls: list[StreamMessage] = []
        self.times: list[float] = []

    async def __call__(self, msg: StreamMessage) -> dict[str, JSON]:
        self.calls.append(msg)
        self.times.append(time.monotonic())
        code = int(msg.data["code"])
        if code == 0:
            raise RuntimeError(f"transient failure {len(self.calls)}")
        return {"status": "error", "code": code, "data": {"message": f"failed with {code}"}}

    def tries(self) -> list[int]:
        return [call.metadata.get("try", 0) for call in self.calls]


def _yaml(app_id: str, retry: str = "") -> str:
    return app_yaml(app_id, GRAPH.replace("{retry}", retry))


async def _fails(mesh: Any, code: int) -> JobFailedError:
    with pytest.raises(JobFailedError) as failed:
        await mesh.pubsub("retry.test", {"code": code}, timeout=15)
    return failed.value


async def test_yaml_code_map_retries_the_listed_code_that_many_times(pg_dsn: str, app_id: str) -> None:
    """HotMesh calc's `retry: {'500': [n]}`: a 500 is tried n+1 times (`try` 0..n), then the job fails 500."""
    worker = Failing()
    async with open_mesh(app_id, pg_dsn, _yaml(app_id, LEGACY_MAP), workers=[Worker("retry.work", worker)]) as mesh:
        failed = await _fails(mesh, 500)
        assert (failed.code, failed.message) == (500, "failed with 500")
        assert worker.tries() == [0, 1, 2]


async def test_yaml_code_map_does_not_retry_an_unlisted_code(pg_dsn: str, app_id: str) -> None:
    """HotMesh calc's 403 'for which there is no retry policy': one attempt (a YAML map replaces the default:
    it retries only the codes it lists)."""
    worker = Failing()
    async with open_mesh(app_id, pg_dsn, _yaml(app_id, LEGACY_MAP), workers=[Worker("retry.work", worker)]) as mesh:
        assert (await _fails(mesh, 403)).code == 403
        assert worker.tries() == [0]
        worker.calls.clear()
        assert (await _fails(mesh, 404)).code == 404  # listed with one retry
        assert worker.tries() == [0, 1]


async def test_workers_own_policy_wins_over_the_yaml_map(pg_dsn: str, app_id: str) -> None:
    """HotMesh's worker-level `retry` (maximumAttempts 2 ⇒ one retry) applies to every code, whatever YAML says."""
    worker = Failing()
    policy = RetryPolicy(maximum_attempts=2, backoff_coefficient=1, initial_interval=0.01)
    async with open_mesh(app_id, pg_dsn, _yaml(app_id, LEGACY_MAP),
                         workers=[Worker("retry.work", worker, retry_policy=policy)]) as mesh:
        assert (await _fails(mesh, 500)).code == 500  # YAML says 2 retries; the worker's 2 attempts win
        assert worker.tries() == [0, 1]
        worker.calls.clear()
        assert (await _fails(mesh, 403)).code == 403  # YAML says none; the worker's policy retries it
        assert worker.tries() == [0, 1]


async def test_maximum_attempts_one_means_a_single_attempt(pg_dsn: str, app_id: str) -> None:
    """HotMesh retry-policy 'maximumAttempts 1': no retry, even of an uncoded exception."""
    worker = Failing()
    async with open_mesh(app_id, pg_dsn, _yaml(app_id),
                         workers=[Worker("retry.work", worker, retry_policy=RetryPolicy(maximum_attempts=1))]) as mesh:
        failed = await _fails(mesh, 0)
        assert failed.code == 500 and "transient failure 1" in failed.message
        assert worker.tries() == [0]


async def test_yaml_policy_object_retries_with_exponential_delays(pg_dsn: str, app_id: str) -> None:
    """HotMesh retry-policy 'exponential delays' and 'policy columns stored': a RetryPolicy-shaped YAML `retry:`
    (coefficient 2, initial 0.05 s) waits at least 0.1 s, then 0.2 s; its numbers are in the stream row."""
    worker = Failing()
    async with open_mesh(app_id, pg_dsn, _yaml(app_id, POLICY_OBJECT), workers=[Worker("retry.work", worker)]) as mesh:
        await keep_stream_history(mesh)  # each retry replaces its row: keep the replaced ones to read
        failed = await _fails(mesh, 0)
        assert failed.code == 500 and worker.tries() == [0, 1, 2]
        gaps = [later - earlier for earlier, later in zip(worker.times, worker.times[1:], strict=False)]
        assert gaps[0] >= 0.1 - 0.005 and gaps[1] >= 0.2 - 0.005, gaps
        rows = await history_rows(mesh, "worker", "jid = $1", failed.job_id)
        assert [(row["max_retry_attempts"], float(row["backoff_coefficient"]), row["maximum_interval_seconds"])
                for row in rows] == [(3, 2.0, 5)] * 3
        assert [row["retry_attempt"] for row in rows] == [0, 1, 2]
        # the first two were replaced by their retry (removed); the last, exhausted, is parked and kept
        assert [row["removed_at"] is not None for row in rows] == [True, True, False]
        assert rows[2]["dead_lettered_at"] is not None


async def test_default_policy_retries_an_uncoded_exception_later(pg_dsn: str, app_id: str) -> None:
    """Ours: no worker policy, no YAML `retry:` ⇒ 3 attempts, coefficient 10, cap 120 s. The first failure
    schedules try 1 as a new row about 10 s ahead (we do not wait for it)."""
    worker = Failing()
    async with open_mesh(app_id, pg_dsn, _yaml(app_id), workers=[Worker("retry.work", worker)]) as mesh:
        jid = await mesh.pub("retry.test", {"code": 0})

        async def retry_scheduled() -> bool:
            return len(await stream_rows(mesh, "worker", "jid = $1 AND retry_attempt = 1", jid)) == 1

        await wait_until(retry_scheduled, timeout=10, what="the default policy's first retry row")
        [retry] = await stream_rows(mesh, "worker", "jid = $1 AND retry_attempt = 1", jid)
        assert 5 < retry["due_in_s"] <= 10.5, retry["due_in_s"]  # 1 s × 10^1, not yet visible
        assert (retry["max_retry_attempts"], float(retry["backoff_coefficient"]),
                retry["maximum_interval_seconds"]) == (3, 10.0, 120)
        assert worker.tries() == [0]
        assert await mesh.get_status(jid) > 0  # the job waits for the retry rather than failing


async def test_default_policy_does_not_retry_a_coded_answer(pg_dsn: str, app_id: str) -> None:
    """HotMesh's status/calc apps expect a returned error (422, 403) to route or fail at once: the default
    retries only uncoded failures."""
    worker = Failing()
    async with open_mesh(app_id, pg_dsn, _yaml(app_id), workers=[Worker("retry.work", worker)]) as mesh:
        assert (await _fails(mesh, 422)).code == 422
        assert worker.tries() == [0]
