"""@string: UTF-16 code-unit semantics as properties (the JS vectors pin the individual cases)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hotmesh_actors.core.pipe.functions import string
from hotmesh_actors.core.pipe.functions._jsops import from_units, to_units

texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20)


@given(texts)
def test_code_unit_view_round_trips(text: str) -> None:
    assert from_units(to_units(text)) == text


@given(texts, st.integers(min_value=-25, max_value=25))
def test_slices_on_either_side_of_an_index_concatenate_back(text: str, index: int) -> None:
    assert string.concat(string.slice(text, 0, index), string.slice(text, index)) == text


@given(texts, st.text(min_size=1, max_size=3))
def test_split_then_join_restores_the_text(text: str, separator: str) -> None:
    parts = string.split(text, separator)
    assert separator.join(parts) == text


@given(texts, st.integers(min_value=0, max_value=40), st.text(min_size=1, max_size=3))
def test_pad_start_reaches_the_target_length_in_code_units(text: str, width: int, pad: str) -> None:
    padded = string.padStart(text, width, pad)
    assert len(to_units(padded)) == max(width, len(to_units(text)))
    assert padded.endswith(text)


@given(texts, texts)
def test_index_of_finds_what_includes_reports(text: str, needle: str) -> None:
    found = string.indexOf(text, needle)
    assert (found != -1) == string.includes(text, needle)
    if found != -1:
        units = to_units(text)
        assert units[found : found + len(to_units(needle))] == to_units(needle)


def test_emoji_count_two_code_units() -> None:
    assert string.indexOf("😀a", "a") == 2
    assert string.charAt("😀", 0) == "\ud83d"
    assert string.concat(string.charAt("😀", 0), string.charAt("😀", 1)) == "😀"
