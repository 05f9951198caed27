"""Likely label errors: store the suspects an evaluation found (keeping reviewers' verdicts while an image's labels
are unchanged), page the review queue (strongest disagreement first) and record a reviewer's verdict."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from db.errors import Invalid, NotFound
from db.models import LabelErrorSuspect, Sample, utcnow

VERDICTS = ("CONFIRMED_ERROR", "NOT_AN_ERROR")


class Found(NamedTuple):
    sample_id: int
    score: float
    reason: str
    labels_key: str


def store_suspects(session: Session, project_id: int, model: str, found: list[Found]) -> int:
    """Replaces the project's waiting suspects with these; an image judged on the same labels is not raised again.
    Returns how many wait for review."""
    judged = {sid: key for sid, key in session.execute(
        select(LabelErrorSuspect.sample_id, LabelErrorSuspect.labels_key).where(
            LabelErrorSuspect.project_id == project_id, LabelErrorSuspect.verdict.is_not(None)))}
    session.execute(delete(LabelErrorSuspect).where(LabelErrorSuspect.project_id == project_id,
                                                    LabelErrorSuspect.verdict.is_(None)))
    relabelled = [f.sample_id for f in found if f.sample_id in judged and judged[f.sample_id] != f.labels_key]
    if relabelled:
        session.execute(delete(LabelErrorSuspect).where(LabelErrorSuspect.sample_id.in_(relabelled)))
    rows = [{"sample_id": f.sample_id, "project_id": project_id, "score": f.score, "reason": f.reason,
             "model": model, "labels_key": f.labels_key} for f in found if judged.get(f.sample_id) != f.labels_key]
    if rows:
        session.execute(insert(LabelErrorSuspect), rows)
    return len(rows)


def queue(session: Session, project_id: int, first: int, after: tuple[float, int] | None
          ) -> list[tuple[LabelErrorSuspect, Sample]]:
    """Suspects waiting for a verdict, the strongest disagreement first (keyset on score desc, sample id)."""
    stmt = (select(LabelErrorSuspect, Sample).join(Sample, Sample.id == LabelErrorSuspect.sample_id)
            .where(LabelErrorSuspect.project_id == project_id, LabelErrorSuspect.verdict.is_(None)))
    if after is not None:
        score, sid = after
        stmt = stmt.where(or_(LabelErrorSuspect.score < score,
                              and_(LabelErrorSuspect.score == score, LabelErrorSuspect.sample_id > sid)))
    rows = session.execute(stmt.order_by(LabelErrorSuspect.score.desc(), LabelErrorSuspect.sample_id).limit(first))
    return [(e, s) for e, s in rows]


def waiting(session: Session, project_id: int) -> int:
    return session.scalar(select(func.count()).select_from(LabelErrorSuspect).where(
        LabelErrorSuspect.project_id == project_id, LabelErrorSuspect.verdict.is_(None))) or 0


def judge(session: Session, sample_id: int, verdict: str, user: str) -> tuple[LabelErrorSuspect, Sample]:
    """Records a reviewer's verdict on a raised image (a new verdict replaces an earlier one)."""
    row = session.get(LabelErrorSuspect, sample_id)
    sample = session.get(Sample, sample_id)
    if sample is None:
        raise NotFound(f"Sample {sample_id} does not exist.")
    if row is None:
        raise Invalid(f"Sample {sample_id} is not raised as a likely label error (run a model evaluation first).")
    row.verdict, row.judged_by, row.judged_at = verdict, user, utcnow()
    session.flush()
    return row, sample
