"""The cycle activity: re-enter an ancestor hook in a new dimension (Category C: no children).

Its `input.maps` become the ancestor's output data in the next iteration. The semaphore is unchanged: the
cycle hands its place to the re-entered ancestor.
"""

from __future__ import annotations

from hotmesh_actors.core.activities.base import DONE, Outcome, complete_leg1, enter_leg1, fault_outcome
from hotmesh_actors.core.activities.context import StepContext
from hotmesh_actors.core.graph.model import Activity
from hotmesh_actors.core.jobstate import dad_prefix
from hotmesh_actors.core.messages import MessageMetadata, MessageType, StreamMessage


def leg1(ctx: StepContext, activity: Activity, dad: str, guid: str) -> Outcome:
    """Publish the re-entry of the ancestor, carrying the overrides."""
    fault = enter_leg1(ctx, activity, dad)
    if fault is not None:
        return fault_outcome(fault)
    ancestor_id = activity.ancestor or ""
    ancestor = ctx.app.activity(ancestor_id)
    context = ctx.mapping_context(activity, dad)
    overrides = ctx.resolve_map(activity.input_maps, context)
    target_dad = dad_prefix(dad, len(ancestor.ancestors))
    ctx.publish_engine(StreamMessage(
        metadata=MessageMetadata(guid=ctx.new_guid(), jid=ctx.job.jid, gid=ctx.job.gid, dad=target_dad,
                                 aid=ancestor_id),
        type=MessageType.TRANSITION,
        data={"$cycle": True, "overrides": overrides},
    ))
    complete_leg1(ctx, activity, dad)
    ctx.settle(guid, 0, activity=None, dad=dad)
    return DONE
