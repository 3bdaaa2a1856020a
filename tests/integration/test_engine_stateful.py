"""Crash safety as a hypothesis state machine over the real engine step and a real store.

Hypothesis picks a graph from a family (sequence, parallel fan-out, cycle, hook + signal, await child) and then
interleaves: delivering any live engine or worker message in any order, delivering duplicates of messages
already processed, and crashing a step after its work but before COMMIT (engine or worker side), plus the
signal at any moment. The steps are the engine's own `process_rows` and the worker's own reply path; only the
choice of message is the test's. At the end everything is drained, and the job must finish with the same
data as a crash-free run of the same graph, its completion must have been announced exactly once, each
child must have notified its parent exactly once, and the semaphore must never have dipped below zero.
"""

# ruff: noqa: E501  (the YAML family reads best one activity per line)
from __future__ import annotations

import asyncio
import itertools
import os
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from hotmesh_actors.core.activities.context import EngineSettings
from hotmesh_actors.core.activities.dispatch import run_transitions
from hotmesh_actors.core.activities.trigger import start_job
from hotmesh_actors.core.graph import AppVersion, compile_app
from hotmesh_actors.core.keys import job_key
from hotmesh_actors.core.ledger import GuidLedger
from hotmesh_actors.core.messages import MessageMetadata, MessageType, StreamMessage, from_wire
from hotmesh_actors.core.pipe import PipeEnv
from hotmesh_actors.mesh.engine import Engine
from hotmesh_actors.mesh.worker import Worker, WorkerActor
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.jobs import JobStore, run
from hotmesh_actors.store.queries import app_schema
from hotmesh_actors.store.streams import Outgoing

APP = "stateful"
GRAPHS = ["st.seq", "st.par", "st.cycle", "st.hook", "st.await"]

YAML = f"""
app:
  id: {APP}
  version: '1'
  graphs:
    - subscribes: st.seq
      expire: 0
      activities:
        t: {{type: trigger, job: {{maps: {{trail: start}}}}}}
        s1: {{type: worker, topic: st.work, job: {{maps: {{trail: {{'@pipe': [['{{$job.data.trail}}', '-', '{{$self.output.data.name}}'], ['{{@string.concat}}']]}}}}}}}}
        s2: {{type: worker, topic: st.work, job: {{maps: {{trail: {{'@pipe': [['{{$job.data.trail}}', '-', '{{$self.output.data.name}}'], ['{{@string.concat}}']]}}}}}}}}
        s3: {{type: worker, topic: st.work, job: {{maps: {{trail: {{'@pipe': [['{{$job.data.trail}}', '-', '{{$self.output.data.name}}'], ['{{@string.concat}}']]}}}}}}}}
      transitions:
        t: [{{to: s1}}]
        s1: [{{to: s2}}]
        s2: [{{to: s3}}]
    - subscribes: st.par
      expire: 0
      activities:
        pt: {{type: trigger}}
        p1: {{type: worker, topic: st.work, job: {{maps: {{p1: '{{$self.output.data.name}}'}}}}}}
        p2: {{type: worker, topic: st.work, job: {{maps: {{p2: '{{$self.output.data.name}}'}}}}}}
        p3: {{type: worker, topic: st.work, job: {{maps: {{p3: '{{$self.output.data.name}}'}}}}}}
      transitions:
        pt: [{{to: p1}}, {{to: p2}}, {{to: p3}}]
    - subscribes: st.cycle
      expire: 0
      activities:
        ct: {{type: trigger, job: {{maps: {{counter: 0}}}}}}
        pivot: {{type: hook}}
        inc:
          type: worker
          topic: st.work
          input: {{maps: {{n: '{{$job.data.counter}}'}}}}
          job: {{maps: {{counter: '{{$self.output.data.n}}'}}}}
        again: {{type: cycle, ancestor: pivot}}
        done: {{type: hook}}
      transitions:
        ct: [{{to: pivot}}]
        pivot: [{{to: inc}}]
        inc:
          - to: again
            conditions: {{match: [{{expected: true, actual: {{'@pipe': [['{{$job.data.counter}}', 3], ['{{@conditional.less_than}}']]}}}}]}}
          - to: done
            conditions: {{match: [{{expected: false, actual: {{'@pipe': [['{{$job.data.counter}}', 3], ['{{@conditional.less_than}}']]}}}}]}}
    - subscribes: st.hook
      expire: 0
      activities:
        ht: {{type: trigger}}
        waiter: {{type: hook, job: {{maps: {{got: '{{$self.hook.data.v}}'}}}}}}
        after: {{type: worker, topic: st.work, job: {{maps: {{after: '{{$self.output.data.name}}'}}}}}}
      transitions:
        ht: [{{to: waiter}}]
        waiter: [{{to: after}}]
      hooks:
        st.signal:
          - to: waiter
            conditions: {{match: [{{expected: '{{$job.metadata.jid}}', actual: '{{$self.hook.data.id}}'}}]}}
    - subscribes: st.await
      expire: 0
      activities:
        at: {{type: trigger}}
        call: {{type: await, topic: st.child, job: {{maps: {{child: '{{$self.output.data.cv}}'}}}}}}
      transitions:
        at: [{{to: call}}]
    - subscribes: st.child
      expire: 0
      activities:
        kt: {{type: trigger}}
        kw: {{type: worker, topic: st.work, job: {{maps: {{cv: '{{$self.output.data.name}}'}}}}}}
      transitions:
        kt: [{{to: kw}}]
"""


async def _callback(message: StreamMessage) -> dict[str, Any]:
    """A deterministic worker: names the activity, increments `n`."""
    n = message.data.get("n")
    return {"data": {"name": message.metadata.aid, "n": (n if isinstance(n, int) else 0) + 1}}


class Rollback(Exception):
    """Raised inside a transaction to simulate a crash before COMMIT."""


class Harness:
    """Drives the engine's and worker's real step code on messages the test picks, on one connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop, conn: asyncpg.Connection, app: AppVersion) -> None:
        self.loop = loop
        self.conn = conn
        self.app = app
        self.schema = app_schema(APP)
        self.jobs = JobStore(None, APP)  # type: ignore[arg-type]  # only its SQL and conn-level methods are used
        counter = itertools.count()
        self.new_guid = lambda: f"G{next(counter):06d}"
        settings_ = Settings(fidelity_seconds=1)
        self.engine = Engine(jobs=self.jobs, versions=None, settings=settings_,  # type: ignore[arg-type]
                             engine_settings=EngineSettings(fidelity_seconds=1))
        self.engine.new_guid = self.new_guid
        self.worker = WorkerActor(worker=Worker("st.work", _callback), worker_streams=self.jobs.worker_streams,
                                  engine_streams=self.jobs.engine_streams, settings=settings_)
        self.engine_guid = "NGN"

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def reset(self) -> None:
        await self.conn.execute(
            f"TRUNCATE {self.schema}.engine_streams, {self.schema}.worker_streams, {self.schema}.jobs CASCADE;"
            f" TRUNCATE {self.schema}.signal_registry")

    async def start(self, topic: str, jid: str) -> None:
        env = PipeEnv(now_ms=1_700_000_000_000, random=lambda: 0.5, fidelity_seconds=1)
        ctx = start_job(self.app, topic, {}, env=env, new_guid=self.new_guid, job_id=jid,
                        engine_guid=self.engine_guid, settings=EngineSettings(fidelity_seconds=1))
        run_transitions(ctx)
        async with self.conn.transaction():
            await self.jobs.insert_job(self.conn, ctx.job)
            await self.jobs.write_state(self.conn, [ctx.job])
            await self.jobs.apply_effects(self.conn, ctx.effects)

    async def live(self, table: str) -> list[int]:
        rows = await self.conn.fetch(f"SELECT id FROM {self.schema}.{table} WHERE expired_at IS NULL ORDER BY id")
        return [row["id"] for row in rows]

    async def deliver_engine(self, row_id: int, *, crash: bool = False) -> None:
        try:
            async with self.conn.transaction():
                rows = await self.conn.fetch(
                    f"SELECT * FROM {self.schema}.engine_streams WHERE id = $1 AND expired_at IS NULL FOR UPDATE",
                    row_id)
                if not rows:
                    return
                await self.engine.process_rows(self.conn, self.app, rows, isolate=True)
                if crash:
                    raise Rollback
        except Rollback:
            pass

    async def deliver_worker(self, row_id: int, *, crash: bool = False) -> None:
        try:
            async with self.conn.transaction():
                row = await self.conn.fetchrow(
                    f"SELECT * FROM {self.schema}.worker_streams WHERE id = $1 AND expired_at IS NULL FOR UPDATE",
                    row_id)
                if row is None:
                    return
                request = from_wire(row["message"])
                reply = await self.worker.worker.callback(request)
                statement = self.worker._publish(request, reply["data"], request.status, 200)
                await run(self.conn, statement)
                await self.conn.execute(
                    f"UPDATE {self.schema}.worker_streams SET expired_at = now() WHERE id = $1", row_id)
                if crash:
                    raise Rollback
        except Rollback:
            pass

    async def duplicate(self, row_id: int) -> int:
        copy: int = await self.conn.fetchval(
            f"INSERT INTO {self.schema}.engine_streams (stream_name, jid, aid, dad, msg_type, message, priority)"
            f" SELECT stream_name, jid, aid, dad, msg_type, message, priority FROM {self.schema}.engine_streams"
            f" WHERE id = $1 RETURNING id", row_id)
        return copy

    async def signal(self, jid: str) -> None:
        message = StreamMessage(metadata=MessageMetadata(guid=self.new_guid(), topic="st.signal"),
                                type=MessageType.WEBHOOK, data={"id": jid, "v": "signalled"})
        await run(self.conn, self.jobs.engine_streams.publish_statement([Outgoing(stream_name=APP,
                                                                                 message=message)]))

    async def acked_engine(self) -> list[int]:
        rows = await self.conn.fetch(
            f"SELECT id FROM {self.schema}.engine_streams WHERE expired_at IS NOT NULL AND msg_type <> 'await'"
            " ORDER BY id")
        return [row["id"] for row in rows]

    async def drain(self) -> None:
        for _ in range(500):
            engine = await self.live("engine_streams")
            worker = await self.live("worker_streams")
            if not engine and not worker:
                return
            if worker and (not engine or worker[0] < engine[0]):
                await self.deliver_worker(worker[0])
            else:
                await self.deliver_engine(engine[0])
        raise AssertionError("the job did not drain within 500 deliveries")


async def _read_job(conn: asyncpg.Connection, schema: str, jid: str) -> tuple[int, dict[str, str]]:
    row = await conn.fetchrow(f"SELECT id, status FROM {schema}.jobs WHERE key = $1", job_key(APP, jid))
    assert row is not None, f"job {jid} missing"
    attributes = await conn.fetch(
        f"SELECT field, value FROM {schema}.jobs_attributes WHERE job_id = $1 AND field LIKE 'data/%'", row["id"])
    return row["status"], {a["field"]: a["value"] for a in attributes}


_shared: dict[str, Any] = {}


def _harness(dsn: str) -> Harness:
    if "harness" not in _shared:
        loop = asyncio.new_event_loop()
        conn = loop.run_until_complete(asyncpg.connect(dsn))
        app = compile_app(YAML)
        loop.run_until_complete(_migrate(conn))
        _shared["harness"] = Harness(loop, conn, app)
        _shared["references"] = {}
    harness: Harness = _shared["harness"]
    return harness


async def _migrate(conn: asyncpg.Connection) -> None:
    from hotmesh_actors.store.migrations import _GLOBAL_LOCK, _apply, _migration_files
    from hotmesh_actors.store.queries import quote_ident

    await _apply(conn, "public", _migration_files("public"), "SELECT pg_advisory_xact_lock($1::bigint)",
                 _GLOBAL_LOCK, {})
    await _apply(conn, f"app:{app_schema(APP)}", _migration_files("app"),
                 "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"hmsh:{app_schema(APP)}",
                 {"schema": quote_ident(app_schema(APP))})


def _reference(harness: Harness, topic: str) -> tuple[int, dict[str, str]]:
    """The crash-free outcome of a graph: deliver in FIFO order, no faults."""
    references: dict[str, tuple[int, dict[str, str]]] = _shared["references"]
    if topic not in references:
        harness.run(harness.reset())
        harness.run(harness.start(topic, "reference"))
        if topic == "st.hook":
            harness.run(harness.signal("reference"))
        harness.run(harness.drain())
        references[topic] = harness.run(_read_job(harness.conn, harness.schema, "reference"))
    return references[topic]


class EngineCrashMachine(RuleBasedStateMachine):
    """See the module docstring."""

    dsn: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.h = _harness(self.dsn)
        self.topic = ""
        self.signalled = False
        self.min_status = 0

    @initialize(topic=st.sampled_from(GRAPHS))
    def start(self, topic: str) -> None:
        self.topic = topic
        self.expected = _reference(self.h, topic)
        self.h.run(self.h.reset())
        self.h.run(self.h.start(topic, "subject"))

    def _pick(self, ids: list[int], index: int) -> int | None:
        return ids[index % len(ids)] if ids else None

    @rule(index=st.integers(min_value=0, max_value=50), crash=st.booleans())
    def deliver_engine(self, index: int, crash: bool) -> None:
        row = self._pick(self.h.run(self.h.live("engine_streams")), index)
        if row is not None:
            self.h.run(self.h.deliver_engine(row, crash=crash))

    @rule(index=st.integers(min_value=0, max_value=50), crash=st.booleans())
    def deliver_worker(self, index: int, crash: bool) -> None:
        row = self._pick(self.h.run(self.h.live("worker_streams")), index)
        if row is not None:
            self.h.run(self.h.deliver_worker(row, crash=crash))

    @rule(index=st.integers(min_value=0, max_value=50))
    def redeliver_a_processed_message(self, index: int) -> None:
        recent = self.h.run(self.h.acked_engine())[-3:]  # recent ones are likeliest to find the job still running
        row = self._pick(recent, index)
        if row is not None:
            self.h.run(self.h.duplicate(row))

    @rule(index=st.integers(min_value=0, max_value=50))
    def replay_a_processed_message_now(self, index: int) -> None:
        row = self._pick(self.h.run(self.h.acked_engine())[-3:], index)
        if row is not None:
            copy = self.h.run(self.h.duplicate(row))
            self.h.run(self.h.deliver_engine(copy))

    @precondition(lambda self: self.topic == "st.hook" and not self.signalled)
    @rule()
    def send_signal(self) -> None:
        self.signalled = True
        self.h.run(self.h.signal("subject"))

    @invariant()
    def semaphore_never_below_zero(self) -> None:
        if self.topic:
            status, _ = self.h.run(_read_job(self.h.conn, self.h.schema, "subject"))
            assert status >= 0

    def teardown(self) -> None:
        if not self.topic:
            return
        if self.topic == "st.hook" and not self.signalled:
            self.h.run(self.h.signal("subject"))
        self.h.run(self.h.drain())
        status, data = self.h.run(_read_job(self.h.conn, self.h.schema, "subject"))
        assert (status, data) == self.expected
        schema = self.h.schema
        parent_results = self.h.run(self.h.conn.fetchval(
            f"SELECT count(DISTINCT message) FROM {schema}.engine_streams WHERE msg_type = 'result' AND jid = $1",
            "subject"))
        assert parent_results == (1 if self.topic == "st.await" else 0), "a child notifies its parent once"
        ledgers = self.h.run(self.h.conn.fetch(
            f"SELECT a.value FROM {schema}.jobs_attributes a JOIN {schema}.jobs j ON j.id = a.job_id"
            f" WHERE j.key = $1 AND a.type = 'other'", job_key(APP, "subject")))
        closed = [row["value"] for row in ledgers if GuidLedger(int(float(row["value"][2:]))).job_closed]
        assert len(closed) == 1, "exactly one message closed the job and ran its completion tasks"


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_engine_survives_crashes_duplicates_and_any_delivery_order(pg_dsn: str) -> None:
    EngineCrashMachine.dsn = pg_dsn
    examples = int(os.environ.get("HOTMESH_STATEFUL_EXAMPLES", "100"))
    test_case = EngineCrashMachine.TestCase
    test_case.settings = settings(max_examples=examples, stateful_step_count=25, deadline=None,
                                  suppress_health_check=list(HealthCheck))
    test_case().runTest()

