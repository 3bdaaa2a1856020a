"""StepContext: what one engine step works with, and the behaviour every activity type shares.

A step runs one claimed message against one locked job. The context carries the compiled app, the job's
state, the clock/randomness (PipeEnv), and collects effects. The shared behaviour lives here: building the
pipe context an activity's maps see, binding output/job maps, choosing transitions, applying the semaphore
with the GUID ledger, and the job-completion tasks.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from hotmesh_actors.core import ledger as L
from hotmesh_actors.core.activities.effects import Effect, Notify, Publish, StreamTarget
from hotmesh_actors.core.graph.frozen import thaw
from hotmesh_actors.core.graph.model import Activity, AppVersion
from hotmesh_actors.core.jobstate import JobState, dad_prefix
from hotmesh_actors.core.keys import PUBLISHED_TOPIC, compact_timestamp, quorum_channel
from hotmesh_actors.core.messages import MessageMetadata, MessageStatus, MessageType, StreamMessage
from hotmesh_actors.core.pipe import UNDEFINED, PipeEnv, compile_conditions, compile_value
from hotmesh_actors.core.pipe.conditions import CompiledConditions
from hotmesh_actors.core.pipe.evaluator import Node
from hotmesh_actors.core.pipe.jsvalues import to_number, truthy

JSON = Any

NOTIFY_PAYLOAD_LIMIT = 7500
"""Bytes; a larger completion payload is replaced by a reference the receiver re-reads (SPEC §2.6)."""

T = TypeVar("T")
_compiled: dict[int, tuple[object, Any]] = {}


def _cached(kind: str, value: object, build: Callable[[object], T]) -> T:
    """Compile a frozen model value once (AppVersions are immutable, so identity is a safe cache key)."""
    key = hash((kind, id(value)))
    hit = _compiled.get(key)
    if hit is not None and hit[0] is value:
        result: T = hit[1]
        return result
    built = build(value)
    if len(_compiled) > 100_000:
        _compiled.clear()
    _compiled[key] = (value, built)
    return built


def evaluate(value: JSON, context: dict[str, JSON], env: PipeEnv) -> JSON:
    """Evaluate a model value (literal, reference or pipe) against a mapping context."""
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        return value
    return compiled(value).evaluate(context, env=env)


def compiled(value: object) -> Node:
    """The compiled pipe tree of a frozen model value."""
    return _cached("pipe", value, compile_value)


def compiled_conditions(value: object) -> CompiledConditions:
    """The compiled transition conditions of a frozen model value."""
    return _cached("conditions", value, compile_conditions)


@attrs.frozen(kw_only=True)
class EngineSettings:
    """The engine knobs the pure core needs."""

    fidelity_seconds: float = 0.0
    expire_default_s: float = 1.0
    max_cycles: int = 10_000
    signal_expire_s: float = 3600.0


@attrs.frozen
class PendingTransition:
    """A child to enter (Leg 1) after the current activity: run inline or published as a message."""

    aid: str
    dad: str
    guid: str
    data: JSON = None
    """For cycle re-entries: the cycle's `input.maps` result, overriding the ancestor's output data."""
    reentry: bool = False


@attrs.define
class StepContext:
    """Everything one step reads and writes; see the module docstring."""

    app: AppVersion
    job: JobState
    env: PipeEnv
    new_guid: Callable[[], str]
    settings: EngineSettings = attrs.field(factory=EngineSettings)
    effects: list[Effect] = attrs.field(factory=list)
    transitions: deque[PendingTransition] = attrs.field(factory=deque)
    completed: bool = False
    """True once the job-completion tasks ran in this step."""

    # -- time ---------------------------------------------------------------------------------------

    @property
    def now_ms(self) -> float:
        return self.env.now_ms

    @property
    def timestamp(self) -> str:
        return compact_timestamp(self.env.now_ms)

    # -- mapping ------------------------------------------------------------------------------------

    def mapping_context(self, activity: Activity, dad: str, **self_extra: JSON) -> dict[str, JSON]:
        """The context an activity's pipes see: other activities at their dimension, `$self`, `$job`."""
        context: dict[str, JSON] = {}
        for other_id, dimensions in self.job.activities.items():
            try:
                depth = len(self.app.activity(other_id).ancestors)
            except KeyError:
                continue
            view = dimensions.get(dad_prefix(dad, depth))
            if view is None:
                view = dimensions[next(reversed(dimensions))] if dimensions else None
            if view is not None:
                context[other_id] = view
        own = dict(self.job.activity(activity.id, dad))
        own.update(self_extra)
        context[activity.id] = own
        context["$self"] = own
        context["$job"] = self.job.job_view()
        return context

    def resolve(self, value: JSON, context: dict[str, JSON]) -> JSON:
        """Evaluate a model value (literal, reference or pipe) against a mapping context."""
        return evaluate(value, context, self.env)

    def resolve_map(self, maps: JSON, context: dict[str, JSON]) -> dict[str, JSON]:
        """Resolve a `maps` object into a plain dict (undefined members dropped)."""
        if not maps:
            return {}
        resolved = self.resolve(maps, context)
        if not isinstance(resolved, dict):
            return {}
        return {k: thaw(v) for k, v in resolved.items() if v is not UNDEFINED}

    def bind_job_maps(self, activity: Activity, context: dict[str, JSON]) -> None:
        """Evaluate `job.maps` and write job data (`name[-]` spreads an object into the job's rows)."""
        maps = activity.job_maps
        if not maps:
            return
        for raw_key, value in self.resolve_map(maps, context).items():
            key = raw_key
            if key.endswith("[-]") or key.endswith("[_]"):
                if isinstance(value, dict):
                    for mark, mark_value in value.items():
                        if mark.startswith(("-", "_")):
                            self.job.set_mark(mark, mark_value)
                        else:
                            self.job.set_job_data(mark, mark_value)
                continue
            if key.endswith("]") and "[" in key:
                key = key[: key.index("[")]
            self.job.set_job_data(key, value)
            context["$job"] = self.job.job_view()

    # -- transitions and the semaphore ----------------------------------------------------------------

    def choose_children(self, activity: Activity, dad: str, code: int, context: dict[str, JSON], *,
                        status: MessageStatus = MessageStatus.SUCCESS) -> list[str]:
        """The targets of every outgoing transition whose code and conditions match.

        A transition written without `conditions` is taken for every reply that is not an error, whatever
        its code (HotMesh compiles it to `true`): a worker's `code: 599` or a child's 202 emit follows it
        as a 200 does. An error reply is caught only by a transition whose `conditions.code` names its
        code; HotMesh would also send it down an unconditional transition, which silently swallows the
        error (its own status test calls that case "does NOT catch worker 422"), so here it ends the job.
        """
        chosen = []
        for edge in activity.children:
            if edge.conditions is None:
                if status is not MessageStatus.ERROR:
                    chosen.append(edge.to)
                continue
            if compiled_conditions(edge.conditions).evaluate(context, env=self.env, code=code):
                chosen.append(edge.to)
        return chosen

    def spawn(self, children: list[str], dad: str, index: int = 0) -> None:
        """Queue Leg 1 of each child, one level deeper at `index` (a pending activity's n-th reply uses n)."""
        for child in children:
            self.transitions.append(PendingTransition(aid=child, dad=f"{dad},{index}", guid=self.new_guid()))

    def settle(self, guid: str, delta: int, *, activity: Activity | None, dad: str,
               force_complete: bool = False, emit: bool = False, threshold: int = 0) -> bool:
        """Apply a semaphore delta under the message's GUID ledger; run completion when the job closes.

        Returns True when this message closed the job. Steps 1-3 of the collation protocol share this
        transaction, so their markers are written together.
        """
        guid_ledger = L.GuidLedger(self.job.guid_ledger(guid) or 0)
        guid_ledger = guid_ledger.mark(1).mark(2)
        update = L.apply_semaphore(self.job.status, delta, threshold)
        self.job.add_status(delta)
        if update.hit:
            guid_ledger = guid_ledger.close_job()
        if update.hit or force_complete:
            self.complete_job()
            guid_ledger = guid_ledger.mark(3)
            if activity is not None and not activity.cycle:
                ledger = L.ActivityLedger(self.job.ledger(activity.id, dad)).finalize()
                self.job.set_ledger(activity.id, dad, ledger.value)
        elif emit:
            self.notify_parent(emit=True)
            self.publish_job_state(final=False)
        self.job.set_guid_ledger(guid, guid_ledger.value)
        return update.hit

    # -- completion -------------------------------------------------------------------------------------

    def job_output(self) -> dict[str, JSON]:
        """What waiters and subscribers receive: `{metadata, data}` with the semaphore as `js`."""
        metadata = dict(self.job.metadata)
        metadata["js"] = self.job.status
        return {"metadata": metadata, "data": dict(self.job.data)}

    def complete_job(self) -> None:
        """Job-completion tasks: notify the parent, the one-time waiter and subscribers; set expiry."""
        if self.completed:
            return
        self.completed = True
        self.job.set_job_metadata("ju", self.timestamp)
        graph = self.app.graph_for(str(self.job.metadata.get("tpc", "")))
        expire = self.resolve(graph.expire, {"$job": self.job.job_view()}) if graph.expire is not None else None
        self.job.expire_s = (
            float(expire) if isinstance(expire, int | float) and not isinstance(expire, bool)
            else self.settings.expire_default_s
        )
        self.notify_parent()
        self.publish_job_state(final=True)

    def publish_job_state(self, *, final: bool) -> None:
        """NOTIFY the one-time waiter (final only) and the graph's `publishes` subscribers.

        Subscribers get it on the channel `<publishes>.<jid>` and on the app's publishes channel (which
        in-process pattern subscriptions filter), so `sub` and `psub` each need one LISTEN. The message
        names the graph's `publishes` topic itself, as HotMesh's does: a `sub('calculated.<jid>', cb)`
        callback is called with `'calculated'`.
        """
        output = self.job_output()
        graph = self.app.graph_for(str(self.job.metadata.get("tpc", "")))
        engine = self.job.metadata.get("ngn")
        if final and isinstance(engine, str) and engine:
            self.effects.append(Notify(channel=quorum_channel(self.app.app_id, engine),
                                       payload=self._job_payload(self.job.jid, output)))
        if graph.publishes:
            payload = self._job_payload(graph.publishes, output)
            channel = quorum_channel(self.app.app_id, f"{graph.publishes}.{self.job.jid}")
            self.effects.append(Notify(channel=channel, payload=payload))
            self.effects.append(Notify(channel=quorum_channel(self.app.app_id, PUBLISHED_TOPIC), payload=payload))

    def _job_payload(self, topic: str, output: dict[str, JSON]) -> str:
        payload = json.dumps({"type": "job", "topic": topic, "job": output}, separators=(",", ":"), default=str)
        if len(payload.encode()) > NOTIFY_PAYLOAD_LIMIT:
            payload = json.dumps({"type": "job", "topic": topic, "_ref": True,
                                  "job": {"metadata": {"jid": self.job.jid}, "data": None}})
        return payload

    def notify_parent(self, *, emit: bool = False) -> None:
        """Send the child's result to the awaiting parent activity (unless the child was started detached).

        An `emit` (interim state, the job still running) reaches the parent as `pending`/202, so the
        parent's await activity stays open and follows its 202 transitions (HotMesh's execAdjacentParent).
        """
        parent_jid = self.job.metadata.get("pj")
        if not parent_jid or self.job.metadata.get("px"):
            return
        error = None if emit else self.job.metadata.get("err")
        failure = _error_object(error) if error else None
        message = StreamMessage(
            metadata=MessageMetadata(
                guid=self.new_guid(), jid=str(parent_jid), gid=str(self.job.metadata.get("pg", "")),
                dad=str(self.job.metadata.get("pd", "")), aid=str(self.job.metadata.get("pa", "")),
            ),
            type=MessageType.RESULT,
            # a failed child answers with its error `{message, code, …}` (HotMesh's execAdjacentParent);
            # an emit reaches the parent as pending/202 with the child's interim data
            data=failure if failure is not None else dict(self.job.data),
            status=MessageStatus.ERROR if error else MessageStatus.PENDING if emit else MessageStatus.SUCCESS,
            code=_error_code(error) if error else 202 if emit else 200,
        )
        self.publish_engine(message)

    def publish_engine(self, message: StreamMessage, delay_s: float = 0.0) -> None:
        """Queue a message for this app's engine stream."""
        self.effects.append(Publish(target=StreamTarget.ENGINE, stream_name=self.app.app_id, message=message,
                                    delay_s=delay_s))

    def status_threshold(self, activity: Activity, context: dict[str, JSON]) -> int:
        """The activity's `statusThreshold` (Dynamic Activation Control; default 0)."""
        if activity.status_threshold is None:
            return 0
        value = to_number(self.resolve(activity.status_threshold, context))
        return 0 if math.isnan(value) else int(value)

    def emits(self, activity: Activity, context: dict[str, JSON]) -> bool:
        """True when the activity's `emit` pipe says to publish interim job state."""
        return activity.emit is not None and truthy(self.resolve(activity.emit, context))


def _error_object(error: JSON) -> dict[str, JSON]:
    """A job's `metadata.err` as an object (it is stored as JSON text)."""
    if isinstance(error, str):
        try:
            error = json.loads(error)
        except ValueError:
            return {"message": error, "code": 500}
    return dict(error) if isinstance(error, dict) else {"message": str(error), "code": 500}


def _error_code(error: JSON) -> int:
    if isinstance(error, str):
        try:
            error = json.loads(error)
        except ValueError:
            return 500
    if isinstance(error, dict):
        code = error.get("code")
        if isinstance(code, int):
            return code
    return 500
