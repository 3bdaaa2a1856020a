"""The graph compiler: ancestors, parents, adjacency, aliases, back-refs, hooks, cycles, dependency
paths, structural errors, and the immutability of the AppVersion it returns."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import attrs
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from hotmesh_actors.core.graph import (
    AppVersion,
    FrozenDict,
    FrozenList,
    Transition,
    compile_app,
    compile_document,
    freeze,
    load_source,
    thaw,
)
from hotmesh_actors.errors import GraphValidationError

SEQUENCE = """
app:
  id: abc
  version: '7'
  settings: {region: eu}
  graphs:
    - subscribes: abc.test
      publishes: abc.done
      expire: 120
      persistent: false
      input: {schema: {type: object, properties: {a: {type: string}}}}
      output: {schema: {type: object, properties: {b: {type: string}, c: {type: string}}}}
      activities:
        t1: {type: trigger}
        a1:
          type: worker
          topic: work.do
          input: {maps: {x: '{t1.output.data.a}', z: '{a1.input.data.x}'}}
          job: {maps: {b: '{$self.output.data.y}'}}
        a2:
          type: worker
          topic: work.do.more
          input: {maps: {i: '{a1.output.data.y}'}}
          job: {maps: {c: '{$self.output.data.o}', seen: '{$job.data.b}'}}
      transitions:
        t1: [{to: a1}]
        a1:
          - to: a2
            conditions:
              match:
                - expected: true
                  actual: {'@pipe': [['{a1.output.data.y}', 'hello world'], ['{@conditional.equality}']]}
"""

CYCLE = """
app:
  id: cycle
  version: '1'
  graphs:
    - subscribes: cycle.test
      activities:
        t1: {type: trigger}
        a1: {type: hook}
        w1:
          type: worker
          topic: cycle.count
          job: {maps: {counter: '{$self.output.data.counter}'}}
        c1: {type: cycle, ancestor: a1, input: {maps: {counter: '{w1.output.data.counter}'}}}
      transitions:
        t1: [{to: a1}]
        a1: [{to: w1}]
        w1:
          - to: c1
            conditions:
              match:
                - expected: true
                  actual: {'@pipe': [['{w1.output.data.counter}', 5], ['{@conditional.less_than}']]}
"""

HOOKS = """
app:
  id: hooks
  version: '2'
  graphs:
    - subscribes: order.placed
      activities:
        t1: {type: trigger}
        approve:
          type: hook
          hook: {type: object, properties: {approved: {type: boolean}}}
          job: {maps: {approved: '{$self.hook.data.approved}'}}
        legacy: {type: activity}
      transitions:
        t1: [{to: approve}]
        approve: [{to: legacy}]
      hooks:
        order.approval:
          - to: approve
            conditions:
              match:
                - expected: '{$job.metadata.jid}'
                  actual: '{$self.hook.data.id}'
    - subscribes: .private.child
      activities:
        t9: {type: trigger, stats: {id: '{$self.input.data.id}'}}
"""


def compile_yaml(text: str) -> AppVersion:
    return compile_document(yaml.safe_load(text))


def graph_doc(
    activities: dict[str, Any], transitions: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    graph: dict[str, Any] = {"subscribes": "x.test", "activities": activities, **extra}
    if transitions is not None:
        graph["transitions"] = transitions
    return {"app": {"id": "x", "version": "1", "graphs": [graph]}}


# -- structure ---------------------------------------------------------------------------------------


def test_ancestors_are_the_path_from_the_trigger() -> None:
    app = compile_yaml(SEQUENCE)
    assert app.activity("t1").ancestors == ()
    assert app.activity("a1").ancestors == ("t1",)
    assert app.activity("a2").ancestors == ("t1", "a1")


def test_parent_comes_from_the_incoming_transition() -> None:
    app = compile_yaml(SEQUENCE)
    assert app.activity("t1").parent is None
    assert app.activity("a1").parent == "t1"
    assert app.activity("a2").parent == "a1"


def test_adjacency_keeps_yaml_order_and_conditions() -> None:
    app = compile_document(
        graph_doc(
            {"t1": {"type": "trigger"}, "a": {"type": "hook"}, "b": {"type": "hook"}},
            {"t1": [{"to": "b"}, {"to": "a", "conditions": {"code": [200, 500]}}]},
        )
    )
    edges = app.transitions_from("t1")
    assert [edge.to for edge in edges] == ["b", "a"]
    assert edges[0].conditions is None and edges[0].codes == (200,)
    assert edges[1].codes == (200, 500)
    assert app.graphs[0].transitions["t1"] == edges
    assert app.transitions_from("a") == ()


def test_parallel_children_share_the_trigger_as_ancestor() -> None:
    app = compile_document(
        graph_doc(
            {"t1": {"type": "trigger"}, "a": {"type": "hook"}, "b": {"type": "hook"}},
            {"t1": [{"to": "a"}, {"to": "b"}]},
        )
    )
    assert app.activity("a").ancestors == app.activity("b").ancestors == ("t1",)


def test_activity_type_is_compiled_to_hook() -> None:
    app = compile_yaml(HOOKS)
    assert app.activity("legacy").type == "hook"
    assert app.activity("legacy").spec["type"] == "hook"


def test_worker_and_await_topic_becomes_subtype() -> None:
    app = compile_document(
        graph_doc(
            {
                "t1": {"type": "trigger"},
                "w": {"type": "worker", "topic": "work.do"},
                "aw": {"type": "await", "topic": "child.topic"},
                "kept": {"type": "worker", "topic": "ignored", "subtype": "explicit"},
            },
            {"t1": [{"to": "w"}, {"to": "aw"}, {"to": "kept"}]},
        )
    )
    assert app.activity("w").subtype == "work.do"
    assert app.activity("w").topic == "work.do"
    assert app.activity("aw").subtype == "child.topic"
    assert app.activity("kept").subtype == "explicit"


def test_graph_schemas_are_copied_onto_the_trigger() -> None:
    app = compile_yaml(SEQUENCE)
    trigger = app.activity("t1")
    assert trigger.output["schema"]["properties"] == {"a": {"type": "string"}}
    assert set(trigger.job["schema"]["properties"]) == {"b", "c"}
    graph = app.graph_for("abc.test")
    assert graph.input_schema is not None and graph.output_schema is not None


def test_back_references_are_bound_on_every_activity() -> None:
    app = compile_yaml(SEQUENCE)
    for activity in app.iter_activities():
        assert activity.trigger == "t1"
        assert activity.subscribes == activity.graph == "abc.test"
        assert activity.publishes == "abc.done"
        assert activity.expire == 120
        assert activity.persistent is False


def test_app_tables() -> None:
    app = compile_yaml(HOOKS)
    assert app.app_id == "hooks" and app.version == "2"
    assert app.subscriptions == {"order.placed": "t1", ".private.child": "t9"}
    assert app.graph_for(".private.child").is_private
    assert not app.graph_for("order.placed").is_private
    assert app.graph_of("approve").subscribes == "order.placed"
    assert app.activity("t9").stats == {"id": "{$self.input.data.id}"}
    assert [a.id for a in app.iter_activities()] == ["t1", "approve", "legacy", "t9"]


def test_numeric_version_is_read_as_a_string() -> None:
    document = graph_doc({"t1": {"type": "trigger"}})
    document["app"]["version"] = 3
    assert compile_document(document).version == "3"


# -- hooks and cycles ----------------------------------------------------------------------------------


def test_hook_rules_are_grouped_by_topic_and_bound_to_their_target() -> None:
    app = compile_yaml(HOOKS)
    (rule,) = app.hook_rules_for("order.approval")
    assert rule.topic == "order.approval" and rule.to == "approve"
    assert rule.conditions is not None
    assert rule.conditions["match"][0]["expected"] == "{$job.metadata.jid}"
    approve = app.activity("approve")
    assert approve.hook_topic == "order.approval"
    assert approve.hook is not None and approve.hook["properties"] == {"approved": {"type": "boolean"}}
    assert app.graph_for("order.placed").hooks["order.approval"] == (rule,)
    assert app.hook_rules_for("nothing") == ()
    assert app.activity("legacy").hook_topic is None


def test_cycle_target_is_marked() -> None:
    app = compile_yaml(CYCLE)
    assert app.activity("a1").cycle is True
    assert app.activity("a1").spec["cycle"] is True
    assert app.activity("c1").ancestor == "a1"
    assert app.activity("c1").ancestors == ("t1", "a1", "w1")
    assert app.activity("w1").cycle is False


def test_cycle_ancestor_must_be_on_the_path() -> None:
    document = graph_doc(
        {
            "t1": {"type": "trigger"},
            "a": {"type": "hook"},
            "b": {"type": "hook"},
            "c": {"type": "cycle", "ancestor": "b"},
        },
        {"t1": [{"to": "a"}, {"to": "b"}], "a": [{"to": "c"}]},
    )
    with pytest.raises(GraphValidationError, match="not on the path"):
        compile_document(document)


def test_cycle_ancestor_must_exist() -> None:
    document = graph_doc(
        {"t1": {"type": "trigger"}, "c": {"type": "cycle", "ancestor": "nope"}}, {"t1": [{"to": "c"}]}
    )
    with pytest.raises(GraphValidationError, match="nope"):
        compile_document(document)


# -- dependency analysis ---------------------------------------------------------------------------------


def test_consumes_lists_the_full_paths_an_activity_reads() -> None:
    app = compile_yaml(SEQUENCE)
    # a1 reads the trigger input, and its own output via $self; `{a1.input…}` is not stored state.
    assert app.activity("a1").consumes == ("a1/output/data/y", "t1/output/data/a")
    # a2 reads a1's output and job data (`{$job.data.b}` → `data/b`).
    assert app.activity("a2").consumes == ("a1/output/data/y", "a2/output/data/o", "data/b")


def test_transition_conditions_count_as_reads_of_the_source_activity() -> None:
    app = compile_yaml(SEQUENCE)
    assert "a1/output/data/y" in app.activity("a1").consumes


def test_produces_lists_the_paths_others_read() -> None:
    app = compile_yaml(SEQUENCE)
    assert app.activity("t1").produces == ("t1/output/data/a",)
    assert app.activity("a1").produces == ("a1/output/data/y",)
    assert app.activity("a2").produces == ("a2/output/data/o",)


def test_hook_rule_reads_and_self_hook_data_are_produced_by_the_hook() -> None:
    app = compile_yaml(HOOKS)
    approve = app.activity("approve")
    assert approve.consumes == ("approve/hook/data/approved", "approve/hook/data/id", "metadata/jid")
    assert approve.produces == ("approve/hook/data/approved", "approve/hook/data/id")
    assert app.activity("t9").consumes == ()  # `$self.input…` is the payload, not stored


def test_reducer_variables_and_function_cells_are_not_dependencies() -> None:
    maps = {
        "names": {
            "@pipe": [
                ["{t1.output.data.people}", []],
                {
                    "@reduce": [
                        {"@pipe": [["{$output}"]]},
                        {"@pipe": [["{$item.full_name}"]]},
                        ["{@array.push}"],
                    ]
                },
            ]
        },
        "literal": "{not a reference}",
        "unknown": "{ghost.output.data.x}",
    }
    app = compile_document(graph_doc({"t1": {"type": "trigger", "job": {"maps": maps}}}))
    assert app.activity("t1").consumes == ("t1/output/data/people",)


def test_job_produces_lists_every_job_path_of_the_graph() -> None:
    app = compile_document(
        graph_doc(
            {
                "t1": {"type": "trigger", "job": {"maps": {"a": "{$self.output.data.a}"}}},
                "h": {
                    "type": "hook",
                    "job": {
                        "maps": {
                            "nested": {"deep": "x"},
                            "piped": {"@pipe": [["v"]]},
                            "slots[3]": "{$self.output.data.list}",
                            "marker[-]": {"-m": 1},
                            "search[_]": {"_s": 1},
                            "a": "again",
                        }
                    },
                },
            },
            {"t1": [{"to": "h"}]},
        )
    )
    expected = ("data/a", "data/nested/deep", "data/piped", "data/slots/0", "data/slots/1", "data/slots/2")
    assert app.activity("t1").job_produces == expected
    assert app.activity("t1").spec["PRODUCES"] == list(expected)
    assert app.graphs[0].job_paths == expected
    assert app.activity("h").job_produces == ()


# -- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (graph_doc({"h": {"type": "hook"}}), "collator-trigger-activity-not-found"),
        (graph_doc({"t1": {"type": "trigger"}, "t2": {"type": "trigger"}}), "several triggers"),
        (graph_doc({"t1": {"type": "trigger"}}, {"t1": [{"to": "ghost"}]}), "unknown activity 'ghost'"),
        (graph_doc({"t1": {"type": "trigger"}}, {"ghost": [{"to": "t1"}]}), "unknown activity 'ghost'"),
        (
            graph_doc(
                {"t1": {"type": "trigger"}, "a": {"type": "hook"}, "b": {"type": "hook"}},
                {"t1": [{"to": "a"}], "a": [{"to": "b"}], "b": [{"to": "a"}]},
            ),
            "loop back",
        ),
        (
            graph_doc({"t1": {"type": "trigger"}}, hooks={"sig": [{"to": "ghost"}]}),
            "hook rule targets unknown activity",
        ),
        ({"nope": {}}, "top-level 'app'"),
        ({"app": {"id": "x", "version": "1", "graphs": []}}, "non-empty list"),
    ],
)
def test_structural_faults_raise_graph_validation_error(document: dict[str, Any], message: str) -> None:
    with pytest.raises(GraphValidationError, match=message):
        compile_document(document)


def test_activity_ids_are_unique_across_graphs() -> None:
    document = {
        "app": {
            "id": "x",
            "version": "1",
            "graphs": [
                {"subscribes": "a", "activities": {"t1": {"type": "trigger"}}},
                {"subscribes": "b", "activities": {"t1": {"type": "trigger"}}},
            ],
        }
    }
    with pytest.raises(GraphValidationError, match="used twice"):
        compile_document(document)


def test_topics_are_unique_across_graphs() -> None:
    document = {
        "app": {
            "id": "x",
            "version": "1",
            "graphs": [
                {"subscribes": "a", "activities": {"t1": {"type": "trigger"}}},
                {"subscribes": "a", "activities": {"t2": {"type": "trigger"}}},
            ],
        }
    }
    with pytest.raises(GraphValidationError, match="subscribed by two graphs"):
        compile_document(document)


def test_errors_point_at_the_yaml_line_when_a_locator_is_given() -> None:
    text = (
        "app:\n  id: x\n  version: '1'\n  graphs:\n    - subscribes: x\n      activities:\n        t1:\n"
        "          type: trigger\n      transitions:\n        t1:\n          - to: ghost\n"
    )
    source = load_source(text)
    with pytest.raises(GraphValidationError) as caught:
        compile_document(source.document, origin=source.origin, locate=source.locate)
    assert caught.value.line == 11
    assert caught.value.path == "graphs[0].transitions.t1[0].to"


# -- immutability -----------------------------------------------------------------------------------------


def test_app_version_is_frozen_and_hashable() -> None:
    app = compile_yaml(SEQUENCE)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        app.version = "8"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        app.activity("a1").parent = "x"  # type: ignore[misc]
    assert hash(app) == hash(compile_yaml(SEQUENCE))
    assert app == compile_yaml(SEQUENCE)
    assert {app: 1}[compile_yaml(SEQUENCE)] == 1


def test_nested_json_is_read_only() -> None:
    app = compile_yaml(SEQUENCE)
    maps = app.activity("a1").input["maps"]
    assert isinstance(maps, FrozenDict) and isinstance(maps, dict)
    with pytest.raises(TypeError):
        maps["x"] = "y"
    with pytest.raises(TypeError):
        maps.update(x="y")
    rows = app.activity("a1").children[0].conditions["match"][0]["actual"]["@pipe"]  # type: ignore[index]
    assert isinstance(rows, FrozenList) and isinstance(rows, list)
    with pytest.raises(TypeError):
        rows.append(["more"])
    with pytest.raises(TypeError):
        app.activities["zz"] = app.activity("a1")


def test_frozen_json_copies_out_as_plain_mutable_data() -> None:
    frozen = freeze({"a": [1, {"b": 2}]})
    clone = copy.deepcopy(frozen)
    assert type(clone) is dict and type(clone["a"]) is list and type(clone["a"][1]) is dict
    clone["a"].append(3)
    assert frozen == {"a": [1, {"b": 2}]}
    assert thaw(frozen) == {"a": [1, {"b": 2}]}
    assert pickle.loads(pickle.dumps(frozen)) == frozen
    assert json.loads(json.dumps(frozen)) == {"a": [1, {"b": 2}]}


def test_to_json_is_plain_and_recompiles_from_the_kept_document() -> None:
    app = compile_yaml(SEQUENCE)
    dumped = json.loads(json.dumps(app.to_json()))
    a2 = dumped["app"]["graphs"][0]["activities"]["a2"]
    assert a2["ancestors"] == ["t1", "a1"] and a2["parent"] == "a1" and a2["subtype"] == "work.do.more"
    assert dumped["app"]["graphs"][0]["transitions"]["t1"] == [{"to": "a1"}]
    assert compile_document(thaw(app.document)) == app


def test_transition_model() -> None:
    assert Transition(to="a").codes == (200,)
    assert Transition(to="a", conditions=freeze({"code": 422})).codes == (422,)


KITCHEN_SINK = """
app:
  id: sink
  version: '1'
  settings: {team: fulfil}
  graphs:
    - subscribes: sink.start
      publishes: sink.done
      expire: 3600
      persistent: false
      input: {schema: {type: object, properties: {itemId: {type: string}}}}
      output: {schema: {type: object, properties: {status: {type: string}}}}
      activities:
        t1:
          type: trigger
          stats:
            id: '{$self.input.data.orderId}'
            key: '{$self.input.data.customerId}'
            parent: '{$self.input.data.originJobId}'
            adjacent: '{$self.input.data.parentJobId}'
          entity: order
          job: {maps: {itemId: '{$self.output.data.itemId}'}}
        reserve:
          title: Reserve stock
          description: Holds the items
          type: worker
          topic: inventory.reserve
          input: {schema: {type: object}, maps: {itemId: '{t1.output.data.itemId}'}}
          output:
            schema: {type: object}
            maps: {reservedAt: '{$self.output.metadata.au}'}
            '500': {schema: {type: object}}
          job: {maps: {reservationId: '{$self.output.data.reservationId}'}}
          settings: {owner: fulfil}
          telemetry: {item: '{t1.output.data.itemId}'}
          emit: '{$self.output.data.partial}'
          persist: false
          statusThreshold: 1
          statusThresholdType: stop
          retry: {maximumAttempts: 5, backoffCoefficient: 2, maximumInterval: 30s}
        child:
          type: await
          topic: sink.child
          await: true
          input: {maps: {x: '{t1.output.data.itemId}'}}
        approve:
          type: hook
          hook: {type: object, properties: {approved: {type: boolean}}}
          sleep: 86400
          escalation:
            role: approver
            type: order
            subtype: large
            priority: 2
            description: Approve the order
            entity: order
            metadata: {orderId: '{t1.output.data.orderId}'}
            envelope: {amount: '{t1.output.data.amount}'}
            expiresAt: '2030-01-01T00:00:00Z'
            originId: '{$job.metadata.jid}'
            parentId: '{$job.metadata.pj}'
            initiatedBy: system
            traceId: '{$job.metadata.trc}'
            spanId: '{$job.metadata.spn}'
            taskQueue: orders
            workflowType: approval
          job: {maps: {approved: '{$self.hook.data.approved}'}}
        wake:
          type: signal
          subtype: one
          topic: sink.approval
          signal: {maps: {id: '{t1.output.data.orderJobId}', approved: true}}
          status: success
          code: 200
        wakeAll:
          type: signal
          subtype: all
          topic: sink.approval
          key_name: customer
          key_value: '{t1.output.data.customerId}'
          resolver: {maps: {customer: '{t1.output.data.customerId}'}}
          signal: {maps: {approved: true}}
          scrub: true
        again:
          type: cycle
          ancestor: approve
          input: {maps: {approved: false}}
        stop:
          type: interrupt
          target: '{t1.output.data.otherJobId}'
          topic: sink.start
          reason: cancelled by customer
          throw: true
          code: 410
          descend: false
          stack: ''
      transitions:
        t1:
          - to: reserve
          - to: child
        reserve:
          - to: approve
          - to: stop
            conditions: {code: [500, 422]}
        approve:
          - to: wake
          - to: wakeAll
          - to: again
            conditions:
              gate: or
              match:
                - expected: false
                  actual: '{approve.hook.data.approved}'
      hooks:
        sink.approval:
          - to: approve
            conditions:
              match:
                - expected: '{$job.metadata.jid}'
                  actual: '{$self.hook.data.id}'
    - subscribes: sink.child
      activities:
        t2: {type: trigger}
"""


def test_every_documented_key_passes_validation_and_compiles() -> None:
    app = compile_app(KITCHEN_SINK)
    reserve = app.activity("reserve")
    assert reserve.status_threshold == 1 and reserve.status_threshold_type == "stop"
    assert reserve.retry == {"maximumAttempts": 5, "backoffCoefficient": 2, "maximumInterval": "30s"}
    assert reserve.description == "Holds the items" and reserve.telemetry is not None
    assert app.activity("approve").cycle and app.activity("approve").hook_topic == "sink.approval"
    assert app.activity("approve").escalation is not None
    assert app.activity("again").ancestors == ("t1", "reserve", "approve")
    assert app.activity("wakeAll").key_name == "customer" and app.activity("wakeAll").scrub is True
    assert app.activity("stop").throw is True and app.activity("stop").code == 410
    assert app.activity("child").await_ is True and app.activity("child").subtype == "sink.child"
    assert app.activity("t1").entity == "order" and app.activity("t1").stats is not None
    assert app.settings == {"team": "fulfil"}


@st.composite
def tree_graphs(draw: st.DrawFn) -> dict[str, Any]:
    """A random tree of hooks under one trigger (every activity has exactly one parent)."""
    size = draw(st.integers(min_value=1, max_value=25))
    ids = ["t"] + [f"n{index}" for index in range(1, size)]
    transitions: dict[str, list[dict[str, Any]]] = {}
    for index in range(1, size):
        parent = ids[draw(st.integers(min_value=0, max_value=index - 1))]
        transitions.setdefault(parent, []).append({"to": ids[index]})
    activities = {activity_id: {"type": "hook"} for activity_id in ids}
    activities["t"] = {"type": "trigger"}
    return graph_doc(activities, transitions)


@given(tree_graphs())
def test_ancestors_extend_the_parent_chain(document: dict[str, Any]) -> None:
    app = compile_document(document)
    for activity in app.iter_activities():
        if activity.is_trigger:
            assert activity.ancestors == () and activity.parent is None
            continue
        parent = app.activity(activity.parent or "")
        assert activity.ancestors == (*parent.ancestors, parent.id)
        assert any(edge.to == activity.id for edge in parent.children)
    assert compile_document(document) == app and hash(compile_document(document)) == hash(app)
