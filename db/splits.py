"""Train / validation / test splits: the rows a SPLITS job reads (each sample's path, near-duplicate group, split
and confirmed classes) and writes (its split)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from db.errors import Conflict, Invalid, NotFound
from db.jobs import create_job, has_active_job
from db.models import Annotation, Job, Project, Sample

SPLITS = ("TRAIN", "VALIDATION", "TEST")


class SplitRow(NamedTuple):
    id: int
    path: str
    duplicate_group: int | None
    split: str | None
    classes: tuple[str, ...]  # its confirmed labels, sorted, without repeats


def queue_splits(session: Session, project_id: int, fractions: Sequence[float], seed: int, reassign: bool,
                 created_by: str) -> Job:
    """A SPLITS job, after checking the fractions (three, each 0..1, adding up to 1)."""
    if len(fractions) != 3 or any(not 0 <= f <= 1 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        given = ", ".join(f"{f:g}" for f in fractions)
        raise Invalid(f"The train, validation and test fractions must each be between 0 and 1 and add up to 1 "
                      f"(given: {given}).")
    if not -(2**31) <= seed < 2**31:
        raise Invalid(f"seed must fit in 32 bits, not {seed}.")
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"Project {project_id} does not exist.")
    if has_active_job(session, project_id, "SPLITS"):
        raise Conflict(f"Splits of project {project.name!r} are already being assigned.")
    return create_job(session, kind="SPLITS", project_id=project_id, created_by=created_by,
                      params={"fractions": list(fractions), "seed": seed, "reassign": reassign})


def split_rows(session: Session, project_id: int) -> list[SplitRow]:
    """Every sample of the project with what its split depends on, in id order."""
    if session.get(Project, project_id) is None:
        raise NotFound(f"Project {project_id} does not exist.")
    classes: dict[int, set[str]] = {}
    for sid, label in session.execute(select(Annotation.sample_id, Annotation.label).where(
            Annotation.project_id == project_id, Annotation.is_draft.is_(False))):
        classes.setdefault(sid, set()).add(label)
    rows = session.execute(select(Sample.id, Sample.path, Sample.duplicate_group, Sample.split)
                           .where(Sample.project_id == project_id).order_by(Sample.id))
    return [SplitRow(sid, path, group, split, tuple(sorted(classes.get(sid, ())))) for sid, path, group, split in rows]


def write_splits(session: Session, changes: Sequence[tuple[int, str]]) -> None:
    """Store (sample id, split) pairs."""
    if changes:
        table = Sample.__table__
        session.execute(update(table).where(table.c.id == bindparam("sid")).values(split=bindparam("s")),
                        [{"sid": sid, "s": split} for sid, split in changes])
