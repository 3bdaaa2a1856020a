"""A workflow's own data: searchable fields (`wf.search()`) and its entity document (`wf.entity()`).

Every operation is a durable call: it takes a history index, records its result (so a replay returns the
same value without touching storage again) and, when it writes, asks the engine to store the change in the
same transaction as the rest of the turn. The run keeps its own copy of both, loaded with the history.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from hotmesh_actors.durable.history import StepKind, WriteEntity, WriteSearch
from hotmesh_actors.durable.replay import Execution, Ready, current
from hotmesh_actors.durable.values import to_json
from hotmesh_actors.errors import InvalidArgumentError

JSON = Any


def _key(argument: str, key: object) -> str:
    if not isinstance(key, str) or not key or "\x00" in key:
        raise InvalidArgumentError(argument, f"{argument} must be a non-empty string without NUL, not {key!r}")
    return key


def _number(argument: str, value: object) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentError(argument, f"{argument} must be a number, not {type(value).__name__}: {value!r}")
    return value


class Search:
    """The workflow's searchable fields: small named values readable from outside (`handle.query_state`).

    Example: ``await wf.search().set({"status": "charged"}); n = await wf.search().incr("retries")``.
    """

    def __init__(self, execution: Execution) -> None:
        self._execution = execution

    def _call(self, name: str, compute: Any) -> Ready:
        return Ready(self._execution.instant(StepKind.SEARCH, name, compute))

    def set(self, fields: Mapping[str, object] | None = None, **more: object) -> Ready:
        """Set fields (a mapping and/or keywords); the awaited value is how many were set."""
        values = {_key("search field", key): value for key, value in {**(fields or {}), **more}.items()}
        checked = {key: to_json(value, f"search field {key!r}") for key, value in values.items()}

        def compute(_index: int) -> tuple[JSON, WriteSearch]:
            self._execution.search_fields.update(checked)
            return len(checked), WriteSearch(set=dict(checked))

        return self._call("set", compute)

    def get(self, key: str) -> Ready:
        """The field's value (None when unset)."""
        name = _key("key", key)
        return self._call("get", lambda _i: (copy.deepcopy(self._execution.search_fields.get(name)), None))

    def mget(self, *keys: str) -> Ready:
        """The fields' values, in order."""
        names = [_key("key", key) for key in keys]
        return self._call("mget", lambda _i: ([copy.deepcopy(self._execution.search_fields.get(name))
                                               for name in names], None))

    def delete(self, *keys: str) -> Ready:
        """Remove fields; the awaited value is how many existed."""
        names = tuple(_key("key", key) for key in keys)

        def compute(_index: int) -> tuple[JSON, WriteSearch]:
            fields = self._execution.search_fields
            existed = [name for name in names if name in fields]
            for name in existed:
                del fields[name]
            return len(existed), WriteSearch(delete=names)

        return self._call("delete", compute)

    def incr(self, key: str, amount: float = 1) -> Ready:
        """Add `amount` to a numeric field (missing counts as 0); the awaited value is the new value."""
        return self._arith("incr", key, _number("amount", amount), lambda old, n: old + n)

    def mult(self, key: str, factor: float) -> Ready:
        """Multiply a numeric field by `factor` (missing counts as 0); the awaited value is the new value."""
        return self._arith("mult", key, _number("factor", factor), lambda old, n: old * n)

    def _arith(self, op: str, key: str, operand: float, apply: Any) -> Ready:
        name = _key("key", key)

        def compute(_index: int) -> tuple[JSON, WriteSearch]:
            old = self._execution.search_fields.get(name, 0)
            if isinstance(old, bool) or not isinstance(old, int | float):
                raise InvalidArgumentError("key", f"search field {name!r} holds {old!r}, not a number")
            new = apply(old, operand)
            self._execution.search_fields[name] = new
            return new, WriteSearch(set={name: new})

        return self._call(op, compute)


def _path(path: str | None) -> list[str]:
    if path is None or path == "":
        return []
    if not isinstance(path, str) or "\x00" in path:
        raise InvalidArgumentError("path", f"path must be a dotted string such as 'order.items', not {path!r}")
    return path.split(".")


def _get(document: JSON, parts: list[str]) -> JSON:
    node = document
    for part in parts:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _parent(document: JSON, parts: list[str]) -> tuple[dict[str, JSON], str]:
    """The dict holding the last part (created along the way), in a document that must be an object."""
    node = document
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    return node, parts[-1]


def _merge(target: dict[str, JSON], patch: Mapping[str, JSON]) -> dict[str, JSON]:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


class Entity:
    """The workflow's entity document: one JSON document edited in place (`jobs.context` in phase 2).

    Paths are dotted (``"order.items"``); a missing path reads as None. Each call's awaited value is given
    in its docstring. Example: ``await wf.entity().merge({"user": {"name": "Ann"}})``.
    """

    def __init__(self, execution: Execution) -> None:
        self._execution = execution

    def _doc(self) -> dict[str, JSON]:
        document = self._execution.entity_document
        return copy.deepcopy(document) if isinstance(document, dict) else {}

    def _write(self, name: str, change: Any) -> Ready:
        def compute(_index: int) -> tuple[JSON, WriteEntity]:
            document = self._doc()
            result = change(document)
            self._execution.entity_document = document
            return copy.deepcopy(result), WriteEntity(document=copy.deepcopy(document))

        return Ready(self._execution.instant(StepKind.ENTITY, name, compute))

    def set(self, document: Mapping[str, object]) -> Ready:
        """Replace the whole document (an object); → the document."""
        value = to_json(document, "entity document")
        if not isinstance(value, dict):
            raise InvalidArgumentError("document", f"an entity document is a JSON object, not {type(value).__name__}")

        def change(current: dict[str, JSON]) -> JSON:
            current.clear()
            current.update(value)
            return current

        return self._write("set", change)

    def merge(self, patch: Mapping[str, object]) -> Ready:
        """Deep-merge an object into the document; → the document."""
        value = to_json(patch, "entity patch")
        if not isinstance(value, dict):
            raise InvalidArgumentError("patch", "entity().merge takes a JSON object")
        return self._write("merge", lambda current: _merge(current, value))

    def get(self, path: str | None = None) -> Ready:
        """→ the value at `path` (the whole document without one); None when missing."""
        parts = _path(path)
        value = self._execution.instant(
            StepKind.ENTITY, "get", lambda _i: (copy.deepcopy(_get(self._doc(), parts) if parts else self._doc()),
                                                None))
        return Ready(value)

    def delete(self, path: str) -> Ready:
        """Remove the value at `path`; → the document."""
        parts = _path(path) or [""]

        def change(current: dict[str, JSON]) -> JSON:
            holder = _get(current, parts[:-1]) if len(parts) > 1 else current
            if isinstance(holder, dict):
                holder.pop(parts[-1], None)
            return current

        return self._write("delete", change)

    def _list_op(self, name: str, path: str, apply: Any) -> Ready:
        parts = _path(path)
        if not parts:
            raise InvalidArgumentError("path", f"entity().{name} needs the path of a list")

        def change(current: dict[str, JSON]) -> JSON:
            holder, last = _parent(current, parts)
            items = holder.get(last)
            if items is None:
                items = []
            if not isinstance(items, list):
                raise InvalidArgumentError("path", f"entity path {path!r} holds {type(items).__name__}, not a list")
            apply(items)
            holder[last] = items
            return items

        return self._write(name, change)

    def append(self, path: str, value: object) -> Ready:
        """Append to the list at `path` (created when missing); → the list."""
        item = to_json(value, "value")
        return self._list_op("append", path, lambda items: items.append(item))

    def prepend(self, path: str, value: object) -> Ready:
        """Insert at the front of the list at `path`; → the list."""
        item = to_json(value, "value")
        return self._list_op("prepend", path, lambda items: items.insert(0, item))

    def remove(self, path: str, index: int) -> Ready:
        """Remove item `index` of the list at `path` (no error when out of range); → the list."""
        if isinstance(index, bool) or not isinstance(index, int):
            raise InvalidArgumentError("index", f"index must be an int, not {index!r}")
        return self._list_op("remove", path, lambda items: items.pop(index) if -len(items) <= index < len(items)
                             else None)

    def _scalar_op(self, name: str, path: str, apply: Any) -> Ready:
        parts = _path(path)
        if not parts:
            raise InvalidArgumentError("path", f"entity().{name} needs a path")

        def change(current: dict[str, JSON]) -> JSON:
            holder, last = _parent(current, parts)
            holder[last] = apply(holder.get(last), path)
            return holder[last]

        return self._write(name, change)

    def increment(self, path: str, amount: float = 1) -> Ready:
        """Add `amount` to the number at `path` (missing counts as 0); → the new number."""
        step = _number("amount", amount)

        def apply(old: JSON, where: str) -> JSON:
            if old is None:
                old = 0
            if isinstance(old, bool) or not isinstance(old, int | float):
                raise InvalidArgumentError("path", f"entity path {where!r} holds {old!r}, not a number")
            return old + step

        return self._scalar_op("increment", path, apply)

    def toggle(self, path: str) -> Ready:
        """Flip the boolean at `path` (missing counts as False); → the new value."""
        return self._scalar_op("toggle", path, lambda old, _where: not bool(old))

    def set_if_not_exists(self, path: str, value: object) -> Ready:
        """Set `path` to `value` unless it holds something; → what it holds afterwards."""
        item = to_json(value, "value")
        return self._scalar_op("set_if_not_exists", path, lambda old, _where: item if old is None else old)


def search() -> Search:
    """The running workflow's searchable fields (see :class:`Search`)."""
    return Search(current("wf.search()"))


def entity() -> Entity:
    """The running workflow's entity document (see :class:`Entity`)."""
    return Entity(current("wf.entity()"))
