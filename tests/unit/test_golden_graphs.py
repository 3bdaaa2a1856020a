"""Golden graphs: each YAML under graphs/ compiles and, walked by the test interpreter, yields the
job data recorded in tests/data/golden/*.json (the quickstart ladder, the order flow, pipe vectors)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from hotmesh_actors.core.graph import AppVersion, compile_app, compile_document
from hotmesh_actors.core.graph.loader import load_source
from tests.unit.golden_runner import run_golden_case

ROOT = Path(__file__).resolve().parents[2]
GOLDEN_DIR = ROOT / "tests" / "data" / "golden"
GOLDEN_FILES = sorted(GOLDEN_DIR.glob("*.json"))
GRAPH_FILES = sorted((ROOT / "graphs").rglob("*.yaml"))


def _cases() -> list[Any]:
    params = []
    for path in GOLDEN_FILES:
        golden = json.loads(path.read_text())
        for case in golden["cases"]:
            params.append(pytest.param(golden, case, id=f"{path.stem}:{case['name']}"))
    return params


def _canonical(calls: list[dict[str, Any]]) -> Counter[str]:
    return Counter(json.dumps(call, sort_keys=True) for call in calls)


def test_every_golden_graph_has_expectations() -> None:
    named = {json.loads(path.read_text())["graph"] for path in GOLDEN_FILES}
    assert {str(path.relative_to(ROOT)) for path in GRAPH_FILES} <= named


def _compile(path: Path) -> AppVersion:
    source = load_source(str(path))
    return compile_document(source.document, origin=source.origin, locate=source.locate)


@pytest.mark.parametrize("graph_file", GRAPH_FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_golden_graph_passes_the_full_pipeline(graph_file: Path) -> None:
    app = compile_app(str(graph_file))  # load → validate → compile
    assert app == _compile(graph_file)
    assert hash(app) == hash(_compile(graph_file))


@pytest.mark.parametrize(("golden", "case"), _cases())
def test_golden_job_data(golden: dict[str, Any], case: dict[str, Any]) -> None:
    app = _compile(ROOT / golden["graph"])
    run = run_golden_case(app, golden, case)
    expected = case["data"]
    assert (run.data or None) == expected
    if "calls" in case:
        assert _canonical(run.calls) == _canonical(case["calls"])
    if "jobs" in case:
        assert run.jobs == case["jobs"]
