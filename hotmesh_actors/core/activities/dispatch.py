"""Run one claimed engine message against its job: the engine's pure step (SPEC §1.5).

`run_message` routes by message type to the activity's Leg 1 or Leg 2, then runs the Leg 1 of every child
the step spawned inline, in the same step (DESIGN §5: the next activity's Leg 1 shares the previous
activity's Leg-2 transaction). Cycle re-entries stay messages, so a loop advances one step per message.
"""

from __future__ import annotations

from typing import Any

from hotmesh_actors.core import ledger as L
from hotmesh_actors.core.activities import awaiter, cycle, hook, interrupt, signal, worker
from hotmesh_actors.core.activities.base import DONE, Outcome, Verdict
from hotmesh_actors.core.activities.context import PendingTransition, StepContext
from hotmesh_actors.core.graph.model import Activity
from hotmesh_actors.core.messages import MessageType, StreamMessage

JSON = Any

LEG2_TYPES = frozenset({MessageType.RESPONSE, MessageType.RESULT, MessageType.TIMEHOOK, MessageType.WEBHOOK})


def run_message(ctx: StepContext, message: StreamMessage) -> Outcome:
    """Process one engine message for the job in `ctx`; children's Leg 1 run inline afterwards."""
    meta = message.metadata
    job = ctx.job
    if message.type is MessageType.INTERRUPT:
        return interrupt.on_message(ctx, message)
    if meta.gid and job.gid and meta.gid != job.gid:
        return Outcome(Verdict.DROP, "stale generation (the job was recreated)")
    if job.status <= 0:
        return Outcome(Verdict.DROP, "job is no longer active")
    try:
        activity = ctx.app.activity(meta.aid)
    except KeyError:
        return Outcome(Verdict.DROP, f"activity {meta.aid!r} is not in the active version")
    if message.type is MessageType.TRANSITION:
        if job.guid_ledger(meta.guid) is not None:
            return Outcome(Verdict.DROP, "collation fault: inactive (transition already processed)")
        data = message.data
        reentry = bool(data.get("$cycle"))
        overrides = data.get("overrides") if reentry and isinstance(data.get("overrides"), dict) else None
        outcome = enter(ctx, PendingTransition(aid=activity.id, dad=meta.dad, guid=meta.guid, data=overrides,
                                               reentry=reentry))
        if outcome.verdict is Verdict.DONE and job.guid_ledger(meta.guid) is None:
            job.set_guid_ledger(meta.guid, L.GuidLedger().mark(1).mark(2).value)
    elif message.type in LEG2_TYPES:
        outcome = leg2(ctx, activity, message)
    else:
        return Outcome(Verdict.DROP, f"unexpected message type {message.type.value}")
    if outcome.verdict is Verdict.DONE:
        run_transitions(ctx)
    return outcome


def run_transitions(ctx: StepContext) -> None:
    """Enter every queued child (Leg 1), including children those spawn, until the queue is empty."""
    while ctx.transitions:
        pending = ctx.transitions.popleft()
        if ctx.job.status <= 0:
            break
        enter(ctx, pending)


def enter(ctx: StepContext, pending: PendingTransition) -> Outcome:
    """Leg 1 of an activity (a transition into it)."""
    activity = ctx.app.activity(pending.aid)
    kind = activity.type
    if activity.status_threshold is not None and not pending.reentry:
        threshold = ctx.status_threshold(activity, ctx.mapping_context(activity, pending.dad))
        if threshold > 0 and ctx.job.status <= threshold:
            # Dynamic Activation Control (SPEC §1.7): only this branch is left, so the job exits early.
            if ctx.job.status == threshold:
                ctx.settle(pending.guid, -threshold, activity=None, dad=pending.dad)
            return Outcome(Verdict.DONE, "status threshold reached: early exit")
    if kind == "worker":
        return worker.leg1(ctx, activity, pending.dad)
    if kind == "await":
        return awaiter.leg1(ctx, activity, pending.dad)
    if kind == "hook":
        overrides = pending.data if isinstance(pending.data, dict) else None
        return hook.leg1(ctx, activity, pending.dad, pending.guid, overrides, reentry=pending.reentry)
    if kind == "signal":
        return signal.leg1(ctx, activity, pending.dad, pending.guid)
    if kind == "cycle":
        return cycle.leg1(ctx, activity, pending.dad, pending.guid)
    if kind == "interrupt":
        return interrupt.leg1(ctx, activity, pending.dad, pending.guid)
    return Outcome(Verdict.DROP, f"activity type {kind!r} has no Leg 1")


def leg2(ctx: StepContext, activity: Activity, message: StreamMessage) -> Outcome:
    """Leg 2: a worker reply, a child's result, a timer or a signal."""
    if activity.type == "hook":
        return hook.leg2(ctx, activity, message)
    if activity.type in ("worker", "await"):
        return worker.leg2(ctx, activity, message)
    return Outcome(Verdict.DROP, f"activity type {activity.type!r} has no Leg 2")


__all__ = ["DONE", "Outcome", "Verdict", "enter", "leg2", "run_message", "run_transitions"]
