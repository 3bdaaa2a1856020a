"""The README's quick start and the demo command run as written (against the database under test)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], dsn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env={**os.environ, "HOTMESH_DSN": dsn}, capture_output=True, text=True,
                          timeout=120, check=False)


def test_readme_quick_start_runs_as_written(pg_dsn: str) -> None:
    readme = (ROOT / "README.md").read_text()
    code = re.findall(r"```python\n(.*?)```", readme, re.S)[0]
    result = _run([sys.executable, "-c", code], pg_dsn)
    assert result.returncode == 0, result.stderr
    assert "'status': 'reserved'" in result.stdout


def test_readme_first_lines_give_the_two_setup_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    block = lines[lines.index("```bash") + 1: lines.index("```bash") + 3]
    assert block[0].endswith("python -m hotmesh_actors demo")
    assert block[1].endswith("python -m pytest -q")
    ci = (ROOT / ".ci" / "run").read_text()
    assert block[1] in ci


def test_demo_command_runs_the_order_flow(pg_dsn: str) -> None:
    result = _run([sys.executable, "-m", "hotmesh_actors", "demo"], pg_dsn)
    assert result.returncode == 0, result.stderr
    assert '"status": "reserved"' in result.stdout and '"status": "backordered"' in result.stdout
