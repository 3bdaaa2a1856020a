"""Immutable JSON containers, so a compiled AppVersion can be shared and hashed without defensive copies.

`FrozenDict` and `FrozenList` subclass `dict` and `list`, so code that walks JSON-shaped data with
`isinstance(value, dict)` (the pipe evaluator, `json.dumps`) reads them unchanged; every mutating method
raises `TypeError`. `copy.deepcopy` and `thaw` return plain, mutable `dict`/`list` copies, which is what
an evaluator that clones an accumulator expects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn, TypeVar

K = TypeVar("K")
V = TypeVar("V")


def _refuse(self: object, *args: object, **kwargs: object) -> NoReturn:
    raise TypeError(f"{type(self).__name__} is immutable (compiled graphs are frozen)")


class FrozenDict(dict[K, V]):
    """A read-only, hashable `dict` (JSON object or id → value table in a compiled graph)."""

    __slots__ = ("_hash",)
    _hash: int

    __setitem__ = _refuse
    __delitem__ = _refuse
    __ior__ = _refuse
    clear = _refuse
    pop = _refuse
    popitem = _refuse
    setdefault = _refuse
    update = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        try:
            return self._hash
        except AttributeError:
            self._hash = hash(frozenset((key, _hashable(value)) for key, value in self.items()))
            return self._hash

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"

    def __copy__(self) -> dict[K, V]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[K, V]:
        return thaw(self)  # type: ignore[no-any-return]

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))


class FrozenList(list[V]):
    """A read-only, hashable `list` (JSON array in a compiled graph, e.g. a @pipe row)."""

    __slots__ = ()

    __setitem__ = _refuse
    __delitem__ = _refuse
    __iadd__ = _refuse
    __imul__ = _refuse
    append = _refuse
    clear = _refuse
    extend = _refuse
    insert = _refuse
    pop = _refuse
    remove = _refuse
    reverse = _refuse
    sort = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(_hashable(value) for value in self))

    def __repr__(self) -> str:
        return f"FrozenList({list.__repr__(self)})"

    def __copy__(self) -> list[V]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[V]:
        return thaw(self)  # type: ignore[no-any-return]

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenList, (list(self),))


def _hashable(value: Any) -> Any:
    """Return a hashable stand-in for a JSON value (plain dicts/lists may hide inside frozen ones)."""
    if isinstance(value, FrozenDict | FrozenList):
        return value
    if isinstance(value, dict):
        return freeze(value)
    if isinstance(value, list):
        return freeze(value)
    return value


_SCALARS = frozenset({str, int, float, bool, type(None), FrozenDict, FrozenList})


def freeze(value: Any) -> Any:
    """Deep-freeze JSON-shaped data: dicts → FrozenDict, lists/tuples → FrozenList, scalars unchanged."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict or isinstance(value, Mapping):
        return FrozenDict({key: freeze(item) for key, item in value.items()})
    if kind is list or isinstance(value, list | tuple):
        return FrozenList([freeze(item) for item in value])
    return value


def thaw(value: Any) -> Any:
    """Deep-copy frozen (or plain) JSON-shaped data into plain, mutable dicts and lists."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value


def frozen_mapping(pairs: Iterable[tuple[K, V]]) -> FrozenDict[K, V]:
    """Build a FrozenDict from (key, value) pairs without touching the values (they are already frozen)."""
    return FrozenDict(pairs)
