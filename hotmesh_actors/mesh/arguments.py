"""Checks of what callers hand the facade, run before anything is written.

Postgres refuses some values that Python and JSON accept: a NUL character (``"\\u0000"``) in text or jsonb, a
lone surrogate (not UTF-8), names longer than 63 bytes (they are truncated, so two long names can collide),
btree index entries over ~2.7 kB and NOTIFY payloads over 8,000 bytes. Letting such a value through would
surface as an asyncpg error from deep inside a call, or, worse, as an engine step that rolls back and retries
forever. Each check here raises a typed error that names the argument (and, inside a payload, the path of the
offending key or value) instead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from hotmesh_actors.core.keys import MAX_CHANNEL_BYTES, quorum_channel
from hotmesh_actors.errors import ConfigurationError, InvalidArgumentError, InvalidPayloadError

MAX_JOB_ID_BYTES = 1024
"""A job id's limit: it is part of indexed keys (`jobs.key`, stream `jid`) and of every NOTIFY payload."""

MAX_TEXT_BYTES = 4096
"""The limit of other short strings (topics, entities, reasons, versions) that end up in keys or payloads."""

_APP_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _derived_names_fit(app_id: str) -> bool:
    """Whether every Postgres name built from `app_id` fits the 63-byte identifier limit untruncated.

    The schema is the app id (lower-cased, never longer); the longest name is a quorum channel for a long
    topic, `hmsh:<app_id>:QUORUM:<hash>` (see core.keys.quorum_channel), whose hash has a minimum length.
    """
    longest_channel = quorum_channel(app_id, "t" * (MAX_CHANNEL_BYTES + 1))
    return len(app_id.encode()) <= MAX_CHANNEL_BYTES and len(longest_channel.encode()) <= MAX_CHANNEL_BYTES


MAX_APP_ID_BYTES = max(n for n in range(1, MAX_CHANNEL_BYTES + 1) if _derived_names_fit("a" * n))
"""The longest app id whose schema and channel names Postgres stores untruncated (42 today)."""


def check_app_id(app_id: object) -> str:
    """An app id: 1 to MAX_APP_ID_BYTES letters, digits, '-' or '_'. Raises ConfigurationError."""
    if not isinstance(app_id, str):
        raise ConfigurationError(f"app_id must be a string, not {type(app_id).__name__}: {app_id!r}")
    if not app_id or not set(app_id) <= _APP_ID_CHARS:
        raise ConfigurationError(f"app_id must be letters, digits, '-' or '_': {app_id!r}")
    if not _derived_names_fit(app_id):
        raise ConfigurationError(
            f"app_id is {len(app_id.encode())} bytes, longer than {MAX_APP_ID_BYTES}: the names Postgres keeps "
            f"for it (its schema, and channels such as 'hmsh:<app_id>:QUORUM:<hash>') must fit "
            f"{MAX_CHANNEL_BYTES} bytes, else two app ids sharing a prefix would share them: {app_id!r}")
    return app_id


def _text_problem(value: str) -> str | None:
    """Why Postgres cannot store `value` as text/jsonb, or None."""
    if "\x00" in value:
        return "holds a NUL character (\\u0000), which Postgres text and jsonb cannot store"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        return f"holds {value[err.start]!r}, a lone surrogate that is not valid UTF-8"
    return None


def _refuse(argument: str, message: str) -> NoReturn:
    raise InvalidArgumentError(argument, f"{argument} {message}")


def check_text(argument: str, value: object, *, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """A non-empty string Postgres can store, at most `max_bytes` UTF-8 bytes. Raises InvalidArgumentError."""
    if not isinstance(value, str):
        _refuse(argument, f"must be a string, not {type(value).__name__}: {value!r}")
    if not value:
        _refuse(argument, "must not be empty")
    problem = _text_problem(value)
    if problem:
        _refuse(argument, f"{problem}: {value!r}")
    size = len(value.encode())
    if size > max_bytes:
        _refuse(argument, f"is {size} bytes, longer than {max_bytes}: {value[:40]!r}…")
    return value


def check_optional_text(argument: str, value: object, *, max_bytes: int = MAX_TEXT_BYTES) -> str | None:
    """None, or what check_text accepts."""
    return None if value is None else check_text(argument, value, max_bytes=max_bytes)


def check_job_id(value: object, *, argument: str = "job_id") -> str:
    """A job id: a non-empty string without NUL, at most MAX_JOB_ID_BYTES. Raises InvalidArgumentError."""
    return check_text(argument, value, max_bytes=MAX_JOB_ID_BYTES)


def check_optional_job_id(value: object) -> str | None:
    """None (the mesh picks an id) or what check_job_id accepts."""
    return None if value is None else check_job_id(value)


def check_number(argument: str, value: object, *, allow_infinity: bool = False) -> float:
    """A non-negative number (not a bool, not NaN). Raises InvalidArgumentError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        _refuse(argument, f"must be a number of seconds, not {type(value).__name__}: {value!r}")
    number = float(value)
    if math.isnan(number) or number < 0 or (math.isinf(number) and not allow_infinity):
        _refuse(argument, f"must be a non-negative {'' if allow_infinity else 'finite '}number: {value!r}")
    return number


def check_code(argument: str, value: object) -> int:
    """A status code: an int (not a bool). Raises InvalidArgumentError."""
    if isinstance(value, bool) or not isinstance(value, int):
        _refuse(argument, f"must be an int, not {type(value).__name__}: {value!r}")
    return value


def check_choice(argument: str, value: object, choices: Sequence[str]) -> str:
    """One of `choices`. Raises InvalidArgumentError."""
    if not isinstance(value, str) or value not in choices:
        _refuse(argument, f"must be one of {', '.join(map(repr, choices))}: {value!r}")
    return value


def check_callback(argument: str, value: object) -> Callable[..., Any]:
    """A callable. Raises InvalidArgumentError."""
    if not callable(value):
        _refuse(argument, f"must be callable, not {type(value).__name__}")
    return value


def check_names(argument: str, value: object) -> list[str]:
    """A list or tuple of strings (a lone string is refused: it would be read as its characters)."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        _refuse(argument, f"must be a list of strings, not {type(value).__name__}: {value!r}")
    return [check_text(f"{argument}[{index}]", name) for index, name in enumerate(value)]


def check_payload(data: object, *, argument: str = "data") -> dict[str, Any]:
    """A JSON object Postgres can store: JSON-serialisable, finite numbers, no NUL, valid UTF-8.

    Raises InvalidPayloadError; for a bad string the message gives its path, e.g. ``data['items'][2]['name']``
    or ``a key of data['items'][2]``.
    """
    if not isinstance(data, dict):
        raise InvalidPayloadError(f"{argument} must be a dict (a JSON object), not {type(data).__name__}")
    try:
        text = json.dumps(data, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as err:
        raise InvalidPayloadError(f"{argument} is not JSON-serialisable: {err}") from err
    # JSON escapes a NUL as \u0000 and keeps a lone surrogate raw, so the text shows both (a literal
    # backslash before 'u0000' also matches: then the walk finds nothing); only then walk to name the path
    if "\\u0000" in text or _text_problem(text) is not None:
        _raise_at_bad_string(data, argument)
    return data


def storable_text(text: str) -> str:
    """`text` with what Postgres text cannot hold (NUL, lone surrogates) replaced, for messages we must deliver."""
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _raise_at_bad_string(data: dict[str, Any], argument: str) -> None:
    """Raise InvalidPayloadError at the first string (key or value) Postgres cannot store; else return."""
    stack: list[tuple[object, str]] = [(data, argument)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            problem = _text_problem(value)
            if problem:
                raise InvalidPayloadError(f"{path} {problem}: {value!r}")
        elif isinstance(value, dict):
            for key, item in value.items():
                problem = _text_problem(key) if isinstance(key, str) else None
                if problem:
                    raise InvalidPayloadError(f"a key of {path} {problem}: {key!r}")
                stack.append((item, f"{path}[{key!r}]"))
        elif isinstance(value, list | tuple):
            stack.extend((item, f"{path}[{index}]") for index, item in enumerate(value))
