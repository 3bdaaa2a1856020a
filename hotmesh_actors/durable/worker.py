"""The durable worker's loops, written against any DurableBackend: decide workflow tasks, run activities.

- :func:`serve_workflow_tasks` feeds the queue's workflow tasks to a :class:`WorkflowRunner` inside the
  backend's transaction; when a commit fails it discards the live run it kept, so the next task replays.
- :func:`serve_activity_tasks` leases activity tasks and runs each attempt (`async def` activities in the
  worker's nursery, plain `def` ones in a thread), with `durable.activity.info()` set. An attempt's outcome:
  its JSON result; a DurableError it raises (DurableFatalError 598 and the others: final, not retried); an
  attempt that outruns `start_to_close_timeout` (DurableTimeoutError 596, final); any other exception is retried
  per the call's policy, then fails with DurableMaxedError 597 quoting the last error.

Phase 1 runs them on the in-memory backend (durable/testing.py); phase 2's `durable.Worker` runs them on Postgres.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import trio

from hotmesh_actors.durable import activity
from hotmesh_actors.durable.backend import ActivityTask, DurableBackend
from hotmesh_actors.durable.failures import failure_of
from hotmesh_actors.durable.history import Failure, Outcome, Turn
from hotmesh_actors.durable.replay import WorkflowFunction
from hotmesh_actors.durable.runner import WorkflowRunner, WorkflowTask
from hotmesh_actors.durable.values import to_json
from hotmesh_actors.errors import ConfigurationError, DurableError, SerializationError

log = logging.getLogger("hotmesh_actors.durable")

ActivityFunction = Callable[..., Any]


def workflow_table(workflows: Iterable[WorkflowFunction] | Mapping[str, WorkflowFunction]) -> dict[str, Any]:
    """Workflows by name (a function's `__name__`, or the mapping's keys); each must be an `async def`."""
    items = workflows.items() if isinstance(workflows, Mapping) else ((getattr(fn, "__name__", None), fn)
                                                                      for fn in workflows)
    table: dict[str, Any] = {}
    for name, function in items:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"workflow {function!r} has no name: pass it as {{name: function}}")
        if not inspect.iscoroutinefunction(function):
            raise ConfigurationError(f"workflow {name!r} must be an 'async def' function")
        if name in table and table[name] is not function:
            raise ConfigurationError(f"two workflows are named {name!r}")
        table[name] = function
    return table


def activity_table(activities: Iterable[ActivityFunction] | Mapping[str, ActivityFunction]) -> dict[str, Any]:
    """Activities by name (a function's `__name__`, or the mapping's keys); each must be callable."""
    items = activities.items() if isinstance(activities, Mapping) else ((getattr(fn, "__name__", None), fn)
                                                                        for fn in activities)
    table: dict[str, Any] = {}
    for name, function in items:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"activity {function!r} has no name: pass it as {{name: function}}")
        if not callable(function):
            raise ConfigurationError(f"activity {name!r} is not callable")
        if name in table and table[name] is not function:
            raise ConfigurationError(f"two activities are named {name!r}")
        table[name] = function
    return table


async def serve_workflow_tasks(backend: DurableBackend, runner: WorkflowRunner, task_queue: str) -> None:
    """Decide the queue's workflow tasks until cancelled (live runs are discarded on the way out)."""
    try:
        deciding: list[str] = []

        def decide(task: WorkflowTask) -> Turn:
            deciding.append(task.info.workflow_id)
            return runner.decide(task)

        while True:
            deciding.clear()
            try:
                await backend.process_workflow_task(task_queue, runner.names, decide)
            except Exception:
                for workflow_id in deciding:
                    runner.discard(workflow_id)
                log.exception("workflow task failed; the workflow will replay", extra={"topic": task_queue})
                await trio.sleep(0.05)
    finally:
        runner.close()


async def serve_activity_tasks(backend: DurableBackend, task_queue: str, activities: Mapping[str, ActivityFunction],
                               *, concurrency: int = 10) -> None:
    """Run the queue's activity tasks, up to `concurrency` at once, until cancelled."""
    limiter = trio.Semaphore(concurrency)
    async with trio.open_nursery() as nursery:
        while True:
            await limiter.acquire()
            try:
                task = await backend.claim_activity(task_queue, activities)
            except BaseException:
                limiter.release()
                raise
            if task is None:
                limiter.release()
                continue
            nursery.start_soon(_run_one, backend, task, activities[task.name], limiter)


async def _run_one(backend: DurableBackend, task: ActivityTask, function: ActivityFunction,
                   limiter: trio.Semaphore) -> None:
    try:
        await run_attempt(backend, task, function)
    finally:
        limiter.release()


async def run_attempt(backend: DurableBackend, task: ActivityTask, function: ActivityFunction) -> None:
    """Run one attempt of `task` and report it to the backend: complete, retry, or fail for good."""
    info = activity.ActivityInfo(activity_name=task.name, args=tuple(task.args), workflow_id=task.workflow_id,
                                 workflow_name=task.workflow_name, task_queue=task.task_queue, index=task.index,
                                 attempt=task.attempt)
    timeout = task.start_to_close_timeout
    try:
        with activity.running(info), trio.move_on_after(math.inf if timeout is None else timeout) as scope:
            value = await _call(function, task.args)
        if scope.cancelled_caught:
            failure = Failure(type="DurableTimeoutError", code=596,
                              message=f"activity {task.name!r} attempt {task.attempt} ran longer than its "
                                      f"start_to_close_timeout of {timeout} s")
            await backend.complete_activity(task, Outcome(failure=failure))
            return
    except DurableError as error:
        await backend.complete_activity(task, Outcome(failure=failure_of(error)))
        return
    except Exception as error:
        failure = failure_of(error)
        policy = task.retry_policy
        if policy.should_retry(task.attempt - 1):
            log.info("activity %s attempt %d failed (%s); retrying", task.name, task.attempt, error,
                     extra={"job_id": task.workflow_id})
            await backend.retry_activity(task, failure, policy.delay(task.attempt - 1))
            return
        maxed = Failure(type="DurableMaxedError", code=597, details={"last_error": failure.message},
                        message=f"activity {task.name!r} failed after {task.attempt} attempt(s); last error: "
                                f"{failure.type}: {failure.message}")
        await backend.complete_activity(task, Outcome(failure=maxed))
        return
    try:
        result = to_json(value, f"activity {task.name!r} result")
    except SerializationError as error:
        await backend.complete_activity(task, Outcome(failure=failure_of(error)))
        return
    await backend.complete_activity(task, Outcome(value=result))


async def _call(function: ActivityFunction, args: list[Any]) -> Any:
    if inspect.iscoroutinefunction(function):
        return await function(*args)
    # abandon_on_cancel: a timed-out sync activity is left to finish in its thread (it cannot be interrupted)
    result = await trio.to_thread.run_sync(functools.partial(function, *args), abandon_on_cancel=True)
    if inspect.isawaitable(result):
        return await result
    return result
