"""Hypothesis on the pure replay core: random workflow programs (nested gathers, coroutines, instant calls) run
live with results arriving in a random order; replaying any prefix of the history re-issues exactly the steps
the live run issued at that point, and any edit of a recorded call is caught at its index."""

from __future__ import annotations

from typing import Any

import attrs
import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, event, given, settings

from hotmesh_actors.durable import workflow as wf
from hotmesh_actors.durable.history import (
    Call,
    CancelRequested,
    Completed,
    Failed,
    History,
    Outcome,
    Returned,
    StepKind,
    Turn,
)
from hotmesh_actors.durable.replay import Execution, WorkflowInfo

# -- programs -------------------------------------------------------------------------------------------------


@attrs.frozen
class Act:
    name: str


@attrs.frozen
class Sleep:
    pass


@attrs.frozen
class Cond:
    signal: str


@attrs.frozen
class Rand:
    pass


@attrs.frozen
class Seq:
    body: tuple[Any, ...]


@attrs.frozen
class Par:
    branches: tuple[Any, ...]


leaves = st.one_of(st.builds(Act, st.sampled_from(["a", "b", "c"])), st.just(Sleep()),
                   st.builds(Cond, st.sampled_from(["s1", "s2"])), st.just(Rand()))
nodes = st.recursive(
    leaves,
    lambda inner: st.one_of(st.builds(Seq, st.lists(inner, min_size=1, max_size=4).map(tuple)),
                            st.builds(Par, st.lists(inner, min_size=2, max_size=4).map(tuple))),
    max_leaves=12,
)
programs = st.builds(Seq, st.lists(nodes, min_size=1, max_size=5).map(tuple))


def _start(node: Any) -> Any:
    """The awaitable a node makes (a durable call made now, a gather made now, or a coroutine for a sequence)."""
    if isinstance(node, Act):
        return getattr(wf.proxy_activities(), node.name)(node.name)
    if isinstance(node, Sleep):
        return wf.sleep(1)
    if isinstance(node, Cond):
        return wf.condition(node.signal)
    if isinstance(node, Par):
        return wf.gather(*(_start(branch) for branch in node.branches))
    if isinstance(node, Seq):
        return _run_seq(node)
    if isinstance(node, Rand):
        return _rand()
    raise AssertionError(node)


async def _rand() -> float:
    return round(wf.random(), 6)


async def _run_seq(node: Seq) -> list[Any]:
    results = []
    for item in node.body:
        if isinstance(item, Rand):
            results.append(round(wf.random(), 6))
        else:
            results.append(await _start(item))
    return results


def workflow_of(program: Any) -> Any:
    async def program_flow() -> Any:
        return await _run_seq(program if isinstance(program, Seq) else Seq((program,)))

    return program_flow


# A run cut short (a cancellation or a divergence raised while gather arguments were being made) leaves the
# coroutines already made for earlier arguments unawaited, exactly as asyncio.gather would.
pytestmark = pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")

INFO = WorkflowInfo(workflow_id="wf-1", workflow_name="program_flow", task_queue="q")


def _result_for(call: Call, index: int) -> Outcome:
    return Outcome(value=f"{call.kind.value}:{call.name}:{index}")


def run_live(program: Any, data: st.DataObject, *, cancel_at: int | None = None
             ) -> tuple[list[tuple[History, Turn]], History, Turn]:
    """Run `program` as a live (sticky) execution; results of in-flight calls arrive in an order hypothesis
    picks. Returns every (history before the turn, turn) pair, the final history and the last turn."""
    execution = Execution(workflow_of(program), [], INFO, History())
    history = History()
    turn = execution.start()
    turns = [(history, turn)]
    history = history.with_calls(turn.calls, turn.patches)
    events = 0
    while not turn.finished:
        pending = [i for i in history.pending() if i not in turn.abandoned]
        if cancel_at is not None and events == cancel_at and not history.cancel_requested:
            history = history.with_event(CancelRequested())
        else:
            if not pending:
                break
            index = data.draw(st.sampled_from(pending), label="next result")
            history = history.with_event(Completed(index, _result_for(history.calls[index], index)))
        events += 1
        before = history
        turn = execution.deliver(history)
        turns.append((before, turn))
        history = history.with_calls(turn.calls, turn.patches)
    return turns, history, turn


# -- properties --------------------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs, data=st.data())
def test_replaying_each_prefix_reissues_exactly_the_next_unrecorded_steps(program: Any, data: st.DataObject) -> None:
    turns, final, last = run_live(program, data)
    event(f"calls: {min(len(final.calls), 12)}{'+' if len(final.calls) >= 12 else ''}")
    event(f"most steps issued by one turn: {max(len([c for c in t.calls if c.kind.blocking]) for _, t in turns)}")
    for before, live_turn in turns:
        replayed = Execution(workflow_of(program), [], INFO, before).start()
        assert replayed.calls == live_turn.calls
        assert replayed.commands == live_turn.commands
        assert replayed.status == live_turn.status
        assert replayed.first_index == len(before.calls)
    # the finished history replays to the same result with nothing new to do
    if last.finished:
        again = Execution(workflow_of(program), [], INFO, final).start()
        assert again.calls == ()
        assert again.status == last.status
        assert isinstance(again.status, Returned)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs, data=st.data())
def test_any_edit_of_a_recorded_call_is_detected_at_its_index(program: Any, data: st.DataObject) -> None:
    _turns, final, _last = run_live(program, data)
    if not final.calls:
        return
    index = data.draw(st.integers(0, len(final.calls) - 1), label="edited call")
    original = final.calls[index]
    edit = data.draw(st.sampled_from(["kind", "name"]), label="edit")
    if edit == "kind":
        kind = data.draw(st.sampled_from([k for k in StepKind if k is not original.kind]), label="new kind")
        changed = attrs.evolve(original, kind=kind)
    else:
        changed = attrs.evolve(original, name=original.name + "-edited")
    calls = list(final.calls)
    calls[index] = changed
    edited = attrs.evolve(final, calls=tuple(calls))
    turn = Execution(workflow_of(program), [], INFO, edited).start()
    assert isinstance(turn.status, Failed), turn.status
    failure = turn.status.failure
    assert failure.type == "NonDeterminismError"
    assert not turn.status.retryable
    assert failure.details["index"] == index
    assert failure.details["recorded"] == changed.describe()
    assert failure.details["workflow_id"] == "wf-1"
    assert turn.calls == ()  # nothing of the diverged run is recorded


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs, data=st.data(), cancel_at=st.integers(0, 6))
def test_a_cancellation_anywhere_replays_the_same_way(program: Any, data: st.DataObject, cancel_at: int) -> None:
    turns, _final, _last = run_live(program, data, cancel_at=cancel_at)
    for before, live_turn in turns:
        replayed = Execution(workflow_of(program), [], INFO, before).start()
        assert (replayed.calls, replayed.commands, replayed.status) == (live_turn.calls, live_turn.commands,
                                                                         live_turn.status)


@settings(max_examples=100, deadline=None)
@given(program=programs, data=st.data())
def test_history_survives_its_json_storage_form(program: Any, data: st.DataObject) -> None:
    _turns, final, _last = run_live(program, data)
    assert History.from_json(final.to_json()) == final
