"""Helpers the database benchmarks share: which server, a scratch database, pgbench, commit counts, the JSON line.

Every benchmark here answers its question as a ratio against a reference measured in the same run on the
same server, because the machine (2 cores shared with Postgres and other work) makes absolute figures drift.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg

from hotmesh_actors.store.driver import with_database


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """The `--dsn` flag every database benchmark takes (default: HOTMESH_DSN, else the embedded server)."""
    parser.add_argument(
        "--dsn",
        default=None,
        help="Postgres server URL; default HOTMESH_DSN, else the embedded Postgres the library starts",
    )


@contextmanager
def server(dsn: str | None) -> Iterator[tuple[str, str]]:
    """Yield (server DSN, label): the explicit DSN, else HOTMESH_DSN, else the embedded default (kept up)."""
    chosen = dsn or os.environ.get("HOTMESH_DSN")
    if chosen:
        yield chosen, "external"
        return
    from hotmesh_actors.embedded import start_embedded, stop_embedded

    embedded = start_embedded()
    try:
        yield embedded, "embedded"
    finally:
        stop_embedded()


async def _admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def scratch_database(server_dsn: str, prefix: str) -> Iterator[str]:
    """A fresh database on the server for one benchmark run, dropped afterwards; yields its DSN."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(server_dsn, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(server_dsn, name)
    finally:
        asyncio.run(_admin(server_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _server_facts(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        version = await conn.fetchval("SHOW server_version")
        sync = await conn.fetchval("SHOW synchronous_commit")
        fsync = await conn.fetchval("SHOW fsync")
    finally:
        await conn.close()
    return {"postgres": version, "synchronous_commit": sync, "fsync": fsync}


def server_facts(dsn: str) -> dict[str, Any]:
    """Version and durability settings of the server, for the JSON line (figures depend on them)."""
    facts = asyncio.run(_server_facts(dsn))
    facts["cpus"] = os.cpu_count()
    return facts


async def _xact_commit(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        value: int = await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await conn.close()
    return value


def xact_commit(dsn: str, *, settle_s: float = 0.3) -> int:
    """`pg_stat_database.xact_commit` of the DSN's database.

    Backends flush their counters at most once a second, and at exit; callers close their connections
    first, and this waits `settle_s` so exiting backends have flushed. Reading costs one commit itself.
    """
    time.sleep(settle_s)
    return asyncio.run(_xact_commit(dsn))


_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)
_DONE = re.compile(r"^number of transactions actually processed: (\d+)", re.MULTILINE)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE)


def pgbench(
    dsn: str,
    script: str,
    *,
    clients: int,
    transactions: int | None = None,
    seconds: float | None = None,
    variables: dict[str, str] | None = None,
) -> dict[str, float]:
    """Run a custom pgbench script (prepared statements, no vacuum); return tps and transactions done.

    Exactly one of `transactions` (per client, `-t`) or `seconds` (`-T`, whole seconds) is given.
    Raises RuntimeError with pgbench's stderr when it fails or reports failed transactions.
    """
    binary = shutil.which("pgbench") or "/usr/bin/pgbench"
    with tempfile.NamedTemporaryFile("w", suffix=".sql", prefix="hmsh_bench_", delete=False) as handle:
        handle.write(script)
        path = handle.name
    try:
        command = [binary, "-n", "-M", "prepared", "-f", path, "-c", str(clients), "-j", str(min(clients, 2))]
        if transactions is not None:
            command += ["-t", str(transactions)]
        else:
            command += ["-T", str(max(1, round(seconds or 1)))]
        for name, value in (variables or {}).items():
            command += ["-D", f"{name}={value}"]
        command.append(dsn)
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    finally:
        os.unlink(path)
    tps = _TPS.search(done.stdout)
    count = _DONE.search(done.stdout)
    failed = _FAILED.search(done.stdout)
    if done.returncode != 0 or tps is None or count is None or (failed and int(failed.group(1))):
        raise RuntimeError(f"pgbench failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return {"tps": float(tps.group(1)), "transactions": int(count.group(1))}


def rounded(value: float) -> float:
    """Figures to 3 significant-ish digits: rates as integers, ratios to 3 decimals."""
    return round(value) if value >= 100 else round(value, 3)


def emit(record: dict[str, Any]) -> None:
    """Print the benchmark's one JSON line (habit 8)."""
    record.setdefault("date", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    print(json.dumps(record), flush=True)
