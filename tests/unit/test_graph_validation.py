"""validate_source: one test per kind of fault, each pinning the message and where it points."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from hotmesh_actors.core.graph.loader import load_source
from hotmesh_actors.core.graph.validate import load_schema, validate_source
from hotmesh_actors.errors import GraphValidationError

GRAPHS = Path(__file__).parents[1] / "data" / "graphs"
INVALID = GRAPHS / "invalid"
REPO = Path(__file__).parents[2]


def fault(name: str, monkeypatch: pytest.MonkeyPatch) -> GraphValidationError:
    """Validate tests/data/graphs/invalid/<name>.yaml strictly and return the error it must raise.

    Strict, so the unknown-key faults are pinned too; what lenient mode does with them is
    tests/unit/test_graph_warnings.py.
    """
    monkeypatch.chdir(INVALID)
    with pytest.raises(GraphValidationError) as caught:
        validate_source(load_source(f"{name}.yaml"), strict=True)
    return caught.value


def inline(text: str) -> None:
    validate_source(load_source(text), strict=True)


# -- valid input ---------------------------------------------------------------------------------


def test_valid_manifest_with_every_activity_type_passes() -> None:
    validate_source(load_source(GRAPHS / "valid" / "order.yaml"))


def test_activity_alias_integer_version_retry_policy_and_x_keys_are_accepted() -> None:
    inline(
        """app:
  id: shop
  version: 3
  graphs:
    - subscribes: go
      x-owner: team-a
      activities:
        start:
          type: trigger
        pause:
          type: activity
          x-ui: {colour: red}
        call:
          type: worker
          topic: '{start.output.data.queue}'
          retry: {maximumAttempts: 5, backoffCoefficient: 2, maximumInterval: '300s'}
      transitions:
        start:
          - to: pause
        pause:
          - to: call
"""
    )


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(dict(load_schema()))


def test_docs_copy_of_the_schema_is_identical_to_the_packaged_one() -> None:
    packaged = REPO / "hotmesh_actors" / "core" / "graph" / "hotmesh.schema.json"
    docs = REPO / "docs" / "hotmesh.schema.json"
    assert docs.read_bytes() == packaged.read_bytes(), "run: python scripts/sync_schema.py"


# -- schema faults ---------------------------------------------------------------------------------


def test_misspelled_activity_type_names_line_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    error = fault("misspelled_activity_type", monkeypatch)
    assert str(error) == (
        "misspelled_activity_type.yaml:10:11 graphs[0].activities.reserve.type: "
        "'wokrer' is not one of trigger, worker, await, hook, signal, cycle, interrupt, activity"
    )
    assert (error.file, error.line, error.column) == ("misspelled_activity_type.yaml", 10, 11)
    assert error.path == "graphs[0].activities.reserve.type"


def test_unknown_activity_key_points_at_the_key_and_suggests_a_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("unknown_activity_key", monkeypatch)) == (
        "unknown_activity_key.yaml:12:11 graphs[0].activities.reserve.emitt: "
        "unknown key 'emitt' in a worker activity; did you mean 'emit'?"
    )


def test_missing_required_key_points_at_the_activity(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("missing_worker_topic", monkeypatch)) == (
        "missing_worker_topic.yaml:9:9 graphs[0].activities.reserve: "
        "missing required key 'topic' of this worker activity"
    )


def test_transition_level_code_is_refused_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("transition_code_outside_conditions", monkeypatch)) == (
        "transition_code_outside_conditions.yaml:15:13 graphs[0].transitions.place[0].code: "
        "unknown key 'code' in a transition; put it under `conditions:` (a transition-level code is ignored)"
    )


def test_pipeable_number_refuses_free_text(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("sleep_not_a_number", monkeypatch)) == (
        "sleep_not_a_number.yaml:11:11 graphs[0].activities.reserve.sleep: "
        "expected a number, a '{…}' reference or a {'@pipe': [...]} object; got 'five seconds'"
    )


def test_malformed_pipe_row_points_at_the_row(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("bad_pipe_row", monkeypatch)) == (
        "bad_pipe_row.yaml:17:21 graphs[0].activities.reserve.input.maps.qty['@pipe'][1]: "
        "a @pipe row is a list of cells, a nested {'@pipe': [rows]} or a {'@reduce': [rows]}; got 42"
    )


def test_float_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("version_float", monkeypatch)) == (
        "version_float.yaml:3:3 version: "
        "version must be a numeric string such as '1' or '2' (quote it: YAML reads 1.10 as 1.1); got 1.1"
    )


def test_activity_id_with_a_dot_points_at_the_id(monkeypatch: pytest.MonkeyPatch) -> None:
    error = fault("activity_id_with_dot", monkeypatch)
    assert (error.line, error.column, error.path) == (9, 9, "graphs[0].activities['re.serve']")
    assert error.message.startswith("activity ids must start with a letter or '_'")


def test_unknown_condition_gate_lists_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("unknown_gate", monkeypatch)) == (
        "unknown_gate.yaml:16:15 graphs[0].transitions.place[0].conditions.gate: 'xor' is not one of and, or"
    )


def test_missing_app_key_points_at_the_top(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("missing_app", monkeypatch)) == "missing_app.yaml:1:1: missing required key 'app'"


def test_yaml_syntax_error_is_a_located_graph_validation_error(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("yaml_syntax_error", monkeypatch)) == (
        "yaml_syntax_error.yaml:12:18: YAML syntax error: while parsing a flow sequence started at "
        "line 11, column 18: expected ',' or ']', but got ':'"
    )


def test_duplicate_key_in_one_graph_is_caught_by_the_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("duplicate_key", monkeypatch)) == (
        "duplicate_key.yaml:12:9 graphs[0].activities.place: "
        "duplicate key 'place' (first written at line 7); YAML would silently keep only the last one"
    )


# -- semantic faults -------------------------------------------------------------------------------


def test_graph_without_trigger_points_at_its_activities(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("no_trigger", monkeypatch)) == (
        "no_trigger.yaml:6:7 graphs[0].activities: this graph has no trigger; add one activity with `type: trigger`"
    )


def test_second_trigger_points_at_its_type(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("two_triggers", monkeypatch)) == (
        "two_triggers.yaml:10:11 graphs[0].activities.reserve.type: "
        "a graph has exactly one trigger and 'place' is already it"
    )


def test_activity_id_reused_in_another_graph_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("duplicate_activity_id", monkeypatch)) == (
        "duplicate_activity_id.yaml:19:9 graphs[1].activities.reserve: "
        "duplicate activity id 'reserve' (also in graphs[0]); activity ids must be unique across the app"
    )


def test_subscribes_topic_reused_by_another_graph_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("duplicate_subscribes", monkeypatch)) == (
        "duplicate_subscribes.yaml:15:7 graphs[1].subscribes: "
        "topic 'order.place' is already subscribed by graphs[0]; each graph needs its own `subscribes` topic"
    )


def test_transition_to_unknown_activity_suggests_the_near_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("transition_to_unknown", monkeypatch)) == (
        "transition_to_unknown.yaml:14:13 graphs[0].transitions.place[0].to: "
        "transition target 'reserv' is not an activity of this graph; did you mean 'reserve'?"
    )


def test_transition_from_unknown_activity_points_at_the_source_key(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("transition_from_unknown", monkeypatch)) == (
        "transition_from_unknown.yaml:15:9 graphs[0].transitions.ship: "
        "transition source 'ship' is not an activity of this graph"
    )


def test_hook_rule_to_unknown_activity_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("hook_rule_unknown_target", monkeypatch)) == (
        "hook_rule_unknown_target.yaml:17:13 graphs[0].hooks['order.approve'][0].to: "
        "hook rule target 'approve' is not an activity of this graph"
    )


def test_hook_rule_must_target_a_hook_activity(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("hook_rule_targets_worker", monkeypatch)) == (
        "hook_rule_targets_worker.yaml:17:13 graphs[0].hooks['order.approve'][0].to: "
        "hook rules must target a `hook` activity; 'reserve' is a worker"
    )


def test_hook_topic_declared_by_two_graphs_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("hook_topic_in_two_graphs", monkeypatch)) == (
        "hook_topic_in_two_graphs.yaml:34:9 graphs[1].hooks['order.approve']: "
        "hook topic 'order.approve' is already declared by graphs[0]; "
        "its rules would be replaced, so give each graph its own topic"
    )


def test_hook_activity_listening_on_two_topics_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("hook_on_two_topics", monkeypatch)) == (
        "hook_on_two_topics.yaml:25:13 graphs[0].hooks['order.reject'][0].to: "
        "'wait' already listens on hook topic 'order.approve'; a hook activity has one topic (the later one would win)"
    )


def test_cycle_ancestor_must_be_upstream(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("cycle_ancestor_not_upstream", monkeypatch)) == (
        "cycle_ancestor_not_upstream.yaml:16:11 graphs[0].activities.again.ancestor: "
        "ancestor 'wait' is not upstream of 'again'; a cycle must name a hook on the transition path that leads to it"
    )


def test_cycle_ancestor_must_be_a_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("cycle_ancestor_not_hook", monkeypatch)) == (
        "cycle_ancestor_not_hook.yaml:14:11 graphs[0].activities.again.ancestor: "
        "a cycle re-enters a `hook` activity; ancestor 'reserve' is a worker"
    )


def test_reference_to_unknown_activity_points_at_the_mapped_value(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("unknown_reference", monkeypatch)) == (
        "unknown_reference.yaml:14:15 graphs[0].activities.reserve.input.maps.id: "
        "'{plac.output.data.id}' references activity 'plac', which does not exist; did you mean 'place'?"
    )


def test_reference_to_another_graphs_activity_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("cross_graph_reference", monkeypatch)) == (
        "cross_graph_reference.yaml:14:15 graphs[0].activities.reserve.input.maps.id: "
        "'{cancel.output.data.id}' references activity 'cancel' of graphs[1]; "
        "references only see activities of their own graph"
    )


def test_unknown_function_domain_points_at_the_pipe_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    error = fault("unknown_function_domain", monkeypatch)
    assert (error.line, error.column) == (17, 22)
    assert error.path == "graphs[0].activities.reserve.input.maps.id['@pipe'][1][0]"
    assert error.message.startswith("'{@nosuch.fn}': Unknown domain name [@nosuch]")


def test_unknown_function_name_points_at_the_pipe_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(fault("unknown_function_name", monkeypatch)) == (
        "unknown_function_name.yaml:17:22 graphs[0].activities.reserve.job.maps.total['@pipe'][1][0]: "
        "'{@math.nosuchfn}': Unknown domain function [@math.nosuchfn]"
    )


def test_system_roots_and_reducer_variables_are_not_activity_references() -> None:
    inline(
        """app:
  id: shop
  version: '1'
  graphs:
    - subscribes: go
      activities:
        start:
          type: trigger
          job:
            maps:
              a: '{$job.metadata.jid}'
              b: '{$app.id}'
              c: '{$graph.subscribes}'
              d: '{$self.output.data.x}'
              total:
                '@pipe':
                  - ['{start.output.data.items}', 0]
                  - '@reduce':
                      - ['{$output}', '{$item.price}']
                      - ['{@math.add}']
"""
    )


def test_strings_inside_json_schemas_are_not_treated_as_references() -> None:
    inline(
        """app:
  id: shop
  version: '1'
  graphs:
    - subscribes: go
      activities:
        start:
          type: trigger
          output:
            schema:
              type: object
              properties:
                x: {type: string, default: '{not.a.reference}'}
"""
    )
