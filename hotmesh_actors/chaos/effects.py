"""The effect log seen from a worker: how the chaos kit counts each step's effect, and how a worker says
where its own effect happens.

In a chaos run every worker callback is wrapped. The wrapper writes a `call` row before the callback runs
(on its own, so re-runs after a kill are countable), and, when the callback succeeds, adds an `effect` row
to the reply's `StreamResponse.statements`: it commits in the same transaction as the reply and the ack of
the request, so it is there exactly once per step if the engine delivers each step's reply once.

A worker whose real effect happens elsewhere can mark the spot instead, so the kit counts *that*:

- ``await record_effect(msg)`` writes the effect row on its own (autocommitted), right where the worker
  performs a side effect outside the reply transaction (a payment API call, a write to another system).
  A kill after it and before the reply commits makes the request run again, and the kit counts a double.
- ``effect_statements(msg)`` returns the row's INSERT to put in ``StreamResponse(statements=[...])``
  beside the worker's own statements: the exactly-once pattern.

A callback that marked its effect either way gets no second row from the wrapper. Outside a chaos run both
do nothing, so the marks can stay in production code.
"""

from __future__ import annotations

import contextvars
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

import attrs

from hotmesh_actors.core.messages import MessageStatus, StreamMessage
from hotmesh_actors.errors import ConfigurationError
from hotmesh_actors.mesh.worker import StreamResponse, Worker
from hotmesh_actors.mesh.worker import _reply as normalised_reply  # the worker's own reading of a reply
from hotmesh_actors.store.chaos import CALL, EFFECT, EffectLog
from hotmesh_actors.store.driver import Database, Statement


@attrs.define
class _Step:
    """The callback running in this task: whether it marked its own effect."""

    marked: bool = False


@attrs.frozen
class _Recorder:
    log: EffectLog
    db: Database


_STEP: contextvars.ContextVar[_Step | None] = contextvars.ContextVar("hotmesh_chaos_step", default=None)
_active: list[_Recorder] = []  # the recorder of this process's chaos node, when it is one


def activate(log: EffectLog, db: Database) -> None:
    """Make this process record effects into `log` (called by the chaos node before its mesh opens)."""
    _active[:] = [_Recorder(log, db)]


def deactivate() -> None:
    """Stop recording (the node is shutting down)."""
    _active.clear()


def _mark() -> _Recorder | None:
    step = _STEP.get()
    if step is not None:
        step.marked = True
    return _active[0] if _active else None


async def record_effect(message: StreamMessage) -> None:
    """Record this step's effect now, on its own (see the module docstring); a no-op outside a chaos run.

    Call it where the worker performs an effect that does not commit with its reply.
    """
    recorder = _mark()
    if recorder is not None:
        await recorder.db.run(recorder.log.record_statement(EFFECT, message))


def effect_statements(message: StreamMessage) -> list[Statement]:
    """This step's effect row as statements for `StreamResponse(statements=...)`; [] outside a chaos run."""
    recorder = _mark()
    return [] if recorder is None else [recorder.log.record_statement(EFFECT, message)]


def with_effect_log(worker: Worker, log: EffectLog, db: Database) -> Worker:
    """The same worker with its callback wrapped to fill the effect log (see the module docstring)."""
    callback = worker.callback

    async def logged(message: StreamMessage) -> dict[str, Any] | StreamResponse | None:
        await db.run(log.record_statement(CALL, message))
        step = _Step()
        token = _STEP.set(step)
        try:
            result = await callback(message)
        finally:
            _STEP.reset(token)
        if step.marked:
            return result
        reply = normalised_reply(result, message)
        if reply is None or MessageStatus(reply.status) is MessageStatus.ERROR:
            return result  # no reply to commit with (None), or a failure: no effect took place
        return attrs.evolve(reply, statements=[*reply.statements, log.record_statement(EFFECT, message)])

    return attrs.evolve(worker, callback=logged)


def load_workers(spec: str) -> list[Worker]:
    """The workers named by `MODULE:ATTR` or `path/to/file.py:ATTR`.

    ATTR is a Worker, a list or tuple of them, or a function of no arguments returning them. A module
    name is imported with the current directory on `sys.path` (as `python -m` would). Raises
    ConfigurationError saying what is wrong with the spec.
    """
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ConfigurationError(f"workers {spec!r} must be MODULE:ATTR or FILE.py:ATTR, e.g. myapp.workers:WORKERS")
    try:
        if target.endswith(".py"):
            path = Path(target).resolve()
            if not path.is_file():
                raise ConfigurationError(f"workers file {target!r} does not exist")
            module_spec = importlib.util.spec_from_file_location(f"hotmesh_chaos_workers_{path.stem}", path)
            assert module_spec is not None and module_spec.loader is not None
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))
            module = importlib.import_module(target)
    except ConfigurationError:
        raise
    except Exception as err:  # the user's module failed to import: say which, and why
        raise ConfigurationError(f"cannot import the workers module {target!r}: {type(err).__name__}: {err}") from err
    try:
        found = getattr(module, attr)
    except AttributeError:
        raise ConfigurationError(f"{target!r} has no attribute {attr!r} (workers {spec!r})") from None
    if callable(found) and not isinstance(found, Worker):
        found = found()
    workers: list[object] = [found] if isinstance(found, Worker) else list(found) if isinstance(found, list | tuple) \
        else []
    if not workers or not all(isinstance(worker, Worker) for worker in workers):
        raise ConfigurationError(f"workers {spec!r} must name a Worker, a list of Workers or a function "
                                 f"returning them, not {type(found).__name__}")
    return [worker for worker in workers if isinstance(worker, Worker)]
