"""Actor: a named unit of work that runs in a nursery and can be asked to stop gracefully.

Two ways to end an actor, and they mean different things:

- ``actor.stop()`` is a *request*: "stop taking new work". It sets a flag (`Actor.stopping`) and cancels every
  `Actor.cancel_on_stop` scope, which should wrap only the places where the actor waits for new work (a claim,
  a throttle gate, a mailbox receive). Work already in flight is not interrupted: the actor finishes it and
  returns from `run`.
- Cancelling the scope the actor runs in (its nursery, or its `Supervisor` after the grace period) is the hard
  stop: `trio.Cancelled` is raised at the actor's next checkpoint, in-flight work included. Clean up in
  ``finally`` blocks; never swallow `trio.Cancelled`.

A consumer loop reads like this, and drains naturally because its handler nursery is left normally::

    class StreamConsumer(Actor):
        async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            async with trio.open_nursery() as handlers:
                task_status.started()
                while not self.stopping:
                    with self.cancel_on_stop():
                        await self.gate.wait()
                        await self.wait_for_notify_or_poll()
                    if self.stopping:
                        break
                    for message in await self.claim_batch():
                        handlers.start_soon(self.handle, message)
            # leaving the nursery waited for the in-flight handlers: that is the drain
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

import trio

from hotmesh_actors.actors.mailbox import Mailbox

__all__ = ["Actor"]

M = TypeVar("M")


class Actor(abc.ABC):
    """Base class of every actor: a name, a stop request, and a `run` method started with `nursery.start`.

    Subclasses implement `run`. The same instance may be run again after a failure (a `Supervisor` restarts it
    by calling `run` again), so per-run state belongs in `run`, and state that should survive a restart (a
    mailbox, a throttle gate) belongs on the instance. A stop request is permanent: a stopped actor is not
    started again; create a new one.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._stop_requested = trio.Event()
        self._stop_scopes: set[trio.CancelScope] = set()

    def __repr__(self) -> str:
        state = "stopping" if self.stopping else "running"
        return f"<{type(self).__name__} {self.name!r} {state}>"

    @abc.abstractmethod
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Do the actor's work until it is done or asked to stop; call ``task_status.started()`` once ready.

        Start it with ``await nursery.start(actor.run)`` (or through a `Supervisor`). Returning normally means
        "finished"; raising means "failed" (a supervisor may restart it).

        Cancellation: cancelling the enclosing scope raises `trio.Cancelled` inside, in-flight work included;
        use `stop` for a graceful end.
        """

    @property
    def stopping(self) -> bool:
        """True once `stop` has been called: the actor should take no new work and return soon."""
        return self._stop_requested.is_set()

    def stop(self) -> None:
        """Ask the actor to stop taking new work and return; in-flight work is left to finish.

        Cancels every open `cancel_on_stop` scope. Idempotent, synchronous, and callable from any task in
        the same trio run. It does not wait: to wait for the actor to end, wait on whatever runs it (its
        nursery, or `Supervisor.wait_stopped`).
        """
        if self._stop_requested.is_set():
            return
        self._stop_requested.set()
        for scope in self._stop_scopes:
            scope.cancel()

    async def wait_stopping(self) -> None:
        """Wait until `stop` has been called (returns at once if it already was).

        Cancellation: a plain wait; cancelling it has no effect on the actor.
        """
        await self._stop_requested.wait()

    @contextlib.contextmanager
    def cancel_on_stop(self) -> Iterator[trio.CancelScope]:
        """Open a cancel scope that `stop` cancels: wrap the waits for *new* work in it, never in-flight work.

        If the actor is already stopping the scope is cancelled from the start, so the first checkpoint inside
        exits it. Check `stopping` (or ``scope.cancelled_caught``) afterwards to tell a stop from a result; a
        value assigned inside may be unset if the scope was cancelled.
        """
        scope = trio.CancelScope()
        if self.stopping:
            scope.cancel()
        self._stop_scopes.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._stop_scopes.discard(scope)

    def receive_until_stopped(self, mailbox: Mailbox[M]) -> AsyncIterator[M]:
        """Iterate over *mailbox* until the actor is asked to stop or the mailbox is closed and drained.

        A message is never lost to a stop: trio's receive either takes a message or is cancelled having taken
        none, so a message stays queued for the next run when the stop wins.

        Example::

            async for command in self.receive_until_stopped(self.inbox):
                await self.handle(command)   # runs to completion even if stop() is called meanwhile
        """
        return _ReceiveUntilStopped(self, mailbox)


class _ReceiveUntilStopped(AsyncIterator[M]):
    # A class, not an async generator: an abandoned async generator would be finalized later by trio in a
    # system task, outside the actor's structure.

    def __init__(self, actor: Actor, mailbox: Mailbox[M]) -> None:
        self._actor = actor
        self._mailbox = mailbox

    async def __anext__(self) -> M:
        with self._actor.cancel_on_stop():
            try:
                return await self._mailbox.receive()
            except trio.EndOfChannel:
                raise StopAsyncIteration from None
        raise StopAsyncIteration
