"""Hosts: the mesh, a trio program, served to asyncio apps (plain `asyncio.run`, or anyio's asyncio backend).

trio is the reference runtime: on a trio host (or anyio's trio backend) `HotMesh.open` and `HotMesh.serve` run
the mesh directly and nothing here is involved. On an asyncio host they come here instead (sniffio tells them,
once, at `open`/`serve`), and the mesh runs as a trio *guest run* on the host's own event loop
(`trio.lowlevel.start_guest_run`): trio's scheduler ticks as callbacks of the asyncio loop on the same thread,
and only trio's I/O wait sits in a helper thread. Nothing is copied or re-implemented; the bridge is the two
crossings an app needs (this module; mesh/hosted.py applies them to HotMesh, durable/testing.py to the
in-memory durable environment):

- host → mesh: :meth:`GuestRun.call` runs a mesh method as a task of a nursery the guest owns and resolves an
  asyncio future with its result or its exception (the same exception types as on trio). Cancelling the
  awaiting asyncio task cancels the trio task.
- mesh → host: :meth:`GuestRun.run_on_host` runs a worker callback as an asyncio task on the host loop (so it
  may await the app's asyncio clients) and awaits it from trio; cancelling the trio side (the worker stopping)
  cancels the asyncio task and waits for it. `sub`/`psub` callbacks are scheduled on the host loop the same way.

A loop has one guest run (trio allows one run per thread), shared by every mesh opened on it: each mesh is
the unchanged `HotMesh.open` held open in a task of the guest (:meth:`GuestRun.hold`). Leaving the app's
`async with HotMesh.open(...)` leaves that context manager (the mesh's ordinary structured stop, grace period
included) and waits for it, cancels and awaits the mesh's subscriber tasks on the host, and, for the loop's last
mesh, stops the guest run and waits for it: no task the mesh started outlives the block. The Postgres driver is
untouched: by default asyncpg runs on its own asyncio loop in a thread (store/driver.py), which a guest run
reaches exactly as a trio run does.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, ClassVar, Generic, TypeVar

import attrs
import outcome
import sniffio
import trio

from hotmesh_actors.errors import ConfigurationError, MeshClosedError

log = logging.getLogger("hotmesh_actors.hosts")

T = TypeVar("T")
T2 = TypeVar("T2")
JSON = Any


def on_asyncio() -> bool:
    """Whether the caller runs on asyncio (plain, or anyio's asyncio backend) rather than trio; asked once by
    `HotMesh.open`/`serve` (and the in-memory durable environment). Raises ConfigurationError on other hosts."""
    try:
        library = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        raise ConfigurationError("hotmesh_actors must be opened from a trio or asyncio task") from None
    if library == "trio":
        return False
    if library == "asyncio":
        return True
    raise ConfigurationError(f"hotmesh_actors runs on trio or asyncio hosts, not {library!r}")


def sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The only exception inside (possibly nested) groups, or None when there are several."""
    leaves: list[BaseException] = []

    def collect(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                collect(inner)
        else:
            leaves.append(error)

    collect(group)
    return leaves[0] if len(leaves) == 1 else None


class HostCallbackCancelled(RuntimeError):
    """A worker callback's asyncio task was cancelled by the host app, not by the mesh; the request is retried
    like any failed callback (the mesh's own stop cancels callbacks without this error)."""


class GuestRun:
    """The trio guest run of an asyncio loop, shared by every mesh (or environment) opened on that loop.

    trio allows one run per thread, so the first `shared()` block of a loop starts the run and the last one to
    leave stops it. Each user holds its own trio context manager in the run with :meth:`hold`, which stops it
    when that user's block ends. `call` is for the host; `run_on_host` and `on_host` are for trio code inside.
    """

    _runs: ClassVar[dict[asyncio.AbstractEventLoop, GuestRun]] = {}

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._stop = trio.Event()
        self._started: asyncio.Future[None] = loop.create_future()
        self._finished: asyncio.Future[outcome.Outcome[None]] = loop.create_future()
        self._closing = False
        self._users = 0

    @classmethod
    @asynccontextmanager
    async def shared(cls) -> AsyncIterator[GuestRun]:
        """The running loop's guest run for the duration of the block, started if none runs; the last block to
        leave stops it and waits for it (a cancel of that wait is deferred until it has ended)."""
        loop = asyncio.get_running_loop()
        while True:
            guest = cls._runs.get(loop)
            if guest is None:
                guest = cls(loop)
                guest._start()  # raises if a trio run already owns this thread (e.g. a trio-asyncio loop)
                cls._runs[loop] = guest
                break
            if not guest._closing:
                break
            await _shielded(guest._finished)  # the last user is stopping it: start afresh once it has stopped
        guest._users += 1
        try:
            await guest._wait(guest._started)
            yield guest
        finally:
            guest._users -= 1
            if guest._users == 0:
                guest._closing = True
                try:
                    await guest._aclose()
                finally:
                    if cls._runs.get(loop) is guest:
                        del cls._runs[loop]
        failure = guest.failure()
        if failure is not None:
            raise failure

    def _start(self) -> None:
        trio.lowlevel.start_guest_run(
            self._main,
            run_sync_soon_threadsafe=self.loop.call_soon_threadsafe,
            run_sync_soon_not_threadsafe=self.loop.call_soon,
            done_callback=self._done,
            host_uses_signal_set_wakeup_fd=True,
        )

    async def _main(self) -> None:
        """(guest) The guest's root: a nursery for host calls and holds, open until the last user leaves."""
        self.token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            if not self._started.done():
                self._started.set_result(None)
            await self._stop.wait()
            nursery.cancel_scope.cancel()
        self._nursery = None

    def _done(self, result: outcome.Outcome[None]) -> None:
        """(host loop) The guest run ended."""
        if not self._finished.done():
            self._finished.set_result(result)
        failure = self.failure()
        if not self._started.done():
            self._started.set_exception(failure or MeshClosedError("the trio guest run ended before it started"))
        elif failure is not None:  # holds and calls catch their own errors: this is a fault of the bridge itself
            log.error("the trio guest run failed", exc_info=failure)

    def failure(self) -> BaseException | None:
        """The guest run's failure once it has ended (a lone exception unwrapped from nursery groups)."""
        if not self._finished.done():
            return None
        result = self._finished.result()
        if not isinstance(result, outcome.Error):
            return None
        error = result.error
        if isinstance(error, BaseExceptionGroup):
            return sole_exception(error) or error
        return error

    async def _wait(self, future: asyncio.Future[T]) -> T:
        """Await `future`, unless the guest run ends first."""
        if not future.done():
            either: list[asyncio.Future[Any]] = [future, self._finished]
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if not future.done():
            raise MeshClosedError("the trio guest run stopped")
        return future.result()

    async def _aclose(self) -> None:
        """Stop the guest run and wait for it to end."""
        if not self._finished.done() and self.token is not None:
            try:
                self.token.run_sync_soon(self._stop.set)
            except trio.RunFinishedError:
                pass
        await _shielded(self._finished)

    # -- host → guest ---------------------------------------------------------------------------------

    async def call(self, function: Callable[[], Awaitable[T]]) -> T:
        """(host) Run `function()` in the guest and return its result, or raise its exception.

        Raises MeshClosedError once the guest run is stopping or stopped. Cancelling the caller cancels the
        call in the guest (without waiting for it: the guest's stop waits for it).
        """
        if self._closing or self._finished.done() or self.token is None:
            raise MeshClosedError("the mesh is closed: call its methods inside `async with HotMesh.open(...)`")
        future: asyncio.Future[T] = self.loop.create_future()
        scope: list[trio.CancelScope] = []

        async def run() -> None:
            with trio.CancelScope() as own:
                scope.append(own)
                if future.done():  # the caller gave up before this task started
                    return
                try:
                    result = await function()
                except trio.Cancelled:
                    if not future.done():
                        future.set_exception(MeshClosedError("the mesh stopped during the call"))
                    raise
                except BaseException as err:  # handed to the host caller, which re-raises it
                    if not future.done():
                        future.set_exception(err)
                    return
                if not future.done():
                    future.set_result(result)
            if not future.done():  # `own` was cancelled by the caller, which no longer waits
                future.cancel()

        def spawn() -> None:
            if self._nursery is None:
                future.set_exception(MeshClosedError("the mesh is closed"))
            else:
                self._nursery.start_soon(run)

        try:
            self.token.run_sync_soon(spawn)
        except trio.RunFinishedError:
            raise MeshClosedError("the mesh is closed") from None
        try:
            return await future
        except asyncio.CancelledError:
            if scope:
                try:
                    self.token.run_sync_soon(scope[0].cancel)
                except trio.RunFinishedError:
                    pass
            raise

    @asynccontextmanager
    async def hold(self, factory: Callable[[], AbstractAsyncContextManager[T]]) -> AsyncIterator[Holding[T]]:
        """(host) Enter `factory()`, a trio async context manager, in a task of the guest for the block; leave
        it when the block ends and wait until it has (its exit's error, if any, is raised then).

        The task runs with the host's contextvars as they are here. Errors on entry are raised unwrapped from
        groups. Should the context manager fail while the block runs (the mesh crashed), the block is
        cancelled and that failure raised, as a trio nursery would.
        """
        opener = asyncio.current_task()
        context = contextvars.copy_context()
        state = _HoldState(stopped=self.loop.create_future())

        async def holder(task_status: trio.TaskStatus[T] = trio.TASK_STATUS_IGNORED) -> None:
            for var, value in context.items():  # the host's contextvars, for whatever the holder starts
                var.set(value)
            started = False
            try:
                with trio.CancelScope() as scope:
                    state.scope = scope
                    async with factory() as held:
                        task_status.started(held)
                        started = True
                        await trio.sleep_forever()
            except trio.Cancelled:
                raise
            except BaseException as err:
                if not started:
                    raise
                state.error = err
                if not state.leaving and opener is not None:
                    state.cancelled_opener = True
                    opener.cancel()
            finally:
                if started and not state.stopped.done():
                    state.stopped.set_result(None)

        async def start() -> T:
            assert self._nursery is not None
            try:
                held: T = await self._nursery.start(holder)
            except BaseExceptionGroup as group:  # one failure (a bad DSN) surfaces as itself, as on trio
                single = sole_exception(group)
                if single is None:
                    raise
                raise single from None
            return held

        holding = Holding(self, await self.call(start))
        try:
            yield holding
        except BaseException as err:
            await self._leave(state, holding)
            if state.error is not None and state.cancelled_opener and isinstance(
                    err, asyncio.CancelledError | MeshClosedError):
                if isinstance(err, asyncio.CancelledError) and opener is not None:
                    opener.uncancel()
                raise state.error from None
            raise
        await self._leave(state, holding)
        if state.error is not None:
            raise state.error

    async def _leave(self, state: _HoldState, holding: Holding[Any]) -> None:
        """Leave a hold: stop its task in the guest and wait for it, then cancel and await its subscriber tasks
        on the host (a cancel of these waits is deferred until they end, then raised)."""
        holding.closed = True
        state.leaving = True
        if not state.stopped.done() and state.scope is not None and self.token is not None:
            try:
                self.token.run_sync_soon(state.scope.cancel)
            except trio.RunFinishedError:
                pass
        cancelled = False
        while not (state.stopped.done() or self._finished.done()):
            try:
                either: list[asyncio.Future[Any]] = [state.stopped, self._finished]
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                cancelled = True  # returning before the mesh has stopped would leave its tasks running
        try:
            await holding.aclose()
        except asyncio.CancelledError:
            cancelled = True
        if cancelled:
            raise asyncio.CancelledError

    # -- guest → host ---------------------------------------------------------------------------------

    async def run_on_host(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        """(guest) Run `function(*args)` as an asyncio task on the host loop and return its result.

        The callback's exception is raised here as itself. Cancelling this call cancels the asyncio task and
        waits for it to end; a task the host app cancels raises HostCallbackCancelled.
        """
        assert self.token is not None
        token = self.token
        done = trio.Event()

        def finished(_task: asyncio.Task[T]) -> None:
            try:
                token.run_sync_soon(done.set)
            except trio.RunFinishedError:
                pass

        # A copy of the calling trio task's context: the app's contextvars as they were at `open` (the hold
        # set them) plus those the library sets around a callback (`durable.activity.info()`, the chaos kit's
        # step marker).
        task = self.loop.create_task(_coroutine(function, *args), context=contextvars.copy_context())
        task.add_done_callback(finished)
        try:
            await done.wait()
        except trio.Cancelled:
            task.cancel()
            with trio.CancelScope(shield=True):
                await done.wait()
            raise
        if task.cancelled():
            raise HostCallbackCancelled(f"the host cancelled the callback {_name_of(function)}")
        return task.result()

    def on_host(self, function: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        """`function` wrapped so that trio code in the guest calling it runs it on the host loop (`run_on_host`)."""

        async def on_host(*args: Any) -> T:
            return await self.run_on_host(function, *args)

        functools.update_wrapper(on_host, function)
        return on_host


@attrs.define(eq=False)
class _HoldState:
    """What a hold's host side and its task in the guest share."""

    stopped: asyncio.Future[None]
    scope: trio.CancelScope | None = None
    error: BaseException | None = None
    leaving: bool = False
    cancelled_opener: bool = False


class Holding(Generic[T]):
    """What :meth:`GuestRun.hold` yields: the held value, calls into the guest that end with the block, and
    the host tasks (subscriber callbacks) started for it, which leaving the block cancels and awaits."""

    def __init__(self, guest: GuestRun, value: T) -> None:
        self.guest = guest
        self.value = value
        self.closed = False
        self._host_tasks: set[asyncio.Task[Any]] = set()

    async def call(self, function: Callable[[], Awaitable[T2]]) -> T2:
        """(host) As GuestRun.call, refused with MeshClosedError once the block has ended."""
        if self.closed:
            raise MeshClosedError("the mesh is closed: call its methods inside `async with HotMesh.open(...)`")
        return await self.guest.call(function)

    def call_soon_on_host(self, function: Callable[..., object], *args: Any) -> None:
        """(guest) Call `function(*args)` soon on the host loop (outside the trio tick, in a copy of the calling
        task's context); an awaitable it returns runs as an asyncio task that leaving the block cancels."""
        self.guest.loop.call_soon(self._call_on_host, function, args, context=contextvars.copy_context())

    def _call_on_host(self, function: Callable[..., object], args: tuple[Any, ...]) -> None:
        try:
            result = function(*args)
        except Exception:
            log.exception("subscriber callback %s failed", _name_of(function))
            return
        if not inspect.isawaitable(result):
            return
        if self.closed:
            if inspect.iscoroutine(result):
                result.close()
            return
        task = asyncio.ensure_future(result)
        self._host_tasks.add(task)
        task.add_done_callback(self._host_task_done)

    def _host_task_done(self, task: asyncio.Future[Any]) -> None:
        self._host_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("subscriber callback failed", exc_info=task.exception())

    async def aclose(self) -> None:
        """Cancel and await the host tasks started for this hold."""
        for task in list(self._host_tasks):
            task.cancel()
        if self._host_tasks:
            await asyncio.gather(*self._host_tasks, return_exceptions=True)


async def _shielded(future: asyncio.Future[Any]) -> None:
    """Wait for `future` to be done; a cancel of this wait is deferred until it is, then raised."""
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


async def _coroutine(function: Callable[..., Awaitable[T]], *args: Any) -> T:
    """`function(*args)` awaited: a coroutine for `create_task` whatever awaitable the callback returns."""
    return await function(*args)


def _name_of(function: object) -> str:
    return getattr(function, "__qualname__", None) or repr(function)


# -- objects of the guest, seen from the host ------------------------------------------------------------


class HostedObject:
    """A proxy whose coroutine methods run in the guest run; objects of the `proxied` types it hands out (as
    attributes, or results of its methods) are proxied too; other attributes read through unchanged."""

    def __init__(self, target: object, holding: Holding[Any], proxied: tuple[type, ...] = ()) -> None:
        self._target = target
        self._holding = holding
        self._proxied = proxied

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if inspect.iscoroutinefunction(value):
            return self._in_guest(value)
        if inspect.ismethod(value):
            return self._wrapping(value)
        return self._wrap(value)

    def _wrap(self, value: Any) -> Any:
        return HostedObject(value, self._holding, self._proxied) if isinstance(value, self._proxied) else value

    def _in_guest(self, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        @functools.wraps(method)
        async def hosted(*args: Any, **kwargs: Any) -> Any:
            return self._wrap(await self._holding.call(functools.partial(method, *args, **kwargs)))

        return hosted

    def _wrapping(self, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def hosted(*args: Any, **kwargs: Any) -> Any:
            return self._wrap(method(*args, **kwargs))

        return hosted

    def __repr__(self) -> str:
        return f"<hosted {self._target!r}>"


__all__ = ["GuestRun", "HostCallbackCancelled", "HostedObject", "Holding", "on_asyncio", "sole_exception"]
