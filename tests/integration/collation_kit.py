"""Helpers for the collation / replay conformance tests and the bad-input tests (SPEC §11 items 17-24).

They read and write the app's tables directly: re-delivering a message means inserting a copy of its
stream row (same message JSON, same guid), exactly what a redelivery by a broker would look like.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from hotmesh_actors.core.ledger import as_text
from hotmesh_actors.mesh.hotmesh import HotMesh
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.queries import app_schema, quote_ident


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


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 15.0, what: str = "") -> None:
    """Poll `check` every 50 ms until it is true; fail (trio.TooSlowError) after `timeout` seconds."""
    try:
        with trio.fail_after(timeout):
            while not await check():
                await trio.sleep(0.05)
    except trio.TooSlowError as err:
        raise AssertionError(f"timed out after {timeout}s waiting for: {what or check}") from err


async def stream_rows(mesh: HotMesh, table: str, jid: str | None = None, **where: Any) -> list[dict[str, Any]]:
    """Rows of `engine_streams` / `worker_streams` (optionally of one job), oldest first, as dicts."""
    clauses, args = [], []
    if jid is not None:
        args.append(jid)
        clauses.append(f"jid = ${len(args)}")
    for column, value in where.items():
        args.append(value)
        clauses.append(f"{column} = ${len(args)}")
    sql = f"SELECT * FROM {schema(mesh.app_id)}.{table}"
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
           f"SELECT {', '.join(select)} FROM {schema(mesh.app_id)}.{table} WHERE id = $1 RETURNING id")
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
    found = await mesh.db.fetchrow(f"SELECT * FROM {schema(mesh.app_id)}.{table} WHERE id = $1", row_id)
    assert found is not None, f"{table} row {row_id} is missing"
    return dict(found)


async def is_acked(mesh: HotMesh, table: str, row_id: int) -> bool:
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
