"""Test fixtures: a real Postgres (HOTMESH_DSN, else the embedded default) with a fresh database per session."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from hotmesh_actors.embedded import start_embedded, stop_embedded
from hotmesh_actors.store.driver import Database, with_database


async def _admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _run_admin(dsn: str, sql: str) -> None:
    import asyncio

    asyncio.run(_admin(dsn, sql))


@pytest.fixture(scope="session")
def server_dsn() -> Iterator[str]:
    """The server under test: HOTMESH_DSN when set, else the embedded Postgres started for this session."""
    configured = os.environ.get("HOTMESH_DSN")
    if configured:
        yield configured
        return
    dsn = start_embedded()
    try:
        yield dsn
    finally:
        stop_embedded()


@pytest.fixture(scope="session")
def pg_dsn(server_dsn: str) -> Iterator[str]:
    """A fresh database on the server under test, dropped when the session ends."""
    name = f"hmtest_{uuid.uuid4().hex[:10]}"
    _run_admin(server_dsn, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(server_dsn, name)
    finally:
        _run_admin(server_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def db(pg_dsn: str) -> AsyncIterator[Database]:
    """A connected Database (trio side) for one test."""
    async with Database.open(pg_dsn, pool_size=10) as database:
        yield database


@pytest.fixture
def app_id() -> str:
    """A fresh app id per test, so tests never see each other's rows."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def nursery_timeout() -> float:
    """Upper bound for integration tests that wait on the database (fails instead of hanging)."""
    return 60.0

