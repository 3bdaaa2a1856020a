"""Pure checks of the engine behaviours HotMesh's awaiter/signal/pending apps exercise (no I/O)."""

from __future__ import annotations

import itertools
import string
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from hotmesh_actors import compile_app
from hotmesh_actors.core.activities.dispatch import run_transitions
from hotmesh_actors.core.activities.effects import Publish, SignalAll
from hotmesh_actors.core.activities.trigger import index_facets, start_job, stats_key
from hotmesh_actors.core.messages import MessageStatus, MessageType
from hotmesh_actors.core.pipe import PipeEnv

ENV = PipeEnv(now_ms=1_700_000_000_000, random=lambda: 0.5)

APP = """
app:
  id: s
  version: '1'
  graphs:
    - subscribes: parent
      activities:
        p: {type: trigger}
        spawn: {type: await, topic: child, await: '{p.output.data.flag}'}
        fan:
          type: signal
          subtype: all
          topic: child.go
          key_name: parent_job_id
          key_value: '{$job.metadata.jid}'
          resolver: {maps: {data: {parent_job_id: '{$job.metadata.jid}'}, scrub: true}}
          signal: {maps: {done: true}}
      transitions:
        p: [{to: spawn}, {to: fan}]
    - subscribes: child
      activities:
        c:
          type: trigger
          emit: true
          stats:
            key: '{$self.input.data.parent_job_id}'
            measures:
              - {measure: index, target: '{$self.input.data.parent_job_id}'}
              - {measure: count, target: '{$self.input.data.other}'}
        h: {type: hook, hook: {type: object}}
      transitions:
        c: [{to: h}]
      hooks:
        child.go:
          - to: h
            conditions: {match: [{expected: '{$job.metadata.jid}', actual: '{$self.hook.data.id}'}]}
"""


def _ids() -> Callable[[], str]:
    counter = itertools.count()
    return lambda: f"g{next(counter)}"


def _await_flag(data: dict[str, object]) -> bool:
    app = compile_app(APP)
    ctx = start_job(app, "parent", data, env=ENV, new_guid=_ids())
    run_transitions(ctx)
    (message,) = [e.message for e in ctx.effects if isinstance(e, Publish) and e.message.type is MessageType.AWAIT]
    return bool(message.metadata.await_)


def test_only_an_explicit_false_detaches_the_child() -> None:
    assert _await_flag({}) is True  # the reference resolves to nothing: wait (HotMesh: `doAwait === false`)
    assert _await_flag({"flag": True}) is True
    assert _await_flag({"flag": 0}) is True
    assert _await_flag({"flag": False}) is False


def test_signal_all_looks_up_the_childs_index_facet_within_its_stats_key() -> None:
    app = compile_app(APP)
    ctx = start_job(app, "parent", {}, env=ENV, new_guid=_ids(), job_id="P1")
    run_transitions(ctx)
    (effect,) = [e for e in ctx.effects if isinstance(e, SignalAll)]
    assert (effect.stats_key, effect.facet, effect.scrub) == ("P1", "parent_job_id:P1", True)
    assert effect.message.type is MessageType.WEBHOOK and dict(effect.message.data) == {"done": True}


def test_a_child_files_itself_under_its_index_facets_and_emits_to_its_parent_as_pending() -> None:
    app = compile_app(APP)
    from hotmesh_actors.core.activities.trigger import Lineage

    ctx = start_job(app, "child", {"parent_job_id": "P1"}, env=ENV, new_guid=_ids(),
                    job_id="C1", lineage=Lineage(parent_jid="P1", parent_gid="G", parent_dad=",0,0",
                                                 parent_aid="spawn"))
    assert ctx.job.index_entries == [("P1", "parent_job_id:P1")]  # `count` measures file nothing
    results = [e.message for e in ctx.effects if isinstance(e, Publish) and e.message.type is MessageType.RESULT]
    assert [(m.status, m.code, m.metadata.aid) for m in results] == [(MessageStatus.PENDING, 202, "spawn")]


def test_a_pending_job_starts_at_minus_one_and_enters_nothing() -> None:
    app = compile_app(APP)
    ctx = start_job(app, "parent", {}, env=ENV, new_guid=_ids(), pending_s=2)
    run_transitions(ctx)
    assert ctx.job.status == -1 and ctx.job.expire_s == 2
    assert not ctx.transitions and not [e for e in ctx.effects if isinstance(e, Publish)]


FIELD = st.text(string.ascii_letters + "_", min_size=1, max_size=12)


SAFE_INT = st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)  # JS numbers print exactly here


@given(field=FIELD, value=st.one_of(st.text(max_size=20), SAFE_INT, st.booleans()))
def test_index_facet_names_the_target_field_and_its_value(field: str, value: object) -> None:
    target = "{$self.input.data." + field + "}"
    context = {"$self": {"input": {"data": {field: value}}}}
    expected = str(value).lower() if isinstance(value, bool) else str(value)
    assert index_facets({"measures": [{"measure": "index", "target": target}]}, context, ENV) == [
        f"{field}:{expected}"]
    assert index_facets({"measures": [{"measure": "index", "target": target}]}, {"$self": {}}, ENV) == []


@given(value=st.text(min_size=1, max_size=20))
def test_stats_key_resolves_against_the_input_as_the_trigger_does(value: str) -> None:
    stats = {"key": "{$self.input.data.k}"}
    assert stats_key(stats, {"k": value}, ENV) == value
    assert stats_key(stats, {}, ENV) == ""
    assert stats_key(None, {"k": value}, ENV) == ""
