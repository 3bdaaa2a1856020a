"""Actor: stop requests cancel only the waits for new work; mailboxes are read until stopped."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing

from hotmesh_actors.actors import Actor, Mailbox


@attrs.frozen(kw_only=True)
class Work:
    id: int


class Collector(Actor):
    """Reads its inbox until stopped, and takes a while over each message."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.inbox: Mailbox[Work] = Mailbox(8)
        self.handled: list[int] = []
        self.busy = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async for work in self.receive_until_stopped(self.inbox):
            self.busy.set()
            await trio.sleep(1)  # in flight: a stop request must not interrupt this
            self.handled.append(work.id)


def test_actor_is_abstract() -> None:
    with pytest.raises(TypeError):
        Actor("nameless")  # type: ignore[abstract]


async def test_stop_cancels_open_cancel_on_stop_scopes_only() -> None:
    class Waiter(Actor):
        async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            raise NotImplementedError

    actor = Waiter("waiter")
    assert not actor.stopping
    async with trio.open_nursery() as nursery:

        async def stop_when_blocked() -> None:
            await trio.testing.wait_all_tasks_blocked()
            actor.stop()

        nursery.start_soon(stop_when_blocked)
        with actor.cancel_on_stop() as scope:
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert actor.stopping
    await actor.wait_stopping()  # returns at once now
    actor.stop()  # idempotent


async def test_cancel_on_stop_after_stop_exits_at_the_first_checkpoint() -> None:
    class Idle(Actor):
        async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            raise NotImplementedError

    actor = Idle("idle")
    actor.stop()
    with actor.cancel_on_stop() as scope:
        await trio.sleep_forever()
    assert scope.cancelled_caught


async def test_stop_lets_the_in_flight_message_finish_and_leaves_the_rest_queued(
    autojump_clock: trio.testing.MockClock,
) -> None:
    actor = Collector("collector")
    for i in range(3):
        await actor.inbox.send(Work(id=i))
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
        await actor.busy.wait()
        actor.stop()
    assert actor.handled == [0]
    assert actor.inbox.qsize() == 2


async def test_receive_until_stopped_ends_when_the_mailbox_is_closed_and_drained(
    autojump_clock: trio.testing.MockClock,
) -> None:
    actor = Collector("collector")
    await actor.inbox.send(Work(id=1))
    actor.inbox.close()
    async with trio.open_nursery() as nursery:
        await nursery.start(actor.run)
    assert actor.handled == [1]
    assert not actor.stopping
