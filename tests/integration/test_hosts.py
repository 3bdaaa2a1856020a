"""The same mesh from every host: trio, plain asyncio, and anyio on each of its backends (hotmesh_actors/hosts.py).

Each test is a plain function that starts its own event loop (`trio.run`, `asyncio.run`, `anyio.run`): pytest runs
async tests under trio here. The scenario itself is written with anyio so that one text runs on every host; what
differs per host is the worker and subscriber callbacks, which on asyncio await asyncio-only APIs (an
`asyncio.Queue`, an `asyncio.Event`, `asyncio.sleep`), which would fail under trio.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
import trio

from hotmesh_actors import HotMesh, StreamMessage, Worker, durable
from hotmesh_actors.durable import workflow as wf
from hotmesh_actors.durable.testing import WorkflowEnvironment
from hotmesh_actors.errors import (
    DatabaseUnavailableError,
    JobAlreadyCompletedError,
    JobNotFoundError,
    MeshClosedError,
    PubSubTimeout,
)
from hotmesh_actors.hosts import GuestRun
from hotmesh_actors.mesh.hosted import HostedMesh, hosted_methods
from tests.integration.activities_kit import app_yaml, fast_settings

JSON = Any
BOUND_S = 30.0

GRAPHS = """
- subscribes: h.start
  activities:
    h_trigger:
      type: trigger
    h_work:
      type: worker
      topic: h.work
      input:
        maps:
          n: '{h_trigger.output.data.n}'
      job:
        maps:
          n: '{$self.output.data.n}'
          task: '{$self.output.data.task}'
  transitions:
    h_trigger:
      - to: h_work

- subscribes: h.wait
  publishes: h.waited
  activities:
    w_trigger:
      type: trigger
    w_hook:
      type: hook
      hook:
        type: object
        properties:
          done:
            type: boolean
      job:
        maps:
          done: '{w_hook.hook.data.done}'
  transitions:
    w_trigger:
      - to: w_hook
  hooks:
    h.resume:
      - to: w_hook
        conditions:
          match:
            - expected: '{$job.metadata.jid}'
              actual: '{$self.hook.data.id}'
"""

HOSTS = ["trio", "asyncio", "anyio-asyncio", "anyio-trio"]

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("app_request_id", default=None)
"""An app's own context variable, set before `open`: its callbacks see it, on every host."""


def run_on(host: str, main: Callable[[], Awaitable[None]]) -> None:
    """Run `main` on `host`'s event loop, as an app of that kind would."""
    if host == "trio":
        trio.run(main)
    elif host == "asyncio":
        asyncio.run(main())  # type: ignore[arg-type]
    else:
        anyio.run(main, backend=host.removeprefix("anyio-"))


def on_asyncio() -> bool:
    """Whether this code runs on an asyncio loop (the test's view; the library asks sniffio)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class HostSide:
    """The callbacks of the scenario, written against the host's own primitives.

    On asyncio the worker parks on an `asyncio.Event` the test sets, after telling the test through an
    `asyncio.Queue` that it runs (and on which task): an asyncio-only handshake. On trio the same with trio's.
    """

    def __init__(self) -> None:
        self.asyncio = on_asyncio()
        if self.asyncio:
            self.loop = asyncio.get_running_loop()
            self.calls: asyncio.Queue[tuple[int, object]] = asyncio.Queue()
            self.proceed = asyncio.Event()
            self.published: asyncio.Queue[tuple[str, JSON]] = asyncio.Queue()
        else:
            self.trio_calls = trio.open_memory_channel[tuple[int, object]](10)
            self.trio_proceed = trio.Event()
            self.trio_published = trio.open_memory_channel[tuple[str, JSON]](10)

    async def work(self, msg: StreamMessage) -> dict[str, JSON]:
        n = msg.data["n"]
        assert REQUEST_ID.get() == "app-1"
        if self.asyncio:
            assert asyncio.get_running_loop() is self.loop  # the app's loop, in an asyncio task of its own
            task = asyncio.current_task()
            assert task is not None
            await self.calls.put((n, task))
            await self.proceed.wait()
            await asyncio.sleep(0.001)
            return {"data": {"n": n + 1, "task": "asyncio"}}
        await self.trio_calls[0].send((n, trio.lowlevel.current_task()))
        await self.trio_proceed.wait()
        await trio.sleep(0.001)
        return {"data": {"n": n + 1, "task": "trio"}}

    async def next_call(self) -> tuple[int, object]:
        if self.asyncio:
            return await self.calls.get()
        return await self.trio_calls[1].receive()

    def let_workers_proceed(self) -> None:
        (self.proceed if self.asyncio else self.trio_proceed).set()

    async def on_published(self, topic: str, output: JSON) -> None:
        if self.asyncio:
            assert asyncio.get_running_loop() is self.loop
            await asyncio.sleep(0)
            await self.published.put((topic, output))
        else:
            await self.trio_published[0].send((topic, output))

    async def next_published(self) -> tuple[str, JSON]:
        if self.asyncio:
            return await self.published.get()
        return await self.trio_published[1].receive()


def running_tasks() -> set[object]:
    """Every task of the current event loop (asyncio), or of the whole trio run."""
    if on_asyncio():
        return set(asyncio.all_tasks())
    found: set[object] = set()
    pending = [trio.lowlevel.current_root_task()]
    while pending:
        task = pending.pop()
        if task is None:
            continue
        found.add(task)
        pending.extend(child for nursery in task.child_nurseries for child in nursery.child_tasks)
    return found


async def scenario(dsn: str, app_id: str, host: str) -> None:
    """Deploy, activate, pubsub through a worker, signal a hook (seen by a `sub`), interrupt, and stop."""
    side = HostSide()
    before = running_tasks()
    REQUEST_ID.set("app-1")
    async with HotMesh.open(app_id=app_id, dsn=dsn, workers=[Worker("h.work", side.work)],
                            settings=fast_settings()) as mesh:
        assert isinstance(mesh, HotMesh) and mesh.app_id == app_id
        assert isinstance(mesh, HostedMesh) == side.asyncio
        with anyio.fail_after(BOUND_S):
            await mesh.deploy(app_yaml(app_id, GRAPHS))
            assert await mesh.activate("1")

            async with anyio.create_task_group() as group:
                outputs: list[JSON] = []

                async def request() -> None:
                    outputs.append(await mesh.pubsub("h.start", {"n": 1}, timeout=BOUND_S))

                group.start_soon(request)
                n, task = await side.next_call()  # the worker runs, parked until the host lets it go
                assert n == 1
                if side.asyncio:
                    assert isinstance(task, asyncio.Task)
                side.let_workers_proceed()
            assert outputs[0]["data"] == {"n": 2, "task": "asyncio" if side.asyncio else "trio"}

            jid = f"wait-{host}"
            await mesh.sub(f"h.waited.{jid}", side.on_published)
            matched: list[tuple[str, bool]] = []
            await mesh.psub("h.waited.*", lambda topic, output: matched.append((topic, on_asyncio())))  # a sync one
            assert await mesh.pub("h.wait", {}, job_id=jid) == jid
            await mesh.signal("h.resume", {"id": jid, "done": True})
            topic, published = await side.next_published()
            assert topic == "h.waited" and published["metadata"]["jid"] == jid
            assert published["data"]["done"] is True
            assert await mesh.get_status(jid) == 0
            assert (await mesh.get_state("h.wait", jid))["data"]["done"] is True
            await mesh.unsub(f"h.waited.{jid}")
            while not matched:
                await anyio.sleep(0.01)
            assert matched == [("h.waited", side.asyncio)]
            await mesh.punsub("h.waited.*")

            stuck = await mesh.pub("h.wait", {})
            await mesh.interrupt("h.wait", stuck, reason="test")
            assert await mesh.get_status(stuck) < -100_000_000
            with pytest.raises(JobAlreadyCompletedError):  # the mesh's exceptions reach the host as themselves
                await mesh.interrupt("h.wait", stuck)
            with pytest.raises(JobNotFoundError):
                await mesh.get_status("no-such-job")
            assert (await mesh.export(jid))["status"] == 0
            assert await mesh.escalations.count() == 0  # the mesh's helpers answer too (proxied on asyncio)
            assert await mesh.db.fetchval("SELECT 41 + 1") == 42
    leftover = running_tasks() - before
    assert not leftover, f"tasks left running after the block: {leftover}"
    if side.asyncio:
        assert isinstance(mesh, HostedMesh) and mesh._holding.guest.failure() is None
        assert mesh._holding.guest._finished.done()  # the trio guest run itself has ended
        with pytest.raises(MeshClosedError):
            await mesh.get_status(jid)


@pytest.mark.parametrize("host", HOSTS)
def test_mesh_scenario_runs_the_same_on_every_host(host: str, pg_dsn: str, app_id: str) -> None:
    run_on(host, functools.partial(scenario, pg_dsn, app_id, host))


@pytest.mark.parametrize("host", ["asyncio", "anyio-asyncio"])
def test_asyncio_caller_cancellation_cancels_the_call_in_the_mesh(host: str, pg_dsn: str, app_id: str) -> None:
    async def main() -> None:
        async with HotMesh.open(app_id=app_id, dsn=pg_dsn, settings=fast_settings()) as mesh:
            await mesh.deploy(app_yaml(app_id, GRAPHS))
            await mesh.activate("1")
            with pytest.raises(TimeoutError):  # the host gives up on a job that waits for a signal
                await asyncio.wait_for(mesh.pubsub("h.wait", {}, job_id="held", timeout=BOUND_S), 0.5)
            with pytest.raises(PubSubTimeout):  # the mesh's own timeout, raised as itself
                await mesh.pubsub("h.wait", {}, timeout=0.2)
            assert await mesh.get_status("held") > 0  # the mesh serves on after the cancelled call

    run_on(host, main)


@pytest.mark.parametrize("host", ["asyncio", "anyio-asyncio"])
def test_asyncio_worker_exception_is_retried_then_fails_the_job_as_on_trio(host: str, pg_dsn: str,
                                                                           app_id: str) -> None:
    from hotmesh_actors import RetryPolicy
    from hotmesh_actors.errors import JobFailedError

    attempts: list[int] = []

    async def failing(msg: StreamMessage) -> dict[str, JSON]:
        await asyncio.sleep(0)
        attempts.append(msg.data["n"])
        raise ValueError("no stock")

    async def main() -> None:
        worker = Worker("h.work", failing, retry_policy=RetryPolicy(maximum_attempts=2, backoff_coefficient=1,
                                                                     maximum_interval=0.01))
        async with HotMesh.open(app_id=app_id, dsn=pg_dsn, workers=[worker], settings=fast_settings()) as mesh:
            await mesh.deploy(app_yaml(app_id, GRAPHS))
            await mesh.activate("1")
            with pytest.raises(JobFailedError) as failed:
                await mesh.pubsub("h.start", {"n": 5}, timeout=BOUND_S)
            assert failed.value.code == 500 and "no stock" in str(failed.value)
        assert attempts == [5, 5]

    run_on(host, main)


@pytest.mark.parametrize("host", ["asyncio", "anyio-asyncio"])
def test_leaving_the_block_cancels_a_parked_callback_on_the_host(host: str, pg_dsn: str, app_id: str) -> None:
    """Mesh → host cancellation: the worker's stop (after the supervisor's grace period) cancels the callback's
    asyncio task, and the block ends only once it has ended."""
    seen: list[str] = []

    async def parked(msg: StreamMessage) -> dict[str, JSON]:
        seen.append("started")
        try:
            await asyncio.Event().wait()  # never set
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return {}  # pragma: no cover

    async def main() -> None:
        before = running_tasks()
        async with HotMesh.open(app_id=app_id, dsn=pg_dsn, workers=[Worker("h.work", parked)],
                                settings=fast_settings()) as mesh:
            await mesh.deploy(app_yaml(app_id, GRAPHS))
            await mesh.activate("1")
            await mesh.pub("h.start", {"n": 1})
            while not seen:
                await asyncio.sleep(0.01)
        assert seen == ["started", "cancelled"]
        assert not running_tasks() - before

    run_on(host, main)


@pytest.mark.parametrize("host", ["asyncio", "anyio-asyncio"])
def test_a_callback_the_host_cancels_is_retried(host: str, pg_dsn: str, app_id: str) -> None:
    from hotmesh_actors import RetryPolicy

    attempts: list[int] = []

    async def cancelled_once(msg: StreamMessage) -> dict[str, JSON]:
        attempts.append(msg.data["n"])
        if len(attempts) == 1:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()  # the app cancels its own callback (a shutdown hook, a timeout of its own …)
            await asyncio.sleep(1)
        return {"data": {"n": msg.data["n"] + 1, "task": "asyncio"}}

    async def main() -> None:
        worker = Worker("h.work", cancelled_once, retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=0.01))
        async with HotMesh.open(app_id=app_id, dsn=pg_dsn, workers=[worker], settings=fast_settings()) as mesh:
            await mesh.deploy(app_yaml(app_id, GRAPHS))
            await mesh.activate("1")
            assert (await mesh.pubsub("h.start", {"n": 1}, timeout=BOUND_S))["data"]["n"] == 2
        assert attempts == [1, 1]

    run_on(host, main)


@pytest.mark.parametrize("host", ["anyio-asyncio", "anyio-trio"])
def test_serve_in_an_anyio_task_group(host: str, pg_dsn: str, app_id: str) -> None:
    async def increment(msg: StreamMessage) -> dict[str, JSON]:
        await anyio.sleep(0)
        return {"data": {"n": msg.data["n"] + 1, "task": "any"}}

    async def main() -> None:
        async with anyio.create_task_group() as group:
            mesh = await group.start(functools.partial(HotMesh.serve, app_id=app_id, dsn=pg_dsn,
                                                       workers=[Worker("h.work", increment)],
                                                       settings=fast_settings()))
            await mesh.deploy(app_yaml(app_id, GRAPHS))
            await mesh.activate("1")
            assert (await mesh.pubsub("h.start", {"n": 41}, timeout=BOUND_S))["data"]["n"] == 42
            group.cancel_scope.cancel()

    run_on(host, main)


@pytest.mark.parametrize("host", ["asyncio", "anyio-asyncio"])
def test_two_meshes_on_one_asyncio_loop_share_its_guest_run_and_stop_apart(host: str, pg_dsn: str,
                                                                           app_id: str) -> None:
    """trio allows one run per thread: meshes opened on one loop share its guest run, each stops on its own."""

    async def increment(msg: StreamMessage) -> dict[str, JSON]:
        await asyncio.sleep(0)
        return {"data": {"n": msg.data["n"] + 1, "task": "asyncio"}}

    async def main() -> None:
        before = running_tasks()
        loop = asyncio.get_running_loop()
        async with HotMesh.open(app_id=app_id, dsn=pg_dsn, workers=[Worker("h.work", increment)],
                                settings=fast_settings()) as server:
            await server.deploy(app_yaml(app_id, GRAPHS))
            await server.activate("1")
            async with HotMesh.open(app_id=app_id, dsn=pg_dsn, engine=False) as client:
                assert (await client.pubsub("h.start", {"n": 1}, timeout=BOUND_S))["data"]["n"] == 2
            assert client._holding.closed and loop in GuestRun._runs  # the client stopped; the run serves on
            with pytest.raises(MeshClosedError):
                await client.get_status("any")
            assert (await server.pubsub("h.start", {"n": 2}, timeout=BOUND_S))["data"]["n"] == 3
        assert loop not in GuestRun._runs and not running_tasks() - before

    run_on(host, main)


@pytest.mark.parametrize("host", ["asyncio", "anyio-asyncio"])
def test_leaving_the_block_by_an_error_or_a_cancel_stops_the_mesh(host: str, pg_dsn: str, app_id: str) -> None:
    async def main() -> None:
        before = running_tasks()
        with pytest.raises(KeyError):  # the block's own error comes out as itself
            async with HotMesh.open(app_id=app_id, dsn=pg_dsn, settings=fast_settings()) as mesh:
                assert await mesh.prune() == {"jobs": 0, "engine_streams": 0, "worker_streams": 0, "signals": 0}
                raise KeyError("app bug")
        assert not running_tasks() - before

        entered = asyncio.Event()

        async def body() -> None:
            async with HotMesh.open(app_id=app_id, dsn=pg_dsn, settings=fast_settings()):
                entered.set()
                await asyncio.sleep(3600)

        task = asyncio.create_task(body())
        await entered.wait()
        task.cancel()  # as the app's shutdown would
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not running_tasks() - before

    run_on(host, main)


@pytest.mark.parametrize("host", ["asyncio", "anyio-asyncio"])
def test_a_bad_dsn_raises_database_unavailable_on_asyncio(host: str, app_id: str) -> None:
    async def main() -> None:
        with pytest.raises(DatabaseUnavailableError, match="127.0.0.1"):
            async with HotMesh.open(app_id=app_id, dsn="postgresql://postgres@127.0.0.1:1/postgres",
                                    settings=fast_settings()):
                pass  # pragma: no cover

    run_on(host, main)


@pytest.mark.parametrize("host", HOSTS)
def test_durable_environment_runs_on_every_host(host: str) -> None:
    """The in-memory durable environment: an `async def` activity runs on the host loop (asyncio-only APIs on
    asyncio, with `activity.info()`), signals and results cross, errors keep their types, nothing is left."""

    async def charge(order_id: str, cents: int) -> dict[str, JSON]:
        info = durable.activity.info()
        if on_asyncio():
            await asyncio.sleep(0.001)
            assert asyncio.current_task() is not None
            where = "asyncio"
        else:
            await trio.sleep(0.001)
            where = "trio"
        return {"receipt": f"r-{order_id}", "cents": cents, "attempt": info.attempt, "where": where}

    async def order(order_id: str) -> dict[str, JSON]:
        acts = wf.proxy_activities()
        receipt = await acts.charge(order_id, 500)
        approved = await wf.condition(f"approve-{order_id}")
        return {"receipt": receipt, "approved": approved}

    async def main() -> None:
        before = running_tasks()
        with anyio.fail_after(BOUND_S):
            async with WorkflowEnvironment.open(workflows=[order], activities=[charge]) as env:
                handle = await env.client.workflow.start(order, args=["A"], task_queue=env.task_queue,
                                                         workflow_id="o-A")
                await handle.signal("approve-A", {"ok": True})
                assert await handle.result() == {
                    "receipt": {"receipt": "r-A", "cents": 500, "attempt": 1,
                                "where": "asyncio" if on_asyncio() else "trio"},
                    "approved": {"ok": True}}
                assert await env.client.workflow.get_handle("o-A").status() == 0
                with pytest.raises(durable.JobNotFoundError):
                    await env.client.workflow.get_handle("no-such-workflow").status()
        assert not running_tasks() - before

    run_on(host, main)


def test_every_public_coroutine_method_of_hotmesh_runs_in_the_guest() -> None:
    hosted = set(hosted_methods(HotMesh))
    assert {"deploy", "activate", "pub", "pubsub", "sub", "unsub", "psub", "punsub", "signal", "interrupt", "scrub",
            "prune", "get_status", "get_state", "get_raw", "get_query_state", "export"} <= hosted
    for name in hosted:
        assert getattr(HostedMesh, name) is not getattr(HotMesh, name), name
