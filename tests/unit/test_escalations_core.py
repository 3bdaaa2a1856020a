"""The pure side of escalations: a hook's `escalation:` block becomes an OpenEscalation effect in its Leg 1, the
leg that ends the wait settles the row, and a resolve's wake is addressed through the hook rule."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import hypothesis.strategies as st
from hypothesis import given

from hotmesh_actors import compile_app
from hotmesh_actors.core.activities.context import StepContext
from hotmesh_actors.core.activities.dispatch import run_message, run_transitions
from hotmesh_actors.core.activities.effects import OpenEscalation, SettleEscalation
from hotmesh_actors.core.activities.hook import signal_lookup
from hotmesh_actors.core.activities.trigger import start_job
from hotmesh_actors.core.escalations import (
    Escalation,
    escalation_row,
    expiry_of,
    routing_path,
    wake_payload,
)
from hotmesh_actors.core.keys import signal_key
from hotmesh_actors.core.messages import MessageMetadata, MessageType, StreamMessage
from hotmesh_actors.core.pipe import PipeEnv

ENV = PipeEnv(now_ms=1_700_000_000_000, random=lambda: 0.5, fidelity_seconds=1)

APP = """
app:
  id: esc
  version: '1'
  graphs:
    - subscribes: go
      activities:
        t: {type: trigger}
        h:
          type: hook
          sleep: 60
          escalation:
            role: '{t.output.data.role}'
            priority: '{t.output.data.priority}'
            metadata: {order: '{t.output.data.order}', missing: '{t.output.data.nothing}'}
            expiresAt: '2030-01-02T03:04:05Z'
      transitions:
        t: [{to: h}]
      hooks:
        go.approve:
          - to: h
            conditions: {match: [{expected: '{$job.metadata.jid}', actual: '{$self.hook.data.id}'}]}
    - subscribes: bare
      activities:
        t2: {type: trigger}
        h2:
          type: hook
          escalation: {description: '{t2.output.data.nothing}'}
      transitions:
        t2: [{to: h2}]
      hooks:
        bare.approve:
          - to: h2
            conditions: {match: [{expected: '{$job.metadata.jid}', actual: '{$self.hook.data.id}'}]}
"""


def _ids() -> itertools.count[int]:
    return itertools.count()


def _start(topic: str, data: dict[str, object]) -> StepContext:
    counter = _ids()
    ctx = start_job(compile_app(APP), topic, data, env=ENV, new_guid=lambda: f"g{next(counter)}",
                    default_job_id="job-1")
    run_transitions(ctx)
    return ctx


def test_a_hook_with_an_escalation_block_opens_its_row_with_the_suspension() -> None:
    ctx = _start("go", {"role": "approver", "priority": 3, "order": "o-9"})
    [effect] = [e for e in ctx.effects if isinstance(e, OpenEscalation)]
    row = effect.row
    assert (row.namespace, row.app_id, row.signal_key, row.topic, row.workflow_id) == ("esc", "esc", "job-1",
                                                                                       "go.approve", "job-1")
    assert (row.role, row.priority) == ("approver", 3)
    assert row.metadata == {"order": "o-9"}  # an undefined member is dropped, not stored as a marker
    assert row.expires_at == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert ctx.job.activity("h", ",0,0")["output"]["metadata"]["esk"] == "job-1"


def test_a_block_that_resolves_to_nothing_routing_writes_no_row() -> None:
    ctx = _start("bare", {})
    assert not [e for e in ctx.effects if isinstance(e, OpenEscalation)]
    assert "esk" not in ctx.job.activity("h2", ",0,0")["output"]["metadata"]


def _leg2(ctx: StepContext, message_type: MessageType, data: dict[str, object], code: int = 200) -> StepContext:
    job = ctx.job
    job.dirty.clear()
    step = StepContext(app=ctx.app, job=job, env=ENV, new_guid=lambda: "g-next", settings=ctx.settings)
    message = StreamMessage(metadata=MessageMetadata(guid="leg2", jid="job-1", gid=job.gid, dad=",0,0", aid="h"),
                            type=message_type, data=data, code=code)
    run_message(step, message)
    return step


def test_the_timer_expires_the_row_and_a_signal_resolves_it() -> None:
    timed = _leg2(_start("go", {"role": "a", "order": "o"}), MessageType.TIMEHOOK, {"timestamp": 1})
    assert [e for e in timed.effects if isinstance(e, SettleEscalation)] == [SettleEscalation(
        namespace="esc", app_id="esc", signal_key="job-1", workflow_id="job-1", status="expired")]
    signalled = _leg2(_start("go", {"role": "a", "order": "o"}), MessageType.WEBHOOK, {"id": "job-1", "ok": True})
    [settle] = [e for e in signalled.effects if isinstance(e, SettleEscalation)]
    assert (settle.status, settle.resolver_payload) == ("resolved", {"id": "job-1", "ok": True})
    kept_open = _leg2(_start("go", {"role": "a", "order": "o"}), MessageType.WEBHOOK, {"id": "job-1"}, code=202)
    assert not [e for e in kept_open.effects if isinstance(e, SettleEscalation)]


def test_a_wake_is_addressed_to_the_rule_of_its_topic() -> None:
    app = compile_app(APP)
    path = routing_path("{$self.hook.data.id}")
    assert path == ("id",)
    data = wake_payload(path, "job-1", {"approved": True, "id": "spoofed"})
    assert data == {"approved": True, "id": "job-1"}
    assert signal_lookup(app, ENV, "go.approve", data) == signal_key("go.approve", "job-1")
    assert wake_payload(("order", "id"), "k", {"order": {"n": 1}}) == {"order": {"n": 1, "id": "k"}}
    assert routing_path("{$self.hook.data.a.b}") == ("a", "b")
    for unroutable in ("{@string.concat}", "{$job.metadata.jid}", "literal", None, {"@pipe": []}):
        assert routing_path(unroutable) is None


@given(st.dictionaries(st.text(min_size=1), st.integers() | st.text() | st.booleans(), max_size=5), st.text())
def test_a_wake_always_routes_to_its_signal_key(payload: dict[str, object], key: str) -> None:
    app = compile_app(APP)
    data = wake_payload(("id",), key, payload)
    assert signal_lookup(app, ENV, "go.approve", data) == signal_key("go.approve", key)
    assert {k: v for k, v in data.items() if k != "id"} == {k: v for k, v in payload.items() if k != "id"}


def test_expiry_accepts_datetimes_epoch_millis_and_date_text() -> None:
    moment = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert expiry_of(moment) == moment
    assert expiry_of(moment.replace(tzinfo=None)) == moment
    assert expiry_of(moment.timestamp() * 1000) == moment
    assert expiry_of("2030-01-02T03:04:05Z") == moment
    assert expiry_of("not a date") is None and expiry_of(None) is None and expiry_of(True) is None


def test_a_durable_escalation_becomes_the_same_row_shape() -> None:
    row = escalation_row(Escalation(role="manager", type="order", metadata={"id": "A-1"}), namespace="durable",
                         app_id="durable", signal_key="approve-A-1", topic="durable.wfs.wait", workflow_id="o-A-1")
    assert (row.priority, row.role, row.metadata, row.signal_key) == (5, "manager", {"id": "A-1"}, "approve-A-1")
    assert Escalation().is_empty() and not Escalation(priority=1).is_empty()
