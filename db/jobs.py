"""Job rows: create, claim with a lease (SKIP LOCKED on PostgreSQL), heartbeat with progress, finish, cancel."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, or_, select, update
from sqlalchemy.orm import Session

from db.engine import dialect_of, emit, rowcount
from db.errors import Conflict, Invalid, NotFound
from db.models import Job, Project, ProjectMember, utcnow

KINDS = ("SCAN", "IMPORT", "EXPORT", "PREANNOTATE", "RENAME_CLASS", "DRAFTS", "SOURCE_CHANGE", "DUPLICATES",
         "AGREEMENT", "SPLITS", "EVALUATE")
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
    if has_active_job(session, project_id, "SOURCE_CHANGE"):
        raise Conflict(f"Project {project.name!r} is moving to another folder: rescan once that has finished.")
    return create_job(session, kind="SCAN", project_id=project_id, params={}, created_by=created_by)


def find_job(session: Session, job_id: int) -> Job | None:
    return session.get(Job, job_id)


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"Job {job_id} does not exist.")
    return job


def list_jobs(session: Session, *, project_id: int | None, first: int,
              member_id: int | None = None) -> list[Job]:
    """The newest jobs (of one project; of the projects member_id belongs to, when given)."""
    stmt = select(Job).order_by(Job.id.desc()).limit(max(0, min(first, 200)))
    if project_id is not None:
        stmt = stmt.where(Job.project_id == project_id)
    if member_id is not None:
        stmt = stmt.where(Job.project_id.in_(
            select(ProjectMember.project_id).where(ProjectMember.user_id == member_id)))
    return list(session.scalars(stmt))


def has_active_job(session: Session, project_id: int, kind: str) -> bool:
    stmt = select(Job.id).where(Job.project_id == project_id, Job.kind == kind, Job.status.in_(("QUEUED", "RUNNING")))
    return session.scalar(stmt.limit(1)) is not None


def claim_next(session: Session, *, owner: str, lease_seconds: float, kinds: tuple[str, ...]) -> Job | None:
    """Lease the oldest queued job, or a running one whose worker stopped renewing its lease.

    Jobs handed to a Databricks run are left to it. A worker never takes back its own running jobs: while it lives
    it is still running them (on SQLite a long write can hold up its heartbeats past the lease; a restarted server
    has a new owner id)."""
    now = utcnow()
    stmt = (
        select(Job)
        .where(Job.kind.in_(kinds))
        .where(or_(Job.status == "QUEUED", (Job.status == "RUNNING") & (Job.lease_expires_at < now)
                   & (Job.lease_owner != owner) & Job.run_id.is_(None)))
        .order_by(Job.id)
        .limit(1)
    )
    if dialect_of(session) == "postgresql":
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
    _start(job, owner, lease_seconds, now)
    session.flush()
    emit(session, f"job:{job.id}")
    return job


def _start(job: Job, owner: str, lease_seconds: float, now: datetime) -> None:
    job.status = "RUNNING"
    job.attempts += 1
    job.lease_owner = owner
    job.lease_expires_at = now + timedelta(seconds=lease_seconds)
    job.heartbeat_at = now
    job.started_at = job.started_at or now


RUN_OWNER = "databricks-run:"  # lease_owner of a job handed to a run whose worker has not started yet


def hand_over(session: Session, job_id: int, *, owner: str, run_id: str, run_url: str) -> None:
    """The job (leased by owner) now belongs to a Databricks run; its worker claims it with claim_for_worker."""
    done = session.execute(
        update(Job).where(Job.id == job_id, Job.lease_owner == owner, Job.status == "RUNNING")
        .values(run_id=run_id, run_url=run_url or None, lease_owner=RUN_OWNER + run_id, lease_expires_at=None)
    )
    if rowcount(done) == 0:
        raise LeaseLost(job_id)
    emit(session, f"job:{job_id}")


def claim_for_worker(session: Session, job_id: int, *, owner: str, lease_seconds: float) -> Job:
    """The worker of a Databricks run takes its job: waiting for it, or left by an earlier attempt of the run."""
    now = utcnow()
    job = get_job(session, job_id)
    waiting = job.lease_owner == RUN_OWNER + str(job.run_id) or (job.lease_expires_at or now) < now
    if job.status != "RUNNING" or job.run_id is None or not waiting:
        raise Conflict(f"Job {job_id} is not waiting for a Databricks worker ({job.status}).", status=job.status)
    _start(job, owner, lease_seconds, now)
    session.flush()
    emit(session, f"job:{job.id}")
    return job


def runs_in_flight(session: Session) -> list[tuple[int, str, bool]]:
    """(job id, run id, cancel requested) of every running job handed to a Databricks run."""
    rows = session.execute(select(Job.id, Job.run_id, Job.cancel_requested)
                           .where(Job.status == "RUNNING", Job.run_id.is_not(None)).order_by(Job.id))
    return [(r.id, r.run_id, r.cancel_requested) for r in rows]


def end_by_run(session: Session, job_id: int, run_id: str, *, status: str, error: str) -> None:
    """Record the end a run implies (it ended, the worker did not record one); a no-op if the worker did."""
    done = session.execute(
        update(Job).where(Job.id == job_id, Job.run_id == run_id, Job.status == "RUNNING")
        .values(status=status, error=error, finished_at=utcnow(), lease_owner=None)
    )
    if rowcount(done):
        emit(session, f"job:{job_id}")
        emit(session, "job.finished", job_id)


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
    if status == "SUCCEEDED":  # all of it done, whatever the last progress step said
        values["progress"] = case((Job.total.is_not(None), Job.total), else_=Job.progress)
    if result is not None:
        values["result"] = result
    done = session.execute(
        update(Job).where(Job.id == job_id, Job.lease_owner == owner, Job.status == "RUNNING").values(**values)
    )
    if rowcount(done) == 0:
        raise LeaseLost(job_id)
    emit(session, f"job:{job_id}")
    emit(session, "job.finished", job_id)


def requeue(session: Session, job_id: int, *, owner: str) -> None:
    """Give a running job back to the queue (the attempt counts): the database went away under it. Raises
    LeaseLost."""
    done = session.execute(
        update(Job).where(Job.id == job_id, Job.lease_owner == owner, Job.status == "RUNNING")
        .values(status="QUEUED", lease_owner=None, lease_expires_at=None)
    )
    if rowcount(done) == 0:
        raise LeaseLost(job_id)
    emit(session, f"job:{job_id}")
    emit(session, "job.queued", job_id)


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
