"""PostgreSQL's fast path for one sample's change (db.labels): two round trips and no lock held while Python plans.

`load` reads the sample, its project's rules and its annotations in one statement. `write` applies a planned change
in one statement whose parts (update the sample, delete and insert annotations, history, counters) run only if the
sample is still at the version that was read; a single statement is atomic on its own, so no BEGIN or COMMIT is
sent. When the sample moved in between, nothing is written and the caller plans again from a fresh read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from db import drafted_labels
from db.change_rows import ANNOTATION_READ, SAMPLE_STATE, SAMPLE_WRITES, box_json

LOAD = """
SELECT s.id, s.project_id, s.path, s.filename, s.status, s.version, s.locked_by, s.lock_expires_at, s.width,
       s.height, s.labeled_by, s.labeled_at, s.skipped_by, s.updated_by, s.updated_at, s.no_objects,
       s.min_confidence, s.max_confidence, s.review_status, s.reviewed_by, s.reviewed_at, s.review_comment,
       s.missing_since, s.duplicate_group, s.split, s.nested_boxes, s.box_count, s.min_box_w, s.min_box_h,
       p.task_type, p.classes::text,
       p.multi_label, p.consensus::text,
       (SELECT json_agg(json_build_array(a.id, a.label, a.kind, a.x, a.y, a.w, a.h, a.confidence, a.is_draft,
                                         a.created_by, a.created_at) ORDER BY a.id)::text
          FROM annotations a WHERE a.sample_id = s.id)
  FROM samples s JOIN projects p ON p.id = s.project_id
 WHERE s.id = %(id)s
"""

# Every part but the UPDATE reads `moved`, so it runs after it and only if the version still matched. The
# annotations are inserted in input order (ORDER BY ord), which is the order PostgreSQL hands out their ids in;
# counter rows go in a fixed order, after the sample row, as in the locked path (no deadlocks between the two).
WRITE = f"""
WITH moved AS (
  UPDATE samples SET {", ".join(f"{c} = %(v_{c})s" for c in SAMPLE_WRITES)}
   WHERE id = %(id)s AND version = %(read_version)s
  RETURNING id
), removed AS (
  DELETE FROM annotations WHERE id = ANY(%(remove)s::bigint[]) AND EXISTS (SELECT FROM moved)
), added AS (
  INSERT INTO annotations (project_id, sample_id, label, kind, x, y, w, h, confidence, is_draft, created_by,
                           created_at)
  SELECT %(project_id)s, %(id)s, t.label, t.kind, t.x, t.y, t.w, t.h, t.confidence, t.is_draft, t.created_by,
         %(now)s
    FROM unnest(%(a_label)s::text[], %(a_kind)s::text[], %(a_x)s::float8[], %(a_y)s::float8[], %(a_w)s::float8[],
                %(a_h)s::float8[], %(a_confidence)s::float8[], %(a_is_draft)s::bool[], %(a_created_by)s::text[])
         WITH ORDINALITY AS t(label, kind, x, y, w, h, confidence, is_draft, created_by, ord)
   WHERE EXISTS (SELECT FROM moved)
   ORDER BY t.ord
  RETURNING id
), history AS (
  INSERT INTO annotation_events (project_id, sample_id, action, label_before, box_before, label_after, box_after,
                                 actor, at)
  SELECT %(project_id)s, %(id)s, t.action, t.label_before, t.box_before::json, t.label_after, t.box_after::json,
         %(user)s, %(now)s
    FROM unnest(%(e_action)s::text[], %(e_label_before)s::text[], %(e_box_before)s::text[],
                %(e_label_after)s::text[], %(e_box_after)s::text[])
         WITH ORDINALITY AS t(action, label_before, box_before, label_after, box_after, ord)
   WHERE EXISTS (SELECT FROM moved)
   ORDER BY t.ord
), counted AS (
  INSERT INTO project_counters AS c (project_id, kind, key, n)
  SELECT %(project_id)s, t.kind, t.key, t.n
    FROM unnest(%(c_kind)s::text[], %(c_key)s::text[], %(c_n)s::bigint[]) AS t(kind, key, n)
   WHERE EXISTS (SELECT FROM moved)
   ORDER BY t.kind, t.key
  ON CONFLICT (project_id, kind, key) DO UPDATE SET n = c.n + excluded.n
){drafted_labels.PG_WRITE}
SELECT array(SELECT id FROM added ORDER BY id) FROM moved
"""


def load(conn: Any, sample_id: int) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]] | None:
    """(sample columns, project rules, annotations as column dicts), or None if the sample does not exist."""
    row = conn.execute(LOAD, {"id": sample_id}).fetchone()
    if row is None:
        return None
    n = len(SAMPLE_STATE)
    sample = dict(zip(SAMPLE_STATE, row[:n], strict=True))
    project = {"id": row[1], "task_type": row[n], "classes": orjson.loads(row[n + 1]), "multi_label": row[n + 2],
               "consensus": orjson.loads(row[n + 3]) if row[n + 3] is not None else None}
    annotations = [dict(zip(ANNOTATION_READ, a, strict=True)) for a in orjson.loads(row[n + 4] or "[]")]
    for a in annotations:
        a["created_at"] = datetime.fromisoformat(a["created_at"]).astimezone(UTC)
    return sample, project, annotations



def _float(value: float | None) -> float | None:
    return None if value is None else float(value)  # one array type even if a client sent an integer


def write(conn: Any, *, sample: Any, read_version: int, project_id: int, remove: Sequence[int],
          add: Sequence[Mapping[str, Any]], events: Sequence[tuple[str, str | None, Any, str | None, Any]],
          deltas: Mapping[tuple[str, str], int], drafted: Sequence[str] | None, user: str, now: datetime
          ) -> list[int] | None:
    """Apply one planned change if the sample is still at read_version: the new annotations' ids in input order,
    or None (nothing written) if it moved. drafted: the sample's drafted labels when they change."""
    counted = sorted((k, key, n) for (k, key), n in deltas.items() if n)
    params: dict[str, Any] = {
        "id": sample.id, "read_version": read_version, "project_id": project_id, "user": user, "now": now,
        "remove": list(remove),
        **{f"v_{c}": getattr(sample, c) for c in SAMPLE_WRITES},
        **{f"a_{c}": [a[c] for a in add] for c in ("label", "kind", "is_draft", "created_by")},
        **{f"a_{c}": [_float(a[c]) for a in add] for c in ("x", "y", "w", "h", "confidence")},
        "e_action": [e[0] for e in events], "e_label_before": [e[1] for e in events],
        "e_box_before": [box_json(e[2]) for e in events], "e_label_after": [e[3] for e in events],
        "e_box_after": [box_json(e[4]) for e in events],
        "c_kind": [c[0] for c in counted], "c_key": [c[1] for c in counted], "c_n": [c[2] for c in counted],
        **drafted_labels.pg_params(drafted, sample.min_confidence),
    }
    row = conn.execute(WRITE, params).fetchone()
    return None if row is None else list(row[0])
