"""Mesh processes SIGKILLed at random while 5-step jobs run: every job completes, every step's effect once.

Three OS processes each run a HotMesh (engine + the five `chaos.s<k>` workers, see `mesh_proc.py`) for
one app. The test process publishes the jobs (a HotMesh with `engine=False`, paced so the run spans many
kills) while a controller SIGKILLs a random process every ~`HMSH_CHAOS_KILL_S` seconds and restarts it,
until every job is complete (`jobs.status = 0`) or the deadline passes.

What is asserted, and why it is what the library can promise:

- every job completes, with no message dead-lettered and no stream row left unacked;
- the engine is exactly-once per step: each (job, activity) got exactly one worker request and exactly one
  response — the engine commits a step's reads, writes, publishes and ack together, and a worker's reply
  commits with its ack only while it still holds the lease;
- the callback's side effect appears exactly once per (job, activity) in `chaos_effects`, a table with NO
  unique key: the callback returns it as `StreamResponse(statements=[...])`, committed in the same
  transaction as its reply and the ack of its request. The callback itself runs at least once
  (`chaos_attempts` counts the re-runs of requests whose process died after the callback started and
  before its ack): those re-runs leave no second effect.

Knobs (environment): HMSH_CHAOS_JOBS (300), HMSH_CHAOS_KILL_S (2.0), HMSH_CHAOS_PROCS (3),
HMSH_CHAOS_DEADLINE_S (240), HMSH_CHAOS_PUBLISH_S (seconds to spread publishing over, 20),
HMSH_CHAOS_WORK_S (callback sleep after its effect, 0.02), HMSH_CHAOS_SEED (random).
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
import trio

from hotmesh_actors import HotMesh
from hotmesh_actors.store.driver import Database
from hotmesh_actors.store.migrations import migrate_app
from hotmesh_actors.store.queries import app_schema, quote_ident
from tests.chaos.mesh_proc import CHAOS_SETTINGS, STEPS, graph_yaml, side_tables_ddl

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.chaos

log = logging.getLogger("hotmesh_actors.tests.chaos")


def _env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


@attrs.define
class Fleet:
    """The mesh processes, kept at `size` by restarting whichever one is killed."""

    dsn: str
    app_id: str
    logs: Path
    work_s: float
    size: int
    procs: list[subprocess.Popen[bytes]] = attrs.field(factory=list)
    kills: int = 0
    spawned: int = 0

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.spawned += 1
        out = (self.logs / f"mesh-{self.spawned}.log").open("wb")
        try:
            return subprocess.Popen(
                [sys.executable, "-m", "tests.chaos.mesh_proc", self.dsn, self.app_id, str(self.work_s)],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        finally:
            out.close()

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.size)]

    def kill_and_restart(self, rng: random.Random) -> None:
        slot = rng.randrange(len(self.procs))
        victim = self.procs[slot]
        if victim.poll() is None:
            victim.send_signal(signal.SIGKILL)
            self.kills += 1
        victim.wait(timeout=10)
        self.procs[slot] = self._spawn()

    async def keep_killing(self, rng: random.Random, interval_s: float) -> None:
        while True:
            await trio.sleep(rng.uniform(0.5 * interval_s, 1.5 * interval_s))
            self.kill_and_restart(rng)

    def crashed(self) -> list[int]:
        """Exit codes of processes that died without being killed (a bug in the mesh process)."""
        return [code for code in (proc.poll() for proc in self.procs) if code is not None]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def tail(self, lines: int = 30) -> str:
        newest = sorted(self.logs.glob("mesh-*.log"), key=lambda p: int(p.stem.split("-")[1]))[-3:]
        return "\n".join(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
                         for path in newest)


async def _publish(mesh: HotMesh, total: int, spread_s: float, jids: list[str]) -> None:
    """Publish `total` jobs evenly over `spread_s` seconds (so kills land throughout the run)."""
    pause = spread_s / total if total else 0.0
    for n in range(total):
        jids.append(await mesh.pub("chaos.sequence", {"n": n}))
        await trio.sleep(pause)


async def _value(db: Database, sql: str) -> int:
    value: int = await db.fetchval(sql)
    return value


async def test_sigkilled_mesh_processes_complete_every_job_with_each_effect_once(
    db: Database, pg_dsn: str, app_id: str, tmp_path: Path
) -> None:
    total = int(_env("HMSH_CHAOS_JOBS", 300))
    interval_s = _env("HMSH_CHAOS_KILL_S", 2.0)
    deadline_s = _env("HMSH_CHAOS_DEADLINE_S", 240.0)
    spread_s = _env("HMSH_CHAOS_PUBLISH_S", 20.0)
    seed = int(_env("HMSH_CHAOS_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    schema = quote_ident(app_schema(app_id))

    await migrate_app(db, app_id)
    for ddl in side_tables_ddl(app_id):
        await db.execute(ddl)
    fleet = Fleet(dsn=pg_dsn, app_id=app_id, logs=tmp_path, work_s=_env("HMSH_CHAOS_WORK_S", 0.02),
                  size=int(_env("HMSH_CHAOS_PROCS", 3)))
    jids: list[str] = []
    started = trio.current_time()
    incomplete = total
    try:
        async with HotMesh.open(app_id=app_id, dsn=pg_dsn, engine=False, settings=CHAOS_SETTINGS) as mesh:
            await mesh.deploy(graph_yaml("sequence5", app_id))
            assert await mesh.activate("1")
            fleet.start()
            with trio.move_on_after(deadline_s):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(fleet.keep_killing, rng, interval_s)
                    await _publish(mesh, total, spread_s, jids)
                    while True:
                        incomplete = await _value(db, f"SELECT count(*) FROM {schema}.jobs WHERE status <> 0")
                        if incomplete == 0:
                            break
                        await trio.sleep(0.2)
                    nursery.cancel_scope.cancel()
            completed_s = trio.current_time() - started
            assert len(jids) == total and incomplete == 0, (
                f"{incomplete} of {len(jids)} published jobs incomplete after {deadline_s}s "
                f"(seed {seed}, {fleet.kills} kills)\n{fleet.tail()}")
            # no more kills: the survivors must settle every stream row (acks of late duplicates, etc.)
            unacked_sql = (f"SELECT (SELECT count(*) FROM {schema}.engine_streams WHERE expired_at IS NULL)"
                           f" + (SELECT count(*) FROM {schema}.worker_streams WHERE expired_at IS NULL)")
            with trio.move_on_after(3 * CHAOS_SETTINGS.reservation_timeout_s + 10):
                while await _value(db, unacked_sql):
                    await trio.sleep(0.2)
            unacked = await _value(db, unacked_sql)
            crashed = fleet.crashed()
    finally:
        fleet.stop()

    steps = total * STEPS
    jobs_done = await _value(db, f"SELECT count(*) FROM {schema}.jobs WHERE status = 0")
    dead = await _value(db, f"SELECT (SELECT count(*) FROM {schema}.engine_streams WHERE dead_lettered_at "
                            f"IS NOT NULL) + (SELECT count(*) FROM {schema}.worker_streams WHERE dead_lettered_at "
                            "IS NOT NULL)")
    requests = await _value(db, f"SELECT count(*) FROM {schema}.worker_streams")
    request_pairs = await _value(db, f"SELECT count(DISTINCT (jid, aid)) FROM {schema}.worker_streams")
    responses = await _value(db, f"SELECT count(*) FROM {schema}.engine_streams WHERE msg_type = 'response'")
    response_pairs = await _value(
        db, f"SELECT count(DISTINCT (jid, aid)) FROM {schema}.engine_streams WHERE msg_type = 'response'")
    redelivered = await _value(
        db, f"SELECT count(*) FROM {schema}.worker_streams WHERE delivery_count > 1")
    engine_redelivered = await _value(
        db, f"SELECT count(*) FROM {schema}.engine_streams WHERE delivery_count > 1")
    effects = await _value(db, f"SELECT count(*) FROM {schema}.chaos_effects")
    effect_pairs = await _value(db, f"SELECT count(DISTINCT (jid, activity)) FROM {schema}.chaos_effects")
    attempts = await _value(db, f"SELECT count(*) FROM {schema}.chaos_attempts")
    attempted_pairs = await _value(db, f"SELECT count(DISTINCT (jid, activity)) FROM {schema}.chaos_attempts")
    missing = await db.fetch(
        f"SELECT j AS jid FROM unnest($1::text[]) AS j WHERE (SELECT count(*) FROM {schema}.chaos_effects e "
        "WHERE e.jid = j) <> $2", jids, STEPS)
    summary = (f"jobs {jobs_done}/{total}, kills {fleet.kills}, spawned {fleet.spawned}, seed {seed}, "
               f"{completed_s:.1f}s to complete; callbacks run {attempts} times for {steps} steps "
               f"({attempts - attempted_pairs} re-runs); worker requests redelivered {redelivered}, "
               f"engine messages redelivered {engine_redelivered}")
    print(summary)  # shown with -s / -rP: the figures of this run
    log.info(summary)

    assert not crashed, f"mesh processes exited on their own: {crashed}\n{fleet.tail()}"
    assert fleet.kills >= 3, f"too few kills to mean anything ({summary})"
    assert jobs_done == total, summary
    assert dead == 0, f"{dead} messages dead-lettered ({summary})"
    assert unacked == 0, f"{unacked} stream rows left unacked ({summary})\n{fleet.tail()}"
    # the engine dispatched each step once and accepted one reply for it
    assert requests == request_pairs == steps, f"worker requests {requests} for {request_pairs} pairs ({summary})"
    assert responses == response_pairs == steps, f"responses {responses} for {response_pairs} pairs ({summary})"
    # every step ran its callback at least once, and its effect (no unique key) landed exactly once
    assert attempted_pairs == steps, summary
    assert effects == effect_pairs == steps and not missing, (
        f"effects {effects}, jobs missing some: {len(missing)} ({summary})")
