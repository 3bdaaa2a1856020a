"""SPEC §11 items 17-24 on a real Postgres: replays, early arrivals, ledger digits, NOTIFY, purge, poison.

Our engine runs claim → decide → write → publish → ack in ONE transaction (DESIGN §5), so the three steps
of the collation protocol share a commit; the ledgers must still refuse every replayed message. A
re-delivery is simulated the way a broker would produce it: a copy of the message's stream row (same JSON,
same guid) inserted into the stream table.

Acked stream rows are deleted (the lean step): the meshes here record removed rows (collation_kit.open_mesh),
so a message can be followed to its ack and copied after it. A worker's reply is stepped by the engine in the
worker's own process and never becomes an engine row: the replies are recorded as the engine received them,
and a replayed reply is that message inserted into the engine stream (same JSON, same guid).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
import trio

from hotmesh_actors import HotMesh, Worker
from hotmesh_actors.clock import new_guid
from hotmesh_actors.core.jobstate import child_dad
from hotmesh_actors.core.keys import quorum_channel
from hotmesh_actors.core.ledger import was_interrupted
from hotmesh_actors.core.messages import MessageMetadata, MessageType, StreamMessage
from hotmesh_actors.errors import JobFailedError
from hotmesh_actors.mesh.stepper import Result
from hotmesh_actors.store.driver import Database
from hotmesh_actors.store.migrations import migrate_app
from hotmesh_actors.store.streams import Outgoing, StreamKind, StreamStore

from . import collation_kit as K

ENGINE = "engine_streams"
WORKER = "worker_streams"

HOOK_RULE = """
  hooks:
    x.go:
      - to: h1
        conditions:
          match:
            - expected: '{$job.metadata.jid}'
              actual: '{$self.hook.data.id}'
"""

WORKER_THEN_HOOK = """
- subscribes: x.test
  expire: 120
  activities:
    t1:
      type: trigger
    a1:
      type: worker
      topic: x.work
      job:
        maps:
          y: '{$self.output.data.y}'
    h1:
      type: hook
  transitions:
    t1:
      - to: a1
    a1:
      - to: h1
""" + HOOK_RULE

WORKER_ONLY = """
- subscribes: x.test
  publishes: x.done
  expire: 120
  activities:
    t1:
      type: trigger
    a1:
      type: worker
      topic: x.work
      job:
        maps:
          y: '{$self.output.data.y}'
  transitions:
    t1:
      - to: a1
"""


class Gate:
    """A worker callback that counts its calls and blocks until released (when `blocking`)."""

    def __init__(self, *, blocking: bool = False, reply: Any = None) -> None:
        self.calls: list[str] = []
        self.entered = trio.Event()
        self.release = trio.Event()
        if not blocking:
            self.release.set()
        self.reply = reply if reply is not None else {"data": {"y": 7}}

    async def __call__(self, msg: StreamMessage) -> Any:
        self.calls.append(msg.metadata.guid)
        self.entered.set()
        await self.release.wait()
        return self.reply


def _open(app_id: str, pg_dsn: str, workers: list[Worker], **settings: Any) -> Any:
    """A test mesh that records its removed stream rows, so acked messages can still be read."""
    return K.open_mesh(app_id, pg_dsn, workers, **settings)


async def _deploy(mesh: HotMesh, graphs: str) -> None:
    await mesh.deploy(K.app_yaml(mesh.app_id, graphs))
    assert await mesh.activate("1")


async def _status_is(mesh: HotMesh, jid: str, value: int) -> bool:
    return await mesh.get_status(jid) == value


def _reply(mesh: HotMesh, jid: str, aid: str) -> K.Reply:
    """The one reply a worker gave for (job, activity); the engine stepped it in the worker's process."""
    replies = K.replies(mesh).of(jid, aid)
    assert len(replies) == 1, replies
    return replies[0]


# -- item 17 ------------------------------------------------------------------------------------------


async def test_item_17_redelivered_transition_has_no_effect(pg_dsn: str, app_id: str) -> None:
    gate = Gate(blocking=True)
    async with _open(app_id, pg_dsn, [Worker("x.work", gate)]) as mesh:
        await _deploy(mesh, WORKER_THEN_HOOK)
        jid = await mesh.pub("x.test", {"a": 1})
        with trio.fail_after(10):
            await gate.entered.wait()
        [request] = await K.stream_rows(mesh, WORKER, jid)
        meta = K.message_of(request)["metadata"]
        # Our engine runs Leg 1 inline (DESIGN §5), so the transition that entered a1 never had its own
        # row; re-deliver the message that would have carried it: same job, generation, activity, dad.
        transition = {"metadata": {"guid": new_guid(), "jid": jid, "gid": meta["gid"], "dad": meta["dad"],
                                   "aid": "a1"}, "type": "transition", "data": {}}
        before = await K.attributes(mesh, jid)
        status = await mesh.get_status(jid)

        # (a) while the worker request is in flight
        first = await K.insert_message(mesh, ENGINE, app_id, transition, priority=4)
        await K.wait_until(lambda: K.is_acked(mesh, ENGINE, first), what="the replayed transition is acked")
        # (b) the same copy again (same guid), as a broker redelivery would
        second = await K.insert_copy(mesh, ENGINE, first)
        await K.wait_until(lambda: K.is_acked(mesh, ENGINE, second), what="the second copy is acked")
        assert await K.attributes(mesh, jid) == before
        assert await mesh.get_status(jid) == status
        assert len(await K.stream_rows(mesh, WORKER, jid)) == 1, "a replayed Leg 1 published a second request"
        assert (await K.row(mesh, ENGINE, first))["dead_lettered_at"] is None

        # (c) after a1 completed (the job now waits on h1): still a duplicate
        gate.release.set()
        await K.wait_until(lambda: _has_response(mesh, jid), what="a1's response")
        await K.wait_until(lambda: _attribute_is(mesh, jid, ("a1/output/metadata/as", ",0,0"),
                                                 "/d1100000000001"), what="a1 leg 2 done")
        before = await K.attributes(mesh, jid)
        third = await K.insert_copy(mesh, ENGINE, first)
        await K.wait_until(lambda: K.is_acked(mesh, ENGINE, third), what="the third copy is acked")
        assert await K.attributes(mesh, jid) == before
        assert await mesh.get_status(jid) == 1
        assert len(await K.stream_rows(mesh, WORKER, jid)) == 1
        assert gate.calls == [meta["guid"]]


async def _has_response(mesh: HotMesh, jid: str) -> bool:
    """A worker's reply for the job reached the engine and its step committed."""
    return any(reply.result is Result.DONE for reply in K.replies(mesh).of(jid))


async def _attribute_is(mesh: HotMesh, jid: str, key: tuple[str, str], value: str) -> bool:
    return (await K.attributes(mesh, jid)).get(key) == value


CYCLE_GRAPH = """
- subscribes: x.test
  expire: 120
  activities:
    t1:
      type: trigger
    h1:
      type: hook
    a1:
      type: worker
      topic: x.work
      input:
        maps:
          n: '{h1.output.data.n}'
      job:
        maps:
          n: '{$self.output.data.n}'
    c1:
      type: cycle
      ancestor: h1
      input:
        maps:
          n: '{a1.output.data.n}'
    w1:
      type: hook
  transitions:
    t1:
      - to: h1
    h1:
      - to: a1
    a1:
      - to: c1
        conditions:
          match:
            - expected: true
              actual:
                '@pipe':
                  - ['{a1.output.data.n}', 3]
                  - ['{@conditional.less_than}']
      - to: w1
        conditions:
          match:
            - expected: false
              actual:
                '@pipe':
                  - ['{a1.output.data.n}', 3]
                  - ['{@conditional.less_than}']
  hooks:
    x.go:
      - to: w1
        conditions:
          match:
            - expected: '{$job.metadata.jid}'
              actual: '{$self.hook.data.id}'
"""


async def test_item_17_redelivered_cycle_transition_has_no_effect(pg_dsn: str, app_id: str) -> None:
    calls: list[int] = []

    async def count(msg: StreamMessage) -> Any:
        n = int(msg.data.get("n") or 0) + 1
        calls.append(n)
        return {"data": {"n": n}}

    async with _open(app_id, pg_dsn, [Worker("x.work", count)]) as mesh:
        await _deploy(mesh, CYCLE_GRAPH)
        jid = await mesh.pub("x.test", {})
        await K.wait_until(lambda: _has_activity(mesh, jid, "w1"), what="the loop ends at w1")
        assert calls == [1, 2, 3]
        cycles = await K.stream_rows(mesh, ENGINE, jid, msg_type="transition")
        assert len(cycles) == 2 and all(r["expired_at"] is not None for r in cycles)
        before = await K.attributes(mesh, jid)
        status = await mesh.get_status(jid)
        assert status == 1
        copy = await K.insert_copy(mesh, ENGINE, cycles[0]["id"])
        await K.wait_until(lambda: K.is_acked(mesh, ENGINE, copy), what="the replayed cycle transition is acked")
        await trio.sleep(0.3)
        assert calls == [1, 2, 3], "a replayed cycle transition ran another iteration"
        assert len(await K.stream_rows(mesh, WORKER, jid)) == 3
        assert await mesh.get_status(jid) == status
        assert await K.attributes(mesh, jid) == before
        await mesh.signal("x.go", {"id": jid})
        await K.wait_until(lambda: _status_is(mesh, jid, 0), what="the job completes")
        assert (await mesh.get_state("x.test", jid))["data"] == {"n": 3}


async def _has_activity(mesh: HotMesh, jid: str, aid: str) -> bool:
    return any(field == f"{aid}/output/metadata/as" for field, _ in await K.attributes(mesh, jid))


# -- item 18 ------------------------------------------------------------------------------------------


async def test_item_18_redelivered_response_has_no_effect(pg_dsn: str, app_id: str) -> None:
    gate = Gate()
    async with _open(app_id, pg_dsn, [Worker("x.work", gate)]) as mesh:
        await _deploy(mesh, WORKER_THEN_HOOK)
        jid = await mesh.pub("x.test", {"a": 1})
        await K.wait_until(lambda: _attribute_is(mesh, jid, ("a1/output/metadata/as", ",0,0"),
                                                 "/d1100000000001"), what="a1 leg 2 done")
        response = _reply(mesh, jid, "a1")
        assert response.result is Result.DONE  # the reply was applied, with the ack of its request
        before = await K.attributes(mesh, jid)
        assert await mesh.get_status(jid) == 1
        engine_rows = len(await K.stream_rows(mesh, ENGINE, jid))

        copies = [await K.insert_reply(mesh, response) for _ in range(2)]
        for copy in copies:
            await K.wait_until(lambda copy=copy: K.is_acked(mesh, ENGINE, copy), what="the copy is acked")
        assert await mesh.get_status(jid) == 1, "a replayed response applied its semaphore delta again"
        assert await K.attributes(mesh, jid) == before
        assert len(await K.stream_rows(mesh, WORKER, jid)) == 1
        assert len(await K.stream_rows(mesh, ENGINE, jid)) == engine_rows + 2, "the replay published children"
        for copy in copies:
            assert (await K.row(mesh, ENGINE, copy))["dead_lettered_at"] is None

        await mesh.signal("x.go", {"id": jid})
        await K.wait_until(lambda: _status_is(mesh, jid, 0), what="the job completes at 0, not below")
        assert (await mesh.get_state("x.test", jid))["data"] == {"y": 7}
        assert len(gate.calls) == 1


AWAIT_GRAPH = """
- subscribes: x.test
  expire: 120
  activities:
    t1:
      type: trigger
    a1:
      type: await
      topic: x.child
      job:
        maps:
          y: '{$self.output.data.y}'
    h1:
      type: hook
  transitions:
    t1:
      - to: a1
    a1:
      - to: h1
""" + HOOK_RULE + """
- subscribes: x.child
  expire: 120
  activities:
    t2:
      type: trigger
    c1:
      type: worker
      topic: x.work
      job:
        maps:
          y: '{$self.output.data.y}'
  transitions:
    t2:
      - to: c1
"""


async def _children(mesh: HotMesh, jid: str) -> list[dict[str, Any]]:
    rows = await mesh.db.fetch(f"SELECT * FROM {K.schema(mesh.app_id)}.jobs WHERE parent_id = $1", jid)
    return [dict(r) for r in rows]


async def test_item_18_redelivered_child_result_has_no_effect(pg_dsn: str, app_id: str) -> None:
    gate = Gate()
    async with _open(app_id, pg_dsn, [Worker("x.work", gate)]) as mesh:
        await _deploy(mesh, AWAIT_GRAPH)
        jid = await mesh.pub("x.test", {})
        await K.wait_until(lambda: _has_activity(mesh, jid, "h1"), what="the parent waits at h1")
        [result] = await K.stream_rows(mesh, ENGINE, jid, msg_type="result")
        before = await K.attributes(mesh, jid)
        assert await mesh.get_status(jid) == 1
        copy = await K.insert_copy(mesh, ENGINE, result["id"])
        await K.wait_until(lambda: K.is_acked(mesh, ENGINE, copy), what="the replayed result is acked")
        assert await mesh.get_status(jid) == 1
        assert await K.attributes(mesh, jid) == before
        await mesh.signal("x.go", {"id": jid})
        await K.wait_until(lambda: _status_is(mesh, jid, 0), what="the parent completes")
        assert (await mesh.get_state("x.test", jid))["data"] == {"y": 7}
        assert len(gate.calls) == 1


async def test_item_17_redelivered_await_starts_no_second_child(pg_dsn: str, app_id: str) -> None:
    gate = Gate()
    async with _open(app_id, pg_dsn, [Worker("x.work", gate)]) as mesh:
        await _deploy(mesh, AWAIT_GRAPH)
        jid = await mesh.pub("x.test", {})
        await K.wait_until(lambda: _has_activity(mesh, jid, "h1"), what="the parent waits at h1")
        [start] = await K.stream_rows(mesh, ENGINE, jid, msg_type="await")
        assert len(await _children(mesh, jid)) == 1
        before = await K.attributes(mesh, jid)
        copy = await K.insert_copy(mesh, ENGINE, start["id"])
        await K.wait_until(lambda: K.is_acked(mesh, ENGINE, copy), what="the replayed await is acked")
        await trio.sleep(0.5)
        assert len(await _children(mesh, jid)) == 1, "a replayed await started a second child"
        assert len(gate.calls) == 1
        assert await K.attributes(mesh, jid) == before
        assert await mesh.get_status(jid) == 1


# -- item 19 ------------------------------------------------------------------------------------------

TWO_WORKERS = """
- subscribes: x.test
  expire: 120
  activities:
    t1:
      type: trigger
    a1:
      type: worker
      topic: x.first
    a2:
      type: worker
      topic: x.second
      job:
        maps:
          z: '{$self.output.data.z}'
  transitions:
    t1:
      - to: a1
    a1:
      - to: a2
"""


async def test_item_19_response_before_leg1_is_retried_not_dropped(pg_dsn: str, app_id: str) -> None:
    gate = Gate(blocking=True)  # x.second has no worker: only the early response can finish a2
    # one engine loop here; the test below runs the same race with four
    async with _open(app_id, pg_dsn, [Worker("x.first", gate)], engine_concurrency=1) as mesh:
        await _deploy(mesh, TWO_WORKERS)
        jid = await mesh.pub("x.test", {})
        with trio.fail_after(10):
            await gate.entered.wait()
        [request] = await K.stream_rows(mesh, WORKER, jid)
        meta = K.message_of(request)["metadata"]
        guid = new_guid()
        early = {"metadata": {"guid": guid, "jid": jid, "gid": meta["gid"], "dad": child_dad(meta["dad"]),
                              "aid": "a2", "topic": "x.second"},
                 "type": "response", "data": {"z": 42}}
        first = await K.insert_message(mesh, ENGINE, app_id, early, priority=2)

        async def offered_again() -> bool:
            copies = [r for r in await K.stream_rows(mesh, ENGINE, jid, msg_type="response")
                      if K.message_of(r)["metadata"]["guid"] == guid]
            return len(copies) >= 3 and await K.is_acked(mesh, ENGINE, first)

        await K.wait_until(offered_again, what="the early response is acked and re-offered (twice)")
        attributes = await K.attributes(mesh, jid)
        assert ("a2/output/metadata/as", child_dad(meta["dad"])) not in attributes
        assert guid not in {field for field, _ in attributes}
        assert await mesh.get_status(jid) == 1
        assert all(r["dead_lettered_at"] is None for r in await K.stream_rows(mesh, ENGINE, jid))

        gate.release.set()
        await K.wait_until(lambda: _status_is(mesh, jid, 0), what="the early response completes a2 and the job")
        assert (await mesh.get_state("x.test", jid))["data"] == {"z": 42}
        assert await K.guid_ledger(mesh, jid, guid) == "000111100000001"
        assert await K.activity_ledger(mesh, jid, "a2") == "201100000000001"
        # the a2 request was published once (by Leg 1), and no copy of the early response is left live
        assert len(await K.stream_rows(mesh, WORKER, jid, aid="a2")) == 1
        await K.wait_until(lambda: _no_live_rows(mesh, ENGINE, jid), what="no live engine rows are left")


async def test_item_19_early_response_being_re_offered_does_not_kill_the_engine(
    pg_dsn: str, app_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hotmesh_actors")
    gate = Gate(blocking=True)
    async with _open(app_id, pg_dsn, [Worker("x.first", gate)], engine_concurrency=4) as mesh:
        await _deploy(mesh, TWO_WORKERS)
        jid = await mesh.pub("x.test", {})
        with trio.fail_after(10):
            await gate.entered.wait()
        [request] = await K.stream_rows(mesh, WORKER, jid)
        meta = K.message_of(request)["metadata"]
        guid = new_guid()
        early = {"metadata": {"guid": guid, "jid": jid, "gid": meta["gid"], "dad": child_dad(meta["dad"]),
                              "aid": "a2", "topic": "x.second"},
                 "type": "response", "data": {"z": 42}}
        await K.insert_message(mesh, ENGINE, app_id, early, priority=2)

        async def re_offers() -> int:
            return sum(1 for r in await K.stream_rows(mesh, ENGINE, jid, msg_type="response")
                       if K.message_of(r)["metadata"]["guid"] == guid)

        async def offered_often() -> bool:
            return await re_offers() >= 12

        await K.wait_until(offered_often, timeout=20, what="the early response is re-offered again and again")
        # every re-offer was a clean step (ack and re-publish committed together): none failed or was retried
        # by the Stepper, no lease was lost, nothing was parked
        assert mesh.engine is not None and not mesh.engine.stopping
        assert (mesh.engine.stats.lost_leases, mesh.engine.stats.dead_lettered) == (0, 0)
        troubles = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert troubles == [], troubles
        gate.release.set()
        await K.wait_until(lambda: _status_is(mesh, jid, 0), what="the job completes")


async def _no_live_rows(mesh: HotMesh, table: str, jid: str) -> bool:
    return all(r["expired_at"] is not None for r in await K.stream_rows(mesh, table, jid))


# -- item 20 ------------------------------------------------------------------------------------------


async def test_item_20_closing_response_replay_runs_completion_once(pg_dsn: str, app_id: str) -> None:
    gate = Gate()
    async with _open(app_id, pg_dsn, [Worker("x.work", gate)]) as mesh:
        await _deploy(mesh, WORKER_ONLY)
        jid = f"job-{new_guid()}"
        subscribed: list[dict[str, Any]] = []
        patterned: list[str] = []
        waiter: list[str | None] = []
        await mesh.sub(f"x.done.{jid}", lambda _topic, output: subscribed.append(output))
        await mesh.psub("x.done.*", lambda topic, _output: patterned.append(topic))
        # the job's own waiter (pubsub) is told by a NOTIFY on this mesh's channel, or, since the job
        # completes in this process, in memory after the commit: count both
        await mesh.listener.add(quorum_channel(app_id, mesh.guid), lambda _c, payload: waiter.append(payload))
        deliver = mesh.stepper.on_completed
        assert deliver is not None

        def delivered(job_id: str, job_output: Any) -> None:
            waiter.append(job_id)
            deliver(job_id, job_output)

        mesh.stepper.on_completed = delivered
        output = await mesh.pubsub("x.test", {}, job_id=jid, timeout=10)
        assert output["data"] == {"y": 7}
        await K.wait_until(lambda: _true(len(subscribed) == 1 and len(patterned) == 1 and len(waiter) == 1),
                           what="one notification per subscriber")
        closed = await K.job_row(mesh, jid)
        assert closed["status"] == 0 and closed["expired_at"] is not None
        response = _reply(mesh, jid, "a1")
        guid = response.message.metadata.guid
        assert await K.guid_ledger(mesh, jid, guid) == "000111100000001"
        before = await K.attributes(mesh, jid)

        await trio.sleep(0.2)  # let now() move on, so a second completion would push expired_at
        copy = await K.insert_reply(mesh, response)
        await K.wait_until(lambda: K.is_acked(mesh, ENGINE, copy), what="the replayed closing response is acked")
        await _flush_notifications(mesh)
        assert (len(subscribed), len(patterned), len(waiter)) == (1, 1, 1), "completion tasks ran twice"
        after = await K.job_row(mesh, jid)
        assert after["expired_at"] == closed["expired_at"], "expiry was pushed again"
        assert after["status"] == 0
        assert await K.attributes(mesh, jid) == before
        assert len(gate.calls) == 1


async def test_item_20_replayed_closing_response_of_a_child_notifies_the_parent_once(pg_dsn: str,
                                                                                      app_id: str) -> None:
    gate = Gate()
    async with _open(app_id, pg_dsn, [Worker("x.work", gate)]) as mesh:
        await _deploy(mesh, AWAIT_GRAPH)
        jid = await mesh.pub("x.test", {})
        await K.wait_until(lambda: _has_activity(mesh, jid, "h1"), what="the parent waits at h1")
        [child] = await _children(mesh, jid)
        child_jid = child["key"].rsplit(":", 1)[1]
        closing = _reply(mesh, child_jid, "c1")
        child_before = await K.job_row(mesh, child_jid)
        parent_before = await K.attributes(mesh, jid)
        await trio.sleep(0.2)
        copy = await K.insert_reply(mesh, closing)
        await K.wait_until(lambda: K.is_acked(mesh, ENGINE, copy), what="the replayed child response is acked")
        assert len(await K.stream_rows(mesh, ENGINE, jid, msg_type="result")) == 1, "the parent was notified twice"
        child_after = await K.job_row(mesh, child_jid)
        assert (child_after["status"], child_after["expired_at"]) == (0, child_before["expired_at"])
        assert await K.attributes(mesh, jid) == parent_before
        assert await mesh.get_status(jid) == 1


async def _true(value: bool) -> bool:
    return value


async def _flush_notifications(mesh: HotMesh) -> None:
    """NOTIFYs reach a listener in commit order: once a later sentinel arrives, earlier ones have too."""
    seen = trio.Event()
    channel = f"sentinel_{new_guid()}".lower()[:60]

    def on_sentinel(_channel: str, _payload: str | None) -> None:
        seen.set()

    await mesh.listener.add(channel, on_sentinel)
    try:
        await mesh.db.execute("SELECT pg_notify($1, 'x')", channel)
        with trio.fail_after(10):
            await seen.wait()
        await trio.sleep(0.05)
    finally:
        await mesh.listener.remove(channel, on_sentinel)


# -- item 21 ------------------------------------------------------------------------------------------


async def test_item_21_ledger_digits_for_a_worker_that_does_not_close_the_job(pg_dsn: str, app_id: str) -> None:
    async with _open(app_id, pg_dsn, [Worker("x.work", Gate())]) as mesh:
        await _deploy(mesh, WORKER_THEN_HOOK)
        jid = await mesh.pub("x.test", {})
        await K.wait_until(lambda: _has_response(mesh, jid), what="a1's response")
        await K.wait_until(lambda: _response_acked(mesh, jid, "a1"), what="a1's response is processed")
        assert await K.activity_ledger(mesh, jid, "t1") == "101100000000001"
        assert await K.activity_ledger(mesh, jid, "a1") == "001100000000001"
        guid = _reply(mesh, jid, "a1").message.metadata.guid
        assert await K.guid_ledger(mesh, jid, guid) == "000011000000001"
        assert await mesh.get_status(jid) == 1


async def _response_acked(mesh: HotMesh, jid: str, aid: str) -> bool:
    """The worker's reply for (job, activity) was stepped by the engine and its step committed."""
    replies = K.replies(mesh).of(jid, aid)
    return bool(replies) and all(reply.result is Result.DONE for reply in replies)


async def test_item_21_ledger_digits_for_a_worker_that_closes_the_job(pg_dsn: str, app_id: str) -> None:
    async with _open(app_id, pg_dsn, [Worker("x.work", Gate())]) as mesh:
        await _deploy(mesh, WORKER_ONLY)
        output = await mesh.pubsub("x.test", {}, timeout=10)
        jid = output["metadata"]["jid"]
        assert await K.activity_ledger(mesh, jid, "t1") == "101100000000001"
        assert await K.activity_ledger(mesh, jid, "a1") == "201100000000001"
        guid = _reply(mesh, jid, "a1").message.metadata.guid
        ledger = await K.guid_ledger(mesh, jid, guid)
        assert ledger == "000111100000001"
        assert (ledger[3], ledger[6]) == ("1", "1")  # positions 4 (job closed) and 7 (completion done)


# -- item 22 ------------------------------------------------------------------------------------------


async def test_item_22_insert_notifies_once_per_stream_and_scout_notifies_due_work(db: Database,
                                                                                   app_id: str) -> None:
    await migrate_app(db, app_id)
    stores = {kind: StreamStore(db, app_id, kind) for kind in StreamKind}
    heard: list[tuple[str, dict[str, Any]]] = []
    sentinel = trio.Event()
    sentinel_channel = f"sentinel_{app_id}"

    def on_notify(channel: str, payload: str | None) -> None:
        if payload is not None:
            heard.append((channel, json.loads(payload)))

    def on_sentinel(_channel: str, _payload: str | None) -> None:
        sentinel.set()

    async def drain() -> list[tuple[str, dict[str, Any]]]:
        nonlocal sentinel
        sentinel = trio.Event()
        await db.execute("SELECT pg_notify($1, 'x')", sentinel_channel)
        with trio.fail_after(10):
            await sentinel.wait()
        got = sorted(heard, key=lambda item: item[0])
        heard.clear()
        return got

    def message(stream: str, n: int) -> Outgoing:
        return Outgoing(stream_name=stream, message=StreamMessage(
            metadata=MessageMetadata(guid=f"{stream}-{n}", jid=f"j-{stream}"), type=MessageType.WORKER, data={}))

    long_name = "s5-" + "x" * 80  # channels are cut to 63 bytes, as Postgres identifiers are
    streams = ["s1", "s2", "s3", "s4", long_name]
    async with db.listener() as listener:
        for kind in StreamKind:
            for stream in streams:
                await listener.add(kind.channel(stream), on_notify)
        await listener.add(sentinel_channel, on_sentinel)
        await drain()

        for kind, store in stores.items():
            # one INSERT: three rows for s1, one for s2, one delayed row for s3 (its consumers are told when
            # it falls due, so they need not poll for it)
            published_at = time.time()
            batch = [message("s1", 1), message("s1", 2), message("s1", 3), message("s2", 1),
                     attrs_delay(message("s3", 1), 60)]
            await store.publish(batch)
            table = "engine" if kind is StreamKind.ENGINE else "worker"
            got = await drain()
            due = got[-1][1].pop("due", None) if got else None
            assert got == [
                (kind.channel("s1"), {"stream_name": "s1", "table_type": table}),
                (kind.channel("s2"), {"stream_name": "s2", "table_type": table}),
                (kind.channel("s3"), {"stream_name": "s3", "table_type": table}),
            ]
            assert due is not None and published_at + 59 < due < time.time() + 61
            await store.publish([message(long_name, 1)])
            assert len(kind.channel(long_name)) == 63
            assert await drain() == [(kind.channel(long_name), {"stream_name": long_name, "table_type": table})]
            await store.claim(long_name, "c1", batch_size=10)

        schema = K.schema(app_id)
        for store in stores.values():  # lease everything visible: fresh reservations are not orphaned
            for stream in ("s1", "s2"):
                assert await store.claim(stream, "c1", batch_size=10)
        await db.fetchval(f"SELECT {schema}.notify_visible_messages()")
        assert await drain() == []

        for kind in StreamKind:
            table = f"{schema}.{kind.table}"
            await db.execute(f"UPDATE {table} SET visible_at = now() - interval '1 second' WHERE stream_name = 's3'")
            await db.execute(f"UPDATE {table} SET reserved_at = now() - interval '61 seconds' "
                             f"WHERE stream_name = 's1'")
        await db.fetchval(f"SELECT {schema}.notify_visible_messages()")
        got = await drain()
        assert sorted(channel for channel, _ in got) == sorted(
            kind.channel(s) for kind in StreamKind for s in ("s1", "s3"))
        assert all(payload["table_type"] in ("engine", "worker") for _, payload in got)


def attrs_delay(item: Outgoing, delay_s: float) -> Outgoing:
    import attrs

    return attrs.evolve(item, delay_s=delay_s)


# -- item 23 ------------------------------------------------------------------------------------------

PURGE_GRAPH = """
- subscribes: x.test
  expire: 120
  activities:
    t1:
      type: trigger
    a1:
      type: worker
      topic: x.block
    a2:
      type: worker
      topic: x.nobody
    s1:
      type: hook
      sleep: 60
  transitions:
    t1:
      - to: a1
      - to: a2
      - to: s1
"""


async def test_item_23_interrupt_removes_queued_reserved_and_delayed_rows(pg_dsn: str, app_id: str) -> None:
    gate = Gate(blocking=True)
    async with _open(app_id, pg_dsn, [Worker("x.block", gate)]) as mesh:
        await _deploy(mesh, PURGE_GRAPH)
        jid = await mesh.pub("x.test", {})
        with trio.fail_after(10):
            await gate.entered.wait()
        workers = {r["aid"]: r for r in await K.stream_rows(mesh, WORKER, jid)}
        assert workers["a1"]["reserved_at"] is not None and workers["a1"]["expired_at"] is None  # reserved
        assert workers["a2"]["reserved_at"] is None and workers["a2"]["expired_at"] is None  # queued
        [timer] = await K.stream_rows(mesh, ENGINE, jid, msg_type="timehook")
        assert timer["expired_at"] is None  # delayed
        assert await mesh.db.fetchval("SELECT $1::timestamptz > now() + interval '30 seconds'", timer["visible_at"])

        await mesh.interrupt("x.test", jid, reason="stop")
        assert was_interrupted(await mesh.get_status(jid))
        for table in (ENGINE, WORKER):
            rows = await K.stream_rows(mesh, table, jid)
            assert rows and all(r["removed_at"] is not None for r in rows), (table, rows)  # purged: deleted
            assert all(r["dead_lettered_at"] is None for r in rows)

        gate.release.set()  # the in-flight callback finishes: its reply must not reach the engine
        [actor] = mesh.workers
        await K.wait_until(lambda: _true(actor.stats.lost_leases == 1), what="the reply is refused (lease gone)")
        [refused] = K.replies(mesh).of(jid)  # the reply reached the step, which found the request purged
        assert refused.result is Result.LOST
        assert await K.stream_rows(mesh, ENGINE, jid, msg_type="response") == []
        assert was_interrupted(await mesh.get_status(jid))
        assert len(gate.calls) == 1


async def test_item_23_redelivered_worker_message_of_finished_job_is_expired(pg_dsn: str, app_id: str) -> None:
    gate = Gate()
    async with _open(app_id, pg_dsn, [Worker("x.work", gate)]) as mesh:
        await _deploy(mesh, WORKER_ONLY)
        output = await mesh.pubsub("x.test", {}, timeout=10)
        jid = output["metadata"]["jid"]
        [request] = await K.stream_rows(mesh, WORKER, jid)
        assert (await K.job_row(mesh, jid))["status"] == 0
        retried = await K.insert_copy(mesh, WORKER, request["id"], retry_attempt=1)
        await K.wait_until(lambda: K.is_acked(mesh, WORKER, retried), what="the retried request is expired")
        await trio.sleep(0.3)
        assert len(gate.calls) == 1, "a worker message of a finished job was delivered to the callback"
        assert (await K.row(mesh, WORKER, retried))["dead_lettered_at"] is None


# -- item 24 ------------------------------------------------------------------------------------------


async def _queue_request(app_id: str, pg_dsn: str, **columns: Any) -> tuple[str, int]:
    """Start a job with an engine-only mesh (no worker serves x.work); tweak its request row; (jid, row id)."""
    async with _open(app_id, pg_dsn, []) as mesh:
        await _deploy(mesh, WORKER_ONLY)
        jid = await mesh.pub("x.test", {})
        await K.wait_until(lambda: _has_rows(mesh, WORKER, jid), what="the worker request")
        [request] = await K.stream_rows(mesh, WORKER, jid)
        sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(columns, start=2))
        await mesh.db.execute(f"UPDATE {K.schema(app_id)}.{WORKER} SET {sets} WHERE id = $1", request["id"],
                              *columns.values())
        return jid, request["id"]


async def _has_rows(mesh: HotMesh, table: str, jid: str) -> bool:
    return bool(await K.stream_rows(mesh, table, jid))


async def test_item_24_poison_message_is_dead_lettered_and_the_engine_gets_an_error(pg_dsn: str,
                                                                                    app_id: str) -> None:
    # delivered 5 times already (e.g. each delivery crashed its process): the 6th is dead-lettered unseen
    poisoned, poisoned_row = await _queue_request(app_id, pg_dsn, delivery_count=5)
    healthy, healthy_row = await _queue_request(app_id, pg_dsn, delivery_count=4)
    gate = Gate()
    async with _open(app_id, pg_dsn, [Worker("x.work", gate)]) as mesh:
        await K.wait_until(lambda: K.is_acked(mesh, WORKER, poisoned_row), what="the poison row is parked")
        parked = await K.row(mesh, WORKER, poisoned_row)
        assert parked["dead_lettered_at"] is not None and parked["message"]  # payload kept
        await K.wait_until(lambda: _status_is(mesh, healthy, 0), what="the 5th delivery still runs")
        assert (await K.row(mesh, WORKER, healthy_row))["dead_lettered_at"] is None
        assert gate.calls == [K.message_of(await K.row(mesh, WORKER, healthy_row))["metadata"]["guid"]]

        await K.wait_until(lambda: _response_acked(mesh, poisoned, "a1"), what="the engine got an error reply")
        error_reply = _reply(mesh, poisoned, "a1")
        assert error_reply.dead  # the reply parked its request (dead-lettered, in the step's transaction)
        reply = error_reply.wire
        assert reply["status"] == "error" and reply["code"] == 999
        state = await mesh.get_state("x.test", poisoned)
        error = json.loads(state["metadata"]["err"])
        assert error["code"] == 999
        assert state["metadata"]["js"] <= 0 or state["data"].get("done") is True
        with pytest.raises(JobFailedError) as failed:
            from hotmesh_actors.mesh.hotmesh import _raise_if_failed

            _raise_if_failed(poisoned, state)
        assert failed.value.code == 999


async def test_item_24_retry_attempt_at_threshold_is_dead_lettered(pg_dsn: str, app_id: str) -> None:
    jid, row_id = await _queue_request(app_id, pg_dsn, retry_attempt=5)
    gate = Gate()
    async with _open(app_id, pg_dsn, [Worker("x.work", gate)]) as mesh:
        await K.wait_until(lambda: K.is_acked(mesh, WORKER, row_id), what="the row is consumed")
        await K.wait_until(lambda: _response_acked(mesh, jid, "a1"), what="the engine got a reply")
        assert gate.calls == [], "the callback ran for a message past the poison threshold"
        assert (await K.row(mesh, WORKER, row_id))["dead_lettered_at"] is not None
        reply = _reply(mesh, jid, "a1").wire
        assert reply["status"] == "error"
