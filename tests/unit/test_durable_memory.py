"""Every durable primitive end to end on the in-memory backend, sticky (live coroutines) and replaying.

The environment plays the engine: it keeps histories, runs activities with their policies, fires timers
(instantly, under trio's autojump clock), routes signals and starts children. Each test runs twice: with live
runs kept between workflow tasks, and with every task replayed from the start, and must give the same
answers. Test names carry the SPEC §11 item they cover where there is one; the same items get real-Postgres
tests in phase 2.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
import trio.testing

from hotmesh_actors import RetryPolicy, durable
from hotmesh_actors.durable import workflow as wf
from hotmesh_actors.durable.backend import WorkflowStatus
from hotmesh_actors.durable.testing import WorkflowEnvironment
from hotmesh_actors.errors import (
    CancelledFailure,
    DuplicateJobError,
    DurableFatalError,
    DurableMaxedError,
    DurableTimeoutError,
    InterruptedJobError,
    JobNotFoundError,
    SerializationError,
    UnknownActivityError,
)

FAST = RetryPolicy(maximum_attempts=3, initial_interval=0.01, backoff_coefficient=2, maximum_interval=1)


@pytest.fixture(params=[True, False], ids=["sticky", "replay"])
def sticky(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


# -- 40/41: start, result, activities once ----------------------------------------------------------------------


async def test_item40_start_and_result(sticky: bool, autojump_clock: trio.testing.MockClock) -> None:
    async def hello(name: str) -> str:
        return f"hello {name}"

    async with WorkflowEnvironment.open(workflows=[hello], sticky=sticky) as env:
        handle = await env.client.workflow.start(hello, args=["ann"], task_queue=env.task_queue, workflow_id="h-1")
        assert handle.workflow_id == "h-1"
        assert await handle.result() == "hello ann"
        assert await handle.status() == 0
        assert await env.client.workflow.get_handle("h-1").result() == "hello ann"


async def test_item41_an_activity_runs_once_though_the_workflow_runs_again(
        sticky: bool, autojump_clock: trio.testing.MockClock) -> None:
    executed: list[tuple[str, int]] = []

    async def charge(order_id: str, cents: int) -> dict[str, Any]:
        info = durable.activity.info()
        executed.append((order_id, info.index))
        return {"receipt": f"r-{order_id}", "cents": cents, "attempt": info.attempt, "workflow": info.workflow_id}

    def pack(order_id: str) -> str:  # a plain def runs in a thread, with activity.info() available
        return f"packed-{order_id}-{durable.activity.info().activity_name}"

    async def order(order_id: str) -> Any:
        acts = wf.proxy_activities()
        receipt = await acts.charge(order_id, 500)
        await wf.sleep(1)
        packed = await acts.pack(order_id)
        await wf.sleep(1)
        return [receipt, packed]

    async with WorkflowEnvironment.open(workflows=[order], activities=[charge, pack], sticky=sticky) as env:
        handle = await env.client.workflow.start(order, args=["A"], task_queue=env.task_queue, workflow_id="o-A")
        result = await handle.result()
        assert result == [{"receipt": "r-A", "cents": 500, "attempt": 1, "workflow": "o-A"}, "packed-A-pack"]
        assert executed == [("A", 0)]
        decided = env.backend.workflows["o-A"].tasks_decided
        assert decided == 5  # the workflow ran again after each of its 4 steps
        assert env.runner.replays == (1 if sticky else 5)


async def test_item41_activity_errors_surface_as_typed_errors(sticky: bool,
                                                              autojump_clock: trio.testing.MockClock) -> None:
    async def fatal() -> None:
        raise DurableFatalError("card declined")

    async def flaky() -> None:
        raise ConnectionError("no route")

    async def flow() -> list[str]:
        acts = wf.proxy_activities(retry_policy=FAST)
        seen = []
        for call in (acts.fatal, acts.flaky):
            try:
                await call()
            except (DurableFatalError, DurableMaxedError) as error:
                seen.append(f"{type(error).__name__} {error.code}: {error}")
        return seen

    async with WorkflowEnvironment.open(workflows=[flow], activities=[fatal, flaky], sticky=sticky) as env:
        handle = await env.client.workflow.start(flow, task_queue=env.task_queue)
        assert await handle.result() == [
            "DurableFatalError 598: card declined",
            "DurableMaxedError 597: activity 'flaky' failed after 3 attempt(s); last error: ConnectionError: no route"]
        attempts = [(name, attempt) for _, _, name, attempt in env.backend.activity_attempts]
        assert attempts == [("fatal", 1), ("flaky", 1), ("flaky", 2), ("flaky", 3)]  # the fatal one never retried


# -- 42: sleep ---------------------------------------------------------------------------------------------------


async def test_item42_sleep_is_durable_and_returns_its_seconds(sticky: bool,
                                                               autojump_clock: trio.testing.MockClock) -> None:
    async def nap() -> Any:
        slept = await wf.sleep("2 seconds")
        return [slept, await wf.sleep_for(0.5)]

    async with WorkflowEnvironment.open(workflows=[nap], sticky=sticky) as env:
        started = trio.current_time()
        handle = await env.client.workflow.start(nap, task_queue=env.task_queue, workflow_id="nap")
        await trio.sleep(1)
        env.runner.close()  # a worker restart mid-sleep: the live run is gone, the history is not
        assert await handle.result() == [2.0, 0.5]
        assert trio.current_time() - started >= 2.5


# -- 43: conditions and signals ----------------------------------------------------------------------------------


async def test_item43_condition_and_signal(sticky: bool, autojump_clock: trio.testing.MockClock) -> None:
    async def approval(order_id: str) -> Any:
        early = await wf.condition(f"early-{order_id}")
        answer = await wf.wait_for(f"approve-{order_id}")
        timed_out = await wf.condition(f"never-{order_id}", timeout="1 hour")
        return [early, answer, timed_out]

    async with WorkflowEnvironment.open(workflows=[approval], sticky=sticky) as env:
        await env.client.workflow.signal("early-A", {"first": True})  # before the workflow exists: buffered
        handle = await env.client.workflow.start(approval, args=["A"], task_queue=env.task_queue)
        await trio.sleep(1)
        await handle.signal("approve-A", {"approved": True})
        assert await handle.result() == [{"first": True}, {"approved": True}, False]


# -- 44: children ----------------------------------------------------------------------------------------------


async def test_item44_children_and_lineage(sticky: bool, autojump_clock: trio.testing.MockClock) -> None:
    async def leaf(n: int) -> dict[str, Any]:
        info = wf.workflow_info()
        await wf.sleep(1)
        return {"n": n, "parent": info.parent_workflow_id, "origin": info.origin_workflow_id}

    async def middle(n: int) -> Any:
        return await wf.execute_child(leaf, args=[n * 10])

    async def root() -> Any:
        child_id = await wf.start_child("leaf", args=[1], workflow_id="detached-leaf")
        nested = await wf.execute_child(middle, args=[2])
        return [child_id, nested]

    async with WorkflowEnvironment.open(workflows=[leaf, middle, root], sticky=sticky) as env:
        handle = await env.client.workflow.start(root, task_queue=env.task_queue, workflow_id="root")
        child_id, nested = await handle.result()
        assert child_id == "detached-leaf"
        assert nested == {"n": 20, "parent": "root-middle-1", "origin": "root"}
        detached = await env.client.workflow.get_handle("detached-leaf").result()
        assert detached == {"n": 1, "parent": "root", "origin": "root"}
        described = await env.client.workflow.get_handle("root-middle-1").describe()
        assert (described.parent_workflow_id, described.origin_workflow_id) == ("root", "root")


async def test_a_failing_child_raises_in_its_parent(sticky: bool, autojump_clock: trio.testing.MockClock) -> None:
    async def broken() -> None:
        raise DurableFatalError("child broke")

    async def parent() -> str:
        try:
            await wf.execute_child(broken)
        except DurableFatalError as error:
            return f"caught {error}"
        return "no"

    async with WorkflowEnvironment.open(workflows=[broken, parent], sticky=sticky) as env:
        handle = await env.client.workflow.start(parent, task_queue=env.task_queue)
        assert await handle.result() == "caught child broke"


# -- 45: gather --------------------------------------------------------------------------------------------------


async def test_item45_gather_of_mixed_calls_returns_results_in_call_order(
        sticky: bool, autojump_clock: trio.testing.MockClock) -> None:
    async def slow(n: int) -> int:
        await trio.sleep(3 - n)  # later calls finish first
        return n

    async def child() -> str:
        return "child"

    async def sub(n: int) -> int:
        acts = wf.proxy_activities()
        first = await acts.slow(n)
        return int(await acts.slow(first)) + 100

    async def fan() -> Any:
        acts = wf.proxy_activities()
        return await wf.gather(acts.slow(0), acts.slow(1), wf.execute_child(child), wf.condition("go"),
                               wf.sleep(1), sub(2), wf.gather(acts.slow(2), sub(1)))

    async with WorkflowEnvironment.open(workflows=[fan, child], activities=[slow], sticky=sticky) as env:
        handle = await env.client.workflow.start(fan, task_queue=env.task_queue)
        await trio.sleep(0.5)
        await env.client.workflow.signal("go", "went")
        assert await handle.result() == [0, 1, "child", "went", 1.0, 102, [2, 101]]


# -- 47: continue as new ---------------------------------------------------------------------------------------


async def test_item47_continue_as_new_restarts_with_new_args(sticky: bool,
                                                             autojump_clock: trio.testing.MockClock) -> None:
    seen: list[str] = []

    async def note(text: str) -> None:
        seen.append(text)

    async def counter(n: int, total: int) -> Any:
        acts = wf.proxy_activities()
        await acts.note(f"gen {wf.workflow_info().generation} n {n} r {wf.random():.6f}")
        if n < 3:
            wf.continue_as_new(n + 1, total + n)
        return {"total": total + n, "generation": wf.workflow_info().generation}

    async with WorkflowEnvironment.open(workflows=[counter], activities=[note], sticky=sticky) as env:
        handle = await env.client.workflow.start(counter, args=[1, 0], task_queue=env.task_queue, workflow_id="c")
        assert await handle.result() == {"total": 6, "generation": 2}
        assert [text.split(" r ")[0] for text in seen] == ["gen 0 n 1", "gen 1 n 2", "gen 2 n 3"]
        assert len({text.split(" r ")[1] for text in seen}) == 3  # each generation draws its own randomness
        described = await handle.describe()
        assert [call.name for call in described.history.calls] == ["random", "note"]  # the last generation only


# -- 48: patched --------------------------------------------------------------------------------------------------


async def test_item48_patched_for_new_workflows(sticky: bool, autojump_clock: trio.testing.MockClock) -> None:
    async def versioned() -> str:
        await wf.sleep(1)
        if await wf.patched("fast-path"):
            return "new"
        return "old"

    async with WorkflowEnvironment.open(workflows=[versioned], sticky=sticky) as env:
        handle = await env.client.workflow.start(versioned, task_queue=env.task_queue)
        assert await handle.result() == "new"
        assert (await handle.describe()).history.patches == frozenset({"fast-path"})


# -- 49/50: cancel and terminate -----------------------------------------------------------------------------------


async def test_item49_cancel_wakes_a_sleep_and_cleanup_runs(sticky: bool,
                                                            autojump_clock: trio.testing.MockClock) -> None:
    cleaned: list[str] = []

    async def release(order_id: str) -> None:
        cleaned.append(order_id)

    async def held(order_id: str) -> str:
        try:
            await wf.sleep("30 days")
        except CancelledFailure:
            with wf.CancellationScope.non_cancellable():
                await wf.proxy_activities().release(order_id)
            raise
        return "slept"

    async with WorkflowEnvironment.open(workflows=[held], activities=[release], sticky=sticky) as env:
        handle = await env.client.workflow.start(held, args=["A"], task_queue=env.task_queue)
        await trio.sleep(10)
        started = trio.current_time()
        await handle.cancel()
        with pytest.raises(CancelledFailure):
            await handle.result()
        assert trio.current_time() - started < 60  # woken, not after 30 days
        assert cleaned == ["A"]
        described = await handle.describe()
        assert described.status is WorkflowStatus.CANCELLED and described.failure is not None
        assert described.failure.code == 598


async def test_item50_terminate_stops_the_workflow_for_good(sticky: bool,
                                                            autojump_clock: trio.testing.MockClock) -> None:
    ran: list[str] = []

    async def step(name: str) -> None:
        ran.append(name)

    async def long(n: int) -> None:
        acts = wf.proxy_activities()
        await acts.step("before")
        await wf.sleep(100)
        await acts.step("after")

    async with WorkflowEnvironment.open(workflows=[long], activities=[step], sticky=sticky) as env:
        handle = await env.client.workflow.start(long, args=[1], task_queue=env.task_queue, workflow_id="t")
        await trio.sleep(10)
        await handle.terminate("operator said so")
        with pytest.raises(InterruptedJobError, match="operator said so") as caught:
            await handle.result()
        assert caught.value.code == 410
        assert await handle.status() < 0
        decided = env.backend.workflows["t"].tasks_decided
        await trio.sleep(500)  # past the sleep's end: nothing of the workflow runs again
        assert ran == ["before"]
        assert env.backend.workflows["t"].tasks_decided == decided


# -- 51/52: retry policies ---------------------------------------------------------------------------------------


async def test_item51_activity_retry_policy_timeout_and_fatal(sticky: bool,
                                                              autojump_clock: trio.testing.MockClock) -> None:
    async def flaky() -> str:
        if durable.activity.info().attempt < 4:
            raise RuntimeError("not yet")
        return "finally"

    async def stuck() -> None:
        await trio.sleep(60)

    async def flow() -> Any:
        patient = wf.proxy_activities(retry_policy=RetryPolicy(maximum_attempts=4, initial_interval=0.1,
                                                               backoff_coefficient=2))
        impatient = wf.proxy_activities(start_to_close_timeout="5s")
        ok = await patient.flaky()
        try:
            await impatient.stuck()
        except DurableTimeoutError as error:
            return [ok, error.code, str(error)]
        return [ok]

    async with WorkflowEnvironment.open(workflows=[flow], activities=[flaky, stuck], sticky=sticky) as env:
        handle = await env.client.workflow.start(flow, task_queue=env.task_queue)
        result = await handle.result()
        assert result == ["finally", 596, "activity 'stuck' attempt 1 ran longer than its start_to_close_timeout of "
                                          "5.0 s"]
        attempts = [(name, attempt) for _, _, name, attempt in env.backend.activity_attempts]
        assert attempts == [("flaky", 1), ("flaky", 2), ("flaky", 3), ("flaky", 4), ("stuck", 1)]


async def test_item52_a_failing_workflow_is_retried_then_maxed(sticky: bool,
                                                               autojump_clock: trio.testing.MockClock) -> None:
    attempts: list[int] = []

    async def record(attempt: int) -> None:
        attempts.append(attempt)

    async def moody(succeed_on: int) -> str:
        await wf.proxy_activities().record(succeed_on)  # run by the first attempt, replayed by later ones
        attempt = wf.workflow_info().attempt
        if attempt < succeed_on:
            raise RuntimeError(f"attempt {attempt} failed")
        return f"ok on {attempt}"

    async with WorkflowEnvironment.open(workflows=[moody], activities=[record], sticky=sticky) as env:
        good = await env.client.workflow.start(moody, args=[3], task_queue=env.task_queue, retry_policy=FAST)
        assert await good.result() == "ok on 3"
        assert attempts == [3]
        bad = await env.client.workflow.start(moody, args=[9], task_queue=env.task_queue, retry_policy=FAST)
        with pytest.raises(DurableMaxedError, match="failed after 3 attempt") as caught:
            await bad.result()
        assert caught.value.code == 597


async def test_a_retried_workflow_still_receives_the_results_of_calls_in_flight(
        sticky: bool, autojump_clock: trio.testing.MockClock) -> None:
    async def fickle() -> Any:
        nap = wf.sleep(5)  # requested by the first attempt, which then fails
        if wf.workflow_info().attempt == 1:
            raise RuntimeError("first attempt fails")
        return [await nap, wf.workflow_info().attempt]

    async with WorkflowEnvironment.open(workflows=[fickle], sticky=sticky) as env:
        handle = await env.client.workflow.start(fickle, task_queue=env.task_queue, retry_policy=FAST)
        assert await handle.result() == [5.0, 2]


# -- 54/55: search, entity, once-only side effects -------------------------------------------------------------


async def test_item54_search_and_entity(sticky: bool, autojump_clock: trio.testing.MockClock) -> None:
    async def profile(user: str) -> Any:
        await wf.search().set({"user": user, "visits": 0})
        await wf.sleep(1)
        visits = await wf.search().incr("visits")
        await wf.entity().set({"name": user})
        await wf.entity().append("orders", "o-1")
        return [visits, await wf.entity().get()]

    async with WorkflowEnvironment.open(workflows=[profile], sticky=sticky) as env:
        handle = await env.client.workflow.start(profile, args=["ann"], task_queue=env.task_queue)
        assert await handle.result() == [1, {"name": "ann", "orders": ["o-1"]}]
        assert await handle.query_state(["user", "visits", "none"]) == {"user": "ann", "visits": 1, "none": None}
        exported = await handle.export()
        assert exported["entity"] == {"name": "ann", "orders": ["o-1"]} and exported["status"] == "completed"


async def test_item55_signals_and_terminations_sent_by_a_workflow_happen_once(
        sticky: bool, autojump_clock: trio.testing.MockClock) -> None:
    async def listener() -> Any:
        first = await wf.condition("ping")
        second = await wf.condition("ping", timeout=50)
        return [first, second]

    async def victim() -> None:
        await wf.sleep(1000)

    async def sender() -> str:
        await wf.signal("ping", {"n": 1})
        await wf.terminate("victim")
        for _ in range(5):
            await wf.sleep(1)  # several more runs of this workflow: no second ping, no second terminate
        return "sent"

    async with WorkflowEnvironment.open(workflows=[listener, victim, sender], sticky=sticky) as env:
        listening = await env.client.workflow.start(listener, task_queue=env.task_queue)
        doomed = await env.client.workflow.start(victim, task_queue=env.task_queue, workflow_id="victim")
        await trio.sleep(0.1)
        sending = await env.client.workflow.start(sender, task_queue=env.task_queue)
        assert await sending.result() == "sent"
        assert await listening.result() == [{"n": 1}, False]
        with pytest.raises(InterruptedJobError):
            await doomed.result()


# -- escalations on conditions (the in-memory record; rows on Postgres come in phase 2) ----------------------------


async def test_a_condition_records_its_escalation_and_a_cancel_wake_returns_none(
        sticky: bool, autojump_clock: trio.testing.MockClock) -> None:
    async def review(doc: str) -> Any:
        return await wf.condition(f"review-{doc}", escalation=durable.Escalation(
            role="editor", type="review", priority=2, metadata={"doc": doc}))

    async with WorkflowEnvironment.open(workflows=[review], sticky=sticky) as env:
        handle = await env.client.workflow.start(review, args=["d1"], task_queue=env.task_queue)
        await trio.sleep(1)
        [recorded] = env.backend.escalations
        assert recorded.signal_id == "review-d1" and recorded.escalation.role == "editor"
        assert recorded.escalation.metadata == {"doc": "d1"}
        await env.client.workflow.signal("review-d1", {"__escalation_cancelled": True})
        assert await handle.result() is None


# -- bad input ----------------------------------------------------------------------------------------------------


async def test_bad_input_is_refused_and_loses_nothing(sticky: bool, autojump_clock: trio.testing.MockClock) -> None:
    async def wait() -> str:
        await wf.sleep(100)
        return "first"

    async with WorkflowEnvironment.open(workflows=[wait], sticky=sticky) as env:
        with pytest.raises(SerializationError) as caught:
            await env.client.workflow.start(wait, args=[{"at": object()}], task_queue=env.task_queue,
                                            workflow_id="bad")
        assert caught.value.path == "args[0]['at']"
        assert "bad" not in env.backend.workflows
        first = await env.client.workflow.start(wait, task_queue=env.task_queue, workflow_id="dup")
        with pytest.raises(DuplicateJobError):
            await env.client.workflow.start(wait, task_queue=env.task_queue, workflow_id="dup")
        assert await first.result() == "first"
        with pytest.raises(JobNotFoundError):
            await env.client.workflow.get_handle("nobody").status()
        with pytest.raises(SerializationError):
            await env.client.workflow.signal("s", {1, 2})


async def test_an_unknown_activity_fails_with_the_names_served(sticky: bool,
                                                               autojump_clock: trio.testing.MockClock) -> None:
    async def known() -> str:
        return "k"

    async def flow() -> str:
        try:
            await wf.proxy_activities().unknown()
        except UnknownActivityError as error:
            return str(error)
        return "no"

    async with WorkflowEnvironment.open(workflows=[flow], activities=[known], sticky=sticky) as env:
        handle = await env.client.workflow.start(flow, task_queue=env.task_queue)
        assert await handle.result() == ("unknown activity 'unknown' on task queue 'default': the live workers of "
                                         "that queue serve 'known'")


async def test_an_activity_on_a_queue_without_workers_waits_for_one(sticky: bool,
                                                                    autojump_clock: trio.testing.MockClock) -> None:
    async def remote() -> str:
        return "remote done"

    async def flow() -> str:
        return str(await wf.proxy_activities(task_queue="elsewhere").remote())

    async with WorkflowEnvironment.open(workflows=[flow], sticky=sticky) as env, trio.open_nursery() as nursery:
        handle = await env.client.workflow.start(flow, task_queue=env.task_queue)
        await trio.sleep(30)
        assert await handle.status() == 1  # still waiting, not failed
        await env.add_activity_worker("elsewhere", [remote], nursery)
        assert await handle.result() == "remote done"
        nursery.cancel_scope.cancel()


async def test_starting_a_workflow_no_worker_serves_warns(autojump_clock: trio.testing.MockClock,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    async def served() -> None:
        return None

    async with WorkflowEnvironment.open(workflows=[served]) as env:
        with caplog.at_level(logging.WARNING, logger="hotmesh_actors.durable"):
            handle = await env.client.workflow.start("nobody_serves_me", task_queue=env.task_queue)
        assert "serves workflow 'nobody_serves_me'" in caplog.text
        assert await handle.status() == 1


def test_the_testing_example_in_docs_durable_md_runs_as_written() -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "durable.md").read_text("utf-8")
    section = text[text.index("## Testing workflows"):]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    exec(compile(code, "docs/durable.md", "exec"), {"__name__": "docs_example"})
