"""Conformance with HotMesh's tests/functional/awaiter (and the `await` cases of tests/functional/postgres.test.ts).

An `await` activity starts a child job on the graph subscribed to its topic. By default (flag absent, `true`,
or a reference that resolves to nothing) the parent waits for the child's result; only `await: false`
starts the child detached, and then the activity's output carries the child's `job_id` at once.
"""

from __future__ import annotations

import trio

from tests.integration.activities_kit import app_yaml, stream_rows
from tests.integration.conformance_kit import deploy_and_activate, keep_stream_history, open_mesh, wait_status

AWAITER_GRAPHS = """
- subscribes: parent.start
  activities:
    start:
      type: trigger
      job:
        maps:
          wait_flag: '{start.output.data.wait_flag}'
    spawn:
      type: await
      topic: child.start
      await: '{start.output.data.wait_flag}'
      input:
        maps:
          linger: '{start.output.data.linger}'
      job:
        maps:
          child_job_id: '{spawn.output.data.job_id}'
          child_answer: '{spawn.output.data.answer}'
    settle:
      type: hook
      sleep: 1
  transitions:
    start:
      - to: spawn
    spawn:
      - to: settle

- subscribes: child.start
  activities:
    child_trigger:
      type: trigger
      job:
        maps:
          answer: 42
    child_wait:
      type: hook
      sleep: '{child_trigger.output.data.linger}'
  transitions:
    child_trigger:
      - to: child_wait
"""


async def test_await_absent_or_true_waits_for_the_child(pg_dsn: str, app_id: str) -> None:
    """HotMesh 'should NOT await the spawned job response' (sic): with the flag undefined or `true` the
    parent waits — its job data gets the child's result (`child_some_data`) and no `child_job_id`."""
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, AWAITER_GRAPHS), "1")
        for payload in ({}, {"wait_flag": True}):
            job = await mesh.pubsub("parent.start", payload, timeout=20)
            assert "child_job_id" not in job["data"], payload
            assert job["data"]["child_answer"] == 42, payload


async def test_await_false_returns_the_child_job_id_without_waiting(pg_dsn: str, app_id: str) -> None:
    """HotMesh 'should await the spawned job response' (sic): with `await: false` the activity's output
    holds the started child's `job_id` at once and the parent goes on; here the child lingers 30 s, so a
    parent that waited could not finish within the bound, and the child is still running when it does."""
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, AWAITER_GRAPHS), "1")
        with trio.fail_after(20):
            job = await mesh.pubsub("parent.start", {"wait_flag": False, "linger": 30}, timeout=20)
        child_id = job["data"]["child_job_id"]
        assert isinstance(child_id, str) and child_id
        assert "child_answer" not in job["data"]
        child = await mesh.get_state("child.start", child_id)
        assert child["metadata"]["js"] == 1  # still sleeping: nobody waited for it
        assert child["metadata"]["pj"] == job["metadata"]["jid"]


async def test_awaited_child_with_its_own_id_is_readable_after_the_parent_completes(pg_dsn: str,
                                                                                 app_id: str) -> None:
    """postgres.test.ts 'executes an `await` activity that resolves to true/false': the parent's output
    carries the child's answer, and the spawned job (id from its trigger's `stats.id`) can be read by id."""
    graphs = """
- subscribes: approval.requested
  activities:
    ask:
      type: trigger
    price_check:
      type: await
      topic: approval.price.requested
      input:
        maps:
          id: '{ask.output.data.id}'
          price: '{ask.output.data.price}'
      job:
        maps:
          approved: '{price_check.output.data.approved}'
  transitions:
    ask:
      - to: price_check

- subscribes: approval.price.requested
  activities:
    price_trigger:
      type: trigger
      stats:
        id: '{$self.input.data.id}'
      job:
        maps:
          id: '{price_trigger.output.data.id}'
          approved:
            '@pipe':
              - ['{price_trigger.output.data.price}', 100]
              - ['{@conditional.less_than}']
"""
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, graphs), "1")
        cheap = await mesh.pubsub("approval.requested", {"id": "wdg_1", "price": 49.99}, timeout=15)
        dear = await mesh.pubsub("approval.requested", {"id": "wdg_2", "price": 149.99}, timeout=15)
        assert cheap["data"]["approved"] is True
        assert dear["data"]["approved"] is False
        for child_id in ("wdg_1", "wdg_2"):
            await wait_status(mesh, child_id, 0)
            assert (await mesh.get_state("approval.price.requested", child_id))["data"]["id"] == child_id


async def test_detached_child_never_reports_back(pg_dsn: str, app_id: str) -> None:
    """HotMesh's `px` (detached) child: when it completes, no result is sent to the parent's await
    activity, so the parent (already complete) is left untouched and no message is dead-lettered."""
    async with open_mesh(app_id, pg_dsn) as mesh:
        await keep_stream_history(mesh)  # the {job_id} reply is deleted once consumed: keep it to count it
        await deploy_and_activate(mesh, app_yaml(app_id, AWAITER_GRAPHS), "1")
        job = await mesh.pubsub("parent.start", {"wait_flag": False, "linger": 1}, timeout=20)
        child_id = job["data"]["child_job_id"]
        await wait_status(mesh, child_id, 0, timeout=15)
        parent = await mesh.get_state("parent.start", job["metadata"]["jid"])
        assert parent["metadata"]["js"] == 0
        assert "child_answer" not in parent["data"]
        rows = await stream_rows(mesh, "engine", "jid = $1 AND (msg_type = 'result' OR dead_lettered_at IS NOT NULL)",
                                 job["metadata"]["jid"], removed=True)
        assert [row["msg_type"] for row in rows] == ["result"]  # only the immediate {job_id} confirmation
        assert all(row["dead_lettered_at"] is None for row in rows)
        assert all(row["removed_at"] is not None for row in rows)  # consumed (acked), none left pending
