"""Properties of the JavaScript value semantics in hotmesh_actors.core.pipe.jsvalues."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from hotmesh_actors.core.pipe.jsvalues import (
    UNDEFINED,
    from_utf16_units,
    get_property,
    is_nullish,
    js_add,
    js_ge,
    js_gt,
    js_le,
    js_lt,
    js_remainder,
    loose_equals,
    normalize_number,
    number_to_string,
    strict_equals,
    string_to_number,
    to_int32,
    to_number,
    to_string,
    to_uint32,
    truthy,
    utf16_length,
    utf16_units,
)
from hotmesh_actors.errors import PipeEvaluationError

finite_floats = st.floats(allow_nan=False, allow_infinity=False)
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.sampled_from([0, -0.0, 0.5, -1, 2**31, 2**32, 1e21]),
)
numeric_strings = st.one_of(
    numbers.map(lambda n: number_to_string(n)),
    st.sampled_from(["", " ", "0x10", "0b11", "-0", " 42 ", "1e3", "Infinity", "abc", "1_0"]),
)
primitives = st.one_of(
    st.none(),
    st.just(UNDEFINED),
    st.booleans(),
    numbers,
    numeric_strings,
    st.text(max_size=5),
)
js_values = st.recursive(
    primitives,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=2)),
    max_leaves=6,
)


@given(finite_floats)
@example(5e-324)
@example(1.7976931348623157e308)
@example(-0.0)
def test_number_to_string_round_trips_through_float(number: float) -> None:
    assert float(number_to_string(number)) == number


@given(finite_floats)
def test_number_to_string_round_trips_through_javascript_parsing(number: float) -> None:
    assert string_to_number(number_to_string(number)) == number


@given(st.integers(min_value=-(10**20), max_value=10**20))
def test_integral_values_print_without_point_or_exponent(value: int) -> None:
    text = number_to_string(float(value))
    assert "." not in text and "e" not in text


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (123e-20, "1.23e-18"),
        (-1.5e300, "-1.5e+300"),
        (2**60, "1152921504606847000"),
        (0.1 + 0.2, "0.30000000000000004"),
        (-0.0, "0"),
        (math.nan, "NaN"),
        (-math.inf, "-Infinity"),
    ],
)
def test_number_to_string_matches_javascript(number: float, text: str) -> None:
    assert number_to_string(number) == text


@given(js_values, js_values)
def test_loose_equals_is_symmetric(left: Any, right: Any) -> None:
    assert loose_equals(left, right) == loose_equals(right, left)


@given(js_values, js_values)
def test_strict_equals_implies_loose_equals(left: Any, right: Any) -> None:
    if strict_equals(left, right):
        assert loose_equals(left, right)


@given(js_values)
def test_every_value_equals_itself_except_nan(value: Any) -> None:
    is_nan = isinstance(value, float) and math.isnan(value)
    assert strict_equals(value, value) is not is_nan
    assert loose_equals(value, value) is not is_nan


@given(primitives)
def test_null_is_loosely_equal_only_to_null_and_undefined(value: Any) -> None:
    assert loose_equals(None, value) is is_nullish(value)


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("1", 1, True),
        (0, "", True),
        ([1], 1, True),
        ([1, 2], "1,2", True),
        (None, 0, False),
        (False, "0", True),
        (True, "true", False),
        ({}, "[object Object]", True),
        ("0x10", 16, True),
    ],
)
def test_loose_equals_coerces_like_javascript(left: Any, right: Any, expected: bool) -> None:
    assert loose_equals(left, right) is expected


@given(finite_floats)
def test_to_int32_wraps_the_truncated_value(number: float) -> None:
    result = to_int32(number)
    assert -(2**31) <= result < 2**31
    assert (result - math.trunc(number)) % 2**32 == 0


@given(numbers)
def test_to_uint32_is_to_int32_modulo_2_32(number: float) -> None:
    assert to_uint32(number) == to_int32(number) % 2**32


@given(js_values)
def test_truthy_matches_the_falsy_list(value: Any) -> None:
    falsy = (
        value is None
        or value is UNDEFINED
        or value is False
        or value == ""
        or (isinstance(value, int | float) and not isinstance(value, bool) and (value == 0 or value != value))
    )
    assert truthy(value) is not falsy


@given(st.floats(allow_nan=False), st.floats(allow_nan=False))
def test_relational_operators_agree_with_python_on_numbers(left: float, right: float) -> None:
    assert js_lt(left, right) is (left < right)
    assert js_gt(left, right) is (left > right)
    assert js_le(left, right) is (left <= right)
    assert js_ge(left, right) is (left >= right)


@given(primitives, primitives)
def test_nan_makes_every_relational_comparison_false(left: Any, right: Any) -> None:
    if math.isnan(to_number(left)) and not (isinstance(left, str) and isinstance(right, str)):
        assert not any(op(left, right) for op in (js_lt, js_gt, js_le, js_ge))


@given(st.text(), st.text())
def test_strings_compare_by_utf16_code_units(left: str, right: str) -> None:
    assert js_lt(left, right) is (utf16_units(left) < utf16_units(right))


@given(st.text())
def test_utf16_units_round_trip(text: str) -> None:
    units = utf16_units(text)
    assert from_utf16_units(units) == text
    assert len(units) == utf16_length(text)


@given(finite_floats, finite_floats)
def test_remainder_takes_the_sign_of_the_dividend(left: float, right: float) -> None:
    result = js_remainder(left, right)
    if right == 0:
        assert math.isnan(result)
    elif result != 0:
        assert math.copysign(1, result) == math.copysign(1, left)
        assert abs(result) < abs(right)


@given(numbers)
def test_normalize_number_keeps_value_and_sign(number: float) -> None:
    normalized = normalize_number(number)
    if math.isnan(number):
        assert math.isnan(normalized)
    else:
        assert normalized == number
        assert math.copysign(1, normalized) == math.copysign(1, number)


@given(st.integers(min_value=-(2**53), max_value=2**53), st.integers(min_value=-(2**53), max_value=2**53))
def test_add_is_double_addition(left: int, right: int) -> None:
    assert js_add(left, right) == float(left) + float(right)


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [(1, "2", "12"), ([1, 2], None, "1,2null"), (True, 1, 2), ({}, 1, "[object Object]1")],
)
def test_add_concatenates_when_a_string_appears(left: Any, right: Any, expected: Any) -> None:
    assert js_add(left, right) == expected


def test_add_with_undefined_is_nan() -> None:
    assert math.isnan(js_add(None, UNDEFINED))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("  12  ", 12), ("0x1F", 31), ("0x", math.nan), ("0x1_0", math.nan), ("1_000", math.nan),
     ("-0x10", math.nan), ("", 0), ("\u00a0\n", 0), ("١٢", math.nan), ("-Infinity", -math.inf)],
)  # fmt: skip
def test_string_to_number_follows_javascript(text: str, expected: float) -> None:
    result = string_to_number(text)
    assert (math.isnan(result) and math.isnan(expected)) or result == expected


def test_string_to_number_keeps_negative_zero() -> None:
    assert math.copysign(1, string_to_number("-0")) == -1


@pytest.mark.parametrize(
    ("target", "key", "expected"),
    [
        (["a", "b"], 1, "b"),
        (["a", "b"], "1", "b"),
        (["a", "b"], 1.5, UNDEFINED),
        (["a", "b"], "01", UNDEFINED),
        (["a", "b"], "length", 2),
        ("a😀", 1, "\ud83d"),
        ({"1": "x"}, 1, "x"),
        (5, "x", UNDEFINED),
    ],
)
def test_get_property_reads_own_data(target: Any, key: Any, expected: Any) -> None:
    assert get_property(target, key) == expected


def test_get_property_of_null_raises_type_error() -> None:
    with pytest.raises(PipeEvaluationError, match="TypeError"):
        get_property(None, "x")


@given(js_values)
def test_to_string_of_arrays_joins_elements(value: Any) -> None:
    if isinstance(value, list):
        parts = ["" if is_nullish(item) else to_string(item) for item in value]
        assert to_string(value) == ",".join(parts)
