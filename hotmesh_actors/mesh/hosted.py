"""The mesh on an asyncio host: `HotMesh.open`/`serve` there open a HostedMesh (see hotmesh_actors/hosts.py).

The mesh is the unchanged trio program, run by `HotMesh.open` inside a trio guest run on the host's loop; the
app holds a :class:`HostedMesh`, a HotMesh whose public coroutine methods run in the guest, and whose worker
and `sub`/`psub` callbacks run on the host loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import attrs

from hotmesh_actors.hosts import GuestRun, Holding, HostedObject
from hotmesh_actors.mesh.arguments import check_callback, check_text
from hotmesh_actors.mesh.hotmesh import HotMesh, MeshConfig, Subscriber

JSON = Any


class StartedStatus(Protocol):
    """What `serve` reports its mesh to: trio's or anyio's `task_status` (anything with `started(value)`)."""

    def started(self, value: HotMesh) -> None: ...


class HostedMesh(HotMesh):
    """A mesh served to an asyncio host: every public coroutine method of HotMesh runs in the guest run.

    It is a HotMesh (isinstance holds, and plain attributes such as `app_id`, `guid`, `settings`, `engine`,
    `workers` read through to the mesh); `escalations` and `db` are proxies whose coroutine methods run in the
    guest too. `sub`/`psub` callbacks are called on the host loop.
    """

    def __init__(self, holding: Holding[HotMesh]) -> None:
        self._mesh = holding.value
        self._holding = holding

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._mesh, name)
        if name in ("escalations", "db"):
            return HostedObject(value, self._holding)
        return value

    async def sub(self, topic: str, callback: Subscriber) -> None:
        """As HotMesh.sub; `callback` is called on the host loop (it may be sync or async)."""
        check_text("topic", topic)
        check_callback("callback", callback)
        await self._holding.call(functools.partial(self._mesh.sub, topic, self._on_host(callback)))

    async def psub(self, pattern: str, callback: Subscriber) -> None:
        """As HotMesh.psub; `callback` is called on the host loop (it may be sync or async)."""
        check_text("pattern", pattern)
        check_callback("callback", callback)
        await self._holding.call(functools.partial(self._mesh.psub, pattern, self._on_host(callback)))

    def _on_host(self, callback: Subscriber) -> Subscriber:
        holding = self._holding

        def on_host(topic: str, output: dict[str, JSON]) -> None:
            holding.call_soon_on_host(callback, topic, output)

        return on_host

    def __repr__(self) -> str:
        return f"<HostedMesh app_id={self._mesh.app_id!r} on asyncio>"


def hosted_methods(cls: type) -> list[str]:
    """The public coroutine methods of `cls` (HotMesh's are the ones a HostedMesh runs in the guest)."""
    return [name for name, value in vars(cls).items()
            if not name.startswith("_") and inspect.iscoroutinefunction(value)]


def _hosted_method(name: str) -> Callable[..., Awaitable[Any]]:
    method = getattr(HotMesh, name)

    @functools.wraps(method)
    async def hosted(self: HostedMesh, *args: Any, **kwargs: Any) -> Any:
        return await self._holding.call(functools.partial(getattr(self._mesh, name), *args, **kwargs))

    return hosted


for _name in hosted_methods(HotMesh):
    if _name not in vars(HostedMesh):  # sub/psub wrap their callbacks first
        setattr(HostedMesh, _name, _hosted_method(_name))


@asynccontextmanager
async def open_hosted(cls: type[HotMesh], config: MeshConfig) -> AsyncIterator[HotMesh]:
    """`HotMesh.open` on an asyncio host: the mesh in a guest run on the running loop, for the block."""
    async with GuestRun.shared() as guest:
        # The worker callbacks run on the host loop; everything else of the mesh runs in the guest.
        workers = tuple(attrs.evolve(worker, callback=guest.on_host(worker.callback)) for worker in config.workers)
        opening = functools.partial(cls.open, **_open_keywords(attrs.evolve(config, workers=workers)))
        async with guest.hold(opening) as holding:
            yield HostedMesh(holding)


def _open_keywords(config: MeshConfig) -> dict[str, Any]:
    return {"app_id": config.app_id, "dsn": config.dsn, "workers": config.workers, "engine": config.engine,
            "settings": config.settings, "guid": config.guid}


async def serve_hosted(cls: type[HotMesh], config: MeshConfig, task_status: StartedStatus) -> None:
    """`HotMesh.serve` on an asyncio host: report the mesh to `task_status` (anyio's `TaskGroup.start` passes
    one), then serve until cancelled."""
    async with open_hosted(cls, config) as mesh:
        task_status.started(mesh)
        await asyncio.get_running_loop().create_future()  # until cancelled


__all__ = ["HostedMesh", "StartedStatus", "hosted_methods", "open_hosted", "serve_hosted"]
