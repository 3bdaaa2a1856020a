"""The await activity: Leg 1 starts a child job on another graph; Leg 2 binds the child's result.

Category A. With `await: false` the child is started detached: the parent receives `{job_id, jc, ju}`
at once and the child's completion does not notify it.
"""

from __future__ import annotations

from hotmesh_actors.core.activities.base import DONE, Outcome, complete_leg1, enter_leg1, fault_outcome
from hotmesh_actors.core.activities.context import StepContext
from hotmesh_actors.core.activities.worker import resolve_topic
from hotmesh_actors.core.graph.model import Activity
from hotmesh_actors.core.messages import MessageMetadata, MessageType, StreamMessage
from hotmesh_actors.core.pipe.jsvalues import truthy


def leg1(ctx: StepContext, activity: Activity, dad: str) -> Outcome:
    """Publish the `await` message that starts the child job, and mark Leg 1 done."""
    fault = enter_leg1(ctx, activity, dad)
    if fault is not None:
        return fault_outcome(fault)
    context = ctx.mapping_context(activity, dad)
    payload = ctx.resolve_map(activity.input_maps, context)
    waits = True if activity.await_ is None else truthy(ctx.resolve(activity.await_, context))
    message = StreamMessage(
        metadata=MessageMetadata(guid=ctx.new_guid(), jid=ctx.job.jid, gid=ctx.job.gid, dad=dad, aid=activity.id,
                                 topic=resolve_topic(ctx, activity, dad), await_=waits),
        type=MessageType.AWAIT,
        data=payload,
    )
    ctx.publish_engine(message)
    complete_leg1(ctx, activity, dad)
    return DONE
