"""ThrottleGate: delay before each claim, closed until reopened, changed live (under a MockClock)."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from hotmesh_actors.actors import ThrottleGate


async def _time_to_pass(gate: ThrottleGate) -> float:
    start = trio.current_time()
    await gate.wait()
    return trio.current_time() - start


async def _set_after(gate: ThrottleGate, seconds: float, delay_ms: int) -> None:
    await trio.sleep(seconds)
    gate.set(delay_ms)


async def test_an_open_gate_passes_at_once(autojump_clock: trio.testing.MockClock) -> None:
    assert await _time_to_pass(ThrottleGate()) == 0


async def test_a_delayed_gate_waits_the_delay_before_each_pass(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gate = ThrottleGate(250)
    assert await _time_to_pass(gate) == pytest.approx(0.25)
    assert await _time_to_pass(gate) == pytest.approx(0.25)


async def test_a_closed_gate_holds_waiters_until_reopened(autojump_clock: trio.testing.MockClock) -> None:
    gate = ThrottleGate(-1)
    assert gate.closed
    passed: list[float] = []

    async def waiter() -> None:
        passed.append(await _time_to_pass(gate))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        nursery.start_soon(waiter)
        await trio.sleep(3600)  # the clock jumps; the gate must still be shut
        assert passed == []
        gate.set(0)
    assert passed == [pytest.approx(3600), pytest.approx(3600)]


async def test_set_zero_releases_a_waiter_in_a_long_delay_promptly(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gate = ThrottleGate(ThrottleGate.MAX_DELAY_MS)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_set_after, gate, 1.0, 0)
        assert await _time_to_pass(gate) == pytest.approx(1.0)


async def test_a_shorter_delay_counts_from_when_the_wait_began(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gate = ThrottleGate(10_000)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_set_after, gate, 2.0, 5_000)
        assert await _time_to_pass(gate) == pytest.approx(5.0)
    gate.set(10_000)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_set_after, gate, 2.0, 1_000)  # already elapsed: pass now
        assert await _time_to_pass(gate) == pytest.approx(2.0)


async def test_a_longer_delay_extends_the_current_wait(autojump_clock: trio.testing.MockClock) -> None:
    gate = ThrottleGate(1_000)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_set_after, gate, 0.5, 4_000)
        assert await _time_to_pass(gate) == pytest.approx(4.0)


async def test_closing_mid_delay_holds_the_waiter_until_reopened(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gate = ThrottleGate(1_000)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_set_after, gate, 0.5, -1)
        nursery.start_soon(_set_after, gate, 3.0, 1_000)
        assert await _time_to_pass(gate) == pytest.approx(3.0)


async def test_wait_is_a_checkpoint_even_when_open() -> None:
    gate = ThrottleGate(0)
    with trio.CancelScope() as scope:
        scope.cancel()
        await gate.wait()
    assert scope.cancelled_caught


@pytest.mark.parametrize("bad", [-2, ThrottleGate.MAX_DELAY_MS + 1, 1.5, True, "10"])
def test_delay_outside_the_range_is_refused_and_the_gate_is_unchanged(bad: object) -> None:
    with pytest.raises(ValueError, match="throttle delay"):
        ThrottleGate(bad)  # type: ignore[arg-type]
    gate = ThrottleGate(7)
    with pytest.raises(ValueError, match="throttle delay"):
        gate.set(bad)  # type: ignore[arg-type]
    assert gate.delay_ms == 7


def test_the_extremes_are_accepted() -> None:
    assert ThrottleGate(-1).closed
    assert ThrottleGate(2147483647).delay_ms == 2147483647
