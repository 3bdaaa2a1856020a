"""The chaos kit's parts that need no kill: the effect log filled by wrapped workers on a real mesh, the
marks a worker can put where its own effect happens, loading workers from a spec, and the plan checks
that refuse a run before anything starts."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from hotmesh_actors import StreamMessage, StreamResponse, Worker
from hotmesh_actors.chaos import ChaosPlan, effect_statements, load_workers, record_effect, run_chaos
from hotmesh_actors.chaos.effects import activate, deactivate, with_effect_log
from hotmesh_actors.core.messages import MessageMetadata
from hotmesh_actors.errors import ConfigurationError
from hotmesh_actors.store.chaos import EffectCounts, EffectLog

from .conformance_kit import ROOT, deploy_and_activate, graph_yaml, open_mesh, wait_until


async def check_inventory(msg: StreamMessage) -> dict[str, Any] | StreamResponse:
    """Marks its effect the way the order's itemId asks: with the reply, on its own, or not at all."""
    style = msg.data["itemId"]
    if style == "statements":
        return StreamResponse(data={"availableQty": 9}, statements=effect_statements(msg))
    if style == "record":
        await record_effect(msg)
    return {"data": {"availableQty": 9}}


async def reserve_item(msg: StreamMessage) -> dict[str, Any]:
    return {"data": {"reservationId": "r"}}


async def notify_backorder(msg: StreamMessage) -> None:
    return None  # acks without a reply: nothing to commit an effect with


WORKERS = [Worker("inventory.check", check_inventory), Worker("inventory.reserve", reserve_item),
           Worker("inventory.backorder.notify", notify_backorder)]


async def test_wrapped_workers_record_one_effect_per_step_however_the_worker_marks_it(
    pg_dsn: str, app_id: str
) -> None:
    log = EffectLog(app_id, uuid.uuid4().hex)
    async with open_mesh(app_id, pg_dsn) as client:
        await client.db.execute("SELECT 1")  # the app's schema exists once a mesh has opened
        await log.create(client.db)
        activate(log, client.db)
        try:
            wrapped = [with_effect_log(worker, log, client.db) for worker in WORKERS]
            async with open_mesh(app_id, pg_dsn, wrapped) as mesh:
                await deploy_and_activate(mesh, graph_yaml("order.yaml", app_id), "1")
                for style in ("plain", "statements", "record"):
                    out = await mesh.pubsub("order.requested", {"itemId": style, "requestedQty": 1}, timeout=15)
                    assert out["data"]["status"] == "reserved"
                # a back-order: the notify worker returns None (ack, no reply), so its step has a call and no
                # effect (and the job waits, as a None reply leaves it)
                await mesh.pub("order.requested", {"itemId": "plain", "requestedQty": 99})

                async def notified() -> bool:
                    return (await log.counts(mesh.db)).calls == 8

                await wait_until(notified, timeout=15, what="the back-order notice")
                assert await log.counts(mesh.db) == EffectCounts(effects=7, effect_steps=7, calls=8, call_steps=8)
                assert await log.doubled(mesh.db) == (0, [])
        finally:
            deactivate()


async def test_a_second_effect_for_one_step_is_counted_as_doubled(pg_dsn: str, app_id: str) -> None:
    log = EffectLog(app_id, uuid.uuid4().hex)
    message = StreamMessage(metadata=MessageMetadata(guid="g", jid="job-1", aid="charge", dad=",0"), data={})
    async with open_mesh(app_id, pg_dsn) as mesh:
        await log.create(mesh.db)
        for _ in range(2):
            await mesh.db.run(log.record_statement("effect", message))
        total, steps = await log.doubled(mesh.db)
        assert total == 1 and [(s.job_id, s.activity_id, s.dimension, s.times) for s in steps] == [
            ("job-1", "charge", ",0", 2)]


async def test_the_marks_do_nothing_outside_a_chaos_run() -> None:
    deactivate()
    message = StreamMessage(metadata=MessageMetadata(guid="g", jid="j", aid="a"), data={})
    await record_effect(message)  # no database, no error
    assert effect_statements(message) == []


def test_load_workers_reads_a_module_a_file_or_a_factory(tmp_path: Path) -> None:
    assert [w.topic for w in load_workers(f"{ROOT / 'examples' / 'order_yaml.py'}:WORKERS")] == [
        "inventory.check", "inventory.reserve", "inventory.backorder.notify"]
    assert [w.topic for w in load_workers("hotmesh_actors.cli:DEMO_WORKERS")] == [
        "inventory.check", "inventory.reserve", "inventory.backorder.notify"]
    factory = tmp_path / "factory_workers.py"
    factory.write_text("from hotmesh_actors import Worker\n\nasync def cb(msg):\n    return {}\n\n"
                       "def make():\n    return (Worker('a.b', cb),)\n\nONE = Worker('c.d', cb)\n", "utf-8")
    assert [w.topic for w in load_workers(f"{factory}:make")] == ["a.b"]
    assert [w.topic for w in load_workers(f"{factory}:ONE")] == ["c.d"]


@pytest.mark.parametrize(("spec", "message"), [
    ("myapp.workers", "must be MODULE:ATTR or FILE.py:ATTR"),
    ("no_such_module_hm:WORKERS", "cannot import the workers module 'no_such_module_hm': ModuleNotFoundError"),
    ("missing_file.py:WORKERS", "workers file 'missing_file.py' does not exist"),
    ("hotmesh_actors.cli:NOPE", "'hotmesh_actors.cli' has no attribute 'NOPE'"),
    ("hotmesh_actors.cli:STOCK", "must name a Worker, a list of Workers or a function returning them, not dict"),
])
def test_load_workers_says_what_is_wrong_with_a_spec(spec: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_workers(spec)


def test_a_plan_with_impossible_numbers_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="ChaosPlan.jobs must be a number >= 1, not 0"):
        ChaosPlan(graph="g.yaml", workers="m:W", jobs=0)
    with pytest.raises(ConfigurationError, match="ChaosPlan.kill_interval_s must be a number >= 0.1"):
        ChaosPlan(graph="g.yaml", workers="m:W", kill_interval_s=0)


async def test_a_run_that_could_never_complete_is_refused_before_anything_starts(
    pg_dsn: str, app_id: str, tmp_path: Path
) -> None:
    graph = tmp_path / "order.yaml"
    graph.write_text(graph_yaml("order.yaml", app_id), "utf-8")
    partial = tmp_path / "partial_workers.py"
    partial.write_text("from hotmesh_actors import Worker\n\nasync def cb(msg):\n    return {}\n\n"
                       "WORKERS = [Worker('inventory.check', cb)]\n", "utf-8")
    full = f"{ROOT / 'examples' / 'order_yaml.py'}:WORKERS"
    with pytest.raises(ConfigurationError, match="worker topics inventory.backorder.notify, inventory.reserve have "
                                                 "no worker"):
        await run_chaos(ChaosPlan(graph=str(graph), workers=f"{partial}:WORKERS", dsn=pg_dsn))
    with pytest.raises(ConfigurationError, match=f"the graph is for app '{app_id}', not 'other'"):
        await run_chaos(ChaosPlan(graph=str(graph), workers=full, app_id="other", dsn=pg_dsn))
    with pytest.raises(ConfigurationError, match="subscribes to 'order.nope'; its topics: order.requested"):
        await run_chaos(ChaosPlan(graph=str(graph), workers=full, topic="order.nope", dsn=pg_dsn))
