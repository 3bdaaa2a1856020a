"""Bad input is refused with a typed error, or absorbed harmlessly; it never corrupts a job or kills an actor."""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from hotmesh_actors import HotMesh, MeshConfig, RetryPolicy, Worker
from hotmesh_actors.core.messages import StreamMessage
from hotmesh_actors.errors import (
    ConfigurationError,
    DatabaseUnavailableError,
    GraphValidationError,
    InvalidArgumentError,
    InvalidPayloadError,
    JobAlreadyCompletedError,
    JobFailedError,
    JobNotFoundError,
    UnknownTopicError,
)
from hotmesh_actors.store.driver import Database

from . import collation_kit as K
from .stream_history import keep_history

ENGINE = "engine_streams"
WORKER = "worker_streams"

GRAPHS = """
- subscribes: x.test
  expire: 120
  activities:
    t1:
      type: trigger
    a1:
      type: worker
      topic: x.work
      job:
        maps:
          y: '{$self.output.data.y}'
  transitions:
    t1:
      - to: a1
- subscribes: x.wait
  expire: 120
  activities:
    t2:
      type: trigger
    h1:
      type: hook
      job:
        maps:
          approved: '{$self.hook.data.approved}'
  transitions:
    t2:
      - to: h1
  hooks:
    x.go:
      - to: h1
        conditions:
          match:
            - expected: '{$job.metadata.jid}'
              actual: '{$self.hook.data.id}'
- subscribes: x.keyed
  expire: 120
  activities:
    t3:
      type: trigger
      stats:
        id: '{$self.output.data.id}'
"""


class Callback:
    """A worker callback whose behaviour a test switches; counts calls; may block until released."""

    def __init__(self) -> None:
        self.calls = 0
        self.result: Any = {"data": {"y": 1}}
        self.error: BaseException | None = None
        self.release = trio.Event()
        self.release.set()
        self.entered = trio.Event()

    async def __call__(self, msg: StreamMessage) -> Any:
        self.calls += 1
        self.entered.set()
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return self.result


def _open(app_id: str, pg_dsn: str, callback: Callback | None = None, *,
          retry_policy: RetryPolicy | None = None) -> Any:
    workers = [Worker("x.work", callback, retry_policy=retry_policy)] if callback is not None else []
    return HotMesh.open(app_id=app_id, dsn=pg_dsn, workers=workers, settings=K.settings())


async def _ready(mesh: HotMesh) -> None:
    await mesh.deploy(K.app_yaml(mesh.app_id, GRAPHS))
    assert await mesh.activate("1")


async def _job_count(mesh: HotMesh) -> int:
    count: int = await mesh.db.fetchval(f"SELECT count(*) FROM {K.schema(mesh.app_id)}.jobs")
    return count


async def _stream_count(mesh: HotMesh) -> int:
    count: int = await mesh.db.fetchval(
        f"SELECT (SELECT count(*) FROM {K.schema(mesh.app_id)}.engine_streams)"
        f" + (SELECT count(*) FROM {K.schema(mesh.app_id)}.worker_streams)")
    return count


async def _stats_settled(actor: Any, *, dead_lettered: int, acked: int = 0) -> bool:
    """True once the worker actor counts these parked and acked messages (it counts after the commit)."""
    return (actor.stats.dead_lettered, actor.stats.acked) == (dead_lettered, acked)


class Opaque:
    """Not JSON."""


BAD_PAYLOADS = [
    {"x": Opaque()},
    {"x": {1, 2}},
    {"x": b"bytes"},
    {"x": math.nan},
    {"x": [1, {"deep": Opaque()}]},
    ["not", "an", "object"],
    "text",
]


async def test_non_json_payloads_are_refused_and_nothing_is_written(pg_dsn: str, app_id: str) -> None:
    async with _open(app_id, pg_dsn, Callback()) as mesh:
        await _ready(mesh)
        jobs, rows = await _job_count(mesh), await _stream_count(mesh)
        for payload in BAD_PAYLOADS:
            with pytest.raises(InvalidPayloadError):
                await mesh.pub("x.test", payload)  # type: ignore[arg-type]
            with pytest.raises(InvalidPayloadError):
                await mesh.pubsub("x.test", payload, timeout=2)  # type: ignore[arg-type]
            with pytest.raises(InvalidPayloadError):
                await mesh.signal("x.go", payload)  # type: ignore[arg-type]
        assert (await _job_count(mesh), await _stream_count(mesh)) == (jobs, rows)
        # and the mesh still works
        output = await mesh.pubsub("x.test", {"ok": True}, timeout=10)
        assert output["data"] == {"y": 1}


async def test_unknown_topics_raise_unknown_topic_error(pg_dsn: str, app_id: str) -> None:
    async with _open(app_id, pg_dsn, Callback()) as mesh:
        await _ready(mesh)
        with pytest.raises(UnknownTopicError):
            await mesh.pub("x.nope", {})
        with pytest.raises(UnknownTopicError):
            await mesh.pubsub("x.nope", {}, timeout=2)
        with pytest.raises(UnknownTopicError):
            await mesh.signal("x.nope", {"id": "whatever"})
        with pytest.raises(UnknownTopicError):
            await mesh.signal("x.test", {"id": "whatever"})  # a graph topic is not a hook topic
        assert await _job_count(mesh) == 0


async def test_signal_to_a_finished_job_is_harmless(pg_dsn: str, app_id: str) -> None:
    async with _open(app_id, pg_dsn, Callback()) as mesh:
        await keep_history(mesh.db, app_id)  # a consumed signal's row is deleted: record it to see it consumed
        await _ready(mesh)
        jid = await mesh.pub("x.wait", {})
        await K.wait_until(lambda: _hook_registered(mesh, jid), what="the hook waits for its signal")
        await mesh.signal("x.go", {"id": jid, "approved": True})
        await K.wait_until(lambda: _status(mesh, jid, 0), what="the job completes")
        before_attributes = await K.attributes(mesh, jid)
        before_row = await K.job_row(mesh, jid)

        late = await mesh.signal("x.go", {"id": jid, "approved": False})  # no error for the caller
        unknown = await mesh.signal("x.go", {"id": "no-such-job", "approved": False})
        for guid in (late, unknown):
            await K.wait_until(lambda guid=guid: _signal_acked(mesh, guid), what="the late signal is consumed")
        assert await K.attributes(mesh, jid) == before_attributes
        after_row = await K.job_row(mesh, jid)
        assert (after_row["status"], after_row["expired_at"]) == (0, before_row["expired_at"])
        assert (await mesh.get_state("x.wait", jid))["data"] == {"approved": True}
        # buffered as a pending signal that expires, never delivered to the finished job
        rows = await mesh.db.fetch(
            f"SELECT key, value, expiry > now() AS live, expiry < now() + interval '601 seconds' AS bounded "
            f"FROM {K.schema(app_id)}.signal_registry")
        assert sorted(row["key"] for row in rows) == sorted(f"signals:x.go:{key}" for key in (jid, "no-such-job"))
        for row in rows:
            assert row["value"].startswith("$pending::"), dict(row)
            assert row["live"] and row["bounded"], dict(row)
        for row in await K.stream_rows(mesh, ENGINE):
            assert row["dead_lettered_at"] is None


async def _hook_registered(mesh: HotMesh, jid: str) -> bool:
    count: int = await mesh.db.fetchval(
        f"SELECT count(*) FROM {K.schema(mesh.app_id)}.signal_registry WHERE key LIKE $1", f"%{jid}")
    return count == 1


async def _status(mesh: HotMesh, jid: str, value: int) -> bool:
    return await mesh.get_status(jid) == value


async def _signal_acked(mesh: HotMesh, guid: str) -> bool:
    for row in await K.stream_rows(mesh, ENGINE, msg_type="webhook"):
        if K.message_of(row)["metadata"]["guid"] == guid:
            return row["expired_at"] is not None
    return False


async def test_interrupting_a_completed_job(pg_dsn: str, app_id: str) -> None:
    async with _open(app_id, pg_dsn, Callback()) as mesh:
        await _ready(mesh)
        output = await mesh.pubsub("x.test", {}, timeout=10)
        jid = output["metadata"]["jid"]
        before = await K.attributes(mesh, jid)
        with pytest.raises(JobAlreadyCompletedError, match=f"Job {jid} already completed"):
            await mesh.interrupt("x.test", jid)
        await mesh.interrupt("x.test", jid, suppress=True)  # no error
        assert await mesh.get_status(jid) == 0
        assert await K.attributes(mesh, jid) == before


async def test_interrupting_a_completed_and_expired_job(pg_dsn: str, app_id: str) -> None:
    async with HotMesh.open(app_id=app_id, dsn=pg_dsn, workers=[Worker("x.work", Callback())],
                            settings=K.settings()) as mesh:
        await mesh.deploy(K.app_yaml(app_id, GRAPHS.replace("expire: 120", "expire: 1", 1)))
        assert await mesh.activate("1")
        output = await mesh.pubsub("x.test", {}, timeout=10)
        jid = output["metadata"]["jid"]
        await K.wait_until(lambda: _expired(mesh, jid), what="the finished job's row expires")
        with pytest.raises(JobAlreadyCompletedError):
            await mesh.interrupt("x.test", jid)
        await mesh.interrupt("x.test", jid, suppress=True)
        assert await mesh.get_status(jid) == 0


async def _expired(mesh: HotMesh, jid: str) -> bool:
    expired: bool = await mesh.db.fetchval(
        f"SELECT expired_at <= now() FROM {K.schema(mesh.app_id)}.jobs WHERE key = $1",
        f"hmsh:{mesh.app_id}:j:{jid}")
    return expired


async def test_unknown_job_raises_job_not_found(pg_dsn: str, app_id: str) -> None:
    async with _open(app_id, pg_dsn, Callback()) as mesh:
        await _ready(mesh)
        for call in (lambda: mesh.interrupt("x.test", "no-such-job"),
                     lambda: mesh.interrupt("x.test", "no-such-job", suppress=True),
                     lambda: mesh.get_status("no-such-job"),
                     lambda: mesh.get_state("x.test", "no-such-job"),
                     lambda: mesh.export("no-such-job")):
            with pytest.raises(JobNotFoundError, match="Job no-such-job not found"):
                await call()


INVALID_V2 = """\
app:
  id: {app_id}
  version: '2'
  graphs:
    - subscribes: x.test
      activities:
        t1:
          type: trigger
        a1:
          type: wokrer
          topic: x.work
      transitions:
        t1:
          - to: a1
"""


async def test_invalid_deploy_while_jobs_run_changes_nothing(pg_dsn: str, app_id: str, tmp_path: Path) -> None:
    callback = Callback()
    callback.release = trio.Event()
    async with _open(app_id, pg_dsn, callback) as mesh:
        await _ready(mesh)
        jid = await mesh.pub("x.test", {})
        with trio.fail_after(10):
            await callback.entered.wait()
        path = tmp_path / "broken.yaml"
        path.write_text(INVALID_V2.format(app_id=app_id))
        with pytest.raises(GraphValidationError) as from_file:
            await mesh.deploy(str(path))
        assert from_file.value.file is not None and Path(from_file.value.file).name == "broken.yaml"
        assert from_file.value.line == 10, str(from_file.value)  # the `type: wokrer` line
        assert "broken.yaml:10" in str(from_file.value)
        with pytest.raises(GraphValidationError) as inline:
            await mesh.deploy(INVALID_V2.format(app_id=app_id))
        assert inline.value.line == 10, str(inline.value)
        with pytest.raises(GraphValidationError):  # a broken re-deploy of the active version
            await mesh.deploy(INVALID_V2.format(app_id=app_id).replace("version: '2'", "version: '1'"))
        broken_yaml = f"app:\n  id: {app_id}\n  version: '3'\n  graphs:\n    - subscribes: [x.test\n"
        with pytest.raises(GraphValidationError) as syntax:  # not even YAML
            await mesh.deploy(broken_yaml)
        assert syntax.value.line is not None, str(syntax.value)
        assert not await mesh.activate("2")

        versions = await mesh.db.fetch(
            "SELECT version, status FROM public.hmsh_application_versions WHERE app_id = $1", app_id)
        assert [(r["version"], r["status"]) for r in versions] == [("1", "activated")]
        assert (await mesh.versions.active()).version == "1"
        callback.release.set()
        await K.wait_until(lambda: _status(mesh, jid, 0), what="the running job completes")
        assert (await mesh.get_state("x.test", jid))["data"] == {"y": 1}
        assert (await mesh.pubsub("x.test", {}, timeout=10))["data"] == {"y": 1}


async def test_worker_callback_that_raises_ends_the_job_in_error(pg_dsn: str, app_id: str) -> None:
    callback = Callback()
    callback.error = RuntimeError("inventory service exploded")
    # one attempt, said explicitly: an uncoded exception is otherwise retried by the default policy (10 s, 100 s)
    async with _open(app_id, pg_dsn, callback, retry_policy=RetryPolicy(maximum_attempts=1)) as mesh:
        await keep_history(mesh.db, app_id)  # an acked stream row is deleted: record it to read it
        await _ready(mesh)
        with pytest.raises(JobFailedError) as failed:
            await mesh.pubsub("x.test", {"n": 1}, timeout=10)
        jid = failed.value.job_id
        assert failed.value.code == 500
        assert "inventory service exploded" in str(failed.value)
        [request] = await K.stream_rows(mesh, WORKER, jid)
        assert request["dead_lettered_at"] is not None  # parked with its payload, not lost
        assert K.message_of(request)["metadata"]["aid"] == "a1"
        # The error reply reached the engine: this process runs the job's step for it right in the worker, in
        # the transaction that parks the request (mesh/stepper.py), so it needs no engine-stream row; any
        # reply row there (with the removed ones recorded) must have been consumed, none left pending.
        replies = await K.stream_rows(mesh, ENGINE, jid, msg_type="response")
        assert all(reply["expired_at"] is not None for reply in replies), replies
        [actor] = mesh.workers
        await K.wait_until(lambda: _stats_settled(actor, dead_lettered=1), what="the worker counts the park")
        assert (actor.stats.claimed + actor.stats.handed, actor.stats.retried) == (1, 0), actor.stats
        state = await mesh.get_state("x.test", jid)
        assert json.loads(state["metadata"]["err"])["code"] == 500
        assert state["data"]["$error"]["message"] == "inventory service exploded"
        assert callback.calls == 1
        # the worker survived
        callback.error = None
        assert (await mesh.pubsub("x.test", {}, timeout=10))["data"] == {"y": 1}


@pytest.mark.parametrize("result", [["a", "list"], "text", 42, {"data": ["not", "a", "dict"]},
                                    {"data": {"x": Opaque()}}, {"data": {"y": 1}, "code": "abc"},
                                    {"data": {"y": 1}, "status": "bogus"}, {"data": {"y": "a\u0000b"}},
                                    {"data": {"nested": [{"k\u0000": 1}]}}],
                         ids=["list", "str", "int", "data-list", "data-not-json", "code-not-int", "status-bogus",
                              "data-nul-value", "data-nul-key"])
async def test_worker_returning_garbage_gets_an_error_reply(pg_dsn: str, app_id: str, result: Any) -> None:
    callback = Callback()
    callback.result = result
    async with _open(app_id, pg_dsn, callback) as mesh:
        await _ready(mesh)
        with pytest.raises(JobFailedError) as failed:
            await mesh.pubsub("x.test", {}, timeout=10)
        assert failed.value.code == 500
        [request] = await K.stream_rows(mesh, WORKER, failed.value.job_id)
        assert request["expired_at"] is not None and request["dead_lettered_at"] is not None  # parked, kept
        assert callback.calls == 1  # a malformed reply is not retried
        callback.result = {"data": {"y": 1}}  # the worker is still serving
        assert (await mesh.pubsub("x.test", {}, timeout=10))["data"] == {"y": 1}
        # Its counters: the garbage reply's request parked, the good one acked. The job can finish before the
        # worker's task counts its message (the count follows the commit), so wait for them to settle. Both
        # requests reached it once each, whether handed in-process (a step of this process inserted the row
        # already leased to it: `handed`) or claimed from the table (`claimed`).
        [actor] = mesh.workers
        await K.wait_until(lambda: _stats_settled(actor, dead_lettered=1, acked=1), what="the worker's counts")
        assert (actor.stats.claimed + actor.stats.handed, actor.stats.retried) == (2, 0), actor.stats


async def test_worker_error_message_holding_nul_still_fails_the_job(pg_dsn: str, app_id: str) -> None:
    """Postgres text cannot hold NUL: the error reply is delivered with it replaced, not retried forever."""
    callback = Callback()
    callback.error = RuntimeError("bad\u0000byte")
    async with _open(app_id, pg_dsn, callback, retry_policy=RetryPolicy(maximum_attempts=1)) as mesh:
        await _ready(mesh)
        with pytest.raises(JobFailedError) as failed:
            await mesh.pubsub("x.test", {}, timeout=10)
        assert failed.value.code == 500
        state = await mesh.get_state("x.test", failed.value.job_id)
        assert state["data"]["$error"]["message"] == "bad\ufffdbyte"
        assert callback.calls == 1


BAD_DSNS = pytest.mark.parametrize("dsn, host", [
    ("postgresql://postgres@no-such-host.invalid:5432/postgres", "no-such-host.invalid"),
    ("postgresql://postgres:secret@127.0.0.1:1/postgres", "127.0.0.1"),
], ids=["unknown-host", "refused"])


def _check_unavailable(error: BaseException, host: str) -> None:
    assert isinstance(error, DatabaseUnavailableError), repr(error)
    message = str(error)
    assert "\n" not in message
    assert host in message
    assert "secret" not in message


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


@BAD_DSNS
async def test_bad_dsn_raises_database_unavailable_from_the_driver(dsn: str, host: str) -> None:
    with trio.fail_after(60), pytest.raises(DatabaseUnavailableError) as caught:
        async with Database.open(dsn):
            pass  # pragma: no cover
    _check_unavailable(caught.value, host)


@BAD_DSNS
async def test_bad_dsn_reaches_the_caller_of_hotmesh_open(dsn: str, host: str, app_id: str) -> None:
    with trio.fail_after(60), pytest.raises(BaseException) as caught:
        async with HotMesh.open(app_id=app_id, dsn=dsn, settings=K.settings()):
            pass  # pragma: no cover
    [leaf] = _leaves(caught.value)
    _check_unavailable(leaf, host)


@BAD_DSNS
async def test_bad_dsn_raises_a_bare_database_unavailable_error(dsn: str, host: str, app_id: str) -> None:
    with trio.fail_after(60), pytest.raises(DatabaseUnavailableError) as caught:
        async with HotMesh.open(app_id=app_id, dsn=dsn, settings=K.settings()):
            pass  # pragma: no cover
    _check_unavailable(caught.value, host)


# -- strings Postgres cannot store, job ids, app ids: refused up front, nothing written ------------------


async def _written(mesh: HotMesh) -> tuple[int, ...]:
    """Row counts of every table of the app a refused call could have written to."""
    schema = K.schema(mesh.app_id)
    counts = []
    for table in ("jobs", "jobs_attributes", "engine_streams", "worker_streams", "signal_registry"):
        counts.append(await mesh.db.fetchval(f"SELECT count(*) FROM {schema}.{table}"))
    return tuple(counts)


UNSTORABLE_PAYLOADS = [  # (payload, the path the error must name)
    ({"na\x00me": 1}, "a key of data"),
    ({"name": "nul\x00inside"}, "data['name']"),
    ({"order": {"lines": ["ok", {"sku": "a\x00"}]}}, "data['order']['lines'][1]['sku']"),
    ({"order": {"lines": [{"ok": 1}, {"s\x00ku": 1}]}}, "a key of data['order']['lines'][1]"),
    ({"name": "lone \ud800 surrogate"}, "data['name']"),
    ({"deep": [[["\x00"]]]}, "data['deep'][0][0][0]"),
]


async def test_nul_and_lone_surrogates_in_payloads_are_refused_naming_the_path(pg_dsn: str, app_id: str) -> None:
    async with _open(app_id, pg_dsn, Callback()) as mesh:
        await _ready(mesh)
        before = await _written(mesh)
        for payload, path in UNSTORABLE_PAYLOADS:
            for call in (partial(mesh.pub, "x.test", payload), partial(mesh.pubsub, "x.test", payload, timeout=2),
                         partial(mesh.signal, "x.go", payload)):
                with pytest.raises(InvalidPayloadError) as refused:
                    await call()
                assert str(refused.value).startswith(path + " "), (str(refused.value), path)
                assert "cannot store" in str(refused.value) or "surrogate" in str(refused.value)
        assert await _written(mesh) == before
        # a literal backslash before 'u0000' is ordinary text: accepted and stored as written
        jid = await mesh.pub("x.test", {"text": "back\\u0000slash"})
        await K.wait_until(lambda: _status(mesh, jid, 0), what="the job completes")
        raw = await mesh.get_raw(jid)
        assert raw["t1/output/data/text,0"] == "back\\u0000slash"


def _calls_naming(mesh: HotMesh, job_id: Any) -> list[Callable[[], Awaitable[object]]]:
    """Every facade call that takes a job id, with `job_id`."""
    return [partial(mesh.get_status, job_id), partial(mesh.get_state, "x.test", job_id),
            partial(mesh.get_raw, job_id), partial(mesh.export, job_id), partial(mesh.get_query_state, job_id, ["a"]),
            partial(mesh.interrupt, "x.test", job_id), partial(mesh.scrub, job_id)]


async def test_bad_job_ids_are_refused_naming_job_id(pg_dsn: str, app_id: str) -> None:
    async with _open(app_id, pg_dsn, Callback()) as mesh:
        await _ready(mesh)
        before = await _written(mesh)
        for job_id in ("", 123, "nul\x00id", "x" * 1025, b"bytes", "\udc80"):
            for call in (partial(mesh.pub, "x.test", {}, job_id=job_id),
                         partial(mesh.pubsub, "x.test", {}, job_id=job_id, timeout=2)):
                with pytest.raises(InvalidArgumentError) as refused:
                    await call()
                assert refused.value.argument == "job_id" and "job_id" in str(refused.value)
                assert isinstance(refused.value, ValueError) and isinstance(refused.value, TypeError)
        assert await _written(mesh) == before
        # every call that names a job refuses the same ids (123 never reads the job "123")
        await mesh.pub("x.test", {}, job_id="123")
        for job_id in ("", 123, "nul\x00id"):
            for call in _calls_naming(mesh, job_id):
                with pytest.raises(InvalidArgumentError, match="job_id"):
                    await call()
        # the longest accepted id works end to end
        longest = "k" * 1024
        assert (await mesh.pubsub("x.test", {}, job_id=longest, timeout=10))["metadata"]["jid"] == longest


async def test_job_ids_computed_from_the_payload_are_checked_too(pg_dsn: str, app_id: str) -> None:
    async with _open(app_id, pg_dsn, Callback()) as mesh:
        await _ready(mesh)
        before = await _written(mesh)
        with pytest.raises(InvalidPayloadError, match="job id the trigger computed from data"):
            await mesh.pub("x.keyed", {"id": "k" * 5000})  # would make the completion NOTIFY fail forever
        assert await _written(mesh) == before
        assert await mesh.pub("x.keyed", {"id": "fine"}) == "fine"


async def test_other_bad_arguments_are_refused_naming_them(pg_dsn: str, app_id: str) -> None:
    async with _open(app_id, pg_dsn, Callback()) as mesh:
        await _ready(mesh)
        waiting = await mesh.pub("x.wait", {})
        await K.wait_until(lambda: _hook_registered(mesh, waiting), what="the hook waits for its signal")
        before, attributes = await _written(mesh), await K.attributes(mesh, waiting)
        calls: dict[str, list[Callable[[], Awaitable[object]]]] = {
            "timeout": [partial(mesh.pubsub, "x.test", {}, timeout=-1),
                        partial(mesh.pubsub, "x.test", {}, timeout=math.nan),
                        partial(mesh.pubsub, "x.test", {}, timeout="10")],
            "entity": [partial(mesh.pub, "x.test", {}, entity=""), partial(mesh.pub, "x.test", {}, entity="e\x00")],
            "topic": [partial(mesh.pub, "", {}), partial(mesh.pub, None, {}), partial(mesh.signal, "x.go\x00", {}),
                      partial(mesh.sub, "", print)],
            "status": [partial(mesh.signal, "x.go", {"id": waiting}, status="bogus")],
            "code": [partial(mesh.signal, "x.go", {"id": waiting}, code="200"),
                     partial(mesh.interrupt, "x.wait", waiting, code=None)],
            "reason": [partial(mesh.interrupt, "x.wait", waiting, reason="why\x00")],
            "expire": [partial(mesh.interrupt, "x.wait", waiting, expire=-5)],
            "fields": [partial(mesh.get_query_state, waiting, "approved")],
            "callback": [partial(mesh.psub, "x.*", "not callable")],
            "version": [partial(mesh.activate, "v\x00")],
        }
        for argument, attempts in calls.items():
            for call in attempts:
                with pytest.raises(InvalidArgumentError) as refused:
                    await call()
                assert refused.value.argument == argument, (argument, str(refused.value))
        assert await _written(mesh) == before
        assert await K.attributes(mesh, waiting) == attributes  # the interrupts with bad arguments did nothing
        assert await mesh.get_status(waiting) > 0
        assert (await mesh.versions.active()).version == "1"


QUOTED_TOPIC = "x.q'uote\";DROP/**/TABLE/**/jobs;--"
HOSTILE_IDS = ["o'k\"; DROP TABLE jobs; --", "$1 $$ \\ '' \"\" %s {schema}", "x'); DELETE FROM jobs; --"]


async def test_quotes_and_sql_in_topics_and_job_ids_are_harmless(pg_dsn: str, app_id: str) -> None:
    graphs = GRAPHS + f"""
- subscribes: {json.dumps(QUOTED_TOPIC)}
  publishes: {json.dumps(QUOTED_TOPIC + ".done")}
  activities:
    q1:
      type: trigger
      job:
        maps:
          seen: '{{$self.output.data.value}}'
"""
    async with _open(app_id, pg_dsn, Callback()) as mesh:
        await mesh.deploy(K.app_yaml(app_id, graphs))
        assert await mesh.activate("1")
        heard: list[str] = []  # `<publishes>.<jid>` of each publication the pattern matched
        await mesh.psub(QUOTED_TOPIC + "*", lambda topic, output: heard.append(f"{topic}.{output['metadata']['jid']}"))
        for job_id in HOSTILE_IDS:
            output = await mesh.pubsub(QUOTED_TOPIC, {"value": job_id}, job_id=job_id, timeout=10)
            assert (output["metadata"]["jid"], output["data"]) == (job_id, {"seen": job_id})
            assert (await mesh.get_state(QUOTED_TOPIC, job_id))["data"] == {"seen": job_id}
            assert (await mesh.pubsub("x.test", {"note": job_id}, job_id=job_id + "/w", timeout=10))["data"] == {"y": 1}
            await mesh.interrupt("x.test", job_id + "/w", suppress=True)
        with pytest.raises(UnknownTopicError):
            await mesh.pub("x.test'; DROP TABLE jobs; --", {})
        with pytest.raises(JobNotFoundError):
            await mesh.get_status("nope' OR '1'='1")
        await K.wait_until(lambda: _heard_all(heard), what="the publishes notifications arrive")
        keys = [row["key"] for row in await mesh.db.fetch(f"SELECT key FROM {K.schema(app_id)}.jobs")]
        assert sorted(keys) == sorted(f"hmsh:{app_id}:j:{jid}" for jid in HOSTILE_IDS + [i + "/w" for i in HOSTILE_IDS])
        with pytest.raises(ConfigurationError):  # app ids cannot carry quotes at all
            async with HotMesh.open(app_id="a'; DROP SCHEMA public; --", dsn=pg_dsn):
                pass  # pragma: no cover


async def _heard_all(heard: list[str]) -> bool:
    return sorted(heard) == sorted(f"{QUOTED_TOPIC}.done.{jid}" for jid in HOSTILE_IDS)


async def _traces_of(db: Database, app_ids: list[str]) -> list[str]:
    """Whatever a refused open could have left for these app ids: a schema, or rows in the global tables."""
    found = [row["nspname"] for row in await db.fetch(
        "SELECT nspname FROM pg_namespace WHERE nspname = ANY($1::text[])", [a.lower() for a in app_ids])]
    for table in ("hmsh_applications", "hmsh_connections", "hmsh_application_versions"):
        exists = await db.fetchval("SELECT to_regclass($1) IS NOT NULL", f"public.{table}")
        if exists:
            rows = await db.fetch(f"SELECT app_id FROM public.{table} WHERE app_id = ANY($1::text[])", app_ids)
            found += [f"{table}:{row['app_id']}" for row in rows]
    return found


async def test_app_ids_too_long_for_postgres_names_are_refused_at_open(pg_dsn: str, app_id: str) -> None:
    from hotmesh_actors.mesh.arguments import MAX_APP_ID_BYTES

    assert MAX_APP_ID_BYTES == 42  # 'hmsh:' + app id + ':QUORUM:' + an 8-hex hash fits 63 bytes
    shared_prefix = app_id + "x" * (63 - len(app_id))
    refused = [app_id + "y" * (MAX_APP_ID_BYTES + 1 - len(app_id)), shared_prefix + "a", shared_prefix + "b"]
    for too_long in refused:
        with pytest.raises(ConfigurationError, match="longer than 42"):
            async with HotMesh.open(app_id=too_long, dsn=pg_dsn, settings=K.settings()):
                pass  # pragma: no cover
        async with trio.open_nursery() as nursery:
            with pytest.raises(ConfigurationError, match="longer than 42"):
                await nursery.start(HotMesh.serve, MeshConfig(app_id=too_long, dsn=pg_dsn))
            with pytest.raises(ConfigurationError, match="longer than 42"):
                await nursery.start(partial(HotMesh.serve, app_id=too_long, dsn=pg_dsn))
    for not_text in (123, None, ""):
        with pytest.raises(ConfigurationError, match="app_id"):
            async with HotMesh.open(app_id=not_text, dsn=pg_dsn):  # type: ignore[arg-type]
                pass  # pragma: no cover
    async with Database.open(pg_dsn) as db:
        assert await _traces_of(db, refused) == []
    # the longest accepted app id works end to end, its channels untruncated
    longest = app_id + "z" * (MAX_APP_ID_BYTES - len(app_id))
    async with _open(longest, pg_dsn, Callback()) as mesh:
        await _ready(mesh)
        assert (await mesh.pubsub("x.test", {}, timeout=10))["data"] == {"y": 1}


async def test_app_ids_that_fold_to_one_schema_are_refused(pg_dsn: str, app_id: str) -> None:
    """Schema names fold case and punctuation: the second app id that maps to a taken schema is refused."""
    lower = f"{app_id}-ab"
    async with _open(lower, pg_dsn, Callback()) as mesh:
        await _ready(mesh)
        jid = await mesh.pub("x.test", {})
        await K.wait_until(lambda: _status(mesh, jid, 0), what="the first app's job completes")
    for rival in (f"{app_id}_ab", f"{app_id.upper()}-AB", f"{app_id}--ab"):
        with pytest.raises(ConfigurationError, match="already uses"):
            async with HotMesh.open(app_id=rival, dsn=pg_dsn, settings=K.settings()):
                pass  # pragma: no cover
    async with _open(lower, pg_dsn, Callback()) as mesh:  # the owner still opens, its job intact
        assert await mesh.get_status(jid) == 0
