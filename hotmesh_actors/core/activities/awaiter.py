"""The await activity: Leg 1 starts a child job on another graph; Leg 2 binds the child's result.

Category A. With `await: false` (the flag, or a pipe resolving to exactly `false`) the child is started
detached: the parent receives `{job_id, jc, ju}` at once and the child's completion does not notify it.
Anything else — absent, `true`, or a reference that resolves to nothing — waits for the child's result.
"""

from __future__ import annotations

from hotmesh_actors.core.activities.base import DONE, Outcome, complete_leg1, enter_leg1, fault_outcome
from hotmesh_actors.core.activities.context import StepContext
from hotmesh_actors.core.activities.worker import resolve_topic
from hotmesh_actors.core.graph.model import Activity
from hotmesh_actors.core.messages import MessageMetadata, MessageType, StreamMessage


def leg1(ctx: StepContext, activity: Activity, dad: str) -> Outcome:
    """Publish the `await` message that starts the child job, and mark Leg 1 done."""
    fault = enter_leg1(ctx, activity, dad)
    if fault is not None:
        return fault_outcome(fault)
    context = ctx.mapping_context(activity, dad)
    payload = ctx.resolve_map(activity.input_maps, context)
    # Only an explicit `false` detaches the child: an unresolved or absent flag means "wait" (as HotMesh).
    waits = activity.await_ is None or ctx.resolve(activity.await_, context) is not False
    message = StreamMessage(
        metadata=MessageMetadata(guid=ctx.new_guid(), jid=ctx.job.jid, gid=ctx.job.gid, dad=dad, aid=activity.id,
                                 topic=resolve_topic(ctx, activity, dad), await_=waits),
        type=MessageType.AWAIT,
        data=payload,
    )
    ctx.publish_engine(message)
    complete_leg1(ctx, activity, dad)
    return DONE
