"""The in-memory durable environment on an asyncio host (the route hotmesh_actors/hosts.py gives the mesh).

`WorkflowEnvironment.open` on asyncio (plain, or anyio's asyncio backend) opens the unchanged trio environment
inside a trio guest run on the host's loop. `async def` activities run on the host loop (so they may await the
app's asyncio clients, with `durable.activity.info()` available); plain `def` activities run in a thread as on
trio; workflow functions are driven by the replay engine and never touch an event loop. The app gets the
environment as a proxy whose client, handles and backend run their coroutine methods in the guest.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

from hotmesh_actors.durable.client import Client, WorkflowClient, WorkflowHandle
from hotmesh_actors.durable.replay import WorkflowFunction
from hotmesh_actors.durable.worker import ActivityFunction, activity_table
from hotmesh_actors.hosts import GuestRun, HostedObject

if TYPE_CHECKING:
    from hotmesh_actors.durable.testing import WorkflowEnvironment


@asynccontextmanager
async def open_hosted_environment(cls: type[WorkflowEnvironment], *,
                                  workflows: Iterable[WorkflowFunction] | Mapping[str, WorkflowFunction],
                                  activities: Iterable[ActivityFunction] | Mapping[str, ActivityFunction],
                                  **options: Any) -> AsyncIterator[WorkflowEnvironment]:
    """`WorkflowEnvironment.open` on an asyncio host, for the block (see the module docstring)."""
    from hotmesh_actors.durable.testing import InMemoryBackend

    table = activity_table(activities)  # named and checked here, so the wrappers keep the activities' names
    async with GuestRun.shared() as guest:
        hosted = {name: guest.on_host(function) if inspect.iscoroutinefunction(function) else function
                  for name, function in table.items()}
        opening = functools.partial(cls.open, workflows=workflows, activities=hosted, **options)
        async with guest.hold(opening) as holding:
            # The proxy reads like the environment (env.client.workflow.start(...), handle.result(), env.backend).
            yield cast("WorkflowEnvironment", HostedObject(holding.value, holding, proxied=(
                Client, WorkflowClient, WorkflowHandle, InMemoryBackend)))


__all__ = ["open_hosted_environment"]
