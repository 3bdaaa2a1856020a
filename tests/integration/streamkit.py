"""Helpers shared by the stream integration tests."""

from __future__ import annotations

from hotmesh_actors.core.messages import MessageMetadata, MessageType, StreamMessage
from hotmesh_actors.store.streams import Outgoing


def outgoing(stream: str, guid: str, *, mtype: MessageType = MessageType.WORKER, delay_s: float = 0.0,
             data: dict[str, object] | None = None, **kwargs: object) -> Outgoing:
    """A message for `stream` identified by `guid`."""
    message = StreamMessage(metadata=MessageMetadata(guid=guid, jid=f"job-{guid}"), type=mtype, data=data or {})
    return Outgoing(stream_name=stream, message=message, delay_s=delay_s, **kwargs)  # type: ignore[arg-type]
