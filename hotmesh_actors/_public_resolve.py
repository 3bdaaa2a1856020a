"""`hotmesh_actors.resolve`: evaluate mapping rules against a context from ordinary Python code.

The core evaluator keeps JavaScript's `undefined` (UNDEFINED) so the engine can tell "not written"
from null; callers outside the engine want plain JSON-like values, so this entry converts it the
way JSON.stringify does.
"""

from __future__ import annotations

from collections.abc import Mapping

from hotmesh_actors.clock import system_env
from hotmesh_actors.core.pipe.env import PipeEnv
from hotmesh_actors.core.pipe.evaluator import resolve as _resolve
from hotmesh_actors.core.pipe.jsvalues import UNDEFINED, JSValue


def resolve(
    value: object,
    context: Mapping[str, object] | None,
    *,
    env: PipeEnv | None = None,
) -> object:
    """Resolve a literal, a `{…}` reference or a `{"@pipe": …}` against a job-shaped context.

    An unresolved reference yields None; inside results, undefined dict members are dropped and
    undefined list items become None (as JSON.stringify does). `env` fixes the clock and randomness
    for `{@date.now}`/`{@math.random}`; by default the system clock is used.

    Raises PipeEvaluationError when a pipe function fails (the message names the function and row),
    UnknownPipeFunctionError for a `{@domain.fn}` the catalog does not have.

    Example::

        >>> resolve({"@pipe": [["{a.output.data.first}", "!"], ["{@string.concat}"]]},
        ...         {"a": {"output": {"data": {"first": "hi"}}}})
        'hi!'
    """
    result = _resolve(value, context or {}, env=env if env is not None else system_env())
    return _without_undefined(result)


def _without_undefined(value: JSValue) -> object:
    """Replace UNDEFINED with JSON's view of it: absent in objects, null elsewhere."""
    if value is UNDEFINED:
        return None
    if isinstance(value, dict):
        return {key: _without_undefined(item) for key, item in value.items() if item is not UNDEFINED}
    if isinstance(value, list):
        return [_without_undefined(item) for item in value]
    return value
