"""The library's logging: one logger tree, agreed `extra=` names, HMSH_LOGLEVEL levels, and no prints."""

from __future__ import annotations

import ast
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotmesh_actors.errors import ConfigurationError
from hotmesh_actors.logs import LIBRARY_LOGGER, LOG_FIELDS, apply_log_level
from hotmesh_actors.settings import Settings

PACKAGE = Path(__file__).resolve().parents[2] / "hotmesh_actors"
LEVELS = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text("utf-8"), str(path))


def _calls(tree: ast.AST) -> Iterator[ast.Call]:
    yield from (node for node in ast.walk(tree) if isinstance(node, ast.Call))


def test_every_library_logger_is_under_hotmesh_actors() -> None:
    names: list[str] = []
    for path, tree in _modules():
        for call in _calls(tree):
            func = call.func
            if isinstance(func, ast.Attribute) and func.attr == "getLogger":
                first = call.args[0] if call.args else None
                if isinstance(first, ast.Name) and first.id == "LIBRARY_LOGGER":
                    continue
                assert isinstance(first, ast.Constant), f"{path}:{call.lineno}: name the logger literally"
                name = first.value
                assert isinstance(name, str) and (name == LIBRARY_LOGGER or name.startswith(LIBRARY_LOGGER + ".")), (
                    f"{path}:{call.lineno}: logger {name!r} is outside the hotmesh_actors tree")
                names.append(name)
    assert "hotmesh_actors.mesh.engine" in names and "hotmesh_actors.chaos" in names


def _extra_keys(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Keys of every `extra={...}` of a log call, and of the dicts `_log_fields` helpers return."""
    for call in _calls(tree):
        func = call.func
        if not (isinstance(func, ast.Attribute) and func.attr in LOG_METHODS):
            continue
        for keyword in call.keywords:
            if keyword.arg != "extra":
                continue
            value = keyword.value
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) \
                    and value.func.attr == "_log_fields":
                continue  # checked below, where it is defined
            assert isinstance(value, ast.Dict), f"line {call.lineno}: extra= is a dict literal or _log_fields()"
            for key in value.keys:
                assert isinstance(key, ast.Constant) and isinstance(key.value, str)
                yield call.lineno, key.value
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "_log_fields":
            for returned in ast.walk(node):
                if isinstance(returned, ast.Return) and isinstance(returned.value, ast.Dict):
                    for key in returned.value.keys:
                        assert isinstance(key, ast.Constant) and isinstance(key.value, str)
                        yield returned.lineno, key.value


def test_log_records_use_the_agreed_extra_field_names() -> None:
    seen: set[str] = set()
    for path, tree in _modules():
        for line, key in _extra_keys(tree):
            assert key in LOG_FIELDS, f"{path}:{line}: extra key {key!r} is not one of {sorted(LOG_FIELDS)}"
            seen.add(key)
    assert {"app_id", "job_id", "topic", "activity_id"} <= seen


def test_the_library_prints_nothing_outside_the_command_line() -> None:
    offenders = [f"{path.relative_to(PACKAGE)}:{call.lineno}" for path, tree in _modules() if path.name != "cli.py"
                 for call in _calls(tree) if isinstance(call.func, ast.Name) and call.func.id == "print"]
    assert offenders == []


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.levels: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.levels.append(record.levelno)


@pytest.fixture
def collected() -> Iterator[_Collect]:
    """A handler on the library's root logger; the logger's level is restored afterwards."""
    library = logging.getLogger(LIBRARY_LOGGER)
    handler, level = _Collect(), library.level
    library.addHandler(handler)
    try:
        yield handler
    finally:
        library.removeHandler(handler)
        library.setLevel(level)


def _emit_every_level() -> None:
    engine = logging.getLogger("hotmesh_actors.mesh.engine")
    for level in LEVELS:
        engine.log(level, "level %d", level, extra={"app_id": "a", "job_id": "j"})


@pytest.mark.parametrize(("name", "passed"), [
    ("debug", LEVELS),
    ("info", LEVELS[1:]),
    ("warn", LEVELS[2:]),
    ("warning", LEVELS[2:]),
    ("error", LEVELS[3:]),
    ("silent", []),
    (" INFO ", LEVELS[1:]),
])
def test_each_log_level_lets_through_its_level_and_above(name: str, passed: list[int], collected: _Collect) -> None:
    apply_log_level(name)
    _emit_every_level()
    assert collected.levels == passed


def test_hmsh_loglevel_applies_when_no_level_is_given(collected: _Collect) -> None:
    apply_log_level(None, env={"HMSH_LOGLEVEL": "error"})
    _emit_every_level()
    assert collected.levels == [logging.ERROR, logging.CRITICAL]


def test_an_explicit_level_wins_over_hmsh_loglevel(collected: _Collect) -> None:
    apply_log_level("silent", env={"HMSH_LOGLEVEL": "debug"})
    _emit_every_level()
    assert collected.levels == []


def test_no_level_anywhere_leaves_the_apps_configuration_alone(collected: _Collect) -> None:
    logging.getLogger(LIBRARY_LOGGER).setLevel(logging.INFO)
    apply_log_level(None, env={})
    assert logging.getLogger(LIBRARY_LOGGER).level == logging.INFO


def test_settings_read_hmsh_loglevel_and_refuse_an_unknown_level() -> None:
    assert Settings.from_env({"HMSH_LOGLEVEL": "warn"}).log_level == "warn"
    assert Settings.from_env({}).log_level is None
    assert Settings.from_env({"HMSH_LOGLEVEL": "warn"}, log_level="debug").log_level == "debug"
    with pytest.raises(ConfigurationError, match="'loud' is not one of debug, info, warn, error, silent"):
        Settings(log_level="loud")
    with pytest.raises(ConfigurationError, match="HMSH_LOGLEVEL"):
        apply_log_level(None, env={"HMSH_LOGLEVEL": "verbose"})


def test_an_unconfigured_app_sees_no_last_resort_output() -> None:
    """The NullHandler on `hotmesh_actors` keeps Python's last-resort handler off stderr (another
    library's logger, with no handler of its own, still reaches it: the check can see output)."""
    code = ("import logging, hotmesh_actors; logging.getLogger('hotmesh_actors.deploy').warning('from-us'); "
            "logging.getLogger('elsewhere').warning('from-elsewhere')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert "from-elsewhere" in result.stderr and "from-us" not in result.stderr
