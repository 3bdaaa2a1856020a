"""The @pipe evaluator: resolve mapping values (literals, references, pipes) against a job context.

Everything is compiled first into a small tree of nodes and then evaluated, because the engine
evaluates the same maps on every step: `compile_value(rules)` once, `.evaluate(context, env=…)`
many times. `resolve(value, context, env=…)` is the one-shot form (compile, then evaluate).

The context is a mapping built by the engine for one activity step, shaped like HotMesh's job state:
`{"<activityId>": {"input": …, "output": {"data": …, "metadata": …}, "hook": {"data": …}},
"$self": <the current activity's entry, already resolved by the engine>, "data": <job data>,
"metadata": <job metadata>}`. `{$job.…}` reads the context itself (or `context["$job"]` when bound),
so the engine never has to build HotMesh's circular `$job` alias.

Rows follow HotMesh (SPEC §3.8): row 0 resolves operands; each later array row calls its cell 0 with
all current operands and appends its other cells; `{"@pipe": …}` rows fan out into a queue that the
next array row fans in; `{"@reduce": …}` rows fold operand 0 into operand 1. Whether an array row is
an operand row or an operator row, and whether it reads the queue, depends only on the rows before it,
so the compiler decides it once.

Two deliberate choices where HotMesh is loose: a list in a map stays a list (HotMesh's mapper turns
it into an index-keyed object), and malformed pipes fail with a PipeEvaluationError that says where
instead of a JavaScript TypeError. As in HotMesh, a reference hands back the context's own object
(no copy), while literal lists/dicts written inside pipe cells are copied per evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from hotmesh_actors.core.pipe import catalog
from hotmesh_actors.core.pipe.env import PipeEnv
from hotmesh_actors.core.pipe.jsvalues import JSValue
from hotmesh_actors.core.pipe.nodes import (
    ContainerLiteral,
    Context,
    FunctionCell,
    ListNode,
    Literal,
    MapNode,
    NestedPipeRow,
    Node,
    OperandRow,
    OperatorRow,
    PipeNode,
    ReduceRow,
    ReducerVariable,
    Reference,
    Step,
    UnknownFunction,
)
from hotmesh_actors.core.pipe.references import (
    is_function_reference,
    is_reducer_term,
    is_reference,
    split_path,
)
from hotmesh_actors.errors import PipeEvaluationError, UnknownPipeFunctionError

__all__ = ["Context", "Node", "PipeNode", "compile_value", "resolve"]

PIPE_KEY: Final = "@pipe"
REDUCE_KEY: Final = "@reduce"


# ---------------------------------------------------------------------------------------------------
# compiling


def compile_value(value: JSValue, *, location: str = "") -> Node:
    """Compile mapping rules (any JSON-like value) once, for evaluating against many contexts.

    Dicts with an `@pipe` key are pipes; other dicts and lists are resolved member by member;
    `{…}` strings are references or function cells; everything else is a literal. Structural
    faults (an empty pipe, a row that is neither a list nor a pipe/reduce object) raise
    PipeEvaluationError here; unknown functions raise UnknownPipeFunctionError when reached.
    """
    if isinstance(value, str):
        return _compile_cell(value, location)
    if isinstance(value, dict):
        if PIPE_KEY in value:
            return _compile_pipe(value[PIPE_KEY], seeded=False, location=_join(location, "@pipe"))
        return MapNode(
            tuple(
                (key, compile_value(item, location=f"{location}.{key}" if location else str(key)))
                for key, item in value.items()
            )
        )
    if isinstance(value, list | tuple):
        return ListNode(tuple(compile_value(item, location=f"{location}[{index}]") for index, item in enumerate(value)))
    return Literal(value)


def _join(location: str, part: str) -> str:
    """Extend an error location (`maps.user_name` + `@pipe` → `maps.user_name @pipe`)."""
    return f"{location} {part}" if location else part


def _compile_cell(cell: JSValue, location: str) -> Node:
    """Compile one pipe cell (or one map leaf): function cell, reducer variable, reference, literal."""
    if not isinstance(cell, str):
        return ContainerLiteral(cell) if isinstance(cell, dict | list) else Literal(cell)
    if is_function_reference(cell):
        try:
            function = _lookup(cell)
        except UnknownPipeFunctionError as error:
            return UnknownFunction(error)
        return FunctionCell(function, cell, location)
    if is_reference(cell):
        term = cell[1:-1]
        if is_reducer_term(term):
            return ReducerVariable(split_path(term))
        return Reference(split_path(term))
    return Literal(cell)


def _lookup(cell: str) -> Callable[..., JSValue]:
    """Find the catalog function a `{@domain.fn}` cell names."""
    parsed = catalog.parse_function_cell(cell)
    if parsed is None:
        raise UnknownPipeFunctionError(f"Unknown domain function [{cell}]: expected the form {{@domain.function}}")
    return catalog.lookup(*parsed)


def _compile_pipe(rows: JSValue, *, seeded: bool, location: str) -> PipeNode:
    """Compile a row list, deciding statically what each row does (see the module docstring)."""
    if not isinstance(rows, list | tuple) or not (rows or seeded):  # an empty @reduce body keeps acc
        raise PipeEvaluationError(f"{location} must be a non-empty list of rows, got {rows!r}")
    steps: list[Step] = []
    has_operands = seeded
    queued = 0
    for index, row in enumerate(rows):
        where = f"{location} row {index}"
        if isinstance(row, dict) and REDUCE_KEY in row and has_operands:
            body = _compile_pipe(row[REDUCE_KEY], seeded=True, location=f"{where} > @reduce")
            steps.append(ReduceRow(body))
        elif isinstance(row, dict) and PIPE_KEY in row:
            steps.append(NestedPipeRow(_compile_pipe(row[PIPE_KEY], seeded=False, location=f"{where} > @pipe")))
            queued += 1
        elif queued or has_operands:
            if not isinstance(row, list | tuple) or not row:
                raise PipeEvaluationError(
                    f"{where} must be a list whose cell 0 is a function such as '{{@string.concat}}', got {row!r}"
                )
            steps.append(_compile_operator_row(row, fan_in=queued > 0, location=where))
            queued = 0
            has_operands = True
        elif isinstance(row, list | tuple):
            steps.append(OperandRow(tuple(_compile_cell(cell, where) for cell in row)))
            has_operands = True
        elif isinstance(row, dict):
            # HotMesh reads a non-pipe object here (e.g. @reduce with nothing to fold) as no operands.
            steps.append(OperandRow(()))
            has_operands = True
        else:
            raise PipeEvaluationError(f"{where} must be a list of cells or a @pipe/@reduce object, got {row!r}")
    return PipeNode(tuple(steps), location)


def _compile_operator_row(row: Sequence[JSValue], *, fan_in: bool, location: str) -> OperatorRow:
    """Compile an array row whose cell 0 consumes the operands (or the fan-in queue)."""
    head, rest = row[0], row[1:]
    cells = tuple(_compile_cell(cell, location) for cell in rest)

    def operator(
        function: Callable[..., JSValue] | None = None,
        variable: Node | None = None,
        missing: UnknownPipeFunctionError | None = None,
    ) -> OperatorRow:
        return OperatorRow(
            function=function,
            variable=variable,
            missing=missing,
            label=str(head),
            location=location,
            cells=cells,
            fan_in=fan_in,
        )

    if isinstance(head, str) and is_reference(head) and is_reducer_term(head[1:-1]):
        return operator(variable=ReducerVariable(split_path(head[1:-1])))
    if not isinstance(head, str) or not is_function_reference(head):
        return operator(
            missing=UnknownPipeFunctionError(
                f"Unknown domain function [{head!r}] in {location}: cell 0 of a row after the first "
                "must be a function cell such as '{@string.concat}'"
            )
        )
    try:
        function = _lookup(head)
    except UnknownPipeFunctionError as error:
        return operator(missing=error)
    return operator(function=function)


def resolve(value: JSValue, context: Context, *, env: PipeEnv) -> JSValue:
    """Resolve mapping rules against a job context in one shot: literal, `{…}` reference, or pipe.

    Missing paths give UNDEFINED; dicts and lists are resolved recursively. For values evaluated
    repeatedly, `compile_value(value)` once and call `.evaluate(context, env=env)` instead.

    Raises PipeEvaluationError when a catalog function fails (the message names the function and
    row) and UnknownPipeFunctionError for a `{@…}` the catalog does not have.
    """
    return compile_value(value).evaluate_in(context, None, env)
