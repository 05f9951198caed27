"""Renaming a project's class, or merging it into another: every annotation of the old name takes the new one
(drafts too), in one transaction with a history row per annotation, the samples' versions bumped and the
counters rebuilt. Set-based statements, so a class on a million boxes is renamed without loading them. It runs
as a RENAME_CLASS job (jobs/class_rename.py); queue_rename checks the names first, so mistakes are answered at
once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, delete, exists, func, literal, select, update
from sqlalchemy.orm import Session, aliased

from db import counters, geometry
from db import jobs as job_rows
from db.engine import dialect_of, emit, rowcount
from db.errors import Invalid
from db.models import Annotation, AnnotationEvent, Job, Project, Sample, UtcDateTime, utcnow
from db.projects import clean_classes, get_project

ACTION = "rename_class"
SAMPLE_EVENTS_MAX = 1000  # above this many samples, open views hear of the project change only


@dataclass(frozen=True)
class ClassRename:
    project: Project
    annotations_changed: int
    samples_changed: int
    merged: bool


def _box(a: type[Annotation], dialect: str):  # type: ignore[no-untyped-def]
    """The annotation's box as the history's JSON array, built by the database (null for a class label)."""
    array = func.json_build_array if dialect == "postgresql" else func.json_array
    return case((a.x.is_(None), None), else_=array(a.x, a.y, a.w, a.h))


def checked_name(project: Project, old: str, new: str) -> str:
    """The new name, trimmed; VALIDATION when the old one is not a class or the new one is not a good name."""
    if old not in project.classes:
        raise Invalid(f"{old!r} is not one of the project's classes.", field="from")
    if not (new or "").strip():
        raise Invalid("The new class name is empty.", field="to")
    return clean_classes([new])[0]


def count_labels(session: Session, project_id: int, label: str) -> int:
    """How many annotations (drafts too) carry the label: a rename job's total."""
    return session.scalar(select(func.count()).where(Annotation.project_id == project_id,
                                                     Annotation.label == label)) or 0


def queue_rename(session: Session, project_id: int, old: str, new: str, created_by: str) -> Job:
    checked_name(get_project(session, project_id), old, new)
    return job_rows.create_job(session, kind="RENAME_CLASS", project_id=project_id,
                               params={"from": old, "to": new.strip()}, created_by=created_by)


def _relabel(session: Session, project: Project, old: str, new: str, actor: str, *,
             collapse: bool) -> tuple[int, list[int]]:
    """The rows' part, in set-based statements: history, versions, labels. collapse: a sample that already has a
    `new` label keeps one (classification). Returns (annotations changed, the samples they are on)."""
    dialect = dialect_of(session)
    a = Annotation
    of_old = and_(a.project_id == project.id, a.label == old)
    samples_of_old = select(a.sample_id).where(of_old)  # a subquery: no list of ids goes over the wire
    if dialect == "postgresql":  # a colleague's save of one of them waits, then re-plans
        session.execute(select(Sample.id).where(Sample.id.in_(samples_of_old)).with_for_update())
    sample_ids = list(session.scalars(samples_of_old.distinct()))
    now = utcnow()
    session.execute(AnnotationEvent.__table__.insert().from_select(
        ["project_id", "sample_id", "action", "label_before", "box_before", "label_after", "box_after", "actor", "at"],
        select(a.project_id, a.sample_id, literal(ACTION), a.label, _box(a, dialect), literal(new), _box(a, dialect),
               literal(actor), literal(now, UtcDateTime)).where(of_old)))
    session.execute(update(Sample).where(Sample.id.in_(samples_of_old))
                    .values(version=Sample.version + 1, updated_by=actor, updated_at=now)
                    .execution_options(synchronize_session=False))
    changed = 0
    if collapse:
        twin = aliased(Annotation)
        changed += rowcount(session.execute(delete(a).where(of_old, exists().where(
            twin.sample_id == a.sample_id, twin.label == new, twin.is_draft == a.is_draft))
            .execution_options(synchronize_session=False)))
    changed += rowcount(session.execute(update(a).where(of_old).values(label=new)
                                        .execution_options(synchronize_session=False)))
    return changed, sample_ids


def rename_class(session: Session, project_id: int, old: str, new: str, actor: str) -> ClassRename:
    if dialect_of(session) == "postgresql":  # one rename at a time per project; classes read under the lock
        session.execute(select(Project.id).where(Project.id == project_id).with_for_update())
    project = get_project(session, project_id)
    if old not in project.classes and (new or "").strip() in project.classes:
        return ClassRename(project, 0, 0, merged=False)  # done already: a re-run after a crash before the job's end
    new = checked_name(project, old, new)  # again: an earlier job may have taken the class away meanwhile
    if new == old:
        return ClassRename(project, 0, 0, merged=False)
    merged = new in project.classes
    collapse = merged and project.task_type == "CLASSIFICATION"
    changed, sample_ids = _relabel(session, project, old, new, actor, collapse=collapse)
    if merged:  # boxes of the two classes are one class now: one may lie inside another
        for i in range(0, len(sample_ids), 5000):
            session.execute(update(Sample).where(Sample.id.in_(sample_ids[i:i + 5000]))
                            .values(nested_boxes=geometry.nested_boxes())
                            .execution_options(synchronize_session=False))
    project.classes = [c for c in project.classes if c != old] if merged else [
        new if c == old else c for c in project.classes]
    session.flush()
    counters.recount(session, project_id)
    emit(session, f"project:{project_id}")
    if len(sample_ids) <= SAMPLE_EVENTS_MAX:
        for sid in sample_ids:
            emit(session, f"samples:{project_id}", sid)
    return ClassRename(project, changed, len(sample_ids), merged)
