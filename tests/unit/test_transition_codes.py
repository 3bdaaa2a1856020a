"""Pure checks of which transitions a reply follows, by its status and code, and of what a publication names.

HotMesh compiles a transition written without `conditions` to `true`, so it is followed whatever the
reply's code: a worker's success with code 599 (HotMesh's Durable "retry" code) cycles on like a 200. An
error reply is routed only by a transition whose `conditions.code` names it, else it ends the job.
"""

from __future__ import annotations

import itertools
import json

from hypothesis import given
from hypothesis import strategies as st

from hotmesh_actors import compile_app
from hotmesh_actors.core.activities.context import StepContext
from hotmesh_actors.core.activities.dispatch import run_message, run_transitions
from hotmesh_actors.core.activities.effects import Notify, Publish
from hotmesh_actors.core.activities.trigger import start_job
from hotmesh_actors.core.graph import AppVersion
from hotmesh_actors.core.keys import PUBLISHED_TOPIC, quorum_channel
from hotmesh_actors.core.messages import MessageMetadata, MessageStatus, MessageType, StreamMessage
from hotmesh_actors.core.pipe import PipeEnv

ENV = PipeEnv(now_ms=1_700_000_000_000, random=lambda: 0.5)

GRAPH = """
app:
  id: codes
  version: '1'
  graphs:
    - subscribes: codes.start
      publishes: codes.done
      activities:
        start: {type: trigger}
        ask:
          type: worker
          topic: codes.work
          job: {maps: {answer: '{$self.output.data.answer}'}}
        onward:
          type: hook
          job: {maps: {onward: true}}
        caught:
          type: hook
          job: {maps: {caught: '{ask.output.data.message}'}}
      transitions:
        start: [{to: ask}]
        ask:
          - to: onward
          - to: caught
            conditions: {code: 422}
"""

APP: AppVersion = compile_app(GRAPH)


def _reply(status: MessageStatus, code: int, data: dict[str, object]) -> StepContext:
    """Start a job, then give the worker activity one reply; the step that handled it."""
    counter = itertools.count()

    def ids() -> str:
        return f"g{next(counter)}"

    ctx = start_job(APP, "codes.start", {}, env=ENV, new_guid=ids)
    run_transitions(ctx)
    request = next(e.message for e in ctx.effects if isinstance(e, Publish))
    reply = StreamMessage(metadata=MessageMetadata(guid="reply", jid=request.metadata.jid, gid=request.metadata.gid,
                                                   dad=request.metadata.dad, aid="ask"),
                          type=MessageType.RESPONSE, data=data, status=status, code=code)
    step = StepContext(app=APP, job=ctx.job, env=ENV, new_guid=ids)
    run_message(step, reply)
    return step


def _entered(step: StepContext) -> set[str]:
    return set(step.job.activities) - {"start", "ask"}


def test_a_success_with_a_non_200_code_follows_the_unconditional_transition() -> None:
    step = _reply(MessageStatus.SUCCESS, 599, {"answer": "retry later"})
    assert _entered(step) == {"onward"}
    assert step.completed and step.job.status == 0
    assert step.job.data == {"answer": "retry later", "onward": True}
    assert "err" not in step.job.metadata


def test_a_pending_reply_follows_the_unconditional_transition_and_stays_open() -> None:
    step = _reply(MessageStatus.PENDING, 202, {"answer": "half way"})
    assert _entered(step) == {"onward"}
    assert not step.completed and step.job.status == 1  # the worker activity waits for its final reply


def test_an_error_reply_skips_the_unconditional_transition_and_ends_the_job() -> None:
    step = _reply(MessageStatus.ERROR, 500, {"message": "boom"})
    assert _entered(step) == set()
    assert step.completed and step.job.status == 0
    assert json.loads(step.job.metadata["err"])["code"] == 500


def test_an_error_reply_with_a_routed_code_takes_only_its_transition() -> None:
    step = _reply(MessageStatus.ERROR, 422, {"message": "invalid input"})
    assert _entered(step) == {"caught"}
    assert step.job.data["caught"] == "invalid input"
    assert "err" not in step.job.metadata


@given(code=st.integers(min_value=100, max_value=999).filter(lambda code: code != 202),
       status=st.sampled_from([MessageStatus.SUCCESS, MessageStatus.ERROR]))
def test_the_unconditional_transition_is_taken_exactly_when_the_reply_is_not_an_error(
        code: int, status: MessageStatus) -> None:
    step = _reply(status, code, {"message": "m"})
    entered = _entered(step)
    assert ("onward" in entered) is (status is not MessageStatus.ERROR)
    assert ("caught" in entered) is (code == 422)


def test_a_publication_names_the_publishes_topic_on_the_job_channel() -> None:
    """HotMesh's message shape: `{type: 'job', topic: <publishes>, job}` on the channel `<publishes>.<jid>`."""
    step = _reply(MessageStatus.SUCCESS, 200, {"answer": 42})
    jid = step.job.jid
    notices = {e.channel: json.loads(e.payload) for e in step.effects if isinstance(e, Notify)}
    own = notices[quorum_channel("codes", f"codes.done.{jid}")]
    assert own["topic"] == "codes.done"
    assert own["job"]["metadata"]["jid"] == jid and own["job"]["data"]["answer"] == 42
    assert notices[quorum_channel("codes", PUBLISHED_TOPIC)] == own
