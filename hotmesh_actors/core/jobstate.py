"""A job's state as the engine sees it during one step: job data, activity data per dimension, ledgers.

The store keeps state as rows of `jobs_attributes` named by readable paths (DESIGN §3):

- ``data/<key>`` and ``metadata/<key>``: job-level (no dimension);
- ``<activity>/output/data/<key>``, ``<activity>/output/metadata/<key>``, ``<activity>/hook/data/<key>``:
  activity-level, with the activity's dimensional address (DAD, e.g. ``,0,1``) as the row's dimension;
- a message guid: that message's GUID ledger.

:class:`JobState` holds the decoded values in nested dicts (ready to serve as pipe context) and remembers
which rows changed, so the store writes only those. Values are encoded as HotMesh does (:func:`encode`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from typing import Any, Final

import attrs

from hotmesh_actors.core.pipe.jsvalues import UNDEFINED, is_number, number_to_string

JSON = Any

Field = tuple[str, str]
"""(field path, dimension)."""

ACTIVITY_SECTIONS: Final = (("output", "data"), ("output", "metadata"), ("hook", "data"))


def encode(value: JSON) -> str | None:
    """HotMesh's value encoding: /t /f /n /d<number> /s<json>; plain strings as-is; undefined → None."""
    if value is UNDEFINED:
        return None
    if value is None:
        return "/n"
    if value is True:
        return "/t"
    if value is False:
        return "/f"
    if is_number(value):
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            return "/n"
        return "/d" + number_to_string(value)
    if isinstance(value, str):
        # A string that itself starts with '/' is stored as JSON so it cannot be mistaken for a typed value.
        return "/s" + json.dumps(value) if value.startswith("/") else value
    return "/s" + json.dumps(_plain(value), separators=(",", ":"), allow_nan=False)


def decode(text: str | None) -> JSON:
    """Inverse of :func:`encode`."""
    if text is None:
        return UNDEFINED
    if len(text) >= 2 and text[0] == "/":
        tag, body = text[1], text[2:]
        if tag == "t":
            return True
        if tag == "f":
            return False
        if tag == "n":
            return None
        if tag == "d":
            number = float(body)
            return int(number) if number.is_integer() and "e" not in body and "." not in body else number
        if tag == "s":
            return json.loads(body)
    return text


def _plain(value: JSON) -> JSON:
    """Drop undefined members and map non-finite numbers to null, as JSON.stringify would."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not UNDEFINED}
    if isinstance(value, list | tuple):
        return [None if v is UNDEFINED else _plain(v) for v in value]
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def dad_segments(dad: str) -> list[str]:
    """',0,1,0' → ['0', '1', '0']."""
    return [part for part in dad.split(",") if part != ""]


def dad_prefix(dad: str, depth: int) -> str:
    """The DAD of the ancestor at `depth` (trigger = 0) of an activity at `dad`."""
    segments = dad_segments(dad)[: depth + 1]
    return "," + ",".join(segments) if segments else ""


def child_dad(dad: str) -> str:
    """Children run one level deeper, index 0."""
    return f"{dad},0"


def with_last_index(dad: str, index: int) -> str:
    """Replace the last index of a DAD (a cycle's new dimension)."""
    segments = dad_segments(dad)
    segments[-1] = str(index)
    return "," + ",".join(segments)


def empty_activity_view() -> dict[str, dict[str, dict[str, JSON]]]:
    """The shape of one activity's state in one dimension."""
    return {"output": {"data": {}, "metadata": {}}, "hook": {"data": {}}}


@attrs.define(eq=False)
class JobState:
    """One job's state, loaded under the job's row lock and changed by one engine step."""

    key: str
    jid: str
    status: int
    row_id: str | None = None
    """The `jobs.id` UUID; None for a job this step creates."""
    gid: str = ""
    entity: str | None = None
    origin_id: str | None = None
    parent_id: str | None = None
    created: bool = False
    """True when this step creates the job (the store INSERTs it)."""
    data: dict[str, JSON] = attrs.field(factory=dict)
    metadata: dict[str, JSON] = attrs.field(factory=dict)
    activities: dict[str, dict[str, dict[str, dict[str, dict[str, JSON]]]]] = attrs.field(factory=dict)
    """activity id → dimension → {'output': {'data', 'metadata'}, 'hook': {'data'}}."""
    ledgers: dict[str, int] = attrs.field(factory=dict)
    """GUID ledgers by message guid."""
    marks: dict[str, JSON] = attrs.field(factory=dict)
    """Other rows (`-marker` jmarks, `_search` udata), field → value."""
    dirty: set[Field] = attrs.field(factory=set)
    status_delta: int = 0
    """Semaphore change this step made (applied with one UPDATE … status = status + delta)."""
    expire_s: float | None = None
    """Set when the job finished: keep it this many seconds (0 = forever)."""
    index_entries: list[tuple[str, str]] = attrs.field(factory=list)
    """(stats key, facet) rows the store files this new job under (trigger `stats` index measures)."""

    # -- loading ------------------------------------------------------------------------------------

    def load_rows(self, rows: Iterable[tuple[str, str, str | None]]) -> None:
        """Fill the state from (field, dimension, encoded value) rows without marking them dirty."""
        for field, dimension, text in rows:
            self._put(field, dimension, decode(text))

    # -- reading --------------------------------------------------------------------------------------

    def activity(self, activity_id: str, dad: str) -> dict[str, dict[str, dict[str, JSON]]]:
        """The state of one activity in one dimension (created empty if absent; not marked dirty)."""
        return self.activities.setdefault(activity_id, {}).setdefault(dad, empty_activity_view())

    def has_activity(self, activity_id: str, dad: str) -> bool:
        """True when the activity has state in that dimension."""
        return dad in self.activities.get(activity_id, {})

    def activity_dimensions(self, activity_id: str) -> list[str]:
        """Every dimension the activity has state in."""
        return list(self.activities.get(activity_id, {}))

    def ledger(self, activity_id: str, dad: str) -> int:
        """The activity ledger (`output/metadata/as`) of an activity in a dimension (0 when new)."""
        value = self.activity(activity_id, dad)["output"]["metadata"].get("as", 0)
        return int(value) if is_number(value) else 0

    def guid_ledger(self, guid: str) -> int | None:
        """The GUID ledger of a message, None when it has never been seen."""
        return self.ledgers.get(guid)

    def job_view(self) -> dict[str, JSON]:
        """`{data, metadata}` as pipes see `$job` and as getState returns it."""
        return {"data": self.data, "metadata": self.metadata}

    # -- writing ------------------------------------------------------------------------------------

    def set_job_data(self, key: str, value: JSON) -> None:
        """Write `data/<key>` (undefined values are not written, like HotMesh)."""
        if value is UNDEFINED:
            return
        self.data[key] = value
        self.dirty.add((f"data/{key}", ""))

    def set_job_metadata(self, key: str, value: JSON) -> None:
        """Write `metadata/<key>`."""
        if value is UNDEFINED:
            return
        self.metadata[key] = value
        self.dirty.add((f"metadata/{key}", ""))

    def set_activity(self, activity_id: str, dad: str, section: str, kind: str, key: str, value: JSON) -> None:
        """Write `<activity>/<section>/<kind>/<key>` in dimension `dad` (e.g. section 'output', kind 'data')."""
        if value is UNDEFINED:
            return
        self.activity(activity_id, dad)[section][kind][key] = value
        self.dirty.add((f"{activity_id}/{section}/{kind}/{key}", dad))

    def set_ledger(self, activity_id: str, dad: str, value: int) -> None:
        """Write the activity ledger."""
        self.set_activity(activity_id, dad, "output", "metadata", "as", value)

    def set_guid_ledger(self, guid: str, value: int) -> None:
        """Write a message's GUID ledger."""
        self.ledgers[guid] = value
        self.dirty.add((guid, ""))

    def set_mark(self, field: str, value: JSON) -> None:
        """Write a `-marker` or `_search` row."""
        if value is UNDEFINED:
            return
        self.marks[field] = value
        self.dirty.add((field, ""))

    def add_status(self, delta: int) -> int:
        """Apply a semaphore delta; returns the new status."""
        self.status += delta
        self.status_delta += delta
        return self.status

    # -- the rows to write ----------------------------------------------------------------------------

    def dirty_rows(self) -> Iterator[tuple[str, str, str | None, str]]:
        """(field, dimension, encoded value, type) for every changed row."""
        for field, dimension in sorted(self.dirty):
            yield field, dimension, encode(self._get(field, dimension)), row_type(field, dimension)

    def _put(self, field: str, dimension: str, value: JSON) -> None:
        parts = field.split("/")
        if len(parts) == 1:
            if field.startswith(("-", "_")):
                self.marks[field] = value
            elif is_number(value):
                self.ledgers[field] = int(value)
            return
        if parts[0] == "data":
            self.data[parts[1]] = value
        elif parts[0] == "metadata":
            self.metadata[parts[1]] = value
        elif len(parts) >= 4:
            view = self.activity(parts[0], dimension)
            view.setdefault(parts[1], {}).setdefault(parts[2], {})["/".join(parts[3:])] = value

    def _get(self, field: str, dimension: str) -> JSON:
        parts = field.split("/")
        if len(parts) == 1:
            return self.marks[field] if field in self.marks else self.ledgers.get(field, UNDEFINED)
        if parts[0] == "data":
            return self.data.get(parts[1], UNDEFINED)
        if parts[0] == "metadata":
            return self.metadata.get(parts[1], UNDEFINED)
        view = self.activities.get(parts[0], {}).get(dimension)
        if view is None:
            return UNDEFINED
        return view.get(parts[1], {}).get(parts[2], {}).get("/".join(parts[3:]), UNDEFINED)


def row_type(field: str, dimension: str) -> str:
    """The `jobs_attributes.type` of a row (SPEC §2.3's derivation, on readable paths)."""
    if field.startswith("-"):
        return "hmark" if dimension else "jmark"
    if field.startswith("_"):
        return "udata"
    if field.startswith("data/"):
        return "jdata"
    if "/" not in field:
        return "other"
    if field.startswith("metadata/"):
        return "jdata"
    return "adata"
