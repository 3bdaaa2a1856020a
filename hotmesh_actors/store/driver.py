"""The driver adapter: the one place that knows how trio code reaches Postgres.

asyncpg runs on asyncio, the mesh runs on trio. Every database call crosses between the two once per
*transaction*: a :class:`Statement` bundle is shipped to the asyncio side, run there inside one
BEGIN/COMMIT on one pooled connection, and the list of per-statement results comes back. Two crossings
are available (see docs/driver.md for the measured figures):

- ``"thread"`` (default): asyncpg runs on an asyncio loop in a dedicated thread; a crossing is
  `run_coroutine_threadsafe` out and a trio-token callback back.
- ``"trio_asyncio"``: asyncpg runs on a trio-asyncio loop inside the caller's trio run.

Notifications use one dedicated LISTEN connection per :class:`Database`, which reconnects by itself.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal, Protocol, TypeVar

import asyncpg
import attrs
import trio

from hotmesh_actors.errors import DatabaseUnavailableError

log = logging.getLogger("hotmesh_actors.store")

T = TypeVar("T")

Mode = Literal["fetch", "fetchrow", "fetchval", "execute"]
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
"""A connection as handed out alone or by the pool."""
BridgeKind = Literal["thread", "trio_asyncio"]


@attrs.frozen
class Statement:
    """One SQL statement of a bundle, with how its result is read.

    `require_rows`: a `fetch` that returns no rows aborts (rolls back) the whole transaction with
    :class:`RequirementFailed`, e.g. an ack whose lease was lost must not commit the work bundled with it.
    """

    sql: str
    args: tuple[Any, ...] = ()
    mode: Mode = "fetch"
    require_rows: bool = False
    acks: bool = False
    """Set by stream code on a statement that also acknowledges the claimed message (no separate ack)."""


class RequirementFailed(Exception):
    """A `require_rows` statement matched nothing; its transaction was rolled back."""

    def __init__(self, index: int, statement: Statement) -> None:
        super().__init__(f"statement {index} of the transaction matched no rows; rolled back")
        self.index = index
        self.statement = statement


class Bridge(Protocol):
    """Runs asyncio coroutines on behalf of trio code, and trio callbacks on behalf of asyncio code."""

    async def call(self, factory: Callable[[], Awaitable[T]]) -> T: ...

    def to_trio(self, callback: Callable[[], None]) -> None: ...


@attrs.define(eq=False)
class _Crossing:
    """One call in flight through the ThreadBridge."""

    factory: Callable[[], Awaitable[Any]]
    done: trio.Event
    outcome: Any = None
    error: BaseException | None = None
    task: asyncio.Task[Any] | None = None
    abandoned: bool = False


class ThreadBridge:
    """An asyncio loop on its own thread; trio awaits its results through the trio token.

    Wake-ups are coalesced: the calls trio tasks make within one round of trio's scheduler are handed over
    together by one `forward_calls` task (one wake-up of the asyncio thread), and the results that finish
    before trio drains them come back with one wake-up, so under load many calls share a wake-up each way
    instead of costing two system calls and two thread switches apiece. `Database.open` runs
    `forward_calls`; without it running, `call` wakes the asyncio thread itself.
    """

    def __init__(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._lock = threading.Lock()
        self._calls: collections.deque[_Crossing] = collections.deque()
        self._results: collections.deque[_Crossing] = collections.deque()
        self._calls_scheduled = False
        self._results_scheduled = False
        self._forwarding = False
        self._calls_waiting = trio.Event()
        ready = threading.Event()
        loops: list[asyncio.AbstractEventLoop] = []

        def serve() -> None:
            # Created inside the thread: once trio_asyncio is imported, asyncio.new_event_loop() refuses to run on
            # a trio thread, and a plain selector loop is all asyncpg needs.
            loop = asyncio.SelectorEventLoop()
            asyncio.set_event_loop(loop)
            loops.append(loop)
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=serve, name="hotmesh-asyncpg", daemon=True)
        self._thread.start()
        ready.wait()
        self._loop = loops[0]

    async def call(self, factory: Callable[[], Awaitable[T]]) -> T:
        """Run ``factory()`` on the asyncio loop and return its result; cancelling cancels it there."""
        crossing = _Crossing(factory=factory, done=trio.Event())
        with self._lock:
            self._calls.append(crossing)
            wake = not self._calls_scheduled
            self._calls_scheduled = True
        if wake:
            if self._forwarding:
                self._calls_waiting.set()  # `forward_calls` wakes the asyncio thread once for the whole round
            else:
                self._loop.call_soon_threadsafe(self._start_calls)
        try:
            await crossing.done.wait()
        except trio.Cancelled:
            with self._lock:
                crossing.abandoned = True
                task = crossing.task
            if task is not None:
                self._loop.call_soon_threadsafe(task.cancel)
            raise
        if crossing.error is not None:
            raise crossing.error
        result: T = crossing.outcome
        return result

    async def forward_calls(self) -> None:
        """(trio) Wake the asyncio thread once per scheduler round for the calls made in it; runs until
        cancelled."""
        self._forwarding = True
        try:
            while True:
                await self._calls_waiting.wait()
                self._calls_waiting = trio.Event()
                await trio.lowlevel.cancel_shielded_checkpoint()  # let this round's other tasks queue theirs
                self._loop.call_soon_threadsafe(self._start_calls)
        finally:
            self._forwarding = False
            with self._lock:
                queued = bool(self._calls)
            if queued:
                self._loop.call_soon_threadsafe(self._start_calls)

    def _start_calls(self) -> None:
        """(asyncio thread) Start a task for every queued call."""
        with self._lock:
            calls = list(self._calls)
            self._calls.clear()
            self._calls_scheduled = False
        for crossing in calls:
            if crossing.abandoned:
                continue
            task = self._loop.create_task(self._run(crossing))
            with self._lock:
                crossing.task = task
                if crossing.abandoned:
                    task.cancel()

    async def _run(self, crossing: _Crossing) -> None:
        try:
            crossing.outcome = await crossing.factory()
        except BaseException as err:  # handed to the trio caller, which re-raises it
            crossing.error = err
        with self._lock:
            self._results.append(crossing)
            wake = not self._results_scheduled
            self._results_scheduled = True
        if wake:
            try:
                self._token.run_sync_soon(self._finish_calls)
            except trio.RunFinishedError:
                pass

    def _finish_calls(self) -> None:
        """(trio thread) Wake the caller of every finished call."""
        with self._lock:
            results = list(self._results)
            self._results.clear()
            self._results_scheduled = False
        for crossing in results:
            crossing.done.set()

    def to_trio(self, callback: Callable[[], None]) -> None:
        """Schedule a synchronous callback on the trio side (called from the asyncio thread)."""
        try:
            self._token.run_sync_soon(callback)
        except trio.RunFinishedError:
            pass

    def close(self) -> None:
        """Stop the loop and join its thread."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._loop.is_running():
            self._loop.close()


class TrioAsyncioBridge:
    """asyncpg on a trio-asyncio loop living in the current trio run."""

    def __init__(self) -> None:
        import trio_asyncio

        self._aio_as_trio = trio_asyncio.aio_as_trio

    async def call(self, factory: Callable[[], Awaitable[T]]) -> T:
        """Run ``factory()`` as an asyncio coroutine inside the trio-asyncio loop."""

        async def runner() -> T:
            return await factory()

        result: T = await self._aio_as_trio(runner)()
        return result

    def to_trio(self, callback: Callable[[], None]) -> None:
        """asyncio callbacks already run in the trio thread; call straight through."""
        callback()


async def _reset_nothing(conn: asyncpg.Connection) -> None:
    """Pool reset hook that sends nothing: asyncpg's default reset query costs a round trip per release.

    Safe because this module never leaves session state behind: transactions are closed by their context
    manager (asyncpg rolls back one left open before calling this hook), advisory locks are transaction-level,
    and LISTEN happens only on the dedicated listener connection.
    """


async def run_statement(conn: Connection, statement: Statement) -> Any:
    """Run one Statement on an open connection (inside the caller's transaction, if any); return its result."""
    if statement.mode == "fetch":
        return await conn.fetch(statement.sql, *statement.args)
    if statement.mode == "fetchrow":
        return await conn.fetchrow(statement.sql, *statement.args)
    if statement.mode == "fetchval":
        return await conn.fetchval(statement.sql, *statement.args)
    return await conn.execute(statement.sql, *statement.args)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def redact_dsn(dsn: str) -> str:
    """The DSN without its password, for error messages."""
    if "@" not in dsn or "://" not in dsn:
        return dsn
    scheme, rest = dsn.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"


class Database:
    """A pool of asyncpg connections reached from trio, one crossing per transaction.

    Open with ``async with Database.open(dsn) as db``. All methods are trio-async; cancelling a call
    cancels it on the asyncio side (an open transaction is rolled back).
    """

    def __init__(self, dsn: str, bridge: Bridge, pool: asyncpg.Pool) -> None:
        self.dsn = dsn
        self.bridge = bridge
        self._pool = pool

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        dsn: str,
        *,
        pool_size: int = 8,
        bridge: BridgeKind = "thread",
    ) -> AsyncIterator[Database]:
        """Connect a pool; raises DatabaseUnavailableError with one line naming the (redacted) DSN."""
        if bridge == "trio_asyncio":
            import trio_asyncio

            async with trio_asyncio.open_loop():
                async with cls._open_with(dsn, pool_size, TrioAsyncioBridge()) as db:
                    yield db
            return
        thread_bridge = ThreadBridge()
        try:
            # Connect before the call forwarder's nursery opens: a bad DSN then raises the bare
            # DatabaseUnavailableError, not one wrapped in the nursery's ExceptionGroup.
            pool = await cls._connect(dsn, pool_size, thread_bridge)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(thread_bridge.forward_calls)
                try:
                    async with cls._open_with(dsn, pool_size, thread_bridge, pool) as db:
                        yield db
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            thread_bridge.close()

    @staticmethod
    async def _connect(dsn: str, pool_size: int, bridge: Bridge) -> asyncpg.Pool:
        """Create the pool; a failure to connect raises DatabaseUnavailableError naming the redacted DSN."""
        async def create() -> asyncpg.Pool:
            return await asyncpg.create_pool(
                dsn, min_size=1, max_size=pool_size, reset=_reset_nothing, statement_cache_size=512
            )

        try:
            return await bridge.call(create)
        except (TimeoutError, OSError, asyncpg.PostgresError, ValueError) as err:
            raise DatabaseUnavailableError(
                f"cannot connect to Postgres at {redact_dsn(dsn)}: {_one_line(err)}"
            ) from err

    @classmethod
    @asynccontextmanager
    async def _open_with(cls, dsn: str, pool_size: int, bridge: Bridge,
                         pool: asyncpg.Pool | None = None) -> AsyncIterator[Database]:
        if pool is None:
            pool = await cls._connect(dsn, pool_size, bridge)
        db = cls(dsn, bridge, pool)
        try:
            yield db
        finally:
            with trio.CancelScope(shield=True):
                with trio.move_on_after(10):
                    await bridge.call(pool.close)

    async def transaction(self, statements: Sequence[Statement]) -> list[Any]:
        """Run the statements in order inside one BEGIN/COMMIT; return each statement's result.

        Raises RequirementFailed (after rolling back) when a `require_rows` statement matched nothing.
        """

        if len(statements) == 1:
            # One statement is atomic on its own: skip BEGIN/COMMIT and their two round trips.
            only = statements[0]
            result = await self.run(only)
            if only.require_rows and not result:
                raise RequirementFailed(0, only)
            return [result]

        async def run() -> list[Any]:
            async with self._pool.acquire() as conn, conn.transaction():
                results = []
                for index, statement in enumerate(statements):
                    result = await run_statement(conn, statement)
                    if statement.require_rows and not result:
                        raise RequirementFailed(index, statement)
                    results.append(result)
                return results

        return await self.bridge.call(run)

    async def run(self, statement: Statement) -> Any:
        """Run one statement on its own (autocommit); return its result."""

        async def run() -> Any:
            async with self._pool.acquire() as conn:
                return await run_statement(conn, statement)

        return await self.bridge.call(run)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Rows of one autocommitted query."""
        rows: list[asyncpg.Record] = await self.run(Statement(sql, args, "fetch"))
        return rows

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        """First row of one autocommitted query, or None."""
        row: asyncpg.Record | None = await self.run(Statement(sql, args, "fetchrow"))
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """First column of the first row of one autocommitted query."""
        return await self.run(Statement(sql, args, "fetchval"))

    async def execute(self, sql: str, *args: Any) -> str:
        """Run one autocommitted command; return its status tag."""
        status: str = await self.run(Statement(sql, args, "execute"))
        return status

    async def with_connection(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        """Run an asyncio-side function with a pooled connection (one crossing); for scripts like DDL."""

        async def run() -> T:
            async with self._pool.acquire() as conn:
                return await work(conn)

        return await self.bridge.call(run)

    @asynccontextmanager
    async def listener(self) -> AsyncIterator[Listener]:
        """Open the dedicated LISTEN connection (reconnecting by itself) for the duration of the block."""
        async with trio.open_nursery() as nursery:
            listener = Listener(self)
            await nursery.start(listener.run)
            try:
                yield listener
            finally:
                nursery.cancel_scope.cancel()


NotifyCallback = Callable[[str, str | None], None]
"""Called on the trio side with (channel, payload); payload None means 'reconnected: poll now'."""


class Listener:
    """One LISTEN connection per process: channels map to trio-side callbacks; survives reconnects."""

    def __init__(self, db: Database, *, reconnect_delay: float = 0.5, max_delay: float = 10.0) -> None:
        self._db = db
        self._callbacks: dict[str, list[NotifyCallback]] = {}
        self._conn: asyncpg.Connection | None = None
        self._lost = trio.Event()
        self._reconnect_delay = reconnect_delay
        self._max_delay = max_delay
        self._lock = trio.Lock()
        """One LISTEN/UNLISTEN at a time: the connection refuses a second operation while one is in progress
        (an actor starting and a `sub` at the same moment)."""

    def _dispatch(self, channel: str, payload: str | None) -> None:
        for callback in list(self._callbacks.get(channel, ())):
            try:
                callback(channel, payload)
            except Exception:
                log.exception("notification callback failed", extra={"channel": channel})

    def _on_notify(self, _conn: Connection, _pid: int, channel: str, payload: object) -> None:
        text = payload if isinstance(payload, str) else str(payload)
        self._db.bridge.to_trio(lambda: self._dispatch(channel, text))

    def _on_terminate(self, _conn: Any) -> None:
        self._db.bridge.to_trio(self._lost.set)

    async def add(self, channel: str, callback: NotifyCallback) -> None:
        """LISTEN on `channel` (once per channel) and call `callback` for each notification."""
        first = channel not in self._callbacks
        self._callbacks.setdefault(channel, []).append(callback)
        if first:
            async with self._lock:
                if self._conn is not None:
                    conn = self._conn
                    await self._uncancelled(lambda: conn.add_listener(channel, self._on_notify))

    async def remove(self, channel: str, callback: NotifyCallback) -> None:
        """Stop calling `callback`; UNLISTEN when the channel has no callbacks left."""
        callbacks = self._callbacks.get(channel, [])
        if callback in callbacks:
            callbacks.remove(callback)
        if not callbacks and channel in self._callbacks:
            del self._callbacks[channel]
            async with self._lock:
                if self._conn is not None:
                    conn = self._conn
                    await self._uncancelled(lambda: conn.remove_listener(channel, self._on_notify))

    async def _uncancelled(self, command: Callable[[], Awaitable[None]]) -> None:
        """Run a LISTEN/UNLISTEN to its end even if the caller is cancelled (an actor stopping mid-add).

        Cancelling asyncpg mid-command leaves the shared connection with a reply it no longer expects, and
        the next LISTEN on it then fails ("got result for unknown protocol state"). The command is short;
        the timeout only bounds a connection that hangs (its loss is handled by the reconnect loop).
        """
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            await self._db.bridge.call(command)

    async def _connect(self) -> None:
        dsn = self._db.dsn

        async def connect() -> asyncpg.Connection:
            conn: asyncpg.Connection = await asyncpg.connect(dsn)
            conn.add_termination_listener(self._on_terminate)
            for channel in list(self._callbacks):
                await conn.add_listener(channel, self._on_notify)
            return conn

        self._lost = trio.Event()
        async with self._lock:  # a channel added meanwhile is either in the list above or LISTENed after
            self._conn = await self._db.bridge.call(connect)

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the LISTEN connection up; after a reconnect every channel gets a None payload."""
        delay = self._reconnect_delay
        await self._connect()
        task_status.started()
        try:
            while True:
                await self._lost.wait()
                log.warning("LISTEN connection lost; reconnecting")
                self._conn = None
                while self._conn is None:
                    try:
                        await self._connect()
                    except (OSError, asyncpg.PostgresError) as err:
                        log.warning("LISTEN reconnect failed: %s", _one_line(err))
                        await trio.sleep(delay)
                        delay = min(delay * 2, self._max_delay)
                delay = self._reconnect_delay
                for channel in list(self._callbacks):
                    self._dispatch(channel, None)
        finally:
            # Under the lock: a LISTEN still in flight (an actor starting as the mesh stops) ends before the
            # connection closes under it; one that comes later finds no connection.
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                async with self._lock:
                    conn = self._conn
                    self._conn = None
                    if conn is not None:
                        await self._db.bridge.call(conn.close)


def with_database(dsn: str, database: str) -> str:
    """The same server URL pointing at another database (URL-style DSNs, incl. `?host=/socket/dir`)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))
