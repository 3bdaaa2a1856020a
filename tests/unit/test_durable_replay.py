"""The replay core, call by call: indices, determinism checks, interruptions, cancellation, patches, values."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import attrs
import pytest
import trio

from hotmesh_actors import RetryPolicy, durable
from hotmesh_actors.durable import workflow as wf
from hotmesh_actors.durable.history import (
    Call,
    CancelRequested,
    Completed,
    ContinuedAsNew,
    Failed,
    Failure,
    History,
    Outcome,
    Returned,
    Running,
    ScheduleActivity,
    StartTimer,
    StepKind,
    Turn,
    WriteEntity,
    WriteSearch,
)
from hotmesh_actors.durable.replay import Execution, WorkflowInfo, WorkflowInterruption, WorkflowState
from hotmesh_actors.durable.runner import WorkflowRunner, WorkflowTask
from hotmesh_actors.errors import (
    CancelledFailure,
    DurableFatalError,
    DurableMaxedError,
    InvalidArgumentError,
    SerializationError,
    WorkflowUsageError,
)

INFO = WorkflowInfo(workflow_id="w-1", workflow_name="flow", task_queue="q")
Answer = Callable[[Call, int], Outcome]


def echo(call: Call, index: int) -> Outcome:
    return Outcome(value=f"{call.name}#{index}")


def drive(function: Any, args: list[Any] | None = None, *, answer: Answer = echo, info: WorkflowInfo = INFO,
          cancel_after: int | None = None, limit: int = 50) -> tuple[History, Turn]:
    """Run a workflow live to its end, answering each in-flight call (lowest index first)."""
    execution = Execution(function, args or [], info, History())
    turn = execution.start()
    history = History().with_calls(turn.calls, turn.patches)
    events = 0
    while not turn.finished and events < limit:
        if cancel_after is not None and events == cancel_after:
            history = history.with_event(CancelRequested())
        else:
            pending = [i for i in history.pending() if not _answered_or_abandoned(history, i, turn)]
            if not pending:
                break
            index = pending[0]
            history = history.with_event(Completed(index, answer(history.calls[index], index)))
        events += 1
        turn = execution.deliver(history)
        history = history.with_calls(turn.calls, turn.patches)
    return history, turn


def _answered_or_abandoned(history: History, index: int, turn: Turn) -> bool:
    return index in turn.abandoned


def replay(function: Any, history: History, args: list[Any] | None = None, info: WorkflowInfo = INFO) -> Turn:
    return Execution(function, args or [], info, history).start()


# -- indices and determinism --------------------------------------------------------------------------------------


def test_a_call_takes_its_index_when_called_not_when_awaited() -> None:
    async def flow() -> list[str]:
        acts = wf.proxy_activities()
        first = acts.load("x")
        second = acts.save("y")
        return [await second, await first]

    history, turn = drive(flow)
    assert [call.describe() for call in history.calls] == ["activity 'load'", "activity 'save'"]
    assert turn.status == Returned(["save#1", "load#0"])


def test_the_first_turn_issues_every_call_of_a_gather_with_its_command() -> None:
    async def flow() -> Any:
        acts = wf.proxy_activities(task_queue="other", retry_policy=RetryPolicy(maximum_attempts=7),
                                   start_to_close_timeout="30s")
        return await wf.gather(acts.a(1), wf.sleep("2 minutes"), acts.b([1, 2]))

    turn = Execution(flow, [], INFO, History()).start()
    assert [call.describe() for call in turn.calls] == ["activity 'a'", "sleep 'sleep'", "activity 'b'"]
    commands = dict(turn.commands)
    assert commands[0] == ScheduleActivity(name="a", args=[1], task_queue="other",
                                           retry_policy=RetryPolicy(maximum_attempts=7), start_to_close_timeout=30.0)
    assert commands[1] == StartTimer(seconds=120.0)
    assert isinstance(turn.status, Running)


def test_the_activity_policy_resolves_call_then_workflow_then_default() -> None:
    async def flow() -> None:
        await wf.proxy_activities(retry_policy=RetryPolicy(maximum_attempts=9)).a()
        await wf.proxy_activities().b()

    workflow_policy = RetryPolicy(maximum_attempts=4)
    execution = Execution(flow, [], attrs.evolve(INFO, retry_policy=workflow_policy), History())
    first = execution.start()
    assert dict(first.commands)[0].retry_policy == RetryPolicy(maximum_attempts=9)
    history = History().with_calls(first.calls).with_event(Completed(0, Outcome(value=1)))
    second = execution.deliver(history)
    assert dict(second.commands)[1].retry_policy == workflow_policy
    plain = Execution(flow, [], INFO, history).start()
    assert dict(plain.commands)[1].retry_policy == RetryPolicy()  # 3 attempts, coefficient 10, cap 120 s


def test_non_determinism_names_the_workflow_index_history_and_request() -> None:
    async def old(_: int) -> None:
        acts = wf.proxy_activities()
        await acts.charge()
        await acts.ship()

    async def new(_: int) -> None:
        acts = wf.proxy_activities()
        await acts.charge()
        await acts.refund()

    history, _ = drive(old, [1])
    turn = replay(new, history, [1])
    assert isinstance(turn.status, Failed) and not turn.status.retryable
    error = durable.NonDeterminismError("w-1", 1, "activity 'ship'", "activity 'refund'")
    assert turn.status.failure.message == str(error)
    assert turn.status.failure.code == 598
    message = turn.status.failure.message
    assert "w-1" in message and "call 1" in message and "'ship'" in message and "'refund'" in message
    assert isinstance(error, DurableFatalError)


def test_a_workflow_that_stops_short_of_its_history_is_non_deterministic() -> None:
    async def old() -> str:
        acts = wf.proxy_activities()
        await acts.a()
        await acts.b()
        return "done"

    async def new() -> str:
        await wf.proxy_activities().a()
        return "early"

    history, _ = drive(old)
    turn = replay(new, history)
    assert isinstance(turn.status, Failed)
    assert turn.status.failure.details["index"] == 1
    assert turn.status.failure.details["recorded"] == "activity 'b'"


def test_except_exception_cannot_swallow_a_divergence() -> None:
    async def old() -> str:
        await wf.proxy_activities().a()
        return "a"

    async def new() -> str:
        try:
            await wf.proxy_activities().other()
        except Exception:
            return "swallowed"
        return "b"

    history, _ = drive(old)
    turn = replay(new, history)
    assert isinstance(turn.status, Failed) and turn.status.failure.type == "NonDeterminismError"


def test_workflow_interruption_is_a_base_exception() -> None:
    assert not issubclass(WorkflowInterruption, Exception)
    assert not issubclass(CancelledFailure, Exception)


class Foreign:
    """An awaitable of some other framework: it yields its own object to whatever drives it."""

    def __await__(self) -> Any:
        yield "tick"


def test_awaiting_something_that_is_not_a_durable_call_fails_the_workflow() -> None:
    async def flow() -> None:
        await Foreign()

    turn = Execution(flow, [], INFO, History()).start()
    assert isinstance(turn.status, Failed) and not turn.status.retryable
    assert "awaited 'tick', which is not a durable call" in turn.status.failure.message
    assert "never trio.sleep" in turn.status.failure.message


async def test_awaiting_trio_inside_a_workflow_fails_it_as_not_durable() -> None:
    async def flow() -> None:
        await trio.sleep(1)

    turn = Execution(flow, [], INFO, History()).start()  # driven from inside trio, as the in-memory worker does
    assert isinstance(turn.status, Failed) and not turn.status.retryable
    assert "not a durable call" in turn.status.failure.message


def test_a_plain_function_is_refused_as_a_workflow() -> None:
    def flow() -> str:
        return "x"

    turn = Execution(flow, [], INFO, History()).start()  # type: ignore[arg-type]
    assert isinstance(turn.status, Failed) and "async" in turn.status.failure.message


def test_history_results_arrive_in_history_order_not_call_order() -> None:
    seen: list[str] = []

    async def branch(name: str) -> None:
        acts = wf.proxy_activities()
        await getattr(acts, name)()
        seen.append(name)
        await getattr(acts, name + "_next")()

    async def flow() -> None:
        await wf.gather(branch("a"), branch("b"))

    first = Execution(flow, [], INFO, History()).start()
    history = History().with_calls(first.calls).with_event(Completed(1, Outcome(value=None)))
    turn = replay(flow, history)
    assert [call.name for call in turn.calls] == ["b_next"]  # b's result came first, so b_next takes index 2
    assert seen == ["b"]


# -- errors and values ------------------------------------------------------------------------------------------


def test_durable_calls_outside_a_workflow_raise_a_usage_error() -> None:
    with pytest.raises(WorkflowUsageError, match=r"wf\.sleep\(\) was called outside a workflow"):
        wf.sleep(1)
    with pytest.raises(WorkflowUsageError, match="activity 'charge'"):
        wf.proxy_activities().charge()
    with pytest.raises(WorkflowUsageError, match="outside an activity"):
        durable.activity.info()
    for call in (wf.random, wf.uuid4, wf.workflow_info, wf.search, wf.entity):
        with pytest.raises(WorkflowUsageError):
            call()
    with pytest.raises(WorkflowUsageError):
        with wf.CancellationScope.non_cancellable():
            pass


def test_bad_arguments_are_refused_before_anything_is_recorded() -> None:
    async def flow() -> None:
        with pytest.raises(InvalidArgumentError):
            wf.sleep(-1)
        with pytest.raises(InvalidArgumentError):
            wf.condition("")
        with pytest.raises(InvalidArgumentError):
            wf.condition("x", timeout="soon")
        with pytest.raises(TypeError, match="positional arguments only"):
            wf.proxy_activities().a(x=1)
        with pytest.raises(SerializationError) as caught:
            wf.proxy_activities().charge(1, {"items": [1, {2}]})
        assert caught.value.path == "charge args[1]['items'][1]"
        assert isinstance(caught.value, TypeError)
        with pytest.raises(SerializationError, match="NUL"):
            await wf.signal("s", {"note": "a\x00b"})
        with pytest.raises(SerializationError, match="finite"):
            wf.continue_as_new(float("nan"))

    turn = Execution(flow, [], INFO, History()).start()
    assert turn.status == Returned(None)
    assert turn.calls == ()


def test_an_uncaught_serialization_error_ends_the_workflow_unretried() -> None:
    async def flow() -> None:
        await wf.proxy_activities().charge(object())

    turn = Execution(flow, [], INFO, History()).start()
    assert isinstance(turn.status, Failed) and not turn.status.retryable
    assert turn.status.failure.type == "SerializationError"
    assert turn.status.failure.details == {"path": "charge args[0]"}


def test_a_result_that_is_not_json_fails_the_workflow_with_its_path() -> None:
    async def flow() -> Any:
        return {"when": {1, 2}}

    turn = Execution(flow, [], INFO, History()).start()
    assert isinstance(turn.status, Failed)
    assert turn.status.failure.details == {"path": "the workflow's result['when']"}


def test_plain_errors_are_retryable_durable_errors_are_final() -> None:
    async def plain() -> None:
        raise ValueError("boom")

    async def fatal() -> None:
        raise DurableFatalError("stop")

    first = Execution(plain, [], INFO, History()).start()
    assert first.status == Failed(Failure(type="ValueError", message="boom", code=599), retryable=True)
    second = Execution(fatal, [], INFO, History()).start()
    assert second.status == Failed(Failure(type="DurableFatalError", message="stop", code=598), retryable=False)


def test_a_recorded_activity_failure_is_raised_at_the_call_site_as_its_type() -> None:
    caught: list[BaseException] = []

    async def flow() -> str:
        try:
            await wf.proxy_activities().charge()
        except DurableMaxedError as error:
            caught.append(error)
            return "handled"
        return "not reached"

    def fail(call: Call, index: int) -> Outcome:
        return Outcome(failure=Failure(type="DurableMaxedError", code=597, message="charge failed after 3"))

    _, turn = drive(flow, answer=fail)
    assert turn.status == Returned("handled")
    assert caught and caught[0].code == 597 and str(caught[0]) == "charge failed after 3"


# -- gather ----------------------------------------------------------------------------------------------------------


def test_gather_returns_results_in_call_order_and_raises_the_first_failure() -> None:
    async def flow() -> Any:
        acts = wf.proxy_activities()
        ordered = await wf.gather(acts.a(), acts.b(), wf.gather(acts.c(), acts.d()))
        empty = await wf.gather()
        try:
            await wf.gather(acts.ok(), acts.bad())
        except DurableFatalError as error:
            failed = str(error)
        mixed = await wf.gather(acts.ok(), acts.bad(), return_exceptions=True)
        return [ordered, empty, failed, mixed[0], type(mixed[1]).__name__]

    def answer(call: Call, index: int) -> Outcome:
        if call.name == "bad":
            return Outcome(failure=Failure(type="DurableFatalError", message="bad!", code=598))
        return echo(call, index)

    _, turn = drive(flow, answer=answer)
    assert turn.status == Returned([["a#0", "b#1", ["c#2", "d#3"]], [], "bad!", "ok#6", "DurableFatalError"])


def test_gather_refuses_what_is_not_awaitable() -> None:
    async def flow() -> None:
        with pytest.raises(TypeError, match="argument 1"):
            wf.gather(wf.sleep(1), 42)  # type: ignore[arg-type]

    assert Execution(flow, [], INFO, History()).start().status == Returned(None)


# -- randomness, patches, continue-as-new ------------------------------------------------------------------------


def test_random_and_uuid4_are_stable_on_replay_and_distinct_per_workflow_and_generation() -> None:
    async def flow() -> Any:
        values = [wf.random(), wf.uuid4()]
        await wf.sleep(1)
        values += [wf.random(), wf.uuid4()]
        return values

    history, turn = drive(flow)
    assert isinstance(turn.status, Returned)
    values = turn.status.value
    assert len(set(values)) == 4 and all(0 <= v < 1 for v in values[::2])
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", values[1])
    assert replay(flow, history).status == turn.status
    other = WorkflowInfo(workflow_id="w-2", workflow_name="flow", task_queue="q")
    _, elsewhere = drive(flow, info=other)
    next_generation = WorkflowInfo(workflow_id="w-1", workflow_name="flow", task_queue="q", generation=1)
    _, later = drive(flow, info=next_generation)
    assert isinstance(elsewhere.status, Returned) and isinstance(later.status, Returned)
    assert not set(values) & set(elsewhere.status.value)
    assert not set(values) & set(later.status.value)
    assert [call.kind for call in history.calls] == [StepKind.RANDOM, StepKind.UUID4, StepKind.SLEEP,
                                                     StepKind.RANDOM, StepKind.UUID4]


def test_patched_is_true_for_new_runs_false_for_older_histories_and_takes_no_index() -> None:
    async def before() -> str:
        acts = wf.proxy_activities()
        await acts.validate()
        await acts.process()
        return "old"

    async def after() -> str:
        acts = wf.proxy_activities()
        await acts.validate()
        if await wf.patched("v2"):
            await acts.validate_more()
            return "new"
        await acts.process()
        return "old"

    _, fresh = drive(after)
    assert fresh.status == Returned("new")
    history, _ = drive(after)
    assert history.patches == frozenset({"v2"})
    assert replay(after, history).status == Returned("new")

    old_history, _ = drive(before)
    assert replay(after, old_history).status == Returned("old")  # its history has no marker past that point

    # a workflow of the old code caught right after `validate` completed: the patch point is its frontier
    execution = Execution(before, [], INFO, History())
    first = execution.start()
    midway = History().with_calls(first.calls).with_event(Completed(0, Outcome(value=None)))
    assert replay(after, midway).patches == ("v2",)
    assert [call.name for call in replay(after, midway).calls] == ["validate_more"]


def test_deprecate_patch_is_a_no_op_inside_a_workflow() -> None:
    async def flow() -> str:
        wf.deprecate_patch("v2")
        return "ok"

    assert Execution(flow, [], INFO, History()).start().status == Returned("ok")


def test_continue_as_new_ends_the_generation_with_its_arguments() -> None:
    reached: list[str] = []

    async def flow(n: int) -> None:
        await wf.sleep(1)
        wf.continue_as_new(n + 1, {"cursor": "c"})
        reached.append("after")

    _, turn = drive(flow, [1])
    assert turn.status == ContinuedAsNew([2, {"cursor": "c"}])
    assert reached == []


# -- cancellation ----------------------------------------------------------------------------------------------


def test_cancel_wakes_a_sleep_with_cancelled_failure_and_releases_it() -> None:
    async def flow() -> str:
        try:
            await wf.sleep("30 days")
        except CancelledFailure:
            with wf.CancellationScope.non_cancellable():
                await wf.proxy_activities().cleanup()
            return "cleaned"
        return "slept"

    history, turn = drive(flow, cancel_after=0)
    assert turn.status == Returned("cleaned")
    assert [call.name for call in history.calls] == ["sleep", "cleanup"]
    assert replay(flow, history).status == Returned("cleaned")


def test_the_abandoned_sleep_is_reported_once_so_its_timer_can_be_disarmed() -> None:
    async def flow() -> None:
        await wf.gather(wf.sleep(5), wf.condition("never"), wf.proxy_activities().slow())

    execution = Execution(flow, [], INFO, History())
    first = execution.start()
    history = History().with_calls(first.calls).with_event(CancelRequested())
    turn = execution.deliver(history)
    assert turn.abandoned == (0, 1)  # the activity in flight is not interrupted
    assert isinstance(turn.status, Failed) and turn.status.failure.type == "CancelledFailure"
    assert turn.status.failure.code == 598


def test_after_cancel_the_next_durable_call_raises_unless_shielded() -> None:
    async def flow() -> Any:
        acts = wf.proxy_activities()
        first = await acts.slow()  # in flight when cancelled: completes normally
        try:
            await acts.next()
        except CancelledFailure:
            pass
        with wf.CancellationScope.non_cancellable():
            shielded = await wf.gather(acts.release(), wf.sleep(1))
        return [first, shielded]

    history, turn = drive(flow, cancel_after=0)
    assert turn.status == Returned(["slow#0", ["release#1", 1]]) or turn.status == Returned(
        ["slow#0", ["release#1", "sleep#2"]])
    assert [call.name for call in history.calls] == ["slow", "release", "sleep"]


def test_except_exception_cannot_swallow_cancellation() -> None:
    async def flow() -> str:
        try:
            await wf.sleep(100)
        except Exception:
            return "swallowed"
        return "slept"

    _, turn = drive(flow, cancel_after=0)
    assert isinstance(turn.status, Failed) and turn.status.failure.type == "CancelledFailure"
    assert wf.is_cancellation(CancelledFailure()) and not wf.is_cancellation(ValueError())


# -- discarding a run --------------------------------------------------------------------------------------------


def test_closing_a_run_runs_finally_blocks_whose_durable_calls_are_refused() -> None:
    cleanup: list[str] = []

    async def flow() -> None:
        try:
            await wf.sleep(10)
        finally:
            try:
                await wf.proxy_activities().x()
            except WorkflowInterruption:
                cleanup.append("refused")

    execution = Execution(flow, [], INFO, History())
    execution.start()
    execution.close()
    assert cleanup == ["refused"]
    assert execution.closed


def test_deliver_refuses_a_history_that_does_not_continue_the_run() -> None:
    async def flow() -> None:
        await wf.sleep(1)

    execution = Execution(flow, [], INFO, History())
    execution.start()
    with pytest.raises(ValueError, match="does not continue"):
        execution.deliver(History())


# -- search and entity -------------------------------------------------------------------------------------------


def test_search_and_entity_calls_are_recorded_and_replayed_without_writing_again() -> None:
    async def flow() -> Any:
        search, entity = wf.search(), wf.entity()
        await search.set({"status": "new"}, priority=2)
        count = await search.incr("retries", 2)
        await entity.merge({"user": {"name": "Ann"}})
        await entity.append("user.tags", "vip")
        await wf.sleep(1)
        return [count, await search.get("status"), await entity.get("user.tags"), await search.mult("retries", 5),
                await entity.increment("score"), await entity.toggle("flag"),
                await entity.set_if_not_exists("user.name", "Bob"), await search.delete("priority", "nothing")]

    execution = Execution(flow, [], INFO, History(), WorkflowState())
    turn = execution.start()
    writes = [command for _, command in turn.commands if isinstance(command, WriteSearch | WriteEntity)]
    assert writes[0] == WriteSearch(set={"status": "new", "priority": 2})
    assert writes[-1] == WriteEntity(document={"user": {"name": "Ann", "tags": ["vip"]}})
    history = History().with_calls(turn.calls).with_event(Completed(4, Outcome(value=1)))
    done = execution.deliver(history)
    assert done.status == Returned([2, "new", ["vip"], 10, 1, True, "Ann", 1])
    full = history.with_calls(done.calls)
    stored = WorkflowState(search={"status": "new", "retries": 10},
                           entity={"user": {"name": "Ann", "tags": ["vip"]}, "score": 1, "flag": True})
    again = Execution(flow, [], INFO, full, stored).start()
    assert again.status == done.status
    assert again.commands == ()


# -- the runner --------------------------------------------------------------------------------------------------


def test_the_sticky_runner_resumes_live_runs_and_replays_when_it_must() -> None:
    async def flow() -> str:
        acts = wf.proxy_activities()
        await acts.a()
        await acts.b()
        return "done"

    runner = WorkflowRunner({"flow": flow})
    history = History()
    task = WorkflowTask(info=INFO, args=[], history=history)
    first = runner.decide(task)
    history = history.with_calls(first.calls).with_event(Completed(0, Outcome(value=1)))
    second = runner.decide(WorkflowTask(info=INFO, args=[], history=history))
    assert runner.replays == 1 and runner.cached == 1
    assert [call.name for call in second.calls] == ["b"]
    # the second turn was never committed: the runner must replay from what was
    runner.discard("w-1")
    again = runner.decide(WorkflowTask(info=INFO, args=[], history=history))
    assert again == second and runner.replays == 2
    history = history.with_calls(again.calls).with_event(Completed(1, Outcome(value=2)))
    last = runner.decide(WorkflowTask(info=INFO, args=[], history=history))
    assert last.status == Returned("done") and runner.cached == 0 and runner.replays == 2


def test_the_runner_answers_an_unknown_workflow_with_a_fatal_failure() -> None:
    runner = WorkflowRunner({})
    turn = runner.decide(WorkflowTask(info=INFO, args=[], history=History()))
    assert isinstance(turn.status, Failed) and "no workflow named 'flow'" in turn.status.failure.message


def test_a_run_that_swallows_its_interruption_is_still_discarded_cleanly() -> None:
    async def stubborn() -> None:
        with wf.CancellationScope.non_cancellable():
            try:
                await wf.sleep(10)
            except BaseException:  # noqa: B036 - the worst a workflow can do
                await wf.sleep(20)

    execution = Execution(stubborn, [], INFO, History())
    execution.start()
    execution.close()  # the second await raises WorkflowInterruption again; close() must not leak anything
    assert execution.closed
