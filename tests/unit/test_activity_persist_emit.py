"""Pure checks of emit/persist: interim announcements without closing the job."""

from __future__ import annotations

import itertools

from hotmesh_actors import compile_app
from hotmesh_actors.core.activities.context import StepContext
from hotmesh_actors.core.activities.dispatch import run_message, run_transitions
from hotmesh_actors.core.activities.effects import Notify, Publish
from hotmesh_actors.core.activities.trigger import start_job
from hotmesh_actors.core.keys import quorum_channel
from hotmesh_actors.core.messages import MessageMetadata, MessageType, StreamMessage
from hotmesh_actors.core.pipe import PipeEnv

ENV = PipeEnv(now_ms=1_700_000_000_000, random=lambda: 0.5)


def _yaml(flag: str) -> str:
    return f"""
app:
  id: p
  version: '1'
  graphs:
    - subscribes: p.test
      publishes: p.done
      activities:
        t: {{type: trigger}}
        w: {{type: worker, topic: work, {flag}: true, job: {{maps: {{x: '{{$self.output.data.x}}'}}}}}}
        h: {{type: hook, hook: {{type: object}}}}
      transitions:
        t: [{{to: w}}]
        w: [{{to: h}}]
      hooks:
        p.go:
          - to: h
            conditions: {{match: [{{expected: '{{$job.metadata.jid}}', actual: '{{$self.hook.data.id}}'}}]}}
"""


def _run(flag: str) -> StepContext:
    app = compile_app(_yaml(flag))
    counter = itertools.count()
    ids = lambda: f"g{next(counter)}"  # noqa: E731
    ctx = start_job(app, "p.test", {}, env=ENV, new_guid=ids, engine_guid="NGN")
    run_transitions(ctx)
    request = next(e.message for e in ctx.effects if isinstance(e, Publish))
    reply = StreamMessage(metadata=MessageMetadata(guid="r", jid=request.metadata.jid, gid=request.metadata.gid,
                                                   dad=request.metadata.dad, aid="w"),
                          type=MessageType.RESPONSE, data={"x": 1})
    step = StepContext(app=app, job=ctx.job, env=ENV, new_guid=ids)
    run_message(step, reply)
    return step


def test_persist_announces_the_result_to_the_waiter_but_keeps_the_job_open() -> None:
    step = _run("persist")
    channels = [e.channel for e in step.effects if isinstance(e, Notify)]
    assert quorum_channel("p", "NGN") in channels  # the pubsub waiter hears it
    assert step.job.status == 1 and not step.completed  # the hook still waits


def test_emit_announces_to_subscribers_only() -> None:
    step = _run("emit")
    channels = [e.channel for e in step.effects if isinstance(e, Notify)]
    assert quorum_channel("p", "NGN") not in channels
    assert any(c.startswith(quorum_channel("p", "p.done.")) for c in channels)
    assert step.job.status == 1 and not step.completed
