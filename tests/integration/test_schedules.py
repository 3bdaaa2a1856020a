"""hotmesh_actors.testing's schedule strategy on real graphs, end to end, as a user would write it.

- The README's order graph (graphs/order.yaml) under any delivery order, crashes before COMMIT and
  duplicated engine messages ends exactly as its crash-free run does, and each worker step's effect —
  committed with the reply (the chaos kit's effect log, no unique key) — is there exactly once.
- A graph with a hook gets its signal at any moment of any schedule and still ends as the reference.
- The strategy can fail: hypothesis finds a schedule under which a worker that commits its effect before
  its reply (an autocommitted write) leaves that effect twice, and shrinks it to a crashed worker delivery.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, find, given, settings

from hotmesh_actors import StreamMessage, Worker
from hotmesh_actors.chaos import record_effect
from hotmesh_actors.chaos.effects import activate, deactivate, with_effect_log
from hotmesh_actors.core.graph import compile_app
from hotmesh_actors.errors import ConfigurationError
from hotmesh_actors.mesh.hotmesh import HotMesh
from hotmesh_actors.store.chaos import EffectLog
from hotmesh_actors.testing import TEST_SETTINGS, MeshFactory, graph_for_app
from hotmesh_actors.testing.schedule import Deliver, ScheduleRunner, Step
from hotmesh_actors.testing.strategies import delivery_schedules

from .activities_kit import app_yaml
from .conformance_kit import GRAPHS

EXAMPLES = int(os.environ.get("HOTMESH_SCHEDULE_EXAMPLES", "25"))
ORDER = compile_app(str(GRAPHS / "order.yaml"))
IN_STOCK = {"itemId": "item-123", "requestedQty": 5}


async def check_inventory(msg: StreamMessage) -> dict[str, Any]:
    return {"data": {"availableQty": 7 if msg.data["itemId"] == "item-123" else 0}}


async def reserve_item(msg: StreamMessage) -> dict[str, Any]:
    return {"data": {"reservationId": f"res-{msg.data['itemId']}-{msg.data['quantity']}"}}


async def notify_backorder(msg: StreamMessage) -> dict[str, Any]:
    return {"data": {"notified": True}}


WORKERS = [Worker("inventory.check", check_inventory), Worker("inventory.reserve", reserve_item),
           Worker("inventory.backorder.notify", notify_backorder)]

FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(schedule=delivery_schedules(ORDER))
async def test_the_order_graph_ends_as_its_crash_free_run_under_any_schedule(
    schedule: list[Step], mesh_factory: MeshFactory
) -> None:
    mesh = await mesh_factory(graph="graphs/order.yaml", engine=False)
    log = EffectLog(mesh.app_id, uuid.uuid4().hex)
    await log.create(mesh.db)
    runner = ScheduleRunner(mesh, [with_effect_log(worker, log, mesh.db) for worker in WORKERS])
    reference = await runner.reference("order.requested", IN_STOCK)
    assert reference.status == 0 and reference.data["status"] == "reserved"
    outcome = await runner.run("order.requested", IN_STOCK, schedule)
    assert outcome.result == reference.result
    assert outcome.dead_lettered == 0
    # every worker step ran at least once, and its effect (committed with its reply) is there once per step
    assert set(outcome.callback_runs) == set(reference.callback_runs)
    doubled, _ = await log.doubled(mesh.db)
    counts = await log.counts(mesh.db)
    assert doubled == 0 and counts.effects == counts.effect_steps == 2 * 2  # two runs, two worker steps each


APPROVAL = """
- subscribes: sched.approve
  expire: 0
  activities:
    t1:
      type: trigger
    prepare:
      type: worker
      topic: sched.prepare
      job:
        maps:
          prepared: '{$self.output.data.prepared}'
    approval:
      type: hook
      hook:
        type: object
        properties:
          approved: {type: boolean}
      job:
        maps:
          approved: '{$self.hook.data.approved}'
  transitions:
    t1:
      - to: prepare
      - to: approval
  hooks:
    sched.approval:
      - to: approval
        conditions:
          match:
            - expected: '{$job.metadata.jid}'
              actual: '{$self.hook.data.id}'
"""


async def prepare(msg: StreamMessage) -> dict[str, Any]:
    return {"data": {"prepared": True}}


@FUZZ
@given(schedule=delivery_schedules(compile_app(app_yaml("sched", APPROVAL))))
async def test_a_signal_sent_at_any_moment_of_any_schedule_reaches_the_hook(
    schedule: list[Step], mesh_factory: MeshFactory, hotmesh_app_id: str
) -> None:
    mesh = await mesh_factory(graph=app_yaml(hotmesh_app_id, APPROVAL), engine=False)
    runner = ScheduleRunner(mesh, [Worker("sched.prepare", prepare)])
    signals = [("sched.approval", lambda job_id: {"id": job_id, "approved": True})]
    reference = await runner.reference("sched.approve", signals=signals)
    assert reference.status == 0 and reference.data == {"prepared": True, "approved": True}
    outcome = await runner.run("sched.approve", {}, schedule, signals=signals)
    assert outcome.result == reference.result


def test_the_strategy_finds_the_schedule_that_doubles_an_effect_committed_before_the_reply(
    hotmesh_dsn: str, hotmesh_app_id: str
) -> None:
    async def doubles(schedule: list[Step]) -> bool:
        async with HotMesh.open(app_id=hotmesh_app_id, dsn=hotmesh_dsn, engine=False,
                                settings=TEST_SETTINGS) as mesh:
            await mesh.deploy(graph_for_app(str(GRAPHS / "order.yaml"), hotmesh_app_id))
            await mesh.activate("1")
            log = EffectLog(mesh.app_id, uuid.uuid4().hex)
            await log.create(mesh.db)

            async def effect_first(msg: StreamMessage) -> dict[str, Any]:
                await record_effect(msg)  # autocommitted: NOT with the reply
                return await check_inventory(msg)

            workers = [Worker("inventory.check", effect_first), *WORKERS[1:]]
            activate(log, mesh.db)
            try:
                runner = ScheduleRunner(mesh, [with_effect_log(worker, log, mesh.db) for worker in workers])
                await runner.run("order.requested", IN_STOCK, schedule)
            finally:
                deactivate()
            total, _ = await log.doubled(mesh.db)
            return total > 0

    found = find(delivery_schedules(ORDER), lambda schedule: trio.run(doubles, schedule),
                 settings=settings(max_examples=200, deadline=None, database=None, derandomize=True,
                                   suppress_health_check=list(HealthCheck)))
    assert any(isinstance(step, Deliver) and step.stream == "worker" and step.crash for step in found), found
    assert len(found) <= 3, f"shrunk to {found}"


async def test_the_runner_refuses_a_mesh_that_runs_an_engine_and_a_missing_worker(mesh_factory: MeshFactory) -> None:
    busy = await mesh_factory(graph="graphs/order.yaml")
    with pytest.raises(ConfigurationError, match="engine=False and no workers"):
        ScheduleRunner(busy, WORKERS)
    quiet = await mesh_factory(engine=False)
    runner = ScheduleRunner(quiet, WORKERS[:1])
    with pytest.raises(ConfigurationError, match="inventory.backorder.notify, inventory.reserve"):
        await runner.run("order.requested", IN_STOCK, [])
