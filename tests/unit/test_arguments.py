"""The facade's argument checks (mesh/arguments.py) are pure: properties over generated payloads and ids."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotmesh_actors.core.keys import MAX_CHANNEL_BYTES, quorum_channel
from hotmesh_actors.errors import ConfigurationError, InvalidArgumentError, InvalidPayloadError
from hotmesh_actors.mesh.arguments import (
    MAX_APP_ID_BYTES,
    MAX_JOB_ID_BYTES,
    check_app_id,
    check_job_id,
    check_payload,
)

STORABLE_TEXT = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=8)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | STORABLE_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(STORABLE_TEXT, inner, max_size=4),
    max_leaves=20)
PAYLOADS = st.dictionaries(STORABLE_TEXT, JSON_VALUES, max_size=5)


@given(PAYLOADS)
def test_storable_payloads_pass_unchanged(payload: dict[str, Any]) -> None:
    assert check_payload(payload) is payload


def _slots(value: Any, path: str) -> list[tuple[str, bool]]:
    """Every string slot in a payload: (its path, whether it is a key) — where a NUL can be planted."""
    found: list[tuple[str, bool]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((path, True))
            found += _slots(item, f"{path}[{key!r}]")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _slots(item, f"{path}[{index}]")
    elif isinstance(value, str):
        found.append((path, False))
    return found


def _plant(value: Any, path: str, target: str, in_key: bool, bad: str) -> Any:
    """A copy of `value` with `bad` appended to the key or string value at `target`."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            new_key = key + bad if in_key and path == target and key == next(iter(value)) else key
            out[new_key] = _plant(item, f"{path}[{key!r}]", target, in_key, bad)
        return out
    if isinstance(value, list):
        return [_plant(item, f"{path}[{index}]", target, in_key, bad) for index, item in enumerate(value)]
    if isinstance(value, str) and path == target and not in_key:
        return value + bad
    return value


@given(PAYLOADS.filter(lambda p: bool(p)), st.data(), st.sampled_from(["\x00", "\ud800", "\udfff"]))
def test_a_planted_nul_or_surrogate_is_refused_naming_its_path(payload: dict[str, Any], data: st.DataObject,
                                                               bad: str) -> None:
    path, in_key = data.draw(st.sampled_from(_slots(payload, "data")))
    planted = _plant(payload, "data", path, in_key, bad)
    with pytest.raises(InvalidPayloadError) as refused:
        check_payload(planted)
    message = str(refused.value)
    named = message.split(" holds ")[0]
    assert named == (f"a key of {path}" if in_key else path), message
    assert "NUL" in message or "surrogate" in message


@given(st.text(min_size=1, max_size=40).filter(lambda t: "\x00" not in t and "\\" not in t))
def test_literal_backslash_u0000_is_ordinary_text(text: str) -> None:
    assert check_payload({"t": text + "\\u0000"})["t"].endswith("\\u0000")


@given(STORABLE_TEXT.filter(bool))
def test_job_ids_within_limits_pass(job_id: str) -> None:
    assert check_job_id(job_id) == job_id


@pytest.mark.parametrize("job_id", ["", 123, None, b"x", "a\x00", "\ud800", "x" * (MAX_JOB_ID_BYTES + 1),
                                    "é" * (MAX_JOB_ID_BYTES // 2 + 1)])
def test_bad_job_ids_raise_invalid_argument_naming_job_id(job_id: object) -> None:
    with pytest.raises(InvalidArgumentError) as refused:
        check_job_id(job_id)
    assert refused.value.argument == "job_id" and str(refused.value).startswith("job_id ")


@given(st.integers(min_value=1, max_value=80))
def test_app_id_limit_is_where_derived_names_stop_fitting(length: int) -> None:
    app_id = "a" * length
    longest_channel = quorum_channel(app_id, "t" * 100)
    if length <= MAX_APP_ID_BYTES:
        assert check_app_id(app_id) == app_id
        assert len(longest_channel.encode()) <= MAX_CHANNEL_BYTES
    else:
        with pytest.raises(ConfigurationError, match="longer than"):
            check_app_id(app_id)
