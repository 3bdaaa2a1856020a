"""ThrottleGate: the pause a consumer loop takes before each claim, changed live by quorum messages."""

from __future__ import annotations

import trio

__all__ = ["ThrottleGate"]

CLOSED = -1
MAX_DELAY_MS = 2_147_483_647  # the largest delay HotMesh accepts (a signed 32-bit millisecond count)


def _check_delay(delay_ms: int) -> int:
    if isinstance(delay_ms, bool) or not isinstance(delay_ms, int) or not CLOSED <= delay_ms <= MAX_DELAY_MS:
        raise ValueError(
            f"throttle delay must be an int from -1 (closed) to {MAX_DELAY_MS} milliseconds, got {delay_ms!r}"
        )
    return delay_ms


class ThrottleGate:
    """A gate a consumer passes before each claim: open (0), delayed (N ms before each claim), or closed (-1).

    `set` changes the delay live and re-evaluates every waiter at once: the delay is counted from the
    moment `wait` was called, so a waiter in a long delay proceeds promptly after ``set(0)`` (or after a
    shorter delay that has already elapsed), and a closed gate holds waiters until it is set to >= 0.

    Example::

        gate = ThrottleGate()
        while not self.stopping:
            with self.cancel_on_stop():
                await gate.wait()
            ...claim...
        # elsewhere, on a quorum throttle message:
        gate.set(-1)     # pause claiming;  gate.set(0) resumes it
    """

    CLOSED = CLOSED
    MAX_DELAY_MS = MAX_DELAY_MS

    def __init__(self, delay_ms: int = 0) -> None:
        """Create a gate with an initial delay (default 0: open).

        Raises:
            ValueError: if *delay_ms* is not an int in [-1, 2147483647].
        """
        self._delay_ms = _check_delay(delay_ms)
        self._changed = trio.Event()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self._delay_ms} ms"
        return f"<ThrottleGate {state}>"

    @property
    def delay_ms(self) -> int:
        """The current delay in milliseconds; -1 means closed."""
        return self._delay_ms

    @property
    def closed(self) -> bool:
        """True while the gate is closed (delay -1)."""
        return self._delay_ms == CLOSED

    def set(self, delay_ms: int) -> None:
        """Change the delay (-1 closes the gate) and wake every waiter to re-check it.

        Raises:
            ValueError: if *delay_ms* is not an int in [-1, 2147483647]; the gate is left unchanged.
        """
        self._delay_ms = _check_delay(delay_ms)
        self._changed.set()
        self._changed = trio.Event()

    async def wait(self) -> None:
        """Return once the gate is open and the current delay has passed since this call began.

        Always a checkpoint. Cancellation: cancelling the wait just ends it (raising `trio.Cancelled`); the
        gate is not affected. Wrap it in `Actor.cancel_on_stop` so a stop does not wait out a long delay.
        """
        started_at = trio.current_time()
        await trio.lowlevel.checkpoint()
        while True:
            changed = self._changed
            if self._delay_ms == CLOSED:
                await changed.wait()
                continue
            deadline = started_at + self._delay_ms / 1000
            if trio.current_time() >= deadline:
                return
            with trio.move_on_at(deadline):
                await changed.wait()
