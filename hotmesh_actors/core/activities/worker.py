"""The worker activity: Leg 1 sends a request to the worker stream of its topic; Leg 2 binds the reply.

Category A. The reply's status routes it: success (200) completes and transitions; pending (202) keeps the
activity open and spawns children each time; error follows transitions whose `conditions.code` matches,
else ends the job in error. The activity's YAML `retry:` travels with the request as `policies.retry`
(HotMesh's envelope), where the worker reads it when an attempt fails.
"""

from __future__ import annotations

from hotmesh_actors.core.activities.base import (
    DONE,
    Outcome,
    complete_leg1,
    enter_leg1,
    enter_leg2,
    fault_outcome,
    finish_activity,
    reply_index,
)
from hotmesh_actors.core.activities.context import StepContext
from hotmesh_actors.core.activities.effects import Publish, StreamTarget
from hotmesh_actors.core.durations import RetryPolicy, is_policy_spec, policy_from_spec
from hotmesh_actors.core.graph.frozen import thaw
from hotmesh_actors.core.graph.model import Activity
from hotmesh_actors.core.messages import MessageMetadata, MessageType, StreamMessage
from hotmesh_actors.core.pipe.jsvalues import to_string


def resolve_topic(ctx: StepContext, activity: Activity, dad: str) -> str:
    """The activity's topic (`subtype`), which may be a `{…}` reference or a pipe."""
    context = ctx.mapping_context(activity, dad)
    return to_string(ctx.resolve(activity.subtype, context))


def leg1(ctx: StepContext, activity: Activity, dad: str) -> Outcome:
    """Publish the worker request in this step's transaction and mark Leg 1 done."""
    fault = enter_leg1(ctx, activity, dad)
    if fault is not None:
        return fault_outcome(fault)
    context = ctx.mapping_context(activity, dad)
    payload = ctx.resolve_map(activity.input_maps, context)
    topic = resolve_topic(ctx, activity, dad)
    retry = thaw(activity.retry) if activity.retry else None
    message = StreamMessage(
        metadata=MessageMetadata(guid=ctx.new_guid(), jid=ctx.job.jid, gid=ctx.job.gid, dad=dad, aid=activity.id,
                                 topic=topic),
        type=MessageType.WORKER,
        data=payload,
        policies={"retry": retry} if isinstance(retry, dict) else None,
    )
    ctx.effects.append(Publish(target=StreamTarget.WORKER, stream_name=topic, message=message,
                               retry_policy=_stored_policy(retry)))
    complete_leg1(ctx, activity, dad)
    return DONE


def _stored_policy(retry: object) -> RetryPolicy | None:
    """A RetryPolicy-shaped YAML `retry:` is also written to the stream row's policy columns (queryable)."""
    if not isinstance(retry, dict) or not is_policy_spec(retry):
        return None
    try:
        return policy_from_spec(retry)
    except ValueError:
        return None  # the worker reports the bad policy when it reads `policies.retry`


def leg2(ctx: StepContext, activity: Activity, message: StreamMessage) -> Outcome:
    """Bind a worker's (or child job's) reply and move on."""
    meta = message.metadata
    fault = enter_leg2(ctx, activity, meta.dad, meta.guid)
    if fault is not None:
        return fault_outcome(fault)
    finish_activity(ctx, activity, meta.dad, meta.guid, output_data=dict(message.data), code=message.code,
                    status=message.status, child_index=reply_index(ctx, activity, meta.dad))
    return DONE
