"""One step of a job, decided: its state and the messages that reached it → what to write and send.

The engine's only decision point (DESIGN §1, "core/ decides"): the I/O layer hands it a job's current
state and the messages addressed to that job, in order, and gets back a :class:`Decision`: the state
changes (left on the JobState as its dirty keys, semaphore delta and expiry), the effects to carry out in the
same transaction, and what to do with each message (processed, dropped as a replay, or re-offered later).
Starting a job (`pub`, or a parent's `await`) is decided here too, as is where a signal goes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from hotmesh_actors.core.activities.base import Outcome, Verdict
from hotmesh_actors.core.activities.context import EngineSettings, StepContext
from hotmesh_actors.core.activities.dispatch import run_message, run_transitions
from hotmesh_actors.core.activities.effects import Effect
from hotmesh_actors.core.activities.interrupt import interrupt_job
from hotmesh_actors.core.activities.trigger import Lineage, start_job
from hotmesh_actors.core.graph.model import AppVersion
from hotmesh_actors.core.jobstate import JobState
from hotmesh_actors.core.messages import MessageMetadata, MessageType, StreamMessage
from hotmesh_actors.core.pipe import PipeEnv

JSON = Any

RETRY_EARLY_S = 0.5
"""Delay before re-offering a Leg-2 message that arrived before its Leg 1 committed."""


@attrs.frozen
class Decision:
    """What one step decided for one job.

    `outcomes[i]` is the verdict on `messages[i]`. The job's state changes stay on the JobState (its dirty
    keys, `status_delta`, `expire_s`); `changed` says whether there are any. `effects` go out in the same
    transaction; `retry_later` are messages to re-offer after `RETRY_EARLY_S` (they arrived too early).
    """

    outcomes: list[Outcome]
    effects: list[Effect]
    retry_later: list[StreamMessage]
    changed: bool
    completed: bool
    """True when this step ran the job's completion tasks (it finished, failed or was interrupted)."""


def decide(app: AppVersion, job: JobState, messages: Sequence[StreamMessage], *, env: PipeEnv,
           new_guid: Callable[[], str], settings: EngineSettings) -> Decision:
    """Run each message against the job, in order (each sees the state the previous one left).

    Raises whatever the activity code raises (a bug or a graph the core cannot run): the caller then
    discards the job's state and retries the messages one at a time, so one bad message is isolated.
    """
    outcomes: list[Outcome] = []
    effects: list[Effect] = []
    retry_later: list[StreamMessage] = []
    completed = False
    for message in messages:
        ctx = StepContext(app=app, job=job, env=env, new_guid=new_guid, settings=settings)
        outcome = run_message(ctx, message)
        outcomes.append(outcome)
        if outcome.verdict is Verdict.DONE:
            effects.extend(ctx.effects)
            completed = completed or ctx.completed
        elif outcome.verdict is Verdict.RETRY:
            retry_later.append(message)
    changed = bool(job.dirty) or job.status_delta != 0 or job.expire_s is not None
    return Decision(outcomes=outcomes, effects=effects, retry_later=retry_later, changed=changed,
                    completed=completed)


def decide_interrupt(app: AppVersion, job: JobState, *, env: PipeEnv, new_guid: Callable[[], str],
                     settings: EngineSettings, reason: str | None, code: int, throw: bool,
                     expire_s: float | None) -> Decision:
    """The API's `interrupt(job)`: the same as an interrupt message, with the caller's options."""
    ctx = StepContext(app=app, job=job, env=env, new_guid=new_guid, settings=settings)
    done = interrupt_job(ctx, reason=reason, code=code, throw=throw, expire_s=expire_s)
    outcome = Outcome(Verdict.DONE) if done else Outcome(Verdict.DROP, "job already completed")
    return Decision(outcomes=[outcome], effects=list(ctx.effects), retry_later=[], changed=done,
                    completed=ctx.completed)


def child_job_id(await_guid: str) -> str:
    """A child job's default id, derived from the parent's `await` message so a redelivery finds it taken."""
    return "H" + hashlib.sha256(await_guid.encode()).hexdigest()[:22]


@attrs.frozen
class ChildStart:
    """A parent's `await` message, decided: the child job's first step, and for a detached child (`await:
    false`) the parent's immediate reply `{job_id, jc, ju}` (sent only if the child is new)."""

    step: StepContext
    reply_to_parent: StreamMessage | None


def start_child(app: AppVersion, message: StreamMessage, *, env: PipeEnv, new_guid: Callable[[], str],
                settings: EngineSettings) -> ChildStart:
    """Run the child graph's trigger for an `await` message, with the parent's pointers (SPEC §1.5)."""
    meta = message.metadata
    detached = meta.await_ is False
    ctx = start_job(app, meta.topic, dict(message.data), env=env, new_guid=new_guid, settings=settings,
                    default_job_id=child_job_id(meta.guid),
                    lineage=Lineage(parent_jid=meta.jid, parent_gid=meta.gid, parent_dad=meta.dad,
                                    parent_aid=meta.aid, detached=detached, origin_id=None))
    run_transitions(ctx)
    reply = None
    if detached:
        stamp = ctx.timestamp
        reply = StreamMessage(
            metadata=MessageMetadata(guid=new_guid(), jid=meta.jid, gid=meta.gid, dad=meta.dad, aid=meta.aid),
            type=MessageType.RESULT,
            data={"job_id": ctx.job.jid, "jc": stamp, "ju": stamp},
        )
    return ChildStart(step=ctx, reply_to_parent=reply)


def signal_target(registration: str) -> tuple[str, str, str, str]:
    """A signal registry value `<aid>::<dad>::<gid>::<jid>` (SPEC §2.8) as its four parts."""
    aid, dad, gid, jid = registration.split("::", 3)
    return aid, dad, gid, jid


def routed_signal(message: StreamMessage, registration: str) -> StreamMessage:
    """A `webhook` message addressed to the hook that registered for it."""
    aid, dad, gid, jid = signal_target(registration)
    return attrs.evolve(message, metadata=attrs.evolve(message.metadata, aid=aid, dad=dad, gid=gid, jid=jid))


__all__ = [
    "RETRY_EARLY_S",
    "ChildStart",
    "Decision",
    "child_job_id",
    "decide",
    "decide_interrupt",
    "routed_signal",
    "signal_target",
    "start_child",
]
