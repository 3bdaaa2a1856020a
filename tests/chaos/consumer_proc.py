"""A consumer process for chaos tests: handles stream `chaos`, recording attempts and effects.

Each message's effect is a row in `effects` inserted in the SAME transaction as its ack, so a process
killed at any instant either committed both or neither. `attempts` is written on its own, before the
effect, so redeliveries are visible.

Usage: python -m tests.chaos.consumer_proc DSN APP_ID LEASE_SECONDS HANDLER_SECONDS
"""

from __future__ import annotations

import sys

import trio

from hotmesh_actors.mesh.consumer import StreamConsumer
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.driver import Database, Statement
from hotmesh_actors.store.queries import app_schema, quote_ident
from hotmesh_actors.store.streams import ClaimedMessage, StreamKind, StreamStore


async def main(dsn: str, app_id: str, lease_s: float, handler_s: float) -> None:
    schema = quote_ident(app_schema(app_id))
    async with Database.open(dsn, pool_size=4) as db, db.listener() as listener:
        store = StreamStore(db, app_id, StreamKind.WORKER)

        async def handler(claimed: ClaimedMessage) -> list[Statement]:
            guid = claimed.message.metadata.guid
            await db.execute(f"INSERT INTO {schema}.attempts (guid) VALUES ($1)", guid)
            await trio.sleep(handler_s)
            return [Statement(f"INSERT INTO {schema}.effects (guid) VALUES ($1)", (guid,), "execute")]

        settings = Settings(reservation_timeout_s=lease_s, heartbeat_interval_s=lease_s / 3, batch_size=10,
                            fallback_poll_s=0.5)
        consumer = StreamConsumer(store=store, stream_name="chaos", handler=handler, settings=settings,
                                  listener=listener)
        async with trio.open_nursery() as nursery:
            await nursery.start(consumer.run)
            print("ready", flush=True)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
