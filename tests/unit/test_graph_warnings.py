"""Lenient compile: keys HotMesh's compiler ignores become located warnings and change nothing.

Every kind of object whose unknown keys HotMesh ignores (app, graph, each block of an activity,
transitions, hook rules, their conditions …) gets a key it does not know: the lenient compile warns
once, at the key's file/line/column and path, and compiles to exactly what the manifest without the
key compiles to; the strict compile refuses it at the same place. Faults that are not unknown keys
stay errors in both modes.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotmesh_actors import DeployWarning, Settings
from hotmesh_actors.core.graph import AppVersion, compile_app, compile_document, thaw
from hotmesh_actors.core.graph.validate import load_schema
from hotmesh_actors.errors import ConfigurationError, GraphValidationError

BASE_YAML = """\
app:
  id: warn
  version: '1'
  settings: {some: thing}
  graphs:
    - subscribes: warn.start
      expire: 60
      input:
        schema: {type: object}
      output:
        schema: {type: object}
      activities:
        t1:
          type: trigger
          stats:
            id: '{$self.input.data.id}'
            key: '{$self.input.data.kind}'
            measures:
              - measure: count
                target: '{$self.input.data.kind}'
          job:
            maps:
              id: '{$self.input.data.id}'
        w1:
          type: worker
          topic: warn.work
          retry: {maximumAttempts: 3, backoffCoefficient: 2}
          input:
            maps:
              id: '{t1.output.data.id}'
          output:
            schema: {type: object}
          job:
            maps:
              done: '{$self.output.data.done}'
        h1:
          type: hook
          escalation:
            role: manager
            description: approve it
          hook:
            type: object
        s1:
          type: signal
          subtype: one
          topic: warn.approve
          signal:
            maps:
              ok: true
          resolver:
            maps:
              id: '{t1.output.data.id}'
      transitions:
        t1:
          - to: w1
            conditions:
              code: 200
              match:
                - expected: true
                  actual: '{t1.output.data.go}'
        w1:
          - to: h1
          - to: s1
      hooks:
        warn.approve:
          - to: h1
            conditions:
              match:
                - expected: '{t1.output.data.id}'
                  actual: '{$self.hook.data.id}'
"""
BASE: dict[str, Any] = yaml.safe_load(BASE_YAML)
G: tuple[str | int, ...] = ("app", "graphs", 0)
A = (*G, "activities")

# kind → (path of an object of that kind, an unknown key, what the warning must say about it)
KINDS: dict[str, tuple[tuple[str | int, ...], str, str]] = {
    "app": (("app",), "owner", "unknown key 'owner' in an app"),
    "graph inputs": (G, "inputs", "HotMesh ignores a graph-level `inputs:`"),
    "graph outputs": (G, "outputs", "HotMesh ignores a graph-level `outputs:`"),
    "graph input": ((*G, "input"), "maps", "unknown key 'maps' in a graph input"),
    "graph output": ((*G, "output"), "title", "unknown key 'title' in a graph output"),
    "trigger": ((*A, "t1"), "emitt", "unknown key 'emitt' in a trigger activity; did you mean 'emit'?"),
    "worker": ((*A, "w1"), "timeout", "unknown key 'timeout' in a worker activity"),
    "hook": ((*A, "h1"), "timeout", "unknown key 'timeout' in a hook activity"),
    "signal": ((*A, "s1"), "payload", "unknown key 'payload' in a signal activity"),
    "stats": ((*A, "t1", "stats"), "granularty", "did you mean 'granularity'?"),
    "measure": ((*A, "t1", "stats", "measures", 0), "label", "unknown key 'label' in a measure"),
    "job block": ((*A, "t1", "job"), "map", "unknown key 'map' in a job block; did you mean 'maps'?"),
    "input block": ((*A, "w1", "input"), "defaults", "unknown key 'defaults' in an input block"),
    "output block": ((*A, "w1", "output"), "shape", "unknown key 'shape' in an output block"),
    "retry policy": ((*A, "w1", "retry"), "maxAttempts", "did you mean 'maximumAttempts'?"),
    "escalation": ((*A, "h1", "escalation"), "priorty", "did you mean 'priority'?"),
    "signal block": ((*A, "s1", "signal"), "data", "unknown key 'data' in a signal block"),
    "resolver block": ((*A, "s1", "resolver"), "data", "unknown key 'data' in a resolver block"),
    "transition code beside to": (
        (*G, "transitions", "t1", 0),
        "code",
        "put it under `conditions:` (a transition-level code is ignored)",
    ),
    "transition condition": ((*G, "transitions", "t1", 0, "conditions"), "codes", "did you mean 'code'?"),
    "match condition": ((*G, "transitions", "t1", 0, "conditions", "match", 0), "op", "in a match condition"),
    "hook rule": ((*G, "hooks", "warn.approve", 0), "topic", "unknown key 'topic' in a hook rule"),
    "hook condition": ((*G, "hooks", "warn.approve", 0, "conditions"), "code", "in a hook condition"),
}


def with_key(path: tuple[str | int, ...], key: str, value: Any) -> dict[str, Any]:
    """A copy of BASE with `key: value` added to the object at `path`."""
    document = copy.deepcopy(BASE)
    target: Any = document
    for step in path:
        target = target[step]
    assert key not in target
    target[key] = value
    return document


def as_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def compiled_base() -> AppVersion:
    return compile_app(BASE_YAML, strict=True)


def assert_points_at(warning: DeployWarning | GraphValidationError, text: str, key: str) -> None:
    """The (line, column) named is where `key` is written in `text`."""
    assert warning.line is not None and warning.column is not None
    written = text.splitlines()[warning.line - 1][warning.column - 1 :]
    assert written.startswith(f"{key}:") or written.startswith(f"- {key}:"), written


def test_the_base_manifest_compiles_strictly_without_warnings() -> None:
    assert compiled_base().warnings == ()
    assert compile_app(BASE_YAML).warnings == ()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_of_ignored_key_warns_once_at_its_key_and_changes_nothing(kind: str) -> None:
    path, key, says = KINDS[kind]
    text = as_yaml(with_key(path, key, 7))
    app = compile_app(text)
    assert len(app.warnings) == 1
    warning = app.warnings[0]
    assert warning.file == "<inline>"
    assert warning.path.endswith(key) and key in warning.message and says in warning.message
    assert warning.message.startswith("ignored unknown key")
    assert str(warning) == f"<inline>:{warning.line}:{warning.column} {warning.path}: {warning.message}"
    assert_points_at(warning, text, key)
    base = compiled_base()
    assert app == base
    assert thaw(app.document) == thaw(base.document)  # what deploy stores has no trace of the key


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_strict_refuses_each_kind_at_the_same_key(kind: str) -> None:
    path, key, _ = KINDS[kind]
    text = as_yaml(with_key(path, key, 7))
    lenient = compile_app(text).warnings[0]
    with pytest.raises(GraphValidationError) as caught:
        compile_app(text, strict=True)
    error = caught.value
    assert (error.file, error.line, error.column, error.path) == (
        lenient.file,
        lenient.line,
        lenient.column,
        lenient.path,
    )
    assert "unknown key" in str(error) and key in str(error)


def test_hotmesh_style_manifest_warns_with_file_line_column_across_ref(tmp_path: Path) -> None:
    (tmp_path / "graphs").mkdir()
    (tmp_path / "graphs" / "sleep.yaml").write_text(
        "subscribes: sleep.do\n"
        "inputs:\n"
        "  schema: {type: object}\n"
        "activities:\n"
        "  t1: {type: trigger}\n"
        "  a1: {type: hook, sleep: 1}\n"
        "transitions:\n"
        "  t1:\n"
        "    - to: a1\n"
        "      code: 200\n",
        "utf-8",
    )
    (tmp_path / "app.yaml").write_text(
        "app:\n  id: sleepy\n  version: '1'\n  graphs:\n    - $ref: ./graphs/sleep.yaml\n", "utf-8"
    )
    app = compile_app(tmp_path / "app.yaml")
    ref_file = str(tmp_path / "graphs" / "sleep.yaml")
    assert [(w.file, w.line, w.column, w.path) for w in app.warnings] == [
        (ref_file, 2, 1, "graphs[0].inputs"),
        (ref_file, 10, 7, "graphs[0].transitions.t1[0].code"),
    ]
    # HotMesh compiles a transition without `conditions` to an unconditional `true`; so do we.
    (edge,) = app.graph_for("sleep.do").transitions["t1"]
    assert edge.to == "a1" and edge.conditions is None
    assert app.activity("t1").output.get("schema") is None  # `inputs` did not become the trigger's schema
    with pytest.raises(GraphValidationError, match=r"unknown key 'inputs' in a graph"):
        compile_app(tmp_path / "app.yaml", strict=True)


def test_recompiling_the_stored_document_gives_the_same_app_without_warnings() -> None:
    app = compile_app(as_yaml(with_key(G, "inputs", {"schema": {"type": "object"}})))
    assert len(app.warnings) == 1
    again = compile_document(thaw(app.document))
    assert again == app and again.warnings == ()


# -- still errors in lenient mode ------------------------------------------------------------------


def lenient_error(document: dict[str, Any]) -> GraphValidationError:
    with pytest.raises(GraphValidationError) as caught:
        compile_app(as_yaml(document))
    return caught.value


def test_unknown_activity_type_stays_an_error() -> None:
    document = copy.deepcopy(BASE)
    document["app"]["graphs"][0]["activities"]["w1"]["type"] = "wokrer"
    assert "'wokrer' is not one of" in str(lenient_error(document))


def test_malformed_pipe_stays_an_error() -> None:
    bad_row = with_key((*A, "w1", "input", "maps"), "qty", {"@pipe": [["{t1.output.data.id}"], 42]})
    assert "a @pipe row is a list of cells" in str(lenient_error(bad_row))
    extra_key = with_key((*A, "w1", "input", "maps"), "qty", {"@pipe": [["{t1.output.data.id}"]], "then": 1})
    error = lenient_error(extra_key)  # a pipe object is not a block HotMesh ignores keys of
    assert error.path is not None and error.path.startswith("graphs[0].activities.w1.input.maps.qty")


def test_unknown_pipe_function_stays_an_error() -> None:
    document = with_key((*A, "w1", "input", "maps"), "qty", {"@pipe": [["{@nope.nothing}"]]})
    assert "{@nope.nothing}" in str(lenient_error(document))


def test_transition_to_an_unknown_activity_stays_an_error() -> None:
    document = copy.deepcopy(BASE)
    document["app"]["graphs"][0]["transitions"]["w1"].append({"to": "h2"})
    assert "transition target 'h2' is not an activity" in str(lenient_error(document))


def test_reference_to_an_unknown_activity_stays_an_error_even_in_an_ignored_key() -> None:
    # HotMesh's validator scans every string of an activity, known key or not.
    document = with_key((*A, "w1"), "note", "{ghost.output.data.x}")
    assert "references activity 'ghost', which does not exist" in str(lenient_error(document))


def test_broken_ref_stays_an_error(tmp_path: Path) -> None:
    (tmp_path / "app.yaml").write_text(
        "app:\n  id: x\n  version: '1'\n  graphs:\n    - $ref: ./missing.yaml\n", "utf-8"
    )
    with pytest.raises(GraphValidationError, match="file not found"):
        compile_app(tmp_path / "app.yaml")


def test_wrong_value_type_stays_an_error() -> None:
    document = with_key((*A, "h1"), "sleep", "five seconds")
    assert "expected a number" in str(lenient_error(document))


def test_missing_required_key_stays_an_error_even_when_an_ignored_key_sits_beside_it() -> None:
    document = with_key((*A, "w1"), "topik", "warn.work")
    del document["app"]["graphs"][0]["activities"]["w1"]["topic"]
    assert "missing required key 'topic'" in str(lenient_error(document))


# -- the setting --------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("true", True), ("On", True), ("0", False),
                                               ("no", False), ("", False)])
def test_hmsh_strict_deploy_is_read_from_the_environment(raw: str, expected: bool) -> None:
    assert Settings.from_env({"HMSH_STRICT_DEPLOY": raw}).strict_deploy is expected
    assert Settings.from_env({}).strict_deploy is False
    assert Settings.from_env({"HMSH_STRICT_DEPLOY": raw}, strict_deploy=not expected).strict_deploy is not expected


def test_a_bad_hmsh_strict_deploy_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="HMSH_STRICT_DEPLOY='maybe' is not a boolean"):
        Settings.from_env({"HMSH_STRICT_DEPLOY": "maybe"})


# -- the property -------------------------------------------------------------------------------


def _known_keys() -> frozenset[str]:
    """Every property name the schema knows anywhere (an added key must be unknown to its object)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.update(node.get("properties", {}))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(load_schema())
    return frozenset(found)


KNOWN = _known_keys()
unknown_keys = st.from_regex(r"\A[a-z][A-Za-z0-9_]{0,11}\Z").filter(lambda key: key not in KNOWN)
plain_values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.from_regex(r"\A[a-z ]{0,10}\Z"),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.from_regex(r"\A[a-z]{1,6}\Z"), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    added=st.lists(st.tuples(st.sampled_from(sorted(KINDS)), unknown_keys, plain_values), min_size=1, max_size=4,
                   unique_by=lambda item: (KINDS[item[0]][0], item[1])),
)
def test_adding_unknown_keys_anywhere_changes_nothing_but_the_warnings(
    added: list[tuple[str, str, Any]],
) -> None:
    document = copy.deepcopy(BASE)
    for kind, key, value in added:
        target: Any = document
        for step in KINDS[kind][0]:
            target = target[step]
        target[key] = value
    text = as_yaml(document)
    app = compile_app(text)
    base = compiled_base()
    assert app == base
    assert thaw(app.document) == thaw(base.document)
    assert sorted(w.path.rsplit(".", 1)[-1].split("[")[0] for w in app.warnings) == sorted(k for _, k, _ in added)
    for warning in app.warnings:
        assert_points_at(warning, text, warning.path.rsplit(".", 1)[-1])
    with pytest.raises(GraphValidationError, match="unknown key"):
        compile_app(text, strict=True)
