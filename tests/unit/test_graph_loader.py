"""load_source: inline text vs files, `$ref` resolution, and source locations of every key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotmesh_actors.core.graph.loader import INLINE_ORIGIN, format_path, load_source
from hotmesh_actors.errors import GraphValidationError

REFS = Path(__file__).parents[1] / "data" / "graphs" / "refs"


@pytest.fixture(autouse=True)
def _in_refs_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths keep the file names in messages short and exact."""
    monkeypatch.chdir(REFS)


def test_inline_yaml_is_recognised_by_its_leading_app_key() -> None:
    source = load_source("\n  app:\n    id: inline\n    version: '1'\n")
    assert source.origin == INLINE_ORIGIN
    assert source.document == {"app": {"id": "inline", "version": "1"}}
    assert source.locate(("app", "version")) == (INLINE_ORIGIN, 4, 5)


def test_path_input_reads_the_file_and_records_its_origin() -> None:
    source = load_source(Path("same_file.yaml"))
    assert source.origin == "same_file.yaml"
    assert source.document["app"]["id"] == "refs"
    assert source.files == ("same_file.yaml",)


def test_ref_to_a_whole_file_inlines_it_and_locates_keys_in_that_file() -> None:
    source = load_source("whole_file.yaml")
    graph = source.document["app"]["graphs"][0]
    assert graph["subscribes"] == "refs.start"
    assert source.locate(("app", "graphs", 0)) == ("whole_file.yaml", 5, 7)
    assert source.locate(("app", "graphs", 0, "subscribes")) == ("parts/graph.yaml", 1, 1)


def test_ref_with_a_json_pointer_takes_that_subtree() -> None:
    source = load_source("whole_file.yaml")
    schema = source.document["app"]["graphs"][0]["input"]["schema"]
    assert schema["properties"]["id"] == {"type": "string"}
    path = ("app", "graphs", 0, "input", "schema", "properties", "id")
    assert source.locate(path) == ("parts/schemas.yaml", 4, 5)


def test_same_file_pointer_inside_a_referenced_file_resolves_in_that_file() -> None:
    source = load_source("whole_file.yaml")
    lines = source.document["app"]["graphs"][0]["input"]["schema"]["properties"]["lines"]
    assert lines == {"type": "array", "items": {"type": "object"}}
    path = ("app", "graphs", 0, "input", "schema", "properties", "lines", "items")
    assert source.locate(path) == ("parts/schemas.yaml", 10, 3)


def test_nested_refs_across_three_files_resolve_recursively() -> None:
    source = load_source("whole_file.yaml")
    maps = source.document["app"]["graphs"][0]["activities"]["start"]["job"]["maps"]
    assert maps == {"id": "{$self.input.data.id}", "lines": "{$self.input.data.lines}"}
    assert source.locate(("app", "graphs", 0, "activities", "start", "job", "maps", "id")) == (
        "parts/maps.yaml",
        3,
        5,
    )
    assert "parts/extra.yaml" in source.files


def test_pointer_through_a_ref_in_another_file_follows_it() -> None:
    source = load_source("app:\n  topic: {$ref: './whole_file.yaml#/app/graphs/0/subscribes'}\n")
    assert source.document == {"app": {"topic": "refs.start"}}
    assert source.files == (INLINE_ORIGIN, "whole_file.yaml", "parts/graph.yaml")
    assert source.locate_value(("app", "topic")) == (INLINE_ORIGIN, 2, 10)


def test_inline_yaml_resolves_relative_refs_from_the_working_directory() -> None:
    source = load_source("app:\n  order: {$ref: './parts/schemas.yaml#/order/properties/id'}\n")
    assert source.document == {"app": {"order": {"type": "string"}}}
    assert source.locate(("app", "order", "type")) == ("parts/schemas.yaml", 5, 7)


def test_same_file_pointer_with_sibling_keys_merges_them_over_the_target() -> None:
    source = load_source("same_file.yaml")
    maps = source.document["app"]["graphs"][0]["activities"]["start"]["job"]["maps"]
    assert maps == {"id": "{$self.input.data.id}", "extra": 1}
    assert source.locate(("app", "graphs", 0, "activities", "start", "job", "maps", "extra")) == (
        "same_file.yaml",
        12,
        15,
    )


def test_ref_cycle_across_files_names_the_chain() -> None:
    with pytest.raises(GraphValidationError) as caught:
        load_source("cycle_a.yaml")
    assert str(caught.value) == (
        "cycle_b.yaml:1:1 graphs[0].$ref: $ref cycle: cycle_a.yaml -> cycle_b.yaml -> cycle_a.yaml"
    )


def test_ref_cycle_within_one_file_is_reported_at_the_looping_ref() -> None:
    with pytest.raises(GraphValidationError) as caught:
        load_source("same_file_cycle.yaml")
    error = caught.value
    assert (error.file, error.line, error.column) == ("same_file_cycle.yaml", 8, 5)
    assert error.message == "$ref cycle: same_file_cycle.yaml#/loop -> same_file_cycle.yaml#/loop"


def test_missing_ref_file_points_at_the_referring_ref() -> None:
    with pytest.raises(GraphValidationError) as caught:
        load_source("missing.yaml")
    assert str(caught.value) == (
        "missing.yaml:7:9 graphs[0].activities.$ref: $ref target file not found: parts/nope.yaml"
    )


def test_pointer_to_nothing_names_the_first_missing_step() -> None:
    with pytest.raises(GraphValidationError) as caught:
        load_source("bad_pointer.yaml")
    assert caught.value.message == (
        "$ref pointer #/order/properties/nothing leads nowhere in parts/schemas.yaml: "
        "nothing at #/order/properties/nothing"
    )
    assert (caught.value.line, caught.value.column) == (5, 7)


def test_missing_manifest_file_is_a_graph_validation_error() -> None:
    with pytest.raises(GraphValidationError, match="file not found: nowhere.yaml"):
        load_source("nowhere.yaml")


def test_yaml_syntax_error_reports_line_and_column() -> None:
    with pytest.raises(GraphValidationError) as caught:
        load_source("app:\n  id: x\n  graphs: [a\n  version: '1'\n")
    error = caught.value
    assert (error.file, error.line, error.column) == (INLINE_ORIGIN, 4, 10)
    assert error.message.startswith("YAML syntax error: while parsing a flow sequence started at line 3")


def test_duplicate_keys_are_refused_where_the_second_is_written() -> None:
    with pytest.raises(GraphValidationError) as caught:
        load_source("app:\n  id: a\n  id: b\n")
    assert str(caught.value) == (
        "<inline>:3:3 id: duplicate key 'id' (first written at line 2); YAML would silently keep only the last one"
    )


def test_scalars_follow_the_yaml_core_schema_like_hotmesh() -> None:
    source = load_source("app:\n  a: yes\n  b: 2024-01-01\n  c: 0x1F\n  d: 1e3\n  200: ok\n  e: ~\n  f: true\n")
    assert source.document["app"] == {
        "a": "yes",
        "b": "2024-01-01",
        "c": 31,
        "d": 1000.0,
        "200": "ok",
        "e": None,
        "f": True,
    }


def test_merge_keys_and_aliases_expand() -> None:
    source = load_source("app:\n  base: &b {x: 1, y: 2}\n  copy:\n    <<: *b\n    y: 3\n")
    assert source.document["app"]["copy"] == {"x": 1, "y": 3}


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(GraphValidationError, match="alias refers to a node that contains it"):
        load_source("app: &a\n  x: *a\n")


def test_locate_falls_back_to_the_nearest_located_ancestor() -> None:
    source = load_source("app:\n  id: x\n")
    assert source.locate(("app", "id", "nothing", 3)) == (INLINE_ORIGIN, 2, 3)
    assert source.locate(("elsewhere",)) == (INLINE_ORIGIN, 1, 1)


def test_locate_value_points_at_the_value_not_the_key() -> None:
    source = load_source("app:\n  id:   x\n")
    assert source.locate(("app", "id")) == (INLINE_ORIGIN, 2, 3)
    assert source.locate_value(("app", "id")) == (INLINE_ORIGIN, 2, 9)


def test_format_path_drops_app_and_brackets_dotted_keys() -> None:
    assert format_path(("app", "graphs", 0, "activities", "reserve", "type")) == "graphs[0].activities.reserve.type"
    assert format_path(("app", "graphs", 1, "hooks", "order.approve", 0)) == "graphs[1].hooks['order.approve'][0]"
    assert format_path(()) == ""
