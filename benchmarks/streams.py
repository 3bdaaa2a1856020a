"""How close do StreamConsumers get to the database's own limit for claim+ack of one stream message?

For K = 1, 4, 8 consumers on one stream, in the same run and on the same server:

- subject: K `StreamConsumer`s (one shared `Database`, library defaults: pool_size 8, batch_size 10,
  thread bridge unless ``--bridges`` says otherwise) drain M messages with a handler that does nothing. The
  M messages are PRE-PUBLISHED (multi-row INSERTs of 1,000, then ANALYZE) before the clock starts, so
  the figure is claim + handle + ack throughput, messages/s = M / (time from start to the last ack).
- reference: pgbench with ``-c K`` on a same-shaped table (a fresh app schema migrated the same way, the
  same M pre-published messages). One pgbench "transaction" = one message = the library's own
  `claim_batch` SQL with LIMIT 1 (a FOR UPDATE SKIP LOCKED select + UPDATE, autocommitted) then its `ack`
  SQL for that id (autocommitted): the naive at-least-once loop, 2 commits per message.

The consumer claims up to `batch_size` rows per statement and group-commits acks (one UPDATE for every id
acked meanwhile), so it may do fewer commits per message than the reference; `commits_per_msg`
(`pg_stat_database.xact_commit` delta / M, connections closed first so every backend has flushed) shows
how many it really does. Prints ONE JSON line.

    PYTHONPATH=. .venv/bin/python benchmarks/streams.py [--dsn …] [--messages 6000] [--bridges thread]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
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
from hotmesh_actors.core.messages import MessageMetadata, MessageType, StreamMessage
from hotmesh_actors.mesh.consumer import StreamConsumer
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.driver import Database
from hotmesh_actors.store.migrations import migrate_app
from hotmesh_actors.store.queries import bind
from hotmesh_actors.store.streams import ClaimedMessage, Outgoing, StreamKind, StreamStore

STREAM = "bench"
PUBLISH_CHUNK = 1000
SLACK = 64
"""Extra rows beyond M so a pgbench claim never finds the stream empty (pgbench aborts on \\gset of 0 rows)."""
LEASE_S = 30


@attrs.define
class Run:
    """One drained stream: messages, seconds, commits, and the statements the consumers sent."""

    messages: int
    seconds: float
    commits: int
    claims: int = 0
    acks: int = 0
    wakes: int = 0
    cpu: float = 0.0


class CountingStore(StreamStore):
    """A StreamStore that counts claim/ack/next_wake statements and signals when `target` acks are in."""

    def __init__(self, db: Database, app_id: str, target: int) -> None:
        super().__init__(db, app_id, StreamKind.WORKER)
        self.target = target
        self.claims = 0
        self.acks = 0
        self.wakes = 0
        self.acked = 0
        self.all_acked = trio.Event()

    async def claim(
        self, stream_name: str, consumer: str, *, batch_size: int, lease_s: float
    ) -> list[ClaimedMessage]:
        self.claims += 1
        return await super().claim(stream_name, consumer, batch_size=batch_size, lease_s=lease_s)

    async def next_wake(self, stream_name: str, lease_s: float) -> float | None:
        self.wakes += 1
        return await super().next_wake(stream_name, lease_s)

    async def ack(self, stream_name: str, ids: Sequence[int], consumer: str) -> set[int]:
        self.acks += 1
        acked = await super().ack(stream_name, ids, consumer)
        self.acked += len(acked)
        if self.acked >= self.target:
            self.all_acked.set()
        return acked


def _outgoing(index: int) -> Outgoing:
    meta = MessageMetadata(guid=f"g{index}", jid=f"job-{index}", aid="work", topic=STREAM)
    message = StreamMessage(metadata=meta, type=MessageType.WORKER, data={"n": index, "payload": "x" * 64})
    return Outgoing(stream_name=STREAM, message=message)


async def _prepare(db: Database, app_id: str, count: int) -> StreamStore:
    """Migrate a fresh app, publish `count` messages in multi-row inserts, ANALYZE the table."""
    await migrate_app(db, app_id)
    store = StreamStore(db, app_id, StreamKind.WORKER)
    for start in range(0, count, PUBLISH_CHUNK):
        await store.publish([_outgoing(i) for i in range(start, min(count, start + PUBLISH_CHUNK))])
    await db.execute(f"ANALYZE {store.table}")
    return store


def consumer_run(dsn: str, consumers: int, messages: int, bridge: Any, pool_size: int, batch_size: int) -> Run:
    """Drain `messages` pre-published messages with `consumers` StreamConsumers; runs in a worker process."""
    app_id = f"b{uuid.uuid4().hex[:10]}"

    async def prepare() -> None:
        async with Database.open(dsn, pool_size=2, bridge=bridge) as db:
            await _prepare(db, app_id, messages)

    trio.run(prepare)
    before = xact_commit(dsn)

    async def drain() -> tuple[float, float, CountingStore]:
        async with Database.open(dsn, pool_size=pool_size, bridge=bridge) as db:
            store = CountingStore(db, app_id, messages)

            async def handler(_claimed: ClaimedMessage) -> None:
                return None

            settings = Settings(batch_size=batch_size, fallback_poll_s=1.0, pool_size=pool_size)
            actors = [
                StreamConsumer(store=store, stream_name=STREAM, handler=handler, settings=settings)
                for _ in range(consumers)
            ]
            with trio.fail_after(600):
                async with trio.open_nursery() as nursery:
                    started, cpu = time.perf_counter(), time.process_time()
                    for actor in actors:
                        nursery.start_soon(actor.run)
                    await store.all_acked.wait()
                    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                    for actor in actors:
                        actor.stop()
            acked = sum(actor.stats.acked for actor in actors)
            if acked != messages:
                raise RuntimeError(f"consumers acked {acked} of {messages} messages")
            return elapsed, cpu, store

    elapsed, cpu, store = trio.run(drain)
    after = xact_commit(dsn)
    return Run(messages, elapsed, after - before - 1, store.claims, store.acks, store.wakes, cpu)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def pgbench_script(table: str, batch: int = 1) -> str:
    """The reference: the library's claim_batch SQL (LIMIT `batch`) then an ack, each autocommitted.

    `batch` 1: the ack names the claimed id (per-message loop, 2 commits per message). `batch` > 1: the
    ack is one UPDATE of every row this client holds (what the consumer's group commit does), so one
    script run is `batch` messages and 2 commits.
    """
    consumer = "('pgb-' || :client)"
    claim = (
        bind("streams", "claim_batch", table=table)
        .replace("$4", consumer)
        .replace("$3", str(LEASE_S))
        .replace("$2", str(batch))
        .replace("$1", _literal(STREAM))
    )
    if batch == 1:
        ack = (
            bind("streams", "ack", table=table)
            .replace("$3", consumer)
            .replace("$2::bigint[]", "ARRAY[(:id)::bigint]")
            .replace("$1", _literal(STREAM))
            .replace("RETURNING id", "")
            .strip()
        )
        return f"\\set client :client_id\n{claim} \\gset\n{ack};\n"
    ack = (
        f"UPDATE {table} SET expired_at = now()\n"
        f"WHERE stream_name = {_literal(STREAM)} AND reserved_by = {consumer}\n"
        "  AND reserved_at IS NOT NULL AND expired_at IS NULL"
    )
    return f"\\set client :client_id\n{claim};\n{ack};\n"


def pgbench_run(dsn: str, clients: int, messages: int, batch: int = 1) -> Run:
    """Drain `messages` pre-published messages with pgbench -c `clients`; runs in a worker process."""
    app_id = f"p{uuid.uuid4().hex[:10]}"
    published = messages + SLACK

    async def prepare() -> str:
        async with Database.open(dsn, pool_size=2) as db:
            return (await _prepare(db, app_id, published)).table

    table = trio.run(prepare)
    before = xact_commit(dsn)
    runs = messages // (clients * batch)
    result = pgbench(dsn, pgbench_script(table, batch), clients=clients, transactions=runs)
    after = xact_commit(dsn)
    done = published - asyncio.run(_depth(dsn, table))
    if batch == 1 and done != int(result["transactions"]):
        raise RuntimeError(f"pgbench acked {done} messages in {result['transactions']} transactions")
    return Run(done, int(result["transactions"]) / result["tps"], after - before - 1)


async def _depth(dsn: str, table: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        depth: int = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE expired_at IS NULL")
    finally:
        await conn.close()
    return depth


def measure(
    dsn: str,
    *,
    counts: Sequence[int],
    messages: int,
    bridges: Sequence[str],
    rounds: int,
    pool_size: int,
    batch_size: int,
) -> dict[str, Any]:
    """All figures per consumer count, pgbench and each bridge alternating round by round."""
    spawn = multiprocessing.get_context("spawn")
    # One worker process per bridge: importing trio_asyncio breaks the thread bridge (see docs/driver.md).
    workers = {bridge: ProcessPoolExecutor(1, mp_context=spawn) for bridge in bridges}
    plain = workers.get("thread") or ProcessPoolExecutor(1, mp_context=spawn)
    out: dict[str, Any] = {}
    try:
        for k in counts:
            total = messages - messages % k
            runs: dict[str, list[Run]] = {name: [] for name in ("pgbench", "pgbench_batched", *bridges)}
            for round_no in range(rounds):
                order = ["pgbench", *bridges, "pgbench_batched"]
                if round_no % 2:
                    order.reverse()
                for name in order:
                    if name == "pgbench":
                        runs[name].append(plain.submit(pgbench_run, dsn, k, total).result())
                    elif name == "pgbench_batched":
                        runs[name].append(plain.submit(pgbench_run, dsn, k, total, batch_size).result())
                    else:
                        runs[name].append(workers[name].submit(
                            consumer_run, dsn, k, total, name, pool_size, batch_size).result())
            out[str(k)] = _figures(runs, bridges)
    finally:
        for worker in {*workers.values(), plain}:
            worker.shutdown()
    return out


def _figures(runs: dict[str, list[Run]], bridges: Sequence[str]) -> dict[str, Any]:
    def rate(name: str) -> float:
        return sum(r.messages for r in runs[name]) / sum(r.seconds for r in runs[name])

    def per_msg(name: str, field: str) -> float:
        total: float = sum(getattr(r, field) for r in runs[name])
        return round(total / sum(r.messages for r in runs[name]), 3)

    reference = rate("pgbench")
    first = bridges[0]
    figures: dict[str, Any] = {
        "msgs_per_s": rounded(rate(first)),
        "pgbench_tps": rounded(reference),
        "ratio": round(rate(first) / reference, 3),
        "commits_per_msg": per_msg(first, "commits"),
        "pgbench_commits_per_msg": per_msg("pgbench", "commits"),
        "claim_statements_per_msg": per_msg(first, "claims"),
        "ack_statements_per_msg": per_msg(first, "acks"),
        "next_wake_queries_per_msg": per_msg(first, "wakes"),
        "client_cpu_us_per_msg": round(1e6 * sum(r.cpu for r in runs[first]) / sum(r.messages for r in runs[first])),
        "pgbench_batched_msgs_per_s": rounded(rate("pgbench_batched")),
        "ratio_vs_batched": round(rate(first) / rate("pgbench_batched"), 3),
        "pgbench_batched_commits_per_msg": per_msg("pgbench_batched", "commits"),
    }
    for other in bridges[1:]:
        figures[f"msgs_per_s_{other}"] = rounded(rate(other))
        figures[f"ratio_{other}"] = round(rate(other) / reference, 3)
        figures[f"commits_per_msg_{other}"] = per_msg(other, "commits")
    return figures


def main() -> None:
    """Parse flags, measure on a scratch database, print the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_server_arguments(parser)
    parser.add_argument("--messages", type=int, default=6000, help="messages drained per sample (M)")
    parser.add_argument("--consumers", default="1,4,8", help="comma-separated consumer counts")
    parser.add_argument("--bridges", default="thread", help="comma-separated: thread, trio_asyncio")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per consumer count")
    parser.add_argument("--pool-size", type=int, default=Settings().pool_size)
    parser.add_argument("--batch-size", type=int, default=Settings().batch_size)
    args = parser.parse_args()
    bridges = [b for b in args.bridges.split(",") if b]
    started = time.perf_counter()
    with server(args.dsn) as (server_dsn, label), scratch_database(server_dsn, "hmsh_bench_streams") as dsn:
        facts = server_facts(dsn)
        figures = measure(
            dsn,
            counts=[int(n) for n in args.consumers.split(",")],
            messages=args.messages,
            bridges=bridges,
            rounds=args.rounds,
            pool_size=args.pool_size,
            batch_size=args.batch_size,
        )
    emit({
        "bench": "streams",
        "server": label,
        **facts,
        "messages": args.messages,
        "published": "pre-published, multi-row INSERTs of 1000, then ANALYZE",
        "bridge": bridges[0],
        "pool_size": args.pool_size,
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "consumers": figures,
        "wall_s": round(time.perf_counter() - started, 1),
    })


if __name__ == "__main__":
    main()
