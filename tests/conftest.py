"""Test fixtures: the hotmesh_actors.testing plugin's (enabled in pyproject's addopts) under the names these
tests use, plus a connected Database. A real Postgres (HOTMESH_DSN, else the embedded default) with a fresh
database per session; a fresh app id per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hotmesh_actors.store.driver import Database


@pytest.fixture(scope="session")
def server_dsn(hotmesh_server_dsn: str) -> str:
    """The server under test (the plugin's `hotmesh_server_dsn`)."""
    return hotmesh_server_dsn


@pytest.fixture(scope="session")
def pg_dsn(hotmesh_dsn: str) -> str:
    """The session's fresh database (the plugin's `hotmesh_dsn`)."""
    return hotmesh_dsn


@pytest.fixture
def app_id(hotmesh_app_id: str) -> str:
    """A fresh app id per test (the plugin's `hotmesh_app_id`)."""
    return hotmesh_app_id


@pytest.fixture
async def db(pg_dsn: str) -> AsyncIterator[Database]:
    """A connected Database (trio side) for one test."""
    async with Database.open(pg_dsn, pool_size=10) as database:
        yield database


@pytest.fixture
def nursery_timeout() -> float:
    """Upper bound for integration tests that wait on the database (fails instead of hanging)."""
    return 60.0
