"""docs/dsl.md's key table is generated from the DSL schema; it must be regenerated when the schema changes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dsl_key_table_matches_the_schema() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_dsl_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
