"""A chaos run: the user's graph and workers in P processes, one SIGKILLed every ~2 s, N jobs, one report.

The run (see `run_chaos`):

1. compiles the graph, loads the workers in this process too (a bad spec or a worker topic of the graph
   with no worker fails here, before anything starts), deploys and activates the graph, and creates the
   effect log (store/chaos.py) in the app's schema;
2. starts P node processes (hotmesh_actors.chaos.node: engine + wrapped workers) and waits until each is
   ready;
3. publishes N jobs spread over `kills × kill_interval_s` seconds while SIGKILLing a random node every
   `kill_interval_s` (±50 %) and starting its successor, until K kills are done;
4. waits until every job has completed or `deadline_s` has passed since the last job was published, then
   lets the survivors settle the streams (every message acked) for up to `settle_s`;
5. reads the report from the database: jobs completed, failed (completed with an error) and lost (not
   completed), each step's effect count, stream rows left unacked or dead-lettered; and stops the fleet.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import tempfile
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import trio

from hotmesh_actors.chaos.effects import load_workers
from hotmesh_actors.chaos.fleet import Crash, Fleet
from hotmesh_actors.chaos.node import node_settings
from hotmesh_actors.core.graph import AppVersion, compile_app
from hotmesh_actors.embedded import start_embedded
from hotmesh_actors.errors import ConfigurationError, JobNotFoundError
from hotmesh_actors.mesh.hotmesh import HotMesh
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.chaos import DoubledStep, EffectLog

log = logging.getLogger("hotmesh_actors.chaos")

JSON = Any
Progress = Callable[[int, int], None]
"""Called with (jobs completed, jobs planned) as the run advances."""


def _at_least(minimum: float) -> Callable[[object, attrs.Attribute[Any], float], None]:
    """An attrs validator refusing numbers below `minimum` with a ConfigurationError naming the field."""
    def check(_plan: object, attribute: attrs.Attribute[Any], value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= minimum:
            raise ConfigurationError(f"ChaosPlan.{attribute.name} must be a number >= {minimum:g}, not {value!r}")

    return check


@attrs.frozen(kw_only=True)
class ChaosPlan:
    """What a chaos run does. Only `graph` and `workers` are required.

    `graph` is a YAML file (or inline YAML starting with `app:`); `workers` is `MODULE:ATTR` or
    `FILE.py:ATTR` naming the Workers (see `load_workers`). Relative paths and module names are taken
    from the current directory, which the node processes share (it is put on their PYTHONPATH).
    """

    graph: str
    workers: str
    app_id: str | None = None
    """Default: the graph's app id (the two must agree)."""
    topic: str | None = None
    """The topic jobs are published on; default: the first graph's `subscribes`."""
    data: Mapping[str, JSON] = attrs.field(factory=dict)
    """Each job's input (the same for every job)."""
    jobs: int = attrs.field(default=100, validator=_at_least(1))
    kills: int = attrs.field(default=5, validator=_at_least(0))
    processes: int = attrs.field(default=3, validator=_at_least(1))
    seed: int | None = None
    """Seeds the choice of victim and the kill times; default: a random seed, given in the report."""
    kill_interval_s: float = attrs.field(default=2.0, validator=_at_least(0.1))
    deadline_s: float = attrs.field(default=120.0, validator=_at_least(0))
    """How long after the last job was published the run waits for every job to complete."""
    settle_s: float = 30.0
    lease_s: float = attrs.field(default=3.0, validator=_at_least(0.5))
    """The nodes' reservation timeout: a killed node's claimed messages come back after this long."""
    dsn: str | None = None
    """Default: HOTMESH_DSN, else the embedded Postgres."""
    log_dir: str | None = None
    """Where the node logs go; default: a new temporary directory (named in the report)."""


@attrs.frozen(kw_only=True)
class ChaosReport:
    """What a chaos run saw. `ok` holds when nothing was lost, nothing doubled and no node crashed."""

    app_id: str
    run_id: str
    topic: str
    seed: int
    processes: int
    seconds: float
    jobs_started: int
    jobs_completed: int
    jobs_failed: int
    """Completed with an error (a worker that gave up, a failed activity): completed, not lost."""
    jobs_lost: int
    lost_job_ids: tuple[str, ...]
    """The first 20 jobs not completed when the run ended."""
    kills: int
    kills_planned: int
    nodes_started: int
    crashed: tuple[Crash, ...]
    """Node processes that exited without being killed."""
    callback_runs: int
    callback_reruns: int
    """Callback runs beyond one per step (a request redelivered after its node was killed)."""
    effects: int
    effect_steps: int
    effects_doubled: int
    """Steps whose effect was recorded more than once."""
    doubled_examples: tuple[DoubledStep, ...]
    unsettled_messages: int
    """Stream rows of the app still not acked when the run ended."""
    dead_lettered: int
    log_dir: str

    @property
    def ok(self) -> bool:
        return self.jobs_lost == 0 and self.effects_doubled == 0 and not self.crashed

    def to_json(self) -> dict[str, JSON]:
        """The report as plain JSON (what `hotmesh chaos` prints), with `ok` added."""
        return {**attrs.asdict(self), "ok": self.ok}


def graph_worker_topics(app: AppVersion) -> set[str]:
    """The literal topics of the app's worker activities (templated topics are left out)."""
    return {activity.topic for activity in app.activities.values()
            if activity.type == "worker" and isinstance(activity.topic, str) and "{" not in activity.topic}


def _checked(plan: ChaosPlan) -> tuple[AppVersion, str, str]:
    """The compiled app, the app id and the topic; ConfigurationError for what cannot run."""
    app = compile_app(plan.graph)
    app_id = plan.app_id or app.app_id
    if app_id != app.app_id:
        raise ConfigurationError(f"the graph is for app {app.app_id!r}, not {app_id!r}: pass --app {app.app_id} "
                                 "or change the graph's app id")
    topic = plan.topic or app.graphs[0].subscribes
    if topic not in app.graphs_by_topic:
        raise ConfigurationError(f"no graph of app {app_id!r} subscribes to {topic!r}; "
                                 f"its topics: {', '.join(sorted(app.graphs_by_topic))}")
    served = {worker.topic for worker in load_workers(plan.workers)}
    unserved = sorted(graph_worker_topics(app) - served)
    if unserved:
        raise ConfigurationError(f"the graph's worker topics {', '.join(unserved)} have no worker in "
                                 f"{plan.workers!r}: their jobs could never complete")
    return app, app_id, topic


def _node_env(cwd: Path) -> dict[str, str]:
    paths = [str(cwd), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1"}


async def run_chaos(plan: ChaosPlan, *, progress: Progress | None = None) -> ChaosReport:
    """Run the plan (see the module docstring) and return what it saw.

    Raises ConfigurationError for a graph, workers spec or topic that cannot run, FleetStartError when a
    node cannot start (its log is in the message), DatabaseUnavailableError when Postgres is unreachable.
    Cancelling the call stops the fleet.

    Example::

        report = await run_chaos(ChaosPlan(graph="graphs/order.yaml", workers="examples/order_yaml.py:WORKERS",
                                           jobs=100, kills=5, seed=7))
        assert report.ok, report.to_json()
    """
    app, app_id, topic = await trio.to_thread.run_sync(_checked, plan)
    dsn = plan.dsn or Settings.from_env().dsn
    if dsn is None:
        dsn = await trio.to_thread.run_sync(start_embedded)
    seed = plan.seed if plan.seed is not None else random.randrange(1 << 31)
    rng = random.Random(seed)
    run_id = uuid.uuid4().hex[:12]
    cwd = Path.cwd()
    log_dir = Path(plan.log_dir) if plan.log_dir else Path(tempfile.mkdtemp(prefix=f"hotmesh-chaos-{run_id}-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    workers_spec = plan.workers
    target, _, attr = workers_spec.rpartition(":")
    if target.endswith(".py"):
        workers_spec = f"{(cwd / target).resolve()}:{attr}"
    fleet = Fleet(argv=[sys.executable, "-m", "hotmesh_actors.chaos.node", "--dsn", dsn, "--app", app_id,
                        "--workers", workers_spec, "--run-id", run_id, "--lease", str(plan.lease_s)],
                  env=_node_env(cwd), log_dir=log_dir, size=plan.processes, cwd=cwd)
    effect_log = EffectLog(app_id, run_id)
    started_at = datetime.now(UTC)
    clock = trio.current_time()
    job_ids: list[str] = []
    failed: set[str] = set()
    settings = node_settings(plan.lease_s)
    log.info("chaos run %s: app %s, %d jobs, %d kills, %d processes, seed %d, logs in %s", run_id, app_id,
             plan.jobs, plan.kills, plan.processes, seed, log_dir, extra={"app_id": app_id, "topic": topic})
    async with HotMesh.open(app_id=app_id, dsn=dsn, engine=False, settings=settings) as mesh:
        await mesh.deploy(plan.graph)
        if not await mesh.activate(app.version):
            raise ConfigurationError(f"version {app.version} of app {app_id!r} did not activate")
        await effect_log.create(mesh.db)
        try:
            fleet.start()
            await fleet.wait_ready(timeout=60)
            pending = await _drive(mesh, fleet, plan, topic, run_id, rng, job_ids, failed, progress)
            unsettled = await _settle(mesh, effect_log, started_at, plan.settle_s)
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(fleet.stop)
        counts = await effect_log.counts(mesh.db)
        doubled, examples = await effect_log.doubled(mesh.db)
        _, dead = await effect_log.stream_health(mesh.db, started_at)
    lost = [job_id for job_id in job_ids if job_id in pending]
    report = ChaosReport(
        app_id=app_id, run_id=run_id, topic=topic, seed=seed, processes=plan.processes,
        seconds=round(trio.current_time() - clock, 1), jobs_started=len(job_ids),
        jobs_completed=len(job_ids) - len(lost), jobs_failed=len(failed), jobs_lost=len(lost),
        lost_job_ids=tuple(lost[:20]), kills=fleet.kills,
        kills_planned=plan.kills, nodes_started=fleet.spawned, crashed=tuple(fleet.crashes),
        callback_runs=counts.calls, callback_reruns=counts.calls - counts.call_steps, effects=counts.effects,
        effect_steps=counts.effect_steps, effects_doubled=doubled, doubled_examples=tuple(examples),
        unsettled_messages=unsettled, dead_lettered=dead, log_dir=str(log_dir))
    log.info("chaos run %s done: %s", run_id, json.dumps(report.to_json(), default=str),
             extra={"app_id": app_id, "topic": topic})
    return report


async def _drive(mesh: HotMesh, fleet: Fleet, plan: ChaosPlan, topic: str, run_id: str, rng: random.Random,
                 job_ids: list[str], failed: set[str], progress: Progress | None) -> set[str]:
    """Publish, kill and wait (steps 3 and 4); returns the jobs still not completed at the deadline and
    adds the ones that completed with an error to `failed`."""
    pending: set[str] = set()
    spread_s = max(plan.kills * plan.kill_interval_s, 1.0)

    async def publish() -> None:
        pause = spread_s / plan.jobs
        for n in range(plan.jobs):
            job_id = f"chaos-{run_id}-{n:05d}"
            await mesh.pub(topic, dict(plan.data), job_id=job_id)
            job_ids.append(job_id)
            pending.add(job_id)
            await trio.sleep(pause)

    async def kill() -> None:
        while fleet.kills < plan.kills:
            await trio.sleep(rng.uniform(0.5, 1.5) * plan.kill_interval_s)
            await trio.to_thread.run_sync(fleet.kill_one, rng)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(kill)
        await publish()
        with trio.move_on_after(plan.deadline_s):
            while pending:
                for job_id in list(pending):
                    outcome = await _outcome(mesh, job_id)
                    if outcome is not None:
                        pending.discard(job_id)
                    if outcome == "failed":
                        failed.add(job_id)
                if progress is not None:
                    progress(len(job_ids) - len(pending), plan.jobs)
                if pending:
                    fleet.restart_crashed()
                    await trio.sleep(0.5)
        nursery.cancel_scope.cancel()
    return pending


async def _outcome(mesh: HotMesh, job_id: str) -> str | None:
    """`completed`, `failed` (completed with an error), or None while the job runs.

    A job no longer found has completed and expired (its graph's `expire`, else `HMSH_EXPIRE_JOB_SECONDS`):
    it counts as completed, since whether it failed can no longer be read.
    """
    try:
        state = await mesh.get_state("", job_id)
    except JobNotFoundError:
        return "completed"
    if state["metadata"]["js"] > 0:
        return None
    return "failed" if state["metadata"].get("err") else "completed"


async def _settle(mesh: HotMesh, effect_log: EffectLog, since: datetime, settle_s: float) -> int:
    """Wait (no more kills) until every stream row is acked, up to `settle_s`; returns the rows still live."""
    live = 0
    with trio.move_on_after(settle_s):
        while True:
            live, _ = await effect_log.stream_health(mesh.db, since)
            if live == 0:
                break
            await trio.sleep(0.2)
    return live
