"""Fuzzing the graph loader and validator: damaged manifests fail only with a located GraphValidationError.

Each example starts from a valid manifest (tests/data/graphs/valid/order.yaml, `$ref`s resolved),
damages it (structurally, or as raw YAML text), writes it to a file and compiles it. The result
must be a compiled app or a GraphValidationError that names a line: never any other exception.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotmesh_actors.core.graph import compile_app
from hotmesh_actors.core.graph.loader import load_source
from hotmesh_actors.errors import GraphValidationError

VALID = Path(__file__).parents[1] / "data" / "graphs" / "valid" / "order.yaml"
BASE: dict[str, Any] = load_source(VALID).document
BASE_TEXT = yaml.safe_dump(BASE, sort_keys=False)

Path_ = tuple[str | int, ...]

ODD_VALUES: list[Any] = [
    None,
    0,
    -1,
    1.5,
    True,
    False,
    "",
    "x",
    "wokrer",
    [],
    {},
    [1, "a"],
    {"k": "v"},
    "{nosuch.output.data.x}",
    "{@nosuch.fn}",
    "{@math.nosuchfn}",
    "{$job.metadata.jid}",
    {"@pipe": 1},
    {"@pipe": [["{@math.add}"]]},
    {"$ref": "./nowhere.yaml"},
    {"$ref": "#/app"},
]


def all_paths(value: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every key path in a JSON-like value (not the root)."""
    found: list[Path_] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((*prefix, key))
            found.extend(all_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((*prefix, index))
            found.extend(all_paths(item, (*prefix, index)))
    return found


def parent_of(document: Any, path: Path_) -> Any:
    node = document
    for part in path[:-1]:
        node = node[part]
    return node


def mutate(document: dict[str, Any], data: st.DataObject) -> dict[str, Any]:
    """Apply one structural damage: delete, rename, retype or swap."""
    paths = all_paths(document)
    path = data.draw(st.sampled_from(paths), label="path")
    parent, last = parent_of(document, path), path[-1]
    kind = data.draw(st.sampled_from(["delete", "rename", "retype", "swap"]), label="kind")
    if kind == "delete":
        del parent[last]
    elif kind == "rename" and isinstance(parent, dict):
        new_key = data.draw(st.sampled_from(["", "x-extra", "typo", "type", "to", "$ref", str(last) + "s"]))
        parent[new_key] = parent.pop(last)
    elif kind == "swap":
        other = data.draw(st.sampled_from(paths), label="other")
        related = other[: len(path)] == path or path[: len(other)] == other
        if not related:
            other_parent = parent_of(document, other)
            parent[last], other_parent[other[-1]] = other_parent[other[-1]], parent[last]
    else:
        parent[last] = copy.deepcopy(data.draw(st.sampled_from(ODD_VALUES), label="value"))
    return document


def check(tmp: Path, text: str) -> None:
    """Compile `text` from a file; only a located GraphValidationError may escape."""
    target = tmp / "fuzz.yaml"
    target.write_text(text, encoding="utf-8")
    try:
        compile_app(str(target))
    except GraphValidationError as error:
        assert error.line is not None and error.line >= 1, str(error)
        assert error.file is not None


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def test_the_base_manifest_compiles(tmp: Path) -> None:
    check(tmp, BASE_TEXT)


@settings(
    max_examples=int(os.environ.get("HOTMESH_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), rounds=st.integers(min_value=1, max_value=3))
def test_structural_damage_fails_only_with_a_located_error(tmp: Path, data: st.DataObject, rounds: int) -> None:
    document = copy.deepcopy(BASE)
    for _ in range(rounds):
        if not all_paths(document):
            break
        document = mutate(document, data)
    check(tmp, yaml.safe_dump(document, sort_keys=False))


YAML_NOISE = st.text(alphabet=":-[]{}'\"&*!|>#%@`,? \n\tabc0\x07", min_size=1, max_size=4)


@settings(
    max_examples=int(os.environ.get("HOTMESH_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_corrupted_yaml_text_fails_only_with_a_located_error(tmp: Path, data: st.DataObject) -> None:
    lines = BASE_TEXT.splitlines(keepends=True)
    kind = data.draw(st.sampled_from(["insert", "delete", "duplicate_line", "indent", "dedent"]))
    at = data.draw(st.integers(min_value=0, max_value=len(lines) - 1), label="line")
    if kind == "insert":
        column = data.draw(st.integers(min_value=0, max_value=len(lines[at])))
        lines[at] = lines[at][:column] + data.draw(YAML_NOISE) + lines[at][column:]
    elif kind == "delete":
        column = data.draw(st.integers(min_value=0, max_value=max(len(lines[at]) - 1, 0)))
        width = data.draw(st.integers(min_value=1, max_value=6))
        lines[at] = lines[at][:column] + lines[at][column + width :]
    elif kind == "duplicate_line":
        lines.insert(at, lines[at])
    elif kind == "indent":
        lines[at] = " " + lines[at]
    else:
        lines[at] = lines[at][1:] if lines[at].startswith(" ") else lines[at]
    check(tmp, "".join(lines))


@pytest.mark.parametrize(
    "text",
    [
        "app: [\n",
        "app:\n  id: x\n   version: 1\n",
        "app:\n\tid: x\n",
        "app: {a: 1\n",
        "app:\n  id: 'unterminated\n",
        "app:\n  x: \x07\n",
        "%YAML 9.9\n---\napp: {}\n",
        "app: 1\n---\napp: 2\n",
        "",
        "[" * 400,
    ],
)
def test_yaml_syntax_errors_become_located_graph_validation_errors(tmp: Path, text: str) -> None:
    check(tmp, text)
