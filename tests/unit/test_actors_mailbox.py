"""Mailbox: typed frozen messages, bounded with backpressure, closed cleanly."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing

from hotmesh_actors.actors import Mailbox, MailboxFullError


@attrs.frozen(kw_only=True)
class Note:
    text: str


@attrs.define
class MutableNote:
    text: str


async def test_messages_are_received_in_the_order_they_were_sent() -> None:
    box: Mailbox[Note] = Mailbox(4)
    for text in "abc":
        await box.send(Note(text=text))
    assert box.qsize() == 3
    assert [(await box.receive()).text for _ in range(3)] == ["a", "b", "c"]


@pytest.mark.parametrize("bad", [MutableNote(text="x"), {"text": "x"}, "x", None])
async def test_send_rejects_anything_but_a_frozen_attrs_instance(bad: object) -> None:
    box: Mailbox[object] = Mailbox(4)
    with pytest.raises(TypeError, match="frozen attrs"):
        await box.send(bad)
    with pytest.raises(TypeError, match="frozen attrs"):
        box.send_nowait(bad)
    assert box.qsize() == 0


async def test_a_subclass_of_a_frozen_message_is_accepted() -> None:
    class Shout(Note):
        pass

    box: Mailbox[Note] = Mailbox(1)
    box.send_nowait(Shout(text="hi"))
    assert isinstance(box.receive_nowait(), Shout)


async def test_type_check_happens_before_waiting_for_room() -> None:
    box: Mailbox[object] = Mailbox(0)
    with pytest.raises(TypeError):
        await box.send(MutableNote(text="x"))  # would block forever on a rendezvous mailbox if checked later


async def test_send_waits_while_the_mailbox_is_full() -> None:
    box: Mailbox[Note] = Mailbox(1)
    await box.send(Note(text="first"))
    sent = trio.Event()

    async def sender() -> None:
        await box.send(Note(text="second"))
        sent.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender)
        await trio.testing.wait_all_tasks_blocked()
        assert not sent.is_set()
        assert (await box.receive()).text == "first"
        await sent.wait()
    assert (await box.receive()).text == "second"


async def test_send_nowait_on_a_full_mailbox_raises_mailbox_full() -> None:
    box: Mailbox[Note] = Mailbox(1, name="inbox")
    box.send_nowait(Note(text="a"))
    with pytest.raises(MailboxFullError, match="'inbox' is full") as caught:
        box.send_nowait(Note(text="b"))
    assert isinstance(caught.value, trio.WouldBlock)
    assert box.qsize() == 1


async def test_iteration_drains_queued_messages_then_ends_after_close() -> None:
    box: Mailbox[Note] = Mailbox(4)
    await box.send(Note(text="a"))
    await box.send(Note(text="b"))
    box.close()
    assert box.closed
    assert [note.text async for note in box] == ["a", "b"]
    with pytest.raises(trio.EndOfChannel):
        await box.receive()


async def test_send_after_close_raises_closed_resource_error() -> None:
    box: Mailbox[Note] = Mailbox(4)
    box.close()
    box.close()  # idempotent
    with pytest.raises(trio.ClosedResourceError):
        await box.send(Note(text="late"))


async def test_close_wakes_a_sender_blocked_on_a_full_mailbox() -> None:
    box: Mailbox[Note] = Mailbox(0)

    async def close_when_blocked() -> None:
        await trio.testing.wait_all_tasks_blocked()
        box.close()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(close_when_blocked)
        with pytest.raises(trio.ClosedResourceError):
            await box.send(Note(text="never delivered"))


async def test_a_cancelled_receive_takes_no_message() -> None:
    box: Mailbox[Note] = Mailbox(1)
    with trio.move_on_after(0.01):
        await box.receive()
    await box.send(Note(text="kept"))
    with trio.CancelScope() as scope:
        scope.cancel()
        await box.receive()
    assert box.receive_nowait().text == "kept"


@pytest.mark.parametrize("capacity", [-1, 1.5, float("inf"), True])
def test_capacity_must_be_a_bounded_non_negative_int(capacity: object) -> None:
    with pytest.raises(ValueError, match="capacity"):
        Mailbox(capacity)  # type: ignore[arg-type]
