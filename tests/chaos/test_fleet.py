"""The chaos kit's process fleet on tiny real processes (fast, so not marked chaos): readiness, start failures,
kills, crashes, stop."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import pytest

from hotmesh_actors.chaos.fleet import Fleet, FleetStartError

READY_THEN_SLEEP = "import sys, time; print('ready', flush=True); time.sleep(60)"


def _fleet(tmp_path: Path, code: str, size: int = 2) -> Fleet:
    return Fleet(argv=[sys.executable, "-c", code], env=dict(os.environ), log_dir=tmp_path, size=size)


async def test_wait_ready_returns_once_every_process_said_ready(tmp_path: Path) -> None:
    fleet = _fleet(tmp_path, READY_THEN_SLEEP)
    fleet.start()
    try:
        await fleet.wait_ready(timeout=30)
        assert all(member.process.poll() is None for member in fleet.members)
    finally:
        fleet.stop(grace=5)
    assert all(member.process.poll() is not None for member in fleet.members)
    assert fleet.crashes == []


async def test_a_process_that_exits_before_it_is_ready_fails_the_start_with_its_log(tmp_path: Path) -> None:
    fleet = _fleet(tmp_path, "import sys; print('no module named myapp'); sys.exit(3)", size=1)
    fleet.start()
    with pytest.raises(FleetStartError, match=r"exited with status 3 before it was ready:\nno module named myapp"):
        await fleet.wait_ready(timeout=30)
    fleet.stop()


async def test_a_silent_process_fails_the_start_after_the_timeout(tmp_path: Path) -> None:
    fleet = _fleet(tmp_path, "import time; time.sleep(60)", size=1)
    fleet.start()
    try:
        with pytest.raises(FleetStartError, match="was not ready after 0.5 s"):
            await fleet.wait_ready(timeout=0.5)
    finally:
        fleet.stop(grace=5)


async def test_kill_one_sigkills_a_seeded_victim_and_starts_its_successor(tmp_path: Path) -> None:
    fleet = _fleet(tmp_path, READY_THEN_SLEEP, size=3)
    fleet.start()
    try:
        first = [member.process for member in fleet.members]
        slots = [random.Random(7).randrange(3)]
        victim = fleet.kill_one(random.Random(7))
        assert victim == first[slots[0]].pid and first[slots[0]].returncode == -9
        assert fleet.kills == 1 and fleet.spawned == 4 and len(fleet.members) == 3
        assert fleet.members[slots[0]].process.pid != victim
        await fleet.wait_ready(timeout=30)
    finally:
        fleet.stop(grace=5)
    assert fleet.crashes == []  # a process we killed is not a crash


async def test_a_process_that_dies_by_itself_is_recorded_as_a_crash_and_replaced(tmp_path: Path) -> None:
    fleet = _fleet(tmp_path, "import sys; print('ready', flush=True); sys.exit(2)", size=1)
    fleet.start()
    fleet.members[0].process.wait(timeout=30)
    fleet.restart_crashed()
    assert [crash.returncode for crash in fleet.crashes] == [2]
    assert fleet.spawned == 2 and fleet.crashes[0].log.endswith("node-1.log")
    fleet.members[0].process.wait(timeout=30)
    fleet.stop()
    assert [crash.returncode for crash in fleet.crashes] == [2, 2]  # noted at stop, not replaced
    assert "ready" in fleet.tail()
