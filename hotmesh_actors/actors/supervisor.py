"""Supervisor: runs actors in one nursery, restarts failures with backoff, stops them within a grace period.

Supervision is a nursery policy (as in tractor): every actor runs in a task of the supervisor's nursery, so
none outlives the ``async with`` block. What the policy adds to a plain nursery:

- **Restart.** An actor whose `run` raises (an `Exception`, not `trio.Cancelled`) is run again after a
  backoff of ``initial_delay * factor ** (n - 1)`` seconds, capped at ``max_delay``, where *n* counts its
  failures in the last ``window`` seconds. Past ``max_restarts`` failures in the window the supervisor gives
  up: it cancels the other actors and raises `SupervisorGaveUpError` with the last failure as ``__cause__``.
- **Normal return is final.** An actor that returns has finished (a JobActor whose job is done, a loop that
  saw its stop request) and is not restarted. An actor meant to run forever loops in `run`; there is no
  ``restart="always"``, because a clean return that gets restarted is a busy loop with a delay.
- **Graceful stop.** Leaving ``async with`` (normally, with an error, or by being cancelled from outside), or
  calling `Supervisor.stop`, asks every actor to stop (`Actor.stop`: take no new work), waits up to ``grace``
  seconds for them to return, then cancels whatever is left. Started actors are shielded from cancellation of
  the surrounding scope so that the grace period holds even when the host is cancelled; the supervisor
  cancels them itself when the grace period ends, and ``async with`` waits until every task has exited.
- **Failures while stopping** are not restarted; they are logged and propagate out of ``async with``.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import math
from types import TracebackType
from typing import Self

import attrs
import trio

from hotmesh_actors.actors.actor import Actor
from hotmesh_actors.errors import SupervisorGaveUpError

__all__ = ["RestartPolicy", "Supervisor"]

logger = logging.getLogger("hotmesh_actors.actors")


@attrs.frozen(kw_only=True)
class RestartPolicy:
    """How a `Supervisor` restarts a failing actor: exponential backoff, and a failure budget per window.

    Attributes:
        initial_delay: seconds before the first restart.
        factor: growth of the delay with each further failure inside the window.
        max_delay: cap on the delay, in seconds.
        max_restarts: restarts allowed within ``window``; one more failure and the supervisor gives up
            (0 = never restart).
        window: length in seconds of the sliding window in which failures are counted. A failure older
            than the window is forgotten, so an actor that ran well for a while restarts at ``initial_delay``.
    """

    initial_delay: float = attrs.field(default=0.1, validator=attrs.validators.ge(0.0))
    factor: float = attrs.field(default=2.0, validator=attrs.validators.ge(1.0))
    max_delay: float = attrs.field(default=10.0, validator=attrs.validators.ge(0.0))
    max_restarts: int = attrs.field(default=5, validator=attrs.validators.ge(0))
    window: float = attrs.field(default=60.0, validator=attrs.validators.gt(0.0))

    def delay(self, failures: int) -> float:
        """Seconds to wait before restarting an actor that failed *failures* (>= 1) times in the window."""
        try:
            return min(self.initial_delay * self.factor ** (failures - 1), self.max_delay)
        except OverflowError:
            return self.max_delay


@attrs.define(eq=False)
class _Child:
    """One supervised actor: its policy, its failure times, and the scope the supervisor cancels it by."""

    actor: Actor
    policy: RestartPolicy
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    done: trio.Event = attrs.field(factory=trio.Event)
    failures: collections.deque[float] = attrs.field(factory=collections.deque)


class _StartedOnce:
    """The task_status handed to every run of a child: forwards only the first started(), then shields it.

    Until an actor started with `Supervisor.start` has started, cancelling that caller cancels the actor, as
    trio's ``nursery.start`` would; from then on the actor is stopped only by its supervisor (with a grace
    period). Actors started with `Supervisor.start_soon` are shielded from the outset.
    """

    def __init__(self, child: _Child, task_status: trio.TaskStatus[None]) -> None:
        self._child = child
        self._task_status = task_status
        self.called = False

    def started(self, value: None = None) -> None:
        if self.called:
            return
        self.called = True
        self._child.scope.shield = True
        self._task_status.started()


class Supervisor:
    """Run actors in one nursery: restart failures with backoff, stop all of them gracefully on exit.

    Example::

        async with Supervisor(grace=5.0) as supervisor:
            await supervisor.start(consumer)             # returns once consumer.run called started()
            supervisor.start_soon(timers, policy=RestartPolicy(max_restarts=10))
            await supervisor.wait_stopped()              # or anything else; leaving the block stops them

    A supervisor is used once: enter it, start actors, leave it.
    """

    def __init__(
        self,
        *,
        name: str = "supervisor",
        policy: RestartPolicy | None = None,
        grace: float = 5.0,
    ) -> None:
        """Create a supervisor.

        Args:
            name: used in task names and logs.
            policy: the default `RestartPolicy` for actors started without one.
            grace: default seconds `stop` (and leaving ``async with``) lets actors drain before cancelling.

        Raises:
            ValueError: if *grace* is negative.
        """
        self.name = name
        self.policy = policy if policy is not None else RestartPolicy()
        self.grace = _check_grace(grace)
        self._exit_stack: contextlib.AsyncExitStack | None = None
        self._nursery: trio.Nursery | None = None
        self._children: dict[int, _Child] = {}
        self._closing = False
        self._stopped = trio.Event()

    def __repr__(self) -> str:
        return f"<Supervisor {self.name!r} actors={len(self._children)} closing={self._closing}>"

    @property
    def actors(self) -> list[Actor]:
        """The actors running (or waiting to be restarted) right now."""
        return [child.actor for child in self._children.values()]

    @property
    def stopping(self) -> bool:
        """True once a stop has begun (by `stop`, by leaving ``async with``, or by giving up)."""
        return self._closing

    async def __aenter__(self) -> Self:
        if self._exit_stack is not None:
            raise RuntimeError(f"supervisor {self.name!r} was already entered; create a new one")
        self._exit_stack = contextlib.AsyncExitStack()
        self._nursery = await self._exit_stack.enter_async_context(trio.open_nursery())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        assert self._exit_stack is not None
        self.stop()
        try:
            return bool(await self._exit_stack.__aexit__(exc_type, exc, tb))
        except BaseExceptionGroup as group:
            # One failure comes out bare, as from any context manager: the body's own error, or the
            # SupervisorGaveUpError. Several at once stay grouped; so does Cancelled, for trio's scopes.
            if len(group.exceptions) == 1 and isinstance(group.exceptions[0], Exception):
                sole = group.exceptions[0]
                raise sole from sole.__cause__
            raise

    async def start(self, actor: Actor, *, policy: RestartPolicy | None = None) -> None:
        """Run *actor* under supervision and return once its `run` has called ``task_status.started()``.

        If `run` fails before it starts, it is restarted per the policy and `start` keeps waiting. If the
        actor returns (or is stopped) before it starts, `start` returns.

        Raises:
            RuntimeError: if the supervisor is not entered, is stopping, or already runs this actor.
            SupervisorGaveUpError: if the actor failed past its restart limit before it started.

        Cancellation: cancelling `start` before the actor has started cancels the actor too.
        """
        child = self._adopt(actor, policy)
        assert self._nursery is not None
        await self._nursery.start(self._supervise, child, name=f"{self.name}/{actor.name}")

    def start_soon(self, actor: Actor, *, policy: RestartPolicy | None = None) -> None:
        """Run *actor* under supervision without waiting for it to start.

        Raises:
            RuntimeError: if the supervisor is not entered, is stopping, or already runs this actor.
        """
        child = self._adopt(actor, policy)
        child.scope.shield = True  # no caller waits on its start, so it gets the grace period from the outset
        assert self._nursery is not None
        self._nursery.start_soon(self._supervise, child, name=f"{self.name}/{actor.name}")

    def stop(self, grace: float | None = None) -> None:
        """Begin a graceful stop: ask every actor to stop, wait up to *grace* seconds, then cancel the rest.

        Every actor's `Actor.stop` is called before this returns, so none claims new work from here on. It
        does not wait (so an actor may call it); `wait_stopped`, or leaving ``async with``, waits for the end.
        Later calls do nothing. After a stop has begun, `start` and `start_soon` raise.

        Raises:
            RuntimeError: if the supervisor is not entered.
            ValueError: if *grace* is negative.
        """
        nursery = self._require_nursery()
        grace = self.grace if grace is None else _check_grace(grace)
        if self._closing:
            return
        self._closing = True
        for child in self._children.values():
            child.actor.stop()
        nursery.start_soon(self._drain, grace, name=f"{self.name}/stop")
        self._set_stopped_if_empty()

    async def wait_stopped(self) -> None:
        """Wait until a stop has begun and every actor has exited.

        Cancellation: a plain wait; cancelling it does not affect the supervisor.
        """
        await self._stopped.wait()

    def _require_nursery(self) -> trio.Nursery:
        if self._nursery is None:
            raise RuntimeError(f"supervisor {self.name!r} is not running; use `async with supervisor:` first")
        return self._nursery

    def _adopt(self, actor: Actor, policy: RestartPolicy | None) -> _Child:
        self._require_nursery()
        if self._closing:
            raise RuntimeError(f"supervisor {self.name!r} is stopping; it starts no new actors")
        if id(actor) in self._children:
            raise RuntimeError(f"actor {actor.name!r} is already running under supervisor {self.name!r}")
        child = _Child(actor=actor, policy=policy if policy is not None else self.policy)
        self._children[id(actor)] = child
        return child

    def _set_stopped_if_empty(self) -> None:
        if self._closing and not self._children:
            self._stopped.set()

    async def _drain(self, grace: float) -> None:
        # Shielded, but bounded by `grace`: this is the time in-flight work is promised even when the host is
        # being cancelled. After it, everything left is cancelled and the nursery waits for it to exit.
        with trio.CancelScope(shield=True):
            with trio.move_on_after(grace):
                for child in list(self._children.values()):
                    await child.done.wait()
            for child in list(self._children.values()):
                child.scope.cancel()

    def _give_up(self, failed: _Child) -> None:
        self._closing = True
        for child in self._children.values():
            if child is not failed:
                child.scope.cancel()

    async def _supervise(
        self, child: _Child, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        status = _StartedOnce(child, task_status)
        try:
            with child.scope:
                await self._run_with_restarts(child, status)
            # Ended (or was stopped) before it started: let `start` return instead of raising RuntimeError.
            status.started()
        finally:
            del self._children[id(child.actor)]
            child.done.set()
            self._set_stopped_if_empty()

    async def _run_with_restarts(self, child: _Child, status: _StartedOnce) -> None:
        actor, policy = child.actor, child.policy
        while True:
            try:
                await actor.run(task_status=status)
                return
            except Exception as exc:
                if self._closing or actor.stopping:
                    logger.error(
                        "actor %r failed while stopping; not restarted",
                        actor.name,
                        exc_info=exc,
                        extra={"actor": actor.name, "supervisor": self.name},
                    )
                    raise
                now = trio.current_time()
                child.failures.append(now)
                while child.failures[0] <= now - policy.window:
                    child.failures.popleft()
                failures = len(child.failures)
                if failures > policy.max_restarts:
                    logger.error(
                        "actor %r failed %d times within %g s; giving up",
                        actor.name,
                        failures,
                        policy.window,
                        exc_info=exc,
                        extra={"actor": actor.name, "supervisor": self.name},
                    )
                    self._give_up(child)
                    raise SupervisorGaveUpError(
                        f"actor {actor.name!r} failed {failures} times within {policy.window:g} s "
                        f"(max_restarts={policy.max_restarts}); the last failure is attached as __cause__. "
                        "Fix the cause, or loosen the RestartPolicy for this actor."
                    ) from exc
                delay = policy.delay(failures)
                logger.warning(
                    "actor %r failed; restarting in %.3g s (restart %d of %d within %g s)",
                    actor.name,
                    delay,
                    failures,
                    policy.max_restarts,
                    policy.window,
                    exc_info=exc,
                    extra={"actor": actor.name, "supervisor": self.name, "restart": failures, "delay": delay},
                )
            with actor.cancel_on_stop():
                await trio.sleep(delay)
            if actor.stopping:
                return


def _check_grace(grace: float) -> float:
    if math.isnan(grace) or grace < 0:
        raise ValueError(f"grace must be a number of seconds >= 0, got {grace!r}")
    return grace
