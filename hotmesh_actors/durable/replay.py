"""The replay core: runs a workflow function deterministically against its history.

A workflow is an `async def` that may await only durable calls. :class:`Execution` drives its coroutine (and
the coroutines `wf.gather` spawns) itself, with a FIFO run queue and no event loop, so the order in which
workflow code runs depends only on the history:

1. run every task until all of them wait (quiescence);
2. hand the next history event to the call it completes (or apply a cancellation), then run to quiescence
   again; repeat for each event in arrival order.

Each durable call takes the next history index when it is *called*. A call whose index history already holds
is checked against it (kind and name) and otherwise left to its event; a call beyond the history is new: the
run records it and, at the end, reports the new calls and the commands they ask for as a :class:`Turn`.

The same Execution serves both ways of running a workflow: replay from the start (after a crash, an eviction
or a move to another process: :meth:`Execution.start` on the full history), and a live, sticky coroutine kept
between turns (:meth:`Execution.deliver` with the events that arrived since). Both hand results over in
history order, so both take the same path. Pure: no trio, no clock, no I/O.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import attrs

from hotmesh_actors.core.durations import RetryPolicy
from hotmesh_actors.durable.determinism import seeded_random, seeded_uuid4
from hotmesh_actors.durable.failures import error_of, failure_of
from hotmesh_actors.durable.history import (
    Call,
    CancelRequested,
    Command,
    Completed,
    ContinuedAsNew,
    Event,
    Failed,
    Failure,
    History,
    Outcome,
    Returned,
    Running,
    Status,
    StepKind,
    Turn,
)
from hotmesh_actors.durable.values import to_json
from hotmesh_actors.errors import (
    CancelledFailure,
    DurableError,
    NonDeterminismError,
    SerializationError,
    WorkflowUsageError,
)

JSON = Any
WorkflowFunction = Callable[..., Coroutine[Any, Any, Any]]


class WorkflowInterruption(BaseException):
    """Stops workflow code that must not go on: the run is being discarded, or was already decided.

    Raised at a durable call (and thrown into waiting coroutines when a run is evicted). It derives from
    BaseException so that a workflow's `except Exception` cannot swallow it; code that catches it anyway
    gains nothing: the run's outcome is already fixed and nothing it does afterwards is recorded.
    """


@attrs.frozen(kw_only=True)
class WorkflowInfo:
    """Facts about the running workflow (`wf.workflow_info()`).

    `generation` counts `continue_as_new` restarts (its dimension, ``$<n>``, seeds `random`/`uuid4`);
    `attempt` is the run's attempt under the workflow's retry policy; `replaying` is True while the code
    re-runs calls history already holds; `index` is the history index the next durable call takes.
    """

    workflow_id: str
    workflow_name: str
    task_queue: str
    namespace: str = "durable"
    parent_workflow_id: str | None = None
    origin_workflow_id: str | None = None
    generation: int = 0
    attempt: int = 1
    retry_policy: RetryPolicy | None = None
    replaying: bool = False
    index: int = 0

    @property
    def dimension(self) -> str:
        """'' for the first generation, ``$<generation>`` after `continue_as_new` (HotMesh's naming)."""
        return f"${self.generation}" if self.generation else ""


@attrs.frozen(kw_only=True)
class WorkflowState:
    """What the workflow reads besides its history: its searchable fields and its entity document."""

    search: dict[str, JSON] = attrs.field(factory=dict)
    entity: JSON = None


# -- awaitables ---------------------------------------------------------------------------------------------


@attrs.frozen
class _Park:
    """Yielded up to the Execution by a task that must wait for `waitable`."""

    waitable: Waitable


class Waitable:
    """Something workflow code awaits: done once, then its value or error; callbacks run in registration order."""

    def __init__(self) -> None:
        self._done = False
        self._value: JSON = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[], None]] = []

    def done(self) -> bool:
        return self._done

    def add_callback(self, callback: Callable[[], None]) -> None:
        if self._done:
            callback()
        else:
            self._callbacks.append(callback)

    def _settle(self, value: JSON = None, error: BaseException | None = None) -> None:
        if self._done:
            return
        self._done, self._value, self._error = True, value, error
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def result(self) -> JSON:
        """The value, or raise the error (only once done)."""
        if self._error is not None:
            raise self._error
        return self._value

    def __await__(self) -> Generator[Any, None, Any]:
        if not self._done:
            yield _Park(self)
        return self.result()


class Step(Waitable):
    """A blocking durable call (activity, sleep, condition, child): its outcome arrives as a history event."""

    def __init__(self, index: int, call: Call, *, shielded: bool) -> None:
        super().__init__()
        self.index = index
        self.call = call
        self.shielded = shielded
        self.outcome: Outcome | None = None
        self.cancelled = False

    def complete(self, outcome: Outcome) -> None:
        self.outcome = outcome
        if outcome.failure is not None:
            self._settle(error=error_of(outcome.failure))
        else:
            self._settle(outcome.value)

    def cancel(self) -> None:
        self.cancelled = True
        self._settle(error=CancelledFailure())

    def result(self) -> JSON:
        # each await of a failed step raises a fresh exception (a shared one would pile up tracebacks)
        if self.outcome is not None and self.outcome.failure is not None:
            raise error_of(self.outcome.failure)
        return super().result()

    def __repr__(self) -> str:
        return f"<durable {self.call.describe()} #{self.index}>"


class Ready(Waitable):
    """An instant call's result, awaitable so instant and blocking calls read alike (`await wf.signal(...)`)."""

    def __init__(self, value: JSON = None, error: BaseException | None = None) -> None:
        super().__init__()
        self._settle(value, error)


class Gather(Waitable):
    """`wf.gather(...)`: done when every child is (values in call order), or at the first failure."""

    def __init__(self, children: Sequence[Waitable], *, return_exceptions: bool) -> None:
        super().__init__()
        self._children = list(children)
        self._return_exceptions = return_exceptions
        self._left = len(self._children)
        if not self._children:
            self._settle([])
        for child in self._children:
            child.add_callback(functools.partial(self._child_done, child))

    def _child_done(self, child: Waitable) -> None:
        if self._done:
            return
        self._left -= 1
        if child._error is not None and not self._return_exceptions:
            self._settle(error=child._error)
        elif self._left == 0:
            results: list[JSON] = []
            for each in self._children:
                try:
                    results.append(each.result())
                except BaseException as error:  # noqa: B036 - return_exceptions hands every error back as a value
                    results.append(error)
            self._settle(results)


class TaskHandle(Waitable):
    """A coroutine `wf.gather` runs as its own task; done when the coroutine returns or raises."""


class _Task:
    def __init__(self, coro: Coroutine[Any, Any, Any], context: contextvars.Context, handle: TaskHandle) -> None:
        self.coro = coro
        self.context = context
        self.handle = handle
        self.finished = False


@attrs.frozen
class _TaskRef:
    execution: Execution
    task: _Task


_CURRENT: contextvars.ContextVar[_TaskRef | None] = contextvars.ContextVar("hotmesh_durable_task", default=None)
_SHIELD: contextvars.ContextVar[int] = contextvars.ContextVar("hotmesh_durable_shield", default=0)


def current(call: str) -> Execution:
    """The Execution the calling workflow code runs in; WorkflowUsageError outside a workflow."""
    ref = _CURRENT.get()
    if ref is None:
        raise WorkflowUsageError(f"{call} was called outside a workflow: durable calls run only inside a workflow "
                                 "function run by a durable worker (call activities through wf.proxy_activities "
                                 "from the workflow, not from plain code)")
    return ref.execution


@contextmanager
def non_cancellable() -> Generator[None, None, None]:
    """Shield the durable calls in the block (and tasks it spawns) from the workflow's cancellation."""
    current("CancellationScope.non_cancellable()")
    token = _SHIELD.set(_SHIELD.get() + 1)
    try:
        yield
    finally:
        _SHIELD.reset(token)


def shielded() -> bool:
    """True inside `non_cancellable()`."""
    return _SHIELD.get() > 0


# -- the execution --------------------------------------------------------------------------------------------


class Execution:
    """One workflow generation's run: its tasks, its view of history, and what it decided (see module doc)."""

    def __init__(self, function: WorkflowFunction, args: Sequence[JSON], info: WorkflowInfo, history: History,
                 state: WorkflowState | None = None) -> None:
        self.function = function
        self.args = list(args)
        self.info = info
        self.history = history
        self.state = state or WorkflowState()
        self._search = dict(self.state.search)
        self._entity: JSON = self.state.entity
        self._calls: list[Call] = []
        self._steps: dict[int, Step] = {}
        self._committed = len(history.calls)
        self._events_seen = 0
        self._ready: deque[tuple[_Task, BaseException | None]] = deque()
        self._tasks: list[_Task] = []
        self._status: Status = Running()
        self._cancel_requested = False
        self._patch_answers: dict[str, bool] = {}
        self._commands: list[tuple[int, Command]] = []
        self._new_patches: list[str] = []
        self._abandoned: list[int] = []
        self._started = False
        self._closed = False

    # -- driving -------------------------------------------------------------------------------------------

    def start(self) -> Turn:
        """Run from the beginning over the whole history; return the turn (new calls, commands, status)."""
        if self._started:
            raise RuntimeError("Execution.start() runs once; use deliver() for later events")
        self._started = True
        self._spawn_root()
        self._run_until_quiet()
        for event in self.history.events:
            if not isinstance(self._status, Running):
                break
            self._apply(event)
        self._check_history_consumed()
        return self._turn()

    def deliver(self, history: History) -> Turn:
        """Continue a live run with the events that arrived since its last turn (`history` is the full one).

        Raises ValueError when `history` is not this run's continuation (another process committed turns, or
        this run's last turn was never committed): the caller must then discard it and replay instead.
        """
        if not self._started or self._closed:
            raise ValueError("this execution is not running; replay instead")
        if len(history.calls) != self._committed or len(history.events) < self._events_seen:
            raise ValueError(f"history ({len(history.calls)} calls, {len(history.events)} events) does not continue "
                             f"this run ({self._committed} calls, {self._events_seen} events seen)")
        new_events = history.events[self._events_seen:]
        self.history = history
        for event in new_events:
            if not isinstance(self._status, Running):
                break
            self._apply(event)
        return self._turn()

    def refresh_state(self, state: WorkflowState) -> None:
        """Take the stored search fields and entity document as they are now (a live run between turns)."""
        self.state = state
        self._search = dict(state.search)
        self._entity = state.entity

    def close(self) -> None:
        """Discard the run: throw WorkflowInterruption into every waiting coroutine (their `finally` blocks
        run; durable calls there raise it again) and close them."""
        if self._closed:
            return
        self._closed = True
        self._ready.clear()
        for task in self._tasks:
            if task.finished:
                continue
            task.finished = True
            try:
                task.context.run(task.coro.throw, WorkflowInterruption("workflow run discarded"))
            except BaseException:  # noqa: B036 - the interruption itself, or whatever the cleanup raised instead
                pass
            try:
                # in the task's context: `finally` blocks that reset its context variables must find them
                task.context.run(task.coro.close)
            except BaseException:  # noqa: B036 - a coroutine that ignores GeneratorExit is dropped all the same
                pass

    @property
    def status(self) -> Status:
        return self._status

    @property
    def closed(self) -> bool:
        return self._closed

    # -- task machinery ------------------------------------------------------------------------------------

    def _spawn_root(self) -> None:
        try:
            coro = self.function(*self.args)
        except BaseException as error:  # noqa: B036 - calling the function may raise anything; it ends the run
            self._finish_with_error(error)
            return
        if not inspect.iscoroutine(coro):
            self._set_status(Failed(Failure(
                type="WorkflowUsageError", code=598,
                message=f"workflow {self.info.workflow_name!r} is not an async function (it returned "
                        f"{type(coro).__name__}); define workflows with 'async def'")))
            return
        handle = TaskHandle()
        handle.add_callback(lambda: self._root_done(handle))
        self._start_task(coro, contextvars.copy_context(), handle)

    def spawn(self, awaitable: Awaitable[Any]) -> TaskHandle:
        """Run a coroutine (or any awaitable) as a task of this run, after the tasks already queued."""
        coro = awaitable if inspect.iscoroutine(awaitable) else _await(awaitable)
        handle = TaskHandle()
        self._start_task(coro, contextvars.copy_context(), handle)
        return handle

    def _start_task(self, coro: Coroutine[Any, Any, Any], context: contextvars.Context, handle: TaskHandle) -> None:
        task = _Task(coro, context, handle)
        context.run(_CURRENT.set, _TaskRef(self, task))
        self._tasks.append(task)
        self._ready.append((task, None))

    def _run_until_quiet(self) -> None:
        while self._ready and isinstance(self._status, Running):
            task, error = self._ready.popleft()
            self._step(task, error)
        if not isinstance(self._status, Running):
            self.close()

    def _step(self, task: _Task, error: BaseException | None) -> None:
        try:
            if error is None:
                yielded = task.context.run(task.coro.send, None)
            else:
                yielded = task.context.run(task.coro.throw, error)
        except StopIteration as stop:
            task.finished = True
            task.handle._settle(stop.value)
            return
        except BaseException as raised:  # noqa: B036 - a task's error belongs to whoever awaits its handle
            task.finished = True
            task.handle._settle(error=raised)
            return
        if isinstance(yielded, _Park):
            yielded.waitable.add_callback(lambda: self._ready.append((task, None)))
            return
        self._set_status(Failed(Failure(
            type="WorkflowUsageError", code=598,
            message=f"workflow {self.info.workflow_name!r} awaited {yielded!r}, which is not a durable call: a "
                    "workflow may await only durable calls (wf.sleep, activities, wf.condition, wf.gather, …), "
                    "never trio.sleep, clocks, I/O or its own nurseries")))

    def _root_done(self, handle: TaskHandle) -> None:
        if not isinstance(self._status, Running):
            return
        if handle._error is not None:
            self._finish_with_error(handle._error)
            return
        try:
            value = to_json(handle._value, "the workflow's result")
        except SerializationError as error:
            self._set_status(Failed(failure_of(error)))
            return
        self._set_status(Returned(value))

    def _finish_with_error(self, error: BaseException) -> None:
        if isinstance(error, WorkflowInterruption):
            if isinstance(self._status, Running):  # raised by the workflow's own code: not ours to obey
                self._set_status(Failed(Failure(type="WorkflowUsageError", code=598,
                                                message=f"the workflow raised WorkflowInterruption: {error}")))
            return
        if isinstance(error, CancelledFailure | DurableError | SerializationError | WorkflowUsageError):
            self._set_status(Failed(failure_of(error)))
        elif isinstance(error, Exception):
            self._set_status(Failed(failure_of(error), retryable=True))
        else:
            raise error  # KeyboardInterrupt, SystemExit: not the workflow's outcome

    def _set_status(self, status: Status) -> None:
        if isinstance(self._status, Running):
            self._status = status

    # -- events --------------------------------------------------------------------------------------------

    def _apply(self, event: Event) -> None:
        self._events_seen += 1
        if isinstance(event, CancelRequested):
            self._cancel()
        else:
            self._complete(event)
        self._run_until_quiet()

    def _complete(self, event: Completed) -> None:
        index = event.index
        step = self._steps.get(index)
        if step is None:
            recorded = self.history.calls[index].describe() if index < len(self.history.calls) else "nothing"
            if index < len(self._calls):
                self._nondeterministic(index, f"the result of {recorded}", f"{self._calls[index].describe()}, "
                                       "which completes when made")
            else:
                self._nondeterministic(index, f"the result of {recorded}",
                                       f"no call #{index} yet: the code made {len(self._calls)} calls before "
                                       "this result arrived")
            return
        if step.cancelled:
            return  # a timer or signal that raced the cancellation: the call was already released
        if step.done():
            self._nondeterministic(index, f"two results for {step.call.describe()}", "one")
            return
        step.complete(event.outcome)

    def _cancel(self) -> None:
        self._cancel_requested = True
        for index in sorted(self._steps):
            step = self._steps[index]
            if step.call.kind in (StepKind.SLEEP, StepKind.CONDITION) and not step.shielded and not step.done():
                self._abandoned.append(index)
                step.cancel()

    def _check_history_consumed(self) -> None:
        made = len(self._calls)
        if made < len(self.history.calls) and not (isinstance(self._status, Failed) and
                                                   self._status.failure.type == "NonDeterminismError"):
            what = "returned" if isinstance(self._status, Returned) else "ended" if not isinstance(
                self._status, Running) else "waits"
            self._nondeterministic(made, self.history.calls[made].describe(),
                                   f"no call #{made}: the workflow {what} after {made} calls")

    def _nondeterministic(self, index: int, recorded: str, requested: str) -> NonDeterminismError:
        error = NonDeterminismError(self.info.workflow_id, index, recorded, requested)
        self._status = Failed(failure_of(error))  # overrides any outcome: the run diverged from its history
        return error

    # -- what workflow code calls (through hotmesh_actors.durable.workflow) -----------------------------

    def _admit(self, what: str) -> None:
        """Refuse a durable call when the run is decided, or when cancelled and not shielded."""
        if self._closed or not isinstance(self._status, Running):
            raise WorkflowInterruption(f"{what}: this workflow run is over")
        if self._cancel_requested and not shielded():
            raise CancelledFailure(f"workflow {self.info.workflow_id} was cancelled ({what} not run)")

    def _take(self, kind: StepKind, name: str, digest: str | None) -> tuple[int, Call | None]:
        index = len(self._calls)
        if index < len(self.history.calls):
            recorded = self.history.calls[index]
            if recorded.kind != kind or recorded.name != name:
                error = self._nondeterministic(index, recorded.describe(), f"{kind.value} {name!r}")
                raise WorkflowInterruption(str(error))
            self._calls.append(recorded)
            return index, recorded
        call = Call(kind=kind, name=name, digest=digest)
        self._calls.append(call)
        return index, None

    def blocking(self, kind: StepKind, name: str, command: Callable[[int], Command], *,
                 digest: str | None = None) -> Step:
        """A blocking call: take its index, check it against history, and request it when it is new."""
        self._admit(f"{kind.value} {name!r}")
        index, recorded = self._take(kind, name, digest)
        if recorded is None:
            self._commands.append((index, command(index)))
        step = Step(index, self._calls[index], shielded=shielded())
        self._steps[index] = step
        return step

    def instant(self, kind: StepKind, name: str, compute: Callable[[int], tuple[JSON, Command | None]], *,
                digest: str | None = None) -> JSON:
        """An instant call: its recorded value on replay, else compute it now (and its command), and record it."""
        self._admit(f"{kind.value} {name!r}")
        index, recorded = self._take(kind, name, digest)
        if recorded is not None:
            outcome = recorded.outcome or Outcome()
            if outcome.failure is not None:
                raise error_of(outcome.failure)
            return outcome.value
        try:
            value, command = compute(index)
        except Exception as error:
            self._calls[index] = attrs.evolve(self._calls[index], outcome=Outcome(failure=failure_of(error)))
            raise
        self._calls[index] = attrs.evolve(self._calls[index], outcome=Outcome(value=value))
        if command is not None:
            self._commands.append((index, command))
        return value

    def random(self) -> float:
        value = self.instant(StepKind.RANDOM, "random",
                             lambda i: (seeded_random(self.info.workflow_id, self.info.dimension, i), None))
        return float(value)

    def uuid4(self) -> str:
        value = self.instant(StepKind.UUID4, "uuid4",
                             lambda i: (seeded_uuid4(self.info.workflow_id, self.info.dimension, i), None))
        return str(value)

    def patched(self, patch_id: str) -> bool:
        """True for runs that reach this point with the patch in place (see docs/durable.md, Versioning)."""
        if self._closed or not isinstance(self._status, Running):
            raise WorkflowInterruption("patched(): this workflow run is over")
        if patch_id in self._patch_answers:
            return self._patch_answers[patch_id]
        if patch_id in self.history.patches:
            answer = True
        elif len(self._calls) < len(self.history.calls):
            answer = False  # replaying code that ran before the patch existed: keep the old path
        else:
            answer = True
            self._new_patches.append(patch_id)
        self._patch_answers[patch_id] = answer
        return answer

    def continue_as_new(self, args: Sequence[object]) -> NoReturn:
        self._admit("continue_as_new")
        values = [to_json(value, f"continue_as_new args[{i}]") for i, value in enumerate(args)]
        self._set_status(ContinuedAsNew(values))
        raise WorkflowInterruption("continue_as_new: this generation ends here")

    def gather(self, awaitables: Iterable[object], *, return_exceptions: bool) -> Gather:
        children: list[Waitable] = []
        for index, awaitable in enumerate(awaitables):
            if isinstance(awaitable, Waitable):
                children.append(awaitable)
            elif inspect.isawaitable(awaitable):
                children.append(self.spawn(awaitable))
            else:
                raise TypeError(f"wf.gather argument {index} is {type(awaitable).__name__}, not an awaitable "
                                "(pass durable calls or coroutines)")
        return Gather(children, return_exceptions=return_exceptions)

    def workflow_info(self) -> WorkflowInfo:
        index = len(self._calls)
        return attrs.evolve(self.info, index=index, replaying=index < len(self.history.calls))

    @property
    def search_fields(self) -> dict[str, JSON]:
        """The run's copy of the searchable fields (instant search calls read and change it)."""
        return self._search

    @property
    def entity_document(self) -> JSON:
        return self._entity

    @entity_document.setter
    def entity_document(self, document: JSON) -> None:
        self._entity = document

    # -- the turn --------------------------------------------------------------------------------------------

    def _turn(self) -> Turn:
        status = self._status
        nondeterministic = isinstance(status, Failed) and status.failure.type == "NonDeterminismError"
        new_calls = () if nondeterministic else tuple(self._calls[self._committed:])
        turn = Turn(workflow_id=self.info.workflow_id, first_index=self._committed, calls=new_calls,
                    commands=() if nondeterministic else tuple(self._commands),
                    patches=() if nondeterministic else tuple(self._new_patches),
                    abandoned=tuple(self._abandoned), events_seen=self._events_seen, status=status)
        self._committed += len(new_calls)
        self._commands, self._new_patches, self._abandoned = [], [], []
        if turn.finished:
            self.close()
        return turn


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
