"""Streams on a real Postgres: exactly-once delivery, ordering, delays, retries, dead letters, leases."""

from __future__ import annotations

import collections

import pytest
import trio

from hotmesh_actors.core.durations import RetryPolicy
from hotmesh_actors.core.messages import MessageType
from hotmesh_actors.mesh.consumer import StreamConsumer
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.driver import Database
from hotmesh_actors.store.jobs import JobStore
from hotmesh_actors.store.migrations import _migration_files, migrate_app
from hotmesh_actors.store.streams import ClaimedMessage, StreamKind, StreamStore

from .stream_history import keep_history, rows_sql
from .streamkit import outgoing


async def _store(db: Database, app_id: str, kind: StreamKind = StreamKind.WORKER) -> StreamStore:
    await migrate_app(db, app_id)
    return StreamStore(db, app_id, kind)


@pytest.mark.parametrize("consumers", [1, 4, 8])
async def test_k_consumers_handle_each_message_exactly_once(db: Database, app_id: str, consumers: int) -> None:
    store = await _store(db, app_id)
    total = 5000
    types = [MessageType.WORKER, MessageType.TRANSITION, MessageType.INTERRUPT]
    for start in range(0, total, 1000):
        await store.publish([outgoing("work", str(i), mtype=types[i % 3]) for i in range(start, start + 1000)])
    seen: collections.Counter[str] = collections.Counter()
    batches: list[list[int]] = []
    done = trio.Event()

    async def handler(claimed: ClaimedMessage) -> None:
        seen[claimed.message.metadata.guid] += 1
        if sum(seen.values()) >= total:
            done.set()

    settings = Settings(batch_size=25, fallback_poll_s=0.5)
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            actors = [
                StreamConsumer(store=store, stream_name="work", handler=handler, settings=settings)
                for _ in range(consumers)
            ]
            for actor in actors:
                await nursery.start(actor.run)
            await done.wait()
            for actor in actors:
                actor.stop()
    assert len(seen) == total
    assert set(seen.values()) == {1}
    assert await store.depth("work") == 0
    assert sum(a.stats.acked for a in actors) == total
    del batches


async def test_claim_order_is_priority_then_fifo(db: Database, app_id: str) -> None:
    store = await _store(db, app_id)
    kinds = [MessageType.AWAIT, MessageType.WORKER, MessageType.RESPONSE, MessageType.RESULT,
             MessageType.TRANSITION, MessageType.TIMEHOOK, MessageType.INTERRUPT]
    published = [outgoing("order", f"{n}-{kind.value}", mtype=kind) for n in range(3) for kind in kinds]
    await store.publish(published)
    claimed: list[ClaimedMessage] = []
    while batch := await store.claim("order", "c1", batch_size=4):
        claimed.extend(batch)
    priorities = [c.priority for c in claimed]
    assert priorities == sorted(priorities, reverse=True)
    by_priority: dict[int, list[int]] = collections.defaultdict(list)
    for c in claimed:
        by_priority[c.priority].append(c.id)
    assert all(ids == sorted(ids) for ids in by_priority.values())
    assert [c.priority for c in claimed[:3]] == [6, 6, 6]
    assert len(claimed) == len(published)


async def test_delayed_message_is_invisible_until_visible_at(db: Database, app_id: str) -> None:
    store = await _store(db, app_id)
    await store.publish([outgoing("later", "d1", delay_s=1.5)])
    assert await store.claim("later", "c1", batch_size=10) == []
    due = await store.next_wake("later", 30)
    assert due is not None and 1.0 < due <= 1.5
    started = trio.current_time()
    handled_at: list[float] = []
    got = trio.Event()

    async def handler(claimed: ClaimedMessage) -> None:
        handled_at.append(trio.current_time())
        got.set()

    consumer = StreamConsumer(store=store, stream_name="later", handler=handler,
                              settings=Settings(fallback_poll_s=60))
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await nursery.start(consumer.run)
            await got.wait()
            consumer.stop()
    assert handled_at[0] - started >= 1.0


async def test_notify_wakes_an_idle_consumer_before_the_fallback_poll(db: Database, app_id: str) -> None:
    store = await _store(db, app_id)
    got = trio.Event()

    async def handler(claimed: ClaimedMessage) -> None:
        got.set()

    async with db.listener() as listener:
        consumer = StreamConsumer(store=store, stream_name="wake", handler=handler, listener=listener,
                                  settings=Settings(fallback_poll_s=3600))
        with trio.fail_after(20):
            async with trio.open_nursery() as nursery:
                await nursery.start(consumer.run)
                await trio.sleep(0.2)  # let the consumer drain and go idle
                await store.publish([outgoing("wake", "n1")])
                await got.wait()
                consumer.stop()


async def test_failing_handler_retries_at_policy_delays_then_dead_letters(db: Database, app_id: str) -> None:
    store = await _store(db, app_id)
    await keep_history(db, app_id)
    policy = RetryPolicy(maximum_attempts=3, backoff_coefficient=2, initial_interval=0.25, maximum_interval=10)
    await store.publish([outgoing("flaky", "f1", retry_policy=policy, data={"keep": "me"})])
    attempts: list[float] = []
    parked = trio.Event()

    async def handler(claimed: ClaimedMessage) -> None:
        attempts.append(trio.current_time())
        raise RuntimeError("boom")

    consumer = StreamConsumer(store=store, stream_name="flaky", handler=handler,
                              settings=Settings(fallback_poll_s=60))
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(consumer.run)
            while consumer.stats.dead_lettered == 0:
                await trio.sleep(0.05)
            parked.set()
            consumer.stop()
    assert len(attempts) == 3
    gaps = [b - a for a, b in zip(attempts, attempts[1:], strict=False)]
    for gap, expected in zip(gaps, policy.delays(), strict=True):  # 0.5 s then 1.0 s
        assert expected <= gap < expected + 0.75
    # each retry removed its row and published the next attempt as a new one; the last one is parked, kept
    rows = await db.fetch(
        f"SELECT message, retry_attempt, dead_lettered_at, removed_at FROM {rows_sql(app_id, 'worker')} AS r "
        "ORDER BY id"
    )
    assert [r["retry_attempt"] for r in rows] == [0, 1, 2]
    assert rows[-1]["dead_lettered_at"] is not None and rows[-1]["removed_at"] is None
    assert '"keep":"me"' in rows[-1]["message"]
    assert all(r["dead_lettered_at"] is None and r["removed_at"] is not None for r in rows[:-1])


async def test_poison_message_is_dead_lettered_without_running_the_handler(db: Database, app_id: str) -> None:
    store = await _store(db, app_id)
    await store.publish([outgoing("poison", "p1")])
    for n in range(5):  # five consumers claim it and die (reaping at 0 s hands each lease back at once)
        if n:
            assert await store.reap("poison", 0) == 1
        assert len(await store.claim("poison", "dead", batch_size=1)) == 1
    ran: list[str] = []

    async def handler(claimed: ClaimedMessage) -> None:
        ran.append(claimed.message.metadata.guid)

    await trio.sleep(0.6)
    consumer = StreamConsumer(store=store, stream_name="poison", handler=handler,
                              settings=Settings(reservation_timeout_s=0.5, fallback_poll_s=60))
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await nursery.start(consumer.run)
            while consumer.stats.dead_lettered == 0:
                await trio.sleep(0.05)
            consumer.stop()
    assert ran == []
    assert consumer.stats.dead_lettered == 1
    row = await db.fetchrow(f'SELECT dead_lettered_at, delivery_count FROM "{app_id}".worker_streams')
    assert row is not None and row["dead_lettered_at"] is not None and row["delivery_count"] == 6


async def test_heartbeat_keeps_a_long_handler_s_lease_against_a_competitor(db: Database, app_id: str) -> None:
    store = await _store(db, app_id)
    await store.publish([outgoing("slow", "s1")])
    runs: list[str] = []
    settings = Settings(reservation_timeout_s=1.0, heartbeat_interval_s=0.25, fallback_poll_s=0.2)

    async def handler(claimed: ClaimedMessage) -> None:
        runs.append(claimed.message.metadata.guid)
        await trio.sleep(3.0)  # three lease periods

    first = StreamConsumer(store=store, stream_name="slow", handler=handler, settings=settings)
    second = StreamConsumer(store=store, stream_name="slow", handler=handler, settings=settings)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            await nursery.start(first.run)
            await nursery.start(second.run)
            while first.stats.acked + second.stats.acked == 0:
                await trio.sleep(0.05)
            first.stop()
            second.stop()
    assert runs == ["s1"]
    assert await store.depth("slow") == 0


async def test_expired_lease_is_reaped_and_reclaimed_and_ack_deletes_the_row(db: Database, app_id: str) -> None:
    store = await _store(db, app_id)
    await keep_history(db, app_id)
    await store.publish([outgoing("lease", "l1")])
    [first] = await store.claim("lease", "crashed", batch_size=1)
    assert await store.claim("lease", "other", batch_size=1) == []
    assert await store.reap("lease", 30) == 0  # a fresh lease is not handed back
    await trio.sleep(1.1)
    assert await store.reap("lease", 1.0) == 1  # the crashed consumer's lease went stale
    [again] = await store.claim("lease", "other", batch_size=1)
    assert again.id == first.id and again.redelivered and again.delivery_count == 2
    assert await store.ack("lease", [first.id], "crashed") == set()  # the dead consumer's ack is refused
    assert await store.ack("lease", [again.id], "other") == {again.id}
    assert await store.ack("lease", [again.id], "other") == set()  # acked once only
    live = await db.fetchval(f'SELECT count(*) FROM "{app_id}".worker_streams WHERE id = $1', again.id)
    assert live == 0  # an acked row is deleted
    [gone] = await db.fetch(f"SELECT delivery_count, reserved_by FROM {rows_sql(app_id, 'worker')} AS r "
                            "WHERE id = $1", again.id)
    assert gone["delivery_count"] == 2 and gone["reserved_by"] == "other"


async def test_consumer_reclaims_a_dead_consumer_s_stale_lease_promptly_without_spinning(db: Database,
                                                                                          app_id: str) -> None:
    """A claim skips leased rows, so a stale lease is handed back by a reaper: the consumer does it as soon as
    the lease goes stale (not at its next heartbeat, 10 s away here), and does not spin on claims meanwhile."""
    store = await _store(db, app_id)
    await store.publish([outgoing("orphan", "o1")])
    [held] = await store.claim("orphan", "dead", batch_size=1)
    claims = 0
    claim = store.claim

    async def counted(stream_name: str, consumer: str, *, batch_size: int) -> list[ClaimedMessage]:
        nonlocal claims
        claims += 1
        return await claim(stream_name, consumer, batch_size=batch_size)

    store.claim = counted  # type: ignore[method-assign]
    handled: list[ClaimedMessage] = []
    got = trio.Event()

    async def handler(claimed: ClaimedMessage) -> None:
        handled.append(claimed)
        got.set()

    consumer = StreamConsumer(store=store, stream_name="orphan", handler=handler,
                              settings=Settings(reservation_timeout_s=0.5, heartbeat_interval_s=10,
                                                fallback_poll_s=60))
    started = trio.current_time()
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(consumer.run)
            await got.wait()
            consumer.stop()
    assert trio.current_time() - started < 2.0
    assert [c.id for c in handled] == [held.id] and handled[0].delivery_count == 2
    assert claims <= 5, f"{claims} claims while waiting for one stale lease"


async def test_purge_job_deletes_queued_leased_and_delayed_rows(db: Database, app_id: str) -> None:
    store = await _store(db, app_id)
    await store.publish([outgoing("p", "a"), outgoing("p", "a", delay_s=60), outgoing("p", "b")])
    [leased] = await store.claim("p", "c", batch_size=1)
    assert leased.message.metadata.jid == "job-a"
    await db.transaction(JobStore(db, app_id).purge_statements("job-a", []))
    assert await store.depth("p") == 1
    left = await db.fetch(f'SELECT jid FROM "{app_id}".worker_streams')
    assert [r["jid"] for r in left] == ["job-b"]


async def test_two_initialisations_of_one_app_at_once_both_succeed(pg_dsn: str, app_id: str) -> None:
    results: list[list[str]] = []

    async def init() -> None:
        async with Database.open(pg_dsn, pool_size=1) as own:
            results.append(await migrate_app(own, app_id))

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(init)
    global_files = {name for _version, name, _sql in _migration_files("public")}
    applied = [name for result in results for name in result if name not in global_files]
    assert sorted(applied) == ["0001_app.sql", "0002_streams.sql", "0003_job_index.sql", "0004_lean_step.sql"]
