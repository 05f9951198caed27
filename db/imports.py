"""Importing annotations into a project: match items to samples, validate everything, plan every change, and
apply them all in one transaction (or, for a dry run, only count them). Pass 1 and pass 2 run the same planning,
so a dry run's counters are exactly what the import would do.

Each sample's change goes through label_plans.plan_change (the one status rule, counters and history); the writes
are batched (executemany) because an import can touch 100,000 samples. Existing annotations are read a batch of
samples at a time, and the history of the ones an import removes is written from the database, so memory follows
the file, not the project.
"""

from __future__ import annotations

import posixpath
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain, islice, repeat
from operator import attrgetter
from typing import Any

import numpy as np
import orjson
from sqlalchemy import BigInteger, Connection, MetaData, Row, Table, any_, bindparam, delete, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from db import (
    bulk_validation,
    counters,
    drafted_labels,
    gc_pause,
    history_items,
    import_plans,
    label_plans,
    labels_sqlite,
)
from db import samples as sample_rows
from db.annotation_columns import AnnotationColumns, ColumnSpan, shared_columns
from db.change_rows import ANNOTATION_READ, SAMPLE_STATE
from db.engine import dialect_of, emit
from db.errors import Conflict, Invalid, NotFound
from db.models import Annotation, AnnotationEvent, Project, Sample
from db.records import MAX_ERRORS_LISTED, AnnotationRecord, Box, ImportItem, RowError, RowErrors, as_draft
from db.sample_state import SampleState

# SQLite: rows per INSERT statement (one statement per row costs a million statement runs, and AUTOINCREMENT's
# bookkeeping with each: 1M annotation rows 2.4 s -> 1.4 s at 200 rows, 1.3-1.4 s at 500), within the build's
# limit of parameters (999 on builds before 3.32)
ROWS_PER_INSERT = 500
WRITE_CHUNK = 20_000  # rows turned from columns into Python values at once: bounded memory for a million
PLAN_BATCH = 2_000  # samples whose state and annotations are read at once
SAME = 1e-9
_NO_DELTAS: counters.Deltas = Counter()  # what a planned change holds once its deltas are summed


@dataclass(frozen=True)
class Options:
    on_missing: str = "ERROR"  # ERROR | SKIP | CREATE
    on_existing: str = "REPLACE"  # REPLACE | APPEND | SKIP
    match_stem: bool = False  # YOLO: label files name the image without its extension
    drafts_by: str | None = None  # "model:<name>": the annotations are that model's drafts, not the importer's labels


@dataclass
class Outcome:
    errors: RowErrors = field(default_factory=RowErrors)
    samples_touched: int = 0
    annotations_created: int = 0
    annotations_replaced: int = 0
    samples_skipped: int = 0
    samples_created: int = 0
    sizes: dict[int, tuple[int, int]] = field(default_factory=dict)  # image sizes the file tells, not yet known
    deltas: counters.Deltas = field(default_factory=Counter)  # every planned change's counter deltas, summed

    def counters(self) -> dict[str, int]:
        return {"samplesTouched": self.samples_touched, "annotationsCreated": self.annotations_created,
                "annotationsReplaced": self.annotations_replaced, "samplesSkipped": self.samples_skipped,
                "samplesCreated": self.samples_created}

    def failure(self) -> Invalid:
        n, listed = self.errors.count, self.errors.listed()
        first = listed[0]
        where = f"row {first.row}" if first.row else "the file"
        if first.filename:
            where += f" ({first.filename})"
        return Invalid(f"The import has {n} problem{'s' if n != 1 else ''}; nothing was written. First, {where}: "
                       f"{first.reason}",
                       errors=[e.as_dict() for e in listed[:MAX_ERRORS_LISTED]], errorCount=n)


def clean_filename(name: str) -> str | None:
    """The item's name as a path inside the project folder, or None if it would leave it."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or ":" in name.split("/")[0]:
        return None
    norm = posixpath.normpath(name)
    if norm.startswith("../") or norm == ".." or norm == ".":
        return None
    return norm


class _Matcher:
    """Finds a project's sample by relative filename, or by an unambiguous basename. It holds each sample's id,
    filename and width only: the rest is read a batch at a time, for the samples the file names."""

    def __init__(self, samples: Iterable[Row[Any]], stem: bool) -> None:
        self.stem = stem
        self.by_name: dict[str, list[Row[Any]]] = {}
        self.by_base: dict[str, list[Row[Any]]] = {}
        for s in samples:
            name = posixpath.splitext(s.filename)[0] if stem else s.filename
            self.by_name.setdefault(name, []).append(s)
            self.by_base.setdefault(posixpath.basename(name), []).append(s)

    def find(self, name: str) -> tuple[Row[Any] | None, str | None]:
        exact = self.by_name.get(name, [])
        if len(exact) == 1:
            return exact[0], None
        if len(exact) > 1:
            return None, f"matches {len(exact)} images: " + ", ".join(s.filename for s in exact[:5])
        if "/" not in name:
            base = self.by_base.get(name, [])
            if len(base) == 1:
                return base[0], None
            if len(base) > 1:
                return None, ("the bare name is ambiguous; it matches " + ", ".join(s.filename for s in base[:5]) +
                              (", …" if len(base) > 5 else "") + ". Use the path relative to the project folder.")
        return None, None


def _as_drafts(annotations: Sequence[AnnotationRecord], author: str) -> list[AnnotationRecord]:
    return [as_draft(a, author) for a in annotations]


def _as_labels(annotations: Sequence[AnnotationRecord]) -> Sequence[AnnotationRecord]:
    """The importer's own labels: a confidence in the file belongs to model drafts only."""
    if type(annotations) is ColumnSpan:  # confirmed boxes, no confidence
        return annotations
    if any(a.confidence is not None for a in annotations):
        return tuple(a._replace(confidence=None) for a in annotations)
    return annotations


def _same(existing: Sequence[Row[Any]], new: Sequence[AnnotationRecord]) -> bool:
    """Whether the sample already holds exactly these confirmed annotations (REPLACE is then a no-op)."""
    if len(existing) != len(new) or any(a.is_draft for a in existing):
        return False
    left = sorted((a.label, a.kind, a.x or 0.0, a.y or 0.0, a.w or 0.0, a.h or 0.0) for a in existing)
    right = sorted((a.label, a.kind, *(a.box or (0.0, 0.0, 0.0, 0.0))) for a in new)
    return all(la[:2] == ra[:2] and all(abs(p - q) <= SAME for p, q in zip(la[2:], ra[2:], strict=True))
               for la, ra in zip(left, right, strict=True))


_S, _A = Sample.__table__, Annotation.__table__
_EXISTING = select(*(_A.c[c] for c in ("sample_id", *ANNOTATION_READ))).order_by(_A.c.id)


@gc_pause.paused()  # 100,000 planned changes and no cycles: the collector would walk them again and again
def plan(session: Session, project_id: int, items: Sequence[ImportItem], options: Options, user: str,
         file_exists: Callable[[str], bool], *, lock: bool = False, count_only: bool = False
         ) -> tuple[Outcome, list[label_plans.Change], list[tuple[str, str]]]:
    """Validate every item and plan every change; nothing is written. Returns the outcome (errors or counters),
    the planned changes, and the (path, filename) pairs of samples CREATE would add. count_only (a dry run): the
    same checks and counters, without the changes themselves (no sample states are read, no change is planned)."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"Project {project_id} does not exist.")
    names = select(_S.c.id, _S.c.filename, _S.c.width).where(_S.c.project_id == project_id)  # 100k+: rows
    matcher = _Matcher(session.execute(names), options.match_stem)
    out = Outcome()
    seen: dict[object, int] = {}
    to_create: list[tuple[str, str]] = []
    work: list[tuple[Row[Any] | Sample, Sequence[AnnotationRecord], ImportItem]] = []
    checking = options.on_existing != "APPEND" or options.drafts_by
    records = [_as_drafts(item.annotations, options.drafts_by) if options.drafts_by else _as_labels(item.annotations)
               for item in items]
    unchanged = bulk_validation.passes_unchanged(project, records) if checking else []
    for n, item in enumerate(items):
        name = clean_filename(item.filename)
        if name is None:
            out.errors.add(RowError(item.row, item.filename, "the name must be a path inside the project "
                                                             "folder (no leading /, no .., no backslashes)"))
            continue
        sample, problem = matcher.find(name)
        if problem:
            out.errors.add(RowError(item.row, item.filename, problem))
            continue
        key: object = sample.id if sample else name
        if key in seen:
            out.errors.add(RowError(item.row, item.filename, f"the same image appears again (row {seen[key]})"))
            continue
        seen[key] = item.row
        new: Sequence[AnnotationRecord] = records[n]
        try:
            if checking and not unchanged[n]:
                new = label_plans.validate(project, new)
        except Invalid as exc:
            out.errors.add(RowError(item.row, item.filename, exc.message))
            continue
        if sample is None:
            if options.on_missing == "SKIP":
                out.samples_skipped += 1
            elif options.on_missing == "CREATE" and not options.match_stem and file_exists(name):
                to_create.append((f"{project.source_volume}/{name}", name))
                work.append((Sample(project_id=project_id, filename=name, status="UNLABELED", version=1,
                                    no_objects=False, nested_boxes=False, box_count=0, min_box_w=None,
                                    min_box_h=None), new, item))
            else:
                why = "no such image in the project" + (
                    " (CREATE adds images only when the file exists in the project's folder)"
                    if options.on_missing == "CREATE" else "")
                out.errors.add(RowError(item.row, item.filename, why))
            continue
        work.append((sample, new, item))
    columns = next((a.columns for a in records if type(a) is ColumnSpan), None)  # the file's, if it has any
    del matcher, seen, records
    if out.errors:
        return out, [], []
    out.samples_created = len(to_create)
    out.sizes = {s.id: item.size for s, _, item in work if s.id and item.size and s.width is None}
    changes: list[label_plans.Change] = []
    at_once = not count_only and not options.drafts_by and options.on_existing != "APPEND"
    for batch in _chunks(work, PLAN_BATCH):
        states, existing = _read_batch(session, [s.id for s, _, _ in batch if s.id], lock, count_only)
        fresh: list[tuple[int, SampleState | Sample, ColumnSpan]] = []  # new boxes as columns on empty samples
        planned: list[label_plans.Change] = []
        for sample, new, item in batch:
            state, old = states.get(sample.id, sample), existing.get(sample.id, [])
            if at_once and not old and type(new) is ColumnSpan and new.columns is columns and len(new):
                fresh.append((len(planned), state, new))
                continue
            _plan_one(project, state, old, new, item, options, user, out, None if count_only else planned)
        if fresh:
            _plan_fresh(project, fresh, user, out, planned)
        changes += planned
    if out.errors:
        return out, [], []
    return out, changes, to_create


def _plan_fresh(project: Project, fresh: list[tuple[int, SampleState | Sample, ColumnSpan]], user: str,
                out: Outcome, planned: list[label_plans.Change]) -> None:
    """The batch's new boxes on empty samples planned at once (db.import_plans), each change put where _plan_one
    would have put it (planned holds the others, in order; spans of one file's columns, see plan())."""
    spans = [span for _, _, span in fresh]
    made, deltas = import_plans.plan_new_boxes(project, [state for _, state, _ in fresh], spans, user)
    out.deltas.update(deltas)
    out.samples_touched += len(made)
    out.annotations_created += sum(len(span) for span in spans)
    merged: list[label_plans.Change] = []
    done = 0
    for (at, _, _), change in zip(fresh, made, strict=True):
        change.deltas = _NO_DELTAS
        merged += planned[done:at]
        merged.append(change)
        done = at
    planned[:] = merged + planned[done:]


def _read_batch(session: Session, ids: list[int], lock: bool, annotations_only: bool = False
                ) -> tuple[dict[int, SampleState], dict[int, list[Row[Any]]]]:
    """The state (unless annotations_only) and the annotations (oldest first) of a batch of samples."""
    if not ids:
        return {}, {}
    states = {} if annotations_only else _states(session, ids, lock)
    existing: dict[int, list[Row[Any]]] = {}
    if dialect_of(session) == "postgresql":  # one array parameter: 2,000 placeholders cost psycopg more to split
        among = _A.c.sample_id == any_(bindparam("ids", ids, type_=postgresql.ARRAY(BigInteger)))
    else:
        among = _A.c.sample_id.in_(ids)
    for a in session.execute(_EXISTING.where(among)):
        existing.setdefault(a.sample_id, []).append(a)
    return states, existing


_STATE_SQL = f"SELECT {', '.join(SAMPLE_STATE)} FROM samples WHERE "


def _states(session: Session, ids: list[int], lock: bool) -> dict[int, SampleState]:
    """A batch of samples' states straight from the driver (compiling SQLAlchemy's IN list and building its rows
    cost more than the read); with lock, PostgreSQL holds the rows."""
    driver: Any = session.connection().connection.driver_connection
    if dialect_of(session) == "postgresql":
        rows = driver.execute(_STATE_SQL + "id = ANY(%s)" + (" FOR UPDATE" if lock else ""), (ids,)).fetchall()
        return {r[0]: SampleState.of_values(r) for r in rows}
    rows = driver.execute(_STATE_SQL + f"id IN ({', '.join('?' * len(ids))})", ids).fetchall()
    return {r[0]: SampleState.of_values(labels_sqlite.sample_values(r)) for r in rows}


def _plan_one(project: Project, sample: SampleState | Sample | Row[Any], old: list[Row[Any]],
              new: Sequence[AnnotationRecord], item: ImportItem, options: Options, user: str, out: Outcome,
              changes: list[label_plans.Change] | None) -> None:
    """Plan one sample's change into changes (or an error into out); with changes None, only count it."""
    if options.on_existing == "SKIP" and old:
        out.samples_skipped += 1
        return
    if options.on_existing == "REPLACE" and sample.id and not options.drafts_by and _same(old, new):
        return  # already exactly this: REPLACE changes nothing
    remove = old if options.on_existing == "REPLACE" else []
    if options.drafts_by and remove:  # a model's re-run replaces its own drafts, never labels or other models'
        remove = [a for a in old if a.is_draft and a.created_by == options.drafts_by]
    add = new
    if options.on_existing == "APPEND" and not options.drafts_by:
        try:
            add = label_plans.validate(project, new)
            label_plans.validate(project, [AnnotationRecord(a.label, a.kind, _box_tuple(a))
                                      for a in old if not a.is_draft] + add)
        except Invalid as exc:
            out.errors.add(RowError(item.row, item.filename, exc.message))
            return
    if not remove and not add:
        return
    out.samples_touched += 1
    out.annotations_created += len(add)
    out.annotations_replaced += len(remove)
    if changes is None:
        return
    # History of the removed rows is written by apply, from the database (see _delete): not kept here.
    # the rows read stand in for Annotation objects: plan_change reads only their columns
    change = label_plans.plan_change(label_plans.Loaded(project, sample, old), user,  # type: ignore[arg-type]
                                     expected_version=None, remove=remove, add=add,  # type: ignore[arg-type]
                                     no_objects=None if options.drafts_by else False,
                                     labelled_now=not options.drafts_by)
    change.kept = []  # an import never reads it back; keeping it would hold every old annotation of the project
    out.deltas.update(change.deltas)  # summed as planned: 100,000 small counters are not kept until apply
    change.deltas = _NO_DELTAS
    changes.append(change)


ANNOTATION_COLUMNS = ("project_id", "sample_id", "label", "kind", "x", "y", "w", "h", "confidence", "is_draft",
                      "created_by", "created_at")
EVENT_COLUMNS = ("project_id", "sample_id", "action", "label_before", "box_before", "label_after", "box_after",
                 "actor", "at")


def _stamp(conn: Connection, when: datetime) -> object:
    """A UTC time as the driver takes it (SQLAlchemy stores SQLite datetimes as naive UTC text)."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S.%f") if conn.dialect.name == "sqlite" else when


def _box_text(box: Sequence[float] | None) -> str | None:
    """A history row's box as the JSON text the column holds."""
    return None if box is None else orjson.dumps(box).decode()


def _fast_insert(conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[tuple[Any, ...]],
                 types_from: Table | None = None, fixed: dict[str, object] | None = None) -> None:
    """executemany straight to the driver, in chunks: SQLAlchemy's per-row parameter processing costs more than
    the database does for a million rows. Values must already be in the driver's types (see _stamp, _json_param).
    SQLite only: fixed columns have one value for every row, written into the statement (quoted by SQLite's own
    quote()); the rows then hold the other columns, in order."""
    if conn.dialect.name == "postgresql":  # binary COPY: the fastest way in, in the same transaction
        assert not fixed, "COPY takes every column"
        source = types_from if types_from is not None else table
        types = [_PG_TYPES[source.c[c].type.__class__.__name__] if c in source.c else _PG_EXTRA[c]
                 for c in columns]
        with conn.connection.driver_connection.cursor() as cur, cur.copy(  # type: ignore[union-attr]
                f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
        return
    fixed = fixed or {}
    values = [str(conn.exec_driver_sql("SELECT quote(?)", (fixed[c],)).scalar()) if c in fixed else "?"
              for c in columns]
    head, one = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ", f"({', '.join(values)})"
    parameters = conn.connection.driver_connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # type: ignore[union-attr]
    per_statement = max(1, min(ROWS_PER_INSERT, parameters // max(values.count("?"), 1)))
    rest: list[tuple[Any, ...]] = []

    def groups() -> Iterator[tuple[Any, ...]]:
        """The rows per_statement at a time, flattened into one statement's parameters (the last few: rest)."""
        source = iter(rows)
        while len(batch := list(islice(source, per_statement))) == per_statement:
            yield tuple(chain.from_iterable(batch))
        rest.extend(batch)

    _executemany(conn, head + ", ".join([one] * per_statement), groups())
    if rest:
        _executemany(conn, head + ", ".join([one] * len(rest)), [tuple(chain.from_iterable(rest))])


def _executemany(conn: Connection, sql: str, rows: Iterable[tuple[Any, ...]]) -> int:
    """SQLite: the driver's executemany on the rows as they come (no lists of rows, no per-row processing by
    SQLAlchemy), in the connection's transaction; returns the rows changed."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, rows)
        return int(cursor.rowcount)
    finally:
        cursor.close()


# JSON goes in as text: json's binary wire format is its text, so the JSON text made once per row (_box_text) is
# sent as is instead of through psycopg's per-row JSON wrapper.
_PG_TYPES = {"BigInteger": "int8", "Integer": "int4", "String": "varchar", "Float": "float8", "Boolean": "bool",
             "UtcDateTime": "timestamptz", "JSON": "text", "Text": "text"}
_PG_EXTRA = {"read_version": "int4"}  # columns of the temporary table that samples does not have

SAMPLE_COLUMNS = ("status", "version", "labeled_by", "labeled_at", "skipped_by", "updated_by", "updated_at",
                  "no_objects", "min_confidence", "max_confidence", "locked_by", "lock_expires_at", "review_status",
                  "reviewed_by", "reviewed_at", "review_comment", "nested_boxes", "box_count", "min_box_w",
                  "min_box_h")


_STATE_OF = attrgetter(*SAMPLE_COLUMNS)
_NEW_SAMPLE_COLUMNS = ("id", "read_version", "width", "height", *SAMPLE_COLUMNS)
_SETS = ", ".join([*(f"{c} = t.{c}" for c in SAMPLE_COLUMNS),  # a size only where none was known (record_sizes)
                   "width = COALESCE(samples.width, t.width)",
                   "height = CASE WHEN samples.width IS NULL AND t.width IS NOT NULL THEN t.height "
                   "ELSE samples.height END"])


def _new_sample_rows(changes: Sequence[label_plans.Change], sizes: Mapping[int, tuple[int, int]],
                     stamp: Callable[[Any], Any]) -> Iterator[tuple[Any, ...]]:
    """Each changed sample's row of _NEW_SAMPLE_COLUMNS: its new values (times through stamp, once per distinct
    time: an import's changes share one) and the size the file gives it, if any."""
    times = [k for k, c in enumerate(SAMPLE_COLUMNS) if c in labels_sqlite.DATETIMES]
    stamped: dict[Any, Any] = {None: None}
    for c in changes:
        values: Any = _STATE_OF(c.sample)
        if any(values[k] is not None for k in times):
            values = list(values)
            for k in times:
                v = values[k]
                values[k] = stamped[v] if v in stamped else stamped.setdefault(v, stamp(v))
        yield (c.sample.id, c.read_version, *sizes.get(c.sample.id, _NO_SIZE), *values)


def _update_samples(conn: Connection, changes: Sequence[label_plans.Change],
                    sizes: Mapping[int, tuple[int, int]]) -> int:
    """The new values (and file sizes) put in a temporary table in bulk, then one UPDATE … FROM, only where the
    sample is still at the version planned from (100k single-row UPDATEs cost seconds of statements); returns
    the rows changed."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "CREATE TEMP TABLE import_samples (id bigint, read_version int, width int, height int, "
            "status varchar(20), version int, labeled_by varchar(320), labeled_at timestamptz, "
            "skipped_by varchar(320), updated_by varchar(320), updated_at timestamptz, no_objects boolean, "
            "min_confidence float8, max_confidence float8, locked_by varchar(320), lock_expires_at timestamptz, "
            "review_status varchar(20), reviewed_by varchar(320), reviewed_at timestamptz, review_comment text, "
            "nested_boxes boolean, box_count int, min_box_w float8, min_box_h float8) ON COMMIT DROP")
        rows = _new_sample_rows(changes, sizes, lambda v: v)
        _fast_insert(conn, Table("import_samples", MetaData()), _NEW_SAMPLE_COLUMNS, rows,
                     types_from=Sample.__table__)
    else:  # values as SQLAlchemy stores them (db.labels_sqlite)
        conn.exec_driver_sql(f"CREATE TEMP TABLE import_samples ({', '.join(_NEW_SAMPLE_COLUMNS)})")
        _fast_insert(conn, Table("import_samples", MetaData()), _NEW_SAMPLE_COLUMNS,
                     _new_sample_rows(changes, sizes, labels_sqlite.stored))
    moved = conn.exec_driver_sql(f"UPDATE samples SET {_SETS} FROM import_samples t "
                                 "WHERE samples.id = t.id AND samples.version = t.read_version").rowcount
    conn.exec_driver_sql("DROP TABLE import_samples")
    return moved


def _chunks(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def fingerprint(session: Session, project_id: int, *, lock: bool = False) -> tuple[Any, ...]:
    """Changes whenever any sample or annotation of the project changes (versions only grow, ids are never
    reused): pass 2 reuses pass 1's plan when this is the same. With lock, PostgreSQL holds the sample rows."""
    if lock and dialect_of(session) == "postgresql":
        session.execute(select(Sample.id).where(Sample.project_id == project_id).with_for_update())
    samples = session.execute(select(func.count(), func.coalesce(func.sum(Sample.version), 0)).where(
        Sample.project_id == project_id)).one()
    annotations = session.execute(select(func.count(), func.coalesce(func.max(Annotation.id), 0)).where(
        Annotation.project_id == project_id)).one()
    return (*samples, *annotations)


def _box_tuple(a: Row[Any]) -> Box | None:
    return (a.x, a.y, a.w, a.h) if a.x is not None else None


def _delete(session: Session, project_id: int, ids: list[int], user: str, when: object, action: str) -> None:
    """Delete the annotations a plan removes, a chunk at a time, each one's history row ("delete", or "clear_draft"
    for a model's replaced drafts) written first from what the database holds (the plan keeps only their ids)."""
    conn = session.connection()
    for k in range(0, len(ids), 5000):
        chunk = ids[k:k + 5000]
        rows = conn.execute(select(_A.c.sample_id, _A.c.label, _A.c.x, _A.c.y, _A.c.w, _A.c.h)
                            .where(_A.c.id.in_(chunk)).order_by(_A.c.id)).all()
        _fast_insert(conn, AnnotationEvent.__table__, EVENT_COLUMNS, (
            (project_id, r.sample_id, action, r.label, _box_text(None if r.x is None else (r.x, r.y, r.w, r.h)), None,
             None, user, when) for r in rows))
        conn.execute(delete(Annotation).where(Annotation.id.in_(chunk)))


_NO_BOX = (None, None, None, None)
_NO_SIZE = (None, None)


def _insert_added(conn: Connection, project_id: int, changes: Sequence[label_plans.Change], user: str,
                  when: object) -> None:
    """Insert every added annotation, in change order. When every change adds a span of one file's columns (a
    plain COCO import) the rows come from the columns a chunk at a time, with no record built, and SQLite is sent
    only the columns that vary (the others are in the statement: a million rows bind half the values)."""
    table, names = Annotation.__table__, ANNOTATION_COLUMNS
    columns = shared_columns([c.add for c in changes])
    if columns is None:
        _fast_insert(conn, table, names, _record_rows(project_id, changes, user, when))
        return
    fixed: dict[str, object] = {"project_id": project_id, "confidence": None, "is_draft": False, "created_by": user,
                                "created_at": when}
    chunks = _column_chunks(changes, columns)
    if conn.dialect.name == "postgresql":  # COPY takes every column
        _fast_insert(conn, table, names, chain.from_iterable(
            zip(*(chunk[c] if c in chunk else repeat(fixed[c]) for c in names), strict=False) for chunk in chunks))
    else:
        _fast_insert(conn, table, names, chain.from_iterable(
            zip(*(chunk[c] for c in names if c not in fixed), strict=True) for chunk in chunks), fixed=fixed)


def _record_rows(project_id: int, changes: Sequence[label_plans.Change], user: str, when: object
                 ) -> Iterator[tuple[Any, ...]]:
    for c in changes:  # the records unpacked in the loop's target: a million attribute reads cost more
        sid = c.sample.id
        for label, kind, box, confidence, is_draft, author in c.add:
            yield project_id, sid, label, kind, *(box or _NO_BOX), confidence, is_draft, author or user, when


def _column_chunks(changes: Sequence[label_plans.Change], columns: AnnotationColumns
                   ) -> Iterator[dict[str, list[Any]]]:
    """The varying columns of the spans' annotations, a chunk of rows at a time: sample_id, label, kind, x, y, w,
    h."""
    spans: list[ColumnSpan] = [c.add for c in changes]  # type: ignore[misc]
    where, at = columns.positions(np.array([a.start for a in spans], dtype=np.int64),
                                  np.array([a.stop for a in spans], dtype=np.int64))
    sample_id = np.array([c.sample.id for c in changes], dtype=np.int64)[where]
    label = np.array(columns.labels, dtype=object)[columns.label[at]]
    kind = np.array(columns.kinds, dtype=object)[columns.kind[at]]
    box = columns.box[at]
    for a in range(0, len(sample_id), WRITE_CHUNK):
        b = a + WRITE_CHUNK
        x, y, w, h = (box[a:b, k].tolist() for k in range(4))
        if np.isnan(box[a:b, 0]).any():  # a label without a box
            x, y, w, h = ([None if v != v else v for v in c] for c in (x, y, w, h))
        yield {"sample_id": sample_id[a:b].tolist(), "label": label[a:b].tolist(), "kind": kind[a:b].tolist(),
               "x": x, "y": y, "w": w, "h": h}


BULK_CACHE_KIB = 32_768  # SQLite page cache while an import writes (the 2 MB default spills; 128 MB: no faster)


@contextmanager
def _roomy_cache(conn: Connection) -> Iterator[None]:
    """SQLite: a larger page cache for this connection while the import writes (the default 2 MB makes SQLite
    write and re-read index pages many times over), then the connection's own again. Durability is untouched."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {before}")


@gc_pause.paused()
def apply(session: Session, project_id: int, changes: Sequence[label_plans.Change],
          to_create: Sequence[tuple[str, str]], out: Outcome, *, drafts: bool = False) -> None:
    """Write every planned change in the caller's transaction, in a few batched statements (out: the plan's image
    sizes and summed counter deltas). With drafts, the import stored a model's drafts (history: "draft" rows, and
    "clear_draft" for the drafts they replace)."""
    sizes, deltas = out.sizes, out.deltas
    changed = {c.sample.id for c in changes}
    sample_rows.record_sizes(session, {k: v for k, v in sizes.items() if k not in changed})  # the rest: below
    if to_create:
        sample_rows.insert_new(session, project_id, to_create)
        created = {s.filename: s for s in session.scalars(select(Sample).where(
            Sample.project_id == project_id, Sample.filename.in_([f for _, f in to_create])))}
        for c in changes:
            if c.sample.id is None:
                fresh = created[c.sample.filename]
                c.sample.id, c.read_version = fresh.id, fresh.version
                c.sample.version, c.sample.path = fresh.version + 1, fresh.path
    if not changes:
        return
    conn = session.connection()
    moved = _update_samples(conn, changes, sizes)
    if moved not in (-1, len(changes)):  # the rows are held; a guard against a future unlocked caller
        raise Conflict("Samples changed while the import was being written; run it again.")
    when = _stamp(conn, changes[0].now)
    user = changes[0].user  # one import, one user
    added = "draft" if drafts else "import"
    with _roomy_cache(conn):
        _delete(session, project_id, [i for c in changes for i in c.remove_ids], user, when,
                "clear_draft" if drafts else "delete")
        adding = [c for c in changes if c.add]
        _insert_added(conn, project_id, adding, user, when)
        _fast_insert(conn, AnnotationEvent.__table__, history_items.COLUMNS,
                     history_items.rows(project_id, adding, added, user, when))
        drafted_labels.apply(conn, changes)
    counters.bump(session, project_id, deltas)
    emit(session, f"project:{project_id}")
