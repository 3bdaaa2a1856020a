"""`HotMesh.serve` runs a mesh inside the caller's nursery, configured by `open`'s keywords or one MeshConfig."""

from __future__ import annotations

import functools
from typing import Any

import pytest
import trio

from hotmesh_actors import HotMesh, MeshConfig, Worker
from hotmesh_actors.core.messages import StreamMessage
from hotmesh_actors.errors import ConfigurationError
from hotmesh_actors.store.driver import Database

from . import collation_kit as K

GRAPHS = """
- subscribes: s.start
  activities:
    t1:
      type: trigger
    a1:
      type: worker
      topic: s.work
      input:
        maps:
          n: '{t1.output.data.n}'
      job:
        maps:
          n: '{$self.output.data.n}'
  transitions:
    t1:
      - to: a1
"""


async def _increment(msg: StreamMessage) -> dict[str, Any]:
    return {"data": {"n": msg.data["n"] + 1}}


async def _exercise(mesh: HotMesh, app_id: str) -> None:
    assert mesh.app_id == app_id
    await mesh.deploy(K.app_yaml(app_id, GRAPHS))
    assert await mesh.activate("1")
    assert (await mesh.pubsub("s.start", {"n": 1}, timeout=10))["data"] == {"n": 2}


async def _connections(pg_dsn: str, app_id: str) -> list[str]:
    async with Database.open(pg_dsn) as db:
        rows = await db.fetch("SELECT guid FROM public.hmsh_connections WHERE app_id = $1", app_id)
    return [row["guid"] for row in rows]


async def test_serve_with_open_keywords_via_partial(pg_dsn: str, app_id: str) -> None:
    async with trio.open_nursery() as nursery:
        mesh = await nursery.start(functools.partial(
            HotMesh.serve, app_id=app_id, dsn=pg_dsn, workers=[Worker("s.work", _increment)],
            settings=K.settings(), guid="serve-keywords"))
        assert isinstance(mesh, HotMesh) and mesh.guid == "serve-keywords" and mesh.engine is not None
        await _exercise(mesh, app_id)
        assert "serve-keywords" in await _connections(pg_dsn, app_id)
        nursery.cancel_scope.cancel()  # cancelling the caller's nursery stops the mesh
    assert mesh._nursery is None


async def test_serve_with_a_mesh_config(pg_dsn: str, app_id: str) -> None:
    config = MeshConfig(app_id=app_id, dsn=pg_dsn, workers=[Worker("s.work", _increment)], settings=K.settings())
    async with trio.open_nursery() as nursery:
        mesh = await nursery.start(HotMesh.serve, config)
        await _exercise(mesh, app_id)
        nursery.cancel_scope.cancel()
    assert mesh._nursery is None


async def test_serve_keywords_keep_open_defaults(pg_dsn: str, app_id: str) -> None:
    async with trio.open_nursery() as nursery:
        client = await nursery.start(functools.partial(HotMesh.serve, app_id=app_id, dsn=pg_dsn, engine=False))
        assert client.engine is None and client.workers == []
        server = await nursery.start(functools.partial(HotMesh.serve, app_id=app_id, dsn=pg_dsn,
                                                       workers=(Worker("s.work", _increment),),
                                                       settings=K.settings()))
        assert server.engine is not None and len(server.workers) == 1
        await server.deploy(K.app_yaml(app_id, GRAPHS))
        assert await server.activate("1")
        assert (await client.pubsub("s.start", {"n": 41}, timeout=10))["data"] == {"n": 42}
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("call, message", [
    (lambda app_id, dsn: functools.partial(HotMesh.serve, MeshConfig(app_id=app_id), dsn=dsn), "or the other"),
    (lambda app_id, dsn: functools.partial(HotMesh.serve, MeshConfig(app_id=app_id), app_id=app_id), "or the other"),
    (lambda app_id, dsn: HotMesh.serve, "needs app_id="),
    (lambda app_id, dsn: functools.partial(HotMesh.serve, dsn=dsn), "needs app_id="),
    (lambda app_id, dsn: functools.partial(HotMesh.serve, app_id), "positional argument"),
    (lambda app_id, dsn: functools.partial(HotMesh.serve, app_id=app_id, dsn=dsn, workers=["s.work"]),
     "Worker instances"),
], ids=["config-and-dsn", "config-and-app_id", "nothing", "no-app_id", "app_id-positional", "bad-worker"])
async def test_serve_refuses_neither_or_both_with_a_clear_error(pg_dsn: str, app_id: str, call: Any,
                                                                message: str) -> None:
    async with trio.open_nursery() as nursery:
        with pytest.raises(ConfigurationError, match=message):
            await nursery.start(call(app_id, pg_dsn))
    assert await _connections(pg_dsn, app_id) == []  # refused before connecting: nothing registered
    async with Database.open(pg_dsn) as db:
        assert await db.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", app_id) == 0
