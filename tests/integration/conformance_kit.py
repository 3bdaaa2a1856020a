"""Helpers shared by the engine conformance tests (SPEC §11): graphs with the app id substituted, a fast
mesh, gated workers, polling, and catalog queries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import trio

from hotmesh_actors import HotMesh, Worker
from hotmesh_actors.core.messages import StreamMessage
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.queries import app_schema
from hotmesh_actors.testing import TEST_SETTINGS, graph_for_app

from .stream_history import keep_history, rows_sql

ROOT = Path(__file__).resolve().parents[2]
GRAPHS = ROOT / "graphs"

FAST = TEST_SETTINGS
"""Settings for tests: 1 s timer fidelity and a 1 s fallback poll (the testing plugin's)."""


def graph_yaml(name: str, app_id: str) -> str:
    """The YAML of `graphs/<name>` (e.g. `abc/v5.yaml`, `order.yaml`) as inline text for `app_id`.

    Leading comments are dropped (inline YAML must start with `app:`) and the app's `id:` line — the
    first one — is replaced (the testing plugin's `graph_for_app`).
    """
    return graph_for_app(str(GRAPHS / name), app_id)


@asynccontextmanager
async def open_mesh(app_id: str, dsn: str, workers: Sequence[Worker] = (), *,
                    settings: Settings = FAST) -> AsyncIterator[HotMesh]:
    """`HotMesh.open` with the test settings."""
    async with HotMesh.open(app_id=app_id, dsn=dsn, workers=workers, settings=settings) as mesh:
        yield mesh


async def deploy_and_activate(mesh: HotMesh, yaml_text: str, version: str) -> None:
    """Deploy inline YAML and activate `version`."""
    await mesh.deploy(yaml_text)
    assert await mesh.activate(version)


async def wait_until(predicate: Callable[[], Awaitable[bool]], *, timeout: float = 5.0,
                     interval: float = 0.02, what: str = "condition") -> None:
    """Poll an async predicate until it holds; fail (trio.TooSlowError) after `timeout` seconds."""
    try:
        with trio.fail_after(timeout):
            while not await predicate():
                await trio.sleep(interval)
    except trio.TooSlowError:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None


async def wait_status(mesh: HotMesh, jid: str, expected: int, *, timeout: float = 5.0) -> None:
    """Wait until the job's semaphore equals `expected`."""
    async def holds() -> bool:
        return await mesh.get_status(jid) == expected

    await wait_until(holds, timeout=timeout, what=f"jobs.status == {expected} for {jid}")


class GatedWorkers:
    """Worker callbacks that record each call and hold it until the test opens the call's gate.

    A gate is named by the activity id (`msg.metadata.aid`); `reply(msg)` builds the response.
    """

    def __init__(self, reply: Callable[[StreamMessage], dict[str, Any]] | None = None,
                 *, gated: Sequence[str] = ()) -> None:
        self.reply = reply or (lambda msg: {"data": {}})
        self.calls: list[StreamMessage] = []
        self.gates: dict[str, trio.Event] = {aid: trio.Event() for aid in gated}

    def open(self, aid: str) -> None:
        self.gates.setdefault(aid, trio.Event()).set()

    def open_all(self) -> None:
        for gate in self.gates.values():
            gate.set()

    def aids(self) -> list[str]:
        return [call.metadata.aid for call in self.calls]

    async def __call__(self, msg: StreamMessage) -> dict[str, Any]:
        self.calls.append(msg)
        gate = self.gates.get(msg.metadata.aid)
        if gate is not None:
            await gate.wait()
        return self.reply(msg)

    async def called(self, aid: str, *, times: int = 1, timeout: float = 5.0) -> None:
        async def holds() -> bool:
            return self.aids().count(aid) >= times

        await wait_until(holds, timeout=timeout, what=f"worker call for {aid}")


def schema_of(app_id: str) -> str:
    return app_schema(app_id)


async def partition_info(mesh_db: Any, schema: str, table: str) -> tuple[str | None, int]:
    """(`partstrat` of the table — 'h' for hash —, number of partitions)."""
    strategy = await mesh_db.fetchval(
        "SELECT p.partstrat::text FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2", schema, table)
    count = await mesh_db.fetchval(
        "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhparent "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2", schema, table)
    return strategy, int(count)


async def _admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def admin_sql(dsn: str, sql: str) -> None:
    """Run one statement on `dsn` (e.g. CREATE DATABASE) from a thread, outside trio."""
    await trio.to_thread.run_sync(lambda: asyncio.run(_admin(dsn, sql)))


async def keep_stream_history(mesh: HotMesh) -> None:
    """Start recording the stream rows the engine removes (acked, or replaced by a retry) for the mesh's app.

    The lean step deletes an acked row, and a retry replaces its row with a new delayed one; a test that
    follows a message's whole life (every attempt, its delay, that it ended) installs this right after the
    mesh opens, before the traffic it observes, and reads `history_rows`.
    """
    await keep_history(mesh.db, mesh.app_id)


async def history_rows(mesh: HotMesh, kind: str, where: str = "TRUE", *args: Any) -> list[Any]:
    """Live and removed rows of `engine_streams` or `worker_streams`, by id, with `delay_s` (`visible_at -
    created_at`) and `removed_at` (NULL while the row is live). A removed row has `expired_at` set to its
    removal time. Needs `keep_stream_history` first, else only live rows are there to read."""
    return list(await mesh.db.fetch(
        f"SELECT r.*, EXTRACT(EPOCH FROM r.visible_at - r.created_at)::float8 AS delay_s "
        f"FROM {rows_sql(mesh.app_id, kind)} AS r WHERE {where} ORDER BY r.id", *args))
