"""What does the trio↔asyncpg crossing cost, per bridge, against plain asyncpg on asyncio in the same run?

Measures `SELECT 1`/s and bundles/s at 1 and 8 concurrent tasks (one pooled connection each). A bundle is
the modelled protocol step: ONE transaction with claim (UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)
RETURNING on a small stream table) + write (INSERT state) + publish (INSERT stream) + ack (UPDATE).

Variants, all on the same server and measured alternately (round robin, a fresh pool per sample):

- ``asyncio``: plain asyncpg under ``asyncio.run`` (no trio) with the pool settings `Database` uses — the
  reference every ratio divides by;
- ``thread``: our `Database` with ``bridge="thread"`` (one crossing per transaction);
- ``trio_asyncio``: our `Database` with ``bridge="trio_asyncio"`` (one crossing per transaction);
- ``trio_asyncio_per_statement``: asyncpg called through trio-asyncio one call at a time (acquire, BEGIN,
  4 statements, COMMIT, release = 8 crossings per bundle; for SELECT 1 the naive ``pool.fetchval``);
- ``asyncio_default_reset`` (SELECT 1 only): the reference with asyncpg's default pool reset instead of
  the no-op reset `Database` installs — the pool-reset effect;
- ``pgbench`` (bundles only): the database's own limit for the same transaction, no Python at all.

Also ``bare_crossings``: crossings/s and CPU µs per crossing of each bridge calling an asyncio coroutine
that does nothing — the crossing alone, without asyncpg's I/O.

Prints ONE JSON line: rates, ratios against ``asyncio``, client CPU µs per operation (all threads of this
process), and which bridge is fastest for bundles at 8 tasks. Takes about 90 s with the defaults.

    PYTHONPATH=. .venv/bin/python benchmarks/driver.py [--dsn postgresql://…] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Literal

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
from hotmesh_actors.store.driver import Bridge, Database, Statement, ThreadBridge

Kind = Literal["select1", "bundle"]

POOL_SIZE = 8
WARMUP_S = 0.3
SEED_ROWS = 64

SCHEMA = """
CREATE TABLE bench_stream (
    id          BIGSERIAL PRIMARY KEY,
    payload     TEXT NOT NULL,
    reserved_by TEXT,
    reserved_at TIMESTAMPTZ,
    expired_at  TIMESTAMPTZ
);
CREATE INDEX bench_stream_ready ON bench_stream (id) WHERE reserved_at IS NULL AND expired_at IS NULL;
CREATE INDEX bench_stream_held ON bench_stream (reserved_by) WHERE reserved_at IS NOT NULL AND expired_at IS NULL;
CREATE TABLE bench_state (
    id    BIGSERIAL PRIMARY KEY,
    job   TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL
);
"""

RESET_TABLES = f"""
TRUNCATE bench_stream, bench_state RESTART IDENTITY;
INSERT INTO bench_stream (payload) SELECT 'seed-' || n FROM generate_series(1, {SEED_ROWS}) AS n;
"""

CLAIM = """
UPDATE bench_stream AS s SET reserved_at = now(), reserved_by = $1
FROM (SELECT id FROM bench_stream WHERE reserved_at IS NULL AND expired_at IS NULL
      ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) AS c
WHERE s.id = c.id
RETURNING s.id, s.payload"""
WRITE = "INSERT INTO bench_state (job, field, value) VALUES ($1, 'step/output/data', $2)"
PUBLISH = "INSERT INTO bench_stream (payload) VALUES ($1)"
ACK = (
    "UPDATE bench_stream SET expired_at = now()"
    " WHERE reserved_by = $1 AND reserved_at IS NOT NULL AND expired_at IS NULL"
)

PAYLOAD = '{"metadata":{"jid":"job-1","aid":"a1"},"data":{"qty":1}}'


def bundle(consumer: str) -> list[Statement]:
    """The modelled step as the statements `Database.transaction` runs (one crossing)."""
    return [
        Statement(CLAIM, (consumer,), "fetch"),
        Statement(WRITE, (consumer, PAYLOAD), "execute"),
        Statement(PUBLISH, (PAYLOAD,), "execute"),
        Statement(ACK, (consumer,), "execute"),
    ]


PGBENCH_BUNDLE = f"""\\set consumer :client_id
BEGIN;
{CLAIM.replace("$1", "'pgb-' || :consumer").strip()};
{WRITE.replace("$1", "'pgb-' || :consumer").replace("$2", "'" + PAYLOAD + "'")};
{PUBLISH.replace("$1", "'" + PAYLOAD + "'")};
{ACK.replace("$1", "'pgb-' || :consumer")};
COMMIT;
"""


@attrs.define
class Sample:
    """Operations completed in `elapsed` seconds, with the process CPU seconds they took."""

    ops: int = 0
    elapsed: float = 0.0
    cpu: float = 0.0

    def add(self, other: Sample) -> None:
        self.ops += other.ops
        self.elapsed += other.elapsed
        self.cpu += other.cpu

    @property
    def rate(self) -> float:
        return self.ops / self.elapsed if self.elapsed else 0.0

    @property
    def cpu_us_per_op(self) -> float:
        return 1e6 * self.cpu / self.ops if self.ops else 0.0


async def _reset_nothing(conn: asyncpg.Connection) -> None:
    """The reset `Database` installs, repeated here so the asyncio reference pools the same way."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def _asyncio_rate(op: Callable[[int], Awaitable[None]], tasks: int, seconds: float) -> Sample:
    loop = asyncio.get_running_loop()

    async def worker(index: int, until: float) -> int:
        done = 0
        while loop.time() < until:
            await op(index)
            done += 1
        return done

    await asyncio.gather(*(worker(i, loop.time() + WARMUP_S) for i in range(tasks)))
    cpu, start = time.process_time(), time.perf_counter()
    counts = await asyncio.gather(*(worker(i, loop.time() + seconds) for i in range(tasks)))
    return Sample(sum(counts), time.perf_counter() - start, time.process_time() - cpu)


async def _trio_rate(op: Callable[[int], Awaitable[None]], tasks: int, seconds: float) -> Sample:
    counts = [0] * tasks

    async def worker(index: int, until: float, record: bool) -> None:
        while trio.current_time() < until:
            await op(index)
            if record:
                counts[index] += 1

    async with trio.open_nursery() as nursery:
        for i in range(tasks):
            nursery.start_soon(worker, i, trio.current_time() + WARMUP_S, False)
    cpu, start = time.process_time(), time.perf_counter()
    async with trio.open_nursery() as nursery:
        for i in range(tasks):
            nursery.start_soon(worker, i, trio.current_time() + seconds, True)
    return Sample(sum(counts), time.perf_counter() - start, time.process_time() - cpu)


def _asyncio_sample(dsn: str, kind: Kind, tasks: int, seconds: float, *, default_reset: bool) -> Sample:
    async def main() -> Sample:
        reset = None if default_reset else _reset_nothing
        pool = await asyncpg.create_pool(
            dsn, min_size=1, max_size=POOL_SIZE, reset=reset, statement_cache_size=512
        )
        try:
            async def select1(_index: int) -> None:
                async with pool.acquire() as conn:
                    await conn.fetchval("SELECT 1")

            async def step(index: int) -> None:
                consumer = f"c{index}"
                async with pool.acquire() as conn, conn.transaction():
                    await conn.fetch(CLAIM, consumer)
                    await conn.execute(WRITE, consumer, PAYLOAD)
                    await conn.execute(PUBLISH, PAYLOAD)
                    await conn.execute(ACK, consumer)

            return await _asyncio_rate(select1 if kind == "select1" else step, tasks, seconds)
        finally:
            await pool.close()

    return asyncio.run(main())


def _database_sample(dsn: str, kind: Kind, tasks: int, seconds: float, bridge: Any) -> Sample:
    async def main() -> Sample:
        async with Database.open(dsn, pool_size=POOL_SIZE, bridge=bridge) as db:
            bundles = [bundle(f"c{i}") for i in range(tasks)]

            async def select1(_index: int) -> None:
                await db.fetchval("SELECT 1")

            async def step(index: int) -> None:
                await db.transaction(bundles[index])

            return await _trio_rate(select1 if kind == "select1" else step, tasks, seconds)

    return trio.run(main)


def _per_statement_sample(dsn: str, kind: Kind, tasks: int, seconds: float) -> Sample:
    import trio_asyncio

    aio = trio_asyncio.aio_as_trio

    async def main() -> Sample:
        async with trio_asyncio.open_loop():
            async def create() -> asyncpg.Pool:
                return await asyncpg.create_pool(
                    dsn, min_size=1, max_size=POOL_SIZE, reset=_reset_nothing, statement_cache_size=512
                )

            pool = await aio(create)()
            try:
                async def acquire() -> Any:
                    return await pool.acquire()

                async def select1(_index: int) -> None:
                    await aio(pool.fetchval)("SELECT 1")

                async def step(index: int) -> None:
                    consumer = f"c{index}"
                    conn = await aio(acquire)()
                    try:
                        transaction = conn.transaction()
                        await aio(transaction.start)()
                        try:
                            await aio(conn.fetch)(CLAIM, consumer)
                            await aio(conn.execute)(WRITE, consumer, PAYLOAD)
                            await aio(conn.execute)(PUBLISH, PAYLOAD)
                            await aio(conn.execute)(ACK, consumer)
                        except BaseException:
                            await aio(transaction.rollback)()
                            raise
                        await aio(transaction.commit)()
                    finally:
                        await aio(pool.release)(conn)

                return await _trio_rate(select1 if kind == "select1" else step, tasks, seconds)
            finally:
                await aio(pool.close)()

    return trio.run(main)


def crossing_sample(bridge: str, tasks: int, seconds: float) -> Sample:
    """Crossings/s of a bare bridge calling an asyncio coroutine that does nothing (no database at all)."""

    async def nothing() -> None:
        return None

    async def measure(crossing: Bridge) -> Sample:
        async def op(_index: int) -> None:
            await crossing.call(nothing)

        return await _trio_rate(op, tasks, seconds)

    async def main() -> Sample:
        if bridge == "thread":
            thread_bridge = ThreadBridge()
            try:
                return await measure(thread_bridge)
            finally:
                thread_bridge.close()
        import trio_asyncio

        from hotmesh_actors.store.driver import TrioAsyncioBridge

        async with trio_asyncio.open_loop():
            return await measure(TrioAsyncioBridge())

    return trio.run(main)


def _pgbench_sample(dsn: str, tasks: int, seconds: float) -> Sample:
    result = pgbench(dsn, PGBENCH_BUNDLE, clients=tasks, seconds=seconds)
    return Sample(ops=round(result["tps"] * 1000), elapsed=1000.0, cpu=0.0)


async def _run_sql(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
        if sql == RESET_TABLES:
            await conn.execute("VACUUM ANALYZE bench_stream")
    finally:
        await conn.close()


def sample(dsn: str, variant: str, kind: Kind, tasks: int, seconds: float) -> Sample:
    """One timed run of `variant` on fresh tables (every variant starts from the same table state).

    Runs in a worker process (see `measure`), so it must not rely on state of the parent.
    """
    if kind == "bundle":
        asyncio.run(_run_sql(dsn, RESET_TABLES))
    if variant == "asyncio":
        return _asyncio_sample(dsn, kind, tasks, seconds, default_reset=False)
    if variant == "asyncio_default_reset":
        return _asyncio_sample(dsn, kind, tasks, seconds, default_reset=True)
    if variant in ("thread", "trio_asyncio"):
        return _database_sample(dsn, kind, tasks, seconds, variant)
    if variant == "trio_asyncio_per_statement":
        return _per_statement_sample(dsn, kind, tasks, seconds)
    if variant == "pgbench":
        return _pgbench_sample(dsn, tasks, seconds)
    raise ValueError(f"unknown variant {variant!r}")


VARIANTS: dict[Kind, tuple[str, ...]] = {
    "select1": ("asyncio", "thread", "trio_asyncio", "trio_asyncio_per_statement", "asyncio_default_reset"),
    "bundle": ("asyncio", "thread", "trio_asyncio", "trio_asyncio_per_statement", "pgbench"),
}
BRIDGES = ("thread", "trio_asyncio", "trio_asyncio_per_statement")


def measure(dsn: str, *, seconds: float, rounds: int, concurrency: tuple[int, ...]) -> dict[str, Any]:
    """Every (kind, tasks, variant) figure, alternating variants round by round; returns the JSON fields."""
    asyncio.run(_run_sql(dsn, SCHEMA))
    # Importing trio_asyncio patches asyncio.new_event_loop so that the thread bridge cannot create its
    # loop from inside trio any more (see docs/driver.md), so the trio-asyncio variants run in their own
    # process; the others share a second one. Both are spawned once and reused for every sample.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as plain, ProcessPoolExecutor(1, mp_context=spawn) as patched:
        return _measure(dsn, plain, patched, seconds=seconds, rounds=rounds, concurrency=concurrency)


def _measure(
    dsn: str,
    plain: ProcessPoolExecutor,
    patched: ProcessPoolExecutor,
    *,
    seconds: float,
    rounds: int,
    concurrency: tuple[int, ...],
) -> dict[str, Any]:
    results: dict[Kind, dict[int, dict[str, Sample]]] = {}
    for kind, variants in VARIANTS.items():
        results[kind] = {}
        for tasks in concurrency:
            cell = {variant: Sample() for variant in variants}
            for round_no in range(rounds):
                shift = round_no % len(variants)
                for variant in variants[shift:] + variants[:shift]:
                    worker = patched if variant.startswith("trio_asyncio") else plain
                    cell[variant].add(worker.submit(sample, dsn, variant, kind, tasks, seconds / rounds).result())
            results[kind][tasks] = cell

    def rates(kind: Kind) -> dict[str, dict[str, float]]:
        return {str(t): {v: rounded(s.rate) for v, s in cell.items()} for t, cell in results[kind].items()}

    def ratios(kind: Kind) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for tasks, cell in results[kind].items():
            reference = cell["asyncio"].rate
            out[str(tasks)] = {v: round(s.rate / reference, 3) for v, s in cell.items() if v != "asyncio"}
        return out

    cpu = {
        kind: {
            str(t): {v: round(s.cpu_us_per_op) for v, s in cell.items() if v != "pgbench"}
            for t, cell in results[kind].items()
        }
        for kind in results
    }
    reset = {
        str(t): {
            "noop_reset_per_s": rounded(cell["asyncio"].rate),
            "default_reset_per_s": rounded(cell["asyncio_default_reset"].rate),
            "ratio_noop_vs_default": round(cell["asyncio"].rate / cell["asyncio_default_reset"].rate, 3),
        }
        for t, cell in results["select1"].items()
    }
    crossings: dict[str, dict[str, float]] = {}
    for tasks in concurrency:
        crossings[str(tasks)] = {}
        for bridge in ("thread", "trio_asyncio"):
            worker = patched if bridge == "trio_asyncio" else plain
            done = worker.submit(crossing_sample, bridge, tasks, min(seconds, 1.0)).result()
            crossings[str(tasks)][f"{bridge}_per_s"] = rounded(done.rate)
            crossings[str(tasks)][f"{bridge}_cpu_us"] = round(done.cpu_us_per_op)
    top = max(concurrency)
    fastest = max(BRIDGES, key=lambda v: results["bundle"][top][v].rate)
    return {
        "select1_per_s": rates("select1"),
        "bundle_per_s": rates("bundle"),
        "ratios_vs_asyncio": {"select1": ratios("select1"), "bundle": ratios("bundle")},
        "pool_reset_select1": reset,
        "client_cpu_us_per_op": cpu,
        "bare_crossings": crossings,
        f"fastest_bridge_bundle_at_{top}": fastest,
    }


def main() -> None:
    """Parse flags, measure on a scratch database, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_arguments(parser)
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per figure (all rounds)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds the seconds are split into")
    parser.add_argument("--concurrency", default="1,8", help="comma-separated task counts")
    args = parser.parse_args()
    concurrency = tuple(int(n) for n in args.concurrency.split(","))
    started = time.perf_counter()
    with server(args.dsn) as (server_dsn, label), scratch_database(server_dsn, "hmsh_bench_driver") as dsn:
        facts = server_facts(dsn)
        figures = measure(dsn, seconds=args.seconds, rounds=args.rounds, concurrency=concurrency)
    emit({
        "bench": "driver",
        "server": label,
        **facts,
        "pool_size": POOL_SIZE,
        "seconds_per_figure": args.seconds,
        "rounds": args.rounds,
        **figures,
        "wall_s": round(time.perf_counter() - started, 1),
    })


if __name__ == "__main__":
    main()
