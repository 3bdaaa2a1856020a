"""Workers for the README's order graph that do their effect at the WRONG place, for the chaos kit to catch.

`check_inventory` performs its effect (here: the kit's effect row, standing for a payment call or a write
to another system) with its own autocommitted write, then works for `HMSH_CHAOS_WORK_S` seconds (0.5)
before it returns. A node killed in between has committed the effect but not the reply: the request is
redelivered after the lease, the callback runs again, and the effect happens twice. The other two workers
leave the effect to the kit, which commits it with their reply (exactly once).

Loaded by path (`tests/chaos/order_workers.py:EFFECT_BEFORE_REPLY`), so it imports nothing from tests/.
"""

from __future__ import annotations

import os
from typing import Any

import trio

from hotmesh_actors import StreamMessage, Worker
from hotmesh_actors.chaos import record_effect

WORK_S = float(os.environ.get("HMSH_CHAOS_WORK_S", "0.5"))


async def check_inventory(msg: StreamMessage) -> dict[str, Any]:
    await record_effect(msg)  # the effect, committed on its own: NOT with the reply
    await trio.sleep(WORK_S)  # a kill landing here doubles it
    return {"data": {"availableQty": 7}}


async def reserve_item(msg: StreamMessage) -> dict[str, Any]:
    return {"data": {"reservationId": f"res-{msg.data['itemId']}-{msg.metadata.jid[-6:]}"}}


async def notify_backorder(msg: StreamMessage) -> dict[str, Any]:
    return {"data": {}}


EFFECT_BEFORE_REPLY = [
    Worker("inventory.check", check_inventory),
    Worker("inventory.reserve", reserve_item),
    Worker("inventory.backorder.notify", notify_backorder),
]
