"""Properties of the evaluator: random pipe trees are pure and fail only with PipeEvaluationError.

Trees are built from a safe subset of catalog functions (no mutation, no clock), references that
exist or not, reducer variables, nested fan-out groups and @reduce rows. Functions the catalog does
not have yet are filled with small stand-ins so the property holds over the evaluator itself.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotmesh_actors.core.pipe import UNDEFINED, PipeEnv, catalog, compile_value, resolve
from hotmesh_actors.core.pipe.jsvalues import JSValue, js_add, js_ge, to_number, to_string, truthy
from hotmesh_actors.errors import PipeEvaluationError

ENV = PipeEnv(now_ms=1_700_000_000_000, random=lambda: 0.125, fidelity_seconds=5)

STAND_INS: dict[str, dict[str, Callable[..., JSValue]]] = {
    "string": {"concat": lambda *parts: "".join(to_string(part) for part in parts)},
    "math": {"add": lambda *xs: sum(to_number(x) for x in xs if not isinstance(x, list))},
    "array": {
        "get": lambda a=UNDEFINED, i=0: (
            a[int(to_number(i))] if isinstance(a, list) and 0 <= to_number(i) < len(a) else UNDEFINED
        )
    },
    "conditional": {
        "ternary": lambda c=UNDEFINED, a=UNDEFINED, b=UNDEFINED: a if truthy(c) else b,
        "nullish": lambda a=UNDEFINED, b=UNDEFINED: b if a is None or a is UNDEFINED else a,
    },
    "logical": {
        "or": lambda a=UNDEFINED, b=UNDEFINED: a if truthy(a) else b,
        "and": lambda a=UNDEFINED, b=UNDEFINED: b if truthy(a) else a,
    },
    "number": {"gte": lambda a=UNDEFINED, b=UNDEFINED: js_ge(a, b)},
    "unary": {"positive": lambda a=UNDEFINED: to_number(a)},
}
SAFE_FUNCTIONS = [
    "{@string.concat}",
    "{@math.add}",
    "{@array.get}",
    "{@conditional.ternary}",
    "{@conditional.nullish}",
    "{@logical.or}",
    "{@logical.and}",
    "{@number.gte}",
    "{@unary.positive}",
]
_ = js_add  # the stand-ins follow jsvalues' operators; js_add documents what math.add differs from


@pytest.fixture(scope="module", autouse=True)
def catalog_with_stand_ins() -> Iterator[None]:
    """The real catalog, with stand-ins only where a safe function is still missing."""
    merged = {domain: {**STAND_INS.get(domain, {}), **dict(functions)} for domain, functions in catalog.DOMAINS.items()}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(catalog, "DOMAINS", merged)
        yield


CONTEXT: dict[str, JSValue] = {
    "a": {"output": {"data": {"s": "Hello", "n": 3, "f": 1.5, "xs": [1, 2, 3], "o": {"k": "v"}, "z": None}}},
    "$self": {"output": {"data": {"y": "world"}}, "hook": {"data": {"id": "j1"}}},
    "data": {"k": "job"},
    "metadata": {"jid": "j1"},
}

REFERENCES = [
    "{a.output.data.s}",
    "{a.output.data.n}",
    "{a.output.data.f}",
    "{a.output.data.xs}",
    "{a.output.data.xs.1}",
    "{a.output.data.o}",
    "{a.output.data.z}",
    "{a.output.data.missing}",
    "{$self.output.data.y}",
    "{$self.hook.data.id}",
    "{$job.data.k}",
    "{$job.metadata.jid}",
    "{$item}",
    "{$key}",
    "{$index}",
    "{$output}",
    "{$input.length}",
]

safe_text = st.text(alphabet=st.characters(blacklist_characters="{}", blacklist_categories=["Cs"]), max_size=6)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-1000, max_value=1000),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    safe_text,
)
cells = st.one_of(scalars, st.sampled_from(REFERENCES), st.lists(st.integers(-5, 5), max_size=3))
operator_rows = st.builds(
    lambda head, rest: [head, *rest], st.sampled_from(SAFE_FUNCTIONS), st.lists(cells, max_size=2)
)


def pipes(depth: int) -> st.SearchStrategy[list[JSValue]]:
    """A valid unseeded row list: an operand row, then operator rows, fan-out groups, reduces."""
    later: list[st.SearchStrategy[list[JSValue]]] = [operator_rows.map(lambda row: [row])]
    if depth > 0:
        nested = pipes(depth - 1).map(lambda rows: {"@pipe": rows})
        group = st.builds(lambda subs, row: [*subs, row], st.lists(nested, min_size=1, max_size=3), operator_rows)
        body_rows = st.lists(st.one_of(operator_rows.map(lambda row: [row]), group), max_size=3).map(
            lambda chunks: [row for chunk in chunks for row in chunk]
        )
        reduce = body_rows.map(lambda rows: [{"@reduce": rows}])
        later += [group, reduce]
    steps = st.lists(st.one_of(*later), max_size=4).map(lambda chunks: [row for chunk in chunks for row in chunk])
    return st.builds(lambda first, rest: [first, *rest], st.lists(cells, min_size=1, max_size=3), steps)


def outcome(value: JSValue, context: dict[str, JSValue]) -> tuple[str, JSValue]:
    try:
        return "ok", resolve(value, context, env=ENV)
    except PipeEvaluationError as error:
        return "error", str(error)


def same(left: JSValue, right: JSValue) -> bool:
    """Structural equality where NaN equals NaN and bool/int are told apart."""
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left) and math.isnan(right):
        return True
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same(left[key], right[key]) for key in left)
    if isinstance(left, list | tuple):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    return bool(left is right or left == right)


PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@PROPERTY_SETTINGS
@given(pipes(2))
def test_random_pipes_are_pure_and_fail_only_with_pipe_errors(rows: list[JSValue]) -> None:
    context = copy.deepcopy(CONTEXT)
    value = {"@pipe": rows}
    first = outcome(value, context)
    second = outcome(value, context)
    assert first[0] == second[0]
    assert same(first[1], second[1])
    assert same(context, CONTEXT), "evaluation must not change the context"


def compiled_outcomes(value: JSValue, times: int) -> list[tuple[str, JSValue]]:
    """Compile once, evaluate `times` times; a structural error at compile time is one outcome."""
    try:
        compiled = compile_value(value)
    except PipeEvaluationError as error:
        return [("error", str(error))] * times
    results: list[tuple[str, JSValue]] = []
    for _ in range(times):
        try:
            results.append(("ok", compiled.evaluate(copy.deepcopy(CONTEXT), env=ENV)))
        except PipeEvaluationError as error:
            results.append(("error", str(error)))
    return results


@PROPERTY_SETTINGS
@given(pipes(2))
def test_compiled_pipes_agree_with_one_shot_resolve(rows: list[JSValue]) -> None:
    value = {"maps": {"x": {"@pipe": rows}}}
    expected = outcome(value, copy.deepcopy(CONTEXT))
    for actual in compiled_outcomes(value, 2):
        assert actual[0] == expected[0]
        assert same(actual[1], expected[1])


json_without_braces = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(safe_text.filter(lambda key: key != "@pipe"), children, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(json_without_braces)
def test_resolve_is_identity_and_idempotent_on_brace_free_literals(value: JSValue) -> None:
    once = resolve(value, CONTEXT, env=ENV)
    assert same(once, value)
    assert same(resolve(once, CONTEXT, env=ENV), once)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(REFERENCES))
def test_references_never_raise(reference: str) -> None:
    resolve(reference, CONTEXT, env=ENV)
