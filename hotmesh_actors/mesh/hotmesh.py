"""HotMesh: the facade that opens a mesh (engine, workers, listener) in one nursery and is its API.

    async with HotMesh.open(app_id="orders", workers=[Worker("inventory.check", check)]) as mesh:
        await mesh.deploy("graphs/order.yaml")
        await mesh.activate("1")
        output = await mesh.pubsub("order.requested", {"itemId": "item-123", "requestedQty": 5}, timeout=10)

To embed it in a larger trio app, start `serve` in a nursery; it takes `open`'s keywords (bound with
functools.partial, since `nursery.start` passes positional arguments only) or one `MeshConfig`, and stops
when the nursery is cancelled:

    mesh = await nursery.start(functools.partial(HotMesh.serve, app_id="orders", workers=[...]))
    mesh = await nursery.start(HotMesh.serve, MeshConfig(app_id="orders", workers=[...]))

With `dsn=None` (and no HOTMESH_DSN) the embedded Postgres is used. Arguments are checked before anything is
written (see mesh/arguments.py): a malformed one raises InvalidArgumentError, InvalidPayloadError or, at
open, ConfigurationError, each naming it.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from hotmesh_actors.actors import Supervisor
from hotmesh_actors.clock import new_guid, system_env
from hotmesh_actors.core.activities.context import EngineSettings
from hotmesh_actors.core.activities.dispatch import run_transitions
from hotmesh_actors.core.activities.hook import signal_lookup
from hotmesh_actors.core.activities.trigger import start_job
from hotmesh_actors.core.durations import parse_duration
from hotmesh_actors.core.graph import AppVersion, compile_app
from hotmesh_actors.core.jobstate import JobState
from hotmesh_actors.core.keys import PUBLISHED_TOPIC, job_key, quorum_channel
from hotmesh_actors.core.messages import MessageMetadata, MessageStatus, MessageType, StreamMessage
from hotmesh_actors.core.pipe import PipeEnv
from hotmesh_actors.embedded import start_embedded
from hotmesh_actors.errors import (
    ConfigurationError,
    InvalidArgumentError,
    InvalidPayloadError,
    JobAlreadyCompletedError,
    JobFailedError,
    JobNotFoundError,
    PubSubTimeout,
    UnknownTopicError,
)
from hotmesh_actors.hosts import on_asyncio
from hotmesh_actors.hosts import sole_exception as _sole_exception
from hotmesh_actors.logs import apply_log_level
from hotmesh_actors.mesh.arguments import (
    MAX_JOB_ID_BYTES,
    check_app_id,
    check_callback,
    check_choice,
    check_code,
    check_job_id,
    check_names,
    check_number,
    check_optional_job_id,
    check_optional_text,
    check_payload,
    check_text,
)
from hotmesh_actors.mesh.engine import Engine
from hotmesh_actors.mesh.escalations import Escalations, hook_wakes
from hotmesh_actors.mesh.export import export_job
from hotmesh_actors.mesh.stepper import Interrupt, Result, Stepper
from hotmesh_actors.mesh.worker import Worker, WorkerActor
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.apps import VersionCache, activate_version, register_connection, save_version
from hotmesh_actors.store.driver import Database, Listener, NotifyCallback
from hotmesh_actors.store.escalations import EscalationStore
from hotmesh_actors.store.jobs import JobStore
from hotmesh_actors.store.migrations import migrate_app
from hotmesh_actors.store.streams import Outgoing

log = logging.getLogger("hotmesh_actors.mesh")

JSON = Any
JobOutput = dict[str, JSON]
Subscriber = Callable[[str, JobOutput], Awaitable[None] | None]

@attrs.frozen(kw_only=True)
class MeshConfig:
    """What `HotMesh.serve` needs: the app, the database, the workers, and whether to run an engine."""

    app_id: str
    dsn: str | None = None
    workers: Sequence[Worker] = ()
    engine: bool = True
    settings: Settings | None = None
    guid: str | None = None


def _config_of(config: object, *, app_id: str | None, dsn: str | None, workers: Sequence[Worker] | None,
               engine: bool | None, settings: Settings | None, guid: str | None) -> MeshConfig:
    """The MeshConfig `serve` runs: the one given, or one built from `open`'s keywords (not both)."""
    keywords = {"app_id": app_id, "dsn": dsn, "workers": workers, "engine": engine, "settings": settings,
                "guid": guid}
    given = [name for name, value in keywords.items() if value is not None]
    if config is not None:
        if not isinstance(config, MeshConfig):
            raise ConfigurationError(
                f"HotMesh.serve takes a MeshConfig as its one positional argument, not {type(config).__name__} "
                f"{config!r}; pass keywords instead: functools.partial(HotMesh.serve, app_id=...)")
        if given:
            raise ConfigurationError(f"HotMesh.serve got a MeshConfig and the keywords {', '.join(given)}: "
                                     "pass one or the other")
        chosen = config
    elif app_id is None:
        raise ConfigurationError("HotMesh.serve needs app_id= (and optionally dsn=, workers=, engine=, settings=, "
                                 "guid=, as for HotMesh.open) or a MeshConfig")
    else:
        chosen = MeshConfig(app_id=app_id, dsn=dsn, workers=tuple(workers or ()),
                            engine=True if engine is None else engine, settings=settings, guid=guid)
    check_app_id(chosen.app_id)
    if chosen.guid is not None:
        try:
            check_text("guid", chosen.guid, max_bytes=256)
        except InvalidArgumentError as err:
            raise ConfigurationError(str(err)) from None
    bad_workers = [worker for worker in chosen.workers if not isinstance(worker, Worker)]
    if bad_workers:
        raise ConfigurationError(f"workers must be Worker instances, not {type(bad_workers[0]).__name__}")
    return chosen


class HotMesh:
    """A point of presence of one app: engine, workers and the API; see the module docstring."""

    def __init__(self, *, app_id: str, db: Database, listener: Listener, settings: Settings, guid: str) -> None:
        self.app_id = app_id
        self.db = db
        self.listener = listener
        self.settings = settings
        self.guid = guid
        self.jobs = JobStore(db, app_id)
        self.versions = VersionCache(db, app_id)
        self.escalations = Escalations(
            EscalationStore(db, namespace=app_id, app_id=app_id, engine=self.jobs.engine_streams),
            hook_wakes(self.versions, self.signal_outgoing))
        """This app's escalations (human-in-the-loop work items): list, claim, resolve … (mesh/escalations.py)."""
        self.engine_settings = EngineSettings(
            fidelity_seconds=settings.fidelity_seconds, expire_default_s=settings.expire_default_s,
            max_cycles=settings.max_cycles, signal_expire_s=settings.signal_expire_s)
        self.stepper = Stepper(app_id=app_id, jobs=self.jobs, versions=self.versions, settings=settings,
                               engine_settings=self.engine_settings, guid=guid)
        self.stepper.on_completed = self._deliver
        self.engine: Engine | None = None
        self.workers: list[WorkerActor] = []
        self._waiters: dict[str, trio.MemorySendChannel[JobOutput]] = {}
        self._finished: dict[str, JobOutput] = {}
        self._subscribers: dict[str, list[NotifyCallback]] = {}
        self._patterns: dict[str, list[Subscriber]] = {}
        self._nursery: trio.Nursery | None = None

    def _env(self) -> PipeEnv:
        """Clock, randomness and this mesh's timer fidelity for a step run here."""
        return system_env(self.settings.fidelity_seconds)

    # -- lifecycle ------------------------------------------------------------------------------------

    @classmethod
    @asynccontextmanager
    async def open(cls, *, app_id: str, dsn: str | None = None, workers: Sequence[Worker] = (),
                   engine: bool = True, settings: Settings | None = None,
                   guid: str | None = None) -> AsyncIterator[HotMesh]:
        """Open a mesh for `app_id` for the duration of the block (see the module docstring).

        Raises ConfigurationError for a malformed app id, DatabaseUnavailableError when Postgres cannot be
        reached or started. Leaving the block stops claiming, lets in-flight callbacks finish within the
        grace period, and closes the connections.

        From an asyncio app (or anyio's asyncio backend) the same call runs the mesh as a trio guest run on the
        app's loop and yields a HostedMesh, whose worker and `sub` callbacks run on that loop (mesh/hosted.py).
        """
        config = MeshConfig(app_id=app_id, dsn=dsn, workers=workers, engine=engine, settings=settings, guid=guid)
        if on_asyncio():  # the mesh then runs as a trio guest run on the host's loop (hotmesh_actors/hosts.py)
            from hotmesh_actors.mesh.hosted import open_hosted  # imported here: it builds on this module

            async with open_hosted(cls, config) as hosted:
                yield hosted
            return
        try:
            async with trio.open_nursery() as nursery:
                mesh = await nursery.start(cls.serve, config)
                try:
                    yield mesh
                finally:
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # One failure (a bad DSN, an invalid app id) surfaces as itself, not wrapped in nursery groups.
            single = _sole_exception(group)
            if single is None:
                raise
            raise single from None

    @classmethod
    async def serve(cls, config: MeshConfig | None = None, *, app_id: str | None = None, dsn: str | None = None,
                    workers: Sequence[Worker] | None = None, engine: bool | None = None,
                    settings: Settings | None = None, guid: str | None = None,
                    task_status: trio.TaskStatus[HotMesh] = trio.TASK_STATUS_IGNORED) -> None:
        """Run a mesh until cancelled; `task_status.started(mesh)` hands the API to the caller.

        Takes `open`'s keywords (same meanings and defaults) or one `MeshConfig`, not both; see the module
        docstring for `nursery.start`. Raises ConfigurationError for neither/both, or a malformed app id.
        On asyncio, `task_status` is anyio's (`await task_group.start(functools.partial(HotMesh.serve, ...))`).
        """
        config = _config_of(config, app_id=app_id, dsn=dsn, workers=workers, engine=engine, settings=settings,
                            guid=guid)
        if on_asyncio():
            from hotmesh_actors.mesh.hosted import serve_hosted

            await serve_hosted(cls, config, task_status)
            return
        settings = config.settings or Settings.from_env(dsn=config.dsn)
        apply_log_level(settings.log_level)
        dsn = config.dsn or settings.dsn
        if dsn is None:
            dsn = await trio.to_thread.run_sync(start_embedded)
        async with Database.open(dsn, pool_size=settings.pool_size) as db, db.listener() as listener:
            await migrate_app(db, config.app_id)
            mesh = cls(app_id=config.app_id, db=db, listener=listener, settings=settings,
                       guid=config.guid or new_guid())
            active = await mesh.versions.refresh()
            roles = (["engine"] if config.engine else []) + [f"worker:{w.topic}" for w in config.workers]
            await register_connection(db, mesh.guid, config.app_id, ",".join(roles) or "client",
                                      active.version if active else None)
            await listener.add(quorum_channel(config.app_id, mesh.guid), mesh._on_own_channel)
            await listener.add(quorum_channel(config.app_id), mesh._on_broadcast)
            async with trio.open_nursery() as nursery:
                mesh._nursery = nursery
                # The Stepper outlives the actors: while they drain (the supervisor's grace period, even when
                # the host cancels us), their last replies still need their steps committed.
                stepper_scope = trio.CancelScope(shield=True)

                async def run_stepper(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
                    with stepper_scope:
                        await mesh.stepper.run(task_status=task_status)

                await nursery.start(run_stepper)
                async with contextlib.AsyncExitStack() as stack:
                    stack.callback(stepper_scope.cancel)
                    supervisor = await stack.enter_async_context(Supervisor(name=f"mesh:{config.app_id}",
                                                                            grace=5.0))
                    if config.engine:
                        mesh.engine = Engine(jobs=mesh.jobs, versions=mesh.versions, stepper=mesh.stepper,
                                             settings=settings, listener=listener,
                                             concurrency=settings.engine_concurrency * settings.batch_size)
                        mesh.stepper.on_delayed = mesh.engine.wake
                        await supervisor.start(mesh.engine)
                    for worker in config.workers:
                        actor = WorkerActor(worker=worker, jobs=mesh.jobs, settings=settings, listener=listener,
                                            stepper=mesh.stepper)
                        mesh.workers.append(actor)
                        mesh.stepper.local_workers[worker.topic] = actor
                        await supervisor.start(actor)
                    task_status.started(mesh)
                    try:
                        await trio.sleep_forever()
                    finally:
                        mesh._nursery = None  # late notifications must not start tasks in a closing nursery

    # -- deploy and activate ----------------------------------------------------------------------------

    async def deploy(self, path_or_yaml: str, *, strict: bool | None = None) -> AppVersion:
        """Compile a YAML app (a file path, or inline YAML starting with `app:`) and store it as deployed.

        Keys HotMesh's compiler ignores (a graph-level `inputs:`, a `code:` beside `to:` …) deploy
        without effect: each is logged as a WARNING on logger `hotmesh_actors.deploy` and listed in
        the returned `AppVersion.warnings` (file, line, column, key path). `strict=True` refuses them
        instead; `strict=None` (the default) follows `Settings.strict_deploy` (`HMSH_STRICT_DEPLOY`).

        Raises GraphValidationError (file, line, key) for invalid YAML; running jobs are not touched.
        """
        strict = self.settings.strict_deploy if strict is None else strict
        app = await trio.to_thread.run_sync(lambda: compile_app(path_or_yaml, strict=strict))
        deploy_log = logging.getLogger("hotmesh_actors.deploy")
        for warning in app.warnings:
            deploy_log.warning("app %s v%s: %s", app.app_id, app.version, warning, extra={"app_id": app.app_id})
        if app.app_id != self.app_id:
            raise ConfigurationError(f"the YAML is for app {app.app_id!r}, this mesh serves {self.app_id!r}")
        await save_version(self.db, app)
        self.versions.remember(app)
        return app

    async def activate(self, version: str | int) -> bool:
        """Make a deployed version the active one for every engine of the app; False if never deployed."""
        text = str(version) if isinstance(version, int) and not isinstance(version, bool) else version  # 1 is "1"
        version = check_text("version", text)
        if not await activate_version(self.db, self.app_id, version):
            return False
        await self.versions.refresh()
        await self.db.execute(self.jobs.sql("notify"), [quorum_channel(self.app_id)],
                              [json.dumps({"type": "activate", "until_version": str(version)})])
        if self.engine is not None:
            self.engine.wake()
        return True

    # -- starting jobs ------------------------------------------------------------------------------

    async def pub(self, topic: str, data: dict[str, JSON] | None = None, *, job_id: str | None = None,
                  entity: str | None = None, pending: float | None = None) -> str:
        """Start a job on the graph subscribed to `topic`; returns its job id.

        `pending=N` creates the job pending (status −1, its first activities not entered) and expires it
        after N seconds, as HotMesh's `pub(topic, data, context, {pending: N})`.

        Raises UnknownTopicError, DuplicateJobError (a live job has this id), InvalidPayloadError, and
        InvalidArgumentError for an empty, non-string or over-long `job_id` or `entity`, or a `pending` that
        is not a positive number of seconds.
        """
        payload = check_payload({} if data is None else data)
        if pending is not None and check_number("pending", pending) <= 0:
            raise InvalidArgumentError("pending", f"pending must be a positive number of seconds, not {pending!r}")
        return await self._start(check_text("topic", topic), payload, job_id=check_optional_job_id(job_id),
                                 entity=check_optional_text("entity", entity, max_bytes=MAX_JOB_ID_BYTES),
                                 engine_guid=None, pending=pending)

    async def _start(self, topic: str, data: dict[str, JSON], *, job_id: str | None, entity: str | None,
                     engine_guid: str | None, pending: float | None = None) -> str:
        app = await self.versions.active()
        if topic not in app.graphs_by_topic:
            raise UnknownTopicError(f"no graph of app {self.app_id!r} v{app.version} subscribes to {topic!r}")
        ctx = start_job(app, topic, data, env=self._env(), new_guid=new_guid, settings=self.engine_settings,
                        job_id=job_id, engine_guid=engine_guid, entity=entity, pending_s=pending)
        if job_id is None:  # an id (or entity) the trigger computed from the payload, e.g. by `stats.id`
            try:
                check_job_id(ctx.job.jid, argument="the job id the trigger computed from data")
                check_optional_text("the entity the trigger computed from data", ctx.job.entity,
                                    max_bytes=MAX_JOB_ID_BYTES)
            except InvalidArgumentError as err:
                raise InvalidPayloadError(str(err)) from None
        run_transitions(ctx)
        await self.stepper.start(ctx)
        return ctx.job.jid

    async def pubsub(self, topic: str, data: dict[str, JSON] | None = None, *, timeout: float = 1.0,
                     job_id: str | None = None) -> JobOutput:
        """Start a job and wait for its output `{metadata, data}`.

        Raises PubSubTimeout (code 504; the job keeps running) or JobFailedError when it ends in error; before
        starting anything, the errors of `pub` and InvalidArgumentError for a negative or NaN `timeout`.
        """
        payload = check_payload({} if data is None else data)
        timeout = check_number("timeout", timeout, allow_infinity=True)
        send, receive = trio.open_memory_channel[JobOutput](1)
        jid = await self._start(check_text("topic", topic), payload, job_id=check_optional_job_id(job_id),
                                entity=None, engine_guid=self.guid)
        if jid in self._finished:
            output = self._finished.pop(jid)
        else:
            self._waiters[jid] = send
            try:
                with trio.move_on_after(timeout):
                    output = await receive.receive()
                    return _raise_if_failed(jid, output)
            finally:
                self._waiters.pop(jid, None)
            state = await self.jobs.load(job_key(self.app_id, jid))
            if state is None or state.status > 0 or not state.metadata.get("ju"):
                raise PubSubTimeout(jid, timeout)
            output = _output_of(state)
        return _raise_if_failed(jid, output)

    def _on_own_channel(self, _channel: str, payload: str | None) -> None:
        if payload is None:
            return
        message = json.loads(payload)
        jid = str(message.get("topic", ""))
        output = message.get("job") or {}
        if message.get("_ref"):
            if self._nursery is not None:
                self._nursery.start_soon(self._resolve_ref, jid)
            return
        self._deliver(jid, output)

    async def _resolve_ref(self, jid: str) -> None:
        state = await self.jobs.load(job_key(self.app_id, jid))
        if state is not None:
            self._deliver(jid, _output_of(state))

    def _deliver(self, jid: str, output: JobOutput) -> None:
        waiter = self._waiters.pop(jid, None)
        if waiter is not None:
            waiter.send_nowait(output)
        else:
            self._finished[jid] = output
            if len(self._finished) > 1000:
                self._finished.pop(next(iter(self._finished)))

    def _on_broadcast(self, _channel: str, payload: str | None) -> None:
        if payload is None:
            return
        message = json.loads(payload)
        if message.get("type") == "activate" and self._nursery is not None:
            self._nursery.start_soon(self.versions.refresh)

    def _on_published(self, _channel: str, payload: str | None) -> None:
        """Every `publishes` notification of the app, matched against the in-process patterns."""
        if payload is None:
            return
        message = json.loads(payload)
        topic = str(message.get("topic", ""))
        output = message.get("job") or {}
        channel_topic = _subscribed_topic(topic, output)
        for pattern, callbacks in list(self._patterns.items()):
            if fnmatch.fnmatchcase(channel_topic, pattern):
                for callback in callbacks:
                    self._call(callback, topic, output)

    def _call(self, callback: Subscriber, topic: str, output: JobOutput) -> None:
        result = callback(topic, output)
        if result is not None and self._nursery is not None:
            async def await_it() -> None:
                try:
                    await result
                except Exception:
                    log.exception("subscriber callback failed", extra={"app_id": self.app_id, "topic": topic})

            self._nursery.start_soon(await_it)

    # -- subscriptions ------------------------------------------------------------------------------

    async def sub(self, topic: str, callback: Subscriber) -> None:
        """Call `callback(topic, output)` for each notification on `topic` (e.g. `<publishes>.<jobId>`).

        As in HotMesh, the callback's `topic` is the message's own: the graph's `publishes` topic
        (`'order.fulfilled'` for a `sub('order.fulfilled.<jobId>', cb)`), the job id being in
        `output['metadata']['jid']`.
        """
        check_text("topic", topic)
        check_callback("callback", callback)

        def on_notify(_channel: str, payload: str | None) -> None:
            if payload is not None:
                message = json.loads(payload)
                self._call(callback, str(message.get("topic", topic)), message.get("job") or {})

        self._subscribers.setdefault(topic, []).append(on_notify)
        await self.listener.add(quorum_channel(self.app_id, topic), on_notify)

    async def unsub(self, topic: str) -> None:
        """Stop every `sub` callback on `topic`."""
        check_text("topic", topic)
        for on_notify in self._subscribers.pop(topic, []):
            await self.listener.remove(quorum_channel(self.app_id, topic), on_notify)

    async def psub(self, pattern: str, callback: Subscriber) -> None:
        """Pattern subscription (`order.*`), matched in-process over one LISTEN on the app's publishes channel.

        Patterns match `<publishes>.<jobId>`; the callback gets `<publishes>` as its topic, as with `sub`.

        (HotMesh on Postgres cannot do this.) The channel is only listened to while a pattern exists, so
        meshes without pattern subscriptions never receive those notifications.
        """
        check_text("pattern", pattern)
        check_callback("callback", callback)
        if not self._patterns:
            await self.listener.add(quorum_channel(self.app_id, PUBLISHED_TOPIC), self._on_published)
        self._patterns.setdefault(pattern, []).append(callback)

    async def punsub(self, pattern: str) -> None:
        """Remove the pattern's callbacks."""
        check_text("pattern", pattern)
        if self._patterns.pop(pattern, None) is not None and not self._patterns:
            await self.listener.remove(quorum_channel(self.app_id, PUBLISHED_TOPIC), self._on_published)

    # -- signals and interrupts -------------------------------------------------------------------------

    async def signal(self, topic: str, data: dict[str, JSON], *, status: str = "success", code: int = 200) -> str:
        """Send a signal to the hook waiting on `topic` whose rule matches `data` (buffered if none waits yet).

        Returns the signal message's guid. Raises UnknownTopicError, InvalidPayloadError, or
        InvalidArgumentError for a bad `topic`, `status` or `code`.
        """
        check_text("topic", topic)
        payload = check_payload(data)
        check_choice("status", status, [member.value for member in MessageStatus])
        check_code("code", code)
        app = await self.versions.active()
        if not app.hook_rules_for(topic):
            raise UnknownTopicError(f"no hook of app {self.app_id!r} v{app.version} listens on {topic!r}")
        outgoing = self.signal_outgoing(app, topic, payload, status=MessageStatus(status), code=code)
        await self.jobs.engine_streams.publish([outgoing])
        return outgoing.message.metadata.guid

    def signal_outgoing(self, app: AppVersion, topic: str, payload: dict[str, JSON], *,
                        status: MessageStatus = MessageStatus.SUCCESS, code: int = 200) -> Outgoing:
        """The `webhook` message `signal` publishes (with its order key), for callers that publish it inside a
        transaction of their own (an escalation's resolve commits its wake with the status change)."""
        message = StreamMessage(metadata=MessageMetadata(guid=new_guid(), topic=topic), type=MessageType.WEBHOOK,
                                data=payload, status=status, code=code)
        order_key = signal_lookup(app, self._env(), topic, message.data)
        return Outgoing(stream_name=self.app_id, message=message, order_key=order_key)

    async def interrupt(self, topic: str, job_id: str, *, reason: str | None = None, throw: bool = True,
                        code: int = 410, expire: float = 1.0, suppress: bool = False) -> None:
        """Interrupt a running job (status moves below −100,000,000; its queued messages are expired).

        Raises JobNotFoundError, or JobAlreadyCompletedError unless `suppress`; InvalidArgumentError for a bad
        `job_id`, `reason`, `code` or `expire`.
        """
        check_text("topic", topic)
        check_job_id(job_id)
        check_optional_text("reason", reason)
        check_code("code", code)
        check_number("expire", expire)
        result = await self.stepper.interrupt(job_id, Interrupt(reason=reason, code=code, throw=throw,
                                                                expire_s=expire))
        if result is Result.NOT_FOUND:
            raise JobNotFoundError(job_id)
        if result is not Result.DONE and not suppress:
            raise JobAlreadyCompletedError(job_id)

    async def scrub(self, job_id: str) -> None:
        """Delete a job, its state and its stream messages."""
        check_job_id(job_id)
        key = job_key(self.app_id, job_id)
        await self.jobs.delete(key, job_id)
        self.stepper.forget(key)

    async def prune(self, retention: float | str = "7 days", *, jobs: bool = True, streams: bool = True,
                    signals: bool = True) -> dict[str, int]:
        """Delete what expired more than `retention` ago: finished jobs (with their state), dead-lettered
        stream rows (acked rows are deleted when acked), and expired signal registrations. Live jobs are never
        touched.

        Returns the counts: `{"jobs": …, "engine_streams": …, "worker_streams": …, "signals": …}`.
        Example: ``await mesh.prune("30 days")``.
        """
        return await self.jobs.prune(parse_duration(retention), jobs=jobs, streams=streams, signals=signals)

    # -- reading state ----------------------------------------------------------------------------------

    async def _load(self, job_id: str) -> JobState:
        check_job_id(job_id)
        state = await self.jobs.load(job_key(self.app_id, job_id))
        if state is None:
            raise JobNotFoundError(job_id)
        return state

    async def get_status(self, job_id: str) -> int:
        """The job's semaphore: > 0 running, 0 complete, < −100,000,000 interrupted."""
        return (await self._load(job_id)).status

    async def get_state(self, topic: str, job_id: str) -> JobOutput:
        """Job-level `{metadata, data}` (metadata.js = status). Raises JobNotFoundError."""
        return _output_of(await self._load(job_id))

    async def get_raw(self, job_id: str) -> dict[str, str | None]:
        """Every stored field: `field` or `field,dimension` → encoded value; ':' is the status."""
        state = await self._load(job_id)
        raw: dict[str, str | None] = {":": str(state.status)}
        for field, dimension, value in state.raw_fields():
            raw[field + dimension] = value
        return raw

    async def get_query_state(self, job_id: str, fields: Sequence[str]) -> dict[str, JSON]:
        """Read searchable `_<field>` values (a quoted name `'"x"'` reads the literal field `x`)."""
        fields = check_names("fields", fields)
        state = await self._load(job_id)
        found: dict[str, JSON] = {}
        for name in fields:
            literal = name.startswith('"') and name.endswith('"')
            field = name[1:-1] if literal else f"_{name}"
            value = state.marks.get(field, state.data.get(field) if literal else None)
            found[name] = value
        return found

    async def export(self, job_id: str) -> dict[str, JSON]:
        """The job's activities, transitions and timeline (with timestamps), status and data."""
        state = await self._load(job_id)
        app = await self.versions.active()
        return export_job(app, state)


def _subscribed_topic(topic: str, output: JobOutput) -> str:
    """The topic a `sub` names for a publication: `<publishes>.<jid>` (patterns match it; callbacks get
    the message's own topic, `<publishes>`, as HotMesh's do)."""
    jid = (output.get("metadata") or {}).get("jid")
    return f"{topic}.{jid}" if jid else topic


def _output_of(state: JobState) -> JobOutput:
    metadata = dict(state.metadata)
    metadata["js"] = state.status
    return {"metadata": metadata, "data": dict(state.data)}


def _raise_if_failed(jid: str, output: JobOutput) -> JobOutput:
    error = (output.get("metadata") or {}).get("err")
    if not error:
        return output
    details = json.loads(error) if isinstance(error, str) else error
    code = int(details.get("code", 500)) if isinstance(details, dict) else 500
    message = str(details.get("message", "job failed")) if isinstance(details, dict) else str(details)
    raise JobFailedError(jid, code, message, details)


__all__ = ["HotMesh", "JobOutput", "MeshConfig"]
