"""A job's state as the engine sees it during one step: job data, activity data per dimension, ledgers.

The store keeps a job's state as ONE JSON document on its `jobs` row (DESIGN §3, the lean step), whose
top-level keys are HotMesh's field names grouped per activity and dimension:

- ``data`` and ``metadata``: the job's data and metadata objects;
- ``<activity><dad>`` (e.g. ``checkInventory,0,0``): the activity's state in that dimensional address,
  ``{"output": {"data": {…}, "metadata": {…}}, "hook": {"data": {…}}}``;
- a message guid: that message's GUID ledger (an integer);
- ``-<marker>`` / ``_<field>``: replay markers and search fields.

:class:`JobState` holds the decoded values in nested dicts (ready to serve as pipe context) and remembers which
top-level keys changed, so a step writes a *patch* of only those (``state || patch``). The same state reads as
HotMesh's rows too (:meth:`JobState.raw_fields`: readable paths, values encoded by :func:`encode`).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterator
from typing import Any, Final

import attrs

from hotmesh_actors.core.pipe.jsvalues import UNDEFINED, is_number, number_to_string

JSON = Any

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


@functools.lru_cache(maxsize=4096)
def dad_prefix(dad: str, depth: int) -> str:
    """The DAD of the ancestor at `depth` (trigger = 0) of an activity at `dad`. (Cached: a step asks it for
    every activity of the job, and DADs repeat.)"""
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


_ACTIVITY_KEY: Final = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]*)((?:,\d+)+)$")
"""A document key naming an activity's state in one dimension: the activity id, then its DAD."""


def activity_key(activity_id: str, dad: str) -> str:
    """The document key of an activity's state in a dimension (HotMesh's `<symbol><dimension>` field)."""
    return activity_id + dad


def plain(value: JSON) -> JSON:
    """A value as JSON holds it: undefined members dropped, non-finite numbers null (as JSON.stringify does)."""
    return _plain(value)


@attrs.define(eq=False)
class JobState:
    """One job's state, loaded (or cached) for one engine step and changed by it; see the module docstring."""

    key: str
    jid: str
    status: int
    row_id: str | None = None
    """The `jobs.id` UUID; None for a job this step creates (the store assigns it)."""
    rev: int = 0
    """The row's revision when loaded: a write succeeds only if the row still has it (then it is rev + 1)."""
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
    """Other keys (`-marker` jmarks/hmarks, `_search` udata), field → value."""
    dirty: set[str] = attrs.field(factory=set)
    """Document keys this step changed."""
    status_delta: int = 0
    """Semaphore change this step made (applied with one UPDATE … status = status + delta)."""
    expire_s: float | None = None
    """Set when the job finished: keep it this many seconds (0 = forever)."""
    index_entries: list[tuple[str, str]] = attrs.field(factory=list)
    """(stats key, facet) rows the store files this new job under (trigger `stats` index measures)."""

    # -- the document ---------------------------------------------------------------------------------

    @classmethod
    def from_document(cls, key: str, status: int, document: dict[str, JSON], **columns: Any) -> JobState:
        """A job read from its row: `document` is the `state` column, `columns` the other ones."""
        job = cls(key=key, jid=key.split(":", 3)[3], status=status, **columns)
        for name, value in document.items():
            job._load(name, value)
        job.gid = str(job.metadata.get("gid", ""))
        return job

    def _load(self, name: str, value: JSON) -> None:
        if name == "data":
            self.data = dict(value) if isinstance(value, dict) else {}
        elif name == "metadata":
            self.metadata = dict(value) if isinstance(value, dict) else {}
        elif name.startswith("-"):
            self.marks[name] = value
        elif (match := _ACTIVITY_KEY.match(name)) is not None and isinstance(value, dict):
            view = empty_activity_view()
            for section, kinds in value.items():
                if isinstance(kinds, dict):
                    target = view.setdefault(section, {})
                    for kind, fields in kinds.items():
                        if isinstance(fields, dict):
                            target[kind] = dict(fields)
            self.activities.setdefault(match.group(1), {})[match.group(2)] = view
        elif name.startswith("_"):
            self.marks[name] = value
        elif is_number(value):
            self.ledgers[name] = int(value)

    def document(self) -> dict[str, JSON]:
        """The whole state as its JSON document (a new job's `state`)."""
        keys = {"data", "metadata", *self.ledgers, *self.marks}
        keys.update(activity_key(aid, dad) for aid, dims in self.activities.items() for dad in dims)
        return {key: self._document_value(key) for key in keys}

    def patch(self) -> dict[str, JSON]:
        """The changed top-level keys and their values (merged into the stored document with `||`)."""
        return {key: self._document_value(key) for key in self.dirty}

    def _document_value(self, key: str) -> JSON:
        if key == "data":
            return _plain(self.data)
        if key == "metadata":
            return _plain(self.metadata)
        if key in self.ledgers:
            return self.ledgers[key]
        if key in self.marks:
            return _plain(self.marks[key])
        match = _ACTIVITY_KEY.match(key)
        if match is None:
            return None
        view = self.activities.get(match.group(1), {}).get(match.group(2))
        if view is None:
            return None
        return {section: {kind: _plain(fields) for kind, fields in kinds.items() if fields}
                for section, kinds in view.items() if any(kinds.values())}

    def clean(self) -> None:
        """Forget what this step changed (after its write committed, or to start over)."""
        self.dirty.clear()
        self.status_delta = 0
        self.expire_s = None
        self.index_entries = []

    # -- reading --------------------------------------------------------------------------------------

    def activity(self, activity_id: str, dad: str) -> dict[str, dict[str, dict[str, JSON]]]:
        """The state of one activity in one dimension (created empty if absent; not marked dirty)."""
        dimensions = self.activities.get(activity_id)
        if dimensions is None:
            dimensions = self.activities[activity_id] = {}
        view = dimensions.get(dad)
        if view is None:
            view = dimensions[dad] = empty_activity_view()
        return view

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

    def raw_fields(self) -> Iterator[tuple[str, str, str | None]]:
        """The state as HotMesh's rows: (readable field path, dimension, encoded value), sorted."""
        rows: list[tuple[str, str, str | None]] = []
        rows.extend((f"data/{k}", "", encode(v)) for k, v in self.data.items())
        rows.extend((f"metadata/{k}", "", encode(v)) for k, v in self.metadata.items())
        for aid, dims in self.activities.items():
            for dad, view in dims.items():
                for section, kinds in view.items():
                    for kind, fields in kinds.items():
                        rows.extend((f"{aid}/{section}/{kind}/{k}", dad, encode(v)) for k, v in fields.items())
        rows.extend((guid, "", encode(value)) for guid, value in self.ledgers.items())
        rows.extend((name, "", encode(value)) for name, value in self.marks.items())
        yield from sorted(row for row in rows if row[2] is not None)

    # -- writing ------------------------------------------------------------------------------------

    def set_job_data(self, key: str, value: JSON) -> None:
        """Write `data/<key>` (undefined values are not written, like HotMesh)."""
        if value is UNDEFINED:
            return
        self.data[key] = value
        self.dirty.add("data")

    def set_job_metadata(self, key: str, value: JSON) -> None:
        """Write `metadata/<key>`."""
        if value is UNDEFINED:
            return
        self.metadata[key] = value
        self.dirty.add("metadata")

    def set_activity(self, activity_id: str, dad: str, section: str, kind: str, key: str, value: JSON) -> None:
        """Write `<activity>/<section>/<kind>/<key>` in dimension `dad` (e.g. section 'output', kind 'data')."""
        if value is UNDEFINED:
            return
        self.activity(activity_id, dad).setdefault(section, {}).setdefault(kind, {})[key] = value
        self.dirty.add(activity_key(activity_id, dad))

    def set_ledger(self, activity_id: str, dad: str, value: int) -> None:
        """Write the activity ledger."""
        self.set_activity(activity_id, dad, "output", "metadata", "as", value)

    def set_guid_ledger(self, guid: str, value: int) -> None:
        """Write a message's GUID ledger."""
        self.ledgers[guid] = value
        self.dirty.add(guid)

    def set_mark(self, field: str, value: JSON) -> None:
        """Write a `-marker` or `_search` field."""
        if value is UNDEFINED:
            return
        self.marks[field] = value
        self.dirty.add(field)

    def add_status(self, delta: int) -> int:
        """Apply a semaphore delta; returns the new status."""
        self.status += delta
        self.status_delta += delta
        return self.status


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
