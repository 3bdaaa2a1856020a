"""Escalations on real Postgres (SPEC §2.9, §11 items 58-62 as far as they need no Durable): a YAML hook with an
`escalation:` block writes its row in its step; `mesh.escalations` lists, claims, resolves and cancels it, each
status change committing the hook's wake with it; timeouts expire rows, interrupts cancel them."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest
import trio

from hotmesh_actors import HotMesh
from hotmesh_actors.core.escalations import EscalationEntry
from hotmesh_actors.errors import InvalidArgumentError, InvalidPayloadError, UnroutableEscalationError
from hotmesh_actors.store.driver import Connection

from .conformance_kit import deploy_and_activate, open_mesh, wait_status, wait_until

GRAPH = """
app:
  id: {app}
  version: '1'
  graphs:
    - subscribes: esc.test
      publishes: esc.tested
      expire: 300
      activities:
        t1:
          type: trigger
        a1:
          type: hook
          escalation:
            role: '{{t1.output.data.role}}'
            type: order-approval
            subtype: regional
            priority: '{{t1.output.data.priority}}'
            description: Approve order for dispatch
            entity: order
            metadata:
              orderId: '{{t1.output.data.orderId}}'
              region: '{{t1.output.data.region}}'
            envelope:
              instructions: Review and approve or reject the order
          job:
            maps:
              approved: '{{a1.hook.data.approved}}'
              approvedBy: '{{a1.hook.data.approvedBy}}'
              cancelled: '{{a1.hook.data.__escalation_cancelled}}'
      transitions:
        t1:
          - to: a1
      hooks:
        esc.approve:
          - to: a1
            conditions:
              match:
                - expected: '{{$job.metadata.jid}}'
                  actual: '{{$self.hook.data.id}}'

    - subscribes: esc.timed
      expire: 300
      activities:
        t2:
          type: trigger
        b1:
          type: hook
          sleep: 1
          escalation:
            role: approver
            metadata:
              kind: timed
          job:
            maps:
              timedOut: '{{b1.hook.data.timestamp}}'
      transitions:
        t2:
          - to: b1
      hooks:
        esc.timed.approve:
          - to: b1
            conditions:
              match:
                - expected: '{{$job.metadata.jid}}'
                  actual: '{{$self.hook.data.id}}'

    - subscribes: esc.plain
      expire: 300
      activities:
        t3:
          type: trigger
        c1:
          type: hook
          job:
            maps:
              approved: '{{c1.hook.data.approved}}'
      transitions:
        t3:
          - to: c1
      hooks:
        esc.plain.approve:
          - to: c1
            conditions:
              match:
                - expected: '{{$job.metadata.jid}}'
                  actual: '{{$self.hook.data.id}}'

    - subscribes: esc.piped
      expire: 300
      activities:
        t4:
          type: trigger
        d1:
          type: hook
          escalation:
            role: approver
      transitions:
        t4:
          - to: d1
      hooks:
        esc.piped.approve:
          - to: d1
            conditions:
              match:
                - expected: '{{$job.metadata.jid}}'
                  actual:
                    '@pipe':
                      - ['{{$self.hook.data.key}}', '-x']
                      - ['{{@string.concat}}']
"""


def order(n: int, **extra: Any) -> dict[str, Any]:
    return {"orderId": f"o-{n}", "region": "us-west", "role": "approver", "priority": 2, **extra}


async def started(mesh: HotMesh, app_id: str, **data: Any) -> tuple[str, EscalationEntry]:
    jid = await mesh.pub("esc.test", {**order(0), **data})
    [row] = await mesh.escalations.list(workflow_id=jid)
    return jid, row


async def job_data(mesh: HotMesh, jid: str) -> dict[str, Any]:
    return (await mesh.get_state("esc.test", jid))["data"]


# -- 58: the row is written with the suspension -------------------------------------------------------------------


async def test_item58_a_suspended_hook_writes_one_pending_row_in_its_step(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, GRAPH.format(app=app_id), "1")
    # no engine: the hook's first leg runs inside `pub`'s own transaction, so the row commits with the job
    async with HotMesh.open(app_id=app_id, dsn=pg_dsn, engine=False) as mesh:
        jid = await mesh.pub("esc.test", order(1))
        rows = await mesh.escalations.list(workflow_id=jid)
        assert len(rows) == 1
        row = rows[0]
        assert (row.status, row.signal_key, row.workflow_id, row.topic) == ("pending", jid, jid, "esc.approve")
        assert (row.namespace, row.app_id) == (app_id, app_id)
        assert (row.role, row.type, row.subtype, row.priority, row.entity) == ("approver", "order-approval",
                                                                               "regional", 2, "order")
        assert row.description == "Approve order for dispatch"
        assert row.metadata == {"orderId": "o-1", "region": "us-west"}
        assert row.envelope == {"instructions": "Review and approve or reject the order"}
        assert row.available and row.assigned_to is None and row.milestones == []
        assert await mesh.escalations.get(row.id) == row
        assert await mesh.get_status(jid) == 1
        plain = await mesh.pub("esc.plain", {})
        assert await mesh.escalations.list(workflow_id=plain) == []  # no escalation block, no row


# -- 59: claims --------------------------------------------------------------------------------------------------


async def test_item59_claim_conflict_extension_release_and_available(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, GRAPH.format(app=app_id), "1")
        esc = mesh.escalations
        jid, row = await started(mesh, app_id)
        other_jid, other = await started(mesh, app_id, orderId="o-2")

        first = await esc.claim(row.id, assignee="ann", duration_minutes=30)
        assert first.ok and not first.is_extension and first.entry is not None
        assert first.entry.assigned_to == "ann" and not first.entry.available
        assert first.entry.claim_expires_at == first.entry.assigned_until
        assert first.entry.status == "pending"  # claims are implicit: the row stays pending

        taken = await esc.claim(row.id, assignee="bob")
        assert (taken.ok, taken.reason) == (False, "conflict")
        again = await esc.claim(row.id, assignee="ann", duration_minutes=60)
        assert again.ok and again.is_extension
        assert again.entry is not None and first.entry.assigned_until is not None
        assert again.entry.assigned_until is not None and again.entry.assigned_until > first.entry.assigned_until

        available = {entry.id for entry in await esc.list(role="approver", available=True)}
        assert other.id in available and row.id not in available
        assert {entry.id for entry in await esc.list(available=False, role="approver")} == {row.id}
        assert await esc.count(role="approver", available=True) == 1

        wrong = await esc.release(row.id, assignee="bob")
        assert (wrong.ok, wrong.reason) == (False, "wrong-assignee")
        released = await esc.release(row.id, assignee="ann")
        assert released.ok and released.entry is not None and released.entry.available
        assert (await esc.release(row.id)).reason == "not-found"  # nothing claimed any more
        missing = await esc.claim(str(uuid.uuid4()), assignee="ann")
        assert (missing.ok, missing.reason) == (False, "not-found")

        # a lapsed claim no longer holds the row
        short = await esc.claim(other.id, assignee="ann", duration_minutes=0.002)
        assert short.ok
        await trio.sleep(0.3)
        assert (await esc.claim(other.id, assignee="bob")).ok
        assert jid != other_jid


async def test_item59_concurrent_claims_exactly_one_wins(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, GRAPH.format(app=app_id), "1")
        _, row = await started(mesh, app_id)
        results: dict[str, bool] = {}

        async def claim(who: str) -> None:
            results[who] = (await mesh.escalations.claim(row.id, assignee=who)).ok

        async with trio.open_nursery() as nursery:
            for who in ("ann", "bob", "cid", "dan"):
                nursery.start_soon(claim, who)
        assert sorted(results.values()) == [False, False, False, True]
        winner = next(who for who, ok in results.items() if ok)
        entry = await mesh.escalations.get(row.id)
        assert entry is not None and entry.assigned_to == winner


# -- 60: resolve -----------------------------------------------------------------------------------------------


async def test_item60_resolve_marks_the_row_and_resumes_the_job(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, GRAPH.format(app=app_id), "1")
        esc = mesh.escalations
        jid, row = await started(mesh, app_id)
        claim = await esc.claim(row.id, assignee="ann", duration_minutes=5)
        assert claim.ok
        done = await esc.resolve(row.id, resolver_payload={"approved": True, "approvedBy": "ann"},
                                 metadata={"outcome": "approved"}, assert_claim="ann")
        assert done.ok and done.entry is not None
        assert (done.entry.status, done.entry.resolver_payload) == ("resolved", {"approved": True,
                                                                                 "approvedBy": "ann"})
        assert done.entry.resolved_at is not None and not done.entry.available
        assert done.entry.metadata == {"orderId": "o-0", "region": "us-west", "outcome": "approved"}
        await wait_status(mesh, jid, 0)
        assert await job_data(mesh, jid) == {"approved": True, "approvedBy": "ann"}
        again = await esc.resolve(row.id, resolver_payload={"approved": False})
        assert (again.ok, again.reason) == (False, "already-resolved")
        entry = await esc.get(row.id)
        assert entry is not None and entry.resolver_payload == {"approved": True, "approvedBy": "ann"}


async def test_item60_the_wake_commits_with_the_resolve(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, GRAPH.format(app=app_id), "1")
    async with HotMesh.open(app_id=app_id, dsn=pg_dsn, engine=False) as mesh:
        jid, row = await started(mesh, app_id)
        assert await mesh.jobs.engine_streams.depth(app_id) == 0
        assert (await mesh.escalations.resolve(row.id, resolver_payload={"approved": True})).ok
        # committed: the status change and the wake, together; no engine has seen either yet
        assert await mesh.jobs.engine_streams.depth(app_id) == 1
        assert await mesh.get_status(jid) == 1
    # the process that resolved is gone; an engine started later delivers the wake
    async with open_mesh(app_id, pg_dsn) as mesh:
        await wait_status(mesh, jid, 0)
        assert (await job_data(mesh, jid))["approved"] is True


async def test_item60_assert_claim_blocks_other_and_lapsed_claims(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, GRAPH.format(app=app_id), "1")
        esc = mesh.escalations
        jid, row = await started(mesh, app_id)
        assert (await esc.claim(row.id, assignee="bob", duration_minutes=5)).ok
        blocked = await esc.resolve(row.id, resolver_payload={"approved": True}, assert_claim="ann")
        assert (blocked.ok, blocked.reason) == (False, "claimed-by-other")
        assert (await esc.release(row.id, assignee="bob")).ok
        assert (await esc.claim(row.id, assignee="ann", duration_minutes=0.002)).ok
        await trio.sleep(0.3)
        lapsed = await esc.resolve(row.id, resolver_payload={"approved": True}, assert_claim="ann")
        assert (lapsed.ok, lapsed.reason) == (False, "claim-expired")
        assert (await esc.get(row.id)) is not None
        assert await mesh.get_status(jid) == 1  # blocked resolves wrote nothing and woke nobody
        assert (await esc.resolve(row.id, resolver_payload={"approved": True})).ok  # no assertion: resolves
        await wait_status(mesh, jid, 0)


# -- 61: cancel, timeout, interrupt ------------------------------------------------------------------------------


async def test_item61_cancel_wakes_the_hook_with_the_cancelled_mark(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, GRAPH.format(app=app_id), "1")
        esc = mesh.escalations
        jid, row = await started(mesh, app_id)
        cancelled = await esc.cancel(row.id)
        assert cancelled.ok and cancelled.entry is not None and cancelled.entry.status == "cancelled"
        await wait_status(mesh, jid, 0)
        assert await job_data(mesh, jid) == {"cancelled": True}
        assert (await esc.cancel(row.id)).reason == "already-terminal"
        assert (await esc.resolve(row.id)).reason == "already-cancelled"
        assert (await esc.cancel(str(uuid.uuid4()))).reason == "not-found"


async def test_item61_a_timeout_expires_the_row(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, GRAPH.format(app=app_id), "1")
        jid = await mesh.pub("esc.timed", {})
        [row] = await mesh.escalations.list(workflow_id=jid)
        await wait_status(mesh, jid, 0, timeout=10)
        entry = await mesh.escalations.get(row.id)
        assert entry is not None and entry.status == "expired" and entry.resolved_at is None
        late = await mesh.escalations.resolve(row.id, resolver_payload={"approved": True})
        assert (late.ok, late.reason) == (False, "already-expired")


async def test_item61_interrupt_cancels_the_jobs_pending_rows(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, GRAPH.format(app=app_id), "1")
        jid, row = await started(mesh, app_id)
        await mesh.interrupt("esc.test", jid, reason="withdrawn")
        entry = await mesh.escalations.get(row.id)
        assert entry is not None and entry.status == "cancelled"
        assert (await mesh.escalations.resolve(row.id)).reason == "already-cancelled"


async def test_a_plain_signal_that_resumes_the_hook_resolves_its_row(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, GRAPH.format(app=app_id), "1")
        jid, row = await started(mesh, app_id)
        await mesh.signal("esc.approve", {"id": jid, "approved": True, "approvedBy": "mail"})
        await wait_status(mesh, jid, 0)

        async def settled() -> bool:
            entry = await mesh.escalations.get(row.id)
            return entry is not None and entry.status == "resolved"

        await wait_until(settled, what="the row resolved by the hook's signal")
        entry = await mesh.escalations.get(row.id)
        assert entry is not None and entry.resolver_payload == {"id": jid, "approved": True, "approvedBy": "mail"}


async def test_a_wake_that_cannot_be_addressed_writes_nothing(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, GRAPH.format(app=app_id), "1")
        jid = await mesh.pub("esc.piped", {})
        [row] = await mesh.escalations.list(workflow_id=jid)
        with pytest.raises(UnroutableEscalationError, match="matches signals with"):
            await mesh.escalations.resolve(row.id, resolver_payload={"approved": True})
        entry = await mesh.escalations.get(row.id)
        assert entry is not None and entry.status == "pending"
        assert await mesh.jobs.engine_streams.depth(app_id) == 0


# -- 62: all or none ---------------------------------------------------------------------------------------------


async def test_item62_resolve_all_or_none_resolves_every_row_or_none(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, GRAPH.format(app=app_id), "1")
        esc = mesh.escalations
        jobs = [await started(mesh, app_id, orderId=f"o-{n}") for n in range(4)]
        (j0, r0), (j1, r1), (j2, r2), (j3, r3) = jobs
        batch = await esc.resolve_all_or_none([{"id": r0.id, "resolver_payload": {"approved": True}},
                                               (r1.id, {"approved": False})], metadata={"batch": "b1"})
        assert batch.ok and [entry.id for entry in batch.entries] == [r0.id, r1.id]
        assert [entry.resolver_payload for entry in batch.entries] == [{"approved": True}, {"approved": False}]
        await wait_status(mesh, j0, 0)
        await wait_status(mesh, j1, 0)
        assert (await job_data(mesh, j1))["approved"] is False

        ghost = str(uuid.uuid4())
        blocked = await esc.resolve_all_or_none([(r2.id, {"approved": True}), (r0.id, {}), (ghost, None)])
        assert not blocked.ok and blocked.entries == ()
        assert {(f.id, f.reason) for f in blocked.failed} == {(r0.id, "already-resolved"), (ghost, "not-found")}
        entry = await esc.get(r2.id)
        assert entry is not None and entry.status == "pending"  # resolvable itself, but the batch wrote nothing
        assert await mesh.get_status(j2) == 1

        assert (await esc.claim(r3.id, assignee="bob")).ok
        mismatch = await esc.resolve_all_or_none([(r2.id, None), (r3.id, None)], assert_assignee="bob")
        assert [(f.id, f.reason) for f in mismatch.failed] == [(r2.id, "assignee-mismatch")]
        assert (await esc.resolve_all_or_none([])).ok
        with pytest.raises(InvalidArgumentError, match="more than once"):
            await esc.resolve_all_or_none([(r2.id, None), (r2.id, None)])


async def _overlapping_round(mesh: HotMesh, app_id: str, round_number: int) -> None:
    """Batches rows[0:3] and rows[2:4] (sharing rows[2]) resolve at once; exactly one may win."""
    esc = mesh.escalations
    rows = [(await started(mesh, app_id, orderId=f"r{round_number}-{n}"))[1] for n in range(4)]
    batches = {"first": [(row.id, {"by": "first"}) for row in rows[:3]],
               "second": [(row.id, {"by": "second"}) for row in rows[2:]]}
    outcomes: dict[str, bool] = {}
    holding = trio.Event()
    release = threading.Event()  # read by the driver's asyncio thread

    async def hold_shared_row(conn: Connection) -> None:
        # a third transaction holds the shared row, so both batches are in flight at once and queue on it
        async with conn.transaction():
            await conn.execute("SELECT 1 FROM public.hmsh_escalations WHERE id = $1::uuid FOR UPDATE", rows[2].id)
            mesh.db.bridge.to_trio(holding.set)
            while not release.is_set():
                await asyncio.sleep(0.01)

    async def run(name: str) -> None:
        outcomes[name] = (await esc.resolve_all_or_none(batches[name])).ok

    async def both_waiting() -> bool:
        count = await mesh.db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE '%hmsh_escalations%' AND datname = current_database()")
        return int(count) >= 2

    async with trio.open_nursery() as nursery:
        nursery.start_soon(mesh.db.with_connection, hold_shared_row)
        await holding.wait()
        nursery.start_soon(run, "first")
        nursery.start_soon(run, "second")
        await wait_until(both_waiting, what="both batches blocked on the shared row")
        release.set()
    assert sorted(outcomes.values()) == [False, True], outcomes
    winner = "first" if outcomes["first"] else "second"
    entries = [await esc.get(row.id) for row in rows]
    resolved = [entry for entry in entries if entry is not None and entry.status == "resolved"]
    assert [entry.id for entry in resolved] == [row_id for row_id, _ in batches[winner]]
    assert all(entry.resolver_payload == {"by": winner} for entry in resolved)


async def test_item62_of_two_overlapping_concurrent_batches_exactly_one_wins(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, GRAPH.format(app=app_id), "1")
        for round_number in range(3):
            await _overlapping_round(mesh, app_id, round_number)


# -- listing, pruning, bad input -------------------------------------------------------------------------------


async def test_list_filters_ordering_and_paging(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, GRAPH.format(app=app_id), "1")
        esc = mesh.escalations
        rows = []
        for n, (role, priority) in enumerate([("approver", 3), ("manager", 1), ("approver", 1), ("auditor", 5)]):
            rows.append((await started(mesh, app_id, orderId=f"o-{n}", role=role, priority=priority))[1])
        ids = [row.id for row in rows]
        by_priority = [entry.id for entry in await esc.list()]
        assert by_priority == [ids[2], ids[1], ids[0], ids[3]]  # priority ascending, then newest first
        assert [e.id for e in await esc.list(order_by=[("created_at", "asc")])] == ids
        assert [e.id for e in await esc.list(sort_by="created_at", sort_order="desc")] == ids[::-1]
        assert [e.id for e in await esc.list(order_by=[("created_at", "asc")], limit=2, offset=1)] == ids[1:3]
        assert {e.id for e in await esc.list(role="approver")} == {ids[0], ids[2]}
        assert {e.id for e in await esc.list(roles=["manager", "auditor"])} == {ids[1], ids[3]}
        assert [e.id for e in await esc.list(metadata={"orderId": "o-3"})] == [ids[3]]
        assert {e.id for e in await esc.list(priority=1)} == {ids[1], ids[2]}
        assert {e.id for e in await esc.list(ids=[ids[0], ids[3]])} == {ids[0], ids[3]}
        assert await esc.count(type="order-approval", status="pending", subtype="regional", entity="order") == 4
        assert await esc.count(status="resolved") == 0
        assert await esc.get(str(uuid.uuid4())) is None
        with pytest.raises(InvalidArgumentError, match="unknown escalation filter"):
            await esc.list(rol="approver")
        with pytest.raises(InvalidArgumentError, match="UUID"):
            await esc.get("not-an-id")
        with pytest.raises(InvalidArgumentError):
            await esc.list(status="done")
        with pytest.raises(InvalidArgumentError):
            await esc.list(order_by=[("description", "asc")])
        with pytest.raises(InvalidPayloadError):
            await esc.resolve(ids[0], resolver_payload={"note": "a\x00b"})
        with pytest.raises(InvalidArgumentError):
            await esc.claim(ids[0], assignee="", duration_minutes=1)
        entry = await esc.get(ids[0])
        assert entry is not None and entry.status == "pending"


async def test_prune_deletes_only_old_terminal_rows(pg_dsn: str, app_id: str) -> None:
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, GRAPH.format(app=app_id), "1")
        esc = mesh.escalations
        done_jid, done = await started(mesh, app_id, orderId="o-done")
        gone_jid, gone = await started(mesh, app_id, orderId="o-gone")
        live_jid, live = await started(mesh, app_id, orderId="o-live")
        assert (await esc.resolve(done.id, resolver_payload={"approved": True})).ok
        assert (await esc.cancel(gone.id)).ok
        assert await esc.prune("1 day") == 0
        assert await esc.prune(0, statuses=["cancelled"]) == 1
        assert await esc.prune(0) == 1
        assert await esc.get(done.id) is None and await esc.get(gone.id) is None
        assert (await esc.resolve(live.id, resolver_payload={"approved": True})).ok  # the live waiter still resolves
        await wait_status(mesh, live_jid, 0)
        with pytest.raises(InvalidArgumentError):
            await esc.prune("a while")
        assert done_jid and gone_jid
