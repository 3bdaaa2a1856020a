"""The @pipe function catalog agrees with JavaScript on every vector in tests/data/pipe_vectors.json.

The vectors are computed by node from the reference implementations in tests/data/pipe_cases/
(see docs/dev/pipe_vectors.md); regenerate them with `node tests/data/make_pipe_vectors.mjs`.
One parametrized test per catalog domain; domains without vectors yet are skipped.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hotmesh_actors.core.pipe import catalog
from hotmesh_actors.core.pipe.env import PipeEnv, needs_env
from hotmesh_actors.core.pipe.functions.date import JSDate
from hotmesh_actors.core.pipe.jsvalues import UNDEFINED, is_number
from hotmesh_actors.errors import HotMeshError, UnknownPipeFunctionError

VECTORS_PATH = Path(__file__).resolve().parents[1] / "data" / "pipe_vectors.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))

DEFAULT_ENV = {"nowMs": 1767225600000, "fidelitySeconds": 5, "random": 0.5}

_TAGGED: dict[str, Any] = {
    "undefined": UNDEFINED,
    "NaN": math.nan,
    "Infinity": math.inf,
    "-Infinity": -math.inf,
    "-0": -0.0,
}


def decode(value: Any) -> Any:
    """A vector value as the catalog sees it: tagged JS-only values become their Python forms."""
    if isinstance(value, list):
        return [decode(item) for item in value]
    if isinstance(value, dict):
        tag = value.get("$js")
        if tag == "date":
            return JSDate(decode(value["ms"]))
        if tag is not None:
            return _TAGGED[tag]
        return {key: decode(item) for key, item in value.items()}
    if is_number(value) and abs(value) > 2**53:
        return float(value)  # JSON prints JS doubles as long integers; the value is the double
    return value


# Transcendental functions: Python uses the C library's libm, Node uses V8's fdlibm port; both are
# within an ulp of the true value but not always the same ulp, so these may differ by one ulp.
LIBM_FUNCTIONS = {
    ("math", name)
    for name in (
        "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "cbrt", "cos", "cosh", "exp",
        "expm1", "log", "log10", "log1p", "log2", "pow", "sin", "sinh", "tan", "tanh",
    )
} | {("number", "pow")}  # fmt: skip


def js_same(actual: Any, expected: Any, *, ulps: int = 0) -> bool:
    """Equality for comparing results: NaN equals NaN, -0 differs from 0, ints equal floats.

    `ulps` allows finite non-integral floats to differ by that many units in the last place.
    """
    if expected is UNDEFINED or expected is None or isinstance(expected, bool):
        return actual is expected
    if is_number(expected):
        if not is_number(actual):
            return False
        if math.isnan(expected):
            return math.isnan(actual)
        if expected == 0:
            return actual == 0 and math.copysign(1.0, actual) == math.copysign(1.0, expected)
        if ulps and math.isfinite(expected) and math.isfinite(actual):
            return abs(actual - expected) <= ulps * math.ulp(expected)
        return bool(actual == expected)
    if isinstance(expected, str):
        return isinstance(actual, str) and actual == expected
    if isinstance(expected, JSDate):
        return isinstance(actual, JSDate) and js_same(actual.ms, expected.ms)
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(js_same(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(js_same(actual[key], expected[key]) for key in expected)
        )
    raise TypeError(f"unexpected expected value {expected!r}")


def pipe_env(vector: dict[str, Any]) -> PipeEnv:
    """The fixed PipeEnv matching the `env` the case file gave JavaScript (or a default)."""
    settings = {**DEFAULT_ENV, **decode(vector.get("env", {}))}
    draw = float(settings["random"])
    return PipeEnv(
        now_ms=settings["nowMs"],
        random=lambda: draw,
        fidelity_seconds=int(settings["fidelitySeconds"]),
    )


def call(vector: dict[str, Any]) -> Any:
    function = catalog.lookup(vector["domain"], vector["fn"])
    args = decode(copy.deepcopy(vector["args"]))
    if needs_env(function):
        return function(pipe_env(vector), *args)
    return function(*args)


def _vector_params(domain: str) -> list[Any]:
    params = []
    seen: dict[str, int] = {}
    for vector in VECTORS:
        if vector["domain"] != domain:
            continue
        index = seen.get(vector["fn"], 0)
        seen[vector["fn"]] = index + 1
        params.append(pytest.param(vector, id=f"{domain}.{vector['fn']}[{index}]"))
    return params


def _check_vector(vector: dict[str, Any]) -> None:
    if vector.get("throws"):
        with pytest.raises(HotMeshError):
            call(vector)
        return
    actual = call(vector)
    expected = decode(vector["result"])
    ulps = 1 if (vector["domain"], vector["fn"]) in LIBM_FUNCTIONS else 0
    assert js_same(actual, expected, ulps=ulps), (
        f"{vector['domain']}.{vector['fn']}{vector['args']}: got {actual!r}, JavaScript gives {expected!r}"
    )


def _make_domain_test(domain: str) -> Callable[[dict[str, Any]], None]:
    @pytest.mark.parametrize("vector", _vector_params(domain))
    def test(vector: dict[str, Any]) -> None:
        _check_vector(vector)

    test.__name__ = f"test_{domain}_functions_match_javascript"
    test.__doc__ = f"Every @{domain} vector gives JavaScript's result (or raises where JS throws)."
    return test


for _domain in sorted(catalog.DOMAINS):
    globals()[f"test_{_domain}_functions_match_javascript"] = _make_domain_test(_domain)


def test_every_vector_names_a_catalog_domain() -> None:
    unknown = sorted({v["domain"] for v in VECTORS} - set(catalog.DOMAINS))
    assert not unknown, f"vectors for domains the catalog lacks: {unknown}"


# SPEC §3.9, the functions of the domains this test module's author implemented.
SPEC_FUNCTIONS: dict[str, list[str]] = {
    "array": [
        "get", "length", "concat", "indexOf", "lastIndexOf", "join", "pop", "push", "reverse",
        "shift", "slice", "sort", "splice", "unshift",
    ],
    "bitwise": ["and", "or", "xor", "leftShift", "rightShift", "unsignedRightShift"],
    "conditional": [
        "ternary", "equality", "strict_equality", "inequality", "strict_inequality", "greater_than",
        "less_than", "greater_than_or_equal", "less_than_or_equal", "nullish",
        "gte", "lte", "gt", "lt",  # our README-style aliases
    ],
    "logical": ["and", "or"],
    "math": [
        "add", "subtract", "multiply", "divide", "abs", "acos", "acosh", "asin", "asinh", "atan",
        "atan2", "atanh", "cbrt", "ceil", "clz32", "cos", "cosh", "exp", "expm1", "floor", "fround",
        "hypot", "imul", "log", "log10", "log1p", "log2", "max", "min", "pow", "random", "round",
        "sign", "sin", "sinh", "sqrt", "tan", "tanh", "trunc",
    ],
    "number": [
        "isFinite", "isEven", "isOdd", "isInteger", "isNaN", "parseFloat", "parseInt", "toFixed",
        "toExponential", "toPrecision", "gte", "lte", "gt", "lt", "max", "min", "pow", "round",
    ],
    "symbol": [
        "null", "undefined", "whitespace", "object", "array", "posInfinity", "negInfinity", "NaN",
        "date",
    ],
    "unary": ["not", "positive", "negative", "bitwise_not"],
}  # fmt: skip


@pytest.mark.parametrize("domain", sorted(SPEC_FUNCTIONS))
def test_catalog_has_every_spec_function(domain: str) -> None:
    missing = [name for name in SPEC_FUNCTIONS[domain] if name not in catalog.DOMAINS[domain]]
    assert not missing, f"@{domain} lacks {missing}"


@pytest.mark.parametrize("domain", sorted(SPEC_FUNCTIONS))
def test_every_catalog_function_has_a_docstring_example(domain: str) -> None:
    for name, function in catalog.DOMAINS[domain].items():
        doc = function.__doc__ or ""
        assert doc.strip(), f"@{domain}.{name} has no docstring"
        assert "Example: " in doc, f"@{domain}.{name} docstring lacks an 'Example:' line"


@pytest.mark.parametrize("domain", sorted(SPEC_FUNCTIONS))
def test_every_spec_function_has_vectors(domain: str) -> None:
    covered = {v["fn"] for v in VECTORS if v["domain"] == domain}
    assert set(SPEC_FUNCTIONS[domain]) <= covered, sorted(set(SPEC_FUNCTIONS[domain]) - covered)


def test_lookup_rejects_an_unknown_domain() -> None:
    with pytest.raises(UnknownPipeFunctionError, match="Unknown domain name"):
        catalog.lookup("nosuchdomain", "add")


def test_lookup_rejects_an_unknown_function() -> None:
    with pytest.raises(UnknownPipeFunctionError, match="Unknown domain function"):
        catalog.lookup("math", "nosuchfunction")


def test_math_random_draws_from_the_pipe_env() -> None:
    draws = iter([0.25, 0.75])
    env = PipeEnv(now_ms=0, random=lambda: next(draws))
    random = catalog.lookup("math", "random")
    assert needs_env(random)
    assert [random(env), random(env)] == [0.25, 0.75]


def test_symbol_date_reads_the_pipe_env_clock() -> None:
    date = catalog.lookup("symbol", "date")
    assert needs_env(date)
    assert date(PipeEnv(now_ms=1234, random=lambda: 0.0)).ms == 1234


def test_symbol_constants_are_fresh_each_call() -> None:
    make_array = catalog.lookup("symbol", "array")
    first = make_array()
    first.append(1)
    assert make_array() == []


def test_functions_ignore_extra_operands_like_javascript() -> None:
    assert catalog.lookup("math", "abs")(-3, "ignored") == 3
    assert catalog.lookup("unary", "not")(0, 1, 2) is True
