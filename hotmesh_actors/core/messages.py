"""The typed messages that travel through the streams, and the one converter for their wire form.

A stream row's `message` column holds the JSON form of a :class:`StreamMessage` (HotMesh's
`StreamData`): routing metadata, a type, the payload `data`, and a status/code pair. Nothing else in
the package hand-builds these dicts; use :data:`converter` or :func:`to_wire` / :func:`from_wire`.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Mapping
from typing import Any, Final

import attrs
import cattrs

JSONObject = dict[str, Any]


class MessageType(enum.StrEnum):
    """What a stream message asks its consumer to do (SPEC §1.4)."""

    TIMEHOOK = "timehook"
    WEBHOOK = "webhook"
    AWAIT = "await"
    RESULT = "result"
    WORKER = "worker"
    RESPONSE = "response"
    TRANSITION = "transition"
    SIGNAL = "signal"
    INTERRUPT = "interrupt"


class MessageStatus(enum.StrEnum):
    """Outcome carried by a response: success closes a leg, pending keeps it open, error routes."""

    SUCCESS = "success"
    ERROR = "error"
    PENDING = "pending"


PRIORITY_BY_TYPE: Final[dict[MessageType, int]] = {
    MessageType.INTERRUPT: 6,
    MessageType.TIMEHOOK: 5,
    MessageType.WEBHOOK: 5,
    MessageType.SIGNAL: 5,
    MessageType.TRANSITION: 4,
    MessageType.RESULT: 3,
    MessageType.RESPONSE: 2,
    MessageType.WORKER: 1,
    MessageType.AWAIT: 0,
}
"""Dequeue priority per message type (higher first; FIFO within a priority)."""


METADATA_WIRE_KEYS: Final = ("guid", "jid", "gid", "dad", "aid", "topic", "try", "wfn", "trc", "spn", "await")
"""HotMesh's names for the envelope's metadata keys (SPEC §1.4), in wire order."""


@attrs.frozen(kw_only=True)
class MessageMetadata(Mapping[str, Any]):
    """Routing facts of a message: which job, generation, activity and dimension it is for.

    `guid` is unique per message (a retry gets a new one); `attempt` is HotMesh's `try`.

    It is also a read-only mapping of its wire form, keyed by HotMesh's names (`guid`, `jid`, `gid`, `dad`,
    `aid`, `topic`, `try`, `wfn`, `trc`, `spn`, `await`), so HotMesh's worker idiom
    ``{"metadata": {**msg.metadata}, "data": ...}`` works. As on the wire, a key whose value is the default
    (an empty string, `try` 0, `await` unset) is absent: ``msg.metadata.get("try", 0)`` reads HotMesh's
    ``metadata.try || 0``.
    """

    guid: str
    jid: str = ""
    gid: str = ""
    dad: str = ""
    aid: str = ""
    topic: str = ""
    attempt: int = 0
    wfn: str = ""
    trc: str = ""
    spn: str = ""
    await_: bool | None = None

    def wire(self) -> JSONObject:
        """The JSON object this metadata is on the wire (HotMesh's key names, defaults omitted)."""
        wire: JSONObject = converter.unstructure(self)
        return wire

    def __getitem__(self, key: str) -> Any:
        return self.wire()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.wire())

    def __len__(self) -> int:
        return len(self.wire())


@attrs.frozen(kw_only=True)
class StreamMessage:
    """One message on an engine or worker stream (HotMesh `StreamData`)."""

    metadata: MessageMetadata
    type: MessageType = MessageType.TRANSITION
    data: JSONObject = attrs.field(factory=dict)
    status: MessageStatus = MessageStatus.SUCCESS
    code: int = 200
    stack: str | None = None
    policies: JSONObject | None = None
    """HotMesh's `policies`: `{"retry": <the activity's YAML retry>}` on a worker request (SPEC §7)."""

    @property
    def priority(self) -> int:
        """Stream priority derived from the type."""
        return PRIORITY_BY_TYPE[self.type]


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(omit_if_default=True)
    # `await` is a Python keyword; on the wire it keeps HotMesh's name, and `attempt` is `try`.
    conv.register_unstructure_hook(
        MessageMetadata,
        cattrs.gen.make_dict_unstructure_fn(
            MessageMetadata,
            conv,
            _cattrs_omit_if_default=True,
            await_=cattrs.gen.override(rename="await"),
            attempt=cattrs.gen.override(rename="try"),
        ),
    )
    conv.register_structure_hook(
        MessageMetadata,
        cattrs.gen.make_dict_structure_fn(
            MessageMetadata,
            conv,
            await_=cattrs.gen.override(rename="await"),
            attempt=cattrs.gen.override(rename="try"),
        ),
    )
    return conv


converter: Final = _make_converter()
"""The one cattrs converter for the wire format of every message type."""


def to_wire(message: StreamMessage) -> str:
    """Serialise a message to the compact JSON stored in a stream row."""
    return json.dumps(converter.unstructure(message), separators=(",", ":"), allow_nan=False)


def from_wire(text: str | bytes) -> StreamMessage:
    """Parse a stream row's JSON back into a StreamMessage (unknown keys are ignored)."""
    return converter.structure(json.loads(text), StreamMessage)
