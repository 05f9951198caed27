"""The drafted_labels rows (db.models.DraftedLabel): for each sample holding a model draft's confidence, its
confirmed classes with that confidence. A change rewrites a sample's rows only when its drafted classes or its
confidence moved (Change.drafted); every writer of labels applies it in its own transaction, and a recount rebuilds
them from the annotations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, literal, select
from sqlalchemy.orm import Session

from db.models import Annotation, DraftedLabel, Sample

_D = DraftedLabel.__table__


def planned(before: set[str], old_confidence: float | None, after: set[str], new_confidence: float | None
            ) -> tuple[str, ...] | None:
    """The sample's drafted classes after a change, sorted, when its rows must be rewritten; None when they stay
    (no draft's confidence before and after, or the same classes at the same confidence)."""
    held_before = before if old_confidence is not None else set()
    held_after = after if new_confidence is not None else set()
    if held_before == held_after and (not held_after or old_confidence == new_confidence):
        return None
    return tuple(sorted(held_after))


def apply(conn: Connection | Session, changes: Iterable[Any]) -> None:
    """Rewrite the rows of the changes that moved them (label_plans.Change.drafted is not None), in the caller's
    transaction: the samples' old rows go, their new ones are inserted."""
    moved = [c for c in changes if c.drafted is not None]
    cleared = [c.sample.id for c in moved]
    for i in range(0, len(cleared), 5000):
        conn.execute(delete(_D).where(_D.c.sample_id.in_(cleared[i:i + 5000])))
    rows = [{"sample_id": c.sample.id, "label": label, "project_id": c.project_id,
             "confidence": c.sample.min_confidence} for c in moved for label in c.drafted]
    if rows:
        conn.execute(insert(_D), rows)


def rebuild(session: Session, project_id: int) -> None:
    """The project's rows from its annotations and samples (a recount; a class rename or merge)."""
    session.execute(delete(_D).where(_D.c.project_id == project_id))
    held = (select(Annotation.sample_id, Annotation.label, literal(project_id), Sample.min_confidence)
            .join(Sample, Sample.id == Annotation.sample_id)
            .where(Annotation.project_id == project_id, Annotation.is_draft.is_(False),
                   Sample.min_confidence.is_not(None)).distinct())
    session.execute(insert(_D).from_select(["sample_id", "label", "project_id", "confidence"], held))


# PostgreSQL's one-statement save (db.labels_pg.WRITE): the sample's rows of classes it no longer holds go, the
# others are inserted or take the new confidence; both only when the change rewrites them and the sample moved.
PG_WRITE = """
, undrafted AS (
  DELETE FROM drafted_labels
   WHERE sample_id = %(id)s AND %(d_rewrite)s AND label <> ALL(%(d_labels)s::text[]) AND EXISTS (SELECT FROM moved)
), drafted AS (
  INSERT INTO drafted_labels (sample_id, label, project_id, confidence)
  SELECT %(id)s, t.label, %(project_id)s, %(d_confidence)s FROM unnest(%(d_labels)s::text[]) AS t(label)
   WHERE EXISTS (SELECT FROM moved)
  ON CONFLICT (sample_id, label) DO UPDATE SET confidence = excluded.confidence
)"""


def pg_params(drafted: Sequence[str] | None, confidence: float | None) -> dict[str, Any]:
    return {"d_rewrite": drafted is not None, "d_labels": list(drafted or ()), "d_confidence": confidence}


SQLITE_CLEAR = "DELETE FROM drafted_labels WHERE sample_id = ?"
SQLITE_INSERT = "INSERT INTO drafted_labels (sample_id, label, project_id, confidence) VALUES (?, ?, ?, ?)"
