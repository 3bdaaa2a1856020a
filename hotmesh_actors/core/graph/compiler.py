"""Compile a validated YAML app document into a frozen AppVersion (SPEC §3.10 steps 1–4 and 6).

The steps, in order: bind ancestors by DFS from each graph's single trigger; compile `type: activity`
to `hook` and a worker/await `topic` to its `subtype`; copy the graph schemas onto the trigger; bind
back-references (`trigger`, `subscribes`, `publishes`, `expire`, `persistent`), parents and cycle
targets; analyse which paths each activity reads (`consumes`) and which of its paths are read
(`produces`); group hook rules by topic and write each target hook's `hook.topic`; build the
subscription and transition tables. Symbol ranges (SPEC §2.4) are not needed: the store uses
readable path names. The compiler is pure: no I/O, no clock.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from hotmesh_actors.core.graph.dependencies import job_map_paths, stored_reads
from hotmesh_actors.core.graph.frozen import FrozenDict, freeze, thaw
from hotmesh_actors.core.graph.loader import KeyPath, format_path, load_source
from hotmesh_actors.core.graph.model import Activity, AppVersion, Graph, HookRule, Transition
from hotmesh_actors.core.graph.validate import validate_source
from hotmesh_actors.errors import GraphValidationError

Locator = Callable[[KeyPath], "tuple[str, int, int] | None"]
"""Maps a key path in the document (e.g. `('app', 'graphs', 0, 'activities', 'a1')`) to file/line/col."""


_TYPE_ALIASES = {"activity": "hook"}
_TOPIC_TYPES = frozenset({"worker", "await"})

# YAML key → Activity field, for the settings copied verbatim (frozen) onto the model.
_ACTIVITY_KEYS: dict[str, str] = {
    "title": "title",
    "description": "description",
    "topic": "topic",
    "telemetry": "telemetry",
    "emit": "emit",
    "persist": "persist",
    "statusThreshold": "status_threshold",
    "statusThresholdType": "status_threshold_type",
    "retry": "retry",
    "sleep": "sleep",
    "escalation": "escalation",
    "ancestor": "ancestor",
    "await": "await_",
    "signal": "signal",
    "resolver": "resolver",
    "status": "status",
    "code": "code",
    "key_name": "key_name",
    "key_value": "key_value",
    "scrub": "scrub",
    "target": "target",
    "reason": "reason",
    "throw": "throw",
    "descend": "descend",
    "stack": "stack",
    "stats": "stats",
    "entity": "entity",
}
_SECTION_KEYS = ("input", "output", "job", "settings")
_NO_SECTION: FrozenDict[str, Any] = FrozenDict()


class _Faults:
    """Raises GraphValidationError with the file/line/column of a key path when a locator is known."""

    def __init__(self, origin: str, locate: Locator | None) -> None:
        self.origin = origin
        self.locate = locate

    def fail(self, message: str, path: KeyPath) -> GraphValidationError:
        file: str | None = self.origin
        line: int | None = None
        column: int | None = None
        if self.locate is not None:
            try:
                found = self.locate(path)
            except (LookupError, ValueError, TypeError):
                found = None  # an approximate location is fine; the key path still names the fault
            if found is not None:
                file, line, column = found
        return GraphValidationError(message, file=file, line=line, column=column, path=format_path(path))


def compile_document(
    document: Mapping[str, Any], *, origin: str = "<inline>", locate: Locator | None = None
) -> AppVersion:
    """Compile a validated, `$ref`-resolved app document (`{'app': {...}}`) into an AppVersion.

    Raises GraphValidationError (with file/line when `locate` is given) for the structural faults the
    compiler depends on: no or several triggers in a graph, duplicate activity ids or topics,
    transitions/hooks/cycles naming unknown activities, transition loops.

    >>> app = compile_document({'app': {'id': 'abc', 'version': '1',
    ...     'graphs': [{'subscribes': 'abc.test', 'activities': {'t1': {'type': 'trigger'}}}]}})
    >>> app.subscriptions['abc.test']
    't1'
    """
    faults = _Faults(origin, locate)
    app = document.get("app") if isinstance(document, Mapping) else None
    if not isinstance(app, Mapping):
        raise faults.fail("the document must have a top-level 'app' mapping", ("app",))
    app_id = app.get("id")
    if not isinstance(app_id, str) or not app_id:
        raise faults.fail("app.id must be a non-empty string", ("app", "id"))
    version = app.get("version")
    if isinstance(version, int | float) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str) or not version:
        raise faults.fail("app.version must be a numeric string like '1'", ("app", "version"))
    raw_graphs = app.get("graphs")
    if not isinstance(raw_graphs, Sequence) or isinstance(raw_graphs, str) or not raw_graphs:
        raise faults.fail("app.graphs must be a non-empty list", ("app", "graphs"))

    graphs = [_GraphDraft.read(raw, ("app", "graphs", index), faults) for index, raw in enumerate(raw_graphs)]
    owner: dict[str, _GraphDraft] = {}
    topics: dict[str, _GraphDraft] = {}
    for draft in graphs:
        if draft.subscribes in topics:
            raise faults.fail(
                f"topic {draft.subscribes!r} is subscribed by two graphs", draft.path + ("subscribes",)
            )
        topics[draft.subscribes] = draft
        for activity_id in draft.activities:
            if activity_id in owner:
                raise faults.fail(
                    f"activity id {activity_id!r} is used twice; ids must be unique across the app",
                    draft.path + ("activities", activity_id),
                )
            owner[activity_id] = draft

    for draft in graphs:
        draft.bind_structure(faults)
    hook_rules = _bind_hook_rules(graphs, faults)
    consumes = _analyse_dependencies(graphs, owner)
    produces: dict[str, set[str]] = {}
    for paths in consumes.values():
        for producer, path in paths:
            if producer is not None:
                produces.setdefault(producer, set()).add(path)

    activities: dict[str, Activity] = {}
    compiled_graphs: list[Graph] = []
    for draft in graphs:
        for activity_id, raw in draft.activities.items():
            reads = tuple(sorted({path for _, path in consumes.get(activity_id, set())}))
            writes = tuple(sorted(produces.get(activity_id, set())))
            activities[activity_id] = draft.build_activity(activity_id, raw, reads, writes)
        compiled_graphs.append(draft.build_graph(hook_rules))

    return AppVersion(
        app_id=app_id,
        version=version,
        settings=freeze(app.get("settings") or {}),
        graphs=tuple(compiled_graphs),
        activities=FrozenDict(activities),
        graphs_by_topic=FrozenDict((graph.subscribes, graph) for graph in compiled_graphs),
        subscriptions=FrozenDict((graph.subscribes, graph.trigger) for graph in compiled_graphs),
        hook_rules=FrozenDict((topic, tuple(rules)) for topic, rules in hook_rules.items()),
        document=freeze(document),
    )


class _GraphDraft:
    """A mutable working copy of one graph while the compile steps annotate it."""

    def __init__(self, raw: Mapping[str, Any], path: KeyPath, activities: dict[str, dict[str, Any]]) -> None:
        self.raw = raw
        self.path = path
        self.subscribes: str = raw["subscribes"]
        self.publishes: str | None = raw.get("publishes")
        self.activities = activities
        self.transitions: dict[str, list[dict[str, Any]]] = {}
        self.hooks: dict[str, list[dict[str, Any]]] = {}
        self.trigger_id = ""
        self.ancestors: dict[str, list[str]] = {}
        self.parents: dict[str, str] = {}
        self.job_paths: list[str] = []
        self._edges: dict[str, tuple[Transition, ...]] | None = None

    @classmethod
    def read(cls, raw: Any, path: KeyPath, faults: _Faults) -> _GraphDraft:
        if not isinstance(raw, Mapping):
            raise faults.fail("each graph must be a mapping", path)
        subscribes = raw.get("subscribes")
        if not isinstance(subscribes, str) or not subscribes:
            raise faults.fail("graph.subscribes must be a non-empty topic string", path + ("subscribes",))
        raw_activities = raw.get("activities")
        if not isinstance(raw_activities, Mapping) or not raw_activities:
            raise faults.fail("graph.activities must map activity ids to activities", path + ("activities",))
        activities: dict[str, dict[str, Any]] = {}
        for activity_id, activity in raw_activities.items():
            if not isinstance(activity, Mapping):
                raise faults.fail("an activity must be a mapping", path + ("activities", str(activity_id)))
            activities[str(activity_id)] = thaw(activity)
        draft = cls(raw, path, activities)
        for source, edges in (raw.get("transitions") or {}).items():
            edge_path = path + ("transitions", str(source))
            if str(source) not in activities:
                raise faults.fail(f"transition from unknown activity {source!r}", edge_path)
            if not isinstance(edges, Sequence) or isinstance(edges, str):
                raise faults.fail("transitions must be a list of {to, conditions?}", edge_path)
            listed: list[dict[str, Any]] = []
            for index, edge in enumerate(edges):
                target = edge.get("to") if isinstance(edge, Mapping) else None
                if target not in activities:
                    raise faults.fail(
                        f"transition to unknown activity {target!r} (graph {subscribes!r})",
                        edge_path + (index, "to"),
                    )
                listed.append(thaw(edge))
            if listed:
                draft.transitions[str(source)] = listed
        for topic, rules in (raw.get("hooks") or {}).items():
            rule_path = path + ("hooks", str(topic))
            if not isinstance(rules, Sequence) or isinstance(rules, str):
                raise faults.fail("hooks.<topic> must be a list of {to, conditions}", rule_path)
            for index, rule in enumerate(rules):
                target = rule.get("to") if isinstance(rule, Mapping) else None
                if target not in activities:
                    raise faults.fail(
                        f"hook rule targets unknown activity {target!r}", rule_path + (index, "to")
                    )
            draft.hooks[str(topic)] = [thaw(rule) for rule in rules]
        return draft

    def bind_structure(self, faults: _Faults) -> None:
        """Steps 1–3: trigger, ancestors, aliases, schemas, back-refs, parents, cycle targets."""
        triggers = [aid for aid, activity in self.activities.items() if activity.get("type") == "trigger"]
        if not triggers:
            raise faults.fail(
                f"collator-trigger-activity-not-found: graph {self.subscribes!r} needs one activity "
                "with type: trigger",
                self.path + ("activities",),
            )
        if len(triggers) > 1:
            raise faults.fail(
                f"graph {self.subscribes!r} has several triggers ({', '.join(triggers)}); keep exactly one",
                self.path + ("activities", triggers[1]),
            )
        self.trigger_id = triggers[0]
        self._bind_ancestors(faults)

        for activity in self.activities.values():
            activity_type = activity.get("type")
            if isinstance(activity_type, str) and activity_type in _TYPE_ALIASES:
                activity["type"] = _TYPE_ALIASES[activity_type]
            if activity.get("type") in _TOPIC_TYPES and activity.get("topic") and not activity.get("subtype"):
                activity["subtype"] = activity["topic"]

        trigger = self.activities[self.trigger_id]
        input_schema = (self.raw.get("input") or {}).get("schema")
        output_schema = (self.raw.get("output") or {}).get("schema")
        if output_schema is not None:
            trigger["job"] = {**(trigger.get("job") or {}), "schema": thaw(output_schema)}
        if input_schema is not None:
            trigger["output"] = {"schema": thaw(input_schema)}

        for source, edges in self.transitions.items():
            for edge in edges:
                self.parents[edge["to"]] = source

        for activity_id, activity in self.activities.items():
            if activity.get("type") != "cycle":
                continue
            ancestor = activity.get("ancestor")
            activity_path = self.path + ("activities", activity_id, "ancestor")
            if ancestor not in self.activities:
                raise faults.fail(
                    f"cycle ancestor {ancestor!r} is not an activity of this graph", activity_path
                )
            if ancestor not in self.ancestors.get(activity_id, []):
                raise faults.fail(
                    f"cycle ancestor {ancestor!r} is not on the path from the trigger to {activity_id!r}",
                    activity_path,
                )
            self.activities[ancestor]["cycle"] = True

        for activity in self.activities.values():
            self.job_paths.extend(
                p for p in job_map_paths(activity.get("job", {}).get("maps")) if p not in self.job_paths
            )

    def _bind_ancestors(self, faults: _Faults) -> None:
        """DFS from the trigger over transitions (pre-order, YAML order; a re-visited node keeps the last)."""
        stack: list[tuple[str, list[str]]] = [(self.trigger_id, [])]
        while stack:
            node, lineage = stack.pop()
            self.ancestors[node] = lineage
            below = [*lineage, node]
            for edge in reversed(self.transitions.get(node, [])):
                target = edge["to"]
                if target in below:
                    raise faults.fail(
                        f"transitions loop back to {target!r}; re-enter an ancestor with a `cycle` activity",
                        self.path + ("transitions", node),
                    )
                stack.append((target, below))

    def edges(self) -> dict[str, tuple[Transition, ...]]:
        """The compiled transitions by source id (built once; shared by the graph and its activities)."""
        if self._edges is None:
            self._edges = {
                source: tuple(_transition(edge) for edge in edges)
                for source, edges in self.transitions.items()
            }
        return self._edges

    def build_activity(
        self, activity_id: str, raw: dict[str, Any], consumes: tuple[str, ...], produces: tuple[str, ...]
    ) -> Activity:
        """Freeze one annotated activity into the model (and its compiled JSON `spec`)."""
        spec = dict(raw)
        spec.update(
            trigger=self.trigger_id,
            subscribes=self.subscribes,
            ancestors=list(self.ancestors.get(activity_id, [])),
            consumes=list(consumes),
            produces=list(produces),
        )
        if self.publishes is not None:
            spec["publishes"] = self.publishes
        expire = self.raw.get("expire", raw.get("expire"))
        persistent = self.raw.get("persistent", raw.get("persistent"))
        for key, value in (("expire", expire), ("persistent", persistent)):
            if value is None:
                spec.pop(key, None)
            else:
                spec[key] = value
        if activity_id in self.parents:
            spec["parent"] = self.parents[activity_id]
        if activity_id == self.trigger_id:
            spec["PRODUCES"] = list(self.job_paths)
        frozen = freeze(spec)
        fields: dict[str, Any] = {
            attribute: frozen[key] for key, attribute in _ACTIVITY_KEYS.items() if key in frozen
        }
        for section in _SECTION_KEYS:
            fields[section] = frozen.get(section) or _NO_SECTION
        hook = frozen.get("hook")
        return Activity(
            id=activity_id,
            type=str(raw.get("type")),
            subtype=frozen.get("subtype"),
            hook=hook,
            cycle=bool(raw.get("cycle", False)),
            expire=frozen.get("expire"),
            persistent=frozen.get("persistent"),
            graph=self.subscribes,
            trigger=self.trigger_id,
            subscribes=self.subscribes,
            publishes=self.publishes,
            parent=self.parents.get(activity_id),
            ancestors=tuple(self.ancestors.get(activity_id, ())),
            children=self.edges().get(activity_id, ()),
            consumes=consumes,
            produces=produces,
            job_produces=tuple(self.job_paths) if activity_id == self.trigger_id else (),
            spec=frozen,
            **fields,
        )

    def build_graph(self, hook_rules: Mapping[str, list[HookRule]]) -> Graph:
        return Graph(
            subscribes=self.subscribes,
            publishes=self.publishes,
            title=self.raw.get("title"),
            expire=freeze(self.raw.get("expire")),
            persistent=freeze(self.raw.get("persistent")),
            input_schema=_schema(self.raw.get("input")),
            output_schema=_schema(self.raw.get("output")),
            trigger=self.trigger_id,
            activity_ids=tuple(self.activities),
            transitions=FrozenDict(
                (source, tuple(_transition(edge) for edge in edges))
                for source, edges in self.transitions.items()
            ),
            hooks=FrozenDict(
                (topic, tuple(rule for rule in hook_rules[topic] if rule.to in self.activities))
                for topic in self.hooks
            ),
            job_paths=tuple(self.job_paths),
        )


def _schema(section: Any) -> FrozenDict[str, Any] | None:
    if isinstance(section, Mapping) and isinstance(section.get("schema"), Mapping):
        return freeze(section["schema"])  # type: ignore[no-any-return]
    return None


def _transition(edge: Mapping[str, Any]) -> Transition:
    conditions = edge.get("conditions")
    return Transition(to=edge["to"], conditions=freeze(conditions) if conditions is not None else None)


def _bind_hook_rules(graphs: list[_GraphDraft], faults: _Faults) -> dict[str, list[HookRule]]:
    """Step 6 (hooks): group rules by topic across graphs and write `hook.topic` on each target."""
    rules: dict[str, list[HookRule]] = {}
    for draft in graphs:
        for topic, listed in draft.hooks.items():
            for rule in listed:
                target = draft.activities[rule["to"]]
                hook = target.get("hook")
                target["hook"] = {**(hook if isinstance(hook, Mapping) else {}), "topic": topic}
                conditions = rule.get("conditions")
                rules.setdefault(topic, []).append(
                    HookRule(
                        topic=topic, to=rule["to"], conditions=freeze(conditions) if conditions else None
                    )
                )
    return rules


def _analyse_dependencies(
    graphs: list[_GraphDraft], owner: Mapping[str, _GraphDraft]
) -> dict[str, set[tuple[str | None, str]]]:
    """Step 4: every `{id.output…}`/`{id.hook…}`/`{$self…}`/`{$job…}` string an activity holds.

    Returns reader id → {(producer id or None for job-level, full path)}. An activity's outgoing
    transition conditions and the hook rules that target it count as its own reads. `{x.input…}`
    references are same-activity payload reads and are not stored, so they are skipped.
    """
    reads: dict[str, set[tuple[str | None, str]]] = {}
    for draft in graphs:
        hook_conditions: dict[str, list[Any]] = {}
        for listed in draft.hooks.values():
            for rule in listed:
                hook_conditions.setdefault(rule["to"], []).append(rule.get("conditions"))
        for activity_id, activity in draft.activities.items():
            holders = [activity, draft.transitions.get(activity_id, []), hook_conditions.get(activity_id, [])]
            reads[activity_id] = stored_reads(holders, activity_id, owner)
    return reads


def compile_app(path_or_yaml: str | os.PathLike[str], *, strict: bool = False) -> AppVersion:
    """Load (resolving `$ref`s), validate and compile an app from a YAML path or inline YAML text.

    Inline YAML is recognised when the text, trimmed, starts with `app:`. Raises
    GraphValidationError with file, line and key path for any fault.

    Lenient (the default): keys HotMesh's compiler ignores are dropped before compiling and listed
    in the result's `warnings` (file, line, column, key path); nothing is logged here (core does no
    I/O; `HotMesh.deploy` logs them). ``strict=True`` refuses them as errors.

    >>> app = compile_app('''
    ... app:
    ...   id: abc
    ...   version: '1'
    ...   graphs:
    ...     - subscribes: abc.test
    ...       activities: {t1: {type: trigger}}
    ... ''')
    >>> app.graph_for('abc.test').trigger
    't1'
    """
    source = load_source(path_or_yaml)
    checked = validate_source(source, strict=strict)
    app = compile_document(checked.document, origin=source.origin, locate=source.locate)
    return attrs.evolve(app, warnings=checked.warnings) if checked.warnings else app
