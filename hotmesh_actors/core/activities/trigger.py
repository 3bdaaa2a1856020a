"""The trigger: creates a job from a published payload and spawns the graph's first activities.

Category D. The job row is new (the store's INSERT refuses a live duplicate key with DuplicateJobError);
the semaphore starts at the number of children whose transitions match, and a trigger with no children
completes the job at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from hotmesh_actors.core import ledger as L
from hotmesh_actors.core.activities.context import EngineSettings, StepContext, evaluate
from hotmesh_actors.core.graph.model import AppVersion
from hotmesh_actors.core.jobstate import JobState
from hotmesh_actors.core.keys import job_key
from hotmesh_actors.core.pipe import UNDEFINED, PipeEnv
from hotmesh_actors.core.pipe.jsvalues import to_string

JSON = Any

TRIGGER_DAD = ",0"


@attrs.frozen(kw_only=True)
class Lineage:
    """Who started a job: the awaiting parent activity (pj/pg/pd/pa), detached or not (px)."""

    parent_jid: str = ""
    parent_gid: str = ""
    parent_dad: str = ""
    parent_aid: str = ""
    detached: bool = False
    origin_id: str | None = None


def start_job(
    app: AppVersion,
    topic: str,
    data: dict[str, JSON],
    *,
    env: PipeEnv,
    new_guid: Callable[[], str],
    settings: EngineSettings | None = None,
    job_id: str | None = None,
    default_job_id: str | None = None,
    engine_guid: str | None = None,
    lineage: Lineage | None = None,
    entity: str | None = None,
    pending_s: float | None = None,
) -> StepContext:
    """Run the trigger of the graph subscribed to `topic`; returns the step (new JobState + effects).

    The job id is `job_id`, else the trigger's `stats.id` pipe, else `default_job_id`, else a new guid.
    With `pending_s` the job is created pending (HotMesh's `pub(..., {pending})`): semaphore −1, no
    transition to the trigger's children, and expired after `pending_s` seconds.
    Raises KeyError when no graph subscribes to `topic`.
    """
    graph = app.graph_for(topic)
    trigger = app.activity(graph.trigger)
    lineage = lineage or Lineage()
    own = {"input": {"data": data}, "output": {"data": data}}
    probe = {trigger.id: own, "$self": own, "$job": {"data": {}, "metadata": {}}}
    jid = job_id
    if jid is None and trigger.stats and trigger.stats.get("id") is not None:
        resolved = evaluate(trigger.stats["id"], probe, env)
        if resolved is not UNDEFINED and resolved is not None and resolved != "":
            jid = to_string(resolved)
    if not jid:
        jid = default_job_id or new_guid()
    if entity is None and trigger.entity is not None:
        resolved_entity = evaluate(trigger.entity, probe, env)
        entity = None if resolved_entity in (UNDEFINED, None) else to_string(resolved_entity)
    job = JobState(key=job_key(app.app_id, jid), jid=jid, status=0, gid=new_guid(), created=True,
                   entity=entity, origin_id=lineage.origin_id or (str(data["originJobId"])
                                                                   if data.get("originJobId") else None),
                   parent_id=lineage.parent_jid or (str(data["parentWorkflowId"])
                                                    if data.get("parentWorkflowId") else None))
    ctx = StepContext(app=app, job=job, env=env, new_guid=new_guid, settings=settings or EngineSettings())
    stamp = ctx.timestamp
    for key, value in (("jid", jid), ("gid", job.gid), ("tpc", topic), ("app", app.app_id),
                       ("vrs", app.version), ("jc", stamp), ("ju", stamp), ("aid", trigger.id)):
        job.set_job_metadata(key, value)
    if engine_guid:
        job.set_job_metadata("ngn", engine_guid)
    if lineage.parent_jid:
        for key, value in (("pj", lineage.parent_jid), ("pg", lineage.parent_gid),
                           ("pd", lineage.parent_dad), ("pa", lineage.parent_aid)):
            job.set_job_metadata(key, value)
        if lineage.detached:
            job.set_job_metadata("px", True)
    dad = TRIGGER_DAD
    job.set_ledger(trigger.id, dad, L.TRIGGER_SEED)
    for key, value in (("aid", trigger.id), ("atp", "trigger"), ("dad", dad), ("ac", stamp), ("au", stamp)):
        job.set_activity(trigger.id, dad, "output", "metadata", key, value)
    for key, value in data.items():
        job.set_activity(trigger.id, dad, "output", "data", key, value)
    context = ctx.mapping_context(trigger, dad, input={"data": data})
    for key, value in ctx.resolve_map(trigger.output_maps, context).items():
        job.set_activity(trigger.id, dad, "output", "data", key, value)
    ctx.bind_job_maps(trigger, context)
    facets = index_facets(trigger.stats, context, env)
    if facets:
        key = stats_key(trigger.stats, data, env)
        job.index_entries.extend((key, facet) for facet in facets)
    if pending_s is not None:
        job.add_status(-1)
        job.expire_s = pending_s
        return ctx
    children = ctx.choose_children(trigger, dad, 200, context)
    ctx.spawn(children, dad)
    ctx.settle(new_guid(), len(children), activity=trigger, dad=dad, emit=ctx.emits(trigger, context))
    return ctx


def stats_key(stats: Mapping[str, JSON] | None, data: Mapping[str, JSON], env: PipeEnv) -> str:
    """The trigger's resolved `stats.key` for an input payload ("" when absent or unresolved).

    The same resolution serves the job's creation and a `signal: all` lookup, whose resolver data plays
    the part of the input (HotMesh resolves its stats queries through the trigger the same way).
    """
    if not stats or stats.get("key") is None:
        return ""
    own = {"input": {"data": dict(data)}, "output": {"data": dict(data)}}
    resolved = evaluate(stats["key"], {"$self": own, "$job": {"data": {}, "metadata": {}}}, env)
    return "" if resolved is UNDEFINED or resolved is None else to_string(resolved)


def index_facets(stats: Mapping[str, JSON] | None, context: dict[str, JSON], env: PipeEnv) -> list[str]:
    """The facets `<field>:<value>` of the trigger's `{measure: index, target}` stats measures.

    `<field>` is the target reference minus its first three segments (`{$self.input.data.parent_job_id}`
    → `parent_job_id`), as HotMesh names index facets; a target that resolves to nothing files no row.
    """
    if not stats:
        return []
    facets: list[str] = []
    for measure in stats.get("measures") or ():
        if not isinstance(measure, Mapping) or measure.get("measure") != "index":
            continue
        target = measure.get("target")
        if not isinstance(target, str) or not (target.startswith("{") and target.endswith("}")):
            continue
        value = evaluate(target, context, env)
        if value is UNDEFINED or value is None:
            continue
        field = "/".join(target[1:-1].split(".")[3:])
        facets.append(f"{field}:{to_string(value)}")
    return facets
