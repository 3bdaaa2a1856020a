"""@json: stringify/parse properties beyond the JS vectors."""

from __future__ import annotations

import json as pyjson
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotmesh_actors.core.pipe.functions import json
from hotmesh_actors.core.pipe.functions.date import JSDate
from hotmesh_actors.core.pipe.jsvalues import UNDEFINED, JSValue
from hotmesh_actors.errors import PipeEvaluationError

json_numbers = st.one_of(
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not (x == 0 and math.copysign(1, x) < 0)),
)
json_values = st.recursive(
    st.none() | st.booleans() | json_numbers | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_parse_inverts_stringify(value: JSValue) -> None:
    assert json.parse(json.stringify(value)) == value


@given(json_values, st.integers(min_value=1, max_value=10))
def test_indentation_changes_layout_not_content(value: JSValue, space: int) -> None:
    assert json.parse(json.stringify(value, None, space)) == value


integer_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"])),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet="abcxyz", min_size=1, max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


@given(integer_values)
def test_compact_text_matches_python_compact_dumps(value: JSValue) -> None:
    # same text when key order and number spelling cannot differ (non-numeric keys, integers)
    assert json.stringify(value) == pyjson.dumps(value, separators=(",", ":"), ensure_ascii=False)


def test_undefined_and_non_finite_numbers_follow_js() -> None:
    assert json.stringify(UNDEFINED) is UNDEFINED
    assert json.stringify({"a": UNDEFINED, "b": [UNDEFINED, math.nan, math.inf]}) == '{"b":[null,null,null]}'


def test_dates_serialize_through_to_json() -> None:
    assert json.stringify({"at": JSDate(0), "bad": JSDate(math.nan)}) == (
        '{"at":"1970-01-01T00:00:00.000Z","bad":null}'
    )


def test_cycles_are_a_type_error() -> None:
    loop: dict[str, JSValue] = {}
    loop["self"] = loop
    with pytest.raises(PipeEvaluationError, match="circular"):
        json.stringify(loop)


@pytest.mark.parametrize("text", ["", "{a:1}", "[1,]", "NaN", "-Infinity", "01", "'x'", "\ufeff1"])
def test_parse_rejects_what_json_parse_rejects(text: str) -> None:
    with pytest.raises(PipeEvaluationError, match="SyntaxError"):
        json.parse(text)


def test_parse_keeps_negative_zero_and_js_number_precision() -> None:
    zero = json.parse("-0")
    assert zero == 0 and math.copysign(1, zero) < 0
    assert json.parse("12345678901234567890") == 1.2345678901234567e19
