"""Regenerate the generated tables of docs/dsl.md from the DSL's JSON schema, so the two never drift.

The key reference: every key the schema accepts gets one row: where it goes, which activity types
take it, what kind of value it holds, and its one-line meaning. The meaning is the schema's own
`description` (following `$ref`s) when it has one, else the short text in MEANINGS below.

The ignored-key table: every object whose unknown keys a lenient deploy turns into warnings (the
schema objects with `additionalProperties: false` and an `x-kind`, the rule
`hotmesh_actors.core.graph.validate` applies), with the keys it knows and the hints its warnings give.

Each table replaces the block between its BEGIN/END markers in docs/dsl.md.

Usage: `python scripts/gen_dsl_docs.py` (rewrite) or `python scripts/gen_dsl_docs.py --check`
(exit 1 when docs/dsl.md is stale).
"""

# ruff: noqa: E501  (one-line meanings read best unwrapped)
from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "hotmesh_actors" / "core" / "graph" / "hotmesh.schema.json"
DOC = ROOT / "docs" / "dsl.md"
BEGIN = "<!-- BEGIN GENERATED KEY TABLE (scripts/gen_dsl_docs.py) -->"
END = "<!-- END GENERATED KEY TABLE -->"
IGNORED_BEGIN = "<!-- BEGIN GENERATED IGNORED-KEY TABLE (scripts/gen_dsl_docs.py) -->"
IGNORED_END = "<!-- END GENERATED IGNORED-KEY TABLE -->"

ACTIVITY_TYPES = ("trigger", "worker", "await", "hook", "signal", "cycle", "interrupt", "activity")

# One-line meanings for keys whose schema entry has no description of its own.
MEANINGS: dict[str, str] = {
    "app.graphs": "The graphs (flows) of the app; an item may be `$ref: ./file.yaml`.",
    "graph.subscribes": "Topic that starts a job of this graph; unique per app; a leading '.' makes it private.",
    "graph.publishes": "Topic on which the finished (or emitted) job is announced: channel `<publishes>.<jobId>`, message topic `<publishes>`.",
    "graph.expire": "Seconds to keep a finished job before it expires; 0 or less keeps it; may be a pipe.",
    "graph.persistent": "Keep the job open for re-entry after it emits its completed event.",
    "graph.input": "`{schema}`: the JSON schema of the payload published to `subscribes` (copied to the trigger).",
    "graph.output": "`{schema}`: the JSON schema of the job data (copied to the trigger's `job.schema`).",
    "graph.activities": "Activity id → activity; ids are unique across the whole app.",
    "graph.transitions": "Activity id → list of edges `{to, conditions?}` taken when that activity finishes.",
    "graph.hooks": "Signal topic → list of rules routing a signal to a waiting hook activity.",
    "activity.title": "Human-readable name (documentation only).",
    "activity.description": "Longer human-readable text (documentation only).",
    "activity.type": "What the activity does: trigger, worker, await, hook, signal, cycle, interrupt (activity = hook).",
    "activity.subtype": "Type-specific sub-kind: the topic for worker/await (filled from `topic`), one/all for signal.",
    "activity.settings": "Free-form settings stored with the activity.",
    "activity.telemetry": "Scalar attributes (pipe-able) added to the activity's trace span.",
    "activity.emit": "When it resolves to true, publish the job's interim state to `publishes` before moving on.",
    "activity.persist": "When it resolves to true, announce completion but keep the job alive.",
    "activity.expire": "Per-activity expiry; the graph's `expire`, when set, replaces it at compile time.",
    "activity.persistent": "Per-activity persistence; the graph's `persistent`, when set, replaces it at compile time.",
    "activity.statusThreshold": "Finish early when the job semaphore reaches this value instead of 0 (pipe-able).",
    "activity.statusThresholdType": "What a late message does under a threshold: stop (default), throw, or stall.",
    "activity.retry": "Stream retry: a RetryPolicy object or the legacy code-keyed map `{'500': [3]}`.",
    "activity.cycle": "Marks a hook that a `cycle` activity re-enters (the compiler sets it; rarely written).",
    "activity.topic": "worker: the worker stream; await: the child graph's topic; signal/interrupt: target topic.",
    "activity.stats": "trigger: job id (`id`), index key (`key`), parent/adjacent job ids, resolved from the input.",
    "activity.entity": "trigger: a pipe-able label stored on the job row (`jobs.entity`).",
    "activity.await": "await: false ⇒ start the child and continue at once with its `{job_id}`.",
    "activity.sleep": "hook: seconds to wait (pipe-able); 0, negative or NaN ⇒ no timer.",
    "activity.hook": "hook: JSON schema of the signal payload; `hook.topic` is filled from the graph's `hooks`.",
    "activity.escalation": "hook: write a human-task row to public.hmsh_escalations when the hook suspends.",
    "activity.signal": "signal: `{schema, maps}` building the payload sent to the target hook(s).",
    "activity.resolver": "signal (all): `{schema, maps}` building the key that finds the target jobs.",
    "activity.status": "signal: `success` (default) or `pending` response status delivered to the hook.",
    "activity.code": "signal: 200 closes the target hook, 202 keeps it open; interrupt: the error code (410).",
    "activity.key_name": "signal (all): name of the trigger stats index to search.",
    "activity.key_value": "signal (all): value to look up in that index (pipe-able).",
    "activity.scrub": "signal (all): delete the index entries after signalling.",
    "activity.ancestor": "cycle: id of the ancestor hook to re-enter in a new dimension.",
    "activity.target": "interrupt: id of the job to interrupt (pipe-able); absent ⇒ this job.",
    "activity.reason": "interrupt: error message (default `job [<id>] interrupted`).",
    "activity.throw": "interrupt: write an error on the interrupted job (default true).",
    "activity.descend": "interrupt: also interrupt descendants (parsed, not implemented by HotMesh).",
    "activity.stack": "interrupt: optional stack text stored with the error.",
    "transition.to": "The activity to run next.",
    "transition.conditions": "`{code?, gate?, match?}`; absent ⇒ taken for every reply but an error, whatever its code.",
    "conditions.code": "Response code(s) this edge listens to (default 200): 500, [500, 422], 588–599 …",
    "hookRule.to": "The hook activity the signal resumes.",
    "hookRule.conditions": "`{gate?, match}`; only match[0] builds the signal key.",
    "match.expected": "Literal compared with `===` (transitions); for hooks, a pipe against the waiting job.",
    "match.actual": "Literal, `{reference}` or @pipe; for hooks, resolved against `{$self.hook.data}`.",
    "retryPolicy.maximumAttempts": "Attempts in all, the first one included (default 3).",
    "retryPolicy.backoffCoefficient": "Delay multiplier between attempts (default 10).",
    "retryPolicy.maximumInterval": "Longest delay between attempts: seconds or a duration like '30s' (default 120).",
    "retryPolicy.initialInterval": "First delay (default 1 s).",
    "stats.id": "Job id (default: a generated id).",
    "stats.key": "Index key the job is filed under (used by `signal` subtype `all`).",
    "stats.parent": "Parent job id whose expiry/interruption cascades to this job.",
    "stats.adjacent": "The parent job that actually awaits this one (no cascade).",
    "stats.granularity": "Deprecated stats setting (accepted, ignored).",
    "stats.measures": "Deprecated stats setting (accepted, ignored).",
    "escalation.role": "Who may claim the task (the queue it is listed under).",
    "escalation.type": "Task category, stored in `type`.",
    "escalation.subtype": "Task sub-category, stored in `subtype`.",
    "escalation.priority": "Integer priority, lower is more urgent (default 5).",
    "escalation.description": "Text shown to the person handling the task.",
    "escalation.entity": "Business entity the task is about (indexed).",
    "escalation.metadata": "JSON object stored in `metadata` (searchable with a GIN index).",
    "escalation.envelope": "JSON payload handed to the resolver UI (`envelope`).",
    "escalation.expiresAt": "When the task stops being actionable (`expires_at`).",
    "escalation.originId": "Id of the job or request that started the chain (`origin_id`).",
    "escalation.parentId": "Parent job id (`parent_id`).",
    "escalation.initiatedBy": "Who or what raised the task (`initiated_by`).",
    "escalation.traceId": "Trace id for correlation (`trace_id`).",
    "escalation.spanId": "Span id for correlation (`span_id`).",
    "escalation.taskQueue": "Task queue of the workflow (`task_queue`).",
    "escalation.workflowType": "Workflow type name (`workflow_type`).",
}

KIND_NAMES = {
    "pipeableNumber": "number | pipe",
    "pipeableInteger": "integer | pipe",
    "pipeableBoolean": "boolean | pipe",
    "pipeableString": "string | pipe",
    "value": "any | pipe",
    "maps": "maps",
    "jsonSchema": "JSON schema",
    "activityId": "activity id",
    "topic": "topic",
    "statusCode": "code",
    "statusCodes": "code or [codes]",
    "match": "list of {expected, actual}",
    "gate": "and | or",
    "retry": "RetryPolicy | {code: [n]}",
    "escalation": "object",
    "stats": "object",
}


def _pointer(schema: Mapping[str, Any], ref: str) -> Any:
    node: Any = schema
    for token in ref.lstrip("#/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def _follow(schema: Mapping[str, Any], node: Any) -> tuple[Any, str | None]:
    """Follow `$ref`s; return the final node and the last $defs name passed through."""
    name = None
    while isinstance(node, Mapping) and "$ref" in node and "description" not in node:
        ref = node["$ref"]
        if ref.startswith("#/$defs/") and ref.count("/") == 2:
            name = ref.rsplit("/", 1)[1]
        node = _pointer(schema, ref)
    return node, name


KIND_OVERRIDES = {"app.version": "numeric string", "activity.type": "type name"}


def _kind(schema: Mapping[str, Any], node: Any, where: str = "") -> str:
    if where in KIND_OVERRIDES:
        return KIND_OVERRIDES[where]
    target, name = _follow(schema, node)
    if name in KIND_NAMES:
        return KIND_NAMES[name]
    if isinstance(target, Mapping):
        if "enum" in target:
            return " | ".join(str(item) for item in target["enum"])
        kind = target.get("type")
        if isinstance(kind, list):
            return " | ".join(kind)
        if isinstance(kind, str):
            return {"object": "object", "array": "list"}.get(kind, kind)
    return "any"


def _meaning(schema: Mapping[str, Any], scope: str, key: str, node: Any) -> str:
    if f"{scope}.{key}" in MEANINGS:
        return MEANINGS[f"{scope}.{key}"]
    target, _ = _follow(schema, node)
    text = target.get("description", "") if isinstance(target, Mapping) else ""
    return text.split(". ")[0].rstrip(".") + "." if text else ""


def build_rows(schema: Mapping[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(scope, key, activity types, value kind, meaning) for every key the schema accepts."""
    defs = schema["$defs"]
    rows: list[tuple[str, str, str, str, str]] = []

    def add(scope: str, properties: Mapping[str, Any], types: str = "") -> None:
        for key, node in properties.items():
            rows.append(
                (scope, key, types, _kind(schema, node, f"{scope}.{key}"), _meaning(schema, scope, key, node))
            )

    add("app", defs["app"]["properties"])
    add("graph", defs["graph"]["properties"])
    owners: dict[str, list[str]] = {}
    nodes: dict[str, Any] = {}
    for activity_type in ACTIVITY_TYPES:
        for key, node in defs[f"activity_{activity_type}"]["properties"].items():
            owners.setdefault(key, []).append(activity_type)
            nodes.setdefault(key, node)
    for key, types in owners.items():
        shown = "all" if len(types) == len(ACTIVITY_TYPES) else ", ".join(types)
        kind = _kind(schema, nodes[key], f"activity.{key}")
        rows.append(("activity", key, shown, kind, _meaning(schema, "activity", key, nodes[key])))
    add("transition", defs["transition"]["properties"])
    add("conditions", defs["transition"]["properties"]["conditions"]["properties"])
    add("hookRule", defs["hookRule"]["properties"])
    add("match", defs["match"]["items"]["properties"])
    add("retryPolicy", defs["retryPolicy"]["properties"])
    add("stats", defs["stats"]["properties"])
    add("escalation", defs["escalation"]["properties"])
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(rows: list[tuple[str, str, str, str, str]]) -> str:
    lines = [
        BEGIN,
        "",
        "| where | key | activity types | value | meaning |",
        "|---|---|---|---|---|",
    ]
    for scope, key, types, kind, meaning in rows:
        lines.append(f"| {scope} | `{key}` | {_cell(types)} | {_cell(kind)} | {_cell(meaning)} |")
    lines += ["", END]
    return "\n".join(lines)


def ignored_key_rows(schema: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(kind, known keys, hints) for every object whose unknown keys are warnings, in schema order."""
    rows: list[tuple[str, str, str]] = []
    seen: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            kind = node.get("x-kind")
            if node.get("additionalProperties") is False and isinstance(kind, str) and kind not in seen:
                seen.add(kind)
                known = [f"`{key}`" for key in node.get("properties", {})]
                known += [f"`{pattern}`" for pattern in node.get("patternProperties", {})]
                hints = "; ".join(f"`{key}`: {hint}" for key, hint in node.get("x-hints", {}).items())
                rows.append((kind, ", ".join(known), hints))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return rows


def render_ignored(rows: list[tuple[str, str, str]]) -> str:
    lines = [IGNORED_BEGIN, "", "| object | keys it knows | hints in the warning |", "|---|---|---|"]
    for kind, known, hints in rows:
        lines.append(f"| {kind} | {_cell(known)} | {_cell(hints)} |")
    lines += ["", IGNORED_END]
    return "\n".join(lines)


def _replace_block(text: str, begin: str, end: str, block: str) -> str | None:
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < 0:
        return None
    return text[:start] + block + text[stop + len(end) :]


def main(argv: list[str]) -> int:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    text = DOC.read_text(encoding="utf-8")
    updated: str | None = text
    for begin, end, block in (
        (BEGIN, END, render(build_rows(schema))),
        (IGNORED_BEGIN, IGNORED_END, render_ignored(ignored_key_rows(schema))),
    ):
        updated = _replace_block(updated, begin, end, block) if updated is not None else None
    if updated is None:
        print(f"{DOC}: markers not found", file=sys.stderr)
        return 2
    if "--check" in argv:
        if updated != text:
            print(f"{DOC} is stale: run python scripts/gen_dsl_docs.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
