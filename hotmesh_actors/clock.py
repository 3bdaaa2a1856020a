"""The real clock and randomness, packaged as a PipeEnv for the engine (core/ never reads them)."""

from __future__ import annotations

import os
import random
import secrets
import time

from hotmesh_actors.core.pipe.env import PipeEnv
from hotmesh_actors.errors import ConfigurationError

DEFAULT_FIDELITY_SECONDS = 5


def fidelity_seconds() -> int:
    """Timer granularity from `HMSH_FIDELITY_SECONDS` (default 5); must be a positive integer."""
    raw = os.environ.get("HMSH_FIDELITY_SECONDS", "").strip()
    if not raw:
        return DEFAULT_FIDELITY_SECONDS
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"HMSH_FIDELITY_SECONDS must be a whole number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"HMSH_FIDELITY_SECONDS must be positive, got {value}")
    return value


def now_ms() -> int:
    """Milliseconds since the Unix epoch, as JavaScript's Date.now() gives them."""
    return time.time_ns() // 1_000_000


def system_env(fidelity: float | None = None) -> PipeEnv:
    """A PipeEnv read from this process: wall clock now, `random.random`, and the timer fidelity
    (`fidelity` when given — a mesh passes its Settings' — else HMSH_FIDELITY_SECONDS)."""
    seconds = fidelity_seconds() if fidelity is None else max(1, int(fidelity))
    return PipeEnv(now_ms=now_ms(), random=random.random, fidelity_seconds=seconds)


def new_guid() -> str:
    """A HotMesh-style id: 'H' followed by 22 url-safe random characters."""
    return "H" + secrets.token_urlsafe(17)[:22]
