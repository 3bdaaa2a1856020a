"""The library's logging: one logger tree under `hotmesh_actors`, its level set by `HMSH_LOGLEVEL`.

Every module logs through `logging.getLogger("hotmesh_actors.<area>")` (`mesh.engine`, `mesh.worker`,
`store`, `deploy`, `chaos` …) and passes what the record is about as `extra=` fields with these names, so
a JSON formatter or a filter can rely on them:

- `app_id` — the app (HotMesh's `appId`);
- `job_id` — the job (a message's `jid`);
- `topic` — the worker topic or subscription topic (a worker stream's name);
- `activity_id` — the activity (a message's `aid`);

plus, where they apply, `message_id` (a stream row), `channel` (a LISTEN channel), `actor`/`supervisor`.

The library never prints and never installs a handler that writes anything: it adds one `NullHandler` to
`hotmesh_actors` (so an app without logging configuration sees nothing rather than Python's last-resort
output), and the level of `hotmesh_actors` is the app's to set — or ours, when `Settings.log_level` /
`HMSH_LOGLEVEL` says so. The `hotmesh` command sends the records to standard error.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Final

from hotmesh_actors.errors import ConfigurationError

LIBRARY_LOGGER: Final = "hotmesh_actors"
"""The root of the library's logger tree; `HMSH_LOGLEVEL` sets its level."""

SILENT: Final = logging.CRITICAL + 10
"""The level `silent` maps to: above every level the library logs at."""

LOG_LEVELS: Final[dict[str, int]] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "silent": SILENT,
}
"""`HMSH_LOGLEVEL` values (case-insensitive; `warning` is accepted beside HotMesh's `warn`)."""

LOG_FIELDS: Final = frozenset({"app_id", "job_id", "topic", "activity_id", "message_id", "channel", "actor",
                               "supervisor", "restart", "delay", "data_dir", "pid"})
"""The `extra=` keys library records may carry (tests/unit/test_logging.py holds every call to them)."""


def check_log_level(name: str) -> str:
    """`name` normalised (stripped, lower case) if it is a level of LOG_LEVELS; ConfigurationError otherwise."""
    normalised = name.strip().lower()
    if normalised not in LOG_LEVELS:
        raise ConfigurationError(f"log level {name!r} is not one of debug, info, warn, error, silent "
                                 "(HMSH_LOGLEVEL / Settings.log_level)")
    return normalised


def apply_log_level(name: str | None, env: Mapping[str, str] | None = None) -> None:
    """Set the `hotmesh_actors` logger's level: `name` if given, else `HMSH_LOGLEVEL`, else leave it alone.

    Leaving it alone means the app's own logging configuration decides (the default). Raises
    ConfigurationError for a name that is not a level.
    """
    env = os.environ if env is None else env
    chosen = name if name is not None else (env.get("HMSH_LOGLEVEL", "").strip() or None)
    if chosen is None:
        return
    logging.getLogger(LIBRARY_LOGGER).setLevel(LOG_LEVELS[check_log_level(chosen)])


def _install_null_handler() -> None:
    library = logging.getLogger(LIBRARY_LOGGER)
    if not any(isinstance(handler, logging.NullHandler) for handler in library.handlers):
        library.addHandler(logging.NullHandler())


_install_null_handler()
