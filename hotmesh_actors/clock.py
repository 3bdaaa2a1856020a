"""The real clock and randomness, packaged as a PipeEnv for the engine (core/ never reads them)."""

from __future__ import annotations

import os
import random
import secrets
import time

from hotmesh_actors.core.pipe.env import PipeEnv
from hotmesh_actors.errors import ConfigurationError

DEFAULT_FIDELITY_SECONDS = 0
"""Timers fire at their due time (HotMesh's 5 s slots stay available: HMSH_FIDELITY_SECONDS=5)."""


def fidelity_seconds() -> int:
    """Timer granularity from `HMSH_FIDELITY_SECONDS` (default 0: no slots); a whole number of seconds ≥ 0."""
    raw = os.environ.get("HMSH_FIDELITY_SECONDS", "").strip()
    if not raw:
        return DEFAULT_FIDELITY_SECONDS
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"HMSH_FIDELITY_SECONDS must be a whole number of seconds, got {raw!r}") from None
    if value < 0:
        raise ConfigurationError(f"HMSH_FIDELITY_SECONDS must not be negative, got {value}")
    return value


def now_ms() -> int:
    """Milliseconds since the Unix epoch, as JavaScript's Date.now() gives them."""
    return time.time_ns() // 1_000_000


def system_env(fidelity: float | None = None) -> PipeEnv:
    """A PipeEnv read from this process: wall clock now, `random.random`, and the timer fidelity
    (`fidelity` when given — a mesh passes its Settings' — else HMSH_FIDELITY_SECONDS). Pipes see at least
    1 s (`@cron.nextDelay` never answers less)."""
    seconds = fidelity_seconds() if fidelity is None else int(fidelity)
    return PipeEnv(now_ms=now_ms(), random=random.random, fidelity_seconds=max(1, seconds))


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_guid_random = random.Random(secrets.randbits(128))
"""Guids must be unique, not secret: a PRNG seeded from the OS (per process, re-seeded in a forked child)
is 20x cheaper than reading the OS's random source for each one, and a step mints several."""


def _reseed_after_fork() -> None:
    _guid_random.seed(secrets.randbits(128))


os.register_at_fork(after_in_child=_reseed_after_fork)


def new_guid() -> str:
    """A HotMesh-style id: 'H' followed by 22 url-safe random characters (132 random bits)."""
    bits = _guid_random.getrandbits(132)
    chars = [_ALPHABET[(bits >> shift) & 63] for shift in range(0, 132, 6)]
    return "H" + "".join(chars)
