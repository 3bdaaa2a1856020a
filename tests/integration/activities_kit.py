"""Helpers for the activity conformance tests (SPEC §11 items 25–35): open a mesh, build YAML, read rows."""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from hotmesh_actors.clock import new_guid
from hotmesh_actors.core.keys import job_key
from hotmesh_actors.core.messages import MessageStatus, MessageType, StreamMessage
from hotmesh_actors.mesh.hotmesh import HotMesh
from hotmesh_actors.mesh.worker import Worker
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.queries import app_schema, quote_ident
from hotmesh_actors.store.streams import Outgoing

from .stream_history import keep_history, rows_sql

JSON = Any


def fast_settings(**overrides: Any) -> Settings:
    """Test settings: 1 s timer fidelity and a 1 s fallback poll, so delayed rows are picked up promptly."""
    values: dict[str, Any] = {"fidelity_seconds": 1, "fallback_poll_s": 1}
    values.update(overrides)
    return Settings(**values)


def app_yaml(app_id: str, graphs: str, version: str = "1") -> str:
    """An inline app manifest; `graphs` is the YAML list under `graphs:` written at column 0."""
    body = textwrap.indent(textwrap.dedent(graphs).strip("\n"), "    ")
    return f"app:\n  id: {app_id}\n  version: '{version}'\n  graphs:\n{body}\n"


@asynccontextmanager
async def open_mesh(app_id: str, dsn: str, yaml: str | None = None, *, workers: Sequence[Worker] = (),
                    settings: Settings | None = None) -> AsyncIterator[HotMesh]:
    """Open a mesh, deploy and activate `yaml` (version '1') when given.

    The app's removed stream rows (acked, disarmed, replaced by a retry) are recorded from the start, so
    `stream_rows(..., removed=True)` can follow a message's whole life.
    """
    async with HotMesh.open(app_id=app_id, dsn=dsn, workers=workers,
                            settings=settings or fast_settings()) as mesh:
        await keep_history(mesh.db, app_id)
        if yaml is not None:
            await mesh.deploy(yaml)
            assert await mesh.activate("1")
        yield mesh


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float = 8.0, every: float = 0.05) -> None:
    """Poll `predicate` until true; fails the test (trio.TooSlowError) after `timeout` seconds."""
    with trio.fail_after(timeout):
        while not await predicate():
            await trio.sleep(every)


def table(mesh: HotMesh, name: str) -> str:
    """A schema-qualified table of the mesh's app."""
    return f"{quote_ident(app_schema(mesh.app_id))}.{name}"


async def job_row(mesh: HotMesh, jid: str) -> Any:
    """The `jobs` row of a job (None if absent)."""
    return await mesh.db.fetchrow(f"SELECT * FROM {table(mesh, 'jobs')} WHERE key = $1",
                                  job_key(mesh.app_id, jid))


async def status_of(mesh: HotMesh, jid: str) -> int | None:
    """The job's semaphore straight from the row (None if the job does not exist)."""
    row = await job_row(mesh, jid)
    return None if row is None else int(row["status"])


async def wait_status(mesh: HotMesh, jid: str, predicate: Callable[[int], bool], timeout: float = 8.0) -> int:
    """Wait until the job's status satisfies `predicate`; returns it."""
    seen: list[int] = []

    async def check() -> bool:
        status = await status_of(mesh, jid)
        if status is None:
            return False
        seen[:] = [status]
        return predicate(status)

    await wait_until(check, timeout)
    return seen[0]


async def attributes(mesh: HotMesh, jid: str) -> list[Any]:
    """Every `jobs_attributes` row of a job: field, dimension, value, type."""
    return list(await mesh.db.fetch(
        f"SELECT a.field, a.dimension, a.value, a.type::text AS type FROM {table(mesh, 'jobs_attributes')} a "
        f"JOIN {table(mesh, 'jobs')} j ON j.id = a.job_id WHERE j.key = $1 ORDER BY a.field, a.dimension",
        job_key(mesh.app_id, jid)))


async def stream_rows(mesh: HotMesh, kind: str, where: str = "TRUE", *args: Any, removed: bool = False) -> list[Any]:
    """Rows of `engine_streams` or `worker_streams` (with `visible_at - created_at` as `delay_s` and
    `visible_at - now()` as `due_in_s`), by id.

    Only the live rows, unless `removed`: then also the rows the engine deleted (an acked message, a disarmed
    timer, a row replaced by its retry), recorded since `open_mesh` (or `keep_stream_history`) with
    `removed_at` and `expired_at` both set to the moment of removal; a live row has `removed_at` NULL.
    """
    source = f"{rows_sql(mesh.app_id, kind)} AS r" if removed else f"{table(mesh, kind + '_streams')} AS r"
    return list(await mesh.db.fetch(
        f"SELECT r.*, EXTRACT(EPOCH FROM r.visible_at - r.created_at)::float8 AS delay_s, "
        f"EXTRACT(EPOCH FROM r.visible_at - now())::float8 AS due_in_s "
        f"FROM {source} WHERE {where} ORDER BY r.id", *args))


async def registry(mesh: HotMesh) -> dict[str, str]:
    """The app's signal registry: key → value (live rows only)."""
    rows = await mesh.db.fetch(
        f"SELECT key, value FROM {table(mesh, 'signal_registry')} WHERE expiry IS NULL OR expiry > now()")
    return {row["key"]: row["value"] for row in rows}


async def registry_rows(mesh: HotMesh) -> list[Any]:
    """The app's signal registry rows with their remaining TTL in seconds (`ttl_s`)."""
    return list(await mesh.db.fetch(
        f"SELECT key, value, EXTRACT(EPOCH FROM expiry - now())::float8 AS ttl_s "
        f"FROM {table(mesh, 'signal_registry')} ORDER BY key"))


def decode(value: str | None) -> JSON:
    """Decode a stored attribute value (`/t /f /n /d<num> /s<json>`, else the raw text)."""
    if value is None:
        return None
    if value == "/t":
        return True
    if value == "/f":
        return False
    if value == "/n":
        return None
    if value.startswith("/d"):
        number = float(value[2:])
        return int(number) if number.is_integer() else number
    if value.startswith("/s"):
        return json.loads(value[2:])
    return value


class Recorder:
    """Collects `sub`/`psub` notifications: (topic, output) pairs, with an event per arrival."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, JSON]]] = []

    def __call__(self, topic: str, output: dict[str, JSON]) -> None:
        self.seen.append((topic, output))

    async def wait_count(self, count: int, timeout: float = 8.0) -> list[tuple[str, dict[str, JSON]]]:
        async def enough() -> bool:
            return len(self.seen) >= count

        await wait_until(enough, timeout)
        return self.seen


async def add_response(mesh: HotMesh, request: StreamMessage, data: dict[str, JSON], *,
                       status: MessageStatus = MessageStatus.SUCCESS, code: int = 200) -> None:
    """HotMesh's private `add(streamData)`: push a worker response for `request` onto the engine stream."""
    response = StreamMessage(metadata=attrs.evolve(request.metadata, guid=new_guid()), type=MessageType.RESPONSE,
                             data=data, status=status, code=code)
    await mesh.jobs.engine_streams.publish([Outgoing(stream_name=mesh.app_id, message=response)])
