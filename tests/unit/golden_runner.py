"""A tiny, pure, test-only interpreter that walks a compiled AppVersion, to check golden graphs.

It is NOT the engine: no ledgers, no semaphore, no persistence, no timers. It runs the trigger
with the input, then each reached activity in breadth-first order: resolves `input.maps` into the
payload, asks a canned worker (or a child graph, for `await`) for the output, merges `output.maps`,
writes `job.maps` into the job data, and follows the transitions whose conditions pass for code
200. The golden files it checks (tests/data/golden/*.json) are engine-agnostic, so the real engine
runs the same graphs against Postgres later and must reach the same job data.

Golden file format (see tests/data/golden/README.md): `graph` (path from the repo root), `topic`,
`workers` (topic → output template; each string value is `str.format_map`-ed with the request
payload, other values are returned as-is), and `cases` (`input`, expected job `data` or null when
the job has none, optional `calls` [{topic, data}] compared as a multiset, optional `jobs` topics,
optional per-case `workers` overriding the file's).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from hotmesh_actors.core.graph import Activity, AppVersion
from hotmesh_actors.core.pipe import UNDEFINED, PipeEnv, match_conditions, resolve

WorkerFn = Callable[[dict[str, Any]], dict[str, Any]]

ENV = PipeEnv(now_ms=1_700_000_000_000.0, random=lambda: 0.5)


@attrs.define
class JobRun:
    """What one simulated job did: its job data, the worker calls made, and the graphs started."""

    data: dict[str, Any]
    calls: list[dict[str, Any]] = attrs.field(factory=list)
    jobs: list[str] = attrs.field(factory=list)


def template_worker(template: Mapping[str, Any]) -> WorkerFn:
    """A canned worker: string values are `str.format_map`-ed with the payload, others returned as-is."""

    def work(payload: dict[str, Any]) -> dict[str, Any]:
        return {
            key: value.format_map(payload) if isinstance(value, str) else value
            for key, value in template.items()
        }

    return work


def _defined(value: Any) -> Any:
    """Drop UNDEFINED values (unresolved references are simply not written, like JSON.stringify)."""
    if isinstance(value, dict):
        return {key: _defined(item) for key, item in value.items() if item is not UNDEFINED}
    if isinstance(value, list):
        return [None if item is UNDEFINED else _defined(item) for item in value]
    return value


def _apply_job_maps(job_data: dict[str, Any], mapped: Any) -> None:
    """Merge resolved `job.maps` into the job data, honouring `name[N]`, `name[-]` and `name[_]`."""
    if not isinstance(mapped, dict):
        return
    for key, value in mapped.items():
        if value is UNDEFINED:
            continue
        if "[" in key:
            left, _, right = key.partition("[")
            amount = right.split("]", 1)[0]
            if amount.isdigit():
                job_data[left] = value
            elif amount in ("-", "_") and isinstance(value, dict):
                job_data.update(value)
            continue
        job_data[key] = value


class GoldenRunner:
    """Runs jobs of one AppVersion with canned workers; `run(topic, input)` returns a JobRun."""

    def __init__(self, app: AppVersion, workers: Mapping[str, WorkerFn]) -> None:
        self.app = app
        self.workers = dict(workers)

    def run(
        self,
        topic: str,
        payload: dict[str, Any],
        *,
        calls: list[dict[str, Any]] | None = None,
        jobs: list[str] | None = None,
    ) -> JobRun:
        calls = [] if calls is None else calls
        jobs = [] if jobs is None else jobs
        graph = self.app.graph_for(topic)
        jobs.append(topic)
        job_data: dict[str, Any] = {}
        metadata = {"jid": f"job-{len(jobs)}", "tpc": topic, "app": self.app.app_id, "vrs": self.app.version}
        state: dict[str, Any] = {}

        trigger = self.app.activity(graph.trigger)
        state[trigger.id] = {"input": {"data": dict(payload)}, "output": {"data": dict(payload)}}
        self._bind_job_maps(trigger, state, job_data, metadata)

        queue: deque[str] = deque(self._next(trigger, state, job_data, metadata))
        while queue:
            activity = self.app.activity(queue.popleft())
            self._run_activity(activity, state, job_data, metadata, calls, jobs)
            queue.extend(self._next(activity, state, job_data, metadata))
        return JobRun(data=_defined(job_data), calls=calls, jobs=jobs)

    def _context(
        self, activity: Activity, state: dict[str, Any], job_data: dict[str, Any], metadata: dict[str, Any]
    ) -> dict[str, Any]:
        own = state.setdefault(activity.id, {"output": {"data": {}}})
        return {**state, "$self": own, "data": job_data, "metadata": metadata}

    def _run_activity(
        self,
        activity: Activity,
        state: dict[str, Any],
        job_data: dict[str, Any],
        metadata: dict[str, Any],
        calls: list[dict[str, Any]],
        jobs: list[str],
    ) -> None:
        context = self._context(activity, state, job_data, metadata)
        request: dict[str, Any] = {}
        if activity.input_maps is not None:
            request = _defined(resolve(activity.input_maps, context, env=ENV)) or {}
        if activity.type == "worker":
            topic = str(activity.subtype)
            calls.append({"topic": topic, "data": request})
            response = self.workers[topic](request)
        elif activity.type == "await":
            child = self.run(str(activity.subtype), request, calls=calls, jobs=jobs)
            response = child.data
        elif activity.type == "hook" and activity.sleep is None and activity.hook_topic is None:
            response = {}  # passthrough
        else:
            raise NotImplementedError(
                f"golden runner does not simulate {activity.type} activity {activity.id!r}"
            )
        state[activity.id] = {"input": {"data": request}, "output": {"data": dict(response)}}
        if activity.output_maps is not None:
            context = self._context(activity, state, job_data, metadata)
            mapped = _defined(resolve(activity.output_maps, context, env=ENV))
            state[activity.id]["output"]["data"].update(mapped or {})
        self._bind_job_maps(activity, state, job_data, metadata)

    def _bind_job_maps(
        self, activity: Activity, state: dict[str, Any], job_data: dict[str, Any], metadata: dict[str, Any]
    ) -> None:
        if activity.job_maps is None:
            return
        context = self._context(activity, state, job_data, metadata)
        _apply_job_maps(job_data, resolve(activity.job_maps, context, env=ENV))

    def _next(
        self, activity: Activity, state: dict[str, Any], job_data: dict[str, Any], metadata: dict[str, Any]
    ) -> list[str]:
        context = self._context(activity, state, job_data, metadata)
        return [
            edge.to
            for edge in activity.children
            if edge.conditions is None or match_conditions(edge.conditions, context, env=ENV, code=200)
        ]


def run_golden_case(app: AppVersion, golden: Mapping[str, Any], case: Mapping[str, Any]) -> JobRun:
    """Run one case of a golden file: workers from the file, overridden by the case's own."""
    templates = {**golden.get("workers", {}), **case.get("workers", {})}
    workers = {topic: template_worker(template) for topic, template in templates.items()}
    return GoldenRunner(app, workers).run(golden["topic"], dict(case["input"]))
