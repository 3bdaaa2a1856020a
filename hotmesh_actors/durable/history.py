"""A workflow's history: the durable calls it made, in call order, and the order their results arrived.

Each durable call takes the next index when it is *called* (not when awaited). History records, per index, the
call's kind and name (the activity, child workflow or signal id), a digest of its arguments, and its outcome.
Calls of two sorts:

- *blocking* calls (activity, sleep, condition, child, start_child) are requested when made; their outcome
  arrives later as an event. Events are kept in arrival order, because replay must hand results to the
  workflow in the order the live run received them (so that what runs next, and the indices it takes, are
  the same);
- *instant* calls (random, uuid4, signal, terminate, search and entity operations) complete when made; their
  outcome is stored with the call.

Plus the patch markers (`wf.patched`) and a cancellation request, which is an event too. This module is pure
data: it also holds the requests a run makes of the engine (the commands) and the result of one run (a Turn).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

import attrs

from hotmesh_actors.core.durations import RetryPolicy
from hotmesh_actors.core.escalations import Escalation

JSON = Any


class StepKind(enum.StrEnum):
    """What a durable call was."""

    ACTIVITY = "activity"
    SLEEP = "sleep"
    CONDITION = "condition"
    CHILD = "child"
    START_CHILD = "start_child"
    SIGNAL = "signal"
    TERMINATE = "terminate"
    RANDOM = "random"
    UUID4 = "uuid4"
    SEARCH = "search"
    ENTITY = "entity"

    @property
    def blocking(self) -> bool:
        """True when the call's outcome arrives later, as an event (the engine must do something first)."""
        return self in _BLOCKING


_BLOCKING = frozenset({StepKind.ACTIVITY, StepKind.SLEEP, StepKind.CONDITION, StepKind.CHILD, StepKind.START_CHILD})


@attrs.frozen(kw_only=True)
class Failure:
    """A failed outcome: the error's class name, message and code (596/597/598 …), and optional details."""

    type: str
    message: str
    code: int = 598
    details: JSON = None


@attrs.frozen(kw_only=True)
class Outcome:
    """What a call came to: its `value`, or its `failure`."""

    value: JSON = None
    failure: Failure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def to_json(self) -> dict[str, JSON]:
        if self.failure is None:
            return {"value": self.value}
        failure = {"type": self.failure.type, "message": self.failure.message, "code": self.failure.code}
        if self.failure.details is not None:
            failure["details"] = self.failure.details
        return {"error": failure}

    @classmethod
    def from_json(cls, doc: dict[str, JSON]) -> Outcome:
        error = doc.get("error")
        if error is None:
            return cls(value=doc.get("value"))
        return cls(failure=Failure(type=str(error["type"]), message=str(error["message"]), code=int(error["code"]),
                                   details=error.get("details")))


@attrs.frozen(kw_only=True)
class Call:
    """One durable call as history records it. `outcome` is set here only for instant calls."""

    kind: StepKind
    name: str
    digest: str | None = None
    outcome: Outcome | None = None

    def describe(self) -> str:
        """How errors name the call: ``activity 'charge'``."""
        return f"{self.kind.value} {self.name!r}"


@attrs.frozen
class Completed:
    """The outcome of blocking call `index` arrived."""

    index: int
    outcome: Outcome


@attrs.frozen
class CancelRequested:
    """`handle.cancel()` reached the workflow."""


Event = Completed | CancelRequested


@attrs.frozen(kw_only=True)
class History:
    """Calls by index, events in arrival order, and the patch markers recorded."""

    calls: tuple[Call, ...] = ()
    events: tuple[Event, ...] = ()
    patches: frozenset[str] = frozenset()

    def outcome_of(self, index: int) -> Outcome | None:
        """The outcome of call `index`: its own for an instant call, its event's for a blocking one."""
        call = self.calls[index]
        if call.outcome is not None:
            return call.outcome
        for event in self.events:
            if isinstance(event, Completed) and event.index == index:
                return event.outcome
        return None

    def pending(self) -> list[int]:
        """Indices of blocking calls whose outcome has not arrived (in flight)."""
        done = {event.index for event in self.events if isinstance(event, Completed)}
        return [i for i, call in enumerate(self.calls) if call.kind.blocking and i not in done]

    def with_calls(self, calls: Iterable[Call], patches: Iterable[str] = ()) -> History:
        """This history with a turn's new calls and patch markers appended."""
        return attrs.evolve(self, calls=self.calls + tuple(calls), patches=self.patches | frozenset(patches))

    def with_event(self, event: Event) -> History:
        """This history with one more event."""
        return attrs.evolve(self, events=self.events + (event,))

    @property
    def cancel_requested(self) -> bool:
        return any(isinstance(event, CancelRequested) for event in self.events)

    # -- storage form: readable JSON (each call with its outcome and the position its result arrived at) ----

    def to_json(self) -> dict[str, JSON]:
        """The JSON document stored with the workflow's job (and shown by `export`)."""
        calls: list[dict[str, JSON]] = []
        arrival: dict[int, tuple[int, Outcome]] = {}
        cancel_seq = None
        for seq, event in enumerate(self.events, start=1):
            if isinstance(event, Completed):
                arrival[event.index] = (seq, event.outcome)
            else:
                cancel_seq = seq
        for index, call in enumerate(self.calls):
            doc: dict[str, JSON] = {"kind": call.kind.value, "name": call.name}
            if call.digest is not None:
                doc["digest"] = call.digest
            if call.outcome is not None:
                doc.update(call.outcome.to_json())
            elif index in arrival:
                seq, outcome = arrival[index]
                doc["seq"] = seq
                doc.update(outcome.to_json())
            calls.append(doc)
        stored: dict[str, JSON] = {"calls": calls, "events": len(self.events)}
        if cancel_seq is not None:
            stored["cancel_seq"] = cancel_seq
        if self.patches:
            stored["patches"] = sorted(self.patches)
        return stored

    @classmethod
    def from_json(cls, doc: dict[str, JSON]) -> History:
        """Inverse of :meth:`to_json`."""
        calls: list[Call] = []
        by_seq: dict[int, Event] = {}
        for index, item in enumerate(doc.get("calls", [])):
            kind = StepKind(item["kind"])
            has_outcome = "value" in item or "error" in item
            outcome = Outcome.from_json(item) if has_outcome else None
            if kind.blocking:
                calls.append(Call(kind=kind, name=item["name"], digest=item.get("digest")))
                if outcome is not None:
                    by_seq[int(item["seq"])] = Completed(index, outcome)
            else:
                calls.append(Call(kind=kind, name=item["name"], digest=item.get("digest"), outcome=outcome))
        if "cancel_seq" in doc:
            by_seq[int(doc["cancel_seq"])] = CancelRequested()
        events = tuple(by_seq[seq] for seq in sorted(by_seq))
        return cls(calls=tuple(calls), events=events, patches=frozenset(doc.get("patches", ())))


# -- what a run asks the engine to do (one command per new call that needs it) ----------------------------


@attrs.frozen(kw_only=True)
class ScheduleActivity:
    """Run activity `name(*args)` on `<task_queue>-activity` under `retry_policy`; record its outcome."""

    name: str
    args: list[JSON]
    task_queue: str
    retry_policy: RetryPolicy
    start_to_close_timeout: float | None = None


@attrs.frozen(kw_only=True)
class StartTimer:
    """Record `seconds` as the outcome once `seconds` have passed (durable: survives restarts)."""

    seconds: float


@attrs.frozen(kw_only=True)
class AwaitSignal:
    """Wait for signal `signal_id` (its data is the outcome); `False` after `timeout` seconds if given; with an
    `escalation`, write its row in the same transaction (a cancelled row's wake makes the outcome None)."""

    signal_id: str
    timeout: float | None = None
    escalation: Escalation | None = None


@attrs.frozen(kw_only=True)
class StartChild:
    """Start workflow `workflow_name(*args)` as `workflow_id` (parent pointers set); `wait`: the outcome is its
    result (execute_child), else the child's id as soon as it is started (start_child)."""

    workflow_name: str
    args: list[JSON]
    task_queue: str
    workflow_id: str
    wait: bool
    retry_policy: RetryPolicy | None = None
    expire: float | None = None
    search: dict[str, JSON] | None = None


@attrs.frozen(kw_only=True)
class SendSignal:
    """Deliver `data` to the condition waiting on `signal_id` (buffered when none waits yet)."""

    signal_id: str
    data: JSON


@attrs.frozen(kw_only=True)
class TerminateWorkflow:
    """Terminate (interrupt) another workflow."""

    workflow_id: str
    reason: str | None = None


@attrs.frozen(kw_only=True)
class WriteSearch:
    """Set and delete the workflow's searchable fields."""

    set: dict[str, JSON] = attrs.field(factory=dict)
    delete: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class WriteEntity:
    """Replace the workflow's entity document."""

    document: JSON


Command = (ScheduleActivity | StartTimer | AwaitSignal | StartChild | SendSignal | TerminateWorkflow | WriteSearch
           | WriteEntity)


# -- the result of one run ------------------------------------------------------------------------------


@attrs.frozen
class Running:
    """The workflow waits for outcomes of calls in flight."""


@attrs.frozen
class Returned:
    """The workflow returned `value` (JSON)."""

    value: JSON


@attrs.frozen
class Failed:
    """The workflow raised. `retryable`: a plain error, retried per the workflow's policy; otherwise final."""

    failure: Failure
    retryable: bool = False


@attrs.frozen
class ContinuedAsNew:
    """The workflow called `continue_as_new(*args)`: start a fresh generation with `args` and empty history."""

    args: list[JSON]


Status = Running | Returned | Failed | ContinuedAsNew


@attrs.frozen(kw_only=True)
class Turn:
    """What one run decided, for the engine to commit in ONE transaction.

    `calls` are the new calls (indices `first_index`, `first_index + 1`, …) to append to history; `commands`
    the work they ask for, keyed by index; `patches` new patch markers; `abandoned` in-flight sleeps and
    conditions the workflow's cancellation released (disarm their timers and signal registrations);
    `events_seen` how many history events the decision consumed.
    """

    workflow_id: str
    first_index: int
    calls: tuple[Call, ...] = ()
    commands: tuple[tuple[int, Command], ...] = ()
    patches: tuple[str, ...] = ()
    abandoned: tuple[int, ...] = ()
    events_seen: int = 0
    status: Status = Running()

    @property
    def finished(self) -> bool:
        return not isinstance(self.status, Running)
