"""A fleet of OS processes running one command, kept at its size: kill one at random, start its successor.

Each process writes its standard output and error to a log file of its own (`<name>-<n>.log` in the log
directory); a process tells it is ready by writing the line `ready` there. The fleet tells apart the
processes it killed from the ones that died by themselves (`crashed`), which are restarted too.
"""

from __future__ import annotations

import logging
import random
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs
import trio

from hotmesh_actors.errors import HotMeshError

log = logging.getLogger("hotmesh_actors.chaos")

READY_LINE = "ready"


class FleetStartError(HotMeshError):
    """A process of the fleet exited (or stayed silent) before it was ready; the message holds its log."""


@attrs.frozen(kw_only=True)
class Crash:
    """A process that exited without being killed: its exit status and log file."""

    pid: int
    returncode: int
    log: str


@attrs.define
class _Member:
    process: subprocess.Popen[bytes]
    log: Path


@attrs.define
class Fleet:
    """`size` processes of `argv` (see the module docstring); `kill_one` and `stop` are synchronous."""

    argv: Sequence[str]
    env: Mapping[str, str]
    log_dir: Path
    size: int
    name: str = "node"
    cwd: Path | None = None
    members: list[_Member] = attrs.field(factory=list)
    kills: int = 0
    spawned: int = 0
    crashes: list[Crash] = attrs.field(factory=list)

    def _spawn(self) -> _Member:
        self.spawned += 1
        path = self.log_dir / f"{self.name}-{self.spawned}.log"
        with path.open("wb") as out:
            process = subprocess.Popen(list(self.argv), stdout=out, stderr=subprocess.STDOUT, env=dict(self.env),
                                       cwd=self.cwd, stdin=subprocess.DEVNULL)
        log.info("started %s pid %d (log %s)", self.name, process.pid, path, extra={"pid": process.pid})
        return _Member(process, path)

    def start(self) -> None:
        """Start `size` processes."""
        self.members = [self._spawn() for _ in range(self.size)]

    async def wait_ready(self, timeout: float) -> None:
        """Wait until every current process has written its ready line; FleetStartError otherwise."""
        with trio.move_on_after(timeout):
            while True:
                for member in self.members:
                    if member.process.poll() is not None:
                        raise FleetStartError(f"{self.name} pid {member.process.pid} exited with status "
                                              f"{member.process.returncode} before it was ready:\n"
                                              f"{_tail(member.log)}")
                if all(_is_ready(member.log) for member in self.members):
                    return
                await trio.sleep(0.1)
        silent = next(member for member in self.members if not _is_ready(member.log))
        raise FleetStartError(f"{self.name} pid {silent.process.pid} was not ready after {timeout:g} s:\n"
                              f"{_tail(silent.log)}")

    def restart_crashed(self) -> None:
        """Note and replace every process that exited by itself."""
        for slot, member in enumerate(self.members):
            code = member.process.poll()
            if code is not None:
                self.crashes.append(Crash(pid=member.process.pid, returncode=code, log=str(member.log)))
                log.warning("%s pid %d exited by itself with status %d (log %s)", self.name, member.process.pid,
                            code, member.log, extra={"pid": member.process.pid})
                self.members[slot] = self._spawn()

    def kill_one(self, rng: random.Random) -> int:
        """SIGKILL a process picked with `rng` and start its successor; returns the killed pid."""
        self.restart_crashed()
        slot = rng.randrange(len(self.members))
        victim = self.members[slot]
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=10)
        self.kills += 1
        log.info("killed %s pid %d (kill %d)", self.name, victim.process.pid, self.kills,
                 extra={"pid": victim.process.pid})
        self.members[slot] = self._spawn()
        return victim.process.pid

    def stop(self, grace: float = 10.0) -> None:
        """Interrupt every process (SIGINT: a clean stop), and kill those still running after `grace`."""
        self._note_crashes()
        for member in self.members:
            if member.process.poll() is None:
                member.process.send_signal(signal.SIGINT)
        for member in self.members:
            try:
                member.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                member.process.kill()
                member.process.wait()

    def _note_crashes(self) -> None:
        """Note processes that exited by themselves, without replacing them (the fleet is stopping)."""
        for member in self.members:
            code = member.process.poll()
            if code is not None and not any(crash.pid == member.process.pid for crash in self.crashes):
                self.crashes.append(Crash(pid=member.process.pid, returncode=code, log=str(member.log)))

    def tail(self, lines: int = 30, newest: int = 3) -> str:
        """The last lines of the newest logs, for a failure message."""
        paths = sorted(self.log_dir.glob(f"{self.name}-*.log"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        return "\n".join(f"--- {path.name}\n{_tail(path, lines)}" for path in paths[-newest:])


def _is_ready(path: Path) -> bool:
    try:
        text = path.read_text("utf-8", errors="replace")
    except FileNotFoundError:
        return False
    return any(line.strip() == READY_LINE for line in text.splitlines())


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text("utf-8", errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
