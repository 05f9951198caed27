"""SQLite's fast path for one sample's change (db.labels): the same reads and writes as the locked unit of work,
as plain sqlite3 statements inside the writer thread's `BEGIN IMMEDIATE` transaction.

SQLAlchemy's execution machinery cost half of a save's time on SQLite (the statements themselves a few
microseconds each). Values are stored exactly as SQLAlchemy stores them (db.models): datetimes as naive UTC text
with microseconds, booleans as 0/1, JSON as text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from db import drafted_labels
from db.change_rows import ANNOTATION_READ, SAMPLE_STATE, SAMPLE_WRITES, box_json

DATETIMES = frozenset({"lock_expires_at", "labeled_at", "updated_at", "reviewed_at", "missing_since"})
_BOOLEANS = frozenset({"no_objects", "nested_boxes"})

LOAD = (f"SELECT {', '.join(f's.{c}' for c in SAMPLE_STATE)}, p.task_type, p.classes, p.multi_label, p.consensus "
        "FROM samples s JOIN projects p ON p.id = s.project_id WHERE s.id = ?")
ANNOTATIONS = f"SELECT {', '.join(ANNOTATION_READ)} FROM annotations WHERE sample_id = ? ORDER BY id"
UPDATE = (f"UPDATE samples SET {', '.join(f'{c} = ?' for c in SAMPLE_WRITES)} "
          "WHERE id = ? AND version = ?")
INSERT_ANNOTATION = ("INSERT INTO annotations (project_id, sample_id, label, kind, x, y, w, h, confidence, is_draft, "
                     "created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_EVENT = ("INSERT INTO annotation_events (project_id, sample_id, action, label_before, box_before, label_after, "
                "box_after, actor, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
BUMP = ("INSERT INTO project_counters (project_id, kind, key, n) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (project_id, kind, key) DO UPDATE SET n = n + excluded.n")


def stored(value: datetime | None) -> str | None:
    """A datetime as SQLAlchemy's SQLite DATETIME stores it (UTC, no zone, microseconds)."""
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _read_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


_TIMES_AT = [SAMPLE_STATE.index(c) for c in DATETIMES]
_BOOLEANS_AT = [SAMPLE_STATE.index(c) for c in _BOOLEANS]


def sample_values(row: Sequence[Any]) -> list[Any]:
    """sample_columns' values as a list in SAMPLE_STATE order (cheaper: a batch of states reads 100,000 rows)."""
    values = list(row)
    for i in _TIMES_AT:
        if values[i] is not None:
            values[i] = _read_time(values[i])
    for i in _BOOLEANS_AT:
        values[i] = bool(values[i])
    return values


def sample_columns(row: Sequence[Any]) -> dict[str, Any]:
    """A samples row of the SAMPLE_STATE columns, in the types SQLAlchemy reads them as."""
    sample = dict(zip(SAMPLE_STATE, row, strict=True))
    for c in DATETIMES:
        sample[c] = _read_time(sample[c])
    for c in _BOOLEANS:
        sample[c] = bool(sample[c])
    return sample


def load(conn: Any, sample_id: int) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]] | None:
    """(sample columns, project rules, annotations as column dicts), or None if the sample does not exist."""
    row = conn.execute(LOAD, (sample_id,)).fetchone()
    if row is None:
        return None
    n = len(SAMPLE_STATE)
    sample = sample_columns(row[:n])
    project = {"id": row[1], "task_type": row[n], "classes": orjson.loads(row[n + 1]), "multi_label": bool(row[n + 2]),
               "consensus": orjson.loads(row[n + 3]) if row[n + 3] is not None else None}
    annotations = []
    for a in conn.execute(ANNOTATIONS, (sample_id,)):
        values = dict(zip(ANNOTATION_READ, a, strict=True))
        values["is_draft"], values["created_at"] = bool(values["is_draft"]), _read_time(values["created_at"])
        annotations.append(values)
    return sample, project, annotations


def write(conn: Any, *, sample: Any, read_version: int, project_id: int, remove: Sequence[int],
          add: Sequence[Mapping[str, Any]], events: Sequence[tuple[str, str | None, Any, str | None, Any]],
          deltas: Mapping[tuple[str, str], int], drafted: Sequence[str] | None, user: str, now: datetime
          ) -> list[int] | None:
    """Apply one planned change inside the caller's transaction if the sample is still at read_version: the new
    annotations' ids in input order, or None (nothing written) if it moved. drafted: the sample's drafted labels
    when they change."""
    values = [stored(getattr(sample, c)) if c in DATETIMES else getattr(sample, c) for c in SAMPLE_WRITES]
    if conn.execute(UPDATE, (*values, sample.id, read_version)).rowcount != 1:
        return None
    if remove:
        conn.execute(f"DELETE FROM annotations WHERE id IN ({', '.join('?' * len(remove))})", tuple(remove))
    at = stored(now)
    ids = [conn.execute(INSERT_ANNOTATION, (project_id, sample.id, a["label"], a["kind"], a["x"], a["y"], a["w"],
                                            a["h"], a["confidence"], a["is_draft"], a["created_by"], at)).lastrowid
           for a in add]
    if events:
        conn.executemany(INSERT_EVENT, [(project_id, sample.id, action, lb, box_json(bb), la, box_json(ba), user, at)
                                        for action, lb, bb, la, ba in events])
    if drafted is not None:
        conn.execute(drafted_labels.SQLITE_CLEAR, (sample.id,))
        conn.executemany(drafted_labels.SQLITE_INSERT, [(sample.id, label, project_id, sample.min_confidence)
                                                        for label in drafted])
    counted = sorted((k, key, n) for (k, key), n in deltas.items() if n)
    if counted:
        conn.executemany(BUMP, [(project_id, k, key, n) for k, key, n in counted])
    return ids
