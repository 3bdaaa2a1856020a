"""hotmesh_actors.testing, the pytest plugin: its fixtures in our own tests (pyproject enables it), and in a
user's project run in a subprocess, where it must be asked for (`-p hotmesh_actors.testing`) and its
session database is dropped afterwards."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hotmesh_actors import HotMesh, StreamMessage, Worker
from hotmesh_actors.testing import MeshFactory, graph_for_app

from .conformance_kit import GRAPHS, ROOT


async def check(msg: StreamMessage) -> dict[str, Any]:
    return {"data": {"availableQty": 9}}


async def reserve(msg: StreamMessage) -> dict[str, Any]:
    return {"data": {"reservationId": "r-1"}}


ORDER_WORKERS = [Worker("inventory.check", check), Worker("inventory.reserve", reserve)]


@pytest.mark.hotmesh(graph="graphs/order.yaml", workers=ORDER_WORKERS)
async def test_the_marker_configures_the_mesh_fixture(mesh: HotMesh, hotmesh_app_id: str) -> None:
    assert mesh.app_id == hotmesh_app_id and mesh.engine is not None
    assert [actor.worker.topic for actor in mesh.workers] == ["inventory.check", "inventory.reserve"]
    out = await mesh.pubsub("order.requested", {"itemId": "item-1", "requestedQty": 5}, timeout=15)
    assert out["data"]["status"] == "reserved" and out["data"]["reservationId"] == "r-1"


async def test_a_bare_mesh_fixture_is_an_open_mesh_with_no_app_deployed(mesh: HotMesh, hotmesh_dsn: str) -> None:
    assert mesh.db.dsn == hotmesh_dsn and mesh.workers == []
    assert await mesh.activate("1") is False


async def test_the_factory_opens_several_meshes_of_one_app(mesh_factory: MeshFactory) -> None:
    client = await mesh_factory(graph="graphs/order.yaml", engine=False)
    await mesh_factory(workers=ORDER_WORKERS)  # another "process": engine and workers
    assert client.engine is None
    out = await client.pubsub("order.requested", {"itemId": "item-1", "requestedQty": 5}, timeout=15)
    assert out["data"]["status"] == "reserved"


def test_graph_for_app_rewrites_only_the_app_id(tmp_path: Path) -> None:
    text = graph_for_app(str(GRAPHS / "order.yaml"), "mine")
    assert text.startswith("app:\n  id: mine\n") and "subscribes: order.requested" in text
    assert graph_for_app(text, "yours").startswith("app:\n  id: yours\n")
    with pytest.raises(ValueError, match="no app id line"):
        graph_for_app("app:\n  version: '1'\n", "x")


DOCS = ROOT / "docs" / "testing.md"
EXAMPLE = re.compile(r"<!-- docs-example: (\S+) -->\n```python\n(.*?)```", re.S)

DATABASE_PROBE = """
from urllib.parse import urlsplit

def test_database_name(hotmesh_dsn):
    print("DATABASE", urlsplit(hotmesh_dsn).path.lstrip("/"))
"""


def _user_project(tmp_path: Path) -> Path:
    """A user's project: pytest-trio on, the order graph, and the test files docs/testing.md shows."""
    project = tmp_path / "userproject"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.pytest.ini_options]\ntrio_mode = true\n", "utf-8")
    (project / "order.yaml").write_text((GRAPHS / "order.yaml").read_text("utf-8"), "utf-8")
    examples = EXAMPLE.findall(DOCS.read_text("utf-8"))
    assert [name for name, _ in examples] == ["test_orders.py", "test_schedules.py"]
    for name, code in examples:
        (project / name).write_text(code, "utf-8")
    (project / "test_probe.py").write_text(DATABASE_PROBE, "utf-8")
    return project


def _pytest(project: Path, *args: str, dsn: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOTMESH_DSN": dsn, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", *args],
                          cwd=project, env=env, capture_output=True, text=True, timeout=180, check=False)


async def _database_exists(server_dsn: str, name: str) -> bool:
    conn = await asyncpg.connect(server_dsn)
    try:
        return bool(await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


def test_the_docs_examples_pass_in_a_users_project_that_enables_the_plugin(tmp_path: Path, server_dsn: str) -> None:
    project = _user_project(tmp_path)
    without = _pytest(project, dsn=server_dsn)
    assert without.returncode != 0 and "fixture 'mesh' not found" in without.stdout  # opt-in: not loaded
    enabled = _pytest(project, "-p", "hotmesh_actors.testing", dsn=server_dsn)
    assert enabled.returncode == 0, enabled.stdout + enabled.stderr
    assert "4 passed" in enabled.stdout  # two order tests, the schedule property, the probe
    name = enabled.stdout.split("DATABASE ", 1)[1].split()[0]
    assert name.startswith("hmtest_")
    assert asyncio.run(_database_exists(server_dsn, name)) is False
