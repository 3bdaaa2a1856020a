"""A pytest plugin for testing your graphs and workers on a real Postgres; enable it per project.

    pytest -p hotmesh_actors.testing                      # on the command line, or
    addopts = "-p hotmesh_actors.testing"                 # [tool.pytest.ini_options] in pyproject.toml, or
    pytest_plugins = ["hotmesh_actors.testing"]           # in your top-level conftest.py

It is opt-in on purpose (no `pytest11` entry point): an entry point would load it into every pytest run
of every project that merely installs hotmesh_actors, adding fixture names (`mesh`, `hotmesh_dsn`) that may
clash with the project's own, and importing trio and the library where nobody asked for them.

Fixtures (async ones need pytest-trio: `trio_mode = true`, or mark the tests `@pytest.mark.trio`):

- `hotmesh_server_dsn` (session): HOTMESH_DSN, else the embedded Postgres started for the session.
- `hotmesh_dsn` (session): a fresh database on that server, dropped when the session ends.
- `hotmesh_app_id`: a fresh app id per test, so tests never see each other's rows.
- `hotmesh_settings`: the mesh settings tests use (1 s timer fidelity and fallback poll); override the
  fixture to change them.
- `mesh`: an open HotMesh on `hotmesh_dsn`, configured by the test's `@pytest.mark.hotmesh(...)` marker:
  `graph=` (a YAML file or inline YAML: deployed and activated under the test's app id), `workers=`,
  `engine=` (default True), `app_id=`, `settings=`.
- `mesh_factory`: `await mesh_factory(graph=..., workers=..., engine=..., app_id=..., settings=...)` opens
  more meshes (another process's role, a client without engine …), all closed after the test.

`hotmesh_actors.testing.strategies.delivery_schedules` and `hotmesh_actors.testing.schedule.ScheduleRunner`
test a graph under any delivery order, crashes and duplicates (docs/testing.md).
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import pytest
import trio

from hotmesh_actors.embedded import start_embedded, stop_embedded
from hotmesh_actors.mesh.hotmesh import HotMesh, MeshConfig
from hotmesh_actors.mesh.worker import Worker
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.driver import with_database
from hotmesh_actors.store.queries import quote_ident

TEST_SETTINGS = Settings(fidelity_seconds=1.0, fallback_poll_s=1.0)
"""Settings for tests: 1 s timer fidelity and a 1 s fallback poll, every other setting at its default."""

_APP_ID_LINE = re.compile(r"^(\s*)id:\s*\S+\s*$", re.M)


class MeshFactory(Protocol):
    """What the `mesh_factory` fixture returns."""

    def __call__(self, *, graph: str | None = None, workers: Sequence[Worker] = (), engine: bool = True,
                 app_id: str | None = None, settings: Settings | None = None) -> Awaitable[HotMesh]: ...


def graph_for_app(graph: str, app_id: str) -> str:
    """The YAML of `graph` (a file, or inline YAML starting with `app:`) as inline YAML for `app_id`.

    The first `id:` line after `app:` is replaced and comments before `app:` are dropped, so one graph
    file serves many tests, each with an app of its own. A graph whose `$ref`s point at other files must
    be deployed from its file instead (inline YAML has no directory to resolve them from).
    """
    text = graph if graph.lstrip().startswith("app:") else Path(graph).read_text("utf-8")
    text = text[text.index("app:"):]
    replaced, count = _APP_ID_LINE.subn(lambda match: f"{match.group(1)}id: {app_id}", text, count=1)
    if count != 1:
        raise ValueError(f"no app id line in {graph[:60]!r}")
    return replaced


def _admin(server_dsn: str, sql: str) -> None:
    """One administrative statement (CREATE/DROP DATABASE) on its own connection, outside any event loop."""
    async def run() -> None:
        conn = await asyncpg.connect(server_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.fixture(scope="session")
def hotmesh_server_dsn() -> Iterator[str]:
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
def hotmesh_dsn(hotmesh_server_dsn: str) -> Iterator[str]:
    """A fresh database on the server under test, dropped (connections and all) when the session ends."""
    name = f"hmtest_{uuid.uuid4().hex[:10]}"
    _admin(hotmesh_server_dsn, f"CREATE DATABASE {quote_ident(name)}")
    try:
        yield with_database(hotmesh_server_dsn, name)
    finally:
        _admin(hotmesh_server_dsn, f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")


@pytest.fixture
def hotmesh_app_id() -> str:
    """A fresh app id per test."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def hotmesh_settings() -> Settings:
    """The settings of the meshes the fixtures open; override this fixture to change them."""
    return TEST_SETTINGS


@pytest.fixture
async def mesh_factory(hotmesh_dsn: str, hotmesh_app_id: str, hotmesh_settings: Settings,
                       request: pytest.FixtureRequest) -> AsyncIterator[MeshFactory]:
    """Open meshes on `hotmesh_dsn` (see the module docstring); every one is stopped after the test.

    Each mesh is served in this fixture's nursery (`HotMesh.serve`), so a test may open one from any task.
    """
    root = Path(str(request.config.rootpath))
    async with trio.open_nursery() as nursery:
        async def open_mesh(*, graph: str | None = None, workers: Sequence[Worker] = (), engine: bool = True,
                            app_id: str | None = None, settings: Settings | None = None) -> HotMesh:
            app = app_id or hotmesh_app_id
            config = MeshConfig(app_id=app, dsn=hotmesh_dsn, workers=tuple(workers), engine=engine,
                                settings=settings or hotmesh_settings)
            mesh: HotMesh = await nursery.start(HotMesh.serve, config)
            if graph is not None:
                if not graph.lstrip().startswith("app:") and not Path(graph).exists() and (root / graph).exists():
                    graph = str(root / graph)  # a path relative to the project's root
                deployed = await mesh.deploy(graph_for_app(graph, app))
                if not await mesh.activate(deployed.version):
                    raise AssertionError(f"version {deployed.version} of {app} did not activate")
            return mesh

        yield open_mesh
        nursery.cancel_scope.cancel()


@pytest.fixture
async def mesh(mesh_factory: MeshFactory, request: pytest.FixtureRequest) -> HotMesh:
    """An open mesh configured by the test's `@pytest.mark.hotmesh(...)` marker (or a bare one)."""
    marker = request.node.get_closest_marker("hotmesh")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    return await mesh_factory(**options)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "hotmesh(graph=None, workers=(), engine=True, app_id=None, settings=None): "
                   "configure the `mesh` fixture of hotmesh_actors.testing")


__all__ = ["MeshFactory", "TEST_SETTINGS", "graph_for_app"]
