"""How fast does the engine run workflow steps, as a share of the lean step model measured in the same run?

Subject: one HotMesh (engine + workers, library defaults, in this process) per shape, on a fresh app of a
scratch database, with callbacks that reply at once (graphs: tests/chaos/graphs/):

- `step1`: trigger → 1 worker; 50 `pubsub` callers keep 50 workflows in flight; figure: workflows/s;
- `sequence5`: trigger → 5 workers in a row, 50 in flight; figure: worker steps/s;
- `parallel10`: trigger → 10 workers at once, joined by the job's semaphore, 50 in flight; figure: steps/s;
- `pubsub`: one `pubsub` of the 1-step workflow at a time on an otherwise idle mesh; p50/p95/p99 in ms;
- `timer`: workflows that only sleep 1 s (a `hook` with `sleep: 1`), with the library's default timer
  settings, one at a time and then in bursts of 20 falling due together; figure: how late each fired, i.e.
  its `pubsub` round trip minus the 1 s (an upper bound: it includes the steps around the timer); target
  ≤ 100 ms.

The throughput shapes also report the `pubsub` latency of every workflow under that load (p50/p95/p99).

Where the time goes, per step (a worker step; a 1-step workflow's `pub` counts with its step), from deltas
over the timed run: commits (`pg_stat_database.xact_commit`), statements and their execution time
(`pg_stat_statements`, when the server loads it; the top statements are listed), Postgres CPU (the server's
processes in /proc, when it runs on this machine) and client CPU (`time.process_time()` of this process,
all threads).

Reference, the same run and server: the lean step model (../shared/bench/, DESIGN §5): pgbench `-c 8 -j 2`
of `step2cte.sql` (one claim `UPDATE … SKIP LOCKED`, then one statement that deletes the claimed row,
upserts one state row and inserts the next message: two commits a step) on a database of its own, prefilled
with 8,000 ready messages before each run; measured before and after the shapes and averaged. A shape's
ratio = its steps/s ÷ the model's steps/s (targets: ≥ 0.5 for sequence5 and parallel10, ≥ 0.33 for step1).

Prints one JSON line per shape, then one for the model.

    PYTHONPATH=. .venv/bin/python benchmarks/steps.py [--dsn …] [--shapes step1,sequence5,parallel10,pubsub]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Callable, Sequence
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
)
from hotmesh_actors import HotMesh, Settings, StreamMessage, Worker

GRAPHS = Path(__file__).resolve().parents[1] / "tests" / "chaos" / "graphs"
LEAN_MODEL = Path(__file__).resolve().parents[2] / "shared" / "bench"
"""The lean step model's pgbench files (schema.sql, prefill.sql, step2cte.sql)."""


@attrs.frozen(kw_only=True)
class Shape:
    """A graph, the topic that starts it, its worker topics, and how many worker steps one workflow runs."""

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
THROUGHPUT_SHAPES = {shape.name: shape for shape in (STEP1, SEQUENCE5, PARALLEL10)}


def graph_yaml(name: str, app_id: str) -> str:
    """A chaos graph with its app id replaced."""
    text = (GRAPHS / f"{name}.yaml").read_text("utf-8")
    return text[text.index("app:"):].replace("id: chaos", f"id: {app_id}", 1)


async def reply(message: StreamMessage) -> dict[str, Any]:
    """A worker that answers at once."""
    return {"data": {"done": True, "step": message.data.get("step", 0)}}


def workers(shape: Shape) -> list[Worker]:
    return [Worker(topic, reply) for topic in shape.worker_topics]


def settings() -> Settings:
    return Settings.from_env()


def percentiles(times_ms: Sequence[float]) -> dict[str, Any]:
    """p50/p95/p99 of a latency sample, in ms."""
    ordered = sorted(times_ms)
    if not ordered:
        return {"samples": 0}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"samples": len(ordered), "p50_ms": round(statistics.median(ordered), 2), "p95_ms": at(0.95),
            "p99_ms": at(0.99)}


# -- server-side counters ------------------------------------------------------------------------------


@attrs.frozen
class ServerCounters:
    """What the server did so far: commits, statements and their time, CPU of its processes."""

    commits: int
    statements: int | None
    statement_ms: float | None
    top: list[tuple[str, int, float]]
    cpu_s: float | None


def _proc_cpu_s(pids: Sequence[int]) -> float | None:
    """User + system CPU seconds of these processes (None when /proc cannot tell, e.g. a remote server)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    seen = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        seen += 1
    return total / ticks if seen else None


async def read_counters(dsn: str, *, reset: bool = False) -> ServerCounters:
    """Read (and with `reset`, first reset `pg_stat_statements`) the counters of the DSN's database."""
    conn = await asyncpg.connect(dsn)
    try:
        commits = await conn.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        pids = [row["pid"] for row in await conn.fetch("SELECT pid FROM pg_stat_activity")]
        statements: int | None = None
        statement_ms: float | None = None
        top: list[tuple[str, int, float]] = []
        has_pss = await conn.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'")
        if not has_pss:
            try:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                has_pss = 1
            except asyncpg.PostgresError:
                has_pss = 0
        if has_pss:
            try:
                if reset:
                    await conn.execute("SELECT pg_stat_statements_reset()")
                rows = await conn.fetch(
                    "SELECT query, calls, total_exec_time FROM pg_stat_statements "
                    "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                    "ORDER BY total_exec_time DESC")
                statements = sum(row["calls"] for row in rows)
                statement_ms = sum(row["total_exec_time"] for row in rows)
                top = [(" ".join(row["query"].split())[:90], row["calls"], row["total_exec_time"])
                       for row in rows[:8]]
            except asyncpg.PostgresError:  # the library is not preloaded on this server
                pass
    finally:
        await conn.close()
    return ServerCounters(commits=commits, statements=statements, statement_ms=statement_ms, top=top,
                          cpu_s=_proc_cpu_s(pids))


def server_delta(before: ServerCounters, after: ServerCounters, steps: int) -> dict[str, Any]:
    """Per-step server work between two readings (the reading itself costs one commit, subtracted)."""
    figures: dict[str, Any] = {"commits_per_step": round((after.commits - before.commits - 1) / steps, 3)}
    if after.statement_ms is not None:
        figures["pg_statement_ms_per_step"] = round(after.statement_ms / steps, 4)
        figures["statements_per_step"] = round((after.statements or 0) / steps, 2)
        figures["top_statements"] = [
            {"query": query, "calls_per_step": round(calls / steps, 2), "ms_per_step": round(ms / steps, 4)}
            for query, calls, ms in after.top]
    if before.cpu_s is not None and after.cpu_s is not None:
        figures["pg_cpu_ms_per_step"] = round(1000 * (after.cpu_s - before.cpu_s) / steps, 3)
    return figures


# -- the subject -----------------------------------------------------------------------------------------


def deploy(dsn: str, shape: Shape) -> str:
    """A fresh app with the shape's graph deployed and active; returns the app id."""
    app_id = f"b{uuid.uuid4().hex[:10]}"

    async def work() -> None:
        async with HotMesh.open(app_id=app_id, dsn=dsn, engine=False, settings=settings()) as mesh:
            await mesh.deploy(graph_yaml(shape.graph, app_id))
            await mesh.activate("1")

    trio.run(work)
    return app_id


async def run_workflows(mesh: HotMesh, shape: Shape, count: int, in_flight: int) -> list[float]:
    """`count` workflows by `in_flight` concurrent `pubsub` callers; returns each one's latency in ms."""
    send, receive = trio.open_memory_channel[int](count)
    for n in range(count):
        send.send_nowait(n)
    send.close()
    times: list[float] = []

    async def caller() -> None:
        async for n in receive:
            started = time.perf_counter()
            await mesh.pubsub(shape.topic, {"n": n}, timeout=120)
            times.append(1000 * (time.perf_counter() - started))

    with trio.fail_after(600):
        async with trio.open_nursery() as nursery:
            for _ in range(in_flight):
                nursery.start_soon(caller)
    return times


def throughput(dsn: str, shape: Shape, count: int, in_flight: int,
               before_run: Callable[[], None] | None = None) -> dict[str, Any]:
    """Run `count` workflows of a shape (after a fifth as many untimed, to warm connections and caches)."""
    app_id = deploy(dsn, shape)

    async def work() -> dict[str, Any]:
        async with HotMesh.open(app_id=app_id, dsn=dsn, workers=workers(shape), settings=settings()) as mesh:
            await run_workflows(mesh, shape, max(in_flight, count // 5), in_flight)
            await trio.sleep(1.5)  # idle backends flush their statistics within ~1 s
            before = await trio.to_thread.run_sync(lambda: asyncio.run(read_counters(dsn, reset=True)))
            started, cpu = time.perf_counter(), time.process_time()
            times = await run_workflows(mesh, shape, count, in_flight)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            await trio.sleep(1.5)
            after = await trio.to_thread.run_sync(lambda: asyncio.run(read_counters(dsn)))
        steps = count * shape.steps
        return {
            "workflows": count,
            "in_flight": in_flight,
            "workflows_per_s": rounded(count / elapsed),
            "steps_per_s": rounded(steps / elapsed),
            "seconds": round(elapsed, 2),
            "client_cpu_ms_per_step": round(1000 * cpu / steps, 3),
            **server_delta(before, after, steps),
            "latency_under_load": percentiles(times),
        }

    return trio.run(work)


def idle_latency(dsn: str, samples: int, warmup: int = 50) -> dict[str, Any]:
    """Sequential `pubsub` round trips of the 1-step workflow on an idle mesh."""
    app_id = deploy(dsn, STEP1)

    async def work() -> dict[str, Any]:
        async with HotMesh.open(app_id=app_id, dsn=dsn, workers=workers(STEP1), settings=settings()) as mesh:
            for n in range(warmup):
                await mesh.pubsub(STEP1.topic, {"n": n}, timeout=10)
            await trio.sleep(1.5)
            before = await trio.to_thread.run_sync(lambda: asyncio.run(read_counters(dsn, reset=True)))
            times: list[float] = []
            cpu = time.process_time()
            for n in range(samples):
                started = time.perf_counter()
                await mesh.pubsub(STEP1.topic, {"n": n}, timeout=10)
                times.append(1000 * (time.perf_counter() - started))
            cpu = time.process_time() - cpu
            await trio.sleep(1.5)
            after = await trio.to_thread.run_sync(lambda: asyncio.run(read_counters(dsn)))
        return {**percentiles(times), "client_cpu_ms_per_step": round(1000 * cpu / samples, 3),
                **server_delta(before, after, samples)}

    return trio.run(work)


TIMER_GRAPH = """
app:
  id: {app_id}
  version: '1'
  graphs:
    - subscribes: bench.timer
      publishes: bench.timer.done
      activities:
        t1: {{type: trigger}}
        nap:
          type: hook
          sleep: 1
          job: {{maps: {{slept: true}}}}
      transitions:
        t1:
          - to: nap
"""


def timer_lateness(dsn: str, count: int, burst: int = 20) -> dict[str, Any]:
    """How late 1 s sleeps fire with the default timer settings: each round trip minus the 1 s, in ms.

    `count` sleeps one at a time (the figure), then `count` in bursts of `burst` falling due together
    (reported beside it as `burst`)."""
    app_id = f"bt{uuid.uuid4().hex[:10]}"

    async def work() -> dict[str, Any]:
        async with HotMesh.open(app_id=app_id, dsn=dsn, settings=settings()) as mesh:
            await mesh.deploy(TIMER_GRAPH.format(app_id=app_id))
            await mesh.activate("1")

            async def one(n: int, late: list[float]) -> None:
                started = time.perf_counter()
                await mesh.pubsub("bench.timer", {"n": n}, timeout=30)
                late.append(1000 * (time.perf_counter() - started) - 1000)

            alone: list[float] = []
            for n in range(count):
                await one(n, alone)
            together: list[float] = []
            for first in range(0, count, burst):
                async with trio.open_nursery() as nursery:
                    for n in range(first, min(count, first + burst)):
                        nursery.start_soon(one, n, together)
        return {**percentiles(alone), "sleep_s": 1, "burst": {"size": burst, **percentiles(together)}}

    return trio.run(work)


# -- the lean step model -----------------------------------------------------------------------------------


async def _run_sql_file(dsn: str, path: Path) -> None:
    """Run a psql-style file one statement at a time (VACUUM cannot run inside an implicit transaction)."""
    lines = [line for line in path.read_text("utf-8").splitlines() if not line.lstrip().startswith("--")]
    conn = await asyncpg.connect(dsn)
    try:
        for statement in "\n".join(lines).split(";"):
            if statement.strip():
                await conn.execute(statement)
    finally:
        await conn.close()


def lean_model(server_dsn: str, bench_dir: Path, seconds: float, clients: int = 8) -> float:
    """Steps/s of the lean step model (pgbench on step2cte.sql) in a database of its own."""
    with scratch_database(server_dsn, "hmsh_step_model") as dsn:
        asyncio.run(_run_sql_file(dsn, bench_dir / "schema.sql"))
        asyncio.run(_run_sql_file(dsn, bench_dir / "prefill.sql"))
        script = (bench_dir / "step2cte.sql").read_text("utf-8")
        return pgbench(dsn, script, clients=clients, seconds=seconds)["tps"]


# -- main -------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_arguments(parser)
    parser.add_argument("--shapes", default="step1,sequence5,parallel10,pubsub,timer")
    parser.add_argument("--jobs1", type=int, default=3000, help="1-step workflows")
    parser.add_argument("--jobs5", type=int, default=1000, help="5-step workflows")
    parser.add_argument("--jobs10", type=int, default=500, help="10-way parallel workflows")
    parser.add_argument("--in-flight", type=int, default=50, help="concurrent pubsub callers")
    parser.add_argument("--latency-samples", type=int, default=500)
    parser.add_argument("--timers", type=int, default=100, help="1 s sleeps per timer run (alone, then in bursts)")
    parser.add_argument("--pgbench-seconds", type=float, default=10.0, help="per lean-model run (2 runs)")
    parser.add_argument("--bench-dir", type=Path, default=LEAN_MODEL, help="the lean step model's files")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.shapes.split(",") if name.strip()]
    counts = {"step1": args.jobs1, "sequence5": args.jobs5, "parallel10": args.jobs10}
    with server(args.dsn) as (server_dsn, label):
        facts = server_facts(server_dsn)
        model_before = lean_model(server_dsn, args.bench_dir, args.pgbench_seconds)
        results: dict[str, dict[str, Any]] = {}
        with scratch_database(server_dsn, "hmsh_bench_steps") as dsn:
            for name in chosen:
                if name == "pubsub":
                    results[name] = idle_latency(dsn, args.latency_samples)
                elif name == "timer":
                    results[name] = timer_lateness(dsn, args.timers)
                else:
                    results[name] = throughput(dsn, THROUGHPUT_SHAPES[name], counts[name], args.in_flight)
        model_after = lean_model(server_dsn, args.bench_dir, args.pgbench_seconds)
    model = (model_before + model_after) / 2
    targets = {"step1": 0.33, "sequence5": 0.5, "parallel10": 0.5}
    for name, figures in results.items():
        record: dict[str, Any] = {"bench": "steps", "shape": name, "server": label, **facts}
        if name == "timer":
            record["figure"] = "timer lateness p50 ms"
            record["value"] = figures["p50_ms"]
            record["target"] = {"late_ms": 100}
        elif name != "pubsub":
            record["figure"] = "workflows/s" if name == "step1" else "steps/s"
            record["value"] = figures["workflows_per_s"] if name == "step1" else figures["steps_per_s"]
            record["lean_model_steps_per_s"] = rounded(model)
            record["ratio"] = round(figures["steps_per_s"] / model, 3)
            record["target_ratio"] = targets[name]
        else:
            record["figure"] = "pubsub p50 ms (idle)"
            record["value"] = figures["p50_ms"]
            record["target"] = {"p50_ms": 2.5, "p99_ms": 10}
        emit({**record, **figures})
    emit({"bench": "steps", "shape": "lean_model", "server": label, **facts, "figure": "steps/s",
          "value": rounded(model), "before": rounded(model_before), "after": rounded(model_after),
          "pgbench": "-n -M prepared -c 8 -j 2 -f step2cte.sql, 8,000 ready messages"})


if __name__ == "__main__":
    main()
