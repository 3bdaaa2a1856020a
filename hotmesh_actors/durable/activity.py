"""Inside an activity: ``durable.activity.info()`` says which call this is.

Activities are plain functions (`async def`, or `def` run in a worker thread) called with the arguments the
workflow passed. They may do anything (I/O, clocks, randomness); raising DurableFatalError fails the call
without retry, any other exception is retried per the call's retry policy.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs

from hotmesh_actors.errors import WorkflowUsageError

JSON = Any


@attrs.frozen(kw_only=True)
class ActivityInfo:
    """The activity call being executed: its name and arguments, the calling workflow, the attempt (1-based)."""

    activity_name: str
    args: tuple[JSON, ...]
    workflow_id: str
    workflow_name: str
    task_queue: str
    index: int
    """The call's history index in the workflow: with `workflow_id`, a key for the call's side effects."""
    attempt: int = 1


_INFO: contextvars.ContextVar[ActivityInfo | None] = contextvars.ContextVar("hotmesh_activity_info", default=None)


def info() -> ActivityInfo:
    """The running activity call's facts; WorkflowUsageError outside an activity."""
    found = _INFO.get()
    if found is None:
        raise WorkflowUsageError("durable.activity.info() was called outside an activity: it is available only "
                                 "while a durable worker runs an activity function")
    return found


@contextmanager
def running(activity: ActivityInfo) -> Iterator[None]:
    """Make `activity` what :func:`info` returns in this context (set by the worker around each attempt)."""
    token = _INFO.set(activity)
    try:
        yield
    finally:
        _INFO.reset(token)
