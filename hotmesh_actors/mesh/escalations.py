"""`mesh.escalations` (and, in phase 2, `durable_client.escalations`): human-in-the-loop work items.

A hook that suspends with an `escalation:` block (YAML) or a `condition(..., escalation=...)` (Durable) writes a
row; people find it (`list`, `count`, `get`), take it (`claim`, `release`), and finish it: `resolve` delivers its
resolver payload to the waiting hook and `cancel` wakes it with the cancelled mark, each in the same transaction
as the status change. `resolve_all_or_none` does that for a batch, all or nothing. `prune` ages out finished rows.

    [item] = await mesh.escalations.list(role="approver", available=True)
    claim = await mesh.escalations.claim(item.id, assignee="ann", duration_minutes=30)
    if claim.ok:
        await mesh.escalations.resolve(item.id, resolver_payload={"approved": True}, assert_claim="ann")

A lost race is an answer, not an exception: `.ok` is False and `.reason` says why (`conflict`,
`wrong-assignee`, `already-resolved`, …). Bad arguments raise InvalidArgumentError or InvalidPayloadError before
anything is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from hotmesh_actors.core.durations import parse_duration
from hotmesh_actors.core.escalations import (
    TERMINAL_STATUSES,
    BatchResult,
    ClaimResult,
    EscalationEntry,
    EscalationResult,
    EscalationStatus,
    routing_path,
    wake_payload,
)
from hotmesh_actors.core.graph import AppVersion
from hotmesh_actors.core.keys import signal_key
from hotmesh_actors.errors import InvalidArgumentError, UnroutableEscalationError
from hotmesh_actors.mesh.arguments import check_choice, check_payload, check_text
from hotmesh_actors.store.apps import VersionCache
from hotmesh_actors.store.escalations import ORDER_COLUMNS, EscalationStore, Filters, WakeBuilder
from hotmesh_actors.store.streams import Outgoing

JSON = Any
SignalBuilder = Callable[[AppVersion, str, dict[str, JSON]], Outgoing]
WakeFactory = Callable[[], Awaitable[WakeBuilder]]
"""Gives the wake builder for one call (read what it needs, such as the active version, before the transaction)."""

_TEXT_FILTERS = ("role", "type", "subtype", "entity", "assigned_to", "workflow_id", "origin_id", "task_id")
FILTER_NAMES = (*_TEXT_FILTERS, "roles", "status", "available", "priority", "metadata", "ids")
LIST_OPTIONS = ("sort_by", "sort_order", "order_by", "limit", "offset")


def _escalation_id(value: object) -> str:
    """An escalation id: the text of a UUID (InvalidArgumentError otherwise: no row could have it)."""
    if not isinstance(value, str):
        raise InvalidArgumentError("id", f"an escalation id is a UUID string, not {type(value).__name__}: {value!r}")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgumentError("id", f"an escalation id is a UUID string, not {value!r}") from None


def _int(argument: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(argument, f"{argument} must be an int ≥ {minimum}, not {value!r}")
    return value


def _filters(given: Mapping[str, object], allowed: Sequence[str]) -> Filters:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise InvalidArgumentError(unknown[0], f"unknown escalation filter(s) {', '.join(unknown)}; the filters are "
                                               f"{', '.join(allowed)}")
    values: dict[str, Any] = {}
    for name in _TEXT_FILTERS:
        if given.get(name) is not None:
            values[name] = check_text(name, given[name])
    if given.get("roles") is not None:
        roles = given["roles"]
        if isinstance(roles, str) or not isinstance(roles, list | tuple):
            raise InvalidArgumentError("roles", f"roles must be a list of strings, not {roles!r}")
        values["roles"] = tuple(check_text(f"roles[{i}]", role) for i, role in enumerate(roles))
    if given.get("status") is not None:
        values["status"] = check_choice("status", given["status"], [status.value for status in EscalationStatus])
    if given.get("available") is not None:
        if not isinstance(given["available"], bool):
            raise InvalidArgumentError("available", f"available must be True or False, not {given['available']!r}")
        values["available"] = given["available"]
    if given.get("priority") is not None:
        values["priority"] = _int("priority", given["priority"], minimum=-(2**31))
    if given.get("metadata") is not None:
        values["metadata"] = check_payload(given["metadata"], argument="metadata")
    if given.get("ids") is not None:
        ids = given["ids"]
        if isinstance(ids, str) or not isinstance(ids, list | tuple):
            raise InvalidArgumentError("ids", f"ids must be a list of escalation ids, not {ids!r}")
        values["ids"] = tuple(_escalation_id(each) for each in ids)
    return Filters(**values)


def _order(options: Mapping[str, object]) -> list[tuple[str, str]]:
    """HotMesh's ordering: `order_by` [(column, direction), …] wins; else `sort_by`/`sort_order`; else priority
    ascending (most urgent first), then newest first."""
    order_by = options.get("order_by")
    if order_by is not None:
        if isinstance(order_by, str) or not isinstance(order_by, list | tuple):
            raise InvalidArgumentError("order_by", "order_by must be a list of (column, 'asc'|'desc') pairs")
        pairs = []
        for item in order_by:
            if not (isinstance(item, list | tuple) and len(item) == 2):
                raise InvalidArgumentError("order_by", f"order_by items are (column, direction) pairs, not {item!r}")
            column = check_choice("order_by column", item[0], ORDER_COLUMNS)
            direction = check_choice("order_by direction", item[1], ["asc", "desc"])
            pairs.append((column, direction))
        return pairs
    sort_by = check_choice("sort_by", options.get("sort_by") or "priority", ["priority", "created_at", "updated_at"])
    sort_order = check_choice("sort_order", options.get("sort_order") or "asc", ["asc", "desc"])
    return [(sort_by, sort_order), ("created_at", "desc")] if sort_by == "priority" else [(sort_by, sort_order)]


class Escalations:
    """The escalations of one app (see the module docstring); `mesh.escalations`.

    `wakes` builds the signals that resume waiting hooks: :func:`hook_wakes` for YAML hooks (phase 2 passes
    Durable's, which routes to a condition by its signal id).
    """

    def __init__(self, store: EscalationStore, wakes: WakeFactory) -> None:
        self._store = store
        self._wakes = wakes

    # -- reading -------------------------------------------------------------------------------------------

    async def list(self, **filters: object) -> list[EscalationEntry]:
        """Rows matching the filters: `role`, `roles` (any of), `type`, `subtype`, `entity`, `status`,
        `assigned_to`, `workflow_id`, `origin_id`, `available` (True: pending and not actively claimed),
        `priority`, `metadata` (rows whose metadata contains this object), `ids`, `task_id`; ordered by
        `order_by=[(column, "asc"|"desc")]` or `sort_by`/`sort_order` (default: priority, most urgent first);
        `limit` (default 50) and `offset`. Example: ``await mesh.escalations.list(role="manager", available=True)``.
        """
        chosen = _filters({k: v for k, v in filters.items() if k not in LIST_OPTIONS}, FILTER_NAMES)
        options = {k: v for k, v in filters.items() if k in LIST_OPTIONS}
        limit = _int("limit", options.get("limit", 50), minimum=0)
        offset = _int("offset", options.get("offset", 0), minimum=0)
        return await self._store.list(chosen, order=_order(options), limit=limit, offset=offset)

    async def count(self, **filters: object) -> int:
        """How many rows match the filters (those of `list`)."""
        return await self._store.count(_filters(filters, FILTER_NAMES))

    async def get(self, escalation_id: str) -> EscalationEntry | None:
        """One row by id, or None."""
        return await self._store.get(_escalation_id(escalation_id))

    # -- claims ----------------------------------------------------------------------------------------------

    async def claim(self, escalation_id: str, *, assignee: str, duration_minutes: float = 1) -> ClaimResult:
        """Hold a pending row for `duration_minutes`; the same assignee re-claiming extends it (`is_extension`).

        `ok` False with `reason`: `not-found`, `conflict` (someone else holds a live claim, or is settling the row
        right now), `already-resolved` / `already-cancelled` / `already-expired`.
        """
        who = check_text("assignee", assignee)
        if isinstance(duration_minutes, bool) or not isinstance(duration_minutes, int | float) or \
                not 0 < duration_minutes < 10**7:
            raise InvalidArgumentError("duration_minutes", f"duration_minutes must be a positive number, not "
                                                           f"{duration_minutes!r}")
        return await self._store.claim(_escalation_id(escalation_id), assignee=who,
                                       seconds=float(duration_minutes) * 60)

    async def release(self, escalation_id: str, *, assignee: str | None = None) -> EscalationResult:
        """Give a claimed row back (only `assignee`'s claim, when given): `not-found` when no pending row is
        claimed, `wrong-assignee` when another holds it."""
        who = None if assignee is None else check_text("assignee", assignee)
        return await self._store.release(_escalation_id(escalation_id), assignee=who)

    # -- settling ----------------------------------------------------------------------------------------------

    async def resolve(self, escalation_id: str, *, resolver_payload: Mapping[str, JSON] | None = None,
                      metadata: Mapping[str, JSON] | None = None, assert_claim: str | None = None) -> EscalationResult:
        """Resolve a pending row and resume its waiting hook with `resolver_payload`, in one transaction.

        `metadata` is merged into the row's metadata (what happened, next to what was asked). With
        `assert_claim=assignee`, resolving fails with `claimed-by-other` while someone else holds a live claim
        and with `claim-expired` when that assignee's own claim has lapsed. Other reasons: `not-found`,
        `already-resolved`, `already-cancelled`, `already-expired` (its wait timed out).
        Raises UnroutableEscalationError (nothing written) when the wake cannot be addressed to the hook.
        """
        payload = check_payload({} if resolver_payload is None else resolver_payload, argument="resolver_payload")
        merged = None if metadata is None else check_payload(metadata, argument="metadata")
        who = None if assert_claim is None else check_text("assert_claim", assert_claim)
        wake = await self._wakes()
        return await self._store.resolve(_escalation_id(escalation_id), payload=payload, metadata=merged,
                                         assert_claim=who, wake=wake)

    async def cancel(self, escalation_id: str) -> EscalationResult:
        """Cancel a pending row and wake its hook with ``{"__escalation_cancelled": true}`` (a Durable condition
        then returns None), in one transaction. `not-found`, or `already-terminal`."""
        wake = await self._wakes()
        return await self._store.cancel(_escalation_id(escalation_id), wake=wake)

    async def resolve_all_or_none(self, items: Sequence[Mapping[str, JSON] | tuple[str, Mapping[str, JSON] | None]],
                                  *, metadata: Mapping[str, JSON] | None = None,
                                  assert_assignee: str | None = None) -> BatchResult:
        """Resolve every row of `items` with its own payload, waking each waiter, or resolve none.

        Items are ``{"id": …, "resolver_payload": {…}}`` or ``(id, payload)``. On `ok` False nothing was written
        and `failed` lists the blocking rows with their reason (`not-found`, `already-resolved`,
        `already-cancelled`, `already-expired`, `assignee-mismatch`). Of two overlapping batches running at
        once, exactly one wins.
        """
        if isinstance(items, str | bytes) or not isinstance(items, Sequence):
            raise InvalidArgumentError("items", f"items must be a list, not {type(items).__name__}")
        pairs: list[tuple[str, dict[str, JSON]]] = []
        for position, item in enumerate(items):
            if isinstance(item, Mapping):
                unknown = set(item) - {"id", "resolver_payload"}
                if unknown or "id" not in item:
                    raise InvalidArgumentError(f"items[{position}]", f"items[{position}] needs 'id' (and optionally "
                                                                     f"'resolver_payload'), got keys {sorted(item)}")
                escalation_id, payload = item["id"], item.get("resolver_payload")
            elif isinstance(item, tuple) and len(item) == 2:
                escalation_id, payload = item
            else:
                raise InvalidArgumentError(f"items[{position}]", f"items[{position}] must be a dict or an "
                                                                 f"(id, payload) pair, not {item!r}")
            pairs.append((_escalation_id(escalation_id),
                          check_payload({} if payload is None else payload,
                                        argument=f"items[{position}].resolver_payload")))
        ids = [escalation_id for escalation_id, _ in pairs]
        if len(set(ids)) != len(ids):
            raise InvalidArgumentError("items", "items name an escalation more than once")
        merged = None if metadata is None else check_payload(metadata, argument="metadata")
        who = None if assert_assignee is None else check_text("assert_assignee", assert_assignee)
        wake = await self._wakes()
        return await self._store.resolve_all_or_none(pairs, metadata=merged, assert_assignee=who, wake=wake)

    async def prune(self, older_than: float | str, *, statuses: Sequence[str] | None = None,
                    limit: int = 10_000) -> int:
        """Delete finished rows (resolved, cancelled, expired; or those of `statuses`) not updated for
        `older_than` (seconds or ``"90 days"``); at most `limit` per call. Live rows are never touched. → how
        many were deleted (call again while it returns `limit`)."""
        try:
            seconds = parse_duration(older_than)
        except ValueError as error:
            raise InvalidArgumentError("older_than", f"older_than: {error}") from None
        if seconds < 0:
            raise InvalidArgumentError("older_than", f"older_than must not be negative: {older_than!r}")
        terminal = [status.value for status in TERMINAL_STATUSES]
        chosen = terminal if statuses is None else [check_choice("statuses", s, terminal) for s in statuses]
        return await self._store.prune(seconds, statuses=chosen, limit=_int("limit", limit, minimum=1))



def hook_wakes(versions: VersionCache, signal: SignalBuilder) -> WakeFactory:
    """Wakes for YAML hooks: the signal `mesh.signal` would send on the row's topic, with the hook rule's routing
    field (``{$self.hook.data.<field>}`` of `match[0].actual`) set to the row's signal key, checked to reach the
    hook's registration before anything is written."""

    async def factory() -> WakeBuilder:
        app = await versions.active()

        def build(entry: EscalationEntry, data: dict[str, JSON]) -> Outgoing:
            topic = entry.topic or ""
            rules = app.hook_rules_for(topic)
            if not rules:
                raise UnroutableEscalationError(f"escalation {entry.id}: no hook of app {app.app_id!r} v{app.version} "
                                                f"listens on its topic {topic!r}; nothing was written")
            match = (rules[0].conditions.get("match") if rules[0].conditions else None) or []
            actual = match[0].get("actual") if match else None
            signal_value = entry.signal_key or ""
            if actual is None:
                payload = dict(data)
            else:
                path = routing_path(actual)
                if path is None:
                    raise UnroutableEscalationError(
                        f"escalation {entry.id}: the hook rule on {topic!r} matches signals with {actual!r}, which "
                        "a wake cannot be addressed to (only a plain {$self.hook.data.<field>} reference can); "
                        "nothing was written: signal the hook with mesh.signal instead")
                payload = wake_payload(path, signal_value, data)
            outgoing = signal(app, topic, payload)
            if outgoing.order_key != signal_key(topic, signal_value):
                raise UnroutableEscalationError(f"escalation {entry.id}: its wake would reach {outgoing.order_key!r}, "
                                                f"not the hook's {signal_key(topic, signal_value)!r}; nothing was "
                                                "written")
            return outgoing

        return build

    return factory
