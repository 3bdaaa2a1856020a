"""`Settings.log_level` / HMSH_LOGLEVEL on a real mesh: the level is applied when the mesh opens, and the
records a real run produces (a deploy warning, a worker retry) carry the agreed `extra=` fields."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import attrs
import pytest

from hotmesh_actors import RetryPolicy, Worker
from hotmesh_actors.core.messages import StreamMessage
from hotmesh_actors.logs import LIBRARY_LOGGER, LOG_LEVELS

from .conformance_kit import FAST, open_mesh
from .test_deploy_warnings import manifest


@pytest.fixture
def library_level() -> Iterator[None]:
    """Restore the library logger's level: a mesh opened with a log level sets it for the whole process."""
    library = logging.getLogger(LIBRARY_LOGGER)
    level = library.level
    try:
        yield
    finally:
        library.setLevel(level)


def _flaky() -> Callable[[StreamMessage], Awaitable[dict[str, Any]]]:
    calls: list[int] = []

    async def double(msg: StreamMessage) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first try fails")
        return {"data": {"doubled": msg.data["n"] * 2}}

    return double


@pytest.mark.parametrize(("level", "expected"), [
    ("debug", {logging.INFO, logging.WARNING}),
    ("info", {logging.INFO, logging.WARNING}),
    ("warn", {logging.WARNING}),
    ("error", set()),
    ("silent", set()),
])
async def test_the_mesh_applies_its_log_level_to_the_records_of_a_real_run(
    level: str, expected: set[int], pg_dsn: str, app_id: str, caplog: pytest.LogCaptureFixture,
    library_level: None,
) -> None:
    caplog.set_level(logging.NOTSET)  # the handler takes everything: only the library's level filters
    worker = Worker(f"{app_id}.double", _flaky(),
                    retry_policy=RetryPolicy(maximum_attempts=2, initial_interval=0.05, backoff_coefficient=1))
    async with open_mesh(app_id, pg_dsn, [worker], settings=attrs.evolve(FAST, log_level=level)) as mesh:
        assert logging.getLogger(LIBRARY_LOGGER).level == LOG_LEVELS[level]
        await mesh.deploy(manifest(app_id))  # two ignored keys: two WARNING records
        assert await mesh.activate("1")
        out = await mesh.pubsub(f"{app_id}.start", {"n": 21}, timeout=15)  # one retry: an INFO record
        assert out["data"]["doubled"] == 42
    ours = [r for r in caplog.records if r.name.startswith(LIBRARY_LOGGER + ".")
            and r.levelno in (logging.INFO, logging.WARNING) and r.name != "hotmesh_actors.embedded"]
    assert {r.levelno for r in ours} == expected
    for record in ours:
        assert getattr(record, "app_id", None) == app_id, record.getMessage()
    retries = [r for r in ours if r.getMessage().startswith("handler failed; retry 1")]
    assert len(retries) == (1 if logging.INFO in expected else 0)
    for record in retries:
        fields = (record.__dict__["topic"], record.__dict__["activity_id"], record.__dict__["job_id"])
        assert fields == (f"{app_id}.double", "w1", out["metadata"]["jid"])
