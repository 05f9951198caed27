"""Labelling writes: claim with a lease, save boxes or classes, skip, store/accept/clear drafts.

Every change is planned in Python from the sample as read (db.label_plans: validation, status rule, counter deltas,
history),
then applied only if the sample is still at that version, with the contended counter rows touched last. One
sample's change (save, classify, skip, model drafts) runs in plain driver statements (db.labels_pg: two round
trips, no lock while planning, planned again if a colleague's change landed; db.labels_sqlite: inside the writer's
transaction); changes of many samples run as one locked SQLAlchemy unit of work. A caller who passes the version
they saw gets CONFLICT if it moved.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from db import counters, drafted_labels, labels_pg, labels_sqlite
from db.change_rows import SAMPLE_STATE, SAMPLE_WRITES
from db.engine import Database, Event, dialect_of, emit
from db.errors import Conflict, Invalid, NotFound
from db.label_plans import (
    Change,
    EventRow,
    Loaded,
    Loader,
    acceptance,
    box_of,
    check_version,
    diff_events,
    plan_change,
    save_changes_nothing,
    validate,
)
from db.models import CONFIDENCE_KEY, Annotation, AnnotationEvent, Project, Sample, utcnow
from db.overlap import takes_submissions
from db.records import AnnotationRecord
from db.sample_state import SampleState

NEEDS_WORK = ("UNLABELED", "PRE_LABELED")
# -- reading ----------------------------------------------------------------------------------------------

_S, _P, _A, _E = Sample.__table__, Project.__table__, Annotation.__table__, AnnotationEvent.__table__
# Core, not ORM: a save reads one sample, and building ORM objects cost more than the statements
_LOAD = (select(*(_S.c[c] for c in SAMPLE_STATE), _P.c.task_type, _P.c.classes, _P.c.multi_label)
         .join_from(_S, _P, _P.c.id == _S.c.project_id).where(_S.c.id == bindparam("sid")))
_LOAD_LOCKED = _LOAD.with_for_update(of=_S)
_ANNOTATIONS_OF = select(_A).where(_A.c.sample_id == bindparam("sid")).order_by(_A.c.id)


def _load(session: Session, sample_id: int) -> Loaded:
    locked = session.info.get("lock_rows") and dialect_of(session) == "postgresql"
    conn = session.connection()
    row = conn.execute(_LOAD_LOCKED if locked else _LOAD, {"sid": sample_id}).first()
    if row is None:
        raise NotFound(f"Sample {sample_id} does not exist.")
    values = row._mapping
    project = Project(id=values["project_id"], task_type=values["task_type"], classes=values["classes"],
                      multi_label=values["multi_label"])
    annotations = [Annotation(**a._mapping) for a in conn.execute(_ANNOTATIONS_OF, {"sid": sample_id})]
    return Loaded(project, SampleState.of_columns(values), annotations)


# -- applying: a few statements under the lock -------------------------------------------------------------


# Built once: constructing and caching statements cost more than running them on this hot path.
_UPDATE_SAMPLE = (update(_S).where(_S.c.id == bindparam("w_id"), _S.c.version == bindparam("w_version"))
                  .values({c: bindparam(f"v_{c}") for c in SAMPLE_WRITES}))
_DELETE_ANNOTATIONS = delete(_A).where(_A.c.id.in_(bindparam("ids", expanding=True)))
_INSERT_ANNOTATIONS = insert(_A).returning(_A.c.id, sort_by_parameter_order=True)
_INSERT_EVENTS = insert(_E).returning(_E.c.id)  # unread: see counters._upsert


def _added_rows(change: Change) -> list[dict[str, object]]:
    return [{"project_id": change.project_id, "sample_id": change.sample.id, "label": a.label, "kind": a.kind,
             "x": a.box[0] if a.box else None, "y": a.box[1] if a.box else None,
             "w": a.box[2] if a.box else None, "h": a.box[3] if a.box else None, "confidence": a.confidence,
             "is_draft": a.is_draft, "created_by": a.created_by or change.user, "created_at": change.now}
            for a in change.add]


def _apply(session: Session, change: Change) -> None:
    s = change.sample
    conn = session.connection()
    moved = conn.execute(_UPDATE_SAMPLE, {"w_id": s.id, "w_version": change.read_version,
                                          **{f"v_{c}": getattr(s, c) for c in SAMPLE_WRITES}})
    if moved.rowcount != 1:  # cannot happen while the row is held; a guard against a future unlocked caller
        raise Conflict(f"Sample {s.id} changed while it was being saved; reload it and try again.")
    if change.remove_ids:
        conn.execute(_DELETE_ANNOTATIONS, {"ids": change.remove_ids})
    added: list[Annotation] = []
    if change.add:
        rows = _added_rows(change)
        ids = conn.execute(_INSERT_ANNOTATIONS, rows).scalars().all()
        added = [Annotation(id=i, **r) for i, r in zip(ids, rows, strict=True)]
    change.result = change.kept + added
    drafted_labels.apply(conn, [change])
    if change.events:
        conn.execute(_INSERT_EVENTS, [
            {"project_id": change.project_id, "sample_id": s.id, "action": action, "label_before": lb,
             "box_before": bb, "label_after": la, "box_after": ba, "actor": change.user, "at": change.now}
            for action, lb, bb, la, ba in change.events])
    emit(session, f"project:{change.project_id}")
    emit(session, f"samples:{change.project_id}", s.id)


def _apply_all(session: Session, changes: list[Change]) -> None:
    deltas: dict[int, counters.Deltas] = {}
    for change in changes:
        _apply(session, change)
        deltas.setdefault(change.project_id, Counter()).update(change.deltas)
    for project_id, d in deltas.items():  # last: counter rows are the contended ones
        counters.bump(session, project_id, d)


def _plan_and_apply(session: Session, plan: Callable[[Session], list[Change]]) -> list[Change]:
    session.info["lock_rows"] = True
    changes = plan(session)
    _apply_all(session, changes)
    return changes


async def _run(db: Database, plan: Callable[[Session], list[Change]]) -> list[Change]:
    """Plan and apply in one unit of work holding the samples' rows (SQLite: the writer thread and its lock)."""
    return await db.write(_plan_and_apply, plan)


OPTIMISTIC_ATTEMPTS = 20


def _load_direct(backend: Any, conn: object, sample_id: int) -> Loaded:
    found = backend.load(conn, sample_id)
    if found is None:
        raise NotFound(f"Sample {sample_id} does not exist.")
    sample, project, annotations = found
    return Loaded(Project(**project), SampleState.of_columns(sample),
                  [Annotation(project_id=sample["project_id"], sample_id=sample_id, **a) for a in annotations])


def _plan_and_write(backend: Any, conn: object, plan: Callable[[Loader], Change]) -> tuple[Change, list[Event]]:
    """Read, plan, write if the sample did not move meanwhile; else plan again from a fresh read, where a caller's
    expectedVersion then meets CONFLICT as it would have under a lock (only PostgreSQL's writers overlap)."""
    load = functools.partial(_load_direct, backend, conn)
    for _ in range(OPTIMISTIC_ATTEMPTS):
        change = plan(load)
        if not change.writes:
            change.result = change.kept
            return change, []
        rows = _added_rows(change)
        ids = backend.write(conn, sample=change.sample, read_version=change.read_version,
                            project_id=change.project_id, remove=change.remove_ids, add=rows, events=change.events,
                            deltas=change.deltas, drafted=change.drafted, user=change.user, now=change.now)
        if ids is not None:
            change.result = change.kept + [Annotation(id=i, **r) for i, r in zip(ids, rows, strict=True)]
            pid = change.project_id
            return change, [(f"project:{pid}", None), (f"samples:{pid}", change.sample.id)]
    raise Conflict(f"Sample {change.sample.id} kept changing while it was being saved; reload it and try again.")


def _plan_and_write_sqlite(conn: Any, plan: Callable[[Loader], Change]) -> tuple[Change, list[Event]]:
    """SQLite: the same, inside one BEGIN IMMEDIATE transaction (the write lock, taken up front)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        done = _plan_and_write(labels_sqlite, conn, plan)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return done


async def _run_one(db: Database, plan: Callable[[Loader], Change]) -> Change:
    """One sample's change in plain driver statements (SQLAlchemy's execution machinery cost more than the
    statements): on PostgreSQL two round trips and no lock held while Python plans (db.labels_pg); on SQLite one
    write transaction (db.labels_sqlite)."""
    if db.is_postgres:
        return await db.write_direct(functools.partial(_plan_and_write, labels_pg), plan)
    return await db.write_direct(_plan_and_write_sqlite, plan)


# -- operations ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Saved:
    sample: SampleState
    annotations: list[Annotation]


def _saved(change: Change) -> Saved:
    return Saved(change.sample, change.result)


def find_snapshot(session: Session, sample_id: int) -> Saved | None:
    """The sample and its annotations as of one instant (one statement on PostgreSQL, one read transaction on
    SQLite), or None if it is gone: what a live event announces, data and version together."""
    conn = session.connection().connection.driver_connection
    try:
        loaded = _load_direct(labels_pg if dialect_of(session) == "postgresql" else labels_sqlite, conn,
                              sample_id)
    except NotFound:
        return None
    return Saved(loaded.sample, loaded.annotations)  # type: ignore[arg-type]


class TakesSubmissions(Exception):
    """The sample's project has overlap and this image takes submissions: the save is its saver's own submission
    (db.submissions.submit), not the image's labels. Raised before anything is written."""


async def save_annotations(
    db: Database, sample_id: int, annotations: Sequence[AnnotationRecord], user: str, *, allow_empty: bool,
    expected_version: int | None, submissions_apart: bool = False,
) -> Saved:
    """Replace every annotation of the sample (drafts included); an empty list with allow_empty means 'no objects'.
    Saving what the sample already holds changes nothing (save_changes_nothing); a stale version is still CONFLICT.
    `submissions_apart`: raise TakesSubmissions where the save would be a submission (asked in the save's own read)."""
    if not annotations and not allow_empty:
        raise Invalid("An empty save needs allowEmpty: true (it records that the image has no objects).")

    def plan(load: Loader) -> Change:
        loaded = load(sample_id)
        if submissions_apart and takes_submissions(loaded.project.consensus, loaded.project.id, sample_id):
            raise TakesSubmissions()
        clean = [AnnotationRecord(a.label, a.kind, a.box) for a in validate(loaded.project, annotations)]
        check_version(loaded.sample, expected_version)
        if save_changes_nothing(loaded, clean):
            return Change.nothing(loaded, user)
        events = diff_events(loaded.annotations, clean)
        if not clean:
            events.append(("no_objects", None, None, None, None))
        if not events:  # the same labels confirmed: a re-submit after a rejection, a skipped or pre-labelled image
            events = [("confirm", a.label, box_of(a), a.label, box_of(a)) for a in clean]
        return plan_change(loaded, user, expected_version=expected_version, remove=loaded.annotations, add=clean,
                           skipped=False, no_objects=not clean, labelled_now=True, events=events)

    return _saved(await _run_one(db, plan))


async def set_classification(
    db: Database, sample_id: int, labels: Sequence[str], user: str, *, expected_version: int | None,
    submissions_apart: bool = False,
) -> Saved:
    """Replace the sample's labels: exactly one, or any number (none meaning 'none of these') if multi-label."""
    project = (await db.read(_load, sample_id)).project
    if project.task_type != "CLASSIFICATION":
        raise Invalid("setClassification is for classification projects; use saveAnnotations for boxes.")
    if not labels and not project.multi_label:
        raise Invalid("Give exactly one label (this project is not multi-label).")
    new = [AnnotationRecord(label, "CLASSIFICATION") for label in labels]
    return await save_annotations(db, sample_id, new, user, allow_empty=True, expected_version=expected_version,
                                  submissions_apart=submissions_apart)


async def skip_sample(db: Database, sample_id: int, user: str, *, expected_version: int | None = None) -> Saved:
    """Skip the sample as it is stored; skipping one already skipped changes nothing (a stale version is CONFLICT)."""
    def plan(load: Loader) -> Change:
        loaded = load(sample_id)
        check_version(loaded.sample, expected_version)
        if loaded.sample.status == "SKIPPED":
            return Change.nothing(loaded, user)
        return plan_change(loaded, user, expected_version=expected_version, skipped=True,
                           events=[("skip", None, None, None, None)])

    return _saved(await _run_one(db, plan))


async def replace_drafts(db: Database, sample_id: int, drafts: Sequence[AnnotationRecord], author: str) -> Saved:
    """Store a model's predictions as drafts, replacing that model's earlier drafts (re-running never duplicates;
    the drafts it replaces go into the history as cleared by the model)."""
    def plan(load: Loader) -> Change:
        loaded = load(sample_id)
        clean = validate(loaded.project, [AnnotationRecord(a.label, a.kind, a.box, a.confidence, True, author)
                                          for a in drafts])
        old = [a for a in loaded.annotations if a.is_draft and a.created_by == author]
        events: list[EventRow] = [("clear_draft", a.label, box_of(a), None, None) for a in old]  # a re-run
        events += [("draft", None, None, a.label, box_of(a)) for a in clean]
        return plan_change(loaded, author, expected_version=None, remove=old, add=clean, events=events)

    return _saved(await _run_one(db, plan))


async def replace_drafts_many(db: Database, drafts: Mapping[int, Sequence[AnnotationRecord]], author: str
                              ) -> dict[int, str]:
    """Many samples' model drafts replaced as replace_drafts does, in one transaction of a few bulk statements: run
    again (a retried Spark task), it replaces what it stored instead of adding to it. A sample whose drafts are
    refused (a box outside the image) or that is gone is left as it was; returns {sample id: why} for those."""
    refused: dict[int, str] = {}

    def plan(s: Session) -> list[Change]:
        refused.clear()
        loaded = _load_many(s, sorted(drafts))
        changes = []
        for sample_id in sorted(drafts):
            if sample_id not in loaded:
                refused[sample_id] = f"Sample {sample_id} does not exist."
                continue
            one = loaded[sample_id]
            try:
                clean = validate(one.project, [AnnotationRecord(a.label, a.kind, a.box, a.confidence, True, author)
                                               for a in drafts[sample_id]])
            except Invalid as exc:
                refused[sample_id] = exc.message
                continue
            old = [a for a in one.annotations if a.is_draft and a.created_by == author]
            events: list[EventRow] = [("clear_draft", a.label, box_of(a), None, None) for a in old]
            events += [("draft", None, None, a.label, box_of(a)) for a in clean]
            change = plan_change(one, author, expected_version=None, remove=old, add=clean, events=events)
            if change.writes:
                changes.append(change)
        return changes

    if drafts:
        await db.write(_plan_and_apply_bulk, plan)
    return refused


def _load_many(session: Session, sample_ids: Sequence[int]) -> dict[int, Loaded]:
    """What _load reads, for many samples in two statements (their rows held on PostgreSQL)."""
    conn = session.connection()
    stmt = (select(*(_S.c[c] for c in SAMPLE_STATE), _P.c.task_type, _P.c.classes, _P.c.multi_label)
            .join_from(_S, _P, _P.c.id == _S.c.project_id).where(_S.c.id.in_(sample_ids)).order_by(_S.c.id))
    if dialect_of(session) == "postgresql":
        stmt = stmt.with_for_update(of=_S)
    rows = conn.execute(stmt).all()
    annotations: dict[int, list[Annotation]] = {}
    for a in conn.execute(select(_A).where(_A.c.sample_id.in_(sample_ids)).order_by(_A.c.id)):
        annotations.setdefault(a.sample_id, []).append(Annotation(**a._mapping))
    projects: dict[int, Project] = {}
    out = {}
    for row in rows:
        v = row._mapping
        project = projects.get(v["project_id"]) or projects.setdefault(v["project_id"], Project(
            id=v["project_id"], task_type=v["task_type"], classes=v["classes"], multi_label=v["multi_label"]))
        out[v["id"]] = Loaded(project, SampleState.of_columns(v), annotations.get(v["id"], []))
    return out


def _plan_and_apply_bulk(session: Session, plan: Callable[[Session], list[Change]]) -> None:
    """Apply many changes planned from rows read under the lock, each kind of statement once for all of them."""
    changes = plan(session)
    if not changes:
        return
    conn = session.connection()
    conn.execute(_UPDATE_SAMPLE, [{"w_id": c.sample.id, "w_version": c.read_version,
                                   **{f"v_{col}": getattr(c.sample, col) for col in SAMPLE_WRITES}}
                                  for c in changes])
    removed = [i for c in changes for i in c.remove_ids]
    if removed:
        conn.execute(_DELETE_ANNOTATIONS, {"ids": removed})
    added = [row for c in changes for row in _added_rows(c)]
    if added:
        conn.execute(insert(_A), added)
    events = [{"project_id": c.project_id, "sample_id": c.sample.id, "action": action, "label_before": lb,
               "box_before": bb, "label_after": la, "box_after": ba, "actor": c.user, "at": c.now}
              for c in changes for action, lb, bb, la, ba in c.events]
    if events:
        conn.execute(insert(_E), events)
    drafted_labels.apply(conn, changes)
    deltas: dict[int, counters.Deltas] = {}
    for c in changes:
        emit(session, f"samples:{c.project_id}", c.sample.id)
        deltas.setdefault(c.project_id, Counter()).update(c.deltas)
    for project_id, d in deltas.items():  # last: counter rows are the contended ones
        emit(session, f"project:{project_id}")
        counters.bump(session, project_id, d)


async def resolve_drafts(db: Database, sample_ids: Sequence[int], user: str, *, accept: bool) -> int:
    """Accept (make them the user's own annotations, see _acceptance) or clear the drafts of the given samples, in
    one transaction; returns how many drafts were resolved."""
    resolved = 0

    def plan(s: Session) -> list[Change]:
        nonlocal resolved
        changes = []
        resolved = 0
        for sample_id in sorted(set(sample_ids)):
            loaded = _load(s, sample_id)
            drafts = [a for a in loaded.annotations if a.is_draft]
            if not drafts:
                continue
            replaced, added = acceptance(loaded.project, loaded.annotations, drafts) if accept else ([], [])
            events: list[EventRow] = [
                ("accept" if accept else "clear_draft", a.label, box_of(a), a.label if accept else None,
                 box_of(a) if accept else None) for a in drafts]
            events += [("delete", a.label, box_of(a), None, None) for a in replaced]
            changes.append(plan_change(loaded, user, expected_version=None, remove=[*drafts, *replaced], add=added,
                                       labelled_now=accept, events=events))
            resolved += len(drafts)
        return changes

    await _run(db, plan)
    return resolved


def replace_labels(session: Session, sample_id: int, records: Sequence[AnnotationRecord], actor: str, *,
                   action: str, changed_anyway: bool = False) -> None:
    """Replace the sample's labels (drafts too) inside the caller's unit of work, as one change recorded as
    `action` (a consensus, an adjudication) besides its per-label history; unchanged labels change nothing unless
    `changed_anyway` (a decision worth its history row even when it keeps the labels). Read and written with a
    save's own statements (db.labels_pg, db.labels_sqlite) on the unit of work's connection."""

    def plan(load: Loader) -> Change:
        loaded = load(sample_id)
        clean = [AnnotationRecord(a.label, a.kind, a.box) for a in validate(loaded.project, records)]
        if not changed_anyway and save_changes_nothing(loaded, clean):
            return Change.nothing(loaded, actor)
        events = [*diff_events(loaded.annotations, clean), (action, None, None, None, None)]
        return plan_change(loaded, actor, expected_version=None, remove=loaded.annotations, add=clean,
                           skipped=False, no_objects=not clean, labelled_now=True, events=events)

    conn = session.connection().connection.driver_connection
    _, events = _plan_and_write(labels_pg if dialect_of(session) == "postgresql" else labels_sqlite, conn, plan)
    for topic, payload in events:
        emit(session, topic, payload)


def own_lease_statement(project_id: int, user: str, now: datetime) -> Select[Sample]:
    """The caller's own unexpired lease on a sample that still needs work, lowest id first: read from the index of
    leased rows (ix_samples_project_lease), not by walking the project."""
    return (select(Sample).where(Sample.project_id == project_id, Sample.locked_by == user,
                                 Sample.lock_expires_at > now, Sample.status.in_(NEEDS_WORK))
            .order_by(Sample.id).limit(1))


def claim_next(session: Session, project_id: int, user: str, *, lease_seconds: float,
               least_confident: bool = False) -> Sample | None:
    """Lease the next sample that needs work (unlabelled, then pre-labelled, lowest id), or the caller's own.

    least_confident (active learning): pre-labelled samples first, the least confident model draft first, then
    the unlabelled ones."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"Project {project_id} does not exist.")
    now = utcnow()
    sample = session.scalar(own_lease_statement(project_id, user, now))
    if sample is None:
        for status in (NEEDS_WORK[::-1] if least_confident else NEEDS_WORK):
            order = (CONFIDENCE_KEY, Sample.id) if least_confident else (Sample.id,)
            stmt = select(Sample).where(
                Sample.project_id == project_id, Sample.status == status,
                Sample.missing_since.is_(None),  # a file a rescan did not find cannot be labelled
                or_(Sample.locked_by.is_(None), Sample.lock_expires_at <= now),
            ).order_by(*order).limit(1)
            if dialect_of(session) == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            sample = session.scalar(stmt)
            if sample is not None:
                break
    if sample is None:
        return None
    sample.locked_by, sample.lock_expires_at = user, now + timedelta(seconds=lease_seconds)
    session.flush()
    emit(session, f"samples:{project_id}", sample.id)
    return sample
