"""Workers for `tests/chaos/graphs/sequence5.yaml`: the five `chaos.s<k>` topics, each replying `{step}`.

Each callback works for `HMSH_CHAOS_WORK_S` seconds (0.02) before it replies, so a kill often lands while
requests are in flight. The chaos kit wraps them: their effect commits with their reply. Loaded by path
(`tests/chaos/sequence_workers.py:WORKERS`), so it imports nothing from tests/.
"""

from __future__ import annotations

import os
from typing import Any

import trio

from hotmesh_actors import StreamMessage, Worker

STEPS = 5
WORK_S = float(os.environ.get("HMSH_CHAOS_WORK_S", "0.02"))


async def step(message: StreamMessage) -> dict[str, Any]:
    if WORK_S > 0:
        await trio.sleep(WORK_S)
    return {"data": {"step": message.data["step"]}}


WORKERS = [Worker(f"chaos.s{k}", step) for k in range(1, STEPS + 1)]
