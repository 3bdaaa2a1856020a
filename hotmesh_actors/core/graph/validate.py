"""Validate a loaded manifest against the DSL's JSON Schema, then against the rules a schema cannot say.

Validation stops at the first fault and raises :class:`~hotmesh_actors.errors.GraphValidationError`
located at the offending key (file, line, column and a ``graphs[0].activities.a1.type`` path).

Unknown keys are the one kind of fault with two treatments. HotMesh's compiler reads the keys it
knows and ignores the rest (a graph-level ``inputs:``, a ``code:`` beside ``to:`` in a transition),
so by default (lenient) every unknown key of an object the schema marks with ``x-kind`` becomes a
:class:`DeployWarning` and is removed from the validated document, so it can change nothing
downstream; ``strict=True`` refuses it as before. Everything else stays an error in both modes:
unknown activity types, malformed pipes (a ``{'@pipe': …}`` object is not an ``x-kind`` object),
wrong value types, broken references. The checks, in order:

1. the JSON Schema (``hotmesh.schema.json``, bundled with the package and read once on first use);
   among its errors the most specific one is reported, worded for a person;
2. semantics, in order: ``subscribes`` unique across graphs; activity ids unique across the app;
   exactly one trigger per graph; transitions and hook rules naming activities of their own graph
   (hook rules only ``hook`` activities); ``cycle.ancestor`` naming a hook upstream of the cycle;
   ``{id.…}`` references naming activities of their own graph (or ``$self``, ``$job``, ``$app``,
   ``$graph``, reducer variables); ``{@domain.fn}`` naming catalog functions.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from typing import Any, Final

import attrs
import jsonschema
from jsonschema.exceptions import ValidationError, relevance

from hotmesh_actors.core.graph.loader import KeyPath, LoadedSource, format_path
from hotmesh_actors.core.graph.model import DeployWarning
from hotmesh_actors.core.pipe import catalog
from hotmesh_actors.core.pipe.references import is_function_reference, is_reducer_term, is_reference
from hotmesh_actors.errors import UnknownPipeFunctionError

__all__ = ["ACTIVITY_TYPES", "SYSTEM_ROOTS", "Validated", "load_schema", "validate_source"]

ACTIVITY_TYPES: Final = ("trigger", "worker", "await", "hook", "signal", "cycle", "interrupt", "activity")
"""Every accepted `type`; `activity` is an alias of `hook`."""

SYSTEM_ROOTS: Final = frozenset({"$app", "$self", "$graph", "$job"})
"""Reference heads that are not activity ids."""

_HOOK_TYPES: Final = frozenset({"hook", "activity"})
# Activity keys holding free text or settings, not mappings: strings there are not references.
_NOT_MAPPED: Final = frozenset({"title", "description", "settings"})
# Activity keys whose `schema` (and coded `<code>: {schema}`) entries are JSON Schemas.
_SCHEMA_BLOCKS: Final = frozenset({"input", "output", "job", "signal", "resolver"})
_CODE: Final = re.compile(r"^[0-9]{3}$")


@functools.cache
def load_schema() -> Mapping[str, Any]:
    """Return the DSL's JSON Schema (draft 2020-12), read once from the package data."""
    text = resources.files("hotmesh_actors.core.graph").joinpath("hotmesh.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema())


@attrs.frozen(kw_only=True)
class Validated:
    """A manifest that passed validation: its document without the ignored keys, and their warnings."""

    document: Any
    warnings: tuple[DeployWarning, ...] = ()


_MAX_IGNORE_ROUNDS: Final = 50  # one round drops every ignored key; the bound only guards the loop


def validate_source(source: LoadedSource, *, strict: bool = False) -> Validated:
    """Check a loaded manifest; return the document to compile and the warnings it gave.

    Lenient (the default): unknown keys HotMesh ignores become warnings, and the returned
    document is a copy without them. ``strict=True``: they are errors; the document is returned
    unchanged with no warnings.

    Raises GraphValidationError for the first fault, with the file, line, column and key path of
    the key at fault, e.g. ``order.yaml:14:7 graphs[0].activities.reserve.type: 'wokrer' is not
    one of trigger, worker, await, hook, signal, cycle, interrupt, activity``.

    Example::

        source = load_source("graphs/order.yaml")
        checked = validate_source(source)
        for warning in checked.warnings:
            print(warning)  # order.yaml:5:1 graphs[0].inputs: ignored unknown key 'inputs' in a graph; …
    """
    document = source.document
    warnings: list[DeployWarning] = []
    for _ in range(_MAX_IGNORE_ROUNDS):
        errors = list(_validator().iter_errors(document))
        ignored = [] if strict else _ignored_keys(errors)
        if not ignored:
            break
        if document is source.document:
            document = copy.deepcopy(document)  # the loaded source stays as written
        warnings.extend(_drop(document, ignored, source))
    error = _best(errors)
    if error is not None:
        message, path = _describe(error)
        raise source.error(message, path)
    _Semantics(source, document).check()
    return Validated(document=document, warnings=tuple(_in_reading_order(warnings, source.files)))


def _ignored_keys(errors: Iterable[ValidationError]) -> list[tuple[KeyPath, str]]:
    """(path, message) of every unknown key of an ``x-kind`` object: the keys HotMesh ignores.

    Only errors at the top of jsonschema's error list count: the DSL's objects are reached through
    `properties`, `$ref` and `allOf`/`if`-`then`, never as one alternative of an `anyOf`, so an
    unknown key there is an unknown key, not a failed guess at which shape was meant. A
    ``{'@pipe': …}`` object has no ``x-kind``: another key beside ``@pipe`` stays an error.
    """
    found: list[tuple[KeyPath, str]] = []
    for error in errors:
        schema = _schema_of(error)
        if error.validator != "additionalProperties" or not schema.get("x-kind"):
            continue
        if not isinstance(error.instance, Mapping):
            continue
        for key in _extra_keys(error.instance, schema):
            message, path = _unknown_key(error.instance, schema, tuple(error.absolute_path), key)
            found.append((path, message))
    return found


def _drop(document: Any, ignored: list[tuple[KeyPath, str]], source: LoadedSource) -> list[DeployWarning]:
    """Delete each ignored key from `document` (a private copy) and return a warning per key."""
    warnings: list[DeployWarning] = []
    for path, message in ignored:
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if path[-1] not in parent:
            continue  # reported twice (two schema branches saw the same object)
        del parent[path[-1]]
        file, line, column = source.locate(path)
        warnings.append(
            DeployWarning(file=file, line=line, column=column, path=format_path(path), message="ignored " + message)
        )
    return warnings


def _in_reading_order(warnings: list[DeployWarning], files: tuple[str, ...]) -> list[DeployWarning]:
    """Order warnings as a person reads the manifest: by file (in the order read), line, column."""
    rank = {file: index for index, file in enumerate(files)}
    return sorted(warnings, key=lambda w: (rank.get(w.file, len(rank)), w.line, w.column))


# -- schema errors ---------------------------------------------------------------------------------


def _best(errors: Iterable[ValidationError]) -> ValidationError | None:
    """Pick the most relevant error like jsonschema's best_match, but stop at a worded anyOf/oneOf."""
    best = max(errors, key=relevance, default=None)
    while best is not None and best.context and not _schema_of(best).get("x-message"):
        ranked = sorted(best.context, key=relevance, reverse=True)
        if len(ranked) > 1 and relevance(ranked[0]) == relevance(ranked[1]):
            break
        best = ranked[0]
    return best


def _schema_of(error: ValidationError) -> Mapping[str, Any]:
    schema = error.schema
    return schema if isinstance(schema, Mapping) else {}


def _describe(error: ValidationError) -> tuple[str, KeyPath]:
    """Word a schema error for a person and choose the key path it should point at."""
    path: KeyPath = tuple(error.absolute_path)
    schema = _schema_of(error)
    instance = error.instance
    if "propertyNames" in error.absolute_schema_path and isinstance(instance, str):
        path = (*path, instance)  # the key itself is at fault: point at it
    keyword = error.validator
    if keyword == "additionalProperties" and isinstance(instance, Mapping):
        extras = _extra_keys(instance, schema)
        if not extras:
            return "unexpected keys", path
        return _unknown_key(instance, schema, path, extras[0])
    if keyword == "required" and isinstance(error.validator_value, list) and isinstance(instance, Mapping):
        missing = [name for name in error.validator_value if name not in instance]
        kind = schema.get("x-kind")
        where = f" of this {kind}" if kind else ""
        return (f"missing required key {missing[0]!r}{where}" if missing else error.message), path
    custom = schema.get("x-message")
    if isinstance(custom, str):
        return f"{custom}; got {_show(instance)}", path
    if keyword == "enum" and isinstance(error.validator_value, list):
        options = ", ".join(str(option) for option in error.validator_value)
        return f"{_show(instance)} is not one of {options}", path
    if keyword == "const":
        return f"expected {_show(error.validator_value)}, got {_show(instance)}", path
    if keyword in ("minItems", "minProperties") and isinstance(error.validator_value, int):
        noun = "item" if keyword == "minItems" else "key"
        count = error.validator_value
        return f"needs at least {count} {noun}{'s' if count != 1 else ''}; got {_show(instance)}", path
    if keyword == "type":
        expected = error.validator_value
        names = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return f"expected {_article(names)}, got {_json_type(instance)} {_show(instance)}", path
    return error.message, path


def _extra_keys(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """The keys of `instance` that the object schema neither names nor matches by pattern."""
    allowed = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [key for key in instance if key not in allowed and not any(re.search(p, key) for p in patterns)]


def _unknown_key(
    instance: Mapping[str, Any], schema: Mapping[str, Any], path: KeyPath, key: str
) -> tuple[str, KeyPath]:
    """Word one unknown key (with a hint or the closest known key) and the path that points at it."""
    allowed = list(schema.get("properties", {}))
    kind = schema.get("x-kind")
    message = f"unknown key {key!r}" + (f" in {_article(kind)}" if kind else "")
    hints = schema.get("x-hints", {})
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if key in hints:
        message += f"; {hints[key]}"
    elif close:
        message += f"; did you mean {close[0]!r}?"
    else:
        message += f"; allowed keys: {', '.join(allowed)}"
    return message, (*path, key)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _article(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


# -- semantic checks -------------------------------------------------------------------------------


class _Semantics:
    """The cross-reference rules; assumes the document already passed the schema."""

    def __init__(self, source: LoadedSource, document: Any) -> None:
        self.source = source
        self.graphs: list[Mapping[str, Any]] = list(document["app"]["graphs"])
        # References are checked in the document as written, ignored keys included: HotMesh's
        # validator scans every string of an activity, known key or not.
        self.written_graphs: list[Mapping[str, Any]] = list(source.document["app"]["graphs"])
        self.owner: dict[str, int] = {}  # activity id → index of its graph

    def check(self) -> None:
        self._unique_subscriptions()
        self._unique_activity_ids()
        self._unique_hook_topics()
        for index, graph in enumerate(self.graphs):
            base: KeyPath = ("app", "graphs", index)
            activities: Mapping[str, Mapping[str, Any]] = graph["activities"]
            self._one_trigger(base, activities)
            self._transitions(base, graph, activities)
            self._hook_rules(base, graph, activities)
            self._cycles(base, graph, activities)
            self._references(base, self.written_graphs[index], index)

    def _fail(self, message: str, path: KeyPath) -> None:
        raise self.source.error(message, path)

    def _unique_subscriptions(self) -> None:
        seen: dict[str, int] = {}
        for index, graph in enumerate(self.graphs):
            topic = graph["subscribes"]
            if topic in seen:
                self._fail(
                    f"topic {topic!r} is already subscribed by graphs[{seen[topic]}]; "
                    "each graph needs its own `subscribes` topic",
                    ("app", "graphs", index, "subscribes"),
                )
            seen[topic] = index

    def _unique_activity_ids(self) -> None:
        for index, graph in enumerate(self.graphs):
            for activity_id in graph["activities"]:
                if activity_id in self.owner:
                    self._fail(
                        f"duplicate activity id {activity_id!r} (also in graphs[{self.owner[activity_id]}]); "
                        "activity ids must be unique across the app",
                        ("app", "graphs", index, "activities", activity_id),
                    )
                self.owner[activity_id] = index

    def _unique_hook_topics(self) -> None:
        # HotMesh stores hook rules per topic for the whole app, and a hook listens on one topic:
        # a second declaration would silently replace the first.
        topics: dict[str, int] = {}
        listening: dict[str, str] = {}
        for index, graph in enumerate(self.graphs):
            for topic, rules in graph.get("hooks", {}).items():
                path: KeyPath = ("app", "graphs", index, "hooks", topic)
                if topic in topics:
                    self._fail(
                        f"hook topic {topic!r} is already declared by graphs[{topics[topic]}]; "
                        "its rules would be replaced, so give each graph its own topic",
                        path,
                    )
                topics[topic] = index
                for position, rule in enumerate(rules):
                    target = rule["to"]
                    if listening.get(target, topic) != topic:
                        self._fail(
                            f"{target!r} already listens on hook topic {listening[target]!r}; "
                            "a hook activity has one topic (the later one would win)",
                            (*path, position, "to"),
                        )
                    listening[target] = topic

    def _one_trigger(self, base: KeyPath, activities: Mapping[str, Mapping[str, Any]]) -> None:
        triggers = [activity_id for activity_id, activity in activities.items() if activity["type"] == "trigger"]
        if not triggers:
            self._fail("this graph has no trigger; add one activity with `type: trigger`", (*base, "activities"))
        if len(triggers) > 1:
            self._fail(
                f"a graph has exactly one trigger and {triggers[0]!r} is already it",
                (*base, "activities", triggers[1], "type"),
            )

    def _transitions(
        self, base: KeyPath, graph: Mapping[str, Any], activities: Mapping[str, Mapping[str, Any]]
    ) -> None:
        for source_id, edges in graph.get("transitions", {}).items():
            if source_id not in activities:
                self._fail(
                    self._missing("transition source", source_id, activities),
                    (*base, "transitions", source_id),
                )
            for position, edge in enumerate(edges):
                if edge["to"] not in activities:
                    self._fail(
                        self._missing("transition target", edge["to"], activities),
                        (*base, "transitions", source_id, position, "to"),
                    )

    def _hook_rules(self, base: KeyPath, graph: Mapping[str, Any], activities: Mapping[str, Mapping[str, Any]]) -> None:
        for topic, rules in graph.get("hooks", {}).items():
            for position, rule in enumerate(rules):
                path = (*base, "hooks", topic, position, "to")
                target = rule["to"]
                if target not in activities:
                    self._fail(self._missing("hook rule target", target, activities), path)
                target_type = activities[target]["type"]
                if target_type not in _HOOK_TYPES:
                    self._fail(
                        f"hook rules must target a `hook` activity; {target!r} is a {target_type}",
                        path,
                    )

    def _cycles(self, base: KeyPath, graph: Mapping[str, Any], activities: Mapping[str, Mapping[str, Any]]) -> None:
        parents: dict[str, set[str]] = {}
        for source_id, edges in graph.get("transitions", {}).items():
            for edge in edges:
                parents.setdefault(edge["to"], set()).add(source_id)
        for activity_id, activity in activities.items():
            if activity["type"] != "cycle":
                continue
            path = (*base, "activities", activity_id, "ancestor")
            ancestor = activity["ancestor"]
            if ancestor not in activities:
                self._fail(self._missing("cycle ancestor", ancestor, activities), path)
            ancestor_type = activities[ancestor]["type"]
            if ancestor_type not in _HOOK_TYPES:
                self._fail(
                    f"a cycle re-enters a `hook` activity; ancestor {ancestor!r} is a {ancestor_type}",
                    path,
                )
            if ancestor not in _upstream(activity_id, parents):
                self._fail(
                    f"ancestor {ancestor!r} is not upstream of {activity_id!r}; "
                    "a cycle must name a hook on the transition path that leads to it",
                    path,
                )

    def _references(self, base: KeyPath, graph: Mapping[str, Any], index: int) -> None:
        for path, text in _mapped_strings(graph, base):
            if not is_reference(text):
                continue
            if is_function_reference(text):
                self._function(text, path)
                continue
            term = text[1:-1]
            head = term.split(".", 1)[0]
            if head in SYSTEM_ROOTS or is_reducer_term(term):
                continue
            owner = self.owner.get(head)
            if owner == index:
                continue
            if owner is not None:
                self._fail(
                    f"{text!r} references activity {head!r} of graphs[{owner}]; "
                    "references only see activities of their own graph",
                    path,
                )
            known = [activity_id for activity_id, graph_index in self.owner.items() if graph_index == index]
            self._fail(f"{text!r} references activity {head!r}, which does not exist{_suggest(head, known)}", path)

    def _function(self, text: str, path: KeyPath) -> None:
        domain, _, name = text[2:-1].partition(".")
        try:
            catalog.lookup(domain, name)
        except UnknownPipeFunctionError as exc:
            self._fail(f"{text!r}: {exc}", path)

    @staticmethod
    def _missing(role: str, name: str, activities: Mapping[str, Any]) -> str:
        return f"{role} {name!r} is not an activity of this graph{_suggest(name, list(activities))}"


def _suggest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _upstream(activity_id: str, parents: Mapping[str, set[str]]) -> set[str]:
    """Every activity with a transition path to `activity_id`."""
    found: set[str] = set()
    pending = list(parents.get(activity_id, ()))
    while pending:
        current = pending.pop()
        if current not in found:
            found.add(current)
            pending.extend(parents.get(current, ()))
    return found


def _mapped_strings(graph: Mapping[str, Any], base: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    """Yield (path, string) for strings that may be references: activities, transitions, hooks, pipes."""
    for key in ("expire", "persistent", "transitions", "hooks"):
        if key in graph:
            yield from _strings(graph[key], (*base, key))
    for activity_id, activity in graph["activities"].items():
        for key, value in activity.items():
            path = (*base, "activities", activity_id, key)
            if key in _NOT_MAPPED or (key == "hook" and activity.get("type") in _HOOK_TYPES):
                continue  # free text, settings, or the signal payload's JSON Schema
            if key in _SCHEMA_BLOCKS and isinstance(value, Mapping):
                yield from _block_strings(value, path)
            else:
                yield from _strings(value, path)


def _block_strings(block: Mapping[str, Any], path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    """Strings of an input/output/job block, skipping its JSON Schemas."""
    for key, value in block.items():
        if key == "schema":
            continue
        if _CODE.match(key) and isinstance(value, Mapping):
            yield from _block_strings(value, (*path, key))
        else:
            yield from _strings(value, (*path, key))


def _strings(value: Any, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield from _strings(item, (*path, position))
