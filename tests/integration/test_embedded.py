"""The embedded Postgres default: started when no DSN is set, reused, and stopped by its last user."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent("""
    import trio
    from hotmesh_actors.embedded import data_dir, start_embedded, stop_embedded
    from hotmesh_actors.store.driver import Database

    async def main():
        dsn = start_embedded()
        async with Database.open(dsn) as db:
            print("version", await db.fetchval("SHOW server_version_num"))
            print("data_dir", await db.fetchval("SHOW data_directory"))
        stop_embedded()

    trio.run(main)
""")


def _run(data: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HOTMESH_DSN"}
    env["HMSH_EMBEDDED_DIR"] = str(data)
    return subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=180,
                          check=False)


@pytest.mark.skipif(sys.platform == "win32", reason="unix sockets")
def test_embedded_postgres_starts_serves_reuses_and_stops(tmp_path: Path) -> None:
    data = tmp_path / "pgdata"
    first = _run(data)
    assert first.returncode == 0, first.stderr
    assert "version 18" in first.stdout
    assert str(data) in first.stdout  # it really used the directory it was given
    assert (data / "PG_VERSION").exists()
    assert not (data / "postmaster.pid").exists()  # stopped when the process let go of it
    second = _run(data)  # reuses the initialised directory
    assert second.returncode == 0, second.stderr
    assert not (data / "postmaster.pid").exists()


def test_embedded_failure_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = _run(blocker / "pgdata")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "DatabaseUnavailableError" in last and "could not start the embedded Postgres" in last
