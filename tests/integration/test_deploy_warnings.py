"""HotMesh.deploy on a real mesh: ignored keys deploy with logged, returned warnings and change nothing;
`strict=True` or `Settings.strict_deploy` refuses them, and an explicit keyword wins over the setting."""

from __future__ import annotations

import logging
from typing import Any

import attrs
import pytest

from hotmesh_actors import DeployWarning, Worker
from hotmesh_actors.core.messages import StreamMessage
from hotmesh_actors.errors import GraphValidationError

from .conformance_kit import FAST, open_mesh


def manifest(app_id: str) -> str:
    return f"""app:
  id: {app_id}
  version: '1'
  graphs:
    - subscribes: {app_id}.start
      expire: 30
      inputs:
        schema: {{type: object}}
      activities:
        t1:
          type: trigger
        w1:
          type: worker
          topic: {app_id}.double
          input:
            maps:
              n: '{{t1.output.data.n}}'
          job:
            maps:
              doubled: '{{$self.output.data.doubled}}'
      transitions:
        t1:
          - to: w1
            code: 500
"""


async def double(msg: StreamMessage) -> dict[str, Any]:
    return {"data": {"doubled": msg.data["n"] * 2}}


async def test_deploy_logs_and_returns_warnings_and_the_ignored_keys_change_nothing(
    pg_dsn: str, app_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hotmesh_actors.deploy")
    async with open_mesh(app_id, pg_dsn, [Worker(f"{app_id}.double", double)]) as mesh:
        app = await mesh.deploy(manifest(app_id))
        assert [(w.file, w.line, w.column, w.path) for w in app.warnings] == [
            ("<inline>", 7, 7, "graphs[0].inputs"),
            ("<inline>", 24, 13, "graphs[0].transitions.t1[0].code"),
        ]
        assert all(isinstance(w, DeployWarning) for w in app.warnings)
        logged = [r for r in caplog.records if r.name == "hotmesh_actors.deploy"]
        assert [r.levelno for r in logged] == [logging.WARNING, logging.WARNING]
        assert f"app {app_id} v1: <inline>:7:7 graphs[0].inputs: ignored unknown key 'inputs'" in logged[0].getMessage()
        assert "graphs[0].transitions.t1[0].code" in logged[1].getMessage()
        assert await mesh.activate("1")
        # `code: 500` beside `to:` is ignored, as HotMesh ignores it: the worker's 200 still transitions.
        out = await mesh.pubsub(f"{app_id}.start", {"n": 21}, timeout=15)
        assert out["data"]["doubled"] == 42


async def test_strict_keyword_and_setting_refuse_and_the_keyword_wins(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn) as mesh:
        with pytest.raises(GraphValidationError, match=r"<inline>:7:7 graphs\[0\].inputs: unknown key 'inputs'"):
            await mesh.deploy(manifest(app_id), strict=True)
    async with open_mesh(app_id, pg_dsn, settings=attrs.evolve(FAST, strict_deploy=True)) as mesh:
        with pytest.raises(GraphValidationError, match="unknown key 'inputs'"):
            await mesh.deploy(manifest(app_id))
        app = await mesh.deploy(manifest(app_id), strict=False)
        assert len(app.warnings) == 2
