"""Mailbox: a bounded, typed in-process channel of frozen attrs messages between actors."""

from __future__ import annotations

from typing import Generic, TypeVar

import attrs
import trio

from hotmesh_actors.errors import HotMeshError

__all__ = ["Mailbox", "MailboxFullError"]

M = TypeVar("M")

# Every frozen attrs class shares one __setattr__ (the one raising FrozenInstanceError); a probe class
# hands it to us through public API only, on every attrs version we support.
_FROZEN_SETATTR: object = attrs.frozen(type("_FrozenProbe", (), {})).__setattr__


class MailboxFullError(HotMeshError, trio.WouldBlock):
    """`Mailbox.send_nowait` found the mailbox full; await `send` to wait for room, or drop the message."""


def _check_message(msg: object) -> None:
    cls = type(msg)
    if not (attrs.has(cls) and cls.__setattr__ is _FROZEN_SETATTR):
        raise TypeError(
            f"mailbox messages must be frozen attrs instances (@attrs.frozen), got {type(msg).__qualname__}: "
            "a mutable message could change after it was sent"
        )


class Mailbox(Generic[M]):
    """A bounded memory channel of frozen attrs messages: senders wait when it is full (backpressure).

    The mailbox holds both ends of a `trio.open_memory_channel`, so it outlives the actor task that reads it:
    messages queued while an actor restarts are still there for the next run. `close` stops new sends; the
    receiver then drains what is queued and sees the end of the channel.

    Example::

        @attrs.frozen
        class Ping:
            reply_to: str

        inbox: Mailbox[Ping] = Mailbox(16)
        await inbox.send(Ping(reply_to="engine"))
        async for ping in inbox:        # ends after close() once the queue is drained
            ...
    """

    def __init__(self, capacity: int, *, name: str = "mailbox") -> None:
        """Create a mailbox holding at most *capacity* queued messages (0 = rendezvous).

        Raises:
            ValueError: if *capacity* is not an int >= 0 (``math.inf`` is refused: mailboxes are bounded).
        """
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
            raise ValueError(f"mailbox capacity must be an int >= 0 (it is bounded), got {capacity!r}")
        self.name = name
        self.capacity = capacity
        self._send_channel, self._receive_channel = trio.open_memory_channel[M](capacity)
        self._closed = False

    def __repr__(self) -> str:
        stats = self._send_channel.statistics()
        return f"<Mailbox {self.name!r} {stats.current_buffer_used}/{self.capacity} queued>"

    async def send(self, msg: M) -> None:
        """Queue *msg*, waiting for room while the mailbox is full.

        Raises:
            TypeError: if *msg* is not an instance of a frozen attrs class (checked before waiting).
            trio.ClosedResourceError: if the mailbox was closed.

        Cancellation: if cancelled while waiting for room, the message was not queued.
        """
        _check_message(msg)
        await self._send_channel.send(msg)

    def send_nowait(self, msg: M) -> None:
        """Queue *msg* now, or raise if there is no room.

        Raises:
            TypeError: if *msg* is not an instance of a frozen attrs class.
            MailboxFullError: if the mailbox is full (the message was not queued).
            trio.ClosedResourceError: if the mailbox was closed.
        """
        _check_message(msg)
        try:
            self._send_channel.send_nowait(msg)
        except trio.WouldBlock:
            raise MailboxFullError(
                f"mailbox {self.name!r} is full ({self.capacity} queued); "
                "await send() to wait for room, or drop the message"
            ) from None

    async def receive(self) -> M:
        """Take the oldest queued message, waiting for one if the mailbox is empty.

        Raises:
            trio.EndOfChannel: if the mailbox was closed and every queued message has been received.

        Cancellation: if cancelled, no message was taken (it stays queued for the next receive).
        """
        return await self._receive_channel.receive()

    def receive_nowait(self) -> M:
        """Take the oldest queued message without waiting.

        Raises:
            trio.WouldBlock: if the mailbox is empty.
            trio.EndOfChannel: if the mailbox was closed and is drained.
        """
        return self._receive_channel.receive_nowait()

    def close(self) -> None:
        """Refuse further sends; queued messages can still be received, then iteration ends.

        Senders blocked in `send` are woken with `trio.ClosedResourceError`. Idempotent.
        """
        self._closed = True
        self._send_channel.close()

    @property
    def closed(self) -> bool:
        """True once `close` has been called."""
        return self._closed

    def qsize(self) -> int:
        """How many messages are queued right now."""
        return self._send_channel.statistics().current_buffer_used

    def __aiter__(self) -> Mailbox[M]:
        return self

    async def __anext__(self) -> M:
        try:
            return await self._receive_channel.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None
