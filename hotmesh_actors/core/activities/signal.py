"""The signal activity: deliver a signal to other jobs' hooks, then continue.

Category B. `subtype: one` (the default) sends one signal, as `HotMesh.signal(topic, payload)` does: the
hook rule's `match[0].actual` picks the waiting registration, or the signal waits as pending until a hook
registers (SPEC §2.8). `subtype: all` signals every running job the hook's graph filed under the stats
index facet `key_name:key_value` (its trigger's `stats.measures` of type `index`, within the `stats.key`
that the `resolver` data resolves to), each copy carrying the job's id as `id`; `scrub` drops the facet's
index rows once used. Either way the signals are published in the same transaction as the activity's
completion, so they are sent exactly once. `code: 202` keeps the target hooks open; 200 closes them.
"""

from __future__ import annotations

from typing import Any

from hotmesh_actors.core.activities.base import (
    DONE,
    Outcome,
    complete_leg1,
    enter_leg1,
    fault_outcome,
    finish_activity,
)
from hotmesh_actors.core.activities.context import StepContext
from hotmesh_actors.core.activities.effects import Publish, SignalAll, StreamTarget
from hotmesh_actors.core.activities.hook import signal_lookup
from hotmesh_actors.core.activities.trigger import stats_key
from hotmesh_actors.core.graph.model import Activity
from hotmesh_actors.core.messages import MessageMetadata, MessageStatus, MessageType, StreamMessage
from hotmesh_actors.core.pipe.jsvalues import to_number, to_string, truthy

JSON = Any


def leg1(ctx: StepContext, activity: Activity, dad: str, guid: str) -> Outcome:
    """Publish the signal(s) and complete."""
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
    if activity.subtype == "all":
        ctx.effects.append(_signal_all(ctx, activity, context, topic, message))
    else:
        ctx.effects.append(Publish(target=StreamTarget.ENGINE, stream_name=ctx.app.app_id, message=message,
                                   order_key=signal_lookup(ctx.app, ctx.env, topic, payload)))
    complete_leg1(ctx, activity, dad)
    finish_activity(ctx, activity, dad, guid)
    return DONE


def _signal_all(ctx: StepContext, activity: Activity, context: dict[str, JSON], topic: str,
                message: StreamMessage) -> SignalAll:
    """The index lookup that fans `message` out to every matching job.

    The stats key is the one the hooked graph's trigger gives a job whose input is the resolver's `data`
    (e.g. `{parent_job_id: <this job>}`), so the lookup lands in the same index the children were filed in.
    A topic no hook rule listens on yields a key no job is filed under: nothing is signalled.
    """
    resolver = ctx.resolve_map(activity.resolver.get("maps") if activity.resolver else None, context)
    resolver_data = resolver.get("data")
    key = ""
    rules = ctx.app.hook_rules_for(topic)
    if rules:
        hooked = ctx.app.activity(rules[0].to)
        trigger = ctx.app.activity(hooked.trigger)
        key = stats_key(trigger.stats, resolver_data if isinstance(resolver_data, dict) else {}, ctx.env)
    facet = f"{to_string(ctx.resolve(activity.key_name, context))}:" \
            f"{to_string(ctx.resolve(activity.key_value, context))}"
    scrub = (activity.scrub is not None and truthy(ctx.resolve(activity.scrub, context))) or \
        truthy(resolver.get("scrub"))
    return SignalAll(stats_key=key, facet=facet, message=message, scrub=scrub)
