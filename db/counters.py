"""Per-project counters kept in the same transaction as every write, so stats cost one indexed read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from db import drafted_labels
from db.engine import dialect_of
from db.models import Annotation, ProjectCounter, Sample
from db.sample_state import SampleState

# Counter kinds
STATUS = "status"
LABELED_BY = "labeled_by"
SKIPPED_BY = "skipped_by"
ANNOTATIONS_BY = "annotations_by"
CLASS = "class"
SAMPLE_CLASS = "sample_class"  # samples with at least one confirmed box of the class: the gallery's label total
LABELED_DAY = "labeled_day"
ACCEPTED_BY = "accepted_by"  # labelled samples whose review accepted them, by labeller
REJECTED_BY = "rejected_by"

Deltas = Counter[tuple[str, str]]


def sample_keys(sample: Sample | SampleState) -> list[tuple[str, str]]:
    """The counters one sample contributes to, from its current state."""
    keys = [(STATUS, sample.status)]
    if sample.status == "LABELED" and sample.labeled_by:
        keys.append((LABELED_BY, sample.labeled_by))
    if sample.status == "LABELED" and sample.labeled_at:
        keys.append((LABELED_DAY, sample.labeled_at.date().isoformat()))
    if sample.status == "SKIPPED" and sample.skipped_by:
        keys.append((SKIPPED_BY, sample.skipped_by))
    if sample.status == "LABELED" and sample.labeled_by and sample.review_status != "NONE":
        keys.append((ACCEPTED_BY if sample.review_status == "ACCEPTED" else REJECTED_BY, sample.labeled_by))
    return keys


def _upsert(insert: Any) -> Any:
    """RETURNING (unread) makes SQLAlchemy send all rows as one multi-row INSERT ("insertmanyvalues") rather than
    the driver's executemany, which psycopg pipelines at three socket waits a call."""
    table = ProjectCounter.__table__
    stmt = insert(table)
    return stmt.on_conflict_do_update(index_elements=[table.c.project_id, table.c.kind, table.c.key],
                                      set_={"n": table.c.n + stmt.excluded.n}).returning(table.c.n)


_UPSERT = {"postgresql": _upsert(pg_insert), "sqlite": _upsert(sqlite_insert)}  # built once: a hot path


def bump(session: Session, project_id: int, deltas: Mapping[tuple[str, str], int]) -> None:
    """Add each delta to its counter (creating it at zero); zero deltas are dropped."""
    rows = [{"project_id": project_id, "kind": k, "key": key, "n": n} for (k, key), n in deltas.items() if n]
    if not rows:
        return
    rows.sort(key=lambda r: (r["kind"], r["key"]))  # a fixed lock order avoids deadlocks between writers
    session.connection().execute(_UPSERT[dialect_of(session)], rows)


def read(session: Session, project_ids: Iterable[int]) -> dict[int, dict[str, dict[str, int]]]:
    """{project_id: {kind: {key: n}}} for the given projects (missing projects map to {})."""
    ids = list(project_ids)
    out: dict[int, dict[str, dict[str, int]]] = {pid: {} for pid in ids}
    if not ids:
        return out
    rows = session.execute(
        select(ProjectCounter.project_id, ProjectCounter.kind, ProjectCounter.key, ProjectCounter.n).where(
            ProjectCounter.project_id.in_(ids), ProjectCounter.n != 0
        )
    )
    for pid, kind, key, n in rows:
        out[pid].setdefault(kind, {})[key] = n
    return out


def reset(session: Session, project_id: int) -> None:
    session.execute(delete(ProjectCounter).where(ProjectCounter.project_id == project_id))


def recount(session: Session, project_id: int) -> None:
    """Rebuild a project's counters, and its drafted labels, from the rows (repair, bulk loads, a class rename);
    the incremental path must agree with it."""
    reset(session, project_id)
    drafted_labels.rebuild(session, project_id)
    deltas: Deltas = Counter()
    s = Sample
    queries = [
        (STATUS, select(s.status, func.count()).where(s.project_id == project_id).group_by(s.status)),
        (LABELED_BY, select(s.labeled_by, func.count()).where(
            s.project_id == project_id, s.status == "LABELED", s.labeled_by.is_not(None)).group_by(s.labeled_by)),
        (SKIPPED_BY, select(s.skipped_by, func.count()).where(
            s.project_id == project_id, s.status == "SKIPPED", s.skipped_by.is_not(None)).group_by(s.skipped_by)),
        (ANNOTATIONS_BY, select(Annotation.created_by, func.count()).where(
            Annotation.project_id == project_id, Annotation.is_draft.is_(False)).group_by(Annotation.created_by)),
        (CLASS, select(Annotation.label, func.count()).where(
            Annotation.project_id == project_id, Annotation.is_draft.is_(False)).group_by(Annotation.label)),
        (SAMPLE_CLASS, select(Annotation.label, func.count(Annotation.sample_id.distinct())).where(
            Annotation.project_id == project_id, Annotation.is_draft.is_(False)).group_by(Annotation.label)),
        *((kind, select(s.labeled_by, func.count()).where(
            s.project_id == project_id, s.status == "LABELED", s.labeled_by.is_not(None), s.review_status == review)
            .group_by(s.labeled_by)) for kind, review in ((ACCEPTED_BY, "ACCEPTED"), (REJECTED_BY, "REJECTED"))),
    ]
    for kind, stmt in queries:
        for key, n in session.execute(stmt):
            deltas[(kind, str(key))] += n
    days = select(s.labeled_at).where(s.project_id == project_id, s.status == "LABELED", s.labeled_at.is_not(None))
    for (at,) in session.execute(days):
        if at is not None:
            deltas[(LABELED_DAY, at.date().isoformat())] += 1
    bump(session, project_id, deltas)
