"""Helpers for the collation / replay conformance tests and the bad-input tests (SPEC §11 items 17-24).

They read and write the app's tables directly: re-delivering a message means inserting a copy of its
stream row (same message JSON, same guid), exactly what a redelivery by a broker would look like.

An acknowledged stream row is deleted (the lean step). A mesh opened with :func:`open_mesh` records the
removed rows (tests/integration/stream_history.py), and then the row readers here (`stream_rows`, `row`,
`is_acked`, `insert_copy`) see every row the app's streams ever held: the live ones, and the removed ones with
`expired_at` set to the moment they were removed (as an acked row read before the lean step). A worker's
reply is stepped by the engine in the worker's own process, never an engine row: `replies(mesh)` has them,
and `insert_reply` re-delivers one through the engine stream.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import attrs
import trio

from hotmesh_actors.core.ledger import as_text
from hotmesh_actors.core.messages import MessageType, StreamMessage, to_wire
from hotmesh_actors.mesh.hotmesh import HotMesh
from hotmesh_actors.mesh.stepper import Inbound, Result, Stepper
from hotmesh_actors.mesh.worker import Worker
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.driver import Database
from hotmesh_actors.store.migrations import migrate_app
from hotmesh_actors.store.queries import app_schema, quote_ident
from hotmesh_actors.store.streams import StreamKind

from .stream_history import has_history, keep_history, rows_sql


def settings(**overrides: Any) -> Settings:
    """Fast test settings: 1 s fidelity and fallback poll; finished jobs stay live for a minute."""
    values: dict[str, Any] = {"fidelity_seconds": 1, "fallback_poll_s": 1, "expire_default_s": 60}
    values.update(overrides)
    return Settings(**values)


def app_yaml(app_id: str, graphs: str, version: str = "1") -> str:
    """An inline app: `graphs` is the YAML list under `graphs:` (written at column 0)."""
    return f"app:\n  id: {app_id}\n  version: '{version}'\n  graphs:\n" + textwrap.indent(
        textwrap.dedent(graphs).strip("\n"), "    ") + "\n"


def schema(app_id: str) -> str:
    return quote_ident(app_schema(app_id))


@attrs.frozen
class Reply:
    """A worker's reply as the engine's step received it in the worker's process, and what became of it."""

    message: StreamMessage
    result: Result
    dead: bool
    """The reply parked its request (an error reply for a failed or poison request)."""

    @property
    def wire(self) -> dict[str, Any]:
        """The reply's wire form, as a stream row's `message` would hold it."""
        wire: dict[str, Any] = json.loads(to_wire(self.message))
        return wire


@attrs.define
class Replies:
    """Every reply a mesh's workers handed to the engine's step of their own process, in order.

    A reply no longer travels as an engine stream row when the process runs an engine (the lean step): the
    worker runs the engine's step for it in place. Tests that replay a reply, or check that one arrived,
    read it here; `Stepper.submit` is observed while the mesh is open (see `open_mesh`).
    """

    app_id: str
    seen: list[Reply] = attrs.field(factory=list)

    def of(self, jid: str, aid: str | None = None) -> list[Reply]:
        """The replies for job `jid` (and activity `aid`), oldest first."""
        return [reply for reply in self.seen if reply.message.metadata.jid == jid
                and (aid is None or reply.message.metadata.aid == aid)]

    @contextmanager
    def observing(self) -> Iterator[None]:
        """Record the worker replies stepped by any Stepper of this app while the block runs."""
        original = Stepper.submit

        async def submit(stepper: Stepper, inbound: Inbound, jid: str) -> Result:
            result = await original(stepper, inbound, jid)
            message, ack = inbound.message, inbound.ack
            if (stepper.app_id == self.app_id and message is not None and message.type is MessageType.RESPONSE
                    and ack is not None and ack.kind is StreamKind.WORKER):
                self.seen.append(Reply(message=message, result=result, dead=ack.dead))
            return result

        Stepper.submit = submit  # type: ignore[method-assign]
        try:
            yield
        finally:
            Stepper.submit = original  # type: ignore[method-assign]


_REPLIES: dict[int, Replies] = {}


def replies(mesh: HotMesh) -> Replies:
    """The replies recorded for a mesh opened with `open_mesh`."""
    return _REPLIES[id(mesh)]


@asynccontextmanager
async def open_mesh(app_id: str, dsn: str, workers: Sequence[Worker] = (), **overrides: Any) -> AsyncIterator[HotMesh]:
    """A mesh with the fast test settings (`overrides` on top) whose stream tables keep their removed rows,
    and whose worker replies are recorded (`replies(mesh)`), both from before it starts consuming."""
    async with Database.open(dsn, pool_size=1) as db:
        await migrate_app(db, app_id)
        await keep_history(db, app_id)
    recorded = Replies(app_id)
    with recorded.observing():
        async with HotMesh.open(app_id=app_id, dsn=dsn, workers=workers, settings=settings(**overrides)) as mesh:
            _REPLIES[id(mesh)] = recorded
            try:
                yield mesh
            finally:
                del _REPLIES[id(mesh)]


async def insert_reply(mesh: HotMesh, reply: Reply) -> int:
    """Deliver a reply (again) the way a broker would: as an engine stream row holding its wire form."""
    return await insert_message(mesh, "engine_streams", mesh.app_id, reply.wire, priority=reply.message.priority)


async def _rows_source(mesh: HotMesh, table: str) -> str:
    """What to read `table`'s rows from: its live rows and, when the app records them, its removed ones."""
    kind = table.removesuffix("_streams")
    if kind in ("engine", "worker") and await has_history(mesh.db, mesh.app_id):
        return f"{rows_sql(mesh.app_id, kind)} AS r"
    return f"{schema(mesh.app_id)}.{table}"


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 15.0, what: str = "") -> None:
    """Poll `check` every 50 ms until it is true; fail (trio.TooSlowError) after `timeout` seconds."""
    try:
        with trio.fail_after(timeout):
            while not await check():
                await trio.sleep(0.05)
    except trio.TooSlowError as err:
        raise AssertionError(f"timed out after {timeout}s waiting for: {what or check}") from err


async def stream_rows(mesh: HotMesh, table: str, jid: str | None = None, **where: Any) -> list[dict[str, Any]]:
    """Rows of `engine_streams` / `worker_streams` (optionally of one job), oldest first, as dicts; with the
    removed ones when recorded (see the module docstring)."""
    clauses, args = [], []
    if jid is not None:
        args.append(jid)
        clauses.append(f"jid = ${len(args)}")
    for column, value in where.items():
        args.append(value)
        clauses.append(f"{column} = ${len(args)}")
    sql = f"SELECT * FROM {await _rows_source(mesh, table)}"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    rows = await mesh.db.fetch(sql + " ORDER BY id", *args)
    return [dict(row) for row in rows]


def message_of(row: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(row["message"])
    return message


async def insert_copy(mesh: HotMesh, table: str, row_id: int, *, message: str | None = None,
                      **columns: Any) -> int:
    """Insert a fresh, unreserved copy of stream row `row_id` (same message JSON unless given); its id.
    The original may be live or (when recorded) removed.

    `columns` overrides further columns of the copy (e.g. `retry_attempt=5`, `delivery_count=5`).
    """
    copied = ["stream_name", "jid", "aid", "dad", "msg_type", "topic", "workflow_name", "message", "priority",
              "max_retry_attempts", "backoff_coefficient", "maximum_interval_seconds",
              "initial_interval_seconds", "retry_attempt", "delivery_count"]
    args: list[Any] = [row_id]
    select = []
    for column in copied:
        if column == "message" and message is not None:
            args.append(message)
            select.append(f"${len(args)}::text")
        elif column in columns:
            args.append(columns[column])
            select.append(f"${len(args)}")
        elif column == "delivery_count":
            select.append("0")
        elif column == "retry_attempt":
            select.append("retry_attempt")
        else:
            select.append(column)
    sql = (f"INSERT INTO {schema(mesh.app_id)}.{table} ({', '.join(copied)}) "
           f"SELECT {', '.join(select)} FROM {await _rows_source(mesh, table)} WHERE id = $1 RETURNING id")
    new_id: int = await mesh.db.fetchval(sql, *args)
    return new_id


async def insert_message(mesh: HotMesh, table: str, stream_name: str, message: dict[str, Any], *,
                         priority: int, **columns: Any) -> int:
    """Insert a hand-made stream row; returns its id."""
    meta = message.get("metadata", {})
    names = ["stream_name", "jid", "aid", "dad", "msg_type", "topic", "message", "priority", *columns]
    values = [stream_name, meta.get("jid", ""), meta.get("aid", ""), meta.get("dad", ""), message.get("type", ""),
              meta.get("topic", ""), json.dumps(message), priority, *columns.values()]
    placeholders = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    sql = f"INSERT INTO {schema(mesh.app_id)}.{table} ({', '.join(names)}) VALUES ({placeholders}) RETURNING id"
    new_id: int = await mesh.db.fetchval(sql, *values)
    return new_id


async def row(mesh: HotMesh, table: str, row_id: int) -> dict[str, Any]:
    """Stream row `row_id`, live or (when recorded) removed; fails when there is none."""
    found = await mesh.db.fetchrow(f"SELECT * FROM {await _rows_source(mesh, table)} WHERE id = $1", row_id)
    assert found is not None, f"{table} row {row_id} is missing"
    return dict(found)


async def is_acked(mesh: HotMesh, table: str, row_id: int) -> bool:
    """True once row `row_id` is no longer live: acked (removed) or dead-lettered."""
    return (await row(mesh, table, row_id))["expired_at"] is not None


async def attributes(mesh: HotMesh, jid: str) -> dict[tuple[str, str], str | None]:
    """Every attribute row of the job's newest row: (field, dimension) → encoded value."""
    key = f"hmsh:{mesh.app_id}:j:{jid}"
    rows = await mesh.db.fetch(
        f"SELECT a.field, a.dimension, a.value FROM {schema(mesh.app_id)}.jobs_attributes a "
        f"WHERE a.job_id = (SELECT id FROM {schema(mesh.app_id)}.jobs WHERE key = $1 "
        f"ORDER BY created_at DESC LIMIT 1)", key)
    return {(r["field"], r["dimension"]): r["value"] for r in rows}


async def job_row(mesh: HotMesh, jid: str) -> dict[str, Any]:
    found = await mesh.db.fetchrow(
        f"SELECT * FROM {schema(mesh.app_id)}.jobs WHERE key = $1 ORDER BY created_at DESC LIMIT 1",
        f"hmsh:{mesh.app_id}:j:{jid}")
    assert found is not None, f"job {jid} has no row"
    return dict(found)


def ledger_text(encoded: str | None) -> str:
    """A stored ledger value (`/d1100000000001`) as HotMesh's 15-digit string (`001100000000001`)."""
    assert encoded is not None and encoded.startswith("/d"), f"not a numeric attribute: {encoded!r}"
    return as_text(int(encoded[2:]))


async def activity_ledger(mesh: HotMesh, jid: str, aid: str) -> str:
    """The activity ledger (`<aid>/output/metadata/as`) of the activity's only dimension."""
    found = {dim: value for (field, dim), value in (await attributes(mesh, jid)).items()
             if field == f"{aid}/output/metadata/as"}
    assert len(found) == 1, f"expected one ledger row for {aid}, found {found}"
    return ledger_text(next(iter(found.values())))


async def guid_ledger(mesh: HotMesh, jid: str, guid: str) -> str:
    """The GUID ledger of message `guid` (the attribute row whose field is the guid)."""
    found = [value for (field, _dim), value in (await attributes(mesh, jid)).items() if field == guid]
    assert len(found) == 1, f"expected one GUID ledger row for {guid}, found {found}"
    return ledger_text(found[0])
