"""Transition conditions: code lists, expected/actual strict matching, and/or gates (SPEC §3.5)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hotmesh_actors.core.pipe import (
    UNDEFINED,
    PipeEnv,
    catalog,
    code_matches,
    compile_conditions,
    match_conditions,
)
from hotmesh_actors.core.pipe.jsvalues import JSValue, loose_equals
from hotmesh_actors.errors import PipeEvaluationError

ENV = PipeEnv(now_ms=1_700_000_000_000, random=lambda: 0.5, fidelity_seconds=5)


@pytest.fixture(autouse=True)
def equality_available(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`@conditional.equality` from the catalog, or a loose-equality stand-in until it lands."""
    domains = dict(catalog.DOMAINS)
    domains["conditional"] = {"equality": loose_equals, **dict(domains["conditional"])}
    monkeypatch.setattr(catalog, "DOMAINS", domains)
    yield


def context_for(a: JSValue, y: JSValue = UNDEFINED) -> dict[str, JSValue]:
    return {"t1": {"output": {"data": {"a": a}}}, "a1": {"output": {"data": {"y": y}}}}


def equality(path: str, value: JSValue) -> dict[str, JSValue]:
    return {"@pipe": [[path, value], ["{@conditional.equality}"]]}


# The quickstart v9 graph: t1 → a1 unless a is 'goodbye' or 'bye'; a1 → a2 when y == 'hello world'.
T1_TO_A1 = {
    "gate": "and",
    "match": [
        {"expected": False, "actual": equality("{t1.output.data.a}", "goodbye")},
        {"expected": False, "actual": equality("{t1.output.data.a}", "bye")},
    ],
}
A1_TO_A2 = {"match": [{"expected": True, "actual": equality("{a1.output.data.y}", "hello world")}]}


@pytest.mark.parametrize(("a", "fires"), [("goodbye", False), ("bye", False), ("hello", True), ("help", True)])
def test_quickstart_and_gate(a: str, fires: bool) -> None:
    assert match_conditions(T1_TO_A1, context_for(a), env=ENV, code=200) is fires


@pytest.mark.parametrize(("y", "fires"), [("hello world", True), ("help world", False)])
def test_quickstart_single_match(y: str, fires: bool) -> None:
    assert match_conditions(A1_TO_A2, context_for("x", y), env=ENV, code=200) is fires


def test_bare_booleans_are_the_answer() -> None:
    assert match_conditions(True, {}, env=ENV, code=500) is True
    assert match_conditions(False, {}, env=ENV, code=200) is False


def test_no_match_list_means_always_for_matching_code() -> None:
    assert match_conditions({}, {}, env=ENV, code=200) is True
    assert match_conditions({}, {}, env=ENV, code=500) is False
    assert match_conditions({"code": 500}, {}, env=ENV, code=500) is True


def test_actual_reference_compared_with_strict_equality() -> None:
    conditions = {"match": [{"expected": 5, "actual": "{t1.output.data.a}"}]}
    assert match_conditions(conditions, context_for(5), env=ENV) is True
    assert match_conditions(conditions, context_for("5"), env=ENV) is False  # === not ==
    assert match_conditions(conditions, context_for(5.0), env=ENV) is True
    assert (
        match_conditions({"match": [{"expected": None, "actual": "{t1.output.data.nope}"}]}, context_for(1), env=ENV)
        is False
    )
    assert match_conditions({"match": [{"expected": True, "actual": True}]}, {}, env=ENV) is True


def test_expected_is_a_literal_not_resolved() -> None:
    conditions = {"match": [{"expected": "{t1.output.data.a}", "actual": "{t1.output.data.a}"}]}
    assert match_conditions(conditions, context_for("v"), env=ENV) is False
    literal = {"match": [{"expected": "{t1.output.data.a}", "actual": "{t1.output.data.a}"}]}
    assert match_conditions(literal, context_for("{t1.output.data.a}"), env=ENV) is True


def test_objects_never_strictly_equal() -> None:
    conditions = {"match": [{"expected": {"k": 1}, "actual": "{t1.output.data.a}"}]}
    assert match_conditions(conditions, context_for({"k": 1}), env=ENV) is False


def test_or_gate_needs_any_match() -> None:
    conditions = {
        "gate": "or",
        "match": [
            {"expected": "x", "actual": "{t1.output.data.a}"},
            {"expected": "y", "actual": "{t1.output.data.a}"},
        ],
    }
    assert match_conditions(conditions, context_for("x"), env=ENV) is True
    assert match_conditions(conditions, context_for("y"), env=ENV) is True
    assert match_conditions(conditions, context_for("z"), env=ENV) is False


def test_and_gate_needs_every_match() -> None:
    conditions = {
        "match": [
            {"expected": "x", "actual": "{t1.output.data.a}"},
            {"expected": "hello world", "actual": "{a1.output.data.y}"},
        ]
    }
    assert match_conditions(conditions, context_for("x", "hello world"), env=ENV) is True
    assert match_conditions(conditions, context_for("x", "nope"), env=ENV) is False


def test_empty_match_list_is_true_for_and_false_for_or() -> None:
    assert match_conditions({"match": []}, {}, env=ENV) is True
    assert match_conditions({"gate": "or", "match": []}, {}, env=ENV) is False


def test_evaluation_stops_once_decided(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: JSValue) -> JSValue:
        raise RuntimeError("must not run")

    domains = dict(catalog.DOMAINS)
    domains["json"] = {**dict(domains["json"]), "boom": boom}
    monkeypatch.setattr(catalog, "DOMAINS", domains)
    exploding = {"expected": 1, "actual": {"@pipe": [[1], ["{@json.boom}"]]}}
    assert match_conditions({"match": [{"expected": 2, "actual": 1}, exploding]}, {}, env=ENV) is False
    assert match_conditions({"gate": "or", "match": [{"expected": 1, "actual": 1}, exploding]}, {}, env=ENV) is True
    with pytest.raises(PipeEvaluationError, match="json.boom"):
        match_conditions({"match": [exploding]}, {}, env=ENV)


def test_code_mismatch_skips_matching_entirely() -> None:
    conditions = {"code": 422, "match": [{"expected": True, "actual": True}]}
    assert match_conditions(conditions, {}, env=ENV, code=422) is True
    assert match_conditions(conditions, {}, env=ENV, code=200) is False


@pytest.mark.parametrize(
    ("rule_code", "code", "expected"),
    [
        (None, 200, True),
        (UNDEFINED, 200, True),
        (None, 500, False),
        (200, 200, True),
        (500, 500, True),
        (500, 200, False),
        ([200, 202], 202, True),
        ([200, 202], 200, True),
        ([200, 202], 500, False),
        ([597], 597, True),
        ("500", 500, True),  # HotMesh compares the string forms
        (["500"], 500, True),  # String(['500']) === '500' as well
        (["500", "200"], 500, False),  # list membership is strict; '500,200' is no string match
        ([500, 200], 500, True),
        (0, 200, True),  # a falsy rule code means the default 200
        (200, None, True),  # a missing response code means 200
        (200, 0, False),  # String(0) !== '200' (HotMesh only defaults the list test)
    ],
)
def test_code_matches(rule_code: JSValue, code: JSValue, expected: bool) -> None:
    assert code_matches(rule_code, code) is expected


def test_code_list_in_conditions() -> None:
    conditions = {"code": [200, 202]}
    assert match_conditions(conditions, {}, env=ENV, code=202) is True
    assert match_conditions(conditions, {}, env=ENV, code=500) is False


def test_compiled_conditions_match_like_the_one_shot_form() -> None:
    compiled = compile_conditions(T1_TO_A1)
    for a in ("goodbye", "bye", "hello"):
        context = context_for(a)
        assert compiled.evaluate(context, env=ENV, code=200) is match_conditions(T1_TO_A1, context, env=ENV, code=200)
    assert compile_conditions(True).evaluate({}, env=ENV, code=999) is True


def test_webhook_style_match_against_self_hook_data() -> None:
    # SPEC §11 item 29: the signal's actual side resolves against {$self: {hook: {data: payload}}}.
    conditions = {"match": [{"expected": "job-1", "actual": "{$self.hook.data.id}"}]}
    assert match_conditions(conditions, {"$self": {"hook": {"data": {"id": "job-1"}}}}, env=ENV) is True


def test_malformed_match_is_rejected() -> None:
    with pytest.raises(PipeEvaluationError):
        match_conditions({"match": {"expected": 1, "actual": 1}}, {}, env=ENV)
