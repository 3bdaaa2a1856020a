"""Dependency analysis for the compiler: which stored paths an activity reads, which job paths maps write.

Paths use the store's readable names: an activity's fields are `<id>/<output|hook>/<data|metadata>/…`
and job fields are `data/…` or `metadata/…`. `{x.input…}` references are the same activity's request
payload, which is never stored, so they are not dependencies; neither are reducer variables
(`{$item…}`), function cells (`{@…}`) or references to ids the app does not have.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from typing import Any

from hotmesh_actors.core.pipe.references import collect_references

_CONTEXT_ROOTS = frozenset({"$input", "$output", "$item", "$key", "$index", "$app", "$graph"})
"""Reference roots that are not stored state (reducer context, app/graph constants)."""

_JOB_ROOT = "$job"
_SELF_ROOT = "$self"

StoredRead = tuple[str | None, str]
"""(producer activity id, or None for job-level state; full path)."""


def stored_reads(value: Any, reader: str, known: Container[str]) -> set[StoredRead]:
    """Every stored path referenced anywhere inside `value` (an activity and what it evaluates)."""
    found: set[StoredRead] = set()
    for term in collect_references(value):
        resolved = reference_path(term, reader, known)
        if resolved is not None:
            found.add(resolved)
    return found


def reference_path(term: str, reader: str, known: Container[str]) -> tuple[str | None, str] | None:
    """Turn `t1.output.data.a` into ('t1', 't1/output/data/a'); None when it is not stored state."""
    parts = term.split(".")
    root, rest = parts[0], [part for part in parts[1:] if part]
    if root in _CONTEXT_ROOTS or not rest:
        return None
    if root == _JOB_ROOT:
        return (None, "/".join(rest))
    producer = reader if root == _SELF_ROOT else root
    if producer not in known or rest[0] == "input":
        return None
    return (producer, "/".join([producer, *rest]))


def job_map_paths(maps: Any, prefix: tuple[str, ...] = ()) -> list[str]:
    """The job `data/...` paths a `job.maps` block writes (`name[N]` reserves `name/0..N-1`)."""
    paths: list[str] = []
    if not isinstance(maps, Mapping):
        return paths
    for key, value in maps.items():
        if isinstance(value, Mapping) and "@pipe" not in value:
            paths.extend(p for p in job_map_paths(value, (*prefix, str(key))) if p not in paths)
            continue
        name = "/".join((*prefix, str(key)))
        if "[" not in name:
            candidates = [f"data/{name}"]
        else:
            left, _, right = name.partition("[")
            amount = right.split("]", 1)[0]
            # `[-]` (marker data) and `[_]` (search data) spread an object's keys: unknown at compile time
            candidates = [f"data/{left}/{i}" for i in range(int(amount))] if amount.isdigit() else []
        paths.extend(p for p in candidates if p not in paths)
    return paths
