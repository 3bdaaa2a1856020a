"""Retention: a graph's `expire` marks finished jobs; `prune` deletes what expired before the window."""

from __future__ import annotations

from hotmesh_actors import HotMesh, Settings
from hotmesh_actors.store.queries import app_schema


def _yaml(app_id: str) -> str:
    return f"""
app:
  id: {app_id}
  version: '1'
  graphs:
    - subscribes: r.test
      expire: 3600
      activities:
        t: {{type: trigger}}
"""


async def test_prune_deletes_only_what_expired_before_the_retention_window(pg_dsn: str, app_id: str) -> None:
    schema = app_schema(app_id)
    async with HotMesh.open(app_id=app_id, dsn=pg_dsn, settings=Settings(fallback_poll_s=1)) as mesh:
        await mesh.deploy(_yaml(app_id))
        await mesh.activate("1")
        old = (await mesh.pubsub("r.test", {}, timeout=5))["metadata"]["jid"]
        recent = (await mesh.pubsub("r.test", {}, timeout=5))["metadata"]["jid"]
        await mesh.db.execute(
            f"UPDATE {schema}.jobs SET expired_at = now() - interval '2 days' WHERE key LIKE '%:' || $1", old)
        await mesh.db.execute(f"UPDATE {schema}.engine_streams SET expired_at = now() - interval '2 days'")
        await mesh.db.execute(
            f"INSERT INTO {schema}.signal_registry (key, value, expiry) VALUES ('gone', 'x', now() - interval '1 s'),"
            " ('kept', 'y', now() + interval '1 hour')")

        counts = await mesh.prune("1 day")

        assert counts["jobs"] == 1 and counts["signals"] == 1
        assert counts["engine_streams"] >= 0
        remaining = await mesh.db.fetch(f"SELECT key FROM {schema}.jobs")
        assert [row["key"].rsplit(":", 1)[1] for row in remaining] == [recent]
        assert await mesh.db.fetchval(f"SELECT count(*) FROM {schema}.jobs_attributes a LEFT JOIN {schema}.jobs j"
                                      " ON j.id = a.job_id WHERE j.id IS NULL") == 0
        assert await mesh.db.fetchval(f"SELECT count(*) FROM {schema}.signal_registry") == 1
        assert await mesh.get_status(recent) == 0
        assert await mesh.prune("1 day") == {"jobs": 0, "engine_streams": 0, "worker_streams": 0, "signals": 0}
