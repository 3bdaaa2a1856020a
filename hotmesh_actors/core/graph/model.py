"""The compiled, immutable form of a YAML app: what engines read at run time instead of the YAML.

`compile_document` builds an `AppVersion` from a validated document. Everything here is frozen:
attrs classes with `frozen=True`, tuples, and JSON values deep-frozen into `FrozenDict`/`FrozenList`
(still `dict`/`list` subclasses, so the pipe evaluator reads them as plain JSON). Pipe values
(`{a1.output.data.x}`, `{'@pipe': …}`) are kept verbatim; the engine resolves them per job.

Path conventions (the readable field names the store uses, see DESIGN §3):
activity fields are `<activityId>/<output|hook|input>/<data|metadata>/<a/b/c>`; job fields are
`data/<a/b>` and `metadata/<k>`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import attrs

from hotmesh_actors.core.graph.frozen import FrozenDict, thaw

JSON = Any
"""A JSON-shaped value (frozen inside the model): None, bool, int, float, str, FrozenList, FrozenDict."""

ActivityType = Literal["trigger", "worker", "await", "hook", "signal", "cycle", "interrupt", "emit"]
"""Activity types after compile (`activity` in YAML is an alias compiled to `hook`)."""

ACTIVITY_TYPES: tuple[str, ...] = (
    "trigger",
    "worker",
    "await",
    "hook",
    "signal",
    "cycle",
    "interrupt",
    "emit",
)

_EMPTY: FrozenDict[str, Any] = FrozenDict()


def _empty_mapping() -> FrozenDict[str, Any]:
    return _EMPTY


@attrs.frozen(kw_only=True)
class Transition:
    """One outgoing edge: go to `to` when `conditions` hold (None = always, for response code 200).

    `conditions` is the raw `{code?, gate?, match?}` mapping; `match[].actual` may be a pipe.
    """

    to: str
    conditions: FrozenDict[str, JSON] | None = None

    @property
    def codes(self) -> tuple[int, ...]:
        """The response codes this edge listens to (`conditions.code`, default 200)."""
        raw = self.conditions.get("code") if self.conditions is not None else None
        if raw is None:
            return (200,)
        if isinstance(raw, list | tuple):
            return tuple(int(code) for code in raw)
        return (int(raw),)


@attrs.frozen(kw_only=True)
class HookRule:
    """A signal route: a signal on `topic` resumes hook activity `to` when `conditions.match[0]` agrees.

    `expected` is resolved against the waiting job when the hook registers (it makes the lookup key);
    `actual` is resolved against `{$self: {hook: {data: payload}}}` when the signal arrives.
    """

    topic: str
    to: str
    conditions: FrozenDict[str, JSON] | None = None


@attrs.frozen(kw_only=True)
class Activity:
    """One compiled activity: its YAML settings (pipes kept raw) plus the compiler's back-references.

    YAML keys are exposed as snake_case fields (absent keys are None or empty); `spec` holds the whole
    compiled activity as frozen JSON with the original camelCase keys, for anything not typed here.
    """

    id: str
    type: str
    """One of ACTIVITY_TYPES; a YAML `type: activity` arrives here as `hook`."""
    subtype: JSON = None
    """worker/await: the topic (YAML `topic`, may be a `{…}` reference); signal: `one`|`all`."""
    topic: JSON = None
    """The YAML `topic` as written (worker/await/signal/interrupt)."""
    title: str | None = None
    description: str | None = None

    input: FrozenDict[str, JSON] = attrs.field(factory=_empty_mapping)
    """`{schema?, maps?}`; maps are resolved at Leg 1 into the payload (worker/await/cycle)."""
    output: FrozenDict[str, JSON] = attrs.field(factory=_empty_mapping)
    """`{schema?, maps?, '<code>': {schema}}`; maps are merged into the activity's own output data."""
    job: FrozenDict[str, JSON] = attrs.field(factory=_empty_mapping)
    """`{schema?, maps?}`; maps write job-level `data` (keys `name[N]`, `name[-]`, `name[_]` are special)."""
    settings: FrozenDict[str, JSON] = attrs.field(factory=_empty_mapping)
    telemetry: FrozenDict[str, JSON] | None = None

    emit: JSON = None
    persist: JSON = None
    expire: JSON = None
    """Seconds to keep the finished job (from the graph; may be a pipe)."""
    persistent: JSON = None
    status_threshold: JSON = None
    status_threshold_type: str | None = None
    """`stop` (engine default) | `throw` | `stall`."""
    retry: FrozenDict[str, JSON] | None = None
    """Legacy code-keyed stream retry policy, e.g. `{'500': [3, 'x']}`."""

    sleep: JSON = None
    hook: FrozenDict[str, JSON] | None = None
    """Hook payload schema; `hook['topic']` is filled by the compiler from the graph's `hooks` section."""
    escalation: FrozenDict[str, JSON] | None = None
    cycle: bool = False
    """True on a hook that some `cycle` activity re-enters (set by the compiler)."""
    ancestor: str | None = None
    """cycle: the id of the ancestor hook to re-enter."""

    await_: JSON = None
    """await: YAML `await` (false = start the child and continue without waiting)."""

    signal: FrozenDict[str, JSON] | None = None
    resolver: FrozenDict[str, JSON] | None = None
    status: JSON = None
    code: JSON = None
    key_name: JSON = None
    key_value: JSON = None
    scrub: JSON = None

    target: JSON = None
    reason: JSON = None
    throw: JSON = None
    descend: JSON = None
    stack: JSON = None

    stats: FrozenDict[str, JSON] | None = None
    """trigger: `{id?, key?, parent?, adjacent?, …}` (pipes resolved against the input)."""
    entity: JSON = None

    # -- compiler-computed -------------------------------------------------------------------
    graph: str
    """The `subscribes` topic of the graph this activity belongs to (same as `subscribes`)."""
    trigger: str
    """Id of the graph's trigger."""
    subscribes: str
    publishes: str | None = None
    parent: str | None = None
    """The activity whose transition leads here (the last one listed when several do)."""
    ancestors: tuple[str, ...] = ()
    """Ids from the trigger down to the parent (DFS over transitions); `()` for the trigger."""
    children: tuple[Transition, ...] = ()
    """The outgoing transitions, in YAML order."""
    consumes: tuple[str, ...] = ()
    """Full paths this activity reads, sorted: `t1/output/data/a`, `data/b` (job), `metadata/jid`."""
    produces: tuple[str, ...] = ()
    """Full paths of this activity that some activity (or itself, via `$self`) reads, sorted."""
    job_produces: tuple[str, ...] = ()
    """trigger only: every job `data/...` path written by `job.maps` anywhere in its graph."""
    spec: FrozenDict[str, JSON] = attrs.field(factory=_empty_mapping, eq=False, repr=False)
    """The compiled activity as frozen JSON (camelCase YAML keys plus compiler keys)."""

    @property
    def is_trigger(self) -> bool:
        return self.type == "trigger"

    @property
    def input_maps(self) -> JSON:
        """`input.maps` or None."""
        return self.input.get("maps")

    @property
    def output_maps(self) -> JSON:
        """`output.maps` or None."""
        return self.output.get("maps")

    @property
    def job_maps(self) -> JSON:
        """`job.maps` or None."""
        return self.job.get("maps")

    @property
    def hook_topic(self) -> str | None:
        """The signal topic that resumes this hook (None for pure time hooks and passthroughs)."""
        if self.hook is None:
            return None
        topic = self.hook.get("topic")
        return topic if isinstance(topic, str) else None


@attrs.frozen(kw_only=True)
class Graph:
    """One graph of the app: the activities a job started on `subscribes` runs through."""

    subscribes: str
    publishes: str | None = None
    title: str | None = None
    expire: JSON = None
    """Seconds to keep a finished job (number or pipe); None = engine default."""
    persistent: JSON = None
    input_schema: FrozenDict[str, JSON] | None = None
    output_schema: FrozenDict[str, JSON] | None = None
    trigger: str
    activity_ids: tuple[str, ...]
    """Ids in YAML order (the trigger included)."""
    transitions: FrozenDict[str, tuple[Transition, ...]] = attrs.field(factory=_empty_mapping)
    """Adjacency: from-activity id → its outgoing transitions (YAML order)."""
    hooks: FrozenDict[str, tuple[HookRule, ...]] = attrs.field(factory=_empty_mapping)
    """This graph's `hooks` section: signal topic → rules."""
    job_paths: tuple[str, ...] = ()
    """Every `data/...` path written by a `job.maps` in this graph (the trigger's `job_produces`)."""

    @property
    def is_private(self) -> bool:
        """True when `subscribes` starts with '.': only other graphs (await) may start it."""
        return self.subscribes.startswith(".")


@attrs.frozen(kw_only=True)
class DeployWarning:
    """A key HotMesh's compiler ignores, accepted (and dropped) by a lenient deploy.

    `file`, `line` and `column` locate the key as written (in the `$ref`'d file when it came from
    one); `path` names it as in errors (``graphs[0].transitions.a1[1].code``); `message` says
    what was ignored and, when a known key is close, which one was probably meant.
    """

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column} {self.path}: {self.message}"


@attrs.frozen(kw_only=True, cache_hash=True)
class AppVersion:
    """A compiled app version: graphs, activities by id (unique app-wide) and routing tables.

    Immutable and hashable; safe to share between tasks and cache per (app_id, version).
    """

    app_id: str
    version: str
    settings: FrozenDict[str, JSON] = attrs.field(factory=_empty_mapping)
    graphs: tuple[Graph, ...]
    activities: FrozenDict[str, Activity]
    """Every activity of every graph by id."""
    graphs_by_topic: FrozenDict[str, Graph]
    """Graph by its `subscribes` topic (public and private)."""
    subscriptions: FrozenDict[str, str]
    """`subscribes` topic → trigger id."""
    hook_rules: FrozenDict[str, tuple[HookRule, ...]]
    """Signal topic → rules, across all graphs."""
    document: FrozenDict[str, JSON] = attrs.field(factory=_empty_mapping, eq=False, repr=False)
    """The validated source document (frozen); recompiling it yields an equal AppVersion."""
    warnings: tuple[DeployWarning, ...] = attrs.field(default=(), eq=False, repr=False)
    """Keys the lenient compile ignored (already removed from `document`); empty when compiled
    from a stored definition or in strict mode. Not part of equality: they change nothing."""

    def activity(self, activity_id: str) -> Activity:
        """Return the activity with this id; KeyError names it when it does not exist."""
        try:
            return self.activities[activity_id]
        except KeyError:
            raise KeyError(
                f"activity {activity_id!r} is not in app {self.app_id!r} v{self.version}"
            ) from None

    def graph_for(self, topic: str) -> Graph:
        """Return the graph a job published on `topic` runs; KeyError when no graph subscribes to it."""
        try:
            return self.graphs_by_topic[topic]
        except KeyError:
            raise KeyError(
                f"no graph of app {self.app_id!r} v{self.version} subscribes to {topic!r}"
            ) from None

    def graph_of(self, activity_id: str) -> Graph:
        """Return the graph that holds an activity."""
        return self.graphs_by_topic[self.activity(activity_id).graph]

    def transitions_from(self, activity_id: str) -> tuple[Transition, ...]:
        """The outgoing transitions of an activity (empty for a leaf)."""
        return self.activity(activity_id).children

    def hook_rules_for(self, topic: str) -> tuple[HookRule, ...]:
        """The hook rules listening on a signal topic (empty when none)."""
        return self.hook_rules.get(topic, ())

    def iter_activities(self) -> Iterator[Activity]:
        """All activities, graph by graph, in YAML order."""
        for graph in self.graphs:
            for activity_id in graph.activity_ids:
                yield self.activities[activity_id]

    def to_json(self) -> dict[str, Any]:
        """The compiled app as plain JSON (TS-like manifest with compiler keys), e.g. to store or print."""
        return {
            "app": {
                "id": self.app_id,
                "version": self.version,
                "settings": thaw(self.settings),
                "graphs": [
                    {
                        "subscribes": graph.subscribes,
                        **({"publishes": graph.publishes} if graph.publishes is not None else {}),
                        "activities": {aid: thaw(self.activities[aid].spec) for aid in graph.activity_ids},
                        "transitions": {
                            source: [
                                {
                                    "to": edge.to,
                                    **({"conditions": thaw(edge.conditions)} if edge.conditions else {}),
                                }
                                for edge in edges
                            ]
                            for source, edges in graph.transitions.items()
                        },
                        "hooks": {
                            topic: [
                                {
                                    "to": rule.to,
                                    **({"conditions": thaw(rule.conditions)} if rule.conditions else {}),
                                }
                                for rule in rules
                            ]
                            for topic, rules in graph.hooks.items()
                        },
                    }
                    for graph in self.graphs
                ],
            }
        }
