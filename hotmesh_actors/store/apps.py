"""Deployed app versions: store a compiled graph's source document, activate a version, read the active one."""

from __future__ import annotations

import json

import trio

from hotmesh_actors.core.graph import AppVersion, compile_document
from hotmesh_actors.core.graph.frozen import thaw
from hotmesh_actors.errors import NotActivatedError
from hotmesh_actors.store.driver import Database
from hotmesh_actors.store.queries import bind


def _sql(name: str) -> str:
    return bind("apps", name)


async def save_version(db: Database, app: AppVersion) -> None:
    """Store a compiled version (status `deployed`; not active until activated)."""
    definition = json.dumps(thaw(app.document))
    await db.execute(_sql("ensure_app"), app.app_id, app.version)
    await db.execute(_sql("save_version"), app.app_id, app.version, definition)


async def activate_version(db: Database, app_id: str, version: str) -> bool:
    """Make `version` the active one; False when that version was never deployed."""
    rows = await db.fetch(_sql("activate"), app_id, version)
    return bool(rows)


async def register_connection(db: Database, guid: str, app_id: str, role: str, version: str | None) -> None:
    """Record this point of presence in `public.hmsh_connections` (one row per engine or worker guid)."""
    await db.execute(_sql("register_connection"), guid, app_id, role, version)


class VersionCache:
    """The active AppVersion of one app, compiled once per version and refreshed on demand."""

    def __init__(self, db: Database, app_id: str) -> None:
        self.db = db
        self.app_id = app_id
        self._current: AppVersion | None = None
        self._compiled: dict[str, AppVersion] = {}
        self._lock = trio.Lock()
        self._first_read = trio.Lock()

    @property
    def current(self) -> AppVersion | None:
        """The cached active version (None before the first successful read)."""
        return self._current

    async def active(self) -> AppVersion:
        """The active version; raises NotActivatedError when none is active yet."""
        if self._current is None:
            async with self._first_read:  # many first callers at once share one read
                if self._current is None:
                    await self.refresh()
        if self._current is None:
            raise NotActivatedError(f"app {self.app_id!r} has no active version: deploy and activate one")
        return self._current

    async def refresh(self) -> AppVersion | None:
        """Re-read which version is active (after an activation, or a message naming an unknown activity)."""
        async with self._lock:
            row = await self.db.fetchrow(_sql("active_version"), self.app_id)
            if row is None:
                return None
            version = row["version"]
            app = self._compiled.get(version)
            if app is None:
                app = compile_document(json.loads(row["definition"]))
                self._compiled[version] = app
            self._current = app
            return app

    def remember(self, app: AppVersion) -> None:
        """Cache a version this process compiled itself (deploy), so activating it needs no recompile."""
        self._compiled[app.version] = app
