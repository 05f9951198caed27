"""Review of labelled samples: accept or reject with a comment (history, counters per labeller), and rejected
samples handed back to their labeller before any other work. Any later change to a sample's labels clears its
review (db.label_plans.plan_change), so it comes back to the review queue."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from db import counters
from db import labels as label_rows
from db import submissions as submission_rows
from db.engine import dialect_of, emit
from db.errors import Conflict, Forbidden, Invalid
from db.models import AnnotationEvent, Project, Sample, utcnow
from db.overlap import ConsensusSettings
from db.samples import get_sample

REVIEW_STATUSES = ("NONE", "ACCEPTED", "REJECTED")
MAX_COMMENT = 2000


def review_sample(session: Session, sample_id: int, reviewer: str, *, accept: bool, comment: str | None,
                  expected_version: int | None, may_review_own: bool = True) -> Sample:
    """Accept or reject a labelled sample; the review, the reviewer and the comment go into its history.
    may_review_own=False (reviewers, as opposed to owners) refuses a sample the reviewer labelled."""
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > MAX_COMMENT:
        raise Invalid(f"A review comment is at most {MAX_COMMENT} characters.", field="comment")
    sample = get_sample(session, sample_id, for_update=True)
    if expected_version is not None and expected_version != sample.version:
        who = f" by {sample.updated_by}" if sample.updated_by else ""
        raise Conflict(f"Sample {sample.id} was changed{who} since you loaded it (you have version "
                       f"{expected_version}, it is now {sample.version}). Reload it and review it again.",
                       currentVersion=sample.version, changedBy=sample.updated_by)
    if sample.status != "LABELED":
        raise Invalid(f"Only labelled samples are reviewed; {sample.filename} is {sample.status.lower()}.")
    if not may_review_own and sample.labeled_by == reviewer:
        raise Forbidden(f"You labelled {sample.filename}: another reviewer or an owner reviews it.")
    deltas: counters.Deltas = Counter()
    for key in counters.sample_keys(sample):
        deltas[key] -= 1
    now = utcnow()
    sample.review_status = "ACCEPTED" if accept else "REJECTED"
    sample.reviewed_by, sample.reviewed_at, sample.review_comment = reviewer, now, comment
    sample.version += 1
    sample.updated_by, sample.updated_at = reviewer, now
    for key in counters.sample_keys(sample):
        deltas[key] += 1
    session.add(AnnotationEvent(project_id=sample.project_id, sample_id=sample.id, actor=reviewer, at=now,
                                action="review_accept" if accept else "review_reject", comment=comment))
    session.flush()
    counters.bump(session, sample.project_id, deltas)
    emit(session, f"project:{sample.project_id}")
    emit(session, f"samples:{sample.project_id}", sample.id)
    return sample


def claim_next(session: Session, project_id: int, user: str, *, lease_seconds: float,
               least_confident: bool = False) -> Sample | None:
    """The caller's own rejected samples come back to them first; then the usual queue (db.labels.claim_next), or
    in a project with overlap the images the caller has not labelled (db.submissions.claim_next)."""
    now = utcnow()
    stmt = select(Sample).where(
        Sample.project_id == project_id, Sample.review_status == "REJECTED", Sample.status == "LABELED",
        Sample.labeled_by == user, Sample.missing_since.is_(None),
        or_(Sample.locked_by.is_(None), Sample.lock_expires_at <= now, Sample.locked_by == user),
    ).order_by(Sample.id).limit(1)
    if dialect_of(session) == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    sample = session.scalar(stmt)
    if sample is None:
        project = session.get(Project, project_id)
        if project is not None and ConsensusSettings.of(project.consensus).overlap > 1:
            return submission_rows.claim_next(session, project, user, lease_seconds=lease_seconds,
                                              least_confident=least_confident)
        return label_rows.claim_next(session, project_id, user, lease_seconds=lease_seconds,
                                     least_confident=least_confident)
    sample.locked_by, sample.lock_expires_at = user, now + timedelta(seconds=lease_seconds)
    session.flush()
    emit(session, f"samples:{project_id}", sample.id)
    return sample
