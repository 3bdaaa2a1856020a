"""The durable calls a workflow makes: ``from hotmesh_actors.durable import workflow as wf``.

A workflow is a deterministic `async def`: given the same history it must make the same durable calls in the
same order. It may await only the calls below (never `trio.sleep`, clocks, I/O or its own nurseries), keep side
effects in activities, and take randomness from `wf.random()` / `wf.uuid4()`. Every call takes its history
index when it is *called*, so ``await wf.gather(acts.a(), acts.b())`` records `a` before `b` whatever order
their results arrive in.

Calling any of these outside a workflow raises WorkflowUsageError. Bad arguments raise InvalidArgumentError,
values that JSON cannot carry raise SerializationError naming their path; both before anything is recorded.
See docs/durable.md for each call with an example.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

from hotmesh_actors.core.durations import RetryPolicy
from hotmesh_actors.core.escalations import Escalation
from hotmesh_actors.durable.documents import Entity, Search, entity, search
from hotmesh_actors.durable.history import (
    AwaitSignal,
    ScheduleActivity,
    SendSignal,
    StartChild,
    StartTimer,
    StepKind,
    TerminateWorkflow,
)
from hotmesh_actors.durable.replay import (
    Gather,
    Ready,
    Step,
    WorkflowInfo,
    WorkflowInterruption,
    current,
    non_cancellable,
)
from hotmesh_actors.durable.values import (
    digest,
    identifier,
    retry_policy_argument,
    seconds,
    to_json,
    to_json_args,
    workflow_name,
)
from hotmesh_actors.errors import CancelledFailure, InvalidArgumentError

JSON = Any
__all__ = [
    "ActivityProxy",
    "CancellationScope",
    "Entity",
    "Escalation",
    "Search",
    "WorkflowInfo",
    "WorkflowInterruption",
    "condition",
    "continue_as_new",
    "deprecate_patch",
    "entity",
    "execute_child",
    "gather",
    "is_cancellation",
    "patched",
    "proxy_activities",
    "random",
    "search",
    "signal",
    "sleep",
    "sleep_for",
    "start_child",
    "terminate",
    "uuid4",
    "wait_for",
    "workflow_info",
]


# -- activities ------------------------------------------------------------------------------------------------


class ActivityProxy:
    """Calls activities by attribute: ``acts.charge(order_id, 500)`` returns an awaitable durable call.

    The activity runs once in effect on `<task_queue>-activity`, retried per the resolved policy: this
    proxy's `retry_policy`, else the workflow's (from `start(retry_policy=...)`), else the default (3 attempts,
    coefficient 10, cap 120 s). Its failure is raised at the call site: DurableFatalError (598; raised by the
    activity, or UnknownActivityError when no live worker serves the name), DurableMaxedError (597, retries
    used up), DurableTimeoutError (596, an attempt outran `start_to_close_timeout`).
    """

    def __init__(self, *, task_queue: str | None, retry_policy: RetryPolicy | None,
                 start_to_close_timeout: float | None) -> None:
        self._task_queue = task_queue
        self._retry_policy = retry_policy
        self._timeout = start_to_close_timeout

    def __getattr__(self, name: str) -> Callable[..., Step]:
        if name.startswith("__"):
            raise AttributeError(name)

        def call(*args: object, **kwargs: object) -> Step:
            if kwargs:
                raise TypeError(f"activity {name!r} takes positional arguments only (they are stored as a JSON "
                                f"list); got keywords {sorted(kwargs)}")
            return self._call(name, args)

        call.__name__ = name
        return call

    def _call(self, name: str, args: Sequence[object]) -> Step:
        execution = current(f"activity {name!r}")
        values = to_json_args(args, f"{name} args")
        info = execution.info
        policy = self._retry_policy or info.retry_policy or RetryPolicy()
        command = ScheduleActivity(name=name, args=values, task_queue=self._task_queue or info.task_queue,
                                   retry_policy=policy, start_to_close_timeout=self._timeout)
        return execution.blocking(StepKind.ACTIVITY, name, lambda _i: command, digest=digest(values))

    def __repr__(self) -> str:
        return f"<activity proxy task_queue={self._task_queue!r}>"


def proxy_activities(*, task_queue: str | None = None, retry_policy: RetryPolicy | None = None,
                     start_to_close_timeout: float | str | None = None) -> ActivityProxy:
    """A proxy whose attributes call activities (see :class:`ActivityProxy`).

    `task_queue` defaults to the workflow's; `start_to_close_timeout` bounds each attempt (seconds or
    ``"30s"``). Example: ``acts = wf.proxy_activities(retry_policy=RetryPolicy(maximum_attempts=5))``.
    """
    queue = None if task_queue is None else identifier("task_queue", task_queue)
    timeout = None if start_to_close_timeout is None else seconds("start_to_close_timeout", start_to_close_timeout,
                                                                   allow_zero=False)
    return ActivityProxy(task_queue=queue, retry_policy=retry_policy_argument("retry_policy", retry_policy),
                         start_to_close_timeout=timeout)


# -- time and signals --------------------------------------------------------------------------------------------


def sleep(duration: float | str) -> Step:
    """Pause durably for `duration` (seconds, or text such as ``"30 days"``); → the seconds slept.

    A restart mid-sleep resumes on time. `handle.cancel()` wakes it with CancelledFailure.
    Example: ``await wf.sleep("2 hours")``.
    """
    length = seconds("duration", duration)
    execution = current("wf.sleep()")
    return execution.blocking(StepKind.SLEEP, "sleep", lambda _i: StartTimer(seconds=length))


sleep_for = sleep
"""The older name of :func:`sleep` (DESIGN.md)."""


def condition(signal_id: str, timeout: float | str | None = None, *, escalation: Escalation | None = None) -> Step:
    """Wait for the signal `signal_id`; → its data, False when `timeout` passes first, None when the wait's
    escalation is cancelled.

    A signal sent before the condition is reached is kept and delivered (signals are never lost). With an
    `escalation`, a work item (`client.escalations`) is written with the wait; resolving it delivers its
    resolver payload here. Example:
    ``ok = await wf.condition(f"approve-{order_id}", "72 hours", escalation=durable.Escalation(role="manager"))``.
    """
    key = identifier("signal_id", signal_id)
    limit = None if timeout is None else seconds("timeout", timeout, allow_zero=False)
    if escalation is not None:
        if not isinstance(escalation, Escalation):
            raise InvalidArgumentError("escalation", f"escalation must be a durable.Escalation, not "
                                                     f"{type(escalation).__name__}")
        to_json(escalation.metadata, "escalation.metadata")
        to_json(escalation.envelope, "escalation.envelope")
    execution = current("wf.condition()")
    return execution.blocking(StepKind.CONDITION, key,
                              lambda _i: AwaitSignal(signal_id=key, timeout=limit, escalation=escalation))


wait_for = condition
"""The older name of :func:`condition` (DESIGN.md)."""


def signal(signal_id: str, data: object = None) -> Ready:
    """Send `data` to the condition waiting on `signal_id` (once, however often the workflow replays).

    Example: ``await wf.signal(f"done-{parent_id}", {"ok": True})``.
    """
    key = identifier("signal_id", signal_id)
    payload = to_json(data, "signal data")
    execution = current("wf.signal()")
    value = execution.instant(StepKind.SIGNAL, key, lambda _i: (None, SendSignal(signal_id=key, data=payload)),
                              digest=digest(payload))
    return Ready(value)


# -- children ----------------------------------------------------------------------------------------------------


def _child(workflow: Callable[..., Awaitable[Any]] | str, *, wait: bool, args: Sequence[object],
           task_queue: str | None, workflow_id: str | None, retry_policy: RetryPolicy | None,
           expire: float | str | None, search: dict[str, object] | None, call: str) -> Step:
    name = workflow_name(workflow)
    values = to_json_args(list(args), f"{name} args")
    queue = None if task_queue is None else identifier("task_queue", task_queue)
    chosen_id = None if workflow_id is None else identifier("workflow_id", workflow_id)
    keep = None if expire is None else seconds("expire", expire)
    fields = None if search is None else to_json(search, "search")
    policy = retry_policy_argument("retry_policy", retry_policy)
    execution = current(call)
    info = execution.info

    def command(index: int) -> StartChild:
        child_id = chosen_id or f"{info.workflow_id}-{name}{info.dimension}-{index}"
        return StartChild(workflow_name=name, args=values, task_queue=queue or info.task_queue, workflow_id=child_id,
                          wait=wait, retry_policy=policy, expire=keep, search=fields)

    kind = StepKind.CHILD if wait else StepKind.START_CHILD
    return execution.blocking(kind, name, command, digest=digest(values))


def execute_child(workflow: Callable[..., Awaitable[Any]] | str, *, args: Sequence[object] = (),
                  task_queue: str | None = None, workflow_id: str | None = None,
                  retry_policy: RetryPolicy | None = None, expire: float | str | None = None,
                  search: dict[str, object] | None = None) -> Step:
    """Run a child workflow and wait for it; → its result (its failure is raised here).

    The child's id defaults to ``<parent id>-<name>-<index>`` (stable on replay); its task queue to the
    parent's. Example: ``shipped = await wf.execute_child(ship, args=[order_id])``.
    """
    return _child(workflow, wait=True, args=args, task_queue=task_queue, workflow_id=workflow_id,
                  retry_policy=retry_policy, expire=expire, search=search, call="wf.execute_child()")


def start_child(workflow: Callable[..., Awaitable[Any]] | str, *, args: Sequence[object] = (),
                task_queue: str | None = None, workflow_id: str | None = None,
                retry_policy: RetryPolicy | None = None, expire: float | str | None = None,
                search: dict[str, object] | None = None) -> Step:
    """Start a child workflow without waiting for it; → the child's workflow id once it is started.

    Example: ``child_id = await wf.start_child(audit, args=[order_id])``.
    """
    return _child(workflow, wait=False, args=args, task_queue=task_queue, workflow_id=workflow_id,
                  retry_policy=retry_policy, expire=expire, search=search, call="wf.start_child()")


def terminate(workflow_id: str, reason: str | None = None) -> Ready:
    """Terminate another workflow (once, however often this one replays). Example: ``await wf.terminate(id)``."""
    target = identifier("workflow_id", workflow_id)
    if reason is not None and not isinstance(reason, str):
        raise InvalidArgumentError("reason", f"reason must be a string, not {reason!r}")
    execution = current("wf.terminate()")
    value = execution.instant(StepKind.TERMINATE, target,
                              lambda _i: (None, TerminateWorkflow(workflow_id=target, reason=reason)))
    return Ready(value)


# -- composition and control ------------------------------------------------------------------------------------


def gather(*awaitables: Awaitable[Any], return_exceptions: bool = False) -> Gather:
    """Wait for several durable calls (or coroutines making them); → their results in call order.

    The first failure is raised (the others keep running), or with `return_exceptions` returned in its place.
    Coroutines run as tasks of the workflow, in argument order. Example:
    ``packed, shipped, _ = await wf.gather(acts.pack(id), wf.execute_child(ship, args=[id]), wf.sleep(1))``.
    """
    return current("wf.gather()").gather(awaitables, return_exceptions=return_exceptions)


def continue_as_new(*args: object) -> NoReturn:
    """End this generation and start the workflow again with `args` and an empty history (same workflow id).

    Code after it never runs. Use it to keep long-lived workflows' histories short. Example:
    ``if n > 1000: wf.continue_as_new(cursor)``.
    """
    current("wf.continue_as_new()").continue_as_new(args)


def patched(patch_id: str) -> Ready:
    """Whether this run takes the new code path of change `patch_id`; ``if await wf.patched("v2"): …``.

    True for workflows that reach this point with the patch deployed (the answer is recorded), False for
    workflows replaying history made before it. It takes no history index, so it can be added to running code.
    """
    key = identifier("patch_id", patch_id)
    return Ready(current("wf.patched()").patched(key))


def deprecate_patch(patch_id: str) -> None:
    """Mark that every workflow started before patch `patch_id` has finished, so its old path is gone: replace
    ``if await wf.patched(id): new else: old`` with ``wf.deprecate_patch(id); new``. No effect at run time."""
    identifier("patch_id", patch_id)
    current("wf.deprecate_patch()")


def random() -> float:
    """A float in [0, 1), the same on every replay (seeded by workflow id, generation and history index)."""
    return current("wf.random()").random()


def uuid4() -> str:
    """A version-4 UUID string, the same on every replay (seeded like :func:`random`)."""
    return current("wf.uuid4()").uuid4()


def workflow_info() -> WorkflowInfo:
    """Facts about this workflow: `workflow_id`, `parent_workflow_id`, `task_queue`, `generation`, … ."""
    return current("wf.workflow_info()").workflow_info()


class CancellationScope:
    """Cancellation control: ``with wf.CancellationScope.non_cancellable(): await acts.release(id)``."""

    @staticmethod
    @contextmanager
    def non_cancellable() -> Generator[None, None, None]:
        """Shield the durable calls made in the block from the workflow's cancellation (like
        `trio.CancelScope(shield=True)`): they run and complete even after `handle.cancel()`."""
        with non_cancellable():
            yield


def is_cancellation(error: BaseException) -> bool:
    """True when `error` is the workflow's cancellation (CancelledFailure)."""
    return isinstance(error, CancelledFailure)
