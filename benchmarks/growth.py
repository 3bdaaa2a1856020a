"""Does a step cost the same however much else the database holds? (flat cost, DESIGN §5)

One HotMesh (engine + workers in this process) on a scratch database measures, three times on the same app:

1. `base`: 10 other workflows live (sleeping in a hook with a one-day timer, waiting for a signal);
2. `live`: 100,000 other workflows live the same way (`--live`), created through `pub` like any workflow;
3. `churned`: then 1,000,000 completed steps' worth of stream rows (`--churn`) pass through both stream
   tables: inserted and deleted in batches, as acked messages are, leaving the dead tuples and index
   entries real traffic leaves (autovacuum is not waited for: the worst case).

Each phase measures the `sequence5` shape (trio → 5 workers, 50 in flight; steps/s) and the idle `pubsub`
latency of a 1-step workflow (p50/p95/p99), each phase's figure beside the lean step model's rate measured
in the same run (../shared/bench). The target: steps/s and p50 within 20% of `base` in the other phases.
Also reported: the process's memory per sleeping workflow (RSS growth over the `live` phase's creation ÷
workflows created) and the sizes of the stream and jobs tables.

Prints ONE JSON line.

    PYTHONPATH=. .venv/bin/python benchmarks/growth.py [--dsn …] [--live 100000] [--churn 1000000]
"""

from __future__ import annotations

import argparse
import resource
import time
import uuid
from typing import Any

import trio

from benchmarks._common import add_server_arguments, emit, rounded, scratch_database, server, server_facts
from benchmarks.steps import LEAN_MODEL, SEQUENCE5, STEP1, graph_yaml, lean_model, percentiles, run_workflows
from hotmesh_actors import HotMesh, Settings, Worker
from hotmesh_actors.store.queries import app_schema, quote_ident

SLEEPERS = """
    - subscribes: g.step1
      activities:
        g1t: {type: trigger}
        g1w: {type: worker, topic: chaos.w1, job: {maps: {done: '{$self.output.data.done}'}}}
      transitions:
        g1t: [{to: g1w}]
    - subscribes: sleep.start
      expire: 0
      activities:
        st: {type: trigger}
        nap:
          type: hook
          sleep: 86400
      transitions:
        st: [{to: nap}]
      hooks:
        sleep.wake:
          - to: nap
            conditions:
              match:
                - expected: '{$job.metadata.jid}'
                  actual: '{$self.hook.data.id}'
"""


def app_yaml(app_id: str) -> str:
    """The sequence5 graph, a 1-step graph and the sleeping graph, as one app."""
    sequence = graph_yaml(SEQUENCE5.graph, app_id)
    return sequence.rstrip() + "\n" + SLEEPERS


async def reply(message: Any) -> dict[str, Any]:
    return {"data": {"done": True, "step": message.data.get("step", 0)}}


def rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def table_sizes(mesh: HotMesh) -> dict[str, Any]:
    schema = quote_ident(app_schema(mesh.app_id))
    sizes = {}
    for table in ("jobs", "engine_streams", "worker_streams"):
        sizes[table] = await mesh.db.fetchval(f"SELECT pg_total_relation_size('{schema}.{table}')")
    return {f"{name}_mb": round(value / 1e6, 1) for name, value in sizes.items()}


async def sleep_many(mesh: HotMesh, count: int, concurrency: int = 64) -> None:
    """Start `count` workflows that sleep (a one-day timer, and a signal registration) until woken."""
    send, receive = trio.open_memory_channel[int](count)
    for n in range(count):
        send.send_nowait(n)
    send.close()

    async def publisher() -> None:
        async for n in receive:
            await mesh.pub("sleep.start", {"n": n})

    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(publisher)


async def churn(mesh: HotMesh, rows: int, batch: int = 50_000) -> float:
    """Insert and delete `rows` rows in each stream table, in batches (what acked traffic leaves behind)."""
    schema = quote_ident(app_schema(mesh.app_id))
    started = time.perf_counter()
    for table in ("engine_streams", "worker_streams"):
        for offset in range(0, rows, batch):
            size = min(batch, rows - offset)
            await mesh.db.execute(
                f"WITH ins AS (INSERT INTO {schema}.{table} (stream_name, jid, aid, dad, msg_type, message, "
                f"reserved_at, reserved_by) SELECT 'churn', 'j' || g, 'a', ',0', 'worker', repeat('x', 300), "
                f"now(), 'churn' FROM generate_series(1, {size}) g RETURNING id) "
                f"DELETE FROM {schema}.{table} WHERE id IN (SELECT id FROM ins)")
    return time.perf_counter() - started


async def phase(mesh: HotMesh, jobs: int, samples: int) -> dict[str, Any]:
    """sequence5 steps/s (50 in flight) and idle pubsub latency of step1."""
    await run_workflows(mesh, SEQUENCE5, 100, 50)
    started, cpu = time.perf_counter(), time.process_time()
    await run_workflows(mesh, SEQUENCE5, jobs, 50)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    times: list[float] = []
    for n in range(samples):
        begun = time.perf_counter()
        await mesh.pubsub("g.step1", {"n": n}, timeout=10)
        times.append(1000 * (time.perf_counter() - begun))
    return {"steps_per_s": rounded(jobs * SEQUENCE5.steps / elapsed),
            "client_cpu_ms_per_step": round(1000 * cpu / (jobs * SEQUENCE5.steps), 3), "pubsub": percentiles(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_arguments(parser)
    parser.add_argument("--live", type=int, default=100_000, help="sleeping workflows in the `live` phase")
    parser.add_argument("--churn", type=int, default=1_000_000, help="stream rows through each table")
    parser.add_argument("--jobs", type=int, default=600, help="sequence5 workflows per phase")
    parser.add_argument("--latency-samples", type=int, default=300)
    parser.add_argument("--pgbench-seconds", type=float, default=10.0)
    args = parser.parse_args()
    workers = [Worker(topic, reply) for topic in [*SEQUENCE5.worker_topics, *STEP1.worker_topics]]
    with server(args.dsn) as (server_dsn, label):
        facts = server_facts(server_dsn)
        model = lean_model(server_dsn, LEAN_MODEL, args.pgbench_seconds)
        with scratch_database(server_dsn, "hmsh_bench_growth") as dsn:
            app_id = f"g{uuid.uuid4().hex[:10]}"

            async def work() -> dict[str, Any]:
                async with HotMesh.open(app_id=app_id, dsn=dsn, workers=workers, settings=Settings.from_env()) as mesh:
                    await mesh.deploy(app_yaml(app_id))
                    await mesh.activate("1")
                    await sleep_many(mesh, 10)
                    base = await phase(mesh, args.jobs, args.latency_samples)
                    rss_before, started = rss_kib(), time.perf_counter()
                    await sleep_many(mesh, args.live - 10)
                    created_s = time.perf_counter() - started
                    rss_growth = rss_kib() - rss_before
                    live = await phase(mesh, args.jobs, args.latency_samples)
                    sizes_live = await table_sizes(mesh)
                    churn_s = await churn(mesh, args.churn)
                    churned = await phase(mesh, args.jobs, args.latency_samples)
                    sizes_churned = await table_sizes(mesh)
                return {"base": base, "live": live, "churned": churned, "created_per_s": rounded(args.live / created_s),
                        "rss_bytes_per_sleeping_workflow": round(1024 * rss_growth / max(1, args.live - 10), 1),
                        "sizes_live": sizes_live, "sizes_churned": sizes_churned, "churn_seconds": round(churn_s, 1)}

            figures = trio.run(work)
        model_after = lean_model(server_dsn, LEAN_MODEL, args.pgbench_seconds)
    model = (model + model_after) / 2
    base = figures["base"]
    for name in ("base", "live", "churned"):
        figures[name]["ratio_to_lean_model"] = round(figures[name]["steps_per_s"] / model, 3)
    emit({
        "bench": "growth", "server": label, **facts,
        "figure": "steps/s and pubsub p50 of `live` and `churned` relative to `base` (target within 20%)",
        "live_steps_ratio": round(figures["live"]["steps_per_s"] / base["steps_per_s"], 3),
        "churned_steps_ratio": round(figures["churned"]["steps_per_s"] / base["steps_per_s"], 3),
        "live_p50_ratio": round(figures["live"]["pubsub"]["p50_ms"] / base["pubsub"]["p50_ms"], 3),
        "churned_p50_ratio": round(figures["churned"]["pubsub"]["p50_ms"] / base["pubsub"]["p50_ms"], 3),
        "lean_model_steps_per_s": rounded(model),
        "live_workflows": args.live, "churned_rows_per_table": args.churn,
        **figures,
    })


if __name__ == "__main__":
    main()
