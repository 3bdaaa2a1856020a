"""Named SQL queries loaded once from `store/sql/*.sql` (`-- name: claim_batch` headers)."""

from __future__ import annotations

import functools
import re
from importlib import resources

_HEADER = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


@functools.cache
def load(group: str) -> dict[str, str]:
    """Return {name: sql} for the queries in `store/sql/<group>.sql`."""
    text = resources.files("hotmesh_actors.store").joinpath("sql", f"{group}.sql").read_text("utf-8")
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [line for line in body.strip().splitlines() if not line.lstrip().startswith("--")]
        queries[name] = "\n".join(lines).strip().rstrip(";")
    return queries


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (schema or table name) safely."""
    return '"' + name.replace('"', '""') + '"'


def app_schema(app_id: str) -> str:
    """The Postgres schema name of an app: lower-cased, runs of other characters become '_', ≤ 63 chars."""
    return re.sub(r"[^a-z0-9]+", "_", app_id.lower())[:63]


@functools.cache
def bind(group: str, name: str, **names: str) -> str:
    """A named query with its `{schema}` / `{table}` placeholders filled (cached per combination)."""
    return load(group)[name].format(**names)
