"""Compiled @pipe nodes: the tree `compile_value` builds and the engine evaluates on every step.

Each node evaluates against a job context, the current `@reduce` iteration (or None) and a PipeEnv.
Pipe rows are steps over a small mutable state (operands + fan-out queue); which kind each row is
was decided when the pipe was compiled.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence

from hotmesh_actors.core.pipe.env import PipeEnv, needs_env
from hotmesh_actors.core.pipe.jsvalues import UNDEFINED, JSValue, is_nullish
from hotmesh_actors.core.pipe.references import get_property, js_object_keys, lookup_reference, walk
from hotmesh_actors.errors import PipeEvaluationError, UnknownPipeFunctionError

Context = Mapping[str, JSValue]
"""The job context a value is resolved against (see `evaluator` for its shape)."""

Frame = dict[str, JSValue] | None
"""The current `@reduce` iteration ($input, $output, $item, $key, $index), or None outside one."""


# ---------------------------------------------------------------------------------------------------
# value nodes


class Node:
    """A compiled value: evaluating it never re-parses the rules it came from."""

    __slots__ = ()

    def evaluate_in(self, context: Context, frame: Frame, env: PipeEnv) -> JSValue:
        """Produce this value for one context (and reducer frame)."""
        raise NotImplementedError

    def evaluate(self, context: Context, *, env: PipeEnv) -> JSValue:
        """Evaluate against a job context; the entry point the engine calls for each step."""
        return self.evaluate_in(context, None, env)


class Literal(Node):
    """A value that passes through unchanged (numbers, booleans, null, plain strings)."""

    __slots__ = ("value",)

    def __init__(self, value: JSValue) -> None:
        self.value = value

    def evaluate_in(self, context: Context, frame: Frame, env: PipeEnv) -> JSValue:
        return self.value


class ContainerLiteral(Node):
    """A literal list or dict inside pipe cells, copied per evaluation so functions may mutate it."""

    __slots__ = ("value",)

    def __init__(self, value: JSValue) -> None:
        self.value = value

    def evaluate_in(self, context: Context, frame: Frame, env: PipeEnv) -> JSValue:
        return clone(self.value)


class Reference(Node):
    """`{a1.output.data.x}`, `{$self.hook.data.id}`, `{$job.metadata.jid}`: a job-context path."""

    __slots__ = ("parts", "head", "rest")

    def __init__(self, parts: tuple[str, ...]) -> None:
        self.parts = parts
        self.head = parts[0]
        self.rest = parts[1:]

    def evaluate_in(self, context: Context, frame: Frame, env: PipeEnv) -> JSValue:
        try:
            current = context[self.head]
        except KeyError:
            return lookup_reference(context, self.parts)  # `$job` without a binding, or missing
        for part in self.rest:
            # the common case (a dict holding the key) inline; every other step the general way
            if type(current) is dict and part in current:
                current = current[part]
                continue
            current = get_property(current, part)
            if current is UNDEFINED:
                return UNDEFINED
        return current


class ReducerVariable(Node):
    """`{$item.full_name}`, `{$index}` …: a path into the current @reduce iteration."""

    __slots__ = ("parts",)

    def __init__(self, parts: tuple[str, ...]) -> None:
        self.parts = parts

    def evaluate_in(self, context: Context, frame: Frame, env: PipeEnv) -> JSValue:
        return UNDEFINED if frame is None else walk(frame, self.parts)


class FunctionCell(Node):
    """`{@date.now}` standing as a value (not in operator position): called with no arguments."""

    __slots__ = ("function", "label", "location", "with_env")

    def __init__(self, function: Callable[..., JSValue], label: str, location: str) -> None:
        self.function = function
        self.label = label
        self.location = location
        self.with_env = needs_env(function)

    def evaluate_in(self, context: Context, frame: Frame, env: PipeEnv) -> JSValue:
        try:
            return self.function(env) if self.with_env else self.function()
        except Exception as error:  # a catalog function may fail any way JavaScript code could
            raise function_error(self.label, self.location, (), error) from error


class UnknownFunction(Node):
    """A `{@…}` cell the catalog lacks; it raises when reached, as HotMesh does at run time."""

    __slots__ = ("error",)

    def __init__(self, error: UnknownPipeFunctionError) -> None:
        self.error = error

    def evaluate_in(self, context: Context, frame: Frame, env: PipeEnv) -> JSValue:
        raise UnknownPipeFunctionError(*self.error.args)


class MapNode(Node):
    """A dict of values resolved member by member (the shape of `input.maps`, `job.maps` …)."""

    __slots__ = ("items",)

    def __init__(self, items: tuple[tuple[str, Node], ...]) -> None:
        self.items = items

    def evaluate_in(self, context: Context, frame: Frame, env: PipeEnv) -> JSValue:
        return {key: node.evaluate_in(context, frame, env) for key, node in self.items}


class ListNode(Node):
    """A list of values resolved item by item."""

    __slots__ = ("items",)

    def __init__(self, items: tuple[Node, ...]) -> None:
        self.items = items

    def evaluate_in(self, context: Context, frame: Frame, env: PipeEnv) -> JSValue:
        return [node.evaluate_in(context, frame, env) for node in self.items]


# ---------------------------------------------------------------------------------------------------
# pipe rows


class _Run:
    """The mutable state of one pipe evaluation: current operands and the fan-out queue."""

    __slots__ = ("operands", "queue")

    def __init__(self, operands: list[JSValue] | None) -> None:
        self.operands = operands
        self.queue: list[JSValue] = []


class Step:
    """One compiled pipe row."""

    __slots__ = ()

    def run(self, state: _Run, context: Context, frame: Frame, env: PipeEnv) -> None:
        """Advance the pipe's operands (or queue) by this row."""
        raise NotImplementedError


class OperandRow(Step):
    """A row with nothing before it: every cell is resolved into the operand list."""

    __slots__ = ("cells",)

    def __init__(self, cells: tuple[Node, ...]) -> None:
        self.cells = cells

    def run(self, state: _Run, context: Context, frame: Frame, env: PipeEnv) -> None:
        state.operands = [cell.evaluate_in(context, frame, env) for cell in self.cells]


class OperatorRow(Step):
    """Cell 0 is called with every operand (or the fanned-in queue); the other cells are appended."""

    __slots__ = ("function", "variable", "missing", "label", "location", "cells", "fan_in", "with_env")

    def __init__(
        self,
        *,
        function: Callable[..., JSValue] | None = None,
        variable: Node | None = None,
        missing: UnknownPipeFunctionError | None = None,
        label: str,
        location: str,
        cells: tuple[Node, ...],
        fan_in: bool,
    ) -> None:
        self.function = function
        self.variable = variable
        self.missing = missing
        self.label = label
        self.location = location
        self.cells = cells
        self.fan_in = fan_in
        self.with_env = function is not None and needs_env(function)

    def run(self, state: _Run, context: Context, frame: Frame, env: PipeEnv) -> None:
        if self.fan_in:
            arguments: Sequence[JSValue] = state.queue
            state.queue = []
        else:
            arguments = state.operands or ()
        function = self.function
        if function is not None:
            try:
                result = function(env, *arguments) if self.with_env else function(*arguments)
            except Exception as error:  # a catalog function may fail any way JavaScript code could
                raise function_error(self.label, self.location, arguments, error) from error
        elif self.variable is not None:
            # HotMesh lets a reducer variable stand in operator position: its value, not a call.
            result = self.variable.evaluate_in(context, frame, env)
        else:
            assert self.missing is not None
            raise UnknownPipeFunctionError(*self.missing.args)
        if self.cells:
            state.operands = [result, *[cell.evaluate_in(context, frame, env) for cell in self.cells]]
        else:
            state.operands = [result]


class NestedPipeRow(Step):
    """`{"@pipe": rows}` as a row: evaluated on its own (fan-out); its result waits in the queue."""

    __slots__ = ("pipe",)

    def __init__(self, pipe: PipeNode) -> None:
        self.pipe = pipe

    def run(self, state: _Run, context: Context, frame: Frame, env: PipeEnv) -> None:
        state.queue.append(self.pipe.evaluate_in(context, frame, env))


class ReduceRow(Step):
    """`{"@reduce": rows}`: fold operand 0 (list or dict) into operand 1 (deep-copied, default null)."""

    __slots__ = ("body",)

    def __init__(self, body: PipeNode) -> None:
        self.body = body

    def run(self, state: _Run, context: Context, frame: Frame, env: PipeEnv) -> None:
        operands = state.operands or []
        collection = operands[0] if operands else UNDEFINED
        initial = operands[1] if len(operands) > 1 else UNDEFINED
        accumulator = None if is_nullish(initial) else clone(initial)
        body = self.body
        for index, (key, item) in enumerate(_entries(collection)):
            iteration: dict[str, JSValue] = {
                "$input": collection,
                "$output": accumulator,
                "$item": item,
                "$key": key,
                "$index": index,
            }
            accumulator = body.run_seeded([accumulator], context, iteration, env)
        state.operands = [accumulator]


def _entries(collection: JSValue) -> list[tuple[str, JSValue]]:
    """(key, item) pairs in JavaScript iteration order; scalars and null iterate nothing."""
    if isinstance(collection, list):
        return [(str(index), item) for index, item in enumerate(collection)]
    if isinstance(collection, Mapping):
        return [(key, collection[key]) for key in js_object_keys(collection)]
    if isinstance(collection, str):  # `for…in` over a string walks its indices
        return [(str(index), char) for index, char in enumerate(collection)]
    return []


class PipeNode(Node):
    """A compiled `{"@pipe": rows}`; its value is the first operand after the last row."""

    __slots__ = ("steps", "location")

    def __init__(self, steps: tuple[Step, ...], location: str) -> None:
        self.steps = steps
        self.location = location

    def evaluate_in(self, context: Context, frame: Frame, env: PipeEnv) -> JSValue:
        state = _Run(None)
        for step in self.steps:
            step.run(state, context, frame, env)
        operands = state.operands
        if operands is None:
            raise PipeEvaluationError(
                f"{self.location} has no array row to collect its nested pipes; "
                "end it with an operator row such as ['{@object.create}']"
            )
        return operands[0] if operands else UNDEFINED

    def run_seeded(self, seed: list[JSValue], context: Context, frame: Frame, env: PipeEnv) -> JSValue:
        """Evaluate as a reducer body, starting from the accumulator as the only operand."""
        state = _Run(seed)
        for step in self.steps:
            step.run(state, context, frame, env)
        operands = state.operands
        return operands[0] if operands else UNDEFINED


def function_error(label: str, location: str, arguments: Sequence[JSValue], error: Exception) -> PipeEvaluationError:
    """The error a failing catalog function becomes: names the function, the row and the inputs."""
    detail = str(error) or type(error).__name__
    return PipeEvaluationError(f"{label} failed in {location}: {detail} (arguments: {_describe(arguments)})")


def _describe(arguments: Sequence[JSValue]) -> str:
    """A short, bounded rendering of a call's arguments for error messages."""
    text = repr(list(arguments))
    return text if len(text) <= 200 else text[:197] + "..."


def clone(value: JSValue) -> JSValue:
    """Deep-copy a JSON-like value (HotMesh clones the @reduce accumulator the same way)."""
    if isinstance(value, dict):
        return {key: clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clone(item) for item in value]
    if value is None or value is UNDEFINED or isinstance(value, bool | int | float | str):
        return value
    if callable(value):
        return value
    return copy.deepcopy(value)
