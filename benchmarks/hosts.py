"""What does serving an asyncio app cost, against the trio reference measured in the same run?

Subject: one HotMesh (engine + a worker that answers at once, library defaults, in this process) on the 1-step
graph (tests/chaos/graphs/step1.yaml), opened from a trio app (`trio.run`: the reference) and from a plain
asyncio app (`asyncio.run`: the mesh runs as a trio guest run on the app's loop, hotmesh_actors/hosts.py, and
the worker callback runs on that loop). Per host, on a fresh app each time:

- `pubsub` latency: one `pubsub` at a time on an otherwise idle mesh, p50/p95/p99 in ms;
- throughput: 50 `pubsub` callers keep 50 workflows in flight; steps/s (one worker step per workflow).

The hosts are measured in interleaved rounds (trio, asyncio, trio, asyncio, …) so drift on the shared machine
falls on both; each figure is the median over rounds. Prints one JSON line per host; the asyncio line carries
its ratio to trio's figures of the same run.

    PYTHONPATH=. .venv/bin/python benchmarks/hosts.py [--dsn …] [--rounds 2] [--samples 500] [--jobs 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import trio

from benchmarks._common import add_server_arguments, emit, rounded, scratch_database, server, server_facts
from benchmarks.steps import STEP1, deploy, percentiles, settings, workers
from hotmesh_actors import HotMesh

HOSTS = ("trio", "asyncio")


async def measure(dsn: str, app_id: str, samples: int, jobs: int, in_flight: int, warmup: int) -> dict[str, Any]:
    """Idle `pubsub` latency, then steps/s with `in_flight` callers; written with anyio, so any host runs it."""
    async with HotMesh.open(app_id=app_id, dsn=dsn, workers=workers(STEP1), settings=settings()) as mesh:
        for n in range(warmup):
            await mesh.pubsub(STEP1.topic, {"n": n}, timeout=10)
        times: list[float] = []
        cpu = time.process_time()
        for n in range(samples):
            started = time.perf_counter()
            await mesh.pubsub(STEP1.topic, {"n": n}, timeout=10)
            times.append(1000 * (time.perf_counter() - started))
        latency_cpu = time.process_time() - cpu

        send, receive = anyio.create_memory_object_stream[int](jobs)
        for n in range(jobs):
            send.send_nowait(n)
        send.close()

        async def caller() -> None:
            async for n in receive:
                await mesh.pubsub(STEP1.topic, {"n": n}, timeout=120)

        started, cpu = time.perf_counter(), time.process_time()
        with anyio.fail_after(600):
            async with anyio.create_task_group() as group:
                for _ in range(in_flight):
                    group.start_soon(caller)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    steps = jobs * STEP1.steps
    return {"latency": percentiles(times), "latency_client_cpu_ms": round(1000 * latency_cpu / samples, 3),
            "steps_per_s": steps / elapsed, "throughput_client_cpu_ms_per_step": round(1000 * cpu / steps, 3)}


def run_on(host: str, main: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    if host == "trio":
        return trio.run(main)
    return asyncio.run(main())  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_arguments(parser)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds per host")
    parser.add_argument("--samples", type=int, default=500, help="sequential pubsub round trips per round")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2000, help="workflows per throughput round")
    parser.add_argument("--in-flight", type=int, default=50, help="concurrent pubsub callers")
    args = parser.parse_args()
    rounds: dict[str, list[dict[str, Any]]] = {host: [] for host in HOSTS}
    with server(args.dsn) as (server_dsn, label):
        facts = server_facts(server_dsn)
        with scratch_database(server_dsn, "hmsh_bench_hosts") as dsn:
            for _ in range(args.rounds):
                for host in HOSTS:
                    app_id = deploy(dsn, STEP1)

                    async def one(app_id: str = app_id) -> dict[str, Any]:
                        return await measure(dsn, app_id, args.samples, args.jobs, args.in_flight, args.warmup)

                    rounds[host].append(run_on(host, one))

    def median(host: str, pick: Callable[[dict[str, Any]], float]) -> float:
        return statistics.median(pick(figures) for figures in rounds[host])

    summary: dict[str, dict[str, float]] = {}
    for host in HOSTS:
        summary[host] = {
            "p50_ms": round(median(host, lambda f: f["latency"]["p50_ms"]), 2),
            "p95_ms": round(median(host, lambda f: f["latency"]["p95_ms"]), 2),
            "p99_ms": round(median(host, lambda f: f["latency"]["p99_ms"]), 2),
            "steps_per_s": rounded(median(host, lambda f: f["steps_per_s"])),
            "latency_client_cpu_ms": round(median(host, lambda f: f["latency_client_cpu_ms"]), 3),
            "throughput_client_cpu_ms_per_step": round(median(host, lambda f: f["throughput_client_cpu_ms_per_step"]),
                                                       3),
        }
    for host in HOSTS:
        record: dict[str, Any] = {"bench": "hosts", "host": host, "server": label, **facts,
                                  "figure": "pubsub p50 ms (idle), steps/s (50 in flight)",
                                  "shape": "step1", "rounds": args.rounds, "samples": args.samples,
                                  "jobs": args.jobs, "in_flight": args.in_flight, **summary[host],
                                  "per_round": [{"p50_ms": f["latency"]["p50_ms"],
                                                 "steps_per_s": rounded(f["steps_per_s"])} for f in rounds[host]]}
        if host != "trio":
            reference = summary["trio"]
            record["reference"] = "trio, same run"
            record["ratio_p50"] = round(summary[host]["p50_ms"] / reference["p50_ms"], 3)
            record["ratio_p99"] = round(summary[host]["p99_ms"] / reference["p99_ms"], 3)
            record["ratio_steps_per_s"] = round(summary[host]["steps_per_s"] / reference["steps_per_s"], 3)
        emit(record)


if __name__ == "__main__":
    main()
