"""Leg entry verification and activity completion, shared by every activity type.

Leg 1 counts an entry on the activity ledger and refuses a replay (`duplicate`); Leg 2 refuses a message
before Leg 1 committed (`forbidden`: retry later), after the activity finalized, or one whose GUID ledger
shows it was fully processed (`inactive`). `finish_activity` binds a finished activity's data, picks its
transitions, and settles the semaphore.
"""

from __future__ import annotations

import enum
import json
from typing import Any

import attrs

from hotmesh_actors.core import ledger as L
from hotmesh_actors.core.activities.context import StepContext
from hotmesh_actors.core.graph.frozen import thaw
from hotmesh_actors.core.graph.model import Activity
from hotmesh_actors.core.messages import MessageStatus
from hotmesh_actors.core.pipe.jsvalues import truthy

JSON = Any


class Verdict(enum.StrEnum):
    """What the engine does with a claimed message after the step."""

    DONE = "done"
    """Processed: commit the step and ack."""
    DROP = "drop"
    """A duplicate, stale or late message: ack without effects."""
    RETRY = "retry"
    """Too early (Leg 2 before Leg 1 committed): ack and re-publish with a short delay."""


@attrs.frozen
class Outcome:
    """A step's verdict and why (for logs and tests)."""

    verdict: Verdict
    reason: str = ""


DONE = Outcome(Verdict.DONE)


def enter_leg1(ctx: StepContext, activity: Activity, dad: str) -> L.CollationFault | None:
    """Count a Leg-1 entry and stamp the activity's metadata; a fault means: do not run Leg 1."""
    current = L.ActivityLedger(ctx.job.ledger(activity.id, dad))
    entered, fault = current.enter_leg1()
    if fault is not None:
        return fault
    ctx.job.set_ledger(activity.id, dad, entered.value)
    for key, value in (("aid", activity.id), ("atp", activity.type), ("dad", dad), ("ac", ctx.timestamp)):
        ctx.job.set_activity(activity.id, dad, "output", "metadata", key, value)
    subtype = activity.subtype
    if isinstance(subtype, str):
        ctx.job.set_activity(activity.id, dad, "output", "metadata", "stp", subtype)
    return None


def complete_leg1(ctx: StepContext, activity: Activity, dad: str) -> None:
    """Mark Leg 1 done (a cycle target also pre-seeds its Leg-2 counter so re-entries index from 1)."""
    ledger = L.ActivityLedger(ctx.job.ledger(activity.id, dad)).complete_leg1()
    if activity.cycle and ledger.leg2_entries == 0:
        ledger = L.ActivityLedger(ledger.value + L.LEG2_ENTRY)
    ctx.job.set_ledger(activity.id, dad, ledger.value)


def enter_leg2(ctx: StepContext, activity: Activity, dad: str, guid: str) -> L.CollationFault | None:
    """Verify and count a Leg-2 entry for message `guid`; seeds the message's GUID ledger."""
    seen = ctx.job.guid_ledger(guid)
    if seen is not None:
        fault = L.GuidLedger(seen).replay_fault()
        if fault is not None:
            return fault
    entered, fault = L.ActivityLedger(ctx.job.ledger(activity.id, dad)).enter_leg2()
    if fault is not None:
        return fault
    ctx.job.set_ledger(activity.id, dad, entered.value)
    if seen is None:
        ctx.job.set_guid_ledger(guid, L.GuidLedger.seeded(entered.leg2_entries).value)
    return None


def fault_outcome(fault: L.CollationFault) -> Outcome:
    """The engine's answer to a collation fault."""
    if fault is L.CollationFault.FORBIDDEN:
        return Outcome(Verdict.RETRY, "leg 2 arrived before leg 1 committed")
    return Outcome(Verdict.DROP, f"collation fault: {fault.value}")


def finish_activity(
    ctx: StepContext,
    activity: Activity,
    dad: str,
    guid: str,
    *,
    output_data: dict[str, JSON] | None = None,
    hook_data: dict[str, JSON] | None = None,
    code: int = 200,
    status: MessageStatus = MessageStatus.SUCCESS,
    child_index: int = 0,
) -> bool:
    """Bind the finished activity's data, choose transitions, settle the semaphore; True if the job closed.

    `child_index` places the children's dimension (`<dad>,<index>`): an activity that replies `pending`
    several times spawns each round of children in its own dimension.
    """
    job = ctx.job
    for key, value in (output_data or {}).items():
        job.set_activity(activity.id, dad, "output", "data", key, value)
    for key, value in (hook_data or {}).items():
        job.set_activity(activity.id, dad, "hook", "data", key, value)
    job.set_activity(activity.id, dad, "output", "metadata", "au", ctx.timestamp)
    context = ctx.mapping_context(activity, dad)
    for key, value in ctx.resolve_map(activity.output_maps, context).items():
        job.set_activity(activity.id, dad, "output", "data", key, value)
    ctx.bind_job_maps(activity, context)
    children = ctx.choose_children(activity, dad, code, context, status=status)
    error_terminal = status is MessageStatus.ERROR and not children
    if status is MessageStatus.ERROR:
        record_activity_error(ctx, activity, dad, output_data or {}, code)
    if error_terminal:
        record_error(ctx, activity, dad, output_data or {}, code)
    pending = status is MessageStatus.PENDING or code == 202
    delta = len(children) if pending else len(children) - 1
    ctx.spawn(children, dad, child_index)
    emit = ctx.emits(activity, context) or pending
    closed = ctx.settle(guid, delta, activity=None if pending else activity, dad=dad,
                        force_complete=error_terminal, emit=emit, threshold=ctx.status_threshold(activity, context))
    if not ctx.completed and activity.persist is not None and truthy(ctx.resolve(activity.persist, context)):
        # `persist`: announce the job's result (waiter and subscribers) but keep it open for re-entry.
        ctx.publish_job_state(final=True)
    return closed


def reply_index(ctx: StepContext, activity: Activity, dad: str) -> int:
    """Which reply this Leg 2 is (0 for the first): the children's dimension index."""
    entries = L.ActivityLedger(ctx.job.ledger(activity.id, dad)).leg2_entries
    seeded = 1 if activity.cycle else 0  # a cycle target's counter starts pre-seeded at 1
    return max(0, entries - 1 - seeded)


ERROR_TERMINAL_CODE = 597
"""`$error.code` of a job ended by an unrouted error (HotMesh's HMSH_CODE_DURABLE_MAXED); the worker's own
code is in `metadata.err`."""


def error_payload(activity: Activity, data: dict[str, JSON], code: int) -> dict[str, JSON]:
    """An error reply's data as HotMesh records it: `message` and `code` first, then the reply's other keys."""
    message = data.get("message")
    payload: dict[str, JSON] = {
        "message": message if isinstance(message, str) else f"activity {activity.id} failed with code {code}",
        "code": code,
    }
    payload.update((key, value) for key, value in data.items()
                   if key not in payload and key != "is_stream_error" and value is not None)
    return payload


def _compact(value: JSON) -> str:
    return json.dumps(thaw(value), separators=(",", ":"), default=str)


def record_activity_error(ctx: StepContext, activity: Activity, dad: str, data: dict[str, JSON], code: int) -> None:
    """An error reply reached the activity: its `output.metadata.err` holds the error (caught or not)."""
    ctx.job.set_activity(activity.id, dad, "output", "metadata", "err", _compact(error_payload(activity, data, code)))


def record_error(ctx: StepContext, activity: Activity, dad: str, data: dict[str, JSON], code: int) -> None:
    """An unrouted error ends the job in error (SPEC §1.6 "error-terminal").

    The job's `metadata.err` is HotMesh's JSON, `{"message": …, "code": <the reply's code>, …,
    "is_stream_error": true}` (compact, as JSON.stringify writes it); job data gets `done: true` and
    `$error: {message, code: 597, stack}`.
    """
    payload = error_payload(activity, data, code)
    ctx.job.set_job_data("done", True)
    ctx.job.set_job_data("$error", {"message": payload["message"], "code": ERROR_TERMINAL_CODE,
                                    "stack": payload.get("stack")})
    ctx.job.set_job_metadata("err", _compact({**payload, "is_stream_error": True}))
