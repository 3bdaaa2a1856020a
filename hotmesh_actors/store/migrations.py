"""Numbered schema migrations, applied idempotently under an advisory lock.

`store/schema/public/NNNN_*.sql` hold the global tables, `store/schema/app/NNNN_*.sql` the per-app schema
(with a `{schema}` placeholder). Each scope's pending files run in ONE transaction that first takes a
transaction-level advisory lock, so two processes initialising the same app at once both succeed: the
second waits, then finds nothing left to do.
"""

from __future__ import annotations

import re
from importlib import resources

from hotmesh_actors.errors import ConfigurationError
from hotmesh_actors.store.driver import Connection, Database
from hotmesh_actors.store.queries import app_schema, quote_ident

_GLOBAL_LOCK = 0x484D5348  # 'HMSH'
_FILE = re.compile(r"^(\d{4})_[\w-]+\.sql$")

_LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS public.hmsh_schema_migrations (
    scope      TEXT NOT NULL,
    version    INT NOT NULL,
    name       TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, version)
)"""


_CLAIM_SCHEMA = """
WITH claimed AS (
    INSERT INTO public.hmsh_app_schemas (schema_name, app_id) VALUES ($1, $2)
    ON CONFLICT (schema_name) DO NOTHING RETURNING app_id
)
SELECT app_id FROM claimed UNION ALL SELECT app_id FROM public.hmsh_app_schemas WHERE schema_name = $1 LIMIT 1"""

_APP_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"


def _migration_files(scope: str) -> list[tuple[int, str, str]]:
    folder = resources.files("hotmesh_actors.store").joinpath("schema", scope)
    found = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text("utf-8")))
    return sorted(found)


async def _apply(conn: Connection, scope_key: str, files: list[tuple[int, str, str]],
                 lock_sql: str, lock_arg: object, placeholders: dict[str, str]) -> list[str]:
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute(lock_sql, lock_arg)
        await conn.execute(_LEDGER_DDL)
        done = {row["version"] for row in await conn.fetch(
            "SELECT version FROM public.hmsh_schema_migrations WHERE scope = $1", scope_key)}
        for version, name, sql in files:
            if version in done:
                continue
            await conn.execute(sql.replace("{schema}", placeholders.get("schema", "")))
            await conn.execute(
                "INSERT INTO public.hmsh_schema_migrations (scope, version, name) VALUES ($1, $2, $3)",
                scope_key, version, name)
            applied.append(name)
    return applied


async def migrate_global(db: Database) -> list[str]:
    """Create/upgrade the global `public.hmsh_*` tables; returns the migration files applied."""

    async def work(conn: Connection) -> list[str]:
        return await _apply(conn, "public", _migration_files("public"),
                            "SELECT pg_advisory_xact_lock($1::bigint)", _GLOBAL_LOCK, {})

    return await db.with_connection(work)


async def migrate_app(db: Database, app_id: str) -> list[str]:
    """Create/upgrade the global tables and the per-app schema of `app_id`; returns files applied."""
    applied = await migrate_global(db)
    schema = app_schema(app_id)

    async def work(conn: Connection) -> list[str]:
        async with conn.transaction():
            await conn.execute(_APP_LOCK, f"hmsh:{schema}")
            owner = await conn.fetchval(_CLAIM_SCHEMA, schema, app_id)
            if owner != app_id:
                raise ConfigurationError(
                    f"app_id {app_id!r} maps to the Postgres schema {schema!r}, which app {owner!r} already "
                    "uses (schema names fold case and punctuation); choose an app id that differs in letters "
                    "or digits")
            return await _apply(conn, f"app:{schema}", _migration_files("app"), _APP_LOCK, f"hmsh:{schema}",
                                {"schema": quote_ident(schema)})

    return applied + await db.with_connection(work)
