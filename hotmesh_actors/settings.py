"""Settings: explicit keyword arguments first, then `HOTMESH_DSN` / `HMSH_*` variables, then defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs

from hotmesh_actors.logs import check_log_level


def _env_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as err:
        from hotmesh_actors.errors import ConfigurationError

        raise ConfigurationError(f"{name}={raw!r} is not a number") from err


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    from hotmesh_actors.errors import ConfigurationError

    raise ConfigurationError(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def _check_log_level(_instance: object, _attribute: object, value: str | None) -> None:
    if value is not None:
        check_log_level(value)


@attrs.frozen(kw_only=True)
class Settings:
    """Every tunable of a mesh in one place, with HotMesh's defaults.

    `dsn=None` means: use `HOTMESH_DSN`, else start the embedded Postgres.
    """

    dsn: str | None = None
    reservation_timeout_s: float = 30.0
    """A claimed message whose lease is not renewed for this long may be claimed by another consumer."""
    heartbeat_interval_s: float | None = None
    """How often a running handler renews its lease; default max(1, reservation_timeout_s / 2)."""
    batch_size: int = 10
    fallback_poll_s: float = 30.0
    """Slow poll that backs up LISTEN/NOTIFY, which may lose notifications across reconnects."""
    fidelity_seconds: float = 0.0
    """Timer slots in seconds (HotMesh: 5). 0, the default, fires each timer at its due time."""
    poison_threshold: int = 5
    pool_size: int = 8
    max_cycles: int = 10_000
    engine_concurrency: int = 2
    """Concurrent engine steps per process (each its own transaction)."""
    expire_default_s: float = 1.0
    """Seconds a finished job stays live when its graph sets no `expire`."""
    signal_expire_s: float = 3600.0
    pending_signal_expire_s: float = 600.0
    strict_deploy: bool = False
    """Refuse keys HotMesh's compiler ignores at deploy (default: warn and drop them); an explicit
    `deploy(..., strict=...)` wins over this."""
    log_level: str | None = attrs.field(default=None, validator=_check_log_level)
    """`debug|info|warn|error|silent`: the level of the `hotmesh_actors` logger, set when a mesh opens
    (`HMSH_LOGLEVEL`). None leaves the level as the app's logging configuration has it."""

    @property
    def heartbeat_s(self) -> float:
        """The effective lease-renewal interval."""
        if self.heartbeat_interval_s is not None:
            return self.heartbeat_interval_s
        return max(1.0, self.reservation_timeout_s / 2)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from environment variables, with explicit keyword overrides winning."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            "dsn": env.get("HOTMESH_DSN") or None,
            "reservation_timeout_s": _env_float(env, "HMSH_RESERVATION_TIMEOUT_S", 30.0),
            "batch_size": int(_env_float(env, "HMSH_BATCH_SIZE", 10)),
            "fallback_poll_s": _env_float(env, "HMSH_FALLBACK_POLL_S", 30.0),
            "fidelity_seconds": _env_float(env, "HMSH_FIDELITY_SECONDS", 0.0),
            "poison_threshold": int(_env_float(env, "HMSH_POISON_MESSAGE_THRESHOLD", 5)),
            "pool_size": int(_env_float(env, "HMSH_POOL_SIZE", 8)),
            "max_cycles": int(_env_float(env, "HMSH_MAX_CYCLES", 10_000)),
            "engine_concurrency": int(_env_float(env, "HMSH_ENGINE_CONCURRENCY", 2)),
            "expire_default_s": _env_float(env, "HMSH_EXPIRE_JOB_SECONDS", 1.0),
            "signal_expire_s": _env_float(env, "HMSH_SIGNAL_EXPIRE", 3600.0),
            "pending_signal_expire_s": _env_float(env, "HMSH_PENDING_SIGNAL_EXPIRE", 600.0),
            "strict_deploy": _env_bool(env, "HMSH_STRICT_DEPLOY", False),
            "log_level": env.get("HMSH_LOGLEVEL", "").strip() or None,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
