"""Reading a project for export: whether it has anything to export, and every labelled sample with its confirmed
annotations in one consistent snapshot (PostgreSQL: a REPEATABLE READ transaction; SQLite: one read transaction under
WAL)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing
from typing import Any

import numpy as np
from psycopg import sql as pg_sql
from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session

from db import binary_copy
from db.annotation_columns import READ_CHUNK, AnnotationColumns
from db.engine import dialect_of
from db.errors import Invalid, NotFound
from db.export_samples import SampleTable
from db.models import Project, Sample, Submission
from db.records import AnnotationRecord, ExportSnapshot


def nothing_to_export(name: str, accepted_only: bool) -> Invalid:
    if accepted_only:
        return Invalid(f"{name} has no labelled image a reviewer accepted, so there is nothing to export: accept some "
                       "in review, or export without 'only samples accepted in review'.")
    return Invalid(f"{name} has no labelled image, so there is nothing to export: label at least one image first.")


def _exported(project_id: int, accepted_only: bool) -> list[ColumnElement[bool]]:
    # an image a rescan did not find is left out (a copy would fail; a reference would point at nothing)
    where = [Sample.project_id == project_id, Sample.status == "LABELED", Sample.missing_since.is_(None)]
    if accepted_only:
        where.append(Sample.review_status == "ACCEPTED")
    return where


def check_something_to_export(session: Session, project_id: int, accepted_only: bool) -> None:
    """Raises Invalid (naming the reason) when an export would hold no image."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"Project {project_id} does not exist.")
    if not session.scalar(select(exists().where(*_exported(project_id, accepted_only)))):
        raise nothing_to_export(project.name, accepted_only)


_CONFIRMED = ("SELECT sample_id, label, kind, x, y, w, h FROM annotations INDEXED BY ix_annotations_sample WHERE "
              "sample_id BETWEEN {low} AND {high} AND project_id = {project} AND NOT is_draft ORDER BY sample_id, id")
_LABELS_PG = "SELECT DISTINCT label, kind FROM annotations WHERE project_id = %s AND NOT is_draft"
# Every column fixed-width (labels and kinds by their index, no box as NaN), so COPY's binary rows are read by numpy.
_CONFIRMED_PG = pg_sql.SQL(
    "SELECT sample_id, array_position({}::text[], label::text) - 1, array_position({}::text[], kind::text) - 1, "
    "coalesce(x, 'NaN'), coalesce(y, 'NaN'), coalesce(w, 'NaN'), coalesce(h, 'NaN') FROM annotations "
    "WHERE sample_id BETWEEN {} AND {} AND project_id = {} AND NOT is_draft ORDER BY sample_id, id")


def _confirmed(session: Session, project_id: int, low: int, high: int) -> AnnotationColumns:
    """The project's confirmed annotations on samples low..high, in the session's transaction, straight from the
    driver: SQLite's cursor along the sample index (in sample order, nothing to sort), a chunk at a time;
    PostgreSQL's binary COPY ... TO STDOUT, parsed by numpy."""
    driver: Any = session.connection().connection.driver_connection
    if dialect_of(session) == "postgresql":
        return _confirmed_pg(driver, project_id, low, high)
    cursor = driver.execute(_CONFIRMED.format(low=int(low), high=int(high), project=int(project_id)))
    return AnnotationColumns.of_chunks(iter(lambda: cursor.fetchmany(READ_CHUNK), []))


def _confirmed_pg(driver: Any, project_id: int, low: int, high: int) -> AnnotationColumns:
    pairs = driver.execute(_LABELS_PG, (project_id,)).fetchall()
    labels, kinds = sorted({label for label, _ in pairs}), sorted({kind for _, kind in pairs})
    query = _CONFIRMED_PG.format(*map(pg_sql.Literal, (labels, kinds, low, high, project_id))).as_string(driver)
    with driver.cursor() as cur, cur.copy(f"COPY ({query}) TO STDOUT (FORMAT BINARY)") as copy:
        chunks = [(rows["sample_id"].astype(np.int64), rows["label"].astype(np.int32), rows["kind"].astype(np.int8),
                   np.column_stack([rows[c].astype(np.float64) for c in "xywh"]))
                  for rows in binary_copy.fixed_rows(copy, _ROW)]
    if not chunks:
        return AnnotationColumns.of_chunks([])
    return AnnotationColumns(labels, kinds, *(np.concatenate(c) for c in zip(*chunks, strict=True)))


_ROW = [("sample_id", ">i8"), ("label", ">i4"), ("kind", ">i4"), ("x", ">f8"), ("y", ">f8"), ("w", ">f8"),
        ("h", ">f8")]


def snapshot(session: Session, project_id: int, accepted_only: bool = False,
             every_submission: bool = False) -> ExportSnapshot:
    """accepted_only: only the labelled samples a reviewer accepted (and not changed since). every_submission
    (consensus labelling): each image's submissions instead of its labels, every annotation with its labeller
    (created_by); an image labelled once keeps its labels, with its labeller."""
    if dialect_of(session) == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"Project {project_id} does not exist.")
    samples = SampleTable.of_chunks(_exported_rows(session, project_id, accepted_only), project.source_volume)
    if len(samples):
        samples = samples.spanning(_confirmed(session, project_id, int(samples.ids[0]), int(samples.ids[-1])))
    if every_submission:
        by = _by_labeller(session, project_id, {s.sample_id: list(s.annotations) for s in samples if s.annotations})
        samples = samples.with_labels([by.get(sid, []) for sid in samples.ids.tolist()])
    return ExportSnapshot(project.id, project.name, project.version, project.task_type, list(project.classes),
                          project.multi_label, project.source_volume, samples)


def _exported_rows(session: Session, project_id: int, accepted_only: bool) -> Iterator[Sequence[tuple[Any, ...]]]:
    """The exported samples' (id, filename, path, width, height, split), in id order, chunks of plain tuples from
    the driver in the session's transaction (five million SQLAlchemy rows would take GBs)."""
    stmt = select(Sample.id, Sample.filename, Sample.path, Sample.width, Sample.height, Sample.split).where(
        *_exported(project_id, accepted_only)).order_by(Sample.id)
    sql = str(stmt.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}))
    driver: Any = session.connection().connection.driver_connection
    # PostgreSQL: a server-side cursor, so that the client library never holds the whole result
    with (driver.cursor("export_samples") if dialect_of(session) == "postgresql" else closing(driver.cursor())) as cur:
        cur.execute(sql)
        while chunk := cur.fetchmany(READ_CHUNK):
            yield chunk


def _by_labeller(session: Session, project_id: int, labels: dict[int, list[AnnotationRecord]]
                 ) -> dict[int, list[AnnotationRecord]]:
    """Each image's submissions as annotations created by their labeller, in labeller order; images without
    submissions keep their labels, created by the image's labeller."""
    kind = "CLASSIFICATION" if session.scalar(select(Project.task_type).where(Project.id == project_id)) \
        == "CLASSIFICATION" else "BBOX"
    out: dict[int, list[AnnotationRecord]] = {}
    subs = session.execute(select(Submission.sample_id, Submission.user, Submission.items).where(
        Submission.project_id == project_id, Submission.submitted_at.is_not(None))
        .order_by(Submission.sample_id, Submission.user))
    for sid, user, items in subs:
        out.setdefault(sid, []).extend(
            AnnotationRecord(i[0], kind, tuple(i[1:5]) if len(i) == 5 else None, None, False, user) for i in items)
    once = [sid for sid in labels if sid not in out]
    labellers: dict[int, str | None] = {}
    for start in range(0, len(once), 10_000):  # bounded IN lists
        labellers.update({sid: by for sid, by in session.execute(
            select(Sample.id, Sample.labeled_by).where(Sample.id.in_(once[start:start + 10_000])))})
    for sid, records in labels.items():
        if sid not in out:
            out[sid] = [r._replace(created_by=labellers.get(sid)) for r in records]
    return out
