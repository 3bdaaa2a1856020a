"""Which transitions a reply follows (HotMesh's reentrant/Durable app relies on it).

HotMesh compiles a transition written without `conditions` to `true`: it is followed whatever the reply's
code. Its Durable graph sends an activity's worker reply `status: success, code: 599` ("retry") down the
unconditional edge to a `cycle`, and the function runs again. An error reply still needs a transition whose
`conditions.code` matches; without one it ends the job (tests/conformance/test_status.py). Our own YAML.
"""

from __future__ import annotations

from typing import Any

from hotmesh_actors import StreamMessage, Worker
from tests.integration.activities_kit import app_yaml, open_mesh

JSON = Any

GRAPH = """
- subscribes: relay.start
  expire: 60
  activities:
    begin:
      type: trigger
    lap:
      type: hook
      cycle: true
    call:
      type: worker
      topic: relay.work
      job:
        maps:
          attempts: '{$self.output.data.attempts}'
          last_code: '{$self.output.data.code}'
    review:
      type: hook
    again:
      type: cycle
      ancestor: lap
    finish:
      type: hook
      job:
        maps:
          finished: true
  transitions:
    begin:
      - to: lap
    lap:
      - to: call
    call:
      - to: review
    review:
      - to: again
        conditions:
          match:
            - expected: true
              actual: '{call.output.data.retry}'
      - to: finish
        conditions:
          match:
            - expected: false
              actual: '{call.output.data.retry}'
"""


class Flaky:
    """Answers `success` with code 599 ("try again", as HotMesh's Durable activity worker does) twice."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, msg: StreamMessage) -> JSON:
        self.calls += 1
        retry = self.calls < 3
        code = 599 if retry else 200
        return {"status": "success", "code": code, "metadata": {**msg.metadata},
                "data": {"attempts": self.calls, "code": code, "retry": retry}}


async def test_a_success_with_any_code_follows_an_unconditional_transition(pg_dsn: str, app_id: str) -> None:
    """HotMesh reentrant 'should PROXY, exit, reenter, complete': the 599 replies go down `call → review`
    (no conditions) and cycle back; the third call answers 200 and the job finishes."""
    worker = Flaky()
    async with open_mesh(app_id, pg_dsn, app_yaml(app_id, GRAPH), workers=[Worker("relay.work", worker)]) as mesh:
        output = await mesh.pubsub("relay.start", {}, timeout=20)
    assert output["data"] == {"attempts": 3, "last_code": 200, "finished": True}
    assert output["metadata"]["js"] == 0
    assert "err" not in output["metadata"]
    assert worker.calls == 3
