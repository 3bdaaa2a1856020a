"""SPEC §11 C — activities, signals, timers, retries (items 25–35) on a real Postgres.

One test (or a few) per checklist item, named after its number. Each asserts what the item names, reading
the database where the item talks about rows.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import pytest
import trio

from hotmesh_actors.core.durations import RetryPolicy
from hotmesh_actors.core.messages import MessageStatus, StreamMessage
from hotmesh_actors.errors import JobAlreadyCompletedError, JobFailedError, JobNotFoundError
from hotmesh_actors.mesh.worker import Worker
from hotmesh_actors.store.driver import Statement

from .activities_kit import (
    Recorder,
    add_response,
    app_yaml,
    attributes,
    decode,
    fast_settings,
    job_row,
    open_mesh,
    registry,
    registry_rows,
    status_of,
    stream_rows,
    table,
    wait_status,
    wait_until,
)
from .conformance_kit import history_rows, keep_stream_history

JSON = Any
INTERRUPTED = -100_000_000


def _attr(rows: list[Any], field: str, dimension: str | None = None) -> JSON:
    """The decoded value of one attribute row (KeyError when absent)."""
    for row in rows:
        if row["field"] == field and (dimension is None or row["dimension"] == dimension):
            return decode(row["value"])
    raise KeyError(f"{field}{dimension or ''}")


def _ledger_digits(value: int) -> str:
    return f"{int(value):015d}"


# -- item 25: error codes route transitions ------------------------------------------------------------

ERROR_GRAPH = """
- subscribes: err.test
  expire: 60
  activities:
    t1:
      type: trigger
    w1:
      type: worker
      topic: work.do
      input:
        maps:
          code: '{t1.output.data.code}'
    ok:
      type: hook
      job:
        maps:
          routed: ok
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
      - to: ok
      {caught_edge}
"""

CAUGHT_EDGE = """- to: caught
        conditions:
          code: 422"""


class _CodedError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


async def _error_worker(msg: StreamMessage) -> dict[str, JSON]:
    code = int(msg.data.get("code", 200))
    if code == -422:
        raise _CodedError("thrown with a code", 422)  # a thrown error's `code` routes like a reply's
    if code == 422:
        return {"status": "error", "code": 422, "data": {"message": "invalid input", "reason": "id is required"}}
    return {"data": {"fine": True}}


async def test_item_25_error_code_routes_to_matching_transition(pg_dsn: str, app_id: str) -> None:
    yaml = app_yaml(app_id, ERROR_GRAPH.replace("{caught_edge}", CAUGHT_EDGE))
    async with open_mesh(app_id, pg_dsn, yaml, workers=[Worker("work.do", _error_worker)]) as mesh:
        out = await mesh.pubsub("err.test", {"code": 422}, timeout=8)
        assert out["data"]["routed"] == "caught"
        assert out["data"]["reason"] == "id is required"
        assert "err" not in out["metadata"]
        assert await mesh.get_status(out["metadata"]["jid"]) == 0
        # a 200 reply takes the unconditioned edge instead
        out = await mesh.pubsub("err.test", {"code": 200}, timeout=8)
        assert out["data"]["routed"] == "ok"
        # an exception carrying `code` routes the same way
        out = await mesh.pubsub("err.test", {"code": -422}, timeout=8)
        assert out["data"]["routed"] == "caught"


async def test_item_25_unrouted_error_fails_the_job(pg_dsn: str, app_id: str) -> None:
    yaml = app_yaml(app_id, ERROR_GRAPH.replace("{caught_edge}", ""))
    async with open_mesh(app_id, pg_dsn, yaml, workers=[Worker("work.do", _error_worker)]) as mesh:
        with pytest.raises(JobFailedError) as failed:
            await mesh.pubsub("err.test", {"code": 422}, timeout=8)
        assert failed.value.code == 422
        jid = failed.value.job_id
        state = await mesh.get_state("err.test", jid)
        err = json.loads(state["metadata"]["err"])
        assert err["code"] == 422
        assert err["message"] == "invalid input"
        assert state["data"]["done"] is True
        assert "$error" in state["data"]
        assert "routed" not in state["data"]
        assert await mesh.get_status(jid) == 0


async def test_item_25_unrouted_error_completes_job_with_an_open_branch(pg_dsn: str, app_id: str) -> None:
    """Error-terminal: completion tasks run although a parallel branch keeps the semaphore above 0."""
    graph = ERROR_GRAPH.replace("{caught_edge}", "").replace("""    t1:
      - to: w1
""", """    t1:
      - to: w1
      - to: sleeper
""").replace("""    ok:
      type: hook
""", """    sleeper:
      type: hook
      sleep: 30
    ok:
      type: hook
""")
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, graph), workers=[Worker("work.do", _error_worker)]) as mesh:
        with pytest.raises(JobFailedError) as failed:
            await mesh.pubsub("err.test", {"code": 422}, timeout=5)
        assert failed.value.code == 422
        state = await mesh.get_state("err.test", failed.value.job_id)
        assert state["data"]["done"] is True
        assert json.loads(state["metadata"]["err"])["code"] == 422


# -- item 26: retry policy ------------------------------------------------------------------------------

RETRY_GRAPH = """
- subscribes: retry.test
  expire: 60
  activities:
    t1:
      type: trigger
    w1:
      type: worker
      topic: work.flaky
    caught:
      type: hook
      job:
        maps:
          caught: true
  transitions:
    t1:
      - to: w1
    w1:
      - to: caught
        conditions:
          code: 500
"""


class _Failing:
    """A worker callback that raises every time and records when it was called."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, msg: StreamMessage) -> dict[str, JSON]:
        self.calls.append(time.monotonic())
        raise RuntimeError(f"flaky failure {len(self.calls)}")


async def test_item_26_retry_policy_delays_and_routing(pg_dsn: str, app_id: str) -> None:
    """The item's literal numbers: maximumAttempts 3, coefficient 2, maximumInterval 30s ⇒ retries at ≈2 s, 4 s."""
    failing = _Failing()
    policy = RetryPolicy(maximum_attempts=3, backoff_coefficient=2, maximum_interval="30s")
    worker = Worker("work.flaky", failing, retry_policy=policy)
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, RETRY_GRAPH), workers=[worker]) as mesh:
        await keep_stream_history(mesh)  # a retry replaces its row (deletes it): keep the removed rows to read
        out = await mesh.pubsub("retry.test", {}, timeout=12)
        jid = out["metadata"]["jid"]
        assert out["data"]["caught"] is True  # after the 3rd failure the error (code 500) is routed
        assert len(failing.calls) == 3
        gaps = [b - a for a, b in zip(failing.calls, failing.calls[1:], strict=False)]
        assert 1.8 <= gaps[0] <= 3.2, gaps
        assert 3.8 <= gaps[1] <= 5.2, gaps
        rows = await history_rows(mesh, "worker", "jid = $1", jid)
        assert [row["retry_attempt"] for row in rows] == [0, 1, 2]  # each retry is a NEW row
        assert all(row["expired_at"] is not None for row in rows)  # none is left live
        # the first two were removed by their retry; the exhausted last one is parked (kept)
        assert [row["removed_at"] is not None for row in rows] == [True, True, False]
        assert rows[0]["delay_s"] == pytest.approx(0, abs=0.05)
        assert rows[1]["delay_s"] == pytest.approx(2, abs=0.1)
        assert rows[2]["delay_s"] == pytest.approx(4, abs=0.1)
        attempts = [json.loads(row["message"]).get("metadata", {}).get("try", 0) for row in rows]
        assert attempts == [0, 1, 2]
        assert rows[2]["dead_lettered_at"] is not None  # exhausted: parked with its payload


async def test_item_26_retry_policy_columns_persisted(pg_dsn: str, app_id: str) -> None:
    failing = _Failing()
    policy = RetryPolicy(maximum_attempts=3, backoff_coefficient=1.5, maximum_interval="30s", initial_interval=0.2)
    worker = Worker("work.flaky", failing, retry_policy=policy)
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, RETRY_GRAPH), workers=[worker]) as mesh:
        await keep_stream_history(mesh)  # the first retry row is replaced by the second: keep it to read
        out = await mesh.pubsub("retry.test", {}, timeout=8)
        rows = await history_rows(mesh, "worker", "jid = $1", out["metadata"]["jid"])
        retried = [row for row in rows if row["retry_attempt"] > 0]
        assert len(retried) == 2
        for row in retried:
            assert (row["max_retry_attempts"], float(row["backoff_coefficient"]),
                    row["maximum_interval_seconds"]) == (3, 1.5, 30)


async def test_item_26_maximum_attempts_one_means_no_retry(pg_dsn: str, app_id: str) -> None:
    failing = _Failing()
    worker = Worker("work.flaky", failing, retry_policy=RetryPolicy(maximum_attempts=1, backoff_coefficient=2))
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, RETRY_GRAPH), workers=[worker]) as mesh:
        out = await mesh.pubsub("retry.test", {}, timeout=6)
        assert out["data"]["caught"] is True
        assert len(failing.calls) == 1
        rows = await stream_rows(mesh, "worker", "jid = $1", out["metadata"]["jid"])
        assert [row["retry_attempt"] for row in rows] == [0]


async def test_item_26_scaled_backoff_is_exponential_and_capped(pg_dsn: str, app_id: str) -> None:
    """initial 0.2 s, coefficient 3, cap 1 s, 4 attempts ⇒ delays 0.6, 1.0 (capped from 1.8), 1.0 (from 5.4)."""
    failing = _Failing()
    policy = RetryPolicy(maximum_attempts=4, backoff_coefficient=3, maximum_interval=1, initial_interval=0.2)
    worker = Worker("work.flaky", failing, retry_policy=policy)
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, RETRY_GRAPH), workers=[worker]) as mesh:
        await keep_stream_history(mesh)  # each retry replaces its row: keep the replaced ones to read
        out = await mesh.pubsub("retry.test", {}, timeout=8)
        assert out["data"]["caught"] is True
        rows = await history_rows(mesh, "worker", "jid = $1", out["metadata"]["jid"])
        assert [row["retry_attempt"] for row in rows] == [0, 1, 2, 3]
        assert [round(row["delay_s"], 1) for row in rows] == [0.0, 0.6, 1.0, 1.0]
        assert len(failing.calls) == 4


# -- item 27: pending (202) keeps the worker activity open ----------------------------------------------

PENDING_GRAPH = """
- subscribes: pending.test
  expire: 60
  activities:
    t1:
      type: trigger
    w1:
      type: worker
      topic: work.pending
      job:
        maps:
          percentage: '{$self.output.data.percentage}'
    progress:
      type: hook
      job:
        maps:
          progressed: true
    finish:
      type: hook
      job:
        maps:
          finished: true
  transitions:
    t1:
      - to: w1
    w1:
      - to: progress
        conditions:
          code: 202
      - to: finish
        conditions:
          code: 200
"""


async def test_item_27_pending_keeps_worker_open(pg_dsn: str, app_id: str) -> None:
    requests: list[StreamMessage] = []

    async def pending_worker(msg: StreamMessage) -> dict[str, JSON]:
        requests.append(msg)
        return {"status": "pending", "code": 202, "data": {"percentage": 49}}

    yaml = app_yaml(app_id, PENDING_GRAPH)
    async with open_mesh(app_id, pg_dsn, yaml, workers=[Worker("work.pending", pending_worker)]) as mesh:
        jid = await mesh.pub("pending.test", {})

        async def progressed() -> bool:
            return (await mesh.get_state("pending.test", jid))["data"].get("progressed") is True

        await wait_until(progressed)
        state = await mesh.get_state("pending.test", jid)
        assert state["data"]["percentage"] == 49
        assert "finished" not in state["data"]
        assert await mesh.get_status(jid) > 0  # still running: the worker activity stays open
        rows = await attributes(mesh, jid)
        ledger = _ledger_digits(_attr(rows, "w1/output/metadata/as"))
        assert ledger[0] == "0", ledger  # not finalized
        assert ledger[3] == "1", ledger  # Leg 1 done
        assert int(ledger[7:]) == 1, ledger  # one Leg-2 entry so far
        # a later 200 (HotMesh's `add`) completes it
        await add_response(mesh, requests[0], {"percentage": 99})
        await wait_status(mesh, jid, lambda status: status == 0)
        state = await mesh.get_state("pending.test", jid)
        assert state["data"] == {"percentage": 99, "progressed": True, "finished": True}
        ledger = _ledger_digits(_attr(await attributes(mesh, jid), "w1/output/metadata/as"))
        assert int(ledger[7:]) == 2, ledger
        assert len(requests) == 1


async def test_item_27_repeated_pending_responses_each_spawn_children(pg_dsn: str, app_id: str) -> None:
    requests: list[StreamMessage] = []

    async def pending_worker(msg: StreamMessage) -> dict[str, JSON]:
        requests.append(msg)
        return {"status": "pending", "code": 202, "data": {"percentage": 10}}

    yaml = app_yaml(app_id, PENDING_GRAPH)
    async with open_mesh(app_id, pg_dsn, yaml, workers=[Worker("work.pending", pending_worker)]) as mesh:
        jid = await mesh.pub("pending.test", {})

        async def progress_runs() -> int:
            rows = await attributes(mesh, jid)
            return len({row["dimension"] for row in rows if row["field"] == "progress/output/metadata/as"})

        async def ran_once() -> bool:
            return await progress_runs() == 1

        await wait_until(ran_once)
        await add_response(mesh, requests[0], {"percentage": 50}, status=MessageStatus.PENDING, code=202)

        async def ran_twice() -> bool:
            return await progress_runs() == 2

        await wait_until(ran_twice, timeout=4)
        await add_response(mesh, requests[0], {"percentage": 99})
        await wait_status(mesh, jid, lambda status: status == 0, timeout=4)
        state = await mesh.get_state("pending.test", jid)
        assert state["data"]["percentage"] == 99
        assert state["data"]["finished"] is True


# -- item 28: sleep arms a timehook row -------------------------------------------------------------------

SLEEP_GRAPH = """
- subscribes: sleep.test
  expire: 60
  activities:
    t1:
      type: trigger
    s1:
      type: hook
      sleep: {sleep}
      job:
        maps:
          woke_at: '{$self.hook.data.timestamp}'
    after:
      type: hook
      job:
        maps:
          after: true
  transitions:
    t1:
      - to: s1
    s1:
      - to: after
"""


async def test_item_28_sleep_arms_timehook_row(pg_dsn: str, app_id: str) -> None:
    yaml = app_yaml(app_id, SLEEP_GRAPH.replace("{sleep}", "2"))
    async with open_mesh(app_id, pg_dsn, yaml) as mesh:
        started = time.time()
        jid = await mesh.pub("sleep.test", {})

        async def armed() -> bool:
            return bool(await stream_rows(mesh, "engine", "jid = $1 AND msg_type = 'timehook'", jid))

        await wait_until(armed, timeout=3)
        timers = await stream_rows(mesh, "engine", "jid = $1 AND msg_type = 'timehook'", jid)
        assert len(timers) == 1
        timer = timers[0]
        assert timer["aid"] == "s1"
        assert timer["priority"] == 5
        assert timer["stream_name"] == mesh.app_id
        assert timer["delay_s"] >= 2.0  # visible_at ≥ now + N …
        assert timer["delay_s"] <= 3.05  # … rounded up to the 1 s fidelity, not more
        wake_ms = json.loads(timer["message"])["data"]["timestamp"]
        assert wake_ms % 1000 == 0
        assert wake_ms >= (started + 2) * 1000 - 50
        assert abs(timer["visible_at"].timestamp() * 1000 - wake_ms) < 1000
        # inserted inside the Leg-1 transaction: the same transaction timestamp as the job row's write that
        # holds s1's Leg-1 ledger (read while s1 still waits: nothing has written the job since)
        row = await job_row(mesh, jid)
        s1 = json.loads(row["state"])["s1,0,0"]  # s1 at dimension ,0,0 (the trigger's child)
        assert _ledger_digits(s1["output"]["metadata"]["as"])[7:] == "00000000"  # Leg 1 done, no Leg 2 yet
        assert row["status"] == 1
        assert row["updated_at"] == timer["created_at"]
        assert await mesh.get_status(jid) == 1
        status = await wait_status(mesh, jid, lambda s: s == 0, timeout=6)
        assert status == 0
        assert time.time() - started >= 2.0
        state = await mesh.get_state("sleep.test", jid)
        assert state["data"]["after"] is True
        assert state["data"]["woke_at"] == wake_ms


async def test_item_28_sleep_rounds_up_to_fidelity(pg_dsn: str, app_id: str) -> None:
    yaml = app_yaml(app_id, SLEEP_GRAPH.replace("{sleep}", "1"))
    async with open_mesh(app_id, pg_dsn, yaml, settings=fast_settings(fidelity_seconds=2)) as mesh:
        started = time.time()
        jid = await mesh.pub("sleep.test", {})
        await wait_status(mesh, jid, lambda s: s == 0, timeout=6)
        # the timer fired and was consumed (its row deleted): read it from the recorded removed rows
        [timer] = await stream_rows(mesh, "engine", "jid = $1 AND msg_type = 'timehook'", jid, removed=True)
        assert timer["removed_at"] is not None
        wake_ms = json.loads(timer["message"])["data"]["timestamp"]
        assert wake_ms % 2000 == 0
        assert wake_ms >= (started + 1) * 1000 - 50
        assert timer["delay_s"] >= 1.0
        assert timer["delay_s"] <= 3.05


# -- item 29: web hook --------------------------------------------------------------------------------------

WEBHOOK_GRAPH = """
- subscribes: approval.test
  expire: 60
  activities:
    t1:
      type: trigger
    a1:
      type: hook
      hook:
        type: object
        properties:
          approved:
            type: boolean
      job:
        maps:
          approved: '{a1.hook.data.approved}'
    ok200:
      type: hook
      job:
        maps:
          closed: true
          approved_again: '{a1.hook.data.approved}'
    pend202:
      type: hook
      job:
        maps:
          pending_seen: true
  transitions:
    t1:
      - to: a1
    a1:
      - to: ok200
        conditions:
          code: 200
      - to: pend202
        conditions:
          code: 202
  hooks:
    order.approval:
      - to: a1
        conditions:
          match:
            - expected: '{$job.metadata.jid}'
              actual: '{$self.hook.data.id}'
"""


def _key(topic: str, value: str) -> str:
    return f"signals:{topic}:{value}"


async def _wait_registered(mesh: Any, key: str) -> str:
    async def registered() -> bool:
        value = (await registry(mesh)).get(key)
        return value is not None and not value.startswith("$pending::")

    await wait_until(registered)
    return (await registry(mesh))[key]


async def test_item_29_webhook_resumes_and_registry_row_lifecycle(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, WEBHOOK_GRAPH)) as mesh:
        jid = await mesh.pub("approval.test", {})
        key = _key("order.approval", jid)
        value = await _wait_registered(mesh, key)
        aid, dad, gid, target = value.split("::")
        assert (aid, dad, target) == ("a1", ",0,0", jid)
        assert gid == (await mesh.get_state("approval.test", jid))["metadata"]["gid"]
        ttl = next(row["ttl_s"] for row in await registry_rows(mesh) if row["key"] == key)
        assert 3500 < ttl <= 3600  # max(graph expire, HMSH_SIGNAL_EXPIRE)
        assert await mesh.get_status(jid) == 1
        # a signal for another id does not resume this job
        await mesh.signal("order.approval", {"id": "someone-else", "approved": False})
        await mesh.signal("order.approval", {"id": jid, "approved": True})
        await wait_status(mesh, jid, lambda s: s == 0)
        state = await mesh.get_state("approval.test", jid)
        assert state["data"]["approved"] is True
        assert state["data"]["approved_again"] is True  # {a1.hook.data.approved} is mappable downstream
        assert "pending_seen" not in state["data"]
        assert key not in await registry(mesh)  # code 200 deletes the registration


async def test_item_29_webhook_202_keeps_registration(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, WEBHOOK_GRAPH)) as mesh:
        jid = await mesh.pub("approval.test", {})
        key = _key("order.approval", jid)
        await _wait_registered(mesh, key)
        await mesh.signal("order.approval", {"id": jid, "approved": False}, status="pending", code=202)

        async def pending_seen() -> bool:
            return (await mesh.get_state("approval.test", jid))["data"].get("pending_seen") is True

        await wait_until(pending_seen)
        assert key in await registry(mesh)  # 202 keeps the registration
        assert await mesh.get_status(jid) > 0
        assert (await mesh.get_state("approval.test", jid))["data"]["approved"] is False
        await mesh.signal("order.approval", {"id": jid, "approved": True})
        await wait_status(mesh, jid, lambda s: s == 0)
        state = await mesh.get_state("approval.test", jid)
        assert state["data"]["approved"] is True
        assert state["data"]["closed"] is True
        assert key not in await registry(mesh)
        ledger = _ledger_digits(_attr(await attributes(mesh, jid), "a1/output/metadata/as"))
        assert int(ledger[7:]) == 2, ledger  # two Leg-2 entries on the same hook


async def test_item_29_webhook_two_202_signals_then_200(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, WEBHOOK_GRAPH)) as mesh:
        jid = await mesh.pub("approval.test", {})
        await _wait_registered(mesh, _key("order.approval", jid))
        for _ in range(2):
            await mesh.signal("order.approval", {"id": jid, "approved": False}, status="pending", code=202)
        await mesh.signal("order.approval", {"id": jid, "approved": True})
        await wait_status(mesh, jid, lambda s: s == 0, timeout=4)
        assert (await mesh.get_state("approval.test", jid))["data"]["closed"] is True


# -- item 30: signal before registration is buffered ----------------------------------------------------------


async def test_item_30_signal_before_registration_is_buffered(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, WEBHOOK_GRAPH)) as mesh:
        jid = f"early-{app_id}"
        key = _key("order.approval", jid)
        await mesh.signal("order.approval", {"id": jid, "approved": True})

        async def buffered() -> bool:
            return (await registry(mesh)).get(key, "").startswith("$pending::")

        await wait_until(buffered)
        row = next(row for row in await registry_rows(mesh) if row["key"] == key)
        assert 590 < row["ttl_s"] <= 600  # HMSH_PENDING_SIGNAL_EXPIRE
        assert '"approved":true' in row["value"].replace(" ", "")
        # `$expire` in the payload sets the pending TTL
        other = f"early2-{app_id}"
        await mesh.signal("order.approval", {"id": other, "approved": False, "$expire": "30 seconds"})

        async def buffered_other() -> bool:
            return (await registry(mesh)).get(_key("order.approval", other), "").startswith("$pending::")

        await wait_until(buffered_other)
        row = next(row for row in await registry_rows(mesh) if row["key"] == _key("order.approval", other))
        assert 25 < row["ttl_s"] <= 30
        # the hook registers later and consumes the buffered signal
        await mesh.pub("approval.test", {}, job_id=jid)
        await wait_status(mesh, jid, lambda s: s == 0)
        state = await mesh.get_state("approval.test", jid)
        assert state["data"]["approved"] is True
        assert state["data"]["closed"] is True
        assert key not in await registry(mesh)


async def test_item_30_expired_pending_signal_is_not_delivered(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, WEBHOOK_GRAPH)) as mesh:
        jid = f"stale-{app_id}"
        key = _key("order.approval", jid)
        await mesh.signal("order.approval", {"id": jid, "approved": True, "$expire": 1})

        async def buffered() -> bool:
            return (await registry(mesh)).get(key, "").startswith("$pending::")

        await wait_until(buffered)
        await trio.sleep(1.5)  # the buffered signal outlives its `$expire`
        await mesh.pub("approval.test", {}, job_id=jid)
        value = await _wait_registered(mesh, key)
        assert value.startswith("a1::")
        await trio.sleep(1.0)
        assert await mesh.get_status(jid) == 1  # still waiting: the stale signal was not delivered
        assert "approved" not in (await mesh.get_state("approval.test", jid))["data"]


async def test_item_30_hundred_concurrent_races_lose_no_signal(pg_dsn: str, app_id: str) -> None:
    count = 100
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, WEBHOOK_GRAPH)) as mesh:
        jids = [f"race{i}-{app_id}" for i in range(count)]
        rng = random.Random(7)

        async def race(jid: str, index: int) -> None:
            async def start() -> None:
                await trio.sleep(rng.random() * 0.2)
                await mesh.pub("approval.test", {"n": index}, job_id=jid)

            async def send() -> None:
                await trio.sleep(rng.random() * 0.2)
                await mesh.signal("order.approval", {"id": jid, "approved": True, "n": index})

            async with trio.open_nursery() as nursery:
                nursery.start_soon(start)
                nursery.start_soon(send)

        async with trio.open_nursery() as nursery:
            for index, jid in enumerate(jids):
                nursery.start_soon(race, jid, index)

        async def all_done() -> bool:
            rows = await mesh.db.fetch(f"SELECT status FROM {table(mesh, 'jobs')}")
            return len(rows) == count and all(row["status"] == 0 for row in rows)

        await wait_until(all_done, timeout=30, every=0.2)
        for jid in jids:
            state = await mesh.get_state("approval.test", jid)
            assert state["data"]["approved"] is True, jid
            assert state["data"]["closed"] is True, jid
        assert not [key for key in await registry(mesh) if key.startswith("signals:order.approval:race")]


async def _hold_registry_row(mesh: Any, key: str, value: str, hold_s: float, holding: trio.Event) -> None:
    """Replace `key`'s registry row by one holding `value` in a transaction kept open for `hold_s` seconds:
    another transaction touching the key meanwhile sees the old row (or none) and waits on the new one until
    this commits — the moment a hook's registration and a signal's routing cross."""
    registry_table = table(mesh, "signal_registry")
    statements = [
        Statement(f"DELETE FROM {registry_table} WHERE key = $1", (key,), "execute"),
        Statement(f"INSERT INTO {registry_table} (key, value, expiry) VALUES ($1, $2, now() + interval '10 min')",
                  (key, value), "execute"),
        Statement("SELECT pg_sleep($1)", (hold_s,), "execute"),
    ]

    async def mark_holding() -> None:
        await trio.sleep(0.3)  # the DELETE and INSERT ran well before this (the sleep holds the commit)
        holding.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(mark_holding)
        await mesh.db.transaction(statements)


async def test_item_30_signal_routed_while_its_registration_commits_is_not_lost(pg_dsn: str, app_id: str) -> None:
    """A signal whose routing meets a registration committing under it (its snapshot saw no live row, its
    row lock waited for the registration) neither routes nor stores at first: it is routed again and
    delivered, not acked as "stored" and lost."""
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, WEBHOOK_GRAPH)) as mesh:
        jid = await mesh.pub("approval.test", {})
        key = _key("order.approval", jid)
        registration = await _wait_registered(mesh, key)
        holding = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_hold_registry_row, mesh, key, registration, 1.5, holding)
            await holding.wait()
            await mesh.signal("order.approval", {"id": jid, "approved": True})
        await wait_status(mesh, jid, lambda s: s == 0, timeout=8)
        state = await mesh.get_state("approval.test", jid)
        assert state["data"]["approved"] is True and state["data"]["closed"] is True
        assert key not in await registry(mesh)  # consumed, not left pending


async def test_item_30_signal_stored_while_its_hook_registers_is_not_lost(pg_dsn: str, app_id: str) -> None:
    """A signal stored (pending) while the hook's registration waits on its registry row — invisible to the
    registration's snapshot — is not overwritten by the registration: it is re-published and delivered."""
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, WEBHOOK_GRAPH)) as mesh:
        jid = f"crossing-{app_id}"
        key = _key("order.approval", jid)
        await mesh.signal("order.approval", {"id": jid, "approved": True})

        async def buffered() -> bool:
            return (await registry(mesh)).get(key, "").startswith("$pending::")

        await wait_until(buffered)
        pending = (await registry(mesh))[key]
        holding = trio.Event()
        async with trio.open_nursery() as nursery:
            # the pending row, deleted and stored again in a transaction still open when the hook registers
            nursery.start_soon(_hold_registry_row, mesh, key, pending, 1.5, holding)
            await holding.wait()
            await mesh.pub("approval.test", {}, job_id=jid)
        await wait_status(mesh, jid, lambda s: s == 0, timeout=8)
        state = await mesh.get_state("approval.test", jid)
        assert state["data"]["approved"] is True and state["data"]["closed"] is True
        assert key not in await registry(mesh)


# -- item 31: sleep + signal: exactly one wins ------------------------------------------------------------------

TIMEOUT_GRAPH = """
- subscribes: timeout.test
  expire: 60
  activities:
    t1:
      type: trigger
    h1:
      type: hook
      sleep: {sleep}
      job:
        maps:
          answer: '{$self.hook.data.answer}'
          timestamp: '{$self.hook.data.timestamp}'
    after:
      type: hook
      job:
        maps:
          after: true
  transitions:
    t1:
      - to: h1
    h1:
      - to: after
  hooks:
    answer.given:
      - to: h1
        conditions:
          match:
            - expected: '{$job.metadata.jid}'
              actual: '{$self.hook.data.id}'
"""


async def test_item_31_sleep_and_signal_signal_wins_and_disarms_timer(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, TIMEOUT_GRAPH.replace("{sleep}", "2"))) as mesh:
        jid = await mesh.pub("timeout.test", {})
        key = _key("answer.given", jid)
        await _wait_registered(mesh, key)
        timers = await stream_rows(mesh, "engine", "jid = $1 AND msg_type = 'timehook'", jid)
        assert len(timers) == 1 and timers[0]["expired_at"] is None
        await mesh.signal("answer.given", {"id": jid, "answer": 42})
        await wait_status(mesh, jid, lambda s: s == 0)
        assert await stream_rows(mesh, "engine", "id = $1", timers[0]["id"]) == []  # no longer live
        [timer] = await stream_rows(mesh, "engine", "id = $1", timers[0]["id"], removed=True)
        assert timer["removed_at"] is not None  # disarmed (its row deleted) …
        assert timer["removed_at"] < timer["visible_at"]  # … before it fell due
        assert timer["reserved_at"] is None  # never delivered
        await trio.sleep(max(0.0, timer["due_in_s"]) + 1.5)  # let the old wake time pass
        state = await mesh.get_state("timeout.test", jid)
        assert state["data"]["answer"] == 42
        assert "timestamp" not in state["data"]
        assert await mesh.get_status(jid) == 0
        ledger = _ledger_digits(_attr(await attributes(mesh, jid), "h1/output/metadata/as"))
        assert int(ledger[7:]) == 1, ledger  # exactly one Leg 2
        assert key not in await registry(mesh)


async def test_item_31_sleep_and_signal_timeout_wins_and_unregisters(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, TIMEOUT_GRAPH.replace("{sleep}", "1"))) as mesh:
        jid = await mesh.pub("timeout.test", {})
        key = _key("answer.given", jid)
        await _wait_registered(mesh, key)
        await wait_status(mesh, jid, lambda s: s == 0, timeout=5)
        assert key not in await registry(mesh)  # the timer path deletes the registration
        # a late signal finds no registration: it is buffered, and the finished job is unaffected
        await mesh.signal("answer.given", {"id": jid, "answer": 42})

        async def buffered() -> bool:
            return (await registry(mesh)).get(key, "").startswith("$pending::")

        await wait_until(buffered)
        state = await mesh.get_state("timeout.test", jid)
        assert "answer" not in state["data"]
        assert isinstance(state["data"]["timestamp"], int)
        assert state["data"]["after"] is True
        assert await mesh.get_status(jid) == 0
        ledger = _ledger_digits(_attr(await attributes(mesh, jid), "h1/output/metadata/as"))
        assert int(ledger[7:]) == 1, ledger


async def test_item_31_simultaneous_signal_and_timer_exactly_one_wins(pg_dsn: str, app_id: str) -> None:
    """Fire the signal right at the timer's wake time, for several jobs: each resumes exactly once."""
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, TIMEOUT_GRAPH.replace("{sleep}", "1"))) as mesh:
        jids = [await mesh.pub("timeout.test", {}) for _ in range(8)]
        for jid in jids:
            await _wait_registered(mesh, _key("answer.given", jid))
        timers = await stream_rows(mesh, "engine", "msg_type = 'timehook'")
        await trio.sleep(max(0.0, min(row["due_in_s"] for row in timers)))
        for jid in jids:
            await mesh.signal("answer.given", {"id": jid, "answer": 1})
        for jid in jids:
            await wait_status(mesh, jid, lambda s: s == 0, timeout=5)
        await trio.sleep(1.0)
        for jid in jids:
            state = await mesh.get_state("timeout.test", jid)
            assert ("answer" in state["data"]) != ("timestamp" in state["data"]), state
            assert await mesh.get_status(jid) == 0
            rows = await attributes(mesh, jid)
            assert int(_ledger_digits(_attr(rows, "h1/output/metadata/as"))[7:]) == 1
            assert int(_ledger_digits(_attr(rows, "after/output/metadata/as"))[1:3]) == 1  # `after` ran once


# -- item 32: cycle ---------------------------------------------------------------------------------------------

CYCLE_GRAPH = """
- subscribes: cycle.test
  expire: 120
  activities:
    t1:
      type: trigger
    a1:
      type: hook
      cycle: true
    w1:
      type: worker
      topic: cycle.count
      input:
        maps:
          seen: '{a1.output.data.seen}'
      job:
        maps:
          counter: '{$self.output.data.counter}'
    c1:
      type: cycle
      ancestor: a1
      input:
        maps:
          seen: '{w1.output.data.counter}'
  transitions:
    t1:
      - to: a1
    a1:
      - to: w1
    w1:
      - to: c1
        conditions:
          match:
            - expected: true
              actual:
                '@pipe':
                  - ['{w1.output.data.counter}', 5]
                  - ['{@conditional.less_than}']
"""


def _counting_worker() -> tuple[list[StreamMessage], Worker]:
    calls: list[StreamMessage] = []

    async def count(msg: StreamMessage) -> dict[str, JSON]:
        calls.append(msg)
        return {"data": {"counter": len(calls)}}

    return calls, Worker("cycle.count", count)


async def test_item_32_cycle_dimensions_and_accumulation(pg_dsn: str, app_id: str) -> None:
    calls, worker = _counting_worker()
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, CYCLE_GRAPH), workers=[worker]) as mesh:
        out = await mesh.pubsub("cycle.test", {}, timeout=8)
        jid = out["metadata"]["jid"]
        assert out["data"]["counter"] == 5  # job.maps accumulate across iterations
        assert await mesh.get_status(jid) == 0
        assert [msg.metadata.dad for msg in calls] == [f",0,{i},0" for i in range(5)]
        # the cycle's input.maps become the ancestor's output data of the next iteration
        assert [msg.data.get("seen") for msg in calls] == [None, 1, 2, 3, 4]
        rows = await attributes(mesh, jid)
        a1_dims = sorted({row["dimension"] for row in rows if row["field"].startswith("a1/")})
        assert a1_dims == [f",0,{i}" for i in range(5)]
        # each iteration's state is isolated in its own dimension
        for i in range(5):
            assert _attr(rows, "w1/output/data/counter", f",0,{i},0") == i + 1
            assert _attr(rows, "a1/output/metadata/dad", f",0,{i}") == f",0,{i}"
            if i:
                assert _attr(rows, "a1/output/data/seen", f",0,{i}") == i
        c1_dims = sorted({row["dimension"] for row in rows if row["field"].startswith("c1/")})
        assert c1_dims == [f",0,{i},0,0" for i in range(4)]
        # job-level data has no dimension
        assert {row["dimension"] for row in rows if row["type"] == "jdata"} == {""}


async def test_item_32_exceeding_max_cycles_errors(pg_dsn: str, app_id: str) -> None:
    calls, worker = _counting_worker()
    settings = fast_settings(max_cycles=2)
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, CYCLE_GRAPH), workers=[worker],
                         settings=settings) as mesh:
        with pytest.raises(JobFailedError):
            await mesh.pubsub("cycle.test", {}, timeout=4)
        assert len(calls) == 3  # iterations 0, 1, 2; the re-entry into index 3 is refused


# -- item 33: signal activity 202 then 200 ----------------------------------------------------------------------

SIGNAL_GRAPHS = """
- subscribes: waiter.start
  expire: 60
  activities:
    hookTrigger:
      type: trigger
    hookSignaler:
      type: hook
      hook:
        type: object
        properties:
          done:
            type: boolean
      job:
        maps:
          done: '{$self.hook.data.done}'
    hook200:
      type: hook
      job:
        maps:
          got200: true
    hook202:
      type: hook
      job:
        maps:
          got202: true
  transitions:
    hookTrigger:
      - to: hookSignaler
    hookSignaler:
      - to: hook200
        conditions:
          code: 200
      - to: hook202
        conditions:
          code: 202
  hooks:
    hook.resume:
      - to: hookSignaler
        conditions:
          match:
            - expected: '{$job.metadata.jid}'
              actual: '{$self.hook.data.id}'
- subscribes: signaler.start
  expire: 60
  activities:
    onetrigger:
      type: trigger
    onesignaler:
      type: signal
      subtype: one
      topic: hook.resume
      code: 202
      status: pending
      signal:
        maps:
          id: '{onetrigger.output.data.target}'
          done: false
    twosignaler:
      type: signal
      subtype: one
      topic: hook.resume
      code: 200
      status: success
      signal:
        maps:
          id: '{onetrigger.output.data.target}'
          done: true
  transitions:
    onetrigger:
      - to: onesignaler
    onesignaler:
      - to: twosignaler
"""


async def test_item_33_signal_activity_202_then_200(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, SIGNAL_GRAPHS)) as mesh:
        waiter = await mesh.pub("waiter.start", {})
        key = _key("hook.resume", waiter)
        await _wait_registered(mesh, key)
        signaler = await mesh.pub("signaler.start", {"target": waiter})
        await wait_status(mesh, waiter, lambda s: s == 0)
        state = await mesh.get_state("waiter.start", waiter)
        assert state["data"] == {"done": True, "got202": True, "got200": True}
        ledger = _ledger_digits(_attr(await attributes(mesh, waiter), "hookSignaler/output/metadata/as"))
        assert int(ledger[7:]) == 2, ledger  # resumed twice
        assert key not in await registry(mesh)  # closed by the 200
        assert await mesh.get_status(signaler) == 0
        # both signals went through the engine stream (consumed, so read from the removed rows), in order
        webhooks = await stream_rows(mesh, "engine", "msg_type = 'webhook'", removed=True)
        assert [(json.loads(r["message"]).get("code", 200)) for r in webhooks] == [202, 200]
        assert all(r["removed_at"] is not None and r["dead_lettered_at"] is None for r in webhooks)


# -- item 34: the interrupt API ----------------------------------------------------------------------------------

WAIT_GRAPH = """
- subscribes: wait.test
  publishes: wait.done
  expire: 60
  activities:
    t1:
      type: trigger
    sleeper:
      type: hook
      sleep: 30
    after:
      type: hook
  transitions:
    t1:
      - to: sleeper
    sleeper:
      - to: after
"""


async def test_item_34_interrupt_api(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, WAIT_GRAPH)) as mesh:
        jid = await mesh.pub("wait.test", {})
        recorder = Recorder()
        await mesh.sub(f"wait.done.{jid}", recorder)

        async def armed() -> bool:
            return bool(await stream_rows(mesh, "engine", "jid = $1 AND msg_type = 'timehook'", jid))

        await wait_until(armed)
        before = await mesh.db.fetchval("SELECT now()")
        await mesh.interrupt("wait.test", jid, reason="operator stopped it")
        status = await mesh.get_status(jid)
        assert status < INTERRUPTED
        expired_at = (await job_row(mesh, jid))["expired_at"]
        assert expired_at is not None  # expires after `expire` (default 1 s)
        assert 0.5 <= (expired_at - before).total_seconds() <= 2.5
        state = await mesh.get_state("wait.test", jid)
        err = json.loads(state["metadata"]["err"])
        assert err["code"] == 410
        assert err["message"] == "operator stopped it"
        assert err["job_id"] == jid
        seen = await recorder.wait_count(1)  # subscribers are notified
        topic, output = seen[0]
        assert topic == "wait.done"  # the graph's `publishes` topic, as HotMesh names it
        assert json.loads(output["metadata"]["err"])["code"] == 410
        assert output["metadata"]["js"] < INTERRUPTED
        live = await stream_rows(mesh, "engine", "jid = $1 AND expired_at IS NULL", jid)
        assert live == []  # the sleeping timer was purged
        # interrupting again (the job is no longer running) throws unless suppressed
        with pytest.raises(JobAlreadyCompletedError, match=f"Job {jid} already completed"):
            await mesh.interrupt("wait.test", jid)
        await mesh.interrupt("wait.test", jid, suppress=True)
        assert await mesh.get_status(jid) == status  # not interrupted twice
        with pytest.raises(JobNotFoundError):
            await mesh.interrupt("wait.test", f"missing-{jid}")


async def test_item_34_interrupt_default_message_and_throw_false(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, WAIT_GRAPH)) as mesh:
        loud = await mesh.pub("wait.test", {})
        quiet = await mesh.pub("wait.test", {})
        await mesh.interrupt("wait.test", loud)
        err = json.loads((await mesh.get_state("wait.test", loud))["metadata"]["err"])
        assert err["message"] == f"job [{loud}] interrupted"
        assert err["code"] == 410
        await mesh.interrupt("wait.test", quiet, throw=False)
        state = await mesh.get_state("wait.test", quiet)
        assert state["metadata"]["js"] < INTERRUPTED
        assert "err" not in state["metadata"]  # throw:false suppresses the error


async def test_item_34_interrupt_completed_job_throws(pg_dsn: str, app_id: str) -> None:
    graph = WAIT_GRAPH.replace("sleep: 30", "sleep: 0")
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, graph)) as mesh:
        out = await mesh.pubsub("wait.test", {}, timeout=5)
        jid = out["metadata"]["jid"]
        with pytest.raises(JobAlreadyCompletedError, match=f"Job {jid} already completed"):
            await mesh.interrupt("wait.test", jid)
        await mesh.interrupt("wait.test", jid, suppress=True)
        assert await mesh.get_status(jid) == 0


async def test_item_34_interrupt_rejects_a_waiting_pubsub(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, WAIT_GRAPH)) as mesh:
        jid = f"waited-{app_id}"
        failures: list[JobFailedError] = []

        async def wait_for_it() -> None:
            try:
                await mesh.pubsub("wait.test", {}, job_id=jid, timeout=8)
            except JobFailedError as err:
                failures.append(err)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait_for_it)

            async def started() -> bool:
                return await status_of(mesh, jid) == 1

            await wait_until(started)
            await mesh.interrupt("wait.test", jid, reason="no longer needed")
        assert len(failures) == 1
        assert failures[0].code == 410
        assert failures[0].job_id == jid


AWAIT_CHILD_GRAPHS = """
- subscribes: parent.start
  expire: 60
  activities:
    pt:
      type: trigger
    pa:
      type: await
      topic: child.start
      input:
        maps:
          child: '{pt.output.data.child}'
  transitions:
    pt:
      - to: pa
- subscribes: child.start
  expire: 60
  activities:
    ct:
      type: trigger
      stats:
        id: '{$self.output.data.child}'
    cwait:
      type: hook
      sleep: 30
  transitions:
    ct:
      - to: cwait
"""


async def test_item_34_interrupting_a_child_sends_the_parent_an_error(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, AWAIT_CHILD_GRAPHS)) as mesh:
        child = f"child-{app_id}"
        parent = await mesh.pub("parent.start", {"child": child})
        await wait_status(mesh, child, lambda s: s == 1)
        assert (await job_row(mesh, child))["parent_id"] == parent
        await mesh.interrupt("child.start", child, reason="child cancelled")
        await wait_status(mesh, parent, lambda s: s <= 0)
        state = await mesh.get_state("parent.start", parent)
        err = json.loads(state["metadata"]["err"])
        assert err["code"] == 410  # the child's error code propagates to the awaiting parent
        assert state["metadata"]["js"] == 0


async def test_item_34_interrupt_cancels_pending_escalations(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, WAIT_GRAPH)) as mesh:
        jid = await mesh.pub("wait.test", {})
        other = await mesh.pub("wait.test", {})
        for workflow_id in (jid, other):
            await mesh.db.execute(
                "INSERT INTO public.hmsh_escalations (namespace, app_id, workflow_id, signal_key, role) "
                "VALUES ('hmsh', $1, $2, $3, 'manager')", mesh.app_id, workflow_id, f"esc-{workflow_id}")
        await mesh.interrupt("wait.test", jid)
        rows = await mesh.db.fetch(
            "SELECT workflow_id, status FROM public.hmsh_escalations WHERE app_id = $1", mesh.app_id)
        statuses = {row["workflow_id"]: row["status"] for row in rows}
        assert statuses == {jid: "cancelled", other: "pending"}


# -- item 35: interrupt activity, emit, await:false, statusThreshold -----------------------------------------------

INTERRUPT_GRAPHS = """
- subscribes: self.stop
  publishes: self.stopped
  expire: 60
  activities:
    t1:
      type: trigger
    i1:
      type: interrupt
      reason: '{t1.output.data.why}'
    never:
      type: hook
      job:
        maps:
          reached: true
  transitions:
    t1:
      - to: i1
    i1:
      - to: never
- subscribes: quiet.stop
  expire: 60
  activities:
    qt:
      type: trigger
    qi:
      type: interrupt
      throw: false
  transitions:
    qt:
      - to: qi
- subscribes: victim.start
  expire: 60
  activities:
    vt:
      type: trigger
    vwait:
      type: hook
      sleep: 30
  transitions:
    vt:
      - to: vwait
- subscribes: killer.start
  expire: 60
  activities:
    kt:
      type: trigger
    kill:
      type: interrupt
      topic: victim.start
      target: '{kt.output.data.target}'
      reason: killed by another job
      code: 499
    continued:
      type: hook
      job:
        maps:
          continued: true
  transitions:
    kt:
      - to: kill
    kill:
      - to: continued
"""


async def test_item_35_interrupt_activity_self(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, INTERRUPT_GRAPHS)) as mesh:
        with pytest.raises(JobFailedError) as failed:
            await mesh.pubsub("self.stop", {"why": "enough"}, timeout=5)
        assert failed.value.code == 410
        jid = failed.value.job_id
        state = await mesh.get_state("self.stop", jid)
        assert state["metadata"]["js"] < INTERRUPTED
        err = json.loads(state["metadata"]["err"])
        assert (err["code"], err["message"], err["job_id"]) == (410, "enough", jid)
        assert "reached" not in state["data"]  # no child after a self-interrupt
        # throw: false interrupts without an error
        out = await mesh.pubsub("quiet.stop", {}, timeout=5)
        assert out["metadata"]["js"] < INTERRUPTED
        assert "err" not in out["metadata"]


async def test_item_35_interrupt_activity_target(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, INTERRUPT_GRAPHS)) as mesh:
        victim = await mesh.pub("victim.start", {})
        out = await mesh.pubsub("killer.start", {"target": victim}, timeout=5)
        assert out["data"]["continued"] is True  # the interrupter continues to its children
        assert await mesh.get_status(out["metadata"]["jid"]) == 0
        status = await wait_status(mesh, victim, lambda s: s < INTERRUPTED)
        assert status < INTERRUPTED
        err = json.loads((await mesh.get_state("victim.start", victim))["metadata"]["err"])
        assert (err["code"], err["message"]) == (499, "killed by another job")
        assert await stream_rows(mesh, "engine", "jid = $1 AND expired_at IS NULL", victim) == []


EMIT_GRAPH = """
- subscribes: emit.test
  publishes: emit.tested
  expire: 60
  activities:
    t1:
      type: trigger
      job:
        maps:
          done: false
    w1:
      type: worker
      topic: emit.test.worker
      emit: true
      job:
        maps:
          status: '{$self.output.data.status}'
    a1:
      type: hook
      sleep: 1
      job:
        maps:
          done: true
  transitions:
    t1:
      - to: w1
    w1:
      - to: a1
"""


async def test_item_35_emit_publishes_interim_state(pg_dsn: str, app_id: str) -> None:
    async def work(msg: StreamMessage) -> dict[str, JSON]:
        return {"data": {"status": "working"}}

    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, EMIT_GRAPH),
                         workers=[Worker("emit.test.worker", work)]) as mesh:
        jid = f"emit-{app_id}"
        recorder = Recorder()
        await mesh.sub(f"emit.tested.{jid}", recorder)
        await mesh.pub("emit.test", {}, job_id=jid)
        seen = await recorder.wait_count(2, timeout=6)
        (first_topic, interim), (_, final) = seen[0], seen[1]
        assert first_topic == "emit.tested"
        assert interim["data"] == {"done": False, "status": "working"}  # published before transitioning
        assert interim["metadata"]["js"] > 0
        assert final["data"] == {"done": True, "status": "working"}
        assert final["metadata"]["js"] == 0
        assert len(recorder.seen) == 2


AWAITER_GRAPHS = """
- subscribes: awaiter.test
  expire: 60
  activities:
    t1:
      type: trigger
      job:
        maps:
          do_await: '{t1.output.data.do_await}'
    a1:
      type: await
      topic: awaiter.target
      await: '{t1.output.data.do_await}'
      input:
        maps:
          do_await: '{t1.output.data.do_await}'
      job:
        maps:
          child_job_id: '{a1.output.data.job_id}'
          child_some_data: '{a1.output.data.some_data}'
  transitions:
    t1:
      - to: a1
- subscribes: awaiter.target
  expire: 60
  activities:
    t2:
      type: trigger
    slow:
      type: hook
      sleep: 2
      job:
        maps:
          some_data: true
  transitions:
    t2:
      - to: slow
"""


async def test_item_35_await_false_returns_job_id_immediately(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, AWAITER_GRAPHS)) as mesh:
        started = time.monotonic()
        out = await mesh.pubsub("awaiter.test", {"do_await": False}, timeout=5)
        assert time.monotonic() - started < 1.5  # did not wait for the 2 s child
        child = out["data"]["child_job_id"]
        assert isinstance(child, str) and child
        assert "child_some_data" not in out["data"]
        assert await mesh.get_status(child) > 0  # the child is still running on its own
        row = await job_row(mesh, child)
        assert row["parent_id"] == out["metadata"]["jid"]
        await wait_status(mesh, child, lambda s: s == 0, timeout=6)
        assert (await mesh.get_state("awaiter.target", child))["data"]["some_data"] is True
        # awaiting (do_await true) binds the child's result instead
        out = await mesh.pubsub("awaiter.test", {"do_await": True}, timeout=6)
        assert out["data"]["child_some_data"] is True


THRESHOLD_GRAPH = """
- subscribes: signal.toggle
  publishes: signal.toggled
  expire: 60
  activities:
    toggleTrigger:
      type: trigger
      job:
        maps:
          done: false
    waitForSignaler:
      type: hook
      statusThreshold: '{toggleTrigger.output.data.statusThreshold}'
      hook:
        type: object
        properties:
          done:
            type: boolean
      job:
        maps:
          done: '{$self.hook.data.done}'
          howdy: '{$self.hook.data.howdy}'
  transitions:
    toggleTrigger:
      - to: waitForSignaler
  hooks:
    waitForSignaler.doPleaseResume:
      - to: waitForSignaler
        conditions:
          match:
            - expected: '{$job.metadata.jid}'
              actual: '{$self.hook.data.id}'
"""


async def test_item_35_without_status_threshold_the_hook_waits(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, THRESHOLD_GRAPH)) as mesh:
        jid = f"pdq-{app_id}"
        await mesh.pub("signal.toggle", {}, job_id=jid)
        await _wait_registered(mesh, _key("waitForSignaler.doPleaseResume", jid))
        await mesh.signal("waitForSignaler.doPleaseResume", {"id": jid, "done": True, "howdy": "pardner"})
        await wait_status(mesh, jid, lambda s: s == 0)
        data = (await mesh.get_state("signal.toggle", jid))["data"]
        assert (data["done"], data["howdy"]) == (True, "pardner")


async def test_item_35_status_threshold_exits_early(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, THRESHOLD_GRAPH)) as mesh:
        jid = f"xyz-{app_id}"
        recorder = Recorder()
        await mesh.sub(f"signal.toggled.{jid}", recorder)
        await mesh.pub("signal.toggle", {"statusThreshold": 1}, job_id=jid)
        seen = await recorder.wait_count(1, timeout=4)
        assert seen[0][1]["data"]["done"] is False
        assert await status_of(mesh, jid) == 0
        assert _key("waitForSignaler.doPleaseResume", jid) not in await registry(mesh)


