"""Export a job as people read it: its activities per dimension, the transitions taken, and a timeline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hotmesh_actors.core.graph import AppVersion
from hotmesh_actors.core.jobstate import JobState, dad_segments

JSON = Any


def _iso(compact: JSON) -> str | None:
    """`YYYYMMDDHHmmss.sss` → ISO 8601 (UTC), None when absent or malformed."""
    if not isinstance(compact, str) or len(compact) < 14:
        return None
    try:
        moment = datetime.strptime(compact[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    millis = compact[15:18] if len(compact) >= 18 else "000"
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis}Z"


def export_job(app: AppVersion, state: JobState) -> dict[str, JSON]:
    """`{job_id, status, data, activities, transitions, timeline}` for one job."""
    activities: list[dict[str, JSON]] = []
    for activity_id, dimensions in state.activities.items():
        for dad, view in dimensions.items():
            meta = view["output"]["metadata"]
            activities.append({
                "activity_id": activity_id,
                "type": meta.get("atp"),
                "dimension": dad,
                "data": view["output"]["data"],
                "hook": view["hook"]["data"] or None,
                "created_at": _iso(meta.get("ac")),
                "updated_at": _iso(meta.get("au")),
                "ledger": f"{int(meta.get('as', 0)):015d}",
                "error": meta.get("err"),
            })
    activities.sort(key=lambda item: (item["created_at"] or "", len(dad_segments(item["dimension"]))))
    entered = {(item["activity_id"], item["dimension"]) for item in activities}
    transitions: list[dict[str, JSON]] = []
    for activity_id, dad in sorted(entered):
        try:
            activity = app.activity(activity_id)
        except KeyError:
            continue
        for edge in activity.children:
            child_dad = f"{dad},0"
            if (edge.to, child_dad) in entered:
                transitions.append({"from": activity_id, "to": edge.to, "dimension": dad})
    timeline: list[dict[str, JSON]] = []
    for item in activities:
        if item["created_at"]:
            timeline.append({"activity_id": item["activity_id"], "dimension": item["dimension"],
                             "event": "entered", "at": item["created_at"]})
        if item["updated_at"] and item["type"] != "trigger":
            timeline.append({"activity_id": item["activity_id"], "dimension": item["dimension"],
                             "event": "completed", "at": item["updated_at"]})
    timeline.sort(key=lambda event: event["at"])
    return {
        "job_id": state.jid,
        "status": state.status,
        "data": state.data,
        "metadata": state.metadata,
        "activities": activities,
        "transitions": transitions,
        "timeline": timeline,
    }
