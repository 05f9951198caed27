"""Near-duplicate rows: each sample's perceptual hash (computed once), the project's hashes for grouping, and the
groups a DUPLICATES job found (each sample's group named by its first sample id; None: no near-duplicate)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from db.errors import Conflict, Invalid, NotFound
from db.jobs import create_job, has_active_job
from db.models import Job, Project, Sample

MAX_DISTANCE = 8  # bits of 64 (jobs.duplicate_groups searches that far; past it a pHash pairs unrelated pictures)


def queue_grouping(session: Session, project_id: int, distance: int, created_by: str) -> Job:
    """A DUPLICATES job: hash the images not hashed yet, then group the project at this Hamming distance."""
    if not 0 <= distance <= MAX_DISTANCE:
        raise Invalid(f"maxDistance must be between 0 and {MAX_DISTANCE} bits (of 64), not {distance}.")
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"Project {project_id} does not exist.")
    if has_active_job(session, project_id, "DUPLICATES"):
        raise Conflict(f"Near-duplicates of project {project.name!r} are already being searched.")
    return create_job(session, kind="DUPLICATES", project_id=project_id, params={"maxDistance": distance},
                      created_by=created_by)


def unhashed(session: Session, project_id: int, *, after: int, limit: int) -> list[tuple[int, str]]:
    """(id, path) of samples above `after` with no hash yet whose file the last rescan found, lowest id first."""
    stmt = (select(Sample.id, Sample.path)
            .where(Sample.project_id == project_id, Sample.id > after, Sample.image_hash.is_(None),
                   Sample.missing_since.is_(None))
            .order_by(Sample.id).limit(limit))
    return [(r.id, r.path) for r in session.execute(stmt)]


def count_unhashed(session: Session, project_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Sample).where(
        Sample.project_id == project_id, Sample.image_hash.is_(None), Sample.missing_since.is_(None))) or 0


def record_hashes(session: Session, hashes: Sequence[tuple[int, int]]) -> None:
    """Store (sample id, hash) pairs."""
    if hashes:
        stmt = update(Sample.__table__).where(Sample.__table__.c.id == bindparam("sid")).values(
            image_hash=bindparam("h"))
        session.execute(stmt, [{"sid": sid, "h": h} for sid, h in hashes],
                        execution_options={"synchronize_session": False})


def project_hashes(session: Session, project_id: int) -> tuple[list[int], list[int]]:
    """(sample ids, hashes) of the project's hashed samples, in id order."""
    rows = session.execute(select(Sample.id, Sample.image_hash).where(
        Sample.project_id == project_id, Sample.image_hash.is_not(None)).order_by(Sample.id)).all()
    return [r[0] for r in rows], [h for _, h in rows if h is not None]  # none is None: the WHERE says so


def replace_groups(session: Session, project_id: int, members: Sequence[tuple[int, int]]) -> None:
    """The project's groups are now exactly these (sample id, group id) pairs; every other sample has none."""
    table = Sample.__table__
    session.execute(update(table).where(table.c.project_id == project_id, table.c.duplicate_group.is_not(None))
                    .values(duplicate_group=None))
    if members:
        session.execute(update(table).where(table.c.id == bindparam("sid")).values(duplicate_group=bindparam("g")),
                        [{"sid": sid, "g": g} for sid, g in members])


def group_of(session: Session, sample_id: int) -> int | None:
    """The near-duplicate group of a sample (None: it has none, or the sample does not exist)."""
    return session.scalar(select(Sample.duplicate_group).where(Sample.id == sample_id))
