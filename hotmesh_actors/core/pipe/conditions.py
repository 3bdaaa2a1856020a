"""Transition conditions: does `{code?, gate?, match?}` let a transition fire for this step?

Behaviour follows HotMesh's `MapperService.evaluate`:

- a compiled transition may be a bare boolean (`true` = no conditions);
- `code` (number, numeric string, or list; default 200) must contain the activity's response code;
- without `match` the transition fires; with it, each `actual` is resolved against the context (a
  literal, a `{…}` reference or a `@pipe`) and compared to `expected` with JavaScript `===`.
  `expected` is **not** resolved: it is a literal (HotMesh compares the raw YAML value);
- `gate: or` needs one match, anything else (default `and`) needs all; evaluation stops as soon as
  the outcome is known, and an empty `match` list means true for `and`, false for `or`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from hotmesh_actors.core.pipe.env import PipeEnv
from hotmesh_actors.core.pipe.evaluator import Context, Node, compile_value
from hotmesh_actors.core.pipe.jsvalues import (
    UNDEFINED,
    JSValue,
    is_nullish,
    strict_equals,
    to_string,
    truthy,
)
from hotmesh_actors.errors import PipeEvaluationError

DEFAULT_CODE: Final = 200


def code_matches(rule_code: JSValue, code: JSValue = DEFAULT_CODE) -> bool:
    """True when the response `code` satisfies a transition's `code` (a number or list; default 200).

    `{code: [200, 202]}` accepts either; `{code: 422}` only 422; a missing code means 200. Like
    HotMesh, list membership is strict but a fallback compares string forms, so `'500'` and `['500']`
    match 500 while `['500', '200']` does not.
    """
    member = code if truthy(code) else DEFAULT_CODE  # HotMesh: `rule.includes(code || 200)`
    if isinstance(rule_code, list | tuple) and any(strict_equals(item, member) for item in rule_code):
        return True
    # then `String(code) === String(rule || 200)`; a missing code (HotMesh would throw) counts as 200
    actual = DEFAULT_CODE if is_nullish(code) else code
    expected = rule_code if truthy(rule_code) else DEFAULT_CODE
    return to_string(actual) == to_string(list(expected) if isinstance(expected, tuple) else expected)


class CompiledConditions:
    """A transition rule compiled once (its `actual` pipes parsed) and matched on every step."""

    __slots__ = ("always", "code", "or_gate", "matches")

    def __init__(self, conditions: JSValue) -> None:
        self.always: bool | None = conditions if isinstance(conditions, bool) else None
        rule: Mapping[str, JSValue] = conditions if isinstance(conditions, Mapping) else {}
        self.code: JSValue = rule.get("code", UNDEFINED)
        self.or_gate = rule.get("gate") == "or"
        match = rule.get("match")
        self.matches: tuple[tuple[JSValue, Node], ...] | None = None
        if truthy(match):
            if not isinstance(match, list | tuple):
                raise PipeEvaluationError(f"conditions.match must be a list of {{expected, actual}}, got {match!r}")
            self.matches = tuple(_compile_match(entry, index) for index, entry in enumerate(match))

    def evaluate(self, context: Context, *, env: PipeEnv, code: JSValue = DEFAULT_CODE) -> bool:
        """True when the transition fires for this context and response code."""
        if self.always is not None:
            return self.always
        if not code_matches(self.code, code):
            return False
        if self.matches is None:
            return True
        for expected, actual in self.matches:
            hit = strict_equals(actual.evaluate(context, env=env), expected)
            if self.or_gate and hit:
                return True
            if not self.or_gate and not hit:
                return False
        return not self.or_gate


def _compile_match(entry: JSValue, index: int) -> tuple[JSValue, Node]:
    """One `{expected, actual}` pair: expected kept literal, actual compiled."""
    if not isinstance(entry, Mapping):
        entry = {}
    return entry.get("expected", UNDEFINED), compile_value(
        entry.get("actual", UNDEFINED), location=f"conditions.match[{index}].actual"
    )


def compile_conditions(conditions: JSValue) -> CompiledConditions:
    """Compile a transition's conditions (or bare boolean) for repeated matching."""
    return CompiledConditions(conditions)


def match_conditions(
    conditions: JSValue,
    context: Context,
    *,
    env: PipeEnv,
    code: JSValue = DEFAULT_CODE,
) -> bool:
    """Decide whether a transition with these conditions fires, in one shot.

    `conditions` is `{code?, gate?: 'and'|'or', match?: [{expected, actual}]}` or a bare boolean.
    Raises PipeEvaluationError / UnknownPipeFunctionError from resolving an `actual` pipe.
    """
    if isinstance(conditions, bool):
        return conditions
    if isinstance(conditions, Mapping) and not code_matches(conditions.get("code", UNDEFINED), code):
        return False  # decided before any `actual` is compiled, as HotMesh never resolves it then
    return CompiledConditions(conditions).evaluate(context, env=env, code=code)
