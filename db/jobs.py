"""Job rows: create, claim with a lease (SKIP LOCKED on PostgreSQL), heartbeat with progress, finish, cancel."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from db.engine import emit
from db.errors import Conflict, Invalid, NotFound
from db.models import Job, Project, utcnow

KINDS = ("SCAN", "IMPORT", "EXPORT", "PREANNOTATE")
FINISHED = ("SUCCEEDED", "FAILED", "CANCELLED")
MAX_ATTEMPTS = 3


class LeaseLost(Exception):
    """Another worker took the job over (our lease expired); stop working on it."""


def create_job(
    session: Session, *, kind: str, project_id: int | None, params: dict[str, Any], created_by: str
) -> Job:
    if kind not in KINDS:
        raise Invalid(f"Unknown job kind {kind!r}.")
    job = Job(kind=kind, project_id=project_id, params=params, status="QUEUED", created_by=created_by)
    session.add(job)
    session.flush()
    emit(session, "job.queued", job.id)
    emit(session, f"job:{job.id}")
    return job


def queue_scan(session: Session, project_id: int, created_by: str) -> Job:
    """A SCAN job for the project, unless one is already queued or running (CONFLICT)."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"Project {project_id} does not exist.")
    if has_active_job(session, project_id, "SCAN"):
        raise Conflict(f"A scan of project {project.name!r} is already queued or running.")
    return create_job(session, kind="SCAN", project_id=project_id, params={}, created_by=created_by)


def find_job(session: Session, job_id: int) -> Job | None:
    return session.get(Job, job_id)


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"Job {job_id} does not exist.")
    return job


def list_jobs(session: Session, *, project_id: int | None, first: int) -> list[Job]:
    stmt = select(Job).order_by(Job.id.desc()).limit(max(0, min(first, 200)))
    if project_id is not None:
        stmt = stmt.where(Job.project_id == project_id)
    return list(session.scalars(stmt))


def has_active_job(session: Session, project_id: int, kind: str) -> bool:
    stmt = select(Job.id).where(Job.project_id == project_id, Job.kind == kind, Job.status.in_(("QUEUED", "RUNNING")))
    return session.scalar(stmt.limit(1)) is not None


def claim_next(session: Session, *, owner: str, lease_seconds: float, kinds: tuple[str, ...]) -> Job | None:
    """Lease the oldest queued job, or a running one whose worker stopped renewing its lease.

    A worker never takes back its own running jobs: while it lives it is still running them (on SQLite a long
    write can hold up its heartbeats past the lease; a restarted server has a new owner id)."""
    now = utcnow()
    stmt = (
        select(Job)
        .where(Job.kind.in_(kinds))
        .where(or_(Job.status == "QUEUED", (Job.status == "RUNNING") & (Job.lease_expires_at < now)
                   & (Job.lease_owner != owner)))
        .order_by(Job.id)
        .limit(1)
    )
    if session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    while True:
        job = session.scalar(stmt)
        if job is None:
            return None
        if job.attempts < MAX_ATTEMPTS:
            break
        job.status, job.finished_at, job.lease_owner = "FAILED", now, None
        job.error = f"Interrupted {job.attempts} times (the server stopped while it ran); not retried again."
        session.flush()
        emit(session, f"job:{job.id}")
    job.status = "RUNNING"
    job.attempts += 1
    job.lease_owner = owner
    job.lease_expires_at = now + timedelta(seconds=lease_seconds)
    job.heartbeat_at = now
    job.started_at = job.started_at or now
    session.flush()
    emit(session, f"job:{job.id}")
    return job


def heartbeat(
    session: Session, job_id: int, *, owner: str, lease_seconds: float, progress: int | None = None,
    total: int | None = None,
) -> bool:
    """Renew the lease and record progress; returns whether a cancel was requested. Raises LeaseLost."""
    now = utcnow()
    values: dict[str, Any] = {"heartbeat_at": now, "lease_expires_at": now + timedelta(seconds=lease_seconds)}
    if progress is not None:
        values["progress"] = progress
    if total is not None:
        values["total"] = total
    result = session.execute(
        update(Job).where(Job.id == job_id, Job.lease_owner == owner, Job.status == "RUNNING").values(**values)
        .returning(Job.cancel_requested)
    )
    row = result.first()
    if row is None:
        raise LeaseLost(job_id)
    if progress is not None:
        emit(session, f"job:{job_id}")
    return bool(row[0])


def finish(
    session: Session, job_id: int, *, owner: str, status: str, result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    assert status in FINISHED
    values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "lease_owner": None, "error": error}
    if result is not None:
        values["result"] = result
    done = session.execute(
        update(Job).where(Job.id == job_id, Job.lease_owner == owner, Job.status == "RUNNING").values(**values)
    )
    if done.rowcount == 0:
        raise LeaseLost(job_id)
    emit(session, f"job:{job_id}")
    emit(session, "job.finished", job_id)


def request_cancel(session: Session, job_id: int) -> Job:
    """A queued job is cancelled at once; a running one stops at its next progress step."""
    job = get_job(session, job_id)
    if job.status in FINISHED:
        raise Conflict(f"Job {job_id} already finished ({job.status}).", status=job.status)
    if job.status == "QUEUED":
        job.status, job.finished_at = "CANCELLED", utcnow()
    else:
        job.cancel_requested = True
    session.flush()
    emit(session, f"job:{job.id}")
    return job


def queue_for_project(session: Session, project_id: int, kind: str, params: dict[str, Any], created_by: str) -> Job:
    """A job of any kind on an existing project (NOT_FOUND otherwise)."""
    if session.get(Project, project_id) is None:
        raise NotFound(f"Project {project_id} does not exist.")
    return create_job(session, kind=kind, project_id=project_id, params=params, created_by=created_by)
