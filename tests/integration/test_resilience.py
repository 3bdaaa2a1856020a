"""The mesh survives its database connections being cut mid-flight: steps retry, nothing is lost.

Postgres terminates every backend of the test database (as a server restart or a failover would) while
workflows are in flight; every workflow still completes, each worker step's effect is committed once, and the
mesh keeps serving afterwards.
"""

from __future__ import annotations

from typing import Any

import trio

from hotmesh_actors import HotMesh, Settings, StreamMessage, Worker
from hotmesh_actors.store.driver import Statement
from hotmesh_actors.testing import graph_for_app

from .conformance_kit import ROOT

EFFECTS = "CREATE TABLE IF NOT EXISTS resilience_effects (jid text, aid text)"


async def test_workflows_complete_when_every_connection_is_cut_mid_flight(pg_dsn: str, app_id: str) -> None:
    async def step(message: StreamMessage) -> Any:
        from hotmesh_actors.mesh.worker import StreamResponse

        await trio.sleep(0.01)
        return StreamResponse(data={"done": True, "step": message.data.get("step", 0)},
                              statements=[Statement("INSERT INTO resilience_effects VALUES ($1, $2)",
                                                    (message.metadata.jid, message.metadata.aid), "execute")])

    workers = [Worker(f"chaos.s{k}", step) for k in range(1, 6)]
    async with HotMesh.open(app_id=app_id, dsn=pg_dsn, workers=workers,
                            settings=Settings(fallback_poll_s=1, reservation_timeout_s=3)) as mesh:
        await mesh.db.execute(EFFECTS)
        await mesh.deploy(graph_for_app(str(ROOT / "tests" / "chaos" / "graphs" / "sequence5.yaml"), app_id))
        await mesh.activate("1")
        done: list[str] = []

        async def one(n: int) -> None:
            output = await mesh.pubsub("chaos.sequence", {"n": n}, timeout=60)
            done.append(output["metadata"]["jid"])

        with trio.fail_after(90):
            async with trio.open_nursery() as nursery:
                for n in range(40):
                    nursery.start_soon(one, n)
                await trio.sleep(0.2)
                cut = await mesh.db.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        assert cut >= 1
        assert len(done) == 40
        rows = await mesh.db.fetch(
            "SELECT jid, aid, count(*) AS n FROM resilience_effects WHERE jid = ANY($1::text[]) GROUP BY 1, 2",
            done)
        assert len(rows) == 40 * 5 and all(row["n"] == 1 for row in rows)
        assert (await mesh.pubsub("chaos.sequence", {"n": 99}, timeout=30))["data"]["done"] == 5
