"""The values Durable stores: JSON that Postgres can hold, checked with the path of the first bad part.

Workflow arguments, activity arguments and results, signal data and workflow results are stored as JSON
(jsonb). Python values that JSON cannot carry (a set, a datetime, an object, a NaN) or that Postgres refuses (a
NUL character, a lone surrogate) are refused here with a SerializationError naming the value's path, e.g.
``args[1]['items'][2]``, before anything is written. Tuples are accepted and come back as lists, as with `json`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from hotmesh_actors.core.durations import RetryPolicy, parse_duration
from hotmesh_actors.errors import InvalidArgumentError, SerializationError

JSON = Any


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "holds a NUL character (\\u0000), which Postgres jsonb cannot store"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        return f"holds {text[err.start]!r}, a lone surrogate that is not valid UTF-8"
    return None


def to_json(value: object, path: str) -> JSON:
    """A plain JSON copy of `value` (dicts, lists, str, int, float, bool, None), or SerializationError at `path`.

    The copy is what gets recorded, so later mutation of the caller's objects cannot change history.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise SerializationError(path, f"{value!r} is not a finite number; JSON has no NaN or Infinity")
        return float(value)
    if isinstance(value, str):
        problem = _text_problem(value)
        if problem:
            raise SerializationError(path, f"the string {problem}")
        return str(value)
    if isinstance(value, dict):
        copy: dict[str, JSON] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SerializationError(path, f"has the key {key!r} ({type(key).__name__}); JSON object keys "
                                               "are strings")
            problem = _text_problem(key)
            if problem:
                raise SerializationError(path, f"has a key that {problem}")
            copy[key] = to_json(item, f"{path}[{key!r}]")
        return copy
    if isinstance(value, list | tuple):
        return [to_json(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise SerializationError(path, f"{type(value).__name__} {_short(value)} is not JSON (use dicts, lists, str, "
                                   "int, float, bool or None)")


def to_json_args(args: Sequence[object], path: str = "args") -> list[JSON]:
    """Positional arguments as a JSON list (each checked with its index in the path)."""
    return [to_json(item, f"{path}[{index}]") for index, item in enumerate(args)]


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def digest(value: JSON) -> str:
    """A short stable fingerprint of a JSON value (canonical form), recorded beside a call for inspection."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


MAX_ID_BYTES = 1024
"""Signal ids and workflow ids become keys; as job ids, they are limited to 1 KiB."""


def identifier(argument: str, value: object) -> str:
    """A signal, workflow or patch id, or a task queue: non-empty text without NUL, at most MAX_ID_BYTES."""
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(argument, f"{argument} must be a non-empty string, not {value!r}")
    if "\x00" in value:
        raise InvalidArgumentError(argument, f"{argument} holds a NUL character, which Postgres cannot store")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        raise InvalidArgumentError(argument, f"{argument} is longer than {MAX_ID_BYTES} bytes: {value[:40]!r}…")
    return value


def retry_policy_argument(argument: str, value: object) -> RetryPolicy | None:
    """None or a RetryPolicy; InvalidArgumentError otherwise."""
    if value is None or isinstance(value, RetryPolicy):
        return value
    raise InvalidArgumentError(argument, f"{argument} must be a RetryPolicy, not {type(value).__name__}")


def workflow_name(workflow: Callable[..., Awaitable[Any]] | str) -> str:
    """A workflow's name: the text given, or the function's `__name__`."""
    if isinstance(workflow, str):
        return identifier("workflow", workflow)
    name = getattr(workflow, "__name__", None)
    if not callable(workflow) or not isinstance(name, str):
        raise InvalidArgumentError("workflow", f"workflow must be a workflow function or its name, not {workflow!r}")
    return name


def seconds(argument: str, value: object, *, allow_zero: bool = True) -> float:
    """A duration in seconds: a number, or text such as '30 days', '5s', '1.5 hours'. InvalidArgumentError else."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidArgumentError(argument, f"{argument} must be seconds or a duration such as '30 seconds', not "
                                             f"{type(value).__name__}: {value!r}")
    try:
        result = parse_duration(value)
    except ValueError as err:
        raise InvalidArgumentError(argument, f"{argument}: {err}") from None
    if result < 0 or (result == 0 and not allow_zero):
        raise InvalidArgumentError(argument, f"{argument} must be {'≥' if allow_zero else '>'} 0 seconds: {value!r}")
    return result
