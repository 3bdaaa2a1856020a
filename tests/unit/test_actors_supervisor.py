"""Supervisor: restarts with backoff, gives up past the limit, stops everything within a grace period."""

from __future__ import annotations

import logging
import math

import attrs
import hypothesis
import hypothesis.strategies as st
import pytest
import trio
import trio.testing

from hotmesh_actors.actors import Actor, Mailbox, RestartPolicy, Supervisor
from hotmesh_actors.errors import SupervisorGaveUpError

FAST = RestartPolicy(initial_delay=0.1, factor=2.0, max_delay=10.0, max_restarts=5, window=60.0)


class TaskTracker(trio.abc.Instrument):
    """Records every task spawned and exited, to prove that none is left running."""

    def __init__(self) -> None:
        self.spawned: list[trio.lowlevel.Task] = []
        self.running: set[trio.lowlevel.Task] = set()

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.spawned.append(task)
        self.running.add(task)

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self.running.discard(task)


class Flaky(Actor):
    """Fails its first *failures* runs, then runs until asked to stop."""

    def __init__(self, name: str, failures: float) -> None:
        super().__init__(name)
        self.failures = failures
        self.starts: list[float] = []
        self.healthy = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.starts.append(trio.current_time())
        task_status.started()
        if len(self.starts) <= self.failures:
            raise ValueError(f"failure {len(self.starts)}")
        self.healthy.set()
        await self.wait_stopping()


class Bystander(Actor):
    """Runs until stopped, and records how it ended."""

    def __init__(self, name: str = "bystander") -> None:
        super().__init__(name)
        self.ended: str | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            await self.wait_stopping()
            self.ended = "stopped"
        except trio.Cancelled:
            self.ended = "cancelled"
            raise


@attrs.frozen(kw_only=True)
class Work:
    id: int
    seconds: float


class Consumer(Actor):
    """Claims work from a mailbox and handles each item in its own task, as StreamConsumer does."""

    def __init__(self, name: str = "consumer", *, expected: int = 0) -> None:
        super().__init__(name)
        self.inbox: Mailbox[Work] = Mailbox(16)
        self.expected = expected
        self.started_ids: list[int] = []
        self.finished: dict[int, float] = {}
        self.cancelled: dict[int, float] = {}
        self.all_in_flight = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as handlers:
            task_status.started()
            async for work in self.receive_until_stopped(self.inbox):
                handlers.start_soon(self.handle, work)

    async def handle(self, work: Work) -> None:
        self.started_ids.append(work.id)
        if len(self.started_ids) == self.expected:
            self.all_in_flight.set()
        try:
            await trio.sleep(work.seconds)
        except trio.Cancelled:
            self.cancelled[work.id] = trio.current_time()
            raise
        self.finished[work.id] = trio.current_time()


# -- restart and give up ------------------------------------------------------------------------------


async def test_a_failing_actor_is_restarted_with_exponential_backoff(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="hotmesh_actors.actors")
    actor = Flaky("flaky", failures=4)
    t0 = trio.current_time()
    async with Supervisor(policy=FAST) as supervisor:
        supervisor.start_soon(actor)
        await actor.healthy.wait()
    assert [round(t - t0, 6) for t in actor.starts] == [0, 0.1, 0.3, 0.7, 1.5]
    restarts = [r for r in caplog.records if r.name == "hotmesh_actors.actors"]
    assert [getattr(r, "actor", None) for r in restarts] == ["flaky"] * 4
    assert [getattr(r, "delay", None) for r in restarts] == [0.1, 0.2, 0.4, 0.8]
    assert all(r.exc_info is not None for r in restarts)


async def test_the_backoff_is_capped_at_max_delay(autojump_clock: trio.testing.MockClock) -> None:
    policy = RestartPolicy(initial_delay=1.0, factor=10.0, max_delay=5.0, max_restarts=3, window=600.0)
    actor = Flaky("flaky", failures=3)
    t0 = trio.current_time()
    async with Supervisor(policy=policy) as supervisor:
        supervisor.start_soon(actor)
        await actor.healthy.wait()
    assert [round(t - t0, 6) for t in actor.starts] == [0, 1, 6, 11]


async def test_the_supervisor_gives_up_past_max_restarts_and_cancels_siblings(
    autojump_clock: trio.testing.MockClock,
) -> None:
    actor = Flaky("doomed", failures=math.inf)
    sibling = Bystander()
    t0 = trio.current_time()
    with pytest.raises(SupervisorGaveUpError, match="'doomed' failed 6 times") as caught:
        async with Supervisor(policy=FAST, grace=30.0) as supervisor:
            await supervisor.start(sibling)
            supervisor.start_soon(actor)
            await trio.sleep_forever()
    assert isinstance(caught.value.__cause__, ValueError)
    assert str(caught.value.__cause__) == "failure 6"
    assert [round(t - t0, 6) for t in actor.starts] == [0, 0.1, 0.3, 0.7, 1.5, 3.1]
    assert sibling.ended == "cancelled"
    assert trio.current_time() - t0 == pytest.approx(3.1)  # siblings were cancelled, not given the grace


async def test_failures_older_than_the_window_are_forgotten(autojump_clock: trio.testing.MockClock) -> None:
    class FailsOnSchedule(Actor):
        """Fails at once on runs 1, 3 and 4; run 2 fails only after running well for 20 s."""

        def __init__(self) -> None:
            super().__init__("scheduled")
            self.starts: list[float] = []

        async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            self.starts.append(trio.current_time())
            task_status.started()
            if len(self.starts) == 2:
                await trio.sleep(20)
            raise ValueError(f"failure {len(self.starts)}")

    policy = RestartPolicy(initial_delay=0.5, factor=2.0, max_delay=10.0, max_restarts=1, window=10.0)
    actor = FailsOnSchedule()
    t0 = trio.current_time()
    with pytest.raises(SupervisorGaveUpError) as caught:
        async with Supervisor(policy=policy) as supervisor:
            supervisor.start_soon(actor)
            await trio.sleep_forever()
    # Run 2 failed 20.5 s after run 1: a fresh window, so a restart at the initial delay; run 3 is then the
    # second failure inside the window, one past max_restarts=1.
    assert [round(t - t0, 6) for t in actor.starts] == [0, 0.5, 21.0]
    assert str(caught.value.__cause__) == "failure 3"


async def test_max_restarts_zero_gives_up_on_the_first_failure(
    autojump_clock: trio.testing.MockClock,
) -> None:
    actor = Flaky("fragile", failures=1)
    with pytest.raises(SupervisorGaveUpError):
        async with Supervisor() as supervisor:
            supervisor.start_soon(actor, policy=RestartPolicy(max_restarts=0))
            await trio.sleep_forever()
    assert len(actor.starts) == 1


async def test_an_actor_that_returns_is_not_restarted(autojump_clock: trio.testing.MockClock) -> None:
    class Once(Actor):
        runs = 0

        async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            self.runs += 1
            task_status.started()

    actor = Once("once")
    async with Supervisor() as supervisor:
        await supervisor.start(actor)
        await trio.sleep(100)
        assert supervisor.actors == []
    assert actor.runs == 1


async def test_start_returns_once_a_restarted_actor_has_started(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class FailsBeforeStarting(Actor):
        runs = 0

        async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            self.runs += 1
            if self.runs < 3:
                raise OSError("not ready")
            task_status.started()
            await self.wait_stopping()

    actor = FailsBeforeStarting("late")
    async with Supervisor(policy=FAST) as supervisor:
        await supervisor.start(actor)
        assert actor.runs == 3
        assert supervisor.actors == [actor]


async def test_start_raises_gave_up_when_the_actor_never_starts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class NeverStarts(Actor):
        async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            raise OSError("cannot connect")

    async with Supervisor(policy=RestartPolicy(max_restarts=2)) as supervisor:
        with pytest.raises(SupervisorGaveUpError) as caught:
            await supervisor.start(NeverStarts("never"))
        assert isinstance(caught.value.__cause__, OSError)


async def test_messages_queued_in_a_mailbox_survive_a_restart(autojump_clock: trio.testing.MockClock) -> None:
    class Poisonable(Actor):
        def __init__(self) -> None:
            super().__init__("poisonable")
            self.inbox: Mailbox[Work] = Mailbox(8)
            self.handled: list[int] = []
            self.drained = trio.Event()

        async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            task_status.started()
            async for work in self.receive_until_stopped(self.inbox):
                if work.id < 0:
                    raise ValueError("poison")
                self.handled.append(work.id)
            self.drained.set()

    actor = Poisonable()
    for i in (1, -1, 2, 3):
        actor.inbox.send_nowait(Work(id=i, seconds=0))
    actor.inbox.close()
    async with Supervisor(policy=FAST) as supervisor:
        supervisor.start_soon(actor)
        await actor.drained.wait()
    assert actor.handled == [1, 2, 3]


# -- stopping -------------------------------------------------------------------------------------------


async def test_leaving_async_with_leaves_no_task_running_even_mid_flight(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tracker = TaskTracker()
    trio.lowlevel.add_instrument(tracker)
    try:
        consumers = [Consumer(f"consumer-{i}", expected=3) for i in range(3)]
        t0 = trio.current_time()
        async with Supervisor(grace=2.0) as supervisor:
            for consumer in consumers:
                await supervisor.start(consumer)
                for i in range(3):
                    await consumer.inbox.send(Work(id=i, seconds=math.inf))  # handlers that never finish
            for consumer in consumers:
                await consumer.all_in_flight.wait()
            assert len(tracker.running) >= 3 + 3 * 3
        assert trio.current_time() - t0 == pytest.approx(2.0)
    finally:
        trio.lowlevel.remove_instrument(tracker)
    assert len(tracker.spawned) >= 1 + 3 + 3 * 3  # the stop task, the consumers, their handlers
    assert tracker.running == set()
    assert all(len(c.cancelled) == 3 for c in consumers)


async def test_graceful_stop_lets_in_flight_work_finish_within_grace_and_cancels_the_rest(
    autojump_clock: trio.testing.MockClock,
) -> None:
    consumer = Consumer(expected=2)
    t0 = trio.current_time()
    async with Supervisor(grace=1.0) as supervisor:
        await supervisor.start(consumer)
        await consumer.inbox.send(Work(id=1, seconds=0.5))
        await consumer.inbox.send(Work(id=2, seconds=5.0))
        await consumer.all_in_flight.wait()
        supervisor.stop()
        await consumer.inbox.send(Work(id=3, seconds=0.0))  # arrives after the stop: never claimed
        await supervisor.wait_stopped()
    assert {i: round(t - t0, 6) for i, t in consumer.finished.items()} == {1: 0.5}
    assert {i: round(t - t0, 6) for i, t in consumer.cancelled.items()} == {2: 1.0}
    assert consumer.started_ids == [1, 2]
    assert consumer.inbox.qsize() == 1


async def test_a_drained_supervisor_stops_without_waiting_out_the_grace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    consumer = Consumer(expected=1)
    t0 = trio.current_time()
    async with Supervisor(grace=60.0) as supervisor:
        await supervisor.start(consumer)
        await consumer.inbox.send(Work(id=1, seconds=0.25))
        await consumer.all_in_flight.wait()
    assert trio.current_time() - t0 == pytest.approx(0.25)
    assert list(consumer.finished) == [1]


async def test_cancelling_the_host_still_honours_the_grace_period(
    autojump_clock: trio.testing.MockClock,
) -> None:
    consumer = Consumer(expected=1)
    t0 = trio.current_time()
    with trio.move_on_after(1.0) as host:
        async with Supervisor(grace=2.0) as supervisor:
            await supervisor.start(consumer)
            await trio.sleep(0.9)
            await consumer.inbox.send(Work(id=1, seconds=0.5))
            await trio.sleep_forever()
    assert host.cancelled_caught
    assert round(consumer.finished[1] - t0, 6) == 1.4
    assert trio.current_time() - t0 == pytest.approx(1.4)


async def test_an_actor_started_soon_gets_the_grace_period_even_before_it_starts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class SlowToStart(Actor):
        finished_at: float | None = None

        async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            await trio.sleep(1.5)  # e.g. connecting; it never calls started()
            self.finished_at = trio.current_time()

    actor = SlowToStart("slow")
    t0 = trio.current_time()
    with trio.move_on_after(1.0):
        async with Supervisor(grace=2.0) as supervisor:
            supervisor.start_soon(actor)
            await trio.sleep_forever()
    assert actor.finished_at is not None
    assert actor.finished_at - t0 == pytest.approx(1.5)


async def test_cancelling_start_cancels_an_actor_that_has_not_started(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class NeverReady(Actor):
        ended: str | None = None

        async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                await trio.sleep_forever()
            except trio.Cancelled:
                self.ended = "cancelled"
                raise

    actor = NeverReady("never-ready")
    async with Supervisor(grace=100.0) as supervisor:
        with trio.move_on_after(1.0) as timeout:
            await supervisor.start(actor)
        assert timeout.cancelled_caught
        assert actor.ended == "cancelled"
        assert supervisor.actors == []


async def test_an_actor_can_stop_its_own_supervisor(autojump_clock: trio.testing.MockClock) -> None:
    class Quitter(Actor):
        def __init__(self, supervisor: Supervisor) -> None:
            super().__init__("quitter")
            self.supervisor = supervisor

        async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            task_status.started()
            await trio.sleep(3)
            self.supervisor.stop()
            await self.wait_stopping()

    async with Supervisor(grace=10.0) as supervisor:
        bystander = Bystander()
        supervisor.start_soon(Quitter(supervisor))
        supervisor.start_soon(bystander)
        await supervisor.wait_stopped()
        assert supervisor.stopping
    assert bystander.ended == "stopped"


async def test_a_stop_interrupts_the_restart_backoff(autojump_clock: trio.testing.MockClock) -> None:
    actor = Flaky("flaky", failures=1)
    t0 = trio.current_time()
    async with Supervisor(policy=RestartPolicy(initial_delay=100.0), grace=1000.0) as supervisor:
        supervisor.start_soon(actor)
        await trio.sleep(1)
    assert trio.current_time() - t0 == pytest.approx(1.0)
    assert len(actor.starts) == 1


async def test_a_failure_while_stopping_is_not_restarted_and_propagates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class BadStopper(Actor):
        runs = 0

        async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            self.runs += 1
            task_status.started()
            await self.wait_stopping()
            raise RuntimeError("lost the lease while draining")

    actor = BadStopper("bad")
    with pytest.raises(RuntimeError, match="lost the lease"):
        async with Supervisor() as supervisor:
            await supervisor.start(actor)
    assert actor.runs == 1


async def test_an_error_in_the_body_comes_out_bare_after_stopping_the_actors(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bystander = Bystander()
    with pytest.raises(KeyError):
        async with Supervisor() as supervisor:
            await supervisor.start(bystander)
            raise KeyError("body")
    assert bystander.ended == "stopped"


async def test_start_is_refused_outside_async_with_and_after_a_stop() -> None:
    supervisor = Supervisor()
    with pytest.raises(RuntimeError, match="not running"):
        supervisor.start_soon(Bystander())
    async with supervisor:
        supervisor.stop()
        with pytest.raises(RuntimeError, match="stopping"):
            await supervisor.start(Bystander())
    with pytest.raises(RuntimeError, match="already entered"):
        async with supervisor:
            pass


async def test_the_same_actor_cannot_run_twice_at_once() -> None:
    actor = Bystander()
    async with Supervisor() as supervisor:
        await supervisor.start(actor)
        with pytest.raises(RuntimeError, match="already running"):
            supervisor.start_soon(actor)


# -- policy ---------------------------------------------------------------------------------------------


def test_restart_policy_delays_grow_and_cap() -> None:
    policy = RestartPolicy()
    assert [policy.delay(n) for n in range(1, 10)] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0]
    assert RestartPolicy(max_delay=3.0).delay(10_000) == 3.0  # no OverflowError


@pytest.mark.parametrize(
    "kwargs",
    [{"initial_delay": -1}, {"factor": 0.5}, {"max_delay": -1}, {"max_restarts": -1}, {"window": 0}],
)
def test_restart_policy_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RestartPolicy(**kwargs)  # type: ignore[arg-type]


def test_grace_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="grace"):
        Supervisor(grace=-1)


# -- model-based: the restart schedule matches a reference model ------------------------------------------


def _expected_schedule(runs_before_failing: list[int], policy: RestartPolicy) -> tuple[list[float], bool]:
    """Reference model: when each run starts, and whether the supervisor gives up."""
    now = 0.0
    failures: list[float] = []
    starts: list[float] = []
    for ran_for in runs_before_failing:
        starts.append(now)
        now += ran_for
        failures = [t for t in failures if t > now - policy.window] + [now]
        if len(failures) > policy.max_restarts:
            return starts, True
        now += policy.delay(len(failures))
    starts.append(now)  # the run after the last failure stays healthy
    return starts, False


@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(
    runs_before_failing=st.lists(st.integers(min_value=0, max_value=40), max_size=12),
    max_restarts=st.integers(min_value=0, max_value=6),
    window=st.integers(min_value=1, max_value=60),
)
def test_restart_schedule_matches_the_reference_model(
    runs_before_failing: list[int], max_restarts: int, window: int
) -> None:
    # Whole seconds and power-of-two delays keep every time exact in binary floating point.
    policy = RestartPolicy(
        initial_delay=0.5, factor=2.0, max_delay=8.0, max_restarts=max_restarts, window=float(window)
    )
    expected_starts, expected_give_up = _expected_schedule(runs_before_failing, policy)

    class Scripted(Actor):
        def __init__(self) -> None:
            super().__init__("scripted")
            self.starts: list[float] = []
            self.healthy = trio.Event()

        async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
            run = len(self.starts)
            self.starts.append(trio.current_time())
            task_status.started()
            if run < len(runs_before_failing):
                await trio.sleep(runs_before_failing[run])
                raise ValueError(f"run {run} failed")
            self.healthy.set()
            await self.wait_stopping()

    actor = Scripted()
    gave_up = False

    async def main() -> None:
        nonlocal gave_up
        t0 = trio.current_time()
        try:
            async with Supervisor(policy=policy) as supervisor:
                supervisor.start_soon(actor)
                await actor.healthy.wait()
        except SupervisorGaveUpError:
            gave_up = True
        actor.starts[:] = [t - t0 for t in actor.starts]

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert (actor.starts, gave_up) == (expected_starts, expected_give_up)
