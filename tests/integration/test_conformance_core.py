"""Engine conformance, SPEC §11 items 1–13 (the quickstart ladder `graphs/abc/v1…v9`), and the seeds' order
flow (`graphs/order.yaml`), on a real Postgres. See docs/dev/engine_testing.md for the conventions."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import trio

from hotmesh_actors import Worker
from hotmesh_actors.core.keys import job_key
from hotmesh_actors.core.messages import StreamMessage
from hotmesh_actors.errors import DuplicateJobError, JobNotFoundError, PubSubTimeout
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.driver import with_database
from hotmesh_actors.store.migrations import _migration_files
from hotmesh_actors.store.steps import JobInsert, Outcome, StepScript, StepWrite

from .conformance_kit import (
    GatedWorkers,
    admin_sql,
    deploy_and_activate,
    graph_yaml,
    open_mesh,
    schema_of,
    wait_status,
    wait_until,
)

JSON = Any


def _hello_world(msg: StreamMessage) -> dict[str, JSON]:
    """The quickstart's `work.do` worker: y = x + ' world'."""
    return {"data": {"y": f"{msg.data['x']} world"}}


def _hello_world_more(msg: StreamMessage) -> dict[str, JSON]:
    """The quickstart's `work.do.more` worker: o = i + ' world'."""
    return {"data": {"o": f"{msg.data['i']} world"}}


def _ladder_workers() -> tuple[GatedWorkers, GatedWorkers, list[Worker]]:
    first, second = GatedWorkers(_hello_world), GatedWorkers(_hello_world_more)
    return first, second, [Worker("work.do", first), Worker("work.do.more", second)]


def _trigger_only(app_id: str, version: str = "1", extra: str = "") -> str:
    return (f"app:\n  id: {app_id}\n  version: '{version}'\n  graphs:\n    - subscribes: abc.test\n{extra}"
            f"      activities:\n        t1:\n          type: trigger\n")


# -- 1 ---------------------------------------------------------------------------------------------------


GLOBAL_TABLES = ("hmsh_applications", "hmsh_application_versions", "hmsh_connections", "hmsh_escalations")
APP_RELATIONS = {"jobs": "r", "jobs_attributes": "v", "engine_streams": "r", "worker_streams": "r"}
"""The lean step's storage (pg_class.relkind): one `jobs` row per job holding its state document, the HotMesh
rows as a view over it, and plain stream tables."""
KV_TABLES = ("roles", "signal_registry", "throttles", "versions")


async def test_item_01_init_creates_global_tables_and_app_schema_concurrently(server_dsn: str, app_id: str) -> None:
    # A brand-new database, so the global tables are created by these two inits racing each other.
    name = f"hmconf_{uuid.uuid4().hex[:10]}"
    await admin_sql(server_dsn, f'CREATE DATABASE "{name}"')
    dsn = with_database(server_dsn, name)
    try:
        meshes: list[Any] = []
        both_open, release = trio.Event(), trio.Event()

        async def init() -> None:
            async with open_mesh(app_id, dsn) as mesh:
                meshes.append(mesh)
                if len(meshes) == 2:
                    both_open.set()
                await release.wait()

        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(init)
                nursery.start_soon(init)
                await both_open.wait()
                db = meshes[0].db
                for table in GLOBAL_TABLES:
                    assert await db.fetchval("SELECT to_regclass($1)::text", f"public.{table}") == f"{table}", table
                schema = schema_of(app_id)
                assert await db.fetchval(
                    "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1", schema) == 1
                for relation, kind in APP_RELATIONS.items():
                    assert await db.fetchval(
                        "SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = $1 AND c.relname = $2", schema, relation) == kind, relation
                assert {"state", "rev"} <= {row["column_name"] for row in await db.fetch(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = $1 "
                    "AND table_name = 'jobs'", schema)}
                # one row per job id: a unique index on the key
                assert await db.fetchval(
                    "SELECT i.indisunique FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                    schema, "jobs_key_idx") is True
                # The racing inits applied each migration exactly once (the second waited, then had nothing to do).
                versions = [row["version"] for row in await db.fetch(
                    "SELECT version FROM public.hmsh_schema_migrations WHERE scope = $1 ORDER BY version",
                    f"app:{schema}")]
                assert versions == [version for version, _, _ in _migration_files("app")]
                assert [row["version"] for row in await db.fetch(
                    "SELECT version FROM public.hmsh_schema_migrations WHERE scope = 'public' ORDER BY version")
                ] == [version for version, _, _ in _migration_files("public")]
                for table in KV_TABLES:
                    assert await db.fetchval("SELECT to_regclass($1)", f"{schema}.{table}") is not None, table
                # Both points of presence work: deploy through one, run a job through the other.
                await deploy_and_activate(meshes[0], _trigger_only(app_id), "1")
                output = await meshes[1].pubsub("abc.test", {}, timeout=5)
                assert output["metadata"]["js"] == 0
                release.set()
        # A third init of the same, already-initialised app is a no-op that still succeeds.
        async with open_mesh(app_id, dsn) as mesh:
            assert await mesh.get_status(output["metadata"]["jid"]) == 0
    finally:
        await admin_sql(server_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_item_01_init_registers_engine_and_workers_in_hmsh_connections(pg_dsn: str, app_id: str) -> None:
    async def noop(msg: StreamMessage) -> dict[str, JSON]:
        return {"data": {}}

    async with open_mesh(app_id, pg_dsn, [Worker("work.do", noop)]) as mesh:
        rows = await mesh.db.fetch("SELECT guid, role FROM public.hmsh_connections WHERE app_id = $1", app_id)
        assert len(rows) >= 1
        assert mesh.guid in {row["guid"] for row in rows}


# -- 2 ---------------------------------------------------------------------------------------------------


async def test_item_02_trigger_only_pubsub_completes(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn) as mesh:
        await mesh.deploy(_trigger_only(app_id))
        status = await mesh.db.fetchval(
            "SELECT status FROM public.hmsh_application_versions WHERE app_id = $1 AND version = '1'", app_id)
        assert status == "deployed"
        assert await mesh.activate("1") is True
        started = time.monotonic()
        output = await mesh.pubsub("abc.test", {}, timeout=1.0)
        assert time.monotonic() - started < 1.0
        assert set(output) == {"metadata", "data"}
        assert isinstance(output["metadata"]["jid"], str) and output["metadata"]["jid"]
        assert output["metadata"]["js"] == 0
        assert output["data"] == {}
        row = await mesh.db.fetchrow(
            "SELECT v.status, a.version, a.active FROM public.hmsh_application_versions v "
            "JOIN public.hmsh_applications a USING (app_id) WHERE v.app_id = $1 AND v.version = '1'", app_id)
        assert row is not None
        assert (row["status"], row["version"], row["active"]) == ("activated", "1", True)


# -- 3 ---------------------------------------------------------------------------------------------------


async def test_item_03_passthrough_hook_completes(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, graph_yaml("abc/v2.yaml", app_id), "2")
        output = await mesh.pubsub("abc.test", {}, timeout=5)
        jid = output["metadata"]["jid"]
        assert await mesh.get_status(jid) == 0
        raw = await mesh.get_raw(jid)
        # The hook ran (its own state row, in its own dimension) and was the message that closed the job.
        assert raw["a1/output/metadata/atp,0,0"] == "hook"
        assert raw[":"] == "0"


# -- 4 ---------------------------------------------------------------------------------------------------


def _awaited_child_with_worker(app_id: str, version: str) -> str:
    """v3 with a worker in the child, so the test controls when the child finishes."""
    return f"""app:
  id: {app_id}
  version: '{version}'
  graphs:
    - subscribes: abc.test
      activities:
        t1:
          type: trigger
        a1:
          type: await
          topic: abc.child
          job:
            maps:
              fromChild: '{{$self.output.data.done}}'
      transitions:
        t1:
          - to: a1
    - subscribes: abc.child
      activities:
        t2:
          type: trigger
        w2:
          type: worker
          topic: work.do
          job:
            maps:
              done: '{{$self.output.data.done}}'
      transitions:
        t2:
          - to: w2
"""


async def test_item_04_await_completes_after_child(pg_dsn: str, app_id: str) -> None:
    schema = schema_of(app_id)
    gated = GatedWorkers(lambda msg: {"data": {"done": "yes"}}, gated=["w2"])
    async with open_mesh(app_id, pg_dsn, [Worker("work.do", gated)]) as mesh:
        # The ladder's v3: the parent and the child each have a jobs row; the child is linked to the parent.
        await deploy_and_activate(mesh, graph_yaml("abc/v3.yaml", app_id), "3")
        output = await mesh.pubsub("abc.test", {}, timeout=5)
        parent = output["metadata"]["jid"]
        rows = await mesh.db.fetch(f"SELECT key, status, parent_id FROM {schema}.jobs ORDER BY created_at")
        assert len(rows) == 2
        assert rows[0]["key"] == f"hmsh:{app_id}:j:{parent}"
        child_key = rows[1]["key"]
        assert child_key.startswith(f"hmsh:{app_id}:j:") and child_key != rows[0]["key"]
        assert [row["status"] for row in rows] == [0, 0]
        assert rows[1]["parent_id"] == parent
        child = await mesh.get_state("abc.child", child_key.rsplit(":", 1)[1])
        assert child["metadata"]["pj"] == parent
        assert child["metadata"]["pa"] == "a1"

        # The parent waits while the child's worker is held, and completes only after the child does.
        await deploy_and_activate(mesh, _awaited_child_with_worker(app_id, "4"), "4")
        jid = await mesh.pub("abc.test", {})
        await gated.called("w2")
        child_row = await mesh.db.fetchrow(
            f"SELECT key, status FROM {schema}.jobs WHERE parent_id = $1", jid)
        assert child_row is not None and child_row["status"] == 1
        await trio.sleep(0.2)
        assert await mesh.get_status(jid) == 1
        gated.open("w2")
        await wait_status(mesh, jid, 0)
        child_done = await mesh.db.fetchrow(
            f"SELECT status, updated_at FROM {schema}.jobs WHERE key = $1", child_row["key"])
        parent_done = await mesh.db.fetchrow(f"SELECT updated_at FROM {schema}.jobs WHERE key = $1",
                                             f"hmsh:{app_id}:j:{jid}")
        assert child_done["status"] == 0
        assert child_done["updated_at"] <= parent_done["updated_at"]
        state = await mesh.get_state("abc.test", jid)
        assert state["data"] == {"fromChild": "yes"}


# -- 5 ---------------------------------------------------------------------------------------------------


async def test_item_05_worker_callback_invoked_once(pg_dsn: str, app_id: str) -> None:
    gated = GatedWorkers(lambda msg: {"data": {}}, gated=["a1"])
    async with open_mesh(app_id, pg_dsn, [Worker("work.do", gated)]) as mesh:
        await deploy_and_activate(mesh, graph_yaml("abc/v4.yaml", app_id), "4")
        jid = await mesh.pub("abc.test", {"a": "hello"})
        await gated.called("a1")
        # The callback is running: the job is not complete yet.
        assert await mesh.get_status(jid) == 1
        gated.open("a1")
        await wait_status(mesh, jid, 0)
        await trio.sleep(0.3)  # room for a (wrong) second delivery
        assert len(gated.calls) == 1
        msg = gated.calls[0]
        assert msg.metadata.jid == jid
        assert msg.metadata.aid == "a1"
        assert msg.metadata.dad == ",0,0"
        assert msg.metadata.guid
        assert isinstance(msg.data, dict)
        state = await mesh.get_state("abc.test", jid)
        assert state["metadata"]["js"] == 0


# -- 6 ---------------------------------------------------------------------------------------------------


async def test_item_06_mapping_yields_hello_world(pg_dsn: str, app_id: str) -> None:
    first, _, workers = _ladder_workers()
    async with open_mesh(app_id, pg_dsn, workers) as mesh:
        await deploy_and_activate(mesh, graph_yaml("abc/v5.yaml", app_id), "5")
        output = await mesh.pubsub("abc.test", {"a": "hello"}, timeout=5)
        assert output["data"] == {"b": "hello world"}
        assert [call.data for call in first.calls] == [{"x": "hello"}]


# -- 7 ---------------------------------------------------------------------------------------------------


async def test_item_07_parallel_sequence_and_composition(pg_dsn: str, app_id: str) -> None:
    first, second, workers = _ladder_workers()
    async with open_mesh(app_id, pg_dsn, workers) as mesh:
        await deploy_and_activate(mesh, graph_yaml("abc/v6.yaml", app_id), "6")
        parallel = await mesh.pubsub("abc.test", {"a": "hello"}, timeout=5)
        assert parallel["data"] == {"b": "hello world", "c": "hello world"}
        assert sorted(c.metadata.aid for c in first.calls + second.calls) == ["a1", "a2"]

        await deploy_and_activate(mesh, graph_yaml("abc/v7.yaml", app_id), "7")
        sequence = await mesh.pubsub("abc.test", {"a": "hello"}, timeout=5)
        assert sequence["data"] == {"b": "hello world", "c": "hello world world"}
        assert second.calls[-1].data == {"i": "hello world"}

        await deploy_and_activate(mesh, graph_yaml("abc/v8.yaml", app_id), "8")
        composed = await mesh.pubsub("abc.test", {"a": "hello"}, timeout=5)
        assert composed["data"] == {"b": "hello world"}
        assert first.calls[-1].metadata.aid == "a2"
        assert first.calls[-1].data == {"x": "hello"}


# -- 8 ---------------------------------------------------------------------------------------------------


def _gates_graph(app_id: str) -> str:
    """Strict `expected` comparison and `gate: or`, next to v9's `gate: and`."""
    return f"""app:
  id: {app_id}
  version: '10'
  graphs:
    - subscribes: abc.test
      activities:
        t1:
          type: trigger
        strict:
          type: hook
          job:
            maps:
              strict: true
        either:
          type: hook
          job:
            maps:
              either: true
      transitions:
        t1:
          - to: strict
            conditions:
              match:
                - expected: 1
                  actual: '{{t1.output.data.n}}'
          - to: either
            conditions:
              gate: or
              match:
                - expected: 'x'
                  actual: '{{t1.output.data.s}}'
                - expected: 'y'
                  actual: '{{t1.output.data.s}}'
"""


async def test_item_08_conditions_route_by_strict_match(pg_dsn: str, app_id: str) -> None:
    first, second, workers = _ladder_workers()
    async with open_mesh(app_id, pg_dsn, workers) as mesh:
        await deploy_and_activate(mesh, graph_yaml("abc/v9.yaml", app_id), "9")
        goodbye = await mesh.pubsub("abc.test", {"a": "goodbye"}, timeout=5)
        assert goodbye["data"] == {}
        bye = await mesh.pubsub("abc.test", {"a": "bye"}, timeout=5)
        assert bye["data"] == {}
        assert first.calls == [] and second.calls == []

        helped = await mesh.pubsub("abc.test", {"a": "help"}, timeout=5)
        assert helped["data"] == {"b": "help world"}
        assert "c" not in helped["data"]
        assert second.calls == []

        hello = await mesh.pubsub("abc.test", {"a": "hello"}, timeout=5)
        assert hello["data"] == {"b": "hello world", "c": "hello world world"}
        assert len(first.calls) == 2 and len(second.calls) == 1

        await deploy_and_activate(mesh, _gates_graph(app_id), "10")
        # expected 1 (a number) vs actual "1" (a string): strict, so no match.
        loose = await mesh.pubsub("abc.test", {"n": "1", "s": "z"}, timeout=5)
        assert loose["data"] == {}
        exact = await mesh.pubsub("abc.test", {"n": 1, "s": "y"}, timeout=5)
        assert exact["data"] == {"strict": True, "either": True}
        one_of = await mesh.pubsub("abc.test", {"n": 2, "s": "x"}, timeout=5)
        assert one_of["data"] == {"either": True}


# -- 9 ---------------------------------------------------------------------------------------------------


def _held_job_graph(app_id: str, id_ref: str) -> str:
    return f"""app:
  id: {app_id}
  version: '1'
  graphs:
    - subscribes: abc.test
      expire: 2
      activities:
        t1:
          type: trigger
          stats:
            id: '{{{id_ref}}}'
        a1:
          type: worker
          topic: work.do
          input:
            maps:
              x: '{{t1.output.data.x}}'
          job:
            maps:
              b: '{{$self.output.data.y}}'
      transitions:
        t1:
          - to: a1
"""


async def test_item_09_duplicate_live_job_id_rejected(pg_dsn: str, app_id: str) -> None:
    gated = GatedWorkers(_hello_world, gated=["a1"])
    async with open_mesh(app_id, pg_dsn, [Worker("work.do", gated)]) as mesh:
        await deploy_and_activate(mesh, _held_job_graph(app_id, "$self.output.data.id"), "1")
        jid = await mesh.pub("abc.test", {"id": "order-1", "x": "first"})
        assert jid == "order-1"
        await gated.called("a1")
        with pytest.raises(DuplicateJobError, match=r"^Duplicate job: order-1$") as caught:
            await mesh.pub("abc.test", {"id": "order-1", "x": "second"})
        assert caught.value.job_id == "order-1"
        # Same through an explicit job id.
        with pytest.raises(DuplicateJobError, match=r"^Duplicate job: order-1$"):
            await mesh.pub("abc.test", {"id": "other", "x": "third"}, job_id="order-1")
        # The original is untouched: still running, one jobs row, and it finishes with its own data.
        assert await mesh.get_status(jid) == 1
        count = await mesh.db.fetchval(f"SELECT count(*) FROM {schema_of(app_id)}.jobs")
        assert count == 1
        gated.open("a1")
        await wait_status(mesh, jid, 0)
        state = await mesh.get_state("abc.test", jid)
        assert state["data"] == {"b": "first world"}
        assert [call.data for call in gated.calls] == [{"x": "first"}]

        # Completed but not yet expired (`expire: 2`) is still live: still a duplicate.
        with pytest.raises(DuplicateJobError, match=r"^Duplicate job: order-1$"):
            await mesh.pub("abc.test", {"id": "order-1", "x": "fourth"})
        # Once expired the id may be used again: a new job replaces the expired one's row (one row per job id).
        schema = schema_of(app_id)
        key = f"hmsh:{app_id}:j:order-1"

        async def expired() -> bool:
            return bool(await mesh.db.fetchval(
                f"SELECT bool_and(expired_at <= now()) FROM {schema}.jobs WHERE key = $1", key))

        await wait_until(expired, timeout=5, what="order-1 to expire")
        first_row = await mesh.db.fetchval(f"SELECT id FROM {schema}.jobs WHERE key = $1", key)
        assert await mesh.pub("abc.test", {"id": "order-1", "x": "again"}) == "order-1"
        rows = await mesh.db.fetch(f"SELECT id, expired_at FROM {schema}.jobs WHERE key = $1", key)
        assert len(rows) == 1 and rows[0]["id"] != first_row and rows[0]["expired_at"] is None, rows
        await wait_status(mesh, "order-1", 0)
        assert (await mesh.get_state("abc.test", "order-1"))["data"] == {"b": "again world"}

        # Racing publishers of one id: exactly one wins.
        outcomes: list[str] = []

        async def publish() -> None:
            try:
                outcomes.append(await mesh.pub("abc.test", {"id": "race-1", "x": "r"}))
            except DuplicateJobError:
                outcomes.append("duplicate")

        async with trio.open_nursery() as nursery:
            for _ in range(5):
                nursery.start_soon(publish)
        assert sorted(outcomes) == ["duplicate"] * 4 + ["race-1"]
        await wait_status(mesh, "race-1", 0)


async def test_item_09_one_statement_inserting_one_job_id_twice_commits_one(pg_dsn: str, app_id: str) -> None:
    """Two new jobs of one id in ONE group commit (two `pub`s racing into the same `write_steps`): the first
    is created, the second is a duplicate that writes nothing (not its job, not its index rows)."""
    async with open_mesh(app_id, pg_dsn) as mesh:
        script = StepScript(mesh.db, app_id)
        key = job_key(app_id, "batch-1")
        writes = [StepWrite(insert=JobInsert(key=key, status=1, state=json.dumps({"data": {"n": n}}),
                                             index_entries=[("stats", f"n:{n}")])) for n in (1, 2)]
        results, _ = await script.write(writes)
        assert [result.outcome for result in results] == [Outcome.COMMITTED, Outcome.DUPLICATE]
        assert results[0].job_id is not None and results[1].job_id is None
        rows = await mesh.db.fetch(f"SELECT id::text AS id, state FROM {schema_of(app_id)}.jobs WHERE key = $1", key)
        assert [(row["id"], json.loads(row["state"])) for row in rows] == [(results[0].job_id, {"data": {"n": 1}})]
        facets = await mesh.db.fetch(f"SELECT facet FROM {schema_of(app_id)}.job_index WHERE jid = 'batch-1'")
        assert [row["facet"] for row in facets] == ["n:1"]
        # and once the id is taken, a later statement's insert is a duplicate too
        [again], _ = await script.write([writes[1]])
        assert again.outcome is Outcome.DUPLICATE


async def test_item_09_trigger_stats_id_from_self_input_data(pg_dsn: str, app_id: str) -> None:
    gated = GatedWorkers(_hello_world, gated=["a1"])
    async with open_mesh(app_id, pg_dsn, [Worker("work.do", gated)]) as mesh:
        await deploy_and_activate(mesh, _held_job_graph(app_id, "$self.input.data.id"), "1")
        try:
            jid = await mesh.pub("abc.test", {"id": "order-2", "x": "first"})
            assert jid == "order-2"
        finally:
            gated.open_all()


# -- 10 --------------------------------------------------------------------------------------------------


def _semaphore_graph(app_id: str) -> str:
    """t1 → w1, w2, w3 (w3's condition fails); w1 → w4, w5. Every worker is held until released."""
    worker = "          type: worker\n          topic: work.do\n"
    return f"""app:
  id: {app_id}
  version: '1'
  graphs:
    - subscribes: abc.test
      activities:
        t1:
          type: trigger
        w1:
{worker}        w2:
{worker}        w3:
{worker}        w4:
{worker}        w5:
{worker}      transitions:
        t1:
          - to: w1
          - to: w2
            conditions:
              match:
                - expected: true
                  actual: '{{t1.output.data.go}}'
          - to: w3
            conditions:
              match:
                - expected: false
                  actual: '{{t1.output.data.go}}'
        w1:
          - to: w4
          - to: w5
"""


async def test_item_10_semaphore_counts_children_and_completes_at_zero(pg_dsn: str, app_id: str) -> None:
    gated = GatedWorkers(gated=["w1", "w2", "w3", "w4", "w5"])
    finished: list[JSON] = []
    jid = f"sem-{app_id}"
    async with open_mesh(app_id, pg_dsn, [Worker("work.do", gated)]) as mesh:
        await deploy_and_activate(mesh, _semaphore_graph(app_id), "1")

        async def wait_for_job() -> None:
            finished.append(await mesh.pubsub("abc.test", {"go": True}, timeout=15, job_id=jid))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait_for_job)
            await gated.called("w1")
            await gated.called("w2")
            # After the trigger: two children passed their conditions (w1, w2); w3's did not.
            assert await mesh.get_status(jid) == 2
            # Each activity applies (its children - 1): w1 spawns two, the others none.
            for aid, expected in [("w1", 3), ("w2", 2), ("w4", 1), ("w5", 0)]:
                await gated.called(aid)
                assert finished == [], f"job completed before {aid} finished"
                gated.open(aid)
                await wait_status(mesh, jid, expected)
        assert len(finished) == 1 and finished[0]["metadata"]["js"] == 0
        assert sorted(gated.aids()) == ["w1", "w2", "w4", "w5"]
        await trio.sleep(0.2)
        assert await mesh.get_status(jid) == 0


# -- 11 --------------------------------------------------------------------------------------------------


def _publishing_graph(app_id: str) -> str:
    return f"""app:
  id: {app_id}
  version: '1'
  graphs:
    - subscribes: abc.test
      publishes: abc.done
      activities:
        t1:
          type: trigger
        a1:
          type: worker
          topic: work.do
          input:
            maps:
              x: '{{t1.output.data.a}}'
          job:
            maps:
              b: '{{$self.output.data.y}}'
      transitions:
        t1:
          - to: a1
"""


async def test_item_11_publishes_sub_delivers_once_and_pubsub_times_out(pg_dsn: str, app_id: str) -> None:
    gated = GatedWorkers(_hello_world, gated=["a1"])
    async with open_mesh(app_id, pg_dsn, [Worker("work.do", gated)]) as mesh:
        await deploy_and_activate(mesh, _publishing_graph(app_id), "1")
        jid = await mesh.pub("abc.test", {"a": "hello"})
        received: list[tuple[str, JSON]] = []

        async def on_publish(topic: str, output: JSON) -> None:
            received.append((topic, output))

        patterned: list[str] = []

        async def on_pattern(topic: str, output: JSON) -> None:
            patterned.append(topic)

        await mesh.sub(f"abc.done.{jid}", on_publish)
        await mesh.psub("abc.done.*", on_pattern)
        await gated.called("a1")
        gated.open("a1")

        async def delivered() -> bool:
            return bool(received)

        await wait_until(delivered, what="the publishes notification")
        await trio.sleep(0.3)  # room for a (wrong) second notification
        assert len(received) == 1
        topic, output = received[0]
        assert topic == "abc.done"  # the message names its `publishes` topic; the jid is in its metadata
        assert set(output) == {"metadata", "data"}
        assert output["metadata"]["jid"] == jid
        assert output["metadata"]["js"] == 0
        assert output["data"] == {"b": "hello world"}
        assert patterned == ["abc.done"]  # `abc.done.*` matched `abc.done.<jid>`
        await mesh.unsub(f"abc.done.{jid}")
        await mesh.punsub("abc.done.*")

        # pubsub gives up when the job does not finish in time; the job keeps running.
        gated.gates["a1"] = trio.Event()
        started = time.monotonic()
        with pytest.raises(PubSubTimeout) as caught:
            await mesh.pubsub("abc.test", {"a": "slow"}, timeout=0.5)
        assert 0.45 <= time.monotonic() - started < 3
        err = caught.value
        assert err.code == 504
        assert "timeout" in str(err)
        assert isinstance(err, TimeoutError)
        assert err.job_id and await mesh.get_status(err.job_id) == 1
        gated.open_all()
        await wait_status(mesh, err.job_id, 0)


# -- 12 --------------------------------------------------------------------------------------------------


def _typed_values_graph(app_id: str) -> str:
    job_maps = "".join(f"              {k}: '{{$self.output.data.{v}}}'\n" for k, v in
                       (("b", "y"), ("t", "flag"), ("f", "off"), ("n", "num"), ("z", "nothing"), ("o", "obj")))
    return f"""app:
  id: {app_id}
  version: '1'
  graphs:
    - subscribes: abc.test
      activities:
        t1:
          type: trigger
        a1:
          type: worker
          topic: work.do
          input:
            maps:
              x: '{{t1.output.data.a}}'
          job:
            maps:
{job_maps}      transitions:
        t1:
          - to: a1
"""


def _typed_reply(msg: StreamMessage) -> dict[str, JSON]:
    return {"data": {"y": f"{msg.data['x']} world", "flag": True, "off": False, "num": 3.5, "nothing": None,
                     "obj": {"k": [1, 2]}}}


async def test_item_12_get_state_and_get_raw_shapes(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn, [Worker("work.do", GatedWorkers(_typed_reply))]) as mesh:
        await deploy_and_activate(mesh, _typed_values_graph(app_id), "1")
        output = await mesh.pubsub("abc.test", {"a": "hello"}, timeout=5)
        jid = output["metadata"]["jid"]

        state = await mesh.get_state("abc.test", jid)
        assert set(state) == {"metadata", "data"}
        # Only job-level data: neither the trigger's input (`a`) nor a1's raw output (`y`, `flag` …).
        assert state["data"] == {"b": "hello world", "t": True, "f": False, "n": 3.5, "z": None,
                                 "o": {"k": [1, 2]}}
        assert state["metadata"]["js"] == 0
        assert state["metadata"]["jid"] == jid
        assert state["metadata"]["tpc"] == "abc.test"
        assert not any("/" in key for key in state["metadata"])

        raw = await mesh.get_raw(jid)
        assert raw[":"] == "0"
        # Readable path fields (DESIGN §3), activity fields with their dimension suffix, job fields without.
        assert raw["t1/output/data/a,0"] == "hello"
        assert raw["a1/output/data/y,0,0"] == "hello world"
        assert raw["a1/output/metadata/dad,0,0"] == ",0,0"
        assert raw["metadata/jid"] == jid
        # Value encoding: strings as-is, /t /f /d<num> /n /s<json>.
        assert raw["data/b"] == "hello world"
        assert raw["data/t"] == "/t"
        assert raw["data/f"] == "/f"
        assert raw["data/n"] == "/d3.5"
        assert raw["data/z"] == "/n"
        assert raw["data/o"].startswith("/s")
        assert json.loads(raw["data/o"][2:]) == {"k": [1, 2]}
        assert raw["a1/output/data/flag,0,0"] == "/t"
        assert raw["a1/output/metadata/as,0,0"].startswith("/d")
        # The stored rows match: field, dimension and type columns.
        with pytest.raises(JobNotFoundError, match=r"^Job nope not found$"):
            await mesh.get_state("abc.test", "nope")
        with pytest.raises(JobNotFoundError, match=r"^Job nope not found$"):
            await mesh.get_status("nope")
        rows = {(r["field"], r["dimension"]): r["type"] for r in await mesh.db.fetch(
            f"SELECT field, dimension, type::text FROM {schema_of(app_id)}.jobs_attributes")}
        assert rows[("a1/output/data/y", ",0,0")] == "adata"
        assert rows[("data/b", "")] == "jdata"


# -- 13 --------------------------------------------------------------------------------------------------


async def _expiry_after_completion(mesh: Any, app_id: str, jid: str) -> float | None:
    """Seconds from the finished job's completion to its expiry (None: it never expires, so it stays live)."""
    row = await mesh.db.fetchrow(
        f"SELECT EXTRACT(EPOCH FROM expired_at - updated_at)::float8 AS after, "
        f"EXTRACT(EPOCH FROM expired_at - now())::float8 AS ahead, status "
        f"FROM {schema_of(app_id)}.jobs WHERE key = $1", f"hmsh:{app_id}:j:{jid}")
    assert row is not None and row["status"] == 0
    if row["after"] is None:
        # never expiring, the finished job still holds its id: a new job of the same id is a duplicate
        with pytest.raises(DuplicateJobError):
            await mesh.pub("abc.test", {}, job_id=jid)
        return None
    assert row["ahead"] <= row["after"] + 0.5
    return float(row["after"])


async def test_item_13_expire_sets_expired_at(pg_dsn: str, app_id: str) -> None:
    settings = Settings(fidelity_seconds=1, fallback_poll_s=1, expire_default_s=7)
    async with open_mesh(app_id, pg_dsn, settings=settings) as mesh:
        await deploy_and_activate(mesh, _trigger_only(app_id, "1", "      expire: 30\n"), "1")
        started = time.time()
        out = await mesh.pubsub("abc.test", {}, timeout=5)
        after = await _expiry_after_completion(mesh, app_id, out["metadata"]["jid"])
        assert after is not None and after == pytest.approx(30, abs=1.5)
        expired_at = await mesh.db.fetchval(
            f"SELECT EXTRACT(EPOCH FROM expired_at)::float8 FROM {schema_of(app_id)}.jobs WHERE key = $1",
            f"hmsh:{app_id}:j:{out['metadata']['jid']}")
        assert expired_at == pytest.approx(started + 30, abs=3)

        await deploy_and_activate(mesh, _trigger_only(app_id, "2", "      expire: 0\n"), "2")
        never = await mesh.pubsub("abc.test", {}, timeout=5)
        assert await _expiry_after_completion(mesh, app_id, never["metadata"]["jid"]) is None
        await deploy_and_activate(mesh, _trigger_only(app_id, "5", "      expire: -1\n"), "5")
        negative = await mesh.pubsub("abc.test", {}, timeout=5)
        assert await _expiry_after_completion(mesh, app_id, negative["metadata"]["jid"]) is None

        # No `expire` on the graph: the engine default (Settings.expire_default_s).
        await deploy_and_activate(mesh, _trigger_only(app_id, "3"), "3")
        default = await mesh.pubsub("abc.test", {}, timeout=5)
        after = await _expiry_after_completion(mesh, app_id, default["metadata"]["jid"])
        assert after is not None and after == pytest.approx(7, abs=1.5)

        # `expire` may be a @pipe (SPEC §3.2).
        piped = "      expire:\n        '@pipe':\n          - [40]\n"
        await deploy_and_activate(mesh, _trigger_only(app_id, "4", piped), "4")
        out = await mesh.pubsub("abc.test", {}, timeout=5)
        after = await _expiry_after_completion(mesh, app_id, out["metadata"]["jid"])
        assert after is not None and after == pytest.approx(40, abs=1.5)


async def test_item_13_expire_counts_from_completion_not_start(pg_dsn: str, app_id: str) -> None:
    gated = GatedWorkers(_hello_world, gated=["a1"])
    async with open_mesh(app_id, pg_dsn, [Worker("work.do", gated)]) as mesh:
        yaml_text = _publishing_graph(app_id).replace("      publishes: abc.done\n", "      expire: 20\n")
        await deploy_and_activate(mesh, yaml_text, "1")
        jid = await mesh.pub("abc.test", {"a": "hello"})
        await gated.called("a1")
        row = await mesh.db.fetchrow(f"SELECT expired_at FROM {schema_of(app_id)}.jobs WHERE key = $1",
                                     f"hmsh:{app_id}:j:{jid}")
        assert row is not None and row["expired_at"] is None  # running jobs never expire
        await trio.sleep(1.2)
        gated.open("a1")
        await wait_status(mesh, jid, 0)
        row = await mesh.db.fetchrow(
            f"SELECT EXTRACT(EPOCH FROM expired_at - created_at)::float8 AS from_start FROM "
            f"{schema_of(app_id)}.jobs WHERE key = $1", f"hmsh:{app_id}:j:{jid}")
        assert row is not None and row["from_start"] >= 20 + 1.0
        after = await _expiry_after_completion(mesh, app_id, jid)
        assert after == pytest.approx(20, abs=1.0)


# -- the seeds' order flow ------------------------------------------------------------------------------


class OrderWorkers:
    """The three order-flow workers over an in-memory stock table."""

    def __init__(self, stock: dict[str, int]) -> None:
        self.stock = stock
        self.calls: list[tuple[str, dict[str, JSON]]] = []

    async def check(self, msg: StreamMessage) -> dict[str, JSON]:
        self.calls.append(("check", dict(msg.data)))
        return {"data": {"availableQty": self.stock.get(str(msg.data["itemId"]), 0)}}

    async def reserve(self, msg: StreamMessage) -> dict[str, JSON]:
        self.calls.append(("reserve", dict(msg.data)))
        self.stock[str(msg.data["itemId"])] -= int(msg.data["quantity"])
        return {"data": {"reservationId": f"res-{msg.data['itemId']}-{msg.data['quantity']}"}}

    async def backorder(self, msg: StreamMessage) -> dict[str, JSON]:
        self.calls.append(("backorder", dict(msg.data)))
        return {"data": {}}

    def workers(self) -> list[Worker]:
        return [Worker("inventory.check", self.check), Worker("inventory.reserve", self.reserve),
                Worker("inventory.backorder.notify", self.backorder)]


async def test_order_flow_reserves_when_stock_suffices(pg_dsn: str, app_id: str) -> None:
    stock = OrderWorkers({"item-123": 7})
    async with open_mesh(app_id, pg_dsn, stock.workers()) as mesh:
        await deploy_and_activate(mesh, graph_yaml("order.yaml", app_id), "1")
        output = await mesh.pubsub("order.requested", {"itemId": "item-123", "requestedQty": 5}, timeout=5)
        assert output["data"] == {"itemId": "item-123", "requestedQty": 5, "availableQty": 7,
                                  "reservationId": "res-item-123-5", "status": "reserved"}
        assert output["metadata"]["js"] == 0
        assert [name for name, _ in stock.calls] == ["check", "reserve"]
        assert stock.calls[0][1] == {"itemId": "item-123", "requestedQty": 5}
        assert stock.calls[1][1] == {"itemId": "item-123", "requestedQty": 5, "quantity": 5}
        assert stock.stock["item-123"] == 2


async def test_order_flow_backorders_when_short(pg_dsn: str, app_id: str) -> None:
    stock = OrderWorkers({"item-123": 3})
    async with open_mesh(app_id, pg_dsn, stock.workers()) as mesh:
        await deploy_and_activate(mesh, graph_yaml("order.yaml", app_id), "1")
        output = await mesh.pubsub("order.requested", {"itemId": "item-123", "requestedQty": 5}, timeout=5)
        assert output["data"] == {"itemId": "item-123", "requestedQty": 5, "availableQty": 3,
                                  "status": "backordered"}
        assert [name for name, _ in stock.calls] == ["check", "backorder"]
        assert stock.calls[1][1] == {"itemId": "item-123", "requestedQty": 5}
        assert stock.stock["item-123"] == 3

