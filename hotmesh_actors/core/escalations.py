"""Escalations (human-in-the-loop work items, SPEC §2.9): what one is, its rows, and the wake that resumes a hook.

An escalation is a row of `public.hmsh_escalations`, written in the same transaction that suspends a hook (a
YAML `hook` with an `escalation:` block, or a Durable `condition(..., escalation=...)`), so the work item is
visible exactly when something waits for it. People list, claim, resolve or cancel rows; resolving or cancelling
commits a `webhook` signal to the waiting hook in the same transaction as the status change.

This module is pure: the request (:class:`Escalation`), the stored row (:class:`EscalationEntry`), the API's
result types, the YAML block's evaluation and the wake's payload. SQL lives in store/escalations.py.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from hotmesh_actors.core.pipe.functions._jstime import parse_date
from hotmesh_actors.core.pipe.jsvalues import is_number

JSON = Any

CANCELLED_MARK = "__escalation_cancelled"
"""The key a cancel's wake carries (`{"__escalation_cancelled": true}`), as HotMesh: a Durable condition then
returns None, and a YAML hook sees it in its hook data."""


class EscalationStatus(enum.StrEnum):
    """A row's life: `pending` (live) → `resolved` | `cancelled` | `expired` (terminal, inert)."""

    PENDING = "pending"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


TERMINAL_STATUSES = (EscalationStatus.RESOLVED, EscalationStatus.CANCELLED, EscalationStatus.EXPIRED)


@attrs.frozen(kw_only=True)
class Escalation:
    """The work item a wait asks people to act on: `durable.Escalation(role="manager", type="order", ...)`.

    The same fields as a YAML hook's `escalation:` block (in snake_case). `priority`: lower is more urgent
    (default 5). `metadata` is GIN-indexed and filterable (`list(metadata={...})`); `envelope` carries what the
    person needs to act (instructions, a form). `expires_at` is advisory (a datetime, ISO text or epoch ms); the
    wait's own `timeout` is what expires the row.
    """

    role: str | None = None
    type: str | None = None
    subtype: str | None = None
    entity: str | None = None
    priority: int | None = None
    description: str | None = None
    metadata: Mapping[str, JSON] | None = None
    envelope: JSON = None
    expires_at: datetime | str | float | None = None
    origin_id: str | None = None
    parent_id: str | None = None
    initiated_by: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    task_queue: str | None = None
    workflow_type: str | None = None
    task_id: str | None = None

    def is_empty(self) -> bool:
        """True when nothing routes the item (no role, type, priority or metadata): no row is written then."""
        return self.role is None and self.type is None and self.priority is None and self.metadata is None


@attrs.frozen(kw_only=True)
class EscalationEntry:
    """One row of `public.hmsh_escalations`, named as its columns, plus `available` (pending and not actively
    claimed: claimable now)."""

    id: str
    namespace: str
    app_id: str
    signal_key: str | None
    topic: str | None
    workflow_id: str | None
    task_queue: str | None
    workflow_type: str | None
    type: str | None
    subtype: str | None
    entity: str | None
    description: str | None
    role: str | None
    status: str
    priority: int
    assigned_to: str | None
    assigned_until: datetime | None
    claimed_at: datetime | None
    claim_expires_at: datetime | None
    resolved_at: datetime | None
    escalation_payload: JSON
    resolver_payload: JSON
    envelope: JSON
    metadata: JSON
    origin_id: str | None
    parent_id: str | None
    initiated_by: str | None
    created_by: str | None
    milestones: JSON
    trace_id: str | None
    span_id: str | None
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    task_id: str | None
    available: bool


@attrs.frozen(kw_only=True)
class ClaimResult:
    """`claim`'s answer: `ok` with the claimed `entry` (`is_extension` when the holder re-claimed), or `ok` False
    with `reason`: `not-found`, `conflict` (someone else holds a live claim), or `already-resolved` /
    `already-cancelled` / `already-expired` (the row is terminal)."""

    ok: bool
    entry: EscalationEntry | None = None
    is_extension: bool = False
    reason: str | None = None


@attrs.frozen(kw_only=True)
class EscalationResult:
    """`release`, `resolve` and `cancel` answer: `ok` with the changed `entry`, or `ok` False with `reason`.

    release: `not-found` (no claimed pending row), `wrong-assignee`. resolve: `not-found`, `already-resolved`,
    `already-cancelled`, `already-expired`, `claim-expired` (the asserted claim lapsed), `claimed-by-other`.
    cancel: `not-found`, `already-terminal`.
    """

    ok: bool
    entry: EscalationEntry | None = None
    reason: str | None = None


@attrs.frozen(kw_only=True)
class BatchFailure:
    """One row that blocked `resolve_all_or_none`, and why (`not-found`, `already-resolved`, …)."""

    id: str
    reason: str


@attrs.frozen(kw_only=True)
class BatchResult:
    """`resolve_all_or_none`'s answer: every row resolved (`entries`), or none (`failed` names the blockers)."""

    ok: bool
    entries: tuple[EscalationEntry, ...] = ()
    failed: tuple[BatchFailure, ...] = ()


@attrs.frozen(kw_only=True)
class EscalationRow:
    """What the Leg-1 step inserts for a suspended hook: routing (where the wake goes) plus the item's fields."""

    namespace: str
    app_id: str
    signal_key: str
    topic: str
    workflow_id: str
    role: str | None = None
    type: str | None = None
    subtype: str | None = None
    entity: str | None = None
    priority: int = 5
    description: str | None = None
    metadata: JSON = None
    envelope: JSON = None
    expires_at: datetime | None = None
    origin_id: str | None = None
    parent_id: str | None = None
    initiated_by: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    task_queue: str | None = None
    workflow_type: str | None = None
    task_id: str | None = None


YAML_TEXT_FIELDS = {
    "role": "role", "type": "type", "subtype": "subtype", "entity": "entity", "description": "description",
    "originId": "origin_id", "parentId": "parent_id", "initiatedBy": "initiated_by", "traceId": "trace_id",
    "spanId": "span_id", "taskQueue": "task_queue", "workflowType": "workflow_type",
}
"""The YAML block's text fields (camelCase, as HotMesh) and the row columns they fill."""


def escalation_from_block(block: Mapping[str, JSON], resolve: Callable[[JSON], JSON]) -> Escalation:
    """Evaluate a YAML `escalation:` block against the job (`resolve` evaluates one pipe value).

    Text fields become strings (None when undefined or null); `metadata`/`envelope` are resolved whole (an
    object's members may each be pipes, or the whole value one pipe); `priority` must come out a number.
    """
    fields: dict[str, JSON] = {}
    for key, name in YAML_TEXT_FIELDS.items():
        if key in block:
            fields[name] = _text(resolve(block[key]))
    if "priority" in block:
        value = resolve(block["priority"])
        fields["priority"] = int(value) if is_number(value) and math.isfinite(value) else None
    for key in ("metadata", "envelope"):
        if key in block:
            value = _plain(resolve(block[key]))
            fields[key] = value
    if "expiresAt" in block:
        fields["expires_at"] = resolve(block["expiresAt"])
    return Escalation(**fields)


def _text(value: JSON) -> str | None:
    if value is None or not isinstance(value, str | int | float | bool):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _plain(value: JSON) -> JSON:
    """A JSON copy without the pipe evaluator's undefined markers (which json cannot store)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if _is_defined(v)}
    if isinstance(value, list | tuple):
        return [_plain(v) if _is_defined(v) else None for v in value]
    return value if _is_defined(value) else None


def _is_defined(value: JSON) -> bool:
    return value is None or isinstance(value, str | int | float | bool | dict | list | tuple)


def expiry_of(value: JSON) -> datetime | None:
    """`expires_at` as an aware datetime: a datetime, epoch milliseconds, or date text JavaScript can parse."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        millis = float(value)
    elif isinstance(value, str):
        millis = parse_date(value)
    else:
        return None
    if math.isnan(millis) or math.isinf(millis):
        return None
    try:
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def escalation_row(escalation: Escalation, *, namespace: str, app_id: str, signal_key: str, topic: str,
                   workflow_id: str) -> EscalationRow:
    """The row a suspended wait writes for `escalation` (priority defaults to 5)."""
    metadata = dict(escalation.metadata) if escalation.metadata is not None else None
    return EscalationRow(
        namespace=namespace, app_id=app_id, signal_key=signal_key, topic=topic, workflow_id=workflow_id,
        role=escalation.role, type=escalation.type, subtype=escalation.subtype, entity=escalation.entity,
        priority=5 if escalation.priority is None else escalation.priority, description=escalation.description,
        metadata=metadata, envelope=escalation.envelope, expires_at=expiry_of(escalation.expires_at),
        origin_id=escalation.origin_id, parent_id=escalation.parent_id, initiated_by=escalation.initiated_by,
        trace_id=escalation.trace_id, span_id=escalation.span_id, task_queue=escalation.task_queue,
        workflow_type=escalation.workflow_type, task_id=escalation.task_id)


def routing_path(actual: JSON) -> tuple[str, ...] | None:
    """The hook-data path a hook rule's `actual` reads (`{$self.hook.data.id}` → ('id',)), or None when it is
    not a plain reference into the signal data (a pipe): then a wake cannot be addressed by filling a field."""
    if not isinstance(actual, str):
        return None
    text = actual.strip()
    prefix = "{$self.hook.data."
    if not (text.startswith(prefix) and text.endswith("}")):
        return None
    path = text[len(prefix):-1]
    parts = tuple(path.split("."))
    if not path or any(not part or not all(c.isalnum() or c in "_-$" for c in part) for part in parts):
        return None
    return parts


def wake_payload(path: tuple[str, ...], signal_key: str, payload: Mapping[str, JSON] | None) -> dict[str, JSON]:
    """The signal data that resumes the hook: the resolver's payload with the rule's routing field set to the
    row's signal key (overriding a same-named field of the payload, which could not route otherwise)."""
    data: dict[str, JSON] = dict(payload or {})
    node = data
    for part in path[:-1]:
        child = node.get(part)
        child = dict(child) if isinstance(child, dict) else {}
        node[part] = child
        node = child
    node[path[-1]] = signal_key
    return data
