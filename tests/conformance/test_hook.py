"""Conformance with HotMesh's tests/functional/hook (and the hook app that tests/functional/signal-race uses).

A web hook pauses a job until a signal whose hook rule matches it arrives; its payload is `$self.hook.data`.
HotMesh's own 'Hook All' test is skipped on Postgres (pattern subscriptions); ours runs it, resuming the job
through a `signal: all` activity, since `psub` works here.
"""

from __future__ import annotations

from typing import Any

import trio

from hotmesh_actors import HotMesh
from tests.integration.activities_kit import Recorder, app_yaml, registry
from tests.integration.conformance_kit import FAST, deploy_and_activate, open_mesh, wait_status, wait_until

JSON = Any
BOUND_S = 20.0

HOOK_GRAPHS = """
- subscribes: paused.start
  publishes: paused.done
  expire: 60
  activities:
    paused_trigger:
      type: trigger
      emit: true
      stats:
        id: '{$self.input.data.job_id}'
        key: '{$self.input.data.parent_job_id}'
        measures:
          - measure: index
            target: '{$self.input.data.parent_job_id}'
      job:
        maps:
          job_id: '{$self.input.data.job_id}'
          parent_job_id: '{$self.input.data.parent_job_id}'
          done: false
    paused_hook:
      type: hook
      hook:
        type: object
        properties:
          done:
            type: boolean
      job:
        maps:
          done: '{paused_hook.hook.data.done}'
  transitions:
    paused_trigger:
      - to: paused_hook
  hooks:
    paused.resume:
      - to: paused_hook
        conditions:
          match:
            - expected: '{$job.metadata.jid}'
              actual: '{$self.hook.data.id}'

- subscribes: resume.all
  activities:
    resume_trigger:
      type: trigger
    resume_signal:
      type: signal
      subtype: all
      topic: paused.resume
      key_name: parent_job_id
      key_value: '{resume_trigger.output.data.parent_job_id}'
      resolver:
        maps:
          data:
            parent_job_id: '{resume_trigger.output.data.parent_job_id}'
          scrub: true
      signal:
        maps:
          done: true
  transitions:
    resume_trigger:
      - to: resume_signal
"""


async def test_signal_resumes_the_matching_hook_with_its_payload(pg_dsn: str, app_id: str) -> None:
    """The hook app's basic path (signal-race's success condition): `hook.resume` with `{id, done}`
    resumes exactly the job whose id the rule's `expected` named, `done` is mapped from the hook's data,
    and the registration is deleted on completion."""
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, HOOK_GRAPHS), "1")
        for job_id in ("waiter-a", "waiter-b"):
            await mesh.pub("paused.start", {"job_id": job_id, "parent_job_id": "p1"})
            await wait_status(mesh, job_id, 1)
        await mesh.signal("paused.resume", {"id": "waiter-a", "done": True})
        await wait_status(mesh, "waiter-a", 0, timeout=BOUND_S)
        assert (await mesh.get_state("paused.start", "waiter-a"))["data"]["done"] is True
        assert await mesh.get_status("waiter-b") == 1
        keys = await registry(mesh)
        assert "signals:paused.resume:waiter-a" not in keys
        assert "signals:paused.resume:waiter-b" in keys


async def test_hook_all_resumes_the_indexed_job_and_publishes_interim_then_final(pg_dsn: str,
                                                                                  app_id: str) -> None:
    """HotMesh 'sleeps until a `hookAll` signal' (skipped there on Postgres): the trigger's `emit` gives
    a first publication (`done: false`), the signal to every job indexed under `parent_job_id:<id>` (one
    target) resumes it, and the final publication carries `done: true`, `parent_job_id` and `job_id`."""
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, HOOK_GRAPHS), "1")
        seen = Recorder()
        await mesh.psub("paused.done.*", seen)
        await mesh.pub("paused.start", {"job_id": "only-child", "parent_job_id": "pj-1"})
        (topic, interim), = await seen.wait_count(1, timeout=BOUND_S)
        assert topic == "paused.done"
        assert interim["metadata"]["jid"] == "only-child"
        assert interim["data"]["done"] is False
        await mesh.pub("resume.all", {"parent_job_id": "pj-1"})
        await seen.wait_count(2, timeout=BOUND_S)
        final = seen.seen[1][1]
        assert final["data"] == {"done": True, "parent_job_id": "pj-1", "job_id": "only-child"}
        assert final["metadata"]["js"] == 0
        await mesh.punsub("paused.done.*")


async def test_colliding_deploys_and_activations_are_harmless(pg_dsn: str, app_id: str) -> None:
    """HotMesh's hook suite setup: the same app deployed by two clients at once, then activated by both
    at once, ends with one active version that runs jobs."""
    yaml = app_yaml(app_id, HOOK_GRAPHS)
    async with open_mesh(app_id, pg_dsn) as first, \
            HotMesh.open(app_id=app_id, dsn=pg_dsn, settings=FAST, engine=False) as second:
        await first.deploy(yaml)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(first.deploy, yaml)
            nursery.start_soon(second.deploy, yaml)
        results: list[bool] = []

        async def activate(mesh: HotMesh) -> None:
            results.append(await mesh.activate("1"))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(activate, first)
            nursery.start_soon(activate, second)
        assert results == [True, True]
        await second.pub("paused.start", {"job_id": "after-collision", "parent_job_id": "p"})
        await second.signal("paused.resume", {"id": "after-collision", "done": True})

        async def done() -> bool:
            return await first.get_status("after-collision") == 0

        await wait_until(done, timeout=BOUND_S, what="the job to complete after colliding deploys")
