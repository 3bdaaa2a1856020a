"""Does a second (and a fourth) process on the same database add throughput, and what saturates first?

The `sequence5` shape (trigger → 5 workers in a row) runs in 1, 2 and 4 OS processes at once, each a full
HotMesh (engine + workers) on the same app and database, each keeping 50 workflows in flight with its own
`pubsub` callers. Figure per process count: total worker steps/s (all processes' steps ÷ the wall time from
a common start to the last one done), beside the lean step model's rate measured in the same run
(../shared/bench). Where the time goes: the CPU of the client processes (their own count) and the machine's
busy CPU (/proc/stat) as shares of its cores; Postgres's share is the machine's minus the clients' (on a
machine running nothing else, that is the server), and commits/s; the busier of the two is named.

Prints ONE JSON line.

    PYTHONPATH=. .venv/bin/python benchmarks/scale.py [--dsn …] [--processes 1,2,4] [--jobs 400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import trio

from benchmarks._common import add_server_arguments, emit, rounded, scratch_database, server, server_facts
from benchmarks.steps import LEAN_MODEL, SEQUENCE5, deploy, lean_model, read_counters, run_workflows
from benchmarks.steps import workers as shape_workers
from hotmesh_actors import HotMesh, Settings


def machine_busy_s() -> float:
    """CPU seconds all cores spent busy so far (/proc/stat), for the Postgres share when backends come and go."""
    with open("/proc/stat", encoding="ascii") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def child(dsn: str, app_id: str, jobs: int, in_flight: int, go: Path) -> None:
    """One process: open a mesh, warm up, wait for the go file, run the workflows, print one JSON line."""

    async def work() -> dict[str, Any]:
        async with HotMesh.open(app_id=app_id, dsn=dsn, workers=shape_workers(SEQUENCE5),
                                settings=Settings.from_env()) as mesh:
            await run_workflows(mesh, SEQUENCE5, in_flight, in_flight)
            print("ready", flush=True)
            while not go.exists():
                await trio.sleep(0.005)
            started, cpu = time.time(), time.process_time()
            await run_workflows(mesh, SEQUENCE5, jobs, in_flight)
            return {"started": started, "finished": time.time(), "cpu_s": time.process_time() - cpu,
                    "steps": jobs * SEQUENCE5.steps}

    print(json.dumps(trio.run(work)), flush=True)


def run_processes(dsn: str, app_id: str, count: int, jobs: int, in_flight: int) -> dict[str, Any]:
    """Start `count` children, release them together, and add up what they did."""
    go = Path(f"/tmp/hmsh_scale_go_{uuid.uuid4().hex}")
    command = [sys.executable, __file__, "--child", "--dsn", dsn, "--app", app_id, "--jobs", str(jobs),
               "--in-flight", str(in_flight), "--go", str(go)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) for _ in range(count)]
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"a child failed to start: {line!r}")
        before = asyncio.run(read_counters(dsn))
        busy = machine_busy_s()
        go.touch()
        results = []
        for proc in procs:
            out, _ = proc.communicate(timeout=900)
            results.append(json.loads(out.strip().splitlines()[-1]))
        busy = machine_busy_s() - busy
        after = asyncio.run(read_counters(dsn))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        go.unlink(missing_ok=True)
    elapsed = max(r["finished"] for r in results) - min(r["started"] for r in results)
    steps = sum(r["steps"] for r in results)
    cores = os.cpu_count() or 1
    client_cpu = sum(r["cpu_s"] for r in results)
    figures = {
        "processes": count, "steps": steps, "seconds": round(elapsed, 2), "steps_per_s": rounded(steps / elapsed),
        "client_cpu_share": round(client_cpu / elapsed / cores, 3),
        "machine_busy_share": round(busy / elapsed / cores, 3),
        "postgres_cpu_share": round(max(0.0, busy - client_cpu) / elapsed / cores, 3),
        "commits_per_s": rounded((after.commits - before.commits) / elapsed),
        "wall_start_spread_s": round(max(r["started"] for r in results) - min(r["started"] for r in results), 3),
        "per_process_s": [round(r["finished"] - r["started"], 2) for r in results],
    }
    shares = {"client CPU": figures["client_cpu_share"], "Postgres CPU": figures["postgres_cpu_share"]}
    figures["busiest"] = max(shares, key=lambda name: shares[name])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_arguments(parser)
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--jobs", type=int, default=400, help="sequence5 workflows per process")
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--pgbench-seconds", type=float, default=10.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--app", help=argparse.SUPPRESS)
    parser.add_argument("--go", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.dsn, args.app, args.jobs, args.in_flight, args.go)
        return
    counts = [int(n) for n in args.processes.split(",")]
    with server(args.dsn) as (server_dsn, label):
        facts = server_facts(server_dsn)
        model = lean_model(server_dsn, LEAN_MODEL, args.pgbench_seconds)
        runs = []
        with scratch_database(server_dsn, "hmsh_bench_scale") as dsn:
            app_id = deploy(dsn, SEQUENCE5)
            for count in counts:
                runs.append(run_processes(dsn, app_id, count, args.jobs, args.in_flight))
        model = (model + lean_model(server_dsn, LEAN_MODEL, args.pgbench_seconds)) / 2
    one = runs[0]["steps_per_s"]
    for run in runs:
        run["ratio_to_one_process"] = round(run["steps_per_s"] / one, 3)
        run["ratio_to_lean_model"] = round(run["steps_per_s"] / model, 3)
    emit({"bench": "scale", "server": label, **facts, "figure": "sequence5 steps/s by process count",
          "lean_model_steps_per_s": rounded(model), "runs": runs,
          "note": "postgres_cpu_share = machine busy share - client share (exact only on an otherwise idle machine)"})


if __name__ == "__main__":
    main()

