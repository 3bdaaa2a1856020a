"""How many workflow steps per second does the engine run, as a share of the database's own step limit?

Subject: one HotMesh (engine + workers, library defaults, in this process) per shape, on a fresh app of a
scratch database, with callbacks that reply at once:

- `step1`: trigger → 1 worker (`tests/chaos/graphs/step1.yaml`); N jobs published by P concurrent `pub` calls,
  completion seen by polling `jobs.status`; figure: jobs/s (time from the first `pub` to the last job done);
- `latency`: sequential `pubsub` of the 1-step job; p50/p95 in ms;
- `sequence5`: trigger → 5 workers in a row (`tests/chaos/graphs/sequence5.yaml`); figure: worker steps/s;
- `parallel10`: trigger → 10 workers at once (`tests/chaos/graphs/parallel10.yaml`); figure: worker steps/s.

Each shape first runs a fifth of its jobs untimed in the same mesh (connection and statement warm-up: a
new pooled connection prepares each statement once, and every such prepare is a commit of its own).
Commits: `pg_stat_database.xact_commit` delta over the timed run (read 1.5 s after the warm-up and after
the run, so idle backends have flushed their counters), minus the completion polls and the reading
itself; per worker step, the job's `pub` included. DESIGN §5 budget: ≤ 3 per step.

Where the commits go: the run also counts the autocommitted reads and claims the consumers issue (by
wrapping `StreamStore.claim/next_wake/heartbeat/ack` and `Engine._transaction` with counters — measurement
only, no behaviour change), per worker step: engine step transactions that claimed something and those that
found the stream empty (each still a BEGIN/COMMIT), and NOTIFYs received by the mesh's LISTEN connection —
a listening backend reads the notification queue inside a transaction of its own, and `xact_commit`
counts those read-only commits too (no WAL flush), so they are part of the figure (seen on 15 and 18:
the unexplained commits track the notifications received).

Reference (same run, same server, before and after the shapes, averaged): pgbench -c C (C = the mesh's pool
size) of ONE transaction that claims an engine-stream message (the library's claim_batch shape, LIMIT 1, SKIP
LOCKED, also returning the jid), locks and loads its job, upserts 3 attribute rows and updates the job,
publishes the next message and acks the claimed one, on tables migrated by the library (a fresh app schema,
1,000 jobs). Ratio = steps/s ÷ that TPS (DESIGN target ≥ 0.5). `pgbench_split_tps` is the same work with the
claim committed on its own (2 commits, the shape DESIGN's "the reference script does 2" describes). Latency
reference: two autocommitted inserts plus one NOTIFY round trip on plain asyncpg. Prints ONE JSON line.

    PYTHONPATH=. .venv/bin/python benchmarks/engine.py [--dsn …] [--jobs1 1000] [--jobs5 300] [--jobs10 150]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import statistics
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import attrs
import trio

from benchmarks._common import (
    add_server_arguments,
    emit,
    pgbench,
    rounded,
    scratch_database,
    server,
    server_facts,
    xact_commit,
)
from hotmesh_actors import HotMesh, Settings, StreamMessage, Worker
from hotmesh_actors.mesh.engine import Engine
from hotmesh_actors.store.driver import Database, Listener
from hotmesh_actors.store.migrations import migrate_app
from hotmesh_actors.store.queries import app_schema, quote_ident
from hotmesh_actors.store.streams import StreamStore

GRAPHS = Path(__file__).resolve().parents[1] / "tests" / "chaos" / "graphs"
POLL_S = 0.02
"""Completion poll interval (each poll is one commit, subtracted from the subject's count)."""
PGBENCH_JOBS = 1000
PGBENCH_LIVE_MESSAGES = 64
PAYLOAD = "x" * 400
"""Message text of the reference rows: about the size of a real wire message."""


@attrs.frozen(kw_only=True)
class Shape:
    """A graph, the topic that starts it, its worker topics, and how many worker steps one job runs."""

    name: str
    graph: str
    topic: str
    worker_topics: Sequence[str]
    steps: int


STEP1 = Shape(name="step1", graph="step1", topic="chaos.step1", worker_topics=["chaos.w1"], steps=1)
SEQUENCE5 = Shape(name="sequence5", graph="sequence5", topic="chaos.sequence",
                  worker_topics=[f"chaos.s{k}" for k in range(1, 6)], steps=5)
PARALLEL10 = Shape(name="parallel10", graph="parallel10", topic="chaos.parallel", worker_topics=["chaos.p"],
                   steps=10)


CALLS: collections.Counter[str] = collections.Counter()
"""Statements the stream consumers issued, by `<engine|worker>_<method>` (see `_count_store_calls`)."""


def _count_store_calls() -> None:
    """Count consumer statements: StreamStore one-shot methods and engine step transactions (measurement only)."""
    for name in ("claim", "next_wake", "heartbeat", "ack"):
        original = getattr(StreamStore, name)

        def make(original: Any, name: str) -> Any:
            @functools.wraps(original)
            async def counted(self: StreamStore, *args: Any, **kwargs: Any) -> Any:
                CALLS[f"{self.kind.value}_{name}"] += 1
                return await original(self, *args, **kwargs)

            return counted

        setattr(StreamStore, name, make(original, name))
    step = Engine._transaction

    @functools.wraps(step)
    async def counted_step(self: Engine, *args: Any, **kwargs: Any) -> int:
        claimed = await step(self, *args, **kwargs)
        CALLS["engine_claims" if claimed else "engine_empty_claims"] += 1
        return claimed

    Engine._transaction = counted_step  # type: ignore[method-assign]
    on_notify = Listener._on_notify

    @functools.wraps(on_notify)
    def counted_notify(self: Listener, *args: Any) -> None:
        CALLS["notifications_received"] += 1  # on the driver's asyncio thread; a Counter bump is atomic enough
        on_notify(self, *args)

    Listener._on_notify = counted_notify  # type: ignore[method-assign,assignment]


def _graph_yaml(name: str, app_id: str) -> str:
    text = (GRAPHS / f"{name}.yaml").read_text("utf-8")
    return text[text.index("app:"):].replace("id: chaos", f"id: {app_id}", 1)


async def _reply(message: StreamMessage) -> dict[str, Any]:
    return {"data": {"done": True, "step": message.data.get("step", 0)}}


def _workers(shape: Shape) -> list[Worker]:
    return [Worker(topic, _reply) for topic in shape.worker_topics]


def _settings() -> Settings:
    return Settings.from_env(fallback_poll_s=5.0)


# -- subject ------------------------------------------------------------------------------------------


def _deploy(dsn: str, shape: Shape) -> str:
    """A fresh app with the shape's graph deployed and active; returns the app id."""
    app_id = f"e{uuid.uuid4().hex[:10]}"

    async def work() -> None:
        async with HotMesh.open(app_id=app_id, dsn=dsn, engine=False, settings=_settings()) as mesh:
            await mesh.deploy(_graph_yaml(shape.graph, app_id))
            assert await mesh.activate("1")

    trio.run(work)
    return app_id


@attrs.define
class Throughput:
    jobs: int
    steps: int
    seconds: float
    commits: int
    cpu_s: float
    calls: dict[str, int]

    def figures(self) -> dict[str, Any]:
        commits = self.commits
        return {
            "jobs": self.jobs,
            "jobs_per_s": rounded(self.jobs / self.seconds),
            "steps_per_s": rounded(self.steps / self.seconds),
            "commits_per_step": round(commits / self.steps, 2),
            "commits_per_job": round(commits / self.jobs, 2),
            "client_cpu_ms_per_step": round(1000 * self.cpu_s / self.steps, 3),
            "per_step": {name: round(count / self.steps, 2) for name, count in sorted(self.calls.items())},
            "seconds": round(self.seconds, 2),
        }


def throughput(dsn: str, shape: Shape, jobs: int, publishers: int, warmup: int) -> Throughput:
    """Publish `jobs` jobs with `publishers` concurrent `pub`s; time until every job's status is 0.

    `warmup` jobs run first in the same mesh, untimed and uncounted: a new pooled connection prepares each
    statement once, and each of those prepares is a commit of its own (hundreds per mesh), not a step cost.
    """
    app_id = _deploy(dsn, shape)
    schema = quote_ident(app_schema(app_id))
    calls: dict[str, int] = {}

    async def run_jobs(mesh: HotMesh, count: int) -> int:
        """Publish and wait; returns the completion polls made (each one commit)."""
        send, receive = trio.open_memory_channel[int](count)
        for n in range(count):
            send.send_nowait(n)
        send.close()

        async def publisher() -> None:
            async for n in receive:
                await mesh.pub(shape.topic, {"n": n})

        polls = 0
        with trio.fail_after(300):
            async with trio.open_nursery() as nursery:
                for _ in range(publishers):
                    nursery.start_soon(publisher)
            while True:
                polls += 1
                if not await mesh.db.fetchval(f"SELECT count(*) FROM {schema}.jobs WHERE status <> 0"):
                    return polls
                await trio.sleep(POLL_S)

    async def work() -> tuple[float, float, int]:
        async with HotMesh.open(app_id=app_id, dsn=dsn, workers=_workers(shape), settings=_settings()) as mesh:
            await mesh.versions.active()
            if warmup:
                await run_jobs(mesh, warmup)
            acked = sum(worker.stats.acked for worker in mesh.workers)
            # idle backends flush their counters within ~1 s; the reading itself is one commit
            before = await trio.to_thread.run_sync(lambda: xact_commit(dsn, settle_s=1.5))
            CALLS.clear()
            started, cpu = time.perf_counter(), time.process_time()
            polls = await run_jobs(mesh, jobs)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            calls.update(CALLS)
            calls["worker_acked"] = sum(worker.stats.acked for worker in mesh.workers) - acked
            after = await trio.to_thread.run_sync(lambda: xact_commit(dsn, settle_s=1.5))
            done = await mesh.db.fetchval(f"SELECT count(*) FROM {schema}.jobs WHERE status = 0")
            if done != jobs + warmup:
                raise RuntimeError(f"{shape.name}: {done} of {jobs + warmup} jobs complete")
            return elapsed, cpu, after - before - 1 - polls

    elapsed, cpu, commits = trio.run(work)
    return Throughput(jobs=jobs, steps=jobs * shape.steps, seconds=elapsed, commits=commits, cpu_s=cpu,
                      calls=calls)


def latency(dsn: str, samples: int, warmup: int = 20) -> dict[str, Any]:
    """Sequential `pubsub` round trips of the 1-step job, in ms."""
    app_id = _deploy(dsn, STEP1)

    async def work() -> list[float]:
        async with HotMesh.open(app_id=app_id, dsn=dsn, workers=_workers(STEP1), settings=_settings()) as mesh:
            times: list[float] = []
            for n in range(warmup + samples):
                started = time.perf_counter()
                await mesh.pubsub(STEP1.topic, {"n": n}, timeout=10)
                times.append(1000 * (time.perf_counter() - started))
            return times[warmup:]

    times = trio.run(work)
    return _percentiles(times)


def _percentiles(times_ms: list[float]) -> dict[str, Any]:
    ordered = sorted(times_ms)
    return {
        "samples": len(ordered),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 2),
    }


# -- reference ------------------------------------------------------------------------------------------


def _migrated_app(dsn: str, prefix: str) -> str:
    """A fresh app id whose schema the library has migrated."""
    app_id = f"{prefix}{uuid.uuid4().hex[:10]}"

    async def work() -> None:
        async with Database.open(dsn, pool_size=1) as db:
            await migrate_app(db, app_id)

    trio.run(work)
    return app_id


async def _prepare_reference(dsn: str, app_id: str) -> str:
    """Fill a migrated app schema with 1,000 jobs of 8 attributes and 64 live messages; returns the schema."""
    schema = quote_ident(app_schema(app_id))
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            f"INSERT INTO {schema}.jobs (key, status) "
            f"SELECT 'hmsh:{app_id}:j:job' || g, 1000 FROM generate_series(1, {PGBENCH_JOBS}) g")
        await conn.execute(
            f"INSERT INTO {schema}.jobs_attributes (job_id, field, dimension, value, type) "
            f"SELECT j.id, 'a' || f || '/output/data/x', ',0', '/d1', 'adata' "
            f"FROM {schema}.jobs j, generate_series(1, 8) f")
        await conn.execute(
            f"INSERT INTO {schema}.engine_streams (stream_name, jid, aid, msg_type, message) "
            f"SELECT $1, 'job' || (g % {PGBENCH_JOBS} + 1), 'a1', 'worker', $2 "
            f"FROM generate_series(1, {PGBENCH_LIVE_MESSAGES}) g", app_id, PAYLOAD)
        await conn.execute(f"ANALYZE {schema}.jobs; ANALYZE {schema}.jobs_attributes; "
                           f"ANALYZE {schema}.engine_streams")
    finally:
        await conn.close()
    return schema


def reference_script(app_id: str, schema: str, *, split_claim: bool) -> str:
    """One step as pgbench sees it: claim, lock+load job, write 3 attributes + job, publish, ack.

    (No `:name` may appear inside a literal: pgbench substitutes variables there too, hence `chr(58)`.)
    """
    table = f"{schema}.engine_streams"
    claim = (
        f"WITH c AS MATERIALIZED (SELECT id FROM {table} WHERE stream_name = '{app_id}' AND expired_at IS NULL "
        f"AND visible_at <= now() AND (reserved_at IS NULL OR reserved_at < now() - make_interval(secs => 30)) "
        f"ORDER BY priority DESC, id LIMIT 1 FOR UPDATE SKIP LOCKED) "
        f"UPDATE {table} AS s SET reserved_at = now(), reserved_by = 'pgbench', "
        f"delivery_count = s.delivery_count + 1 FROM c WHERE s.stream_name = '{app_id}' AND s.id = c.id "
        f"RETURNING s.id AS mid, s.jid AS jid \\gset"
    )
    body = [
        f"SELECT id AS jrow FROM {schema}.jobs WHERE key = concat_ws(chr(58), 'hmsh', '{app_id}', 'j', (:jid)::text) "
        f"AND (expired_at IS NULL OR expired_at > now()) FOR UPDATE \\gset",
        f"SELECT field, dimension, value FROM {schema}.jobs_attributes WHERE job_id = (:jrow)::uuid;",
        f"INSERT INTO {schema}.jobs_attributes (job_id, field, dimension, value, type) "
        f"SELECT (:jrow)::uuid, f, ',0', '/d' || (:j)::text, 'adata' "
        f"FROM unnest(ARRAY['a1/output/data/x', 'a1/output/metadata/ac', 'a1/output/metadata/au']) f "
        f"ON CONFLICT (job_id, field, dimension) DO UPDATE SET value = EXCLUDED.value, updated_at = now();",
        f"UPDATE {schema}.jobs SET status = status + 0 WHERE id = (:jrow)::uuid;",
        f"INSERT INTO {table} (stream_name, jid, aid, msg_type, message) "
        f"VALUES ('{app_id}', 'job' || (:j)::text, 'a1', 'worker', '{PAYLOAD}');",
        f"UPDATE {table} SET expired_at = now() WHERE stream_name = '{app_id}' AND id = (:mid)::bigint;",
    ]
    lines = [f"\\set j random(1, {PGBENCH_JOBS})"]
    if split_claim:
        lines += [claim, "BEGIN;"]
    else:
        lines += ["BEGIN;", claim]
    return "\n".join([*lines, *body, "COMMIT;", ""])


def reference(dsn: str, clients: int, seconds: float) -> dict[str, float]:
    """pgbench TPS of the one-transaction step script, and of the split-claim variant."""
    app_id = _migrated_app(dsn, "r")
    schema = asyncio.run(_prepare_reference(dsn, app_id))
    one = pgbench(dsn, reference_script(app_id, schema, split_claim=False), clients=clients, seconds=seconds)
    split = pgbench(dsn, reference_script(app_id, schema, split_claim=True), clients=clients, seconds=seconds)
    return {"tps": one["tps"], "split_tps": split["tps"]}


async def _latency_reference(dsn: str, app_id: str, samples: int, warmup: int = 20) -> list[float]:
    """Two autocommitted inserts then a NOTIFY that a second connection receives, in ms."""
    table = f"{quote_ident(app_schema(app_id))}.engine_streams"
    sender, listener = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        arrived: asyncio.Queue[str] = asyncio.Queue()
        await listener.add_listener("hmsh_bench_latency", lambda *args: arrived.put_nowait(args[3]))
        insert = f"INSERT INTO {table} (stream_name, jid, message) VALUES ($1, $2, $3)"
        notify = f"WITH i AS ({insert} RETURNING id) SELECT pg_notify('hmsh_bench_latency', $2) FROM i"
        times: list[float] = []
        for n in range(warmup + samples):
            started = time.perf_counter()
            await sender.execute(insert, "latency", str(n), PAYLOAD)
            await sender.execute(notify, "latency", str(n), PAYLOAD)
            while await arrived.get() != str(n):
                pass
            times.append(1000 * (time.perf_counter() - started))
        return times[warmup:]
    finally:
        await sender.close()
        await listener.close()


# -- main -----------------------------------------------------------------------------------------------


def main() -> None:
    """Parse flags, measure on a scratch database, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_arguments(parser)
    parser.add_argument("--jobs1", type=int, default=1000, help="1-step jobs")
    parser.add_argument("--jobs5", type=int, default=300, help="5-step sequence jobs")
    parser.add_argument("--jobs10", type=int, default=150, help="10-way parallel jobs")
    parser.add_argument("--publishers", type=int, default=50, help="concurrent pub calls")
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--pgbench-seconds", type=float, default=5.0, help="per pgbench run (4 runs)")
    parser.add_argument("--clients", type=int, default=None, help="pgbench clients (default: the pool size)")
    args = parser.parse_args()
    clients = args.clients or _settings().pool_size
    _count_store_calls()
    started = time.perf_counter()
    with server(args.dsn) as (server_dsn, label), scratch_database(server_dsn, "hmsh_bench_engine") as dsn:
        facts = server_facts(dsn)
        before = reference(dsn, clients, args.pgbench_seconds)
        runs = {
            STEP1.name: throughput(dsn, STEP1, args.jobs1, args.publishers, args.jobs1 // 5),
            SEQUENCE5.name: throughput(dsn, SEQUENCE5, args.jobs5, args.publishers, args.jobs5 // 5),
            PARALLEL10.name: throughput(dsn, PARALLEL10, args.jobs10, args.publishers, args.jobs10 // 5),
        }
        pubsub = latency(dsn, args.latency_samples)
        floor = _percentiles(asyncio.run(
            _latency_reference(dsn, _migrated_app(dsn, "l"), args.latency_samples)))
        after = reference(dsn, clients, args.pgbench_seconds)
    tps = (before["tps"] + after["tps"]) / 2
    split_tps = (before["split_tps"] + after["split_tps"]) / 2
    shapes: dict[str, Any] = {}
    for name, run in runs.items():
        figures = run.figures()
        figures["ratio"] = round(run.steps / run.seconds / tps, 3)
        figures["ratio_vs_split"] = round(run.steps / run.seconds / split_tps, 3)
        shapes[name] = figures
    emit({
        "bench": "engine",
        "server": label,
        **facts,
        "figure": "sequence5 steps/s",
        "steps_per_s": shapes[SEQUENCE5.name]["steps_per_s"],
        "pgbench_tps": rounded(tps),
        "ratio": shapes[SEQUENCE5.name]["ratio"],
        "commits_per_step": shapes[SEQUENCE5.name]["commits_per_step"],
        "commit_budget": 3,
        "shapes": shapes,
        "pubsub": {**pubsub, "reference_p50_ms": floor["p50_ms"], "reference_p95_ms": floor["p95_ms"],
                   "ratio_p50": round(pubsub["p50_ms"] / floor["p50_ms"], 2)},
        "reference": {
            "pgbench_clients": clients,
            "pgbench_tps_before": rounded(before["tps"]),
            "pgbench_tps_after": rounded(after["tps"]),
            "pgbench_split_tps": rounded(split_tps),
            "latency": "2 autocommitted inserts + 1 NOTIFY round trip, asyncpg",
        },
        "subject": {"publishers": args.publishers, "pool_size": _settings().pool_size,
                    "engine_concurrency": _settings().engine_concurrency, "batch_size": _settings().batch_size,
                    "warmup": "each shape first runs 1/5 of its jobs untimed in the same mesh"},
        "wall_s": round(time.perf_counter() - started, 1),
    })


if __name__ == "__main__":
    main()
