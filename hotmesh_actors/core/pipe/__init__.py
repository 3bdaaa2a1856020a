"""The @pipe mapping language: references, pipes, reducers, transition conditions, and the catalog.

`resolve(value, context, env=…)` evaluates mapping rules once; `compile_value(value)` parses them for
repeated evaluation; `match_conditions(…)` decides a transition; `collect_references` and
`collect_function_cells` serve the graph compiler and validator. Pure: the clock and randomness
arrive through a `PipeEnv`.
"""

from __future__ import annotations

from hotmesh_actors.core.pipe.conditions import (
    CompiledConditions,
    code_matches,
    compile_conditions,
    match_conditions,
)
from hotmesh_actors.core.pipe.env import PipeEnv
from hotmesh_actors.core.pipe.evaluator import Node, compile_value, resolve
from hotmesh_actors.core.pipe.jsvalues import UNDEFINED, JSValue
from hotmesh_actors.core.pipe.references import collect_function_cells, collect_references

__all__ = [
    "UNDEFINED",
    "CompiledConditions",
    "JSValue",
    "Node",
    "PipeEnv",
    "code_matches",
    "collect_function_cells",
    "collect_references",
    "compile_conditions",
    "compile_value",
    "match_conditions",
    "resolve",
]
