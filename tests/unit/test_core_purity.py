"""core/ stays sans-IO: no trio, no driver, no store or actors, and no clock or randomness read directly.

The same holds for Durable's pure modules: the replay core and what it uses (workflow code runs there).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "hotmesh_actors"
CORE = PACKAGE / "core"
DURABLE_PURE = ("activity.py", "backend.py", "determinism.py", "documents.py", "failures.py", "history.py",
                "replay.py", "runner.py", "values.py", "workflow.py")
FORBIDDEN_MODULES = ("trio", "trio_asyncio", "asyncpg", "anyio", "asyncio", "hotmesh_actors.store",
                     "hotmesh_actors.mesh", "hotmesh_actors.actors", "hotmesh_actors.embedded", "hotmesh_actors.clock",
                     "random", "secrets", "uuid", "socket", "subprocess")
FORBIDDEN_CALLS = {("time", "time"), ("time", "time_ns"), ("time", "monotonic"), ("datetime", "now"),
                   ("datetime", "utcnow"), ("date", "today"), ("os", "urandom")}
MODULES = sorted(CORE.rglob("*.py")) + [PACKAGE / "durable" / name for name in DURABLE_PURE]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_module_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text("utf-8"))
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            names = []
        for name in names:
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_MODULES):
                problems.append(f"line {node.lineno}: imports {name}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if (owner_name, node.func.attr) in FORBIDDEN_CALLS:
                problems.append(f"line {node.lineno}: reads the clock or entropy via {owner_name}.{node.func.attr}()")
    assert problems == []
