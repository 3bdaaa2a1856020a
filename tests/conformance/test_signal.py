"""Conformance with HotMesh's tests/functional/signal (and `signalAll` of tests/functional/postgres.test.ts).

The `signal` activity sends signals from one job to others' hooks: `subtype: one` like `HotMesh.signal`,
`subtype: all` to every running job its graph's trigger filed under the index facet `key_name:key_value`
(SPEC §3.4). `statusThreshold` (Dynamic Activation Control, SPEC §1.7) lets a hook exit early instead of
waiting for a signal.
"""

from __future__ import annotations

from typing import Any

from tests.integration.activities_kit import Recorder, app_yaml, registry, table
from tests.integration.conformance_kit import deploy_and_activate, open_mesh, wait_status, wait_until

JSON = Any
BOUND_S = 20.0

TOGGLE = """
- subscribes: toggle.start
  publishes: toggle.done
  expire: 60
  activities:
    toggle_trigger:
      type: trigger
      stats:
        id: '{$self.input.data.jobId}'
      job:
        maps:
          done: false
    maybe_wait:
      type: hook
      statusThreshold: '{toggle_trigger.output.data.statusThreshold}'
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
    toggle_trigger:
      - to: maybe_wait
  hooks:
    toggle.resume:
      - to: maybe_wait
        conditions:
          match:
            - expected: '{$job.metadata.jid}'
              actual: '{$self.hook.data.id}'
"""

# A parent starts a child that waits on `child.resume`; after a short sleep the parent signals it.
FAN_OUT = """
- subscribes: parent.all
  publishes: parent.all.done
  expire: 60
  activities:
    all_trigger:
      type: trigger
      stats:
        id: '{$self.input.data.job_id}'
    all_nap:
      type: hook
      sleep: 1
    all_spawn:
      type: await
      topic: child.wait
      input:
        maps:
          id: '{all_trigger.output.data.child_id}'
          parent_job_id: '{$job.metadata.jid}'
      job:
        maps:
          child_done: '{$self.output.data.done}'
    all_signal:
      type: signal
      subtype: all
      topic: child.resume
      key_name: parent_job_id
      key_value: '{$job.metadata.jid}'
      resolver:
        maps:
          data:
            parent_job_id: '{$job.metadata.jid}'
          scrub: true
      signal:
        maps:
          done: true
  transitions:
    all_trigger:
      - to: all_nap
      - to: all_spawn
    all_nap:
      - to: all_signal

- subscribes: parent.one
  publishes: parent.one.done
  expire: 60
  activities:
    one_trigger:
      type: trigger
      stats:
        id: '{$self.input.data.job_id}'
    one_nap:
      type: hook
      sleep: 1
    one_spawn:
      type: await
      topic: child.wait
      input:
        maps:
          id: '{one_trigger.output.data.child_id}'
          parent_job_id: '{$job.metadata.jid}'
    one_pending:
      type: signal
      subtype: one
      topic: child.resume
      code: 202
      status: pending
      signal:
        maps:
          id: '{one_trigger.output.data.child_id}'
          done: false
    one_final:
      type: signal
      subtype: one
      topic: child.resume
      signal:
        maps:
          id: '{one_trigger.output.data.child_id}'
          done: true
    one_interim:
      type: hook
      job:
        maps:
          saw_interim: true
    one_result:
      type: hook
      job:
        maps:
          child_done: '{one_spawn.output.data.done}'
  transitions:
    one_trigger:
      - to: one_nap
      - to: one_spawn
    one_nap:
      - to: one_pending
    one_pending:
      - to: one_final
    one_spawn:
      - to: one_result
        conditions:
          code: 200
      - to: one_interim
        conditions:
          code: 202

- subscribes: child.wait
  publishes: child.done
  expire: 60
  activities:
    child_trigger:
      type: trigger
      stats:
        id: '{$self.input.data.id}'
        key: '{$self.input.data.parent_job_id}'
        measures:
          - measure: index
            target: '{$self.input.data.parent_job_id}'
      job:
        maps:
          parent_job_id: '{$self.output.data.parent_job_id}'
          done: false
    child_hook:
      type: hook
      hook:
        type: object
        properties:
          done:
            type: boolean
      job:
        maps:
          done: '{$self.hook.data.done}'
    child_closed:
      type: hook
    child_open:
      type: hook
      emit: true
      job:
        maps:
          interim: true
  transitions:
    child_trigger:
      - to: child_hook
    child_hook:
      - to: child_closed
        conditions:
          code: 200
      - to: child_open
        conditions:
          code: 202
  hooks:
    child.resume:
      - to: child_hook
        conditions:
          match:
            - expected: '{$job.metadata.jid}'
              actual: '{$self.hook.data.id}'
"""


async def test_status_threshold_exits_early_without_registering(pg_dsn: str, app_id: str) -> None:
    """HotMesh 'it exits early and does not register for outside signals': with `statusThreshold: 1`
    the hook finds the job at its threshold, the job completes at once (`done: false`, its own jid on
    `<publishes>.<jid>`), and no signal registration is left behind."""
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, TOGGLE), "1")
        seen = Recorder()
        await mesh.sub("toggle.done.xyz123", seen)
        await mesh.pub("toggle.start", {"jobId": "xyz123", "statusThreshold": 1})
        (topic, output), = await seen.wait_count(1, timeout=BOUND_S)
        assert topic == "toggle.done"
        assert output["data"]["done"] is False
        assert output["metadata"]["jid"] == "xyz123"
        assert output["metadata"]["js"] == 0
        assert not [key for key in await registry(mesh) if key.startswith("signals:toggle.resume:")]


async def test_without_threshold_the_hook_waits_for_the_signal(pg_dsn: str, app_id: str) -> None:
    """HotMesh 'exits as expected after processing an outside signal': no threshold, so the hook
    registers; the signal's `done` and `howdy` land in the job's data when it completes."""
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, TOGGLE), "1")
        seen = Recorder()
        await mesh.sub("toggle.done.pdq123", seen)
        await mesh.pub("toggle.start", {"jobId": "pdq123"})
        await wait_status(mesh, "pdq123", 1)
        await mesh.signal("toggle.resume", {"id": "pdq123", "done": True, "howdy": "pardner"})
        (_topic, output), = await seen.wait_count(1, timeout=BOUND_S)
        assert output["data"]["done"] is True
        assert output["data"]["howdy"] == "pardner"
        assert output["metadata"]["jid"] == "pdq123"


async def test_signal_all_resumes_every_job_filed_under_the_key(pg_dsn: str, app_id: str) -> None:
    """HotMesh 'sends a signal to awaken all paused jobs' (and `signalAll`): the parent's `signal: all`
    finds its child through the child trigger's index (`parent_job_id:<parent>`), the child resumes with
    `done: true` and reports to the awaiting parent, which completes. A job filed under another parent is
    not signalled, and `scrub` empties the used facet."""
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, FAN_OUT), "1")
        await mesh.pub("child.wait", {"id": "bystander", "parent_job_id": "someone-else"})
        parent_done, child_done = Recorder(), Recorder()
        await mesh.sub("parent.all.done.signalall123", parent_done)
        await mesh.sub("child.done.abc123", child_done)
        await mesh.pub("parent.all", {"job_id": "signalall123", "child_id": "abc123"})
        (_topic, parent), = await parent_done.wait_count(1, timeout=BOUND_S)
        assert parent["data"]["child_done"] is True
        (_topic, child), = await child_done.wait_count(1, timeout=BOUND_S)
        assert child["data"]["parent_job_id"] == "signalall123"
        assert child["data"]["done"] is True
        assert await mesh.get_status("bystander") == 1  # still waiting: filed under another parent
        facets = await mesh.db.fetch(f"SELECT stats_key, facet, jid FROM {table(mesh, 'job_index')} ORDER BY jid")
        assert [(row["stats_key"], row["facet"], row["jid"]) for row in facets] == [
            ("someone-else", "parent_job_id:someone-else", "bystander")]


async def test_signal_all_reaches_many_jobs_in_one_step(pg_dsn: str, app_id: str) -> None:
    """`signalAll` 'should signal and awaken all jobs of a certain type': every waiting job under the
    facet resumes (three children of one parent, started before the parent's signal)."""
    sender = """
- subscribes: broadcast
  activities:
    broadcast_trigger:
      type: trigger
    broadcast_signal:
      type: signal
      subtype: all
      topic: child.resume
      key_name: parent_job_id
      key_value: '{broadcast_trigger.output.data.parent}'
      resolver:
        maps:
          data:
            parent_job_id: '{broadcast_trigger.output.data.parent}'
      signal:
        maps:
          done: true
  transitions:
    broadcast_trigger:
      - to: broadcast_signal
"""
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, FAN_OUT + sender), "1")
        children = [f"kid{i}" for i in range(3)]
        for kid in children:
            await mesh.pub("child.wait", {"id": kid, "parent_job_id": "family"})
        for kid in children:
            await wait_status(mesh, kid, 1)
        await mesh.pub("broadcast", {"parent": "family"})
        for kid in children:
            await wait_status(mesh, kid, 0, timeout=BOUND_S)
            assert (await mesh.get_state("child.wait", kid))["data"]["done"] is True
        index_rows = await mesh.db.fetchval(f"SELECT count(*) FROM {table(mesh, 'job_index')}")
        assert index_rows == 3  # no scrub: the index stays


async def test_signal_one_pending_then_success(pg_dsn: str, app_id: str) -> None:
    """HotMesh 'sends a signal to awaken one paused job': a 202/pending signal keeps the child's hook
    open (the child emits interim state, which reaches the parent's await as a 202), then a 200 closes
    it; the child completes with `done: true` and the parent with the child's result."""
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, FAN_OUT), "1")
        parent_done, child_seen = Recorder(), Recorder()
        await mesh.sub("parent.one.done.signalone123", parent_done)
        await mesh.sub("child.done.xyz456", child_seen)
        await mesh.pub("parent.one", {"job_id": "signalone123", "child_id": "xyz456"})

        async def parent_final() -> bool:
            return any(output["metadata"]["js"] == 0 for _t, output in parent_done.seen)

        await wait_until(parent_final, timeout=BOUND_S, what="the parent's final publication")
        finals = [output for _t, output in parent_done.seen if output["metadata"]["js"] == 0]
        assert len(finals) == 1
        assert finals[0]["data"]["child_done"] is True
        assert finals[0]["data"]["saw_interim"] is True

        async def child_final() -> bool:
            return any(output["metadata"]["js"] == 0 for _t, output in child_seen.seen)

        await wait_until(child_final, timeout=BOUND_S, what="the child's final publication")
        interim = [output for _t, output in child_seen.seen if output["metadata"]["js"] != 0]
        final = [output for _t, output in child_seen.seen if output["metadata"]["js"] == 0]
        assert interim and all(output["data"]["parent_job_id"] == "signalone123" for output in interim)
        assert len(final) == 1 and final[0]["data"]["done"] is True and final[0]["data"]["interim"] is True
        assert "signals:child.resume:xyz456" not in await registry(mesh)
