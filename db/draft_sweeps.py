"""Queueing a project-wide draft action (a DRAFTS job, jobs/draft_sweep.py) after checking that the caller confirmed
the count of drafts the filter matches now."""

from __future__ import annotations

from sqlalchemy.orm import Session

from db import jobs as job_rows
from db.errors import Conflict, Invalid
from db.models import Job
from db.projects import get_project
from db.samples import SampleFilter, draft_tally

GALLERY_FIELDS = ("status", "label", "filename", "labeled_by", "max_confidence", "review_status")


def tally(session: Session, project_id: int, f: SampleFilter) -> tuple[int, int]:
    """(samples, drafts) of the filter, for a confirmation; NOT_FOUND for an unknown project."""
    get_project(session, project_id)
    return draft_tally(session, project_id, f)


def queue_sweep(session: Session, project_id: int, f: SampleFilter, *, accept: bool, expected_drafts: int,
                created_by: str) -> Job:
    """A DRAFTS job, when the filter still matches the number of drafts the caller confirmed (else CONFLICT, with
    the number now, so a colleague's pre-labelling meanwhile is never accepted or cleared unseen)."""
    _, drafts = tally(session, project_id, f)
    if drafts == 0:
        raise Invalid("No model drafts match: nothing to accept or clear.")
    if drafts != expected_drafts:
        raise Conflict(f"{drafts:,} model drafts match now, not the {expected_drafts:,} confirmed: look at the count "
                       "again and confirm it.")
    params = {"accept": accept, "filter": {k: getattr(f, k) for k in GALLERY_FIELDS}, "drafts": drafts}
    return job_rows.create_job(session, kind="DRAFTS", project_id=project_id, params=params, created_by=created_by)
