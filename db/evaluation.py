"""Model evaluation rows: queue the EVALUATE job, read a project's labelled images with their labels and one model's
drafts (a million of each are read), and find the latest stored evaluation (a job's result). An image is labelled
when a person confirmed labels on it or saved it as empty; drafts beside those labels (Pre-label run on labelled
images, which makes them PRE_LABELED) are what the model is scored on."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, exists, false, func, or_, select, text
from sqlalchemy.orm import Session

from db.errors import Conflict, Invalid, NotFound
from db.jobs import create_job, has_active_job
from db.models import Annotation, Job, Project, Sample


class EvaluationData(NamedTuple):
    task_type: str
    classes: list[str]
    samples: list[Any]  # (id, width, height) of every labelled image whose file is there
    annotations: list[Any]  # (sample_id, label, x, y, w, h, confidence, is_draft) of the project (-1: no box;
    #                        no confidence: 1); those of other images are the caller's to drop


def _labelled(project_id: int) -> list[ColumnElement[bool]]:
    confirmed = exists().where(Annotation.sample_id == Sample.id, Annotation.is_draft == false())
    return [Sample.project_id == project_id, Sample.status != "SKIPPED", Sample.missing_since.is_(None),
            or_(Sample.no_objects.is_(True), confirmed)]


def model_authors(session: Session, project_id: int) -> list[tuple[str, int]]:
    """The models (draft authors) with drafts on labelled images, most drafts first."""
    rows = session.execute(
        select(Annotation.created_by, func.count()).where(
            Annotation.project_id == project_id, Annotation.is_draft.is_(True),
            Annotation.sample_id.in_(select(Sample.id).where(*_labelled(project_id))))
        .group_by(Annotation.created_by).order_by(func.count().desc(), Annotation.created_by))
    return [(r[0], int(r[1])) for r in rows]


def queue_evaluation(session: Session, project_id: int, model: str | None, created_by: str) -> Job:
    """An EVALUATE job for a model's drafts (model:<name>; the one with most drafts on labelled images when None)."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"Project {project_id} does not exist.")
    authors = dict(model_authors(session, project_id))
    if not authors:
        raise Invalid(f"No labelled image of {project.name!r} has model drafts to evaluate: pre-label the labelled "
                      "images (Pre-label with the LABELED status) first.")
    author = model if model is None or model.startswith("model:") else f"model:{model}"
    if author is None:
        author = next(iter(authors))
    elif author not in authors:
        raise Invalid(f"{author} has no drafts on labelled images of {project.name!r}; models with drafts there: "
                      f"{', '.join(sorted(authors))}.")
    if has_active_job(session, project_id, "EVALUATE"):
        raise Conflict(f"A model evaluation of {project.name!r} is already running.")
    return create_job(session, kind="EVALUATE", project_id=project_id, params={"model": author},
                      created_by=created_by)


_ROWS = text("""
SELECT a.sample_id, a.label, COALESCE(a.x, -1), COALESCE(a.y, -1), COALESCE(a.w, -1), COALESCE(a.h, -1),
       COALESCE(a.confidence, 1), a.is_draft
  FROM annotations a
 WHERE a.project_id = :p AND (a.is_draft = :no OR a.created_by = :model)
""")  # every row of the project (one index range, no join): jobs.evaluate keeps those of labelled images


def evaluation_data(session: Session, project_id: int, model: str) -> EvaluationData:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"Project {project_id} does not exist.")
    samples = session.execute(select(Sample.id, Sample.width, Sample.height).where(*_labelled(project_id))
                              .order_by(Sample.id)).all()
    compiled = _ROWS.bindparams(p=project_id, no=False, model=model).compile(session.connection())
    params = tuple(compiled.params[k] for k in compiled.positiontup or ()) if compiled.positional else compiled.params
    cursor = session.connection().connection.cursor()  # the driver's own tuples: no Row per annotation
    try:
        cursor.execute(str(compiled), params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return EvaluationData(project.task_type, list(project.classes), list(samples), list(rows))


def latest_evaluation(session: Session, project_id: int) -> Job | None:
    """The project's most recent successful EVALUATE job: its result is the stored evaluation."""
    return session.scalar(select(Job).where(Job.project_id == project_id, Job.kind == "EVALUATE",
                                            Job.status == "SUCCEEDED").order_by(Job.id.desc()).limit(1))
