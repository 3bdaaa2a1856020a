"""Escalation rows in Postgres (`public.hmsh_escalations`): the API's transactions and the step's effects.

:class:`EscalationStore` serves `mesh.escalations` for one namespace and app. Its resolve and cancel change a
row's status and publish the wake (a `webhook` signal to the waiting hook) in ONE transaction, so a crash right
after commit still resumes the waiter and a crash before it leaves both undone. `resolve_all_or_none` locks its
rows in id order and writes all of them, with their wakes, or none.

:func:`escalation_statement` writes a suspended hook's row, or settles it when the wait ends, inside the
engine step's transaction (store/jobs.py calls it for the escalation effects).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import asyncpg
import attrs

from hotmesh_actors.core.activities.effects import OpenEscalation, SettleEscalation
from hotmesh_actors.core.escalations import (
    CANCELLED_MARK,
    BatchFailure,
    BatchResult,
    ClaimResult,
    EscalationEntry,
    EscalationResult,
    EscalationStatus,
)
from hotmesh_actors.store.driver import Connection, Database, Statement, run_statement
from hotmesh_actors.store.queries import bind, load
from hotmesh_actors.store.streams import Outgoing, StreamStore

JSON = Any

WakeBuilder = Callable[[EscalationEntry, dict[str, JSON]], Outgoing]
"""Builds the signal that resumes a row's waiting hook with `data` (the caller knows the app's hook rules)."""

_JSON_COLUMNS = ("escalation_payload", "resolver_payload", "envelope", "metadata", "milestones")


def _sql(name: str, **extra: str) -> str:
    fragments = load("escalations")
    return bind("escalations", name, columns=fragments["columns"], filters=fragments["filters"], **extra)


def _jsonb(value: JSON) -> str | None:
    """JSON text for a jsonb parameter; a NUL (which jsonb refuses) becomes U+FFFD rather than fail the step."""
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, default=str).replace("\\u0000", "\\ufffd")


def entry_of(row: asyncpg.Record | Mapping[str, Any] | None) -> EscalationEntry:
    """An EscalationEntry from a row selected with the `columns` fragment (the row is locked: it exists)."""
    if row is None:
        raise LookupError("the escalation row vanished under its lock")
    values = dict(row)
    for name in _JSON_COLUMNS:
        text = values.get(name)
        values[name] = json.loads(text) if isinstance(text, str) else text
    return EscalationEntry(**values)


@attrs.frozen(kw_only=True)
class Filters:
    """`list`/`count` filters (None: not filtered). `available`: pending and not actively claimed."""

    role: str | None = None
    roles: tuple[str, ...] | None = None
    type: str | None = None
    subtype: str | None = None
    entity: str | None = None
    status: str | None = None
    assigned_to: str | None = None
    workflow_id: str | None = None
    origin_id: str | None = None
    available: bool | None = None
    priority: int | None = None
    metadata: Mapping[str, JSON] | None = None
    ids: tuple[str, ...] | None = None
    task_id: str | None = None

    def args(self) -> tuple[Any, ...]:
        return (self.role, list(self.roles) if self.roles is not None else None, self.type, self.subtype,
                self.entity, self.status, self.assigned_to, self.workflow_id, self.origin_id, self.available,
                self.priority, _jsonb(dict(self.metadata)) if self.metadata is not None else None,
                list(self.ids) if self.ids is not None else None, self.task_id)


ORDER_COLUMNS = ("priority", "created_at", "updated_at", "resolved_at", "role", "type")


def order_clause(order: Sequence[tuple[str, str]]) -> str:
    """A whitelisted ORDER BY (columns from ORDER_COLUMNS, directions asc/desc), id last for a stable order."""
    parts = []
    for column, direction in order:
        if column not in ORDER_COLUMNS or direction.lower() not in ("asc", "desc"):
            raise ValueError(f"cannot order escalations by {column!r} {direction!r}")
        parts.append(f"{column} {direction.upper()}")
    return ", ".join([*parts, "id"])


class EscalationStore:
    """The escalation rows of one namespace and app; `engine` is that app's engine stream (for wakes)."""

    def __init__(self, db: Database, *, namespace: str, app_id: str, engine: StreamStore) -> None:
        self.db = db
        self.namespace = namespace
        self.app_id = app_id
        self.engine = engine

    @property
    def _scope(self) -> tuple[str, str]:
        return self.namespace, self.app_id

    # -- reading -------------------------------------------------------------------------------------------

    async def list(self, filters: Filters, *, order: Sequence[tuple[str, str]], limit: int,
                   offset: int) -> list[EscalationEntry]:
        rows = await self.db.fetch(_sql("list", order=order_clause(order)), *self._scope, *filters.args(), limit,
                                   offset)
        return [entry_of(row) for row in rows]

    async def count(self, filters: Filters) -> int:
        value: int = await self.db.fetchval(_sql("count"), *self._scope, *filters.args())
        return value

    async def get(self, escalation_id: str) -> EscalationEntry | None:
        row = await self.db.fetchrow(_sql("get"), *self._scope, escalation_id)
        return None if row is None else entry_of(row)

    # -- claims ----------------------------------------------------------------------------------------------

    async def claim(self, escalation_id: str, *, assignee: str, seconds: float) -> ClaimResult:
        """Claim (or extend) for `seconds`. Another transaction working on the row answers `conflict` at once."""

        async def work(conn: Connection) -> ClaimResult:
            async with conn.transaction():
                row = await conn.fetchrow(_sql("lock_nowait"), *self._scope, escalation_id)
                if row is None:
                    exists = await conn.fetchval(_sql("exists"), *self._scope, escalation_id)
                    return ClaimResult(ok=False, reason="conflict" if exists else "not-found")
                if row["status"] != EscalationStatus.PENDING:
                    return ClaimResult(ok=False, reason=f"already-{row['status']}")
                if row["assigned_to"] not in (None, assignee) and row["claim_live"]:
                    return ClaimResult(ok=False, reason="conflict")
                extension = row["assigned_to"] == assignee and bool(row["claim_live"])
                updated = await conn.fetchrow(_sql("claim"), *self._scope, escalation_id, assignee, seconds)
                return ClaimResult(ok=True, entry=entry_of(updated), is_extension=extension)

        return await self.db.with_connection(work)

    async def release(self, escalation_id: str, *, assignee: str | None) -> EscalationResult:
        """Drop a claim (only `assignee`'s, when given): the row is available again."""

        async def work(conn: Connection) -> EscalationResult:
            async with conn.transaction():
                row = await conn.fetchrow(_sql("lock"), *self._scope, escalation_id)
                if row is None or row["status"] != EscalationStatus.PENDING or row["assigned_to"] is None:
                    return EscalationResult(ok=False, reason="not-found")
                if assignee is not None and row["assigned_to"] != assignee:
                    return EscalationResult(ok=False, reason="wrong-assignee")
                updated = await conn.fetchrow(_sql("release"), *self._scope, escalation_id)
                return EscalationResult(ok=True, entry=entry_of(updated))

        return await self.db.with_connection(work)

    # -- settling: status change and wake in one transaction --------------------------------------------------

    async def resolve(self, escalation_id: str, *, payload: Mapping[str, JSON] | None,
                      metadata: Mapping[str, JSON] | None, assert_claim: str | None,
                      wake: WakeBuilder) -> EscalationResult:
        """Resolve a pending row and wake its hook with `payload`, in one transaction.

        With `assert_claim`, a row whose live claim belongs to someone else is `claimed-by-other`, and the
        asserting assignee's own lapsed claim is `claim-expired`; unclaimed rows resolve (HotMesh's rule).
        """

        async def work(conn: Connection) -> EscalationResult:
            async with conn.transaction():
                row = await conn.fetchrow(_sql("lock"), *self._scope, escalation_id)
                if row is None:
                    return EscalationResult(ok=False, reason="not-found")
                if row["status"] != EscalationStatus.PENDING:
                    return EscalationResult(ok=False, reason=f"already-{row['status']}")
                if assert_claim is not None and row["assigned_to"] is not None and not row["no_window"]:
                    mine = row["assigned_to"] == assert_claim
                    if mine and not row["claim_live"]:
                        return EscalationResult(ok=False, reason="claim-expired")
                    if not mine and row["claim_live"]:
                        return EscalationResult(ok=False, reason="claimed-by-other")
                updated = entry_of(await conn.fetchrow(_sql("resolve"), *self._scope, escalation_id,
                                                       _jsonb(dict(payload or {})), _jsonb(metadata)))
                await self._wake(conn, [updated], {escalation_id: dict(payload or {})}, wake)
                return EscalationResult(ok=True, entry=updated)

        return await self.db.with_connection(work)

    async def cancel(self, escalation_id: str, *, wake: WakeBuilder) -> EscalationResult:
        """Cancel a pending row and wake its hook with the cancelled mark, in one transaction."""

        async def work(conn: Connection) -> EscalationResult:
            async with conn.transaction():
                row = await conn.fetchrow(_sql("lock"), *self._scope, escalation_id)
                if row is None:
                    return EscalationResult(ok=False, reason="not-found")
                if row["status"] != EscalationStatus.PENDING:
                    return EscalationResult(ok=False, reason="already-terminal")
                updated = entry_of(await conn.fetchrow(_sql("cancel"), *self._scope, escalation_id))
                await self._wake(conn, [updated], {escalation_id: {CANCELLED_MARK: True}}, wake)
                return EscalationResult(ok=True, entry=updated)

        return await self.db.with_connection(work)

    async def resolve_all_or_none(self, items: Sequence[tuple[str, Mapping[str, JSON]]], *,
                                  metadata: Mapping[str, JSON] | None, assert_assignee: str | None,
                                  wake: WakeBuilder) -> BatchResult:
        """Resolve every row of `items` (id, payload), with its wake, or none; `failed` names the blockers."""
        if not items:
            return BatchResult(ok=True)
        ids = [escalation_id for escalation_id, _ in items]
        payloads = {escalation_id: dict(payload) for escalation_id, payload in items}

        async def work(conn: Connection) -> BatchResult:
            async with conn.transaction():
                rows = {row["id"]: row for row in await conn.fetch(_sql("lock_many"), *self._scope, ids)}
                failed = []
                for escalation_id in ids:
                    row = rows.get(escalation_id)
                    if row is None:
                        failed.append(BatchFailure(id=escalation_id, reason="not-found"))
                    elif row["status"] != EscalationStatus.PENDING:
                        failed.append(BatchFailure(id=escalation_id, reason=f"already-{row['status']}"))
                    elif assert_assignee is not None and row["assigned_to"] != assert_assignee:
                        failed.append(BatchFailure(id=escalation_id, reason="assignee-mismatch"))
                if failed:
                    return BatchResult(ok=False, failed=tuple(failed))
                updated = [entry_of(row) for row in await conn.fetch(
                    _sql("resolve_many"), *self._scope, ids, [_jsonb(payloads[i]) for i in ids], _jsonb(metadata))]
                by_id = {entry.id: entry for entry in updated}
                ordered = [by_id[escalation_id] for escalation_id in ids]
                await self._wake(conn, ordered, payloads, wake)
                return BatchResult(ok=True, entries=tuple(ordered))

        return await self.db.with_connection(work)

    async def _wake(self, conn: Connection, entries: Sequence[EscalationEntry],
                    payloads: Mapping[str, dict[str, JSON]], wake: WakeBuilder) -> None:
        outgoing = [wake(entry, payloads[entry.id]) for entry in entries if entry.signal_key is not None]
        if outgoing:
            await run_statement(conn, self.engine.publish_statement(outgoing))

    # -- retention -------------------------------------------------------------------------------------------

    async def prune(self, older_than_s: float, *, statuses: Sequence[str], limit: int) -> int:
        """Delete up to `limit` terminal rows in `statuses` not updated for `older_than_s` seconds."""
        rows = await self.db.fetch(_sql("prune"), *self._scope, list(statuses), older_than_s, limit)
        return len(rows)


def escalation_statement(effect: OpenEscalation | SettleEscalation) -> Statement:
    """A step's escalation effect as a statement of its transaction (added by store/steps.add_effects)."""
    if isinstance(effect, OpenEscalation):
        row = effect.row
        return Statement(
            _sql("insert"),
            (row.namespace, row.app_id, row.signal_key, row.topic, row.workflow_id, row.task_queue,
             row.workflow_type, row.type, row.subtype, row.entity, row.description, row.role, row.priority,
             row.origin_id, row.parent_id, row.initiated_by, row.trace_id, row.span_id, row.task_id,
             _jsonb(row.metadata), _jsonb(row.envelope), row.expires_at), "execute")
    return Statement(_sql("settle"), (effect.namespace, effect.app_id, effect.signal_key, effect.workflow_id,
                                      effect.status, _jsonb(effect.resolver_payload)), "execute")
