"""Interrupting a job: the interrupt activity (self or a target) and the API's `interrupt`.

Interrupting moves the semaphore into the interrupted range (−1,000,000,000) in the same statement that
records the error, expires the job's queued stream rows, and runs the completion tasks so waiters,
subscribers and a parent learn of it (SPEC §4.2).
"""

from __future__ import annotations

import json
from typing import Any

from hotmesh_actors.core import ledger as L
from hotmesh_actors.core.activities.base import (
    DONE,
    Outcome,
    Verdict,
    complete_leg1,
    enter_leg1,
    fault_outcome,
    finish_activity,
)
from hotmesh_actors.core.activities.context import StepContext
from hotmesh_actors.core.activities.effects import PurgeJob
from hotmesh_actors.core.graph.model import Activity
from hotmesh_actors.core.messages import MessageMetadata, MessageType, StreamMessage
from hotmesh_actors.core.pipe import UNDEFINED
from hotmesh_actors.core.pipe.jsvalues import to_number, to_string, truthy

JSON = Any


def interrupt_job(ctx: StepContext, *, reason: str | None = None, code: int = 410, throw: bool = True,
                  stack: str | None = None, expire_s: float | None = None, own_delta: int = 0) -> bool:
    """Interrupt the job in `ctx`; False when it had already finished (status ≤ 0).

    `own_delta` is applied too (−1 when the job's own interrupt activity ends it).
    """
    job = ctx.job
    if job.status <= 0:
        return False
    job.add_status(L.INTERRUPTED_OFFSET + own_delta)
    message = reason or f"job [{job.jid}] interrupted"
    if throw:
        job.set_job_metadata("err", json.dumps({"code": code, "message": message, "stack": stack,
                                                "job_id": job.jid}))
    ctx.effects.append(PurgeJob(jid=job.jid))
    ctx.transitions.clear()
    ctx.complete_job()
    if expire_s is not None:
        job.expire_s = expire_s
    return True


def leg1(ctx: StepContext, activity: Activity, dad: str, guid: str) -> Outcome:
    """Interrupt this job (no `target`) or another one, then continue to children."""
    fault = enter_leg1(ctx, activity, dad)
    if fault is not None:
        return fault_outcome(fault)
    context = ctx.mapping_context(activity, dad)
    reason = ctx.resolve(activity.reason, context) if activity.reason is not None else None
    reason_text = None if reason in (None, UNDEFINED) else to_string(reason)
    throw = True if activity.throw is None else truthy(ctx.resolve(activity.throw, context))
    code_value = ctx.resolve(activity.code, context) if activity.code is not None else 410
    code = int(to_number(code_value)) if code_value not in (None, UNDEFINED) else 410
    complete_leg1(ctx, activity, dad)
    target = ctx.resolve(activity.target, context) if activity.target is not None else None
    if target in (None, UNDEFINED) or to_string(target) == ctx.job.jid:
        interrupt_job(ctx, reason=reason_text, code=code, throw=throw, own_delta=-1)
        return DONE
    ctx.publish_engine(StreamMessage(
        metadata=MessageMetadata(guid=ctx.new_guid(), jid=to_string(target),
                                 topic=to_string(ctx.resolve(activity.topic, context)) if activity.topic else ""),
        type=MessageType.INTERRUPT,
        data={"reason": reason_text, "code": code, "throw": throw},
    ))
    finish_activity(ctx, activity, dad, guid)
    return DONE


def on_message(ctx: StepContext, message: StreamMessage) -> Outcome:
    """An `interrupt` message (from another job's interrupt activity)."""
    data = message.data
    done = interrupt_job(ctx, reason=data.get("reason") if isinstance(data.get("reason"), str) else None,
                         code=int(data.get("code") or 410), throw=bool(data.get("throw", True)))
    return DONE if done else Outcome(Verdict.DROP, "job already completed")
