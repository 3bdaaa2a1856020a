"""The @pipe evaluator: references, literals, rows, fan-out/fan-in, @reduce, maps, errors.

Golden cases come from HotMesh's own pipe unit test and docs (SPEC §11 item 36). Catalog functions
are taken from the real catalog; any the catalog does not have yet are filled in by small JavaScript-
like stand-ins (the real implementation always wins), so these tests pin the evaluator, not the catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from hotmesh_actors import _public_resolve
from hotmesh_actors.core.pipe import (
    UNDEFINED,
    PipeEnv,
    catalog,
    collect_function_cells,
    collect_references,
    compile_value,
    resolve,
)
from hotmesh_actors.core.pipe.env import uses_env
from hotmesh_actors.core.pipe.jsvalues import JSValue, js_ge, loose_equals, to_number, to_string, truthy
from hotmesh_actors.errors import PipeEvaluationError, UnknownPipeFunctionError

ENV = PipeEnv(now_ms=1_700_000_000_000, random=lambda: 0.25, fidelity_seconds=5)


def _char_at(text: str, index: int = 0) -> str:
    return text[index] if 0 <= index < len(text) else ""


def _push(array: list[JSValue], *items: JSValue) -> list[JSValue]:
    array.extend(items)
    return array


def _array_get(array: JSValue, index: JSValue = 0) -> JSValue:
    if not isinstance(array, list):
        return UNDEFINED
    position = int(index or 0)
    return array[position] if 0 <= position < len(array) else UNDEFINED


def _object_set(obj: JSValue, prop: JSValue, value: JSValue) -> JSValue:
    target = obj if isinstance(obj, dict) else {}
    target[to_string(prop)] = value
    return target


def _object_create(*args: JSValue) -> dict[str, JSValue]:
    return {to_string(args[i]): (args[i + 1] if i + 1 < len(args) else UNDEFINED) for i in range(0, len(args), 2)}


@uses_env
def _now(env: PipeEnv) -> float:
    return env.now_ms


STAND_INS: dict[str, dict[str, Callable[..., JSValue]]] = {
    "string": {
        "charAt": _char_at,
        "concat": lambda *parts: "".join(to_string(part) for part in parts),
        "toLowerCase": lambda text: text.lower(),
        "split": lambda text, sep: text.split(sep),
    },
    "array": {"get": _array_get, "push": _push, "join": lambda a, sep=",": sep.join(map(to_string, a))},
    "math": {
        "add": lambda *xs: sum(to_number(x) for x in xs),
        "multiply": lambda a, b: to_number(a) * to_number(b),
        "pow": lambda a, b: to_number(a) ** to_number(b),
        "min": lambda *xs: min(to_number(x) for x in xs),
    },
    "number": {"gte": js_ge},
    "conditional": {
        "ternary": lambda c, a, b: a if truthy(c) else b,
        "nullish": lambda a, b: b if a is None or a is UNDEFINED else a,
        "equality": loose_equals,
    },
    "logical": {"or": lambda a, b: a if truthy(a) else b},
    "object": {
        "create": _object_create,
        "get": lambda obj, prop: obj.get(to_string(prop), UNDEFINED) if isinstance(obj, dict) else UNDEFINED,
        "set": _object_set,
    },
    "date": {"now": _now},
}


@pytest.fixture(autouse=True)
def catalog_with_stand_ins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The real catalog, with stand-ins only for functions it does not have yet."""
    merged = {domain: {**STAND_INS.get(domain, {}), **dict(functions)} for domain, functions in catalog.DOMAINS.items()}
    monkeypatch.setattr(catalog, "DOMAINS", merged)
    yield


def register(monkeypatch: pytest.MonkeyPatch, domain: str, name: str, function: Callable[..., JSValue]) -> None:
    """Add a test-only function to a fresh copy of one catalog domain."""
    domains = dict(catalog.DOMAINS)
    domains[domain] = {**dict(domains.get(domain, {})), name: function}
    monkeypatch.setattr(catalog, "DOMAINS", domains)


def run(value: JSValue, context: dict[str, JSValue] | None = None) -> JSValue:
    return resolve(value, context or {}, env=ENV)


PERSON: dict[str, JSValue] = {
    "a": {"output": {"data": {"first_name": "John", "last_name": "Doe", "full_name": "Luke Birdeau"}}},
    "b": {"output": {"data": {"email": "john.doe@example.com", "age": 30}}},
}


# --- literals and references ------------------------------------------------------------------------


@pytest.mark.parametrize("literal", [0, 1.5, -3, True, False, None, "plain", "hello {x}", "{x", "x}", ""])
def test_literals_pass_through(literal: JSValue) -> None:
    assert run(literal, PERSON) == literal
    assert type(run(literal, PERSON)) is type(literal)


def test_activity_output_reference_walks_dotted_path() -> None:
    assert run("{a.output.data.first_name}", PERSON) == "John"
    assert run("{b.output.data.age}", PERSON) == 30
    assert run("{a.output.data}", PERSON) == PERSON["a"]["output"]["data"]


def test_missing_paths_are_undefined() -> None:
    assert run("{a.output.data.nope}", PERSON) is UNDEFINED
    assert run("{zzz.output.data.x}", PERSON) is UNDEFINED
    assert run("{a.output.data.first_name.length}", PERSON) is UNDEFINED  # strings have no own props
    assert run("{a.output.data.first_name.x.y}", PERSON) is UNDEFINED
    assert run("{}", PERSON) is UNDEFINED


def test_whole_string_braces_are_always_a_reference() -> None:
    # HotMesh has no interpolation: any string shaped {…} is a path, even JSON-looking text.
    assert run('{"a": 1}', {"a": 1}) is UNDEFINED


def test_list_index_and_length_are_own_properties() -> None:
    context = {"t1": {"output": {"data": {"items": ["x", "y", {"k": "z"}]}}}}
    assert run("{t1.output.data.items.1}", context) == "y"
    assert run("{t1.output.data.items.2.k}", context) == "z"
    assert run("{t1.output.data.items.3}", context) is UNDEFINED
    assert run("{t1.output.data.items.01}", context) is UNDEFINED
    assert run("{t1.output.data.items.length}", context) == 3


def test_null_in_path_gives_undefined() -> None:
    assert run("{a.output.data.x}", {"a": {"output": {"data": None}}}) is UNDEFINED
    assert run("{a.output.data}", {"a": {"output": {"data": None}}}) is None


def test_self_reads_the_context_view_of_the_current_activity() -> None:
    a1 = {"output": {"data": {"y": "world"}}, "hook": {"data": {"id": "job-1"}}}
    context = {"a1": a1, "$self": a1}
    assert run("{$self.output.data.y}", context) == "world"
    assert run("{$self.hook.data.id}", context) == "job-1"
    assert run("{$self.output.data.y}", {"a1": a1}) is UNDEFINED


def test_job_reads_job_data_and_metadata_from_the_context_itself() -> None:
    context = {"data": {"k": "v"}, "metadata": {"jid": "j1", "js": 2}}
    assert run("{$job.data.k}", context) == "v"
    assert run("{$job.metadata.jid}", context) == "j1"
    assert run("{$job.metadata.missing}", context) is UNDEFINED


def test_job_prefers_an_explicit_job_binding() -> None:
    context = {"$job": {"data": {"k": "bound"}}, "data": {"k": "top"}}
    assert run("{$job.data.k}", context) == "bound"


def test_reducer_variables_outside_reduce_are_undefined() -> None:
    for cell in ("{$item}", "{$key}", "{$index}", "{$input}", "{$output}", "{$item.full_name}"):
        assert run(cell, {"$item": "not this"}) is UNDEFINED


def test_standalone_function_cell_is_called_with_no_arguments() -> None:
    assert run("{@date.now}") == ENV.now_ms
    assert run({"@pipe": [["{@date.now}"]]}) == ENV.now_ms
    assert run(["{@date.now}"]) == [ENV.now_ms]  # a plain list is resolved item by item, not a pipe


# --- maps ---------------------------------------------------------------------------------------------


def test_maps_resolve_recursively_with_pipes_anywhere() -> None:
    rules = {
        "first": "{a.output.data.first_name}",
        "email": "{b.output.data.email}",
        "is_employee": True,
        "company": "ACME Corp",
        "bonus": 500,
        "nested": {
            "initial": {"@pipe": [["{a.output.data.first_name}", 0], ["{@string.charAt}"]]},
            "list": ["{b.output.data.age}", {"@pipe": [[1, 2], ["{@math.add}"]]}, "x"],
        },
        "missing": "{a.output.data.nope}",
    }
    assert run(rules, PERSON) == {
        "first": "John",
        "email": "john.doe@example.com",
        "is_employee": True,
        "company": "ACME Corp",
        "bonus": 500,
        "nested": {"initial": "J", "list": [30, 3, "x"]},
        "missing": UNDEFINED,
    }


def test_quickstart_mapping_example() -> None:
    rules = {
        "first": "{a.output.data.first_name}",
        "last": "{a.output.data.last_name}",
        "email": "{b.output.data.email}",
        "age": "{b.output.data.age}",
    }
    assert run(rules, PERSON) == {"first": "John", "last": "Doe", "email": "john.doe@example.com", "age": 30}


# --- rows: golden vectors (SPEC §11 item 36) ------------------------------------------------------------


def test_golden_user_name_jdoe() -> None:
    rules = {
        "@pipe": [
            ["{a.output.data.first_name}", 0],
            ["{@string.charAt}", "{a.output.data.last_name}"],
            ["{@string.concat}"],
            ["{@string.toLowerCase}"],
        ]
    }
    assert run(rules, PERSON) == "jdoe"


@pytest.mark.parametrize(("age", "status"), [(30, "Junior"), (40, "Senior"), (41, "Senior")])
def test_golden_status_junior_senior(age: int, status: str) -> None:
    rules = {
        "@pipe": [
            ["{b.output.data.age}", 40],
            ["{@number.gte}", "Senior", "Junior"],
            ["{@conditional.ternary}"],
        ]
    }
    assert run(rules, {"b": {"output": {"data": {"age": age}}}}) == status


def test_golden_nested_pipe_initials_lb() -> None:
    # Each nested pipe starts from its own operands (its row-0 cells receive nothing from outside);
    # the array row after them fans their results in.
    rules = {
        "@pipe": [
            {
                "@pipe": [
                    ["{a.output.data.full_name}", " "],
                    ["{@string.split}", 0],
                    ["{@array.get}", 0],
                    ["{@string.charAt}"],
                ]
            },
            {
                "@pipe": [
                    ["{a.output.data.full_name}", " "],
                    ["{@string.split}", 1],
                    ["{@array.get}", 0],
                    ["{@string.charAt}"],
                ]
            },
            ["{@string.concat}"],
        ]
    }
    assert run(rules, PERSON) == "LB"


def test_golden_reduce_to_first_last_pairs() -> None:
    context = {"a": {"output": {"data": [{"full_name": "Luke Birdeau"}, {"full_name": "John Doe"}]}}}
    rules = [
        ["{a.output.data}", []],
        {
            "@reduce": [
                {"@pipe": [["{$output}"]]},
                {
                    "@pipe": [
                        {"@pipe": [["first"]]},
                        {"@pipe": [["{$item.full_name}", " "], ["{@string.split}", 0], ["{@array.get}"]]},
                        {"@pipe": [["last"]]},
                        {"@pipe": [["{$item.full_name}", " "], ["{@string.split}", 1], ["{@array.get}"]]},
                        ["{@object.create}"],
                    ]
                },
                ["{@array.push}"],
            ]
        },
    ]
    assert run({"@pipe": rules}, context) == [
        {"first": "Luke", "last": "Birdeau"},
        {"first": "John", "last": "Doe"},
    ]


def test_split_then_get_chain() -> None:
    rules = {"@pipe": [["{a.output.data.full_name}", " "], ["{@string.split}", 0], ["{@array.get}"]]}
    assert run(rules, PERSON) == "Luke"


def test_nested_pipes_fan_in_to_object_create() -> None:
    context = {"a": {"output": {"data": {"workflowDimension": ",0,0,1", "index": 13, "duration": 1000}}}}
    rules = {
        "@pipe": [
            {
                "@pipe": [
                    ["-sleep", "{a.output.data.workflowDimension}", "-", "{a.output.data.index}", "-"],
                    ["{@string.concat}"],
                ]
            },
            {"@pipe": [["{a.output.data.duration}"]]},
            ["{@object.create}"],
        ]
    }
    assert run(rules, context) == {"-sleep,0,0,1-13-": 1000}


@pytest.mark.parametrize(("initial_interval", "retry_count", "expected"), [(3, 2, 12), (None, 1, 2)])
def test_retry_formula_with_three_levels_of_nesting(
    initial_interval: int | None, retry_count: int, expected: int
) -> None:
    trigger: dict[str, JSValue] = {"backoffCoefficient": 2, "maximumInterval": 120}
    if initial_interval is not None:
        trigger["initialInterval"] = initial_interval
    context = {
        "trigger": {"output": {"data": trigger}},
        "cycle_hook": {"output": {"data": {"retryCount": retry_count}}},
    }
    rules = {
        "@pipe": [
            {
                "@pipe": [
                    {
                        "@pipe": [
                            {
                                "@pipe": [
                                    ["{trigger.output.data.backoffCoefficient}", 5],
                                    ["{@conditional.nullish}"],
                                ]
                            },
                            {
                                "@pipe": [
                                    ["{cycle_hook.output.data.retryCount}", 0],
                                    ["{@conditional.nullish}"],
                                ]
                            },
                            ["{@math.pow}"],
                        ]
                    },
                    {"@pipe": [["{trigger.output.data.initialInterval}", 1], ["{@conditional.nullish}"]]},
                    ["{@math.multiply}"],
                ]
            },
            {"@pipe": [["{trigger.output.data.maximumInterval}", 120], ["{@logical.or}"]]},
            ["{@math.min}"],
        ]
    }
    assert run(rules, context) == expected


def test_operator_row_appends_its_other_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[JSValue, ...]] = []

    def record(*args: JSValue) -> JSValue:
        seen.append(args)
        return "r"

    register(monkeypatch, "string", "record", record)
    rules = {
        "@pipe": [
            [1, "{a.output.data.first_name}"],
            ["{@string.record}", 2, "{b.output.data.age}"],
            ["{@string.record}"],
        ]
    }
    assert run(rules, PERSON) == "r"
    assert seen == [(1, "John"), ("r", 2, 30)]


def test_final_value_is_first_cell_of_last_row() -> None:
    assert run({"@pipe": [["x", "y", "z"]]}) == "x"
    assert run({"@pipe": [[]]}) is UNDEFINED


def test_queue_is_ignored_when_no_array_row_follows() -> None:
    assert run({"@pipe": [["kept"], {"@pipe": [["dropped"]]}]}) == "kept"


def test_nested_pipe_row_zero_function_receives_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[JSValue, ...]] = []

    def probe(*args: JSValue) -> JSValue:
        calls.append(args)
        return len(args)

    register(monkeypatch, "math", "probe", probe)
    assert run({"@pipe": [["a", "b"], {"@pipe": [["{@math.probe}"]]}, ["{@string.concat}"]]}) == "0"
    assert calls == [()]


def test_env_functions_receive_the_env_before_operands(monkeypatch: pytest.MonkeyPatch) -> None:
    @uses_env
    def stamp(env: PipeEnv, prefix: str) -> str:
        return f"{prefix}{env.now_ms}"

    register(monkeypatch, "date", "stamp", stamp)
    assert run({"@pipe": [["t="], ["{@date.stamp}"]]}) == f"t={ENV.now_ms}"


# --- @reduce --------------------------------------------------------------------------------------------


def test_reduce_over_object_uses_key_item_index_and_outer_context() -> None:
    context = {
        "a": {
            "output": {
                "workflowDimension": ",0,0,1",
                "index": 5,
                "data": {
                    "0": {"type": "wait", "data": {"first": "Luke", "last": "Birdeau"}},
                    "1": {"type": "sleep", "data": {"first": "John", "last": "Doe"}},
                },
            }
        }
    }
    rules = [
        ["{a.output.data}", {}],
        {
            "@reduce": [
                {"@pipe": [["{$output}"]]},
                {
                    "@pipe": [
                        {"@pipe": [["-"]]},
                        {"@pipe": [["{$item}", "type"], ["{@object.get}"]]},
                        {"@pipe": [["{a.output.workflowDimension}"]]},
                        {"@pipe": [["-"]]},
                        {
                            "@pipe": [
                                {"@pipe": [["{a.output.index}"]]},
                                {"@pipe": [["{$index}"]]},
                                ["{@math.add}"],
                            ]
                        },
                        {"@pipe": [["-"]]},
                        ["{@string.concat}"],
                    ]
                },
                {"@pipe": [["{$item}", "data"], ["{@object.get}"]]},
                ["{@object.set}"],
            ]
        },
    ]
    assert run({"@pipe": rules}, context) == {
        "-wait,0,0,1-5-": {"first": "Luke", "last": "Birdeau"},
        "-sleep,0,0,1-6-": {"first": "John", "last": "Doe"},
    }


def test_reduce_exposes_every_context_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    def note(acc: JSValue, key: JSValue, index: JSValue, item: JSValue, size: JSValue, prior: JSValue) -> JSValue:
        return [*acc, [key, index, item, size, prior]]

    register(monkeypatch, "array", "note", note)
    rules = {
        "@pipe": [
            [["p", "q"], []],
            {
                "@reduce": [
                    {"@pipe": [["{$output}"]]},
                    {"@pipe": [["{$key}"]]},
                    {"@pipe": [["{$index}"]]},
                    {"@pipe": [["{$item}"]]},
                    {"@pipe": [["{$input.length}"]]},
                    {"@pipe": [["{$output.length}"]]},
                    ["{@array.note}"],
                ]
            },
        ]
    }
    assert run(rules) == [["0", 0, "p", 2, 0], ["1", 1, "q", 2, 1]]


def test_reduce_over_dict_follows_javascript_key_order(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, "array", "append", lambda acc, key: [*acc, key])
    rules = {
        "@pipe": [
            ["{x}", []],
            {"@reduce": [{"@pipe": [["{$output}"]]}, {"@pipe": [["{$key}"]]}, ["{@array.append}"]]},
        ]
    }
    assert run(rules, {"x": {"b": 1, "10": 2, "2": 3, "a": 4}}) == ["2", "10", "b", "a"]


def test_reduce_accumulator_defaults_to_null_and_is_deep_copied() -> None:
    assert run({"@pipe": [[[1, 2]], {"@reduce": [["{$output}"]]}]}) is None
    seed = {"seed": [1]}
    context = {"s": seed}
    rules = {
        "@pipe": [
            [["v"], "{s}"],
            {
                "@reduce": [
                    {"@pipe": [["{$output}"]]},
                    {"@pipe": [["added"]]},
                    {"@pipe": [["{$item}"]]},
                    ["{@object.set}"],
                ]
            },
        ]
    }
    assert run(rules, context) == {"seed": [1], "added": "v"}
    assert seed == {"seed": [1]}


def test_reduce_body_may_start_with_an_operator_on_the_accumulator(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, "math", "same", lambda acc: acc)
    # body row 0 is an operator row fed [accumulator]; $item is appended; math.add sums the pair
    rules = {"@pipe": [[[1, 2, 3], 10], {"@reduce": [["{@math.same}", "{$item}"], ["{@math.add}"]]}]}
    assert run(rules) == 16


def test_reducer_variable_in_operator_position_is_read_not_called() -> None:
    rules = {"@pipe": [[["a", "b"], None], {"@reduce": [["{$item}"]]}]}
    assert run(rules) == "b"


def test_reduce_over_scalar_or_missing_input_keeps_accumulator() -> None:
    rules = {"@pipe": [["{nope}", 7], {"@reduce": [{"@pipe": [["x"]]}, ["{@string.concat}"]]}]}
    assert run(rules) == 7


def test_empty_reduce_body_keeps_the_accumulator() -> None:
    assert run({"@pipe": [[[1, 2], "acc"], {"@reduce": []}]}) == "acc"


def test_reduce_with_nothing_before_it_yields_no_operands() -> None:
    assert run({"@pipe": [{"@reduce": [["{@string.concat}"]]}]}) is UNDEFINED


def test_nested_reduce_inside_reduce_uses_its_own_frame() -> None:
    rules = {
        "@pipe": [
            [[["a", "b"], ["c"]], ""],
            {
                "@reduce": [
                    {"@pipe": [["{$output}"]]},
                    {
                        "@pipe": [
                            ["{$item}", ""],
                            {
                                "@reduce": [
                                    {"@pipe": [["{$output}"]]},
                                    {"@pipe": [["{$item}"]]},
                                    ["{@string.concat}"],
                                ]
                            },
                        ]
                    },
                    ["{@string.concat}"],
                ]
            },
        ]
    }
    assert run(rules) == "abc"


# --- compiled path ------------------------------------------------------------------------------------


def test_compiled_value_evaluates_against_many_contexts() -> None:
    compiled = compile_value({"name": {"@pipe": [["{a.output.data.n}", "!"], ["{@string.concat}"]]}})
    assert compiled.evaluate({"a": {"output": {"data": {"n": "x"}}}}, env=ENV) == {"name": "x!"}
    assert compiled.evaluate({"a": {"output": {"data": {"n": "y"}}}}, env=ENV) == {"name": "y!"}


def test_literal_containers_in_cells_are_fresh_on_every_evaluation() -> None:
    compiled = compile_value({"@pipe": [[[], 1], ["{@array.push}"]]})
    assert compiled.evaluate({}, env=ENV) == [1]
    assert compiled.evaluate({}, env=ENV) == [1]


def test_compiled_and_one_shot_agree() -> None:
    rules = {
        "@pipe": [
            ["{b.output.data.age}", 40],
            ["{@number.gte}", "Senior", "Junior"],
            ["{@conditional.ternary}"],
        ]
    }
    assert compile_value(rules).evaluate(PERSON, env=ENV) == run(rules, PERSON)


# --- errors -------------------------------------------------------------------------------------------


def test_function_failure_names_function_and_row(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: JSValue) -> JSValue:
        raise ValueError("bad input")

    register(monkeypatch, "json", "boom", boom)
    with pytest.raises(PipeEvaluationError) as caught:
        run({"out": {"@pipe": [["x"], ["{@string.concat}"], ["{@json.boom}"]]}})
    message = str(caught.value)
    assert "{@json.boom}" in message
    assert "row 2" in message
    assert "bad input" in message
    assert isinstance(caught.value.__cause__, ValueError)


def test_failure_in_nested_pipe_names_the_nested_row(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, "json", "boom", lambda: 1 / 0)
    with pytest.raises(PipeEvaluationError, match=r"@pipe row 1 > @pipe row 0"):
        run({"@pipe": [["x"], {"@pipe": [["{@json.boom}"]]}, ["{@string.concat}"]]})


def test_unknown_domain_and_function_raise() -> None:
    with pytest.raises(UnknownPipeFunctionError, match="nodomain"):
        run({"@pipe": [[1], ["{@nodomain.fn}"]]})
    with pytest.raises(UnknownPipeFunctionError, match="nosuchfn"):
        run({"@pipe": [[1], ["{@string.nosuchfn}"]]})
    with pytest.raises(UnknownPipeFunctionError):
        run("{@string.nosuchfn}")
    with pytest.raises(UnknownPipeFunctionError):
        run("{@malformed}")


def test_operator_must_be_a_function_cell() -> None:
    with pytest.raises(UnknownPipeFunctionError, match="cell 0"):
        run({"@pipe": [[1], [5]]})
    with pytest.raises(UnknownPipeFunctionError):
        run({"@pipe": [[1], ["{a.output.data.x}"]]})


def test_malformed_pipes_raise_pipe_evaluation_error() -> None:
    with pytest.raises(PipeEvaluationError):
        run({"@pipe": []})
    with pytest.raises(PipeEvaluationError):
        run({"@pipe": "not rows"})
    with pytest.raises(PipeEvaluationError):
        run({"@pipe": [[1], "not a row"]})
    with pytest.raises(PipeEvaluationError):
        run({"@pipe": [[1], []]})
    with pytest.raises(PipeEvaluationError, match="no array row"):
        run({"@pipe": [{"@pipe": [[1]]}]})


# --- public entry -------------------------------------------------------------------------------------


def test_public_resolve_turns_undefined_into_none_and_drops_members() -> None:
    public = _public_resolve.resolve
    assert public("{a.output.data.nope}", PERSON, env=ENV) is None
    assert public({"x": "{a.output.data.nope}", "y": "{a.output.data.first_name}"}, PERSON, env=ENV) == {"y": "John"}
    assert public(["{nope}", 1, {"z": "{nope}"}], PERSON, env=ENV) == [None, 1, {}]
    assert public({"@pipe": [["{a.output.data.first_name}", "!"], ["{@string.concat}"]]}, PERSON) == "John!"


def test_public_resolve_uses_the_system_clock_by_default() -> None:
    import time

    before = time.time() * 1000
    value = _public_resolve.resolve("{@date.now}", {})
    assert isinstance(value, int | float)
    assert before - 1 <= value <= time.time() * 1000 + 1


# --- collecting references ----------------------------------------------------------------------------


def test_collect_references_finds_paths_anywhere() -> None:
    activity = {
        "input": {"maps": {"x": "{t1.output.data.a}", "s": "{a1.input.data.z}"}},
        "job": {"maps": {"b": "{$self.output.data.y}", "j": "{$job.metadata.jid}"}},
        "sleep": {"@pipe": [["{h1.hook.data.id}", "{@date.now}"], ["{@math.add}"]]},
        "reduce": [{"@reduce": [["{$item.full_name}", "{$output}", "{$index}"]]}],
        "plain": "hello {x}",
        "number": 5,
    }
    assert collect_references(activity) == {
        "t1.output.data.a",
        "a1.input.data.z",
        "$self.output.data.y",
        "$job.metadata.jid",
        "h1.hook.data.id",
    }


def test_collect_function_cells_includes_malformed_ones() -> None:
    value = {"@pipe": [["{@date.now}"], ["{@math.add}", "{@oops}"], {"@pipe": [["{@a.b.c}"]]}], "k": "{a.b}"}
    cells = collect_function_cells(value)
    assert cells == {("date", "now"), ("math", "add"), ("oops", ""), ("a", "b.c")}
    unknown = set()
    for domain, name in cells:
        try:
            catalog.lookup(domain, name)
        except UnknownPipeFunctionError:
            unknown.add((domain, name))
    assert unknown == {("oops", ""), ("a", "b.c")}
