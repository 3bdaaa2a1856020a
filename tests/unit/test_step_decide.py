"""The engine's pure step (core/step.py): a job's state and the messages that reached it → a Decision.

No I/O: jobs are built by the trigger, messages by hand, as the Stepper and the schedule runner hand them
over. What is shown: a reply completes its activity and spawns the next one's request; a replayed reply is
dropped and changes nothing; a reply before its request was sent is re-offered; several replies decided
together leave the same state as one at a time; an interrupt ends the job and purges its rows; a child's
start derives its id from the parent's `await` message, and a detached child answers its parent at once;
a signal is addressed to the registration it was routed to.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from hotmesh_actors import compile_app
from hotmesh_actors.core.activities.base import Verdict
from hotmesh_actors.core.activities.context import EngineSettings
from hotmesh_actors.core.activities.dispatch import run_transitions
from hotmesh_actors.core.activities.effects import Publish, PurgeJob, StreamTarget
from hotmesh_actors.core.activities.trigger import start_job
from hotmesh_actors.core.jobstate import JobState
from hotmesh_actors.core.messages import MessageMetadata, MessageStatus, MessageType, StreamMessage
from hotmesh_actors.core.pipe import PipeEnv
from hotmesh_actors.core.step import (
    child_job_id,
    decide,
    decide_interrupt,
    routed_signal,
    signal_target,
    start_child,
)

ENV = PipeEnv(now_ms=1_700_000_000_000, random=lambda: 0.5)
SETTINGS = EngineSettings()

APP = compile_app("""
app:
  id: d
  version: '1'
  graphs:
    - subscribes: seq
      activities:
        t: {type: trigger}
        a: {type: worker, topic: w.a, job: {maps: {a: '{$self.output.data.v}'}}}
        b: {type: worker, topic: w.b, job: {maps: {b: '{$self.output.data.v}'}}}
      transitions:
        t: [{to: a}]
        a: [{to: b}]
    - subscribes: fan
      activities:
        f: {type: trigger}
        p1: {type: worker, topic: w.p, job: {maps: {p1: '{$self.output.data.v}'}}}
        p2: {type: worker, topic: w.p, job: {maps: {p2: '{$self.output.data.v}'}}}
        p3: {type: worker, topic: w.p, job: {maps: {p3: '{$self.output.data.v}'}}}
      transitions:
        f: [{to: p1}, {to: p2}, {to: p3}]
    - subscribes: parent
      activities:
        pt: {type: trigger}
        call: {type: await, topic: seq, await: false}
      transitions:
        pt: [{to: call}]
""")


def _ids() -> Callable[[], str]:
    counter = itertools.count()
    return lambda: f"G{next(counter):05d}"


def _started(topic: str) -> tuple[JobState, list[StreamMessage]]:
    """A job as `pub` leaves it (state committed, clean), and the worker requests it published."""
    ctx = start_job(APP, topic, {"n": 1}, env=ENV, new_guid=_ids(), settings=SETTINGS, job_id="J1")
    run_transitions(ctx)
    requests = [e.message for e in ctx.effects if isinstance(e, Publish) and e.target is StreamTarget.WORKER]
    ctx.job.clean()
    return ctx.job, requests


def _reply(request: StreamMessage, value: str, guid: str) -> StreamMessage:
    meta = request.metadata
    return StreamMessage(metadata=MessageMetadata(guid=guid, jid=meta.jid, gid=meta.gid, dad=meta.dad, aid=meta.aid),
                         type=MessageType.RESPONSE, data={"v": value})


def test_a_reply_completes_its_activity_and_sends_the_next_request() -> None:
    job, [request] = _started("seq")
    decision = decide(APP, job, [_reply(request, "x", "R1")], env=ENV, new_guid=_ids(), settings=SETTINGS)
    assert [o.verdict for o in decision.outcomes] == [Verdict.DONE]
    assert decision.changed and not decision.completed
    [next_request] = [e.message for e in decision.effects if isinstance(e, Publish)]
    assert next_request.metadata.aid == "b" and next_request.type is MessageType.WORKER
    assert job.data["a"] == "x"
    assert "a,0,0" in job.patch() and "data" in job.patch() and "R1" in job.patch()


def test_a_replayed_reply_is_dropped_and_changes_nothing() -> None:
    job, [request] = _started("seq")
    reply = _reply(request, "x", "R1")
    decide(APP, job, [reply], env=ENV, new_guid=_ids(), settings=SETTINGS)
    job.clean()
    before = copy.deepcopy(job.document())
    status = job.status
    again = decide(APP, job, [reply], env=ENV, new_guid=_ids(), settings=SETTINGS)
    assert [o.verdict for o in again.outcomes] == [Verdict.DROP]
    assert not again.changed and again.effects == []
    assert job.document() == before and job.status == status


def test_a_reply_before_its_request_was_sent_is_offered_again() -> None:
    job, [request] = _started("seq")
    early = StreamMessage(metadata=attrs_evolve(request.metadata, aid="b", guid="E1"), type=MessageType.RESPONSE)
    decision = decide(APP, job, [early], env=ENV, new_guid=_ids(), settings=SETTINGS)
    assert [o.verdict for o in decision.outcomes] == [Verdict.RETRY]
    assert decision.retry_later == [early]


def attrs_evolve(meta: MessageMetadata, **changes: str) -> MessageMetadata:
    import attrs

    return attrs.evolve(meta, **changes)


@given(order=st.permutations([0, 1, 2]), together=st.booleans())
def test_replies_decided_together_leave_the_state_one_at_a_time_would(order: list[int], together: bool) -> None:
    job, requests = _started("fan")
    replies = [_reply(requests[i], f"v{i}", f"R{i}") for i in order]
    if together:
        decisions = [decide(APP, job, replies, env=ENV, new_guid=_ids(), settings=SETTINGS)]
    else:
        decisions = [decide(APP, job, [r], env=ENV, new_guid=_ids(), settings=SETTINGS) for r in replies]
    assert job.status == 0 and sum(d.completed for d in decisions) == 1
    assert job.data == {"p1": "v0", "p2": "v1", "p3": "v2"}


def test_an_interrupt_ends_the_job_purges_its_rows_and_a_second_one_is_refused() -> None:
    job, _ = _started("seq")
    decision = decide_interrupt(APP, job, env=ENV, new_guid=_ids(), settings=SETTINGS, reason="stop", code=410,
                                throw=True, expire_s=1.0)
    assert decision.completed and decision.changed
    assert job.status < -100_000_000 and PurgeJob(jid="J1") in decision.effects
    job.clean()
    again = decide_interrupt(APP, job, env=ENV, new_guid=_ids(), settings=SETTINGS, reason=None, code=410,
                             throw=True, expire_s=None)
    assert [o.verdict for o in again.outcomes] == [Verdict.DROP] and not again.changed


def test_a_child_id_derives_from_the_await_message_and_a_detached_child_answers_at_once() -> None:
    parent, _ = _started("parent")
    [await_message] = [m for m in _parent_awaits()]
    child = start_child(APP, await_message, env=ENV, new_guid=_ids(), settings=SETTINGS)
    assert child.step.job.jid == child_job_id(await_message.metadata.guid) == child_job_id(await_message.metadata.guid)
    assert child.step.job.metadata["pj"] == parent.jid
    reply = child.reply_to_parent
    assert reply is not None and reply.type is MessageType.RESULT and reply.data["job_id"] == child.step.job.jid
    assert reply.metadata.aid == "call" and reply.status is MessageStatus.SUCCESS


def _parent_awaits() -> list[StreamMessage]:
    ctx = start_job(APP, "parent", {}, env=ENV, new_guid=_ids(), settings=SETTINGS, job_id="J1")
    run_transitions(ctx)
    return [e.message for e in ctx.effects if isinstance(e, Publish) and e.message.type is MessageType.AWAIT]


def test_a_signal_goes_to_the_registration_it_was_routed_to() -> None:
    signal = StreamMessage(metadata=MessageMetadata(guid="S1", topic="go"), type=MessageType.WEBHOOK, data={"id": 1})
    routed = routed_signal(signal, "hook1::,0,0::G7::J9")
    assert signal_target("hook1::,0,0::G7::J9") == ("hook1", ",0,0", "G7", "J9")
    meta = routed.metadata
    assert (meta.aid, meta.dad, meta.gid, meta.jid, meta.guid) == ("hook1", ",0,0", "G7", "J9", "S1")
    assert routed.data == signal.data
