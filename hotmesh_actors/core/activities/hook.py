"""The hook activity: sleep, wait for a signal, both (a timeout), or pass straight through.

- time hook (`sleep: N`): Leg 1 arms a timer (a delayed engine-stream row, rounded up to the fidelity);
- web hook (`hooks:` rule targets it): Leg 1 registers `signal_registry` key topic:expected, consuming a
  signal that arrived first; a signal with code 202 keeps the hook open;
- both: whichever Leg 2 arrives first wins; it disarms the other (the loser is dropped by the ledger);
- neither: a passthrough (Category B) that completes in Leg 1 — and the pivot that `cycle` re-enters,
  each re-entry running in a new dimension (`,0,1`, `,0,2`, …).
"""

from __future__ import annotations

import math
from typing import Any

from hotmesh_actors.core import ledger as L
from hotmesh_actors.core.activities.base import (
    DONE,
    Outcome,
    complete_leg1,
    enter_leg1,
    enter_leg2,
    fault_outcome,
    finish_activity,
    record_error,
    reply_index,
)
from hotmesh_actors.core.activities.context import StepContext, evaluate
from hotmesh_actors.core.activities.effects import (
    DeleteSignal,
    DisarmTimer,
    OpenEscalation,
    RegisterSignal,
    SettleEscalation,
)
from hotmesh_actors.core.durations import round_up_to_fidelity
from hotmesh_actors.core.escalations import EscalationStatus, escalation_from_block, escalation_row
from hotmesh_actors.core.graph.model import Activity, AppVersion
from hotmesh_actors.core.jobstate import with_last_index
from hotmesh_actors.core.keys import signal_key
from hotmesh_actors.core.messages import MessageMetadata, MessageStatus, MessageType, StreamMessage
from hotmesh_actors.core.pipe import PipeEnv
from hotmesh_actors.core.pipe.jsvalues import is_number, to_number, to_string

JSON = Any


def leg1(ctx: StepContext, activity: Activity, dad: str, guid: str, overrides: dict[str, JSON] | None = None,
         *, reentry: bool = False) -> Outcome:
    """Enter the hook: arm its timer and/or register its signal, or pass through."""
    if reentry:
        base = with_last_index(dad, 0)
        counted, fault = L.ActivityLedger(ctx.job.ledger(activity.id, base)).enter_leg2()
        if fault is not None:
            return fault_outcome(fault)
        index = counted.leg2_entries - 1
        ctx.job.set_ledger(activity.id, base, counted.value)
        if index > ctx.settings.max_cycles:
            # Too many iterations: end the job in error rather than loop for ever or stall.
            record_error(ctx, activity, dad, {"message": f"cycle limit {ctx.settings.max_cycles} exceeded at "
                                                         f"{activity.id} (HMSH_MAX_CYCLES)"}, 500)
            ctx.settle(guid, -1, activity=None, dad=dad, force_complete=True)
            return DONE
        dad = with_last_index(dad, index)
    fault = enter_leg1(ctx, activity, dad)
    if fault is not None:
        return fault_outcome(fault)
    for key, value in (overrides or {}).items():
        ctx.job.set_activity(activity.id, dad, "output", "data", key, value)
    context = ctx.mapping_context(activity, dad)
    seconds = _sleep_seconds(ctx, activity, context)
    topic = activity.hook_topic
    if seconds is None and topic is None:
        complete_leg1(ctx, activity, dad)
        finish_activity(ctx, activity, dad, guid)
        return DONE
    if seconds is not None:
        wake_ms = round_up_to_fidelity((ctx.now_ms / 1000) + seconds, ctx.settings.fidelity_seconds) * 1000
        timer = StreamMessage(
            metadata=MessageMetadata(guid=ctx.new_guid(), jid=ctx.job.jid, gid=ctx.job.gid, dad=dad, aid=activity.id),
            type=MessageType.TIMEHOOK,
            data={"timestamp": int(wake_ms)},
        )
        ctx.publish_engine(timer, delay_s=max(0.0, (wake_ms - ctx.now_ms) / 1000))
    if topic is not None:
        expected = to_string(_expected(ctx, activity, topic, context))
        key = signal_key(topic, expected)
        ctx.job.set_activity(activity.id, dad, "output", "metadata", "sk", key)
        ctx.effects.append(RegisterSignal(key=key, target=f"{activity.id}::{dad}::{ctx.job.gid}::{ctx.job.jid}",
                                          expire_s=ctx.settings.signal_expire_s))
        if activity.escalation is not None:
            _open_escalation(ctx, activity, dad, topic, expected, context)
    complete_leg1(ctx, activity, dad)
    return DONE


def leg2(ctx: StepContext, activity: Activity, message: StreamMessage) -> Outcome:
    """A timer fired or a signal arrived: the first one wins and disarms the other."""
    meta = message.metadata
    dad = meta.dad
    fault = enter_leg2(ctx, activity, dad, meta.guid)
    if fault is not None:
        return fault_outcome(fault)
    view = ctx.job.activity(activity.id, dad)
    key = view["output"]["metadata"].get("sk")
    escalated = view["output"]["metadata"].get("esk")
    keep_open = message.type is MessageType.WEBHOOK and (message.code == 202 or
                                                         message.status is MessageStatus.PENDING)
    if message.type is MessageType.TIMEHOOK:
        hook_data = dict(message.data)
        if isinstance(key, str):
            ctx.effects.append(DeleteSignal(key=key))
        if isinstance(escalated, str):
            _settle_escalation(ctx, escalated, EscalationStatus.EXPIRED, None)
    else:
        hook_data = {k: v for k, v in message.data.items() if k != "$expire"}
        if not keep_open:
            if isinstance(key, str):
                ctx.effects.append(DeleteSignal(key=key))
            ctx.effects.append(DisarmTimer(jid=ctx.job.jid, aid=activity.id, dad=dad))
            if isinstance(escalated, str):
                _settle_escalation(ctx, escalated, EscalationStatus.RESOLVED, hook_data)
    finish_activity(ctx, activity, dad, meta.guid, hook_data=hook_data, code=message.code,
                    status=MessageStatus.PENDING if keep_open else MessageStatus.SUCCESS,
                    child_index=reply_index(ctx, activity, dad))
    if not keep_open and not activity.cycle:
        # Close the hook so the losing leg (a late timer or signal) is refused as inactive.
        ledger = L.ActivityLedger(ctx.job.ledger(activity.id, dad)).finalize()
        ctx.job.set_ledger(activity.id, dad, ledger.value)
    return DONE


def _open_escalation(ctx: StepContext, activity: Activity, dad: str, topic: str, expected: str,
                     context: dict[str, JSON]) -> None:
    """Write the hook's work item (its `escalation:` block resolved against the job) with its suspension.

    The row's signal key is the hook rule's resolved `expected` value (the job id for the usual
    `{$job.metadata.jid}`), as HotMesh; it is kept as `esk` so the leg that ends the wait can settle the row.
    A block whose role, type, priority and metadata all come out empty writes nothing (HotMesh's rule).
    """
    assert activity.escalation is not None
    escalation = escalation_from_block(activity.escalation, lambda value: ctx.resolve(value, context))
    if escalation.is_empty():
        return
    ctx.job.set_activity(activity.id, dad, "output", "metadata", "esk", expected)
    ctx.effects.append(OpenEscalation(row=escalation_row(
        escalation, namespace=ctx.app.app_id, app_id=ctx.app.app_id, signal_key=expected, topic=topic,
        workflow_id=ctx.job.jid)))


def _settle_escalation(ctx: StepContext, escalated: str, status: EscalationStatus, payload: JSON) -> None:
    ctx.effects.append(SettleEscalation(namespace=ctx.app.app_id, app_id=ctx.app.app_id, signal_key=escalated,
                                        workflow_id=ctx.job.jid, status=status.value, resolver_payload=payload))


def _sleep_seconds(ctx: StepContext, activity: Activity, context: dict[str, JSON]) -> float | None:
    """The hook's `sleep` in seconds, or None when it has no timer (absent, ≤ 0 or NaN)."""
    if activity.sleep is None:
        return None
    value = ctx.resolve(activity.sleep, context)
    seconds = to_number(value) if not is_number(value) else value
    if not isinstance(seconds, int | float) or math.isnan(seconds) or seconds <= 0:
        return None
    return float(seconds)


def _expected(ctx: StepContext, activity: Activity, topic: str, context: dict[str, JSON]) -> JSON:
    """The lookup value of the hook rule that targets this activity (match[0].expected, resolved)."""
    rules = [rule for rule in ctx.app.hook_rules_for(topic) if rule.to == activity.id] or list(
        ctx.app.hook_rules_for(topic))
    if not rules or not rules[0].conditions:
        return ""
    match = rules[0].conditions.get("match") or []
    if not match:
        return ""
    return ctx.resolve(match[0].get("expected"), context)


def signal_lookup(app: AppVersion, env: PipeEnv, topic: str, payload: dict[str, JSON]) -> str | None:
    """The registry key a signal on `topic` with `payload` looks for (match[0].actual resolved on it)."""
    rules = app.hook_rules_for(topic)
    if not rules:
        return None
    match = (rules[0].conditions.get("match") if rules[0].conditions else None) or []
    actual = match[0].get("actual") if match else None
    value = evaluate(actual, {"$self": {"hook": {"data": payload}}}, env) if actual is not None else ""
    return signal_key(topic, to_string(value))
