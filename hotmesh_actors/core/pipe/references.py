"""Reference strings (`{a1.output.data.x}`, `{$job.metadata.jid}`, `{$item}` …): parse, walk, collect.

A string that is exactly `{…}` is a reference; there is no interpolation, so `"hello {x}"` stays a
literal. Three kinds exist, told apart by their first characters (in this order, as HotMesh does):

- `{@domain.fn}` — a function cell from the catalog;
- `{$item…}`, `{$key…}`, `{$index…}`, `{$input…}`, `{$output…}` — reducer variables, read from the
  current `@reduce` iteration (a prefix test, as in HotMesh, so `{$item.full_name}` qualifies);
- anything else — a dotted path walked through the job context.

Paths walk JavaScript-style: a step succeeds only on an own property of an object (dict key) or an
array (list index in canonical form, or `length`); anything else yields UNDEFINED.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Final

from hotmesh_actors.core.pipe.jsvalues import UNDEFINED, JSValue

REDUCER_PREFIXES: Final = ("$item", "$key", "$index", "$input", "$output")
"""Reference heads that read the current `@reduce` iteration instead of the job context."""

_ARRAY_INDEX: Final = re.compile(r"^(?:0|[1-9][0-9]*)$")
_MAX_ARRAY_INDEX: Final = 2**32 - 2


def is_reference(text: object) -> bool:
    """True for a string shaped exactly `{…}` (references, function cells and reducer variables)."""
    return isinstance(text, str) and len(text) >= 2 and text[0] == "{" and text[-1] == "}"


def is_function_reference(text: object) -> bool:
    """True for a `{@…}` string, which names a catalog function (known or not)."""
    return isinstance(text, str) and text.startswith("{@") and text.endswith("}")


def is_reducer_term(term: str) -> bool:
    """True when a reference's inner text reads a reducer variable (`$item.full_name`, `$index` …)."""
    return term.startswith(REDUCER_PREFIXES)


def split_path(term: str) -> tuple[str, ...]:
    """Split a reference's inner text into property names (`a1.output.data` → 3 parts)."""
    return tuple(term.split("."))


def get_property(current: JSValue, part: str) -> JSValue:
    """One JavaScript own-property read: dict key, canonical list index, list `length`; else UNDEFINED."""
    if isinstance(current, dict):
        if part in current:
            return current[part]
        # Python-built contexts may use int keys where JSON would have had "0", "1" …
        if _ARRAY_INDEX.match(part) and int(part) in current:
            return current[int(part)]
        return UNDEFINED
    if isinstance(current, list):
        if _ARRAY_INDEX.match(part):
            index = int(part)
            return current[index] if index < len(current) else UNDEFINED
        if part == "length":
            return len(current)
        return UNDEFINED
    if isinstance(current, Mapping):
        return current[part] if part in current else UNDEFINED
    return UNDEFINED


def walk(root: JSValue, parts: tuple[str, ...]) -> JSValue:
    """Follow property names from `root`; any missing step gives UNDEFINED (never raises)."""
    current = root
    for part in parts:
        current = get_property(current, part)
        if current is UNDEFINED:
            return UNDEFINED
    return current


def lookup_reference(context: Mapping[str, JSValue], parts: tuple[str, ...]) -> JSValue:
    """Resolve a job-context path; `$job` means the context itself unless the context binds `$job`.

    HotMesh makes `context.$job` a circular alias of the job state; we accept that shape or a context
    without it, so the engine need not build a self-referencing dict.
    """
    head = parts[0]
    if head in context:
        return walk(context[head], parts[1:])
    if head == "$job":
        return walk(context, parts[1:])
    return UNDEFINED


def js_object_keys(value: Mapping[str, JSValue]) -> list[str]:
    """Own enumerable keys in JavaScript order: array-index keys ascending, then insertion order."""
    keys = [str(key) for key in value]
    index_keys = [key for key in keys if _ARRAY_INDEX.match(key) and int(key) <= _MAX_ARRAY_INDEX]
    if not index_keys:
        return keys
    index_set = set(index_keys)
    return sorted(index_keys, key=int) + [key for key in keys if key not in index_set]


def _strings(value: JSValue) -> Iterator[str]:
    """Every string found in a JSON-like value (dict values and list items; keys are not values)."""
    stack: list[JSValue] = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            yield current
        elif isinstance(current, dict):
            stack.extend(current.values())
        elif isinstance(current, list | tuple):
            stack.extend(current)


def collect_references(value: JSValue) -> set[str]:
    """Every context reference path (inner text, no braces) anywhere in a value, for dependency analysis.

    Returns paths such as `a1.output.data.x`, `a1.hook.data.id`, `$self.output.data.y`,
    `$job.metadata.jid` and also `a1.input.data.z`: the graph compiler drops `<id>.input.…` paths
    (they are never persisted) while the validator still wants their activity ids. Function cells
    (`{@…}`) and reducer variables (`{$item…}` …) are not context references and are left out.
    """
    found: set[str] = set()
    for text in _strings(value):
        if is_reference(text) and not is_function_reference(text):
            term = text[1:-1]
            if not is_reducer_term(term):
                found.add(term)
    return found


def collect_function_cells(value: JSValue) -> set[tuple[str, str]]:
    """Every `{@domain.fn}` named anywhere in a value, as (domain, fn), for deploy-time validation.

    A malformed cell still appears (`{@oops}` → ("oops", ""), `{@a.b.c}` → ("a", "b.c")) so that
    `catalog.lookup` rejects it with UnknownPipeFunctionError instead of it slipping through.
    """
    found: set[tuple[str, str]] = set()
    for text in _strings(value):
        if is_function_reference(text):
            domain, _, name = text[2:-1].partition(".")
            found.add((domain, name))
    return found
