"""A test-only record of stream rows the engine removed, so tests can still see a message's whole life.

The lean step deletes a stream row when it is acknowledged (and a retry replaces its row with a new delayed
one, a disarmed timer is deleted). Tests that prove *what happened* to a message (acked once, retried at
these attempts, expired by an interrupt) read the removed rows from `test_stream_history`, filled by an
AFTER DELETE trigger installed on the app's two stream tables. A removed row reads as the old soft-acked
row did: `expired_at` is set to the moment it was removed, and `removed_at` says that it was.

The trigger runs inside the engine's own transactions, so a row appears here exactly when its removal
committed: a rolled-back ack leaves no history.
"""

from __future__ import annotations

from typing import Any

from hotmesh_actors.store.queries import app_schema, quote_ident

HISTORY = "test_stream_history"

_INSTALL = """
CREATE TABLE IF NOT EXISTS {s}.{h} (LIKE {s}.engine_streams);
ALTER TABLE {s}.{h} ADD COLUMN IF NOT EXISTS table_type TEXT NOT NULL DEFAULT '';
ALTER TABLE {s}.{h} ADD COLUMN IF NOT EXISTS removed_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp();
CREATE OR REPLACE FUNCTION {s}.test_keep_removed_row() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO {s}.{h} SELECT (OLD).*, TG_ARGV[0], clock_timestamp();
    UPDATE {s}.{h} SET expired_at = removed_at
    WHERE id = OLD.id AND table_type = TG_ARGV[0] AND expired_at IS NULL;
    RETURN NULL;
END $fn$;
DROP TRIGGER IF EXISTS test_keep_removed_engine_row ON {s}.engine_streams;
CREATE TRIGGER test_keep_removed_engine_row AFTER DELETE ON {s}.engine_streams
    FOR EACH ROW EXECUTE FUNCTION {s}.test_keep_removed_row('engine');
DROP TRIGGER IF EXISTS test_keep_removed_worker_row ON {s}.worker_streams;
CREATE TRIGGER test_keep_removed_worker_row AFTER DELETE ON {s}.worker_streams
    FOR EACH ROW EXECUTE FUNCTION {s}.test_keep_removed_row('worker');
"""


async def keep_history(db: Any, app_id: str) -> None:
    """Start recording the app's removed stream rows (idempotent; the app's schema must exist)."""
    await db.execute(_INSTALL.format(s=quote_ident(app_schema(app_id)), h=HISTORY))


def rows_sql(app_id: str, kind: str) -> str:
    """A FROM-able SQL expression: the live rows of `<kind>_streams` and the removed ones (if recorded),
    with the table's own columns plus `table_type` and `removed_at` (NULL for a live row). Removed rows
    carry `expired_at` (the moment of removal, unless it was set before)."""
    schema = quote_ident(app_schema(app_id))
    table = f"{schema}.{kind}_streams"
    return (f"(SELECT t.*, '{kind}'::text AS table_type, NULL::timestamptz AS removed_at FROM {table} AS t "
            f"UNION ALL SELECT h.* FROM {schema}.{HISTORY} AS h WHERE h.table_type = '{kind}')")


async def has_history(db: Any, app_id: str) -> bool:
    """True when `keep_history` ran for the app."""
    found = await db.fetchval("SELECT to_regclass($1) IS NOT NULL",
                              f"{quote_ident(app_schema(app_id))}.{HISTORY}")
    return bool(found)
