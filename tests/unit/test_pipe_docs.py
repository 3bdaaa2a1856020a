"""docs/pipes.md is generated from the catalog; every function documents what it does and an example."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hotmesh_actors.core.pipe.catalog import DOMAINS

ROOT = Path(__file__).resolve().parents[2]


def test_pipe_docs_match_the_catalog() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_pipe_docs.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_every_function_has_a_summary_and_an_example(domain: str) -> None:
    missing = []
    for name, function in DOMAINS[domain].items():
        doc = function.__doc__ or ""
        if not doc.strip() or "Example:" not in doc:
            missing.append(name)
    assert missing == []
