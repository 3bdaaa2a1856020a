"""Deciding workflow tasks: the pure step a durable worker runs inside the engine's transaction.

A workflow task is "this workflow has new events": the worker loads its record (start arguments, history, data),
and :class:`WorkflowRunner` turns it into a :class:`~hotmesh_actors.durable.history.Turn` for the engine to
commit. With `sticky=True` (the default) the runner keeps each waiting workflow's live coroutine between tasks and
hands it only the new events; it replays from the start when it has no live run for the workflow or the history
is not the continuation it expects (another process advanced it, or its last turn was not committed). Either way
the decision is the same (the replay core hands results over in history order). Pure: no I/O.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import attrs

from hotmesh_actors.durable.history import Failed, Failure, History, Turn
from hotmesh_actors.durable.replay import Execution, WorkflowFunction, WorkflowInfo, WorkflowState

JSON = Any


@attrs.frozen(kw_only=True)
class WorkflowTask:
    """What a worker needs to decide one workflow task: who, with what arguments, and what happened so far."""

    info: WorkflowInfo
    args: list[JSON]
    history: History
    state: WorkflowState = attrs.field(factory=WorkflowState)


class WorkflowRunner:
    """Decides workflow tasks for the workflows it serves, keeping live runs when `sticky`."""

    def __init__(self, workflows: Mapping[str, WorkflowFunction], *, sticky: bool = True,
                 max_cached: int = 10_000) -> None:
        self.workflows = dict(workflows)
        self.sticky = sticky
        self.max_cached = max_cached
        self._live: OrderedDict[str, Execution] = OrderedDict()
        self.replays = 0
        """How many tasks were decided by replaying from the start (for tests and stats)."""

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self.workflows)

    @property
    def cached(self) -> int:
        return len(self._live)

    def decide(self, task: WorkflowTask) -> Turn:
        """The turn for `task`. If the engine then fails to commit it, call :meth:`discard`."""
        function = self.workflows.get(task.info.workflow_name)
        if function is None:
            return Turn(workflow_id=task.info.workflow_id, first_index=len(task.history.calls), status=Failed(Failure(
                type="WorkflowUsageError", code=598,
                message=f"no workflow named {task.info.workflow_name!r} is served here (serving "
                        f"{sorted(self.workflows)})")))
        live = self._live.pop(task.info.workflow_id, None)
        turn: Turn | None = None
        if live is not None:
            same_run = (live.info.generation, live.info.attempt) == (task.info.generation, task.info.attempt)
            if same_run:
                try:
                    live.refresh_state(task.state)
                    turn = live.deliver(task.history)
                except ValueError:
                    turn = None
            if turn is None:
                live.close()
        if turn is None:
            live = Execution(function, task.args, task.info, task.history, task.state)
            self.replays += 1
            turn = live.start()
        assert live is not None
        if self.sticky and not turn.finished:
            self._live[task.info.workflow_id] = live
            while len(self._live) > self.max_cached:
                _, oldest = self._live.popitem(last=False)
                oldest.close()
        elif not turn.finished:
            live.close()
        return turn

    def discard(self, workflow_id: str) -> None:
        """Forget the live run of `workflow_id` (its turn was not committed, or it was terminated)."""
        live = self._live.pop(workflow_id, None)
        if live is not None:
            live.close()

    def close(self) -> None:
        """Discard every live run (worker shutdown: a later replay finishes them)."""
        while self._live:
            _, live = self._live.popitem()
            live.close()
