"""Stream messages: wire (un)structuring round-trips and priorities (pure)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotmesh_actors.core.messages import (
    METADATA_WIRE_KEYS,
    PRIORITY_BY_TYPE,
    MessageMetadata,
    MessageStatus,
    MessageType,
    StreamMessage,
    converter,
    from_wire,
    to_wire,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53), max_value=2**53) | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)

metadata = st.builds(
    MessageMetadata,
    guid=st.text(min_size=1, max_size=24),
    jid=st.text(max_size=24),
    gid=st.text(max_size=8),
    dad=st.from_regex(r"(,\d{1,3}){0,4}", fullmatch=True),
    aid=st.text(max_size=12),
    topic=st.text(max_size=12),
    attempt=st.integers(min_value=0, max_value=100),
    await_=st.none() | st.booleans(),
)

messages = st.builds(
    StreamMessage,
    metadata=metadata,
    type=st.sampled_from(MessageType),
    data=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    status=st.sampled_from(MessageStatus),
    code=st.integers(min_value=100, max_value=999),
    stack=st.none() | st.text(max_size=30),
)


@given(messages)
def test_wire_round_trip_is_lossless(message: StreamMessage) -> None:
    assert from_wire(to_wire(message)) == message


@given(messages)
def test_wire_uses_hotmesh_names(message: StreamMessage) -> None:
    raw = json.loads(to_wire(message))
    assert "await_" not in raw["metadata"] and "attempt" not in raw["metadata"]
    if message.metadata.attempt:
        assert raw["metadata"]["try"] == message.metadata.attempt
    if message.metadata.await_ is not None:
        assert raw["metadata"]["await"] is message.metadata.await_


def test_defaults_are_omitted_on_the_wire() -> None:
    raw = converter.unstructure(StreamMessage(metadata=MessageMetadata(guid="g")))
    assert raw == {"metadata": {"guid": "g"}}


def test_unknown_keys_from_other_engines_are_ignored() -> None:
    text = '{"metadata":{"guid":"g","jid":"j","spn":"s","zzz":1},"type":"worker","data":{},"extra":true}'
    assert from_wire(text).metadata.jid == "j"


def test_priorities_match_the_spec_order() -> None:
    order = sorted(MessageType, key=lambda t: -PRIORITY_BY_TYPE[t])
    assert order[0] is MessageType.INTERRUPT
    assert [PRIORITY_BY_TYPE[t] for t in (MessageType.TRANSITION, MessageType.RESULT, MessageType.RESPONSE,
                                           MessageType.WORKER, MessageType.AWAIT)] == [4, 3, 2, 1, 0]


# -- MessageMetadata is a read-only mapping of its wire form (HotMesh's `{...data.metadata}` idiom) -------

full_metadata = st.builds(
    MessageMetadata,
    guid=st.text(min_size=1, max_size=24),
    jid=st.text(max_size=24),
    gid=st.text(max_size=8),
    dad=st.from_regex(r"(,\d{1,3}){0,4}", fullmatch=True),
    aid=st.text(max_size=12),
    topic=st.text(max_size=12),
    attempt=st.integers(min_value=0, max_value=100),
    wfn=st.text(max_size=8),
    trc=st.text(max_size=8),
    spn=st.text(max_size=8),
    await_=st.none() | st.booleans(),
)


@given(full_metadata)
def test_metadata_as_dict_is_its_wire_form(meta: MessageMetadata) -> None:
    wire = json.loads(to_wire(StreamMessage(metadata=meta)))["metadata"]
    assert dict(meta) == {**meta} == wire
    assert list(meta) == list(wire) and len(meta) == len(wire)
    assert converter.structure(dict(meta), MessageMetadata) == meta


@given(full_metadata)
def test_metadata_keys_are_hotmeshs_names(meta: MessageMetadata) -> None:
    assert set(meta) <= set(METADATA_WIRE_KEYS)
    assert meta["guid"] == meta.guid
    assert meta.get("try", 0) == meta.attempt
    assert meta.get("await") == meta.await_
    assert ("jid" in meta) == bool(meta.jid)


def test_metadata_mapping_is_read_only() -> None:
    meta = MessageMetadata(guid="g", jid="j")
    with pytest.raises(TypeError):
        meta["jid"] = "other"  # type: ignore[index]
    with pytest.raises(AttributeError):
        meta.jid = "other"  # type: ignore[misc]
    with pytest.raises(KeyError):
        meta["try"]  # noqa: B018 - absent like HotMesh's undefined `try` on a first attempt


@given(full_metadata, st.dictionaries(st.sampled_from(["retry"]), st.dictionaries(
    st.sampled_from(["404", "500"]), st.lists(st.integers(0, 5), min_size=1, max_size=1)), max_size=1))
def test_policies_travel_on_the_wire(meta: MessageMetadata, policies: dict[str, dict[str, list[int]]]) -> None:
    message = StreamMessage(metadata=meta, type=MessageType.WORKER, policies=policies or None)
    raw = json.loads(to_wire(message))
    assert raw.get("policies") == (policies or None)
    assert from_wire(to_wire(message)) == message
