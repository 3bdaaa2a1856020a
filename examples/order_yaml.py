"""The YAML order flow (graphs/order.yaml): check stock, then reserve the item or back-order it.

    python examples/order_yaml.py

Uses HOTMESH_DSN when set, else starts the embedded Postgres. It deploys and activates the graph, runs two
orders — one the stock covers (reserved) and one it does not (back-ordered) — and prints their outputs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import trio

from hotmesh_actors import HotMesh, Worker
from hotmesh_actors.core.messages import StreamMessage

GRAPH = Path(__file__).resolve().parents[1] / "graphs" / "order.yaml"
APP_ID = "orders"  # the id in graphs/order.yaml

STOCK: dict[str, int] = {"item-123": 7, "item-456": 2}


async def check_inventory(msg: StreamMessage) -> dict[str, Any]:
    """inventory.check: how many of the item are on hand."""
    return {"data": {"availableQty": STOCK.get(str(msg.data["itemId"]), 0)}}


async def reserve_item(msg: StreamMessage) -> dict[str, Any]:
    """inventory.reserve: take the quantity out of stock and hand back a reservation id."""
    item, quantity = str(msg.data["itemId"]), int(msg.data["quantity"])
    STOCK[item] -= quantity
    return {"data": {"reservationId": f"res-{item}-{msg.metadata.jid[-6:]}"}}


async def notify_backorder(msg: StreamMessage) -> dict[str, Any]:
    """inventory.backorder.notify: tell someone the order has to wait."""
    print(f"  (back-order notice: {msg.data['requestedQty']} x {msg.data['itemId']})")
    return {"data": {}}


WORKERS = [
    Worker("inventory.check", check_inventory),
    Worker("inventory.reserve", reserve_item),
    Worker("inventory.backorder.notify", notify_backorder),
]
"""The three workers, importable (`hotmesh chaos --workers examples/order_yaml.py:WORKERS`)."""


async def main() -> None:
    async with HotMesh.open(app_id=APP_ID, dsn=os.environ.get("HOTMESH_DSN"), workers=WORKERS) as mesh:
        app = await mesh.deploy(str(GRAPH))
        await mesh.activate(app.version)
        for order in ({"itemId": "item-123", "requestedQty": 5}, {"itemId": "item-456", "requestedQty": 5}):
            output = await mesh.pubsub("order.requested", order, timeout=10)
            print(f"order {order} -> job {output['metadata']['jid']}")
            print("  " + json.dumps(output["data"], sort_keys=True))
        print(f"stock left: {STOCK}")


if __name__ == "__main__":
    trio.run(main)
