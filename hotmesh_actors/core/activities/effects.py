"""The effects a step asks the I/O layer to carry out, besides the job-state rows it changed.

An engine step is pure: it reads the claimed message and the locked job state, changes the JobState in
memory, and lists these effects. `mesh/` turns the JobState changes plus the effects into ONE transaction.
"""

from __future__ import annotations

import enum

import attrs

from hotmesh_actors.core.durations import RetryPolicy
from hotmesh_actors.core.escalations import EscalationRow
from hotmesh_actors.core.messages import StreamMessage


class StreamTarget(enum.StrEnum):
    """Which stream table a published message goes to."""

    ENGINE = "engine"
    WORKER = "worker"


@attrs.frozen(kw_only=True)
class Publish:
    """Insert a message into a stream (children, worker requests, timers, results to a parent)."""

    target: StreamTarget
    stream_name: str
    message: StreamMessage
    delay_s: float = 0.0
    retry_policy: RetryPolicy | None = None
    order_key: str | None = None
    """Messages sharing an order key are consumed strictly in order (signals to one hook registration)."""


@attrs.frozen(kw_only=True)
class Notify:
    """pg_notify inside the transaction (delivered on commit): job completion to waiters and subscribers."""

    channel: str
    payload: str


@attrs.frozen(kw_only=True)
class RegisterSignal:
    """Register a hook's signal key; consumes a `$pending::` signal that arrived first (SPEC §2.8)."""

    key: str
    target: str
    """`<aid>::<dad>::<gid>::<jid>` — where the signal goes."""
    expire_s: float


@attrs.frozen(kw_only=True)
class DeleteSignal:
    """Remove a hook's signal registration (it completed, or its timer won)."""

    key: str


@attrs.frozen(kw_only=True)
class DisarmTimer:
    """Expire a hook's future timehook rows (its signal won the race)."""

    jid: str
    aid: str
    dad: str


@attrs.frozen(kw_only=True)
class SignalAll:
    """Signal every live job filed under `facet` in `stats_key` (the signal activity's `subtype: all`).

    The store looks the jobs up in the trigger stats index and publishes, in the same transaction, one copy
    of `message` (a `webhook`) per job, with the job id added to its data as `id` (the field hook rules
    match on, as in HotMesh); `scrub` deletes the facet's index rows afterwards.
    """

    stats_key: str
    facet: str
    message: StreamMessage
    scrub: bool = False


@attrs.frozen(kw_only=True)
class PurgeJob:
    """Expire every live stream row of a job (interrupt)."""

    jid: str


@attrs.frozen(kw_only=True)
class OpenEscalation:
    """Write a suspended hook's escalation row (its `escalation:` block, SPEC §2.9) in the step's transaction."""

    row: EscalationRow


@attrs.frozen(kw_only=True)
class SettleEscalation:
    """A hook's wait ended: its pending escalation row becomes `expired` (the timer won) or `resolved` (a signal
    resumed it; `resolver_payload` is kept unless the row was resolved through the escalations API)."""

    namespace: str
    app_id: str
    signal_key: str
    workflow_id: str
    status: str
    resolver_payload: object = None


Effect = (Publish | Notify | RegisterSignal | DeleteSignal | DisarmTimer | SignalAll | PurgeJob | OpenEscalation
          | SettleEscalation)
