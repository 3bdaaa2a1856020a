"""The signal activity (`subtype: one`): deliver a signal to another job's hook, then continue.

Category B: the signal is published in the same transaction as the activity's completion, so it is sent
exactly once. `code: 202` keeps the target hook open (it may be signalled again); 200 closes it.
"""

from __future__ import annotations

from hotmesh_actors.core.activities.base import (
    DONE,
    Outcome,
    complete_leg1,
    enter_leg1,
    fault_outcome,
    finish_activity,
)
from hotmesh_actors.core.activities.context import StepContext
from hotmesh_actors.core.activities.effects import Publish, StreamTarget
from hotmesh_actors.core.activities.hook import signal_lookup
from hotmesh_actors.core.graph.model import Activity
from hotmesh_actors.core.messages import MessageMetadata, MessageStatus, MessageType, StreamMessage
from hotmesh_actors.core.pipe.jsvalues import to_number, to_string


def leg1(ctx: StepContext, activity: Activity, dad: str, guid: str) -> Outcome:
    """Publish the signal and complete."""
    fault = enter_leg1(ctx, activity, dad)
    if fault is not None:
        return fault_outcome(fault)
    context = ctx.mapping_context(activity, dad)
    payload = ctx.resolve_map(activity.signal.get("maps") if activity.signal else None, context)
    topic = to_string(ctx.resolve(activity.topic, context))
    code_value = ctx.resolve(activity.code, context) if activity.code is not None else 200
    code = int(to_number(code_value)) if code_value is not None else 200
    status = to_string(ctx.resolve(activity.status, context)) if activity.status is not None else "success"
    message = StreamMessage(
        metadata=MessageMetadata(guid=ctx.new_guid(), topic=topic),
        type=MessageType.WEBHOOK,
        data=payload,
        status=MessageStatus.PENDING if status == "pending" else MessageStatus.SUCCESS,
        code=code,
    )
    ctx.effects.append(Publish(target=StreamTarget.ENGINE, stream_name=ctx.app.app_id, message=message,
                               order_key=signal_lookup(ctx.app, ctx.env, topic, payload)))
    complete_leg1(ctx, activity, dad)
    finish_activity(ctx, activity, dad, guid)
    return DONE
