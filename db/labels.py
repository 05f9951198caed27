"""Labelling writes: claim with a lease, save boxes or classes, skip, store/accept/clear drafts.

Every change is planned in Python from the sample as read (validation, status rule, counter deltas, history),
then applied only if the sample is still at that version, with the contended counter rows touched last. One
sample's change (save, classify, skip, model drafts) runs in plain driver statements (db.labels_pg: two round
trips, no lock while planning, planned again if a colleague's change landed; db.labels_sqlite: inside the writer's
transaction); changes of many samples run as one locked SQLAlchemy unit of work. A caller who passes the version
they saw gets CONFLICT if it moved.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, or_, select, update
from sqlalchemy.orm import Session

from db import counters, labels_pg, labels_sqlite
from db.change_rows import SAMPLE_STATE, SAMPLE_WRITES
from db.engine import Database, Event, emit
from db.errors import Conflict, Invalid, NotFound
from db.models import CONFIDENCE_KEY, Annotation, AnnotationEvent, Project, Sample, utcnow
from db.records import AnnotationRecord, Box

NEEDS_WORK = ("UNLABELED", "PRE_LABELED")
TOLERANCE = 1e-6
SAME_BOX = 1e-9  # boxes this close (normalised coordinates: far below a pixel) are the same box
KIND_FOR_TASK = {"DETECTION": "BBOX", "CLASSIFICATION": "CLASSIFICATION"}

def status_for(*, skipped: bool, has_draft: bool, has_confirmed: bool, no_objects: bool) -> str:
    """The one status rule: skipped stays skipped; any draft -> PRE_LABELED; confirmed or empty save -> LABELED."""
    if skipped:
        return "SKIPPED"
    if has_draft:
        return "PRE_LABELED"
    if has_confirmed or no_objects:
        return "LABELED"
    return "UNLABELED"


def clean_box(box: Sequence[float], index: int) -> Box:
    x, y, w, h = box
    x, y, w, h = float(x), float(y), float(w), float(h)
    finite = math.isfinite
    if not (finite(x) and finite(y) and finite(w) and finite(h)):
        raise Invalid(f"Annotation {index}: the box has a value that is not a finite number.", index=index)
    if w <= 0 or h <= 0:
        raise Invalid(f"Annotation {index}: the box needs a positive width and height.", index=index)
    if x < -TOLERANCE or y < -TOLERANCE or x + w > 1 + TOLERANCE or y + h > 1 + TOLERANCE:
        raise Invalid(f"Annotation {index}: the box ({x:g}, {y:g}, {w:g}, {h:g}) leaves the image (0..1).",
                      index=index)
    if x >= 0 and y >= 0 and x + w <= 1 and y + h <= 1:
        return box if type(box) is tuple else (x, y, w, h)  # type: ignore[return-value]  # unchanged: no copy
    x, y = max(0.0, x), max(0.0, y)
    return (x, y, min(w, 1.0 - x), min(h, 1.0 - y))


def validate(project: Project, annotations: Sequence[AnnotationRecord]) -> list[AnnotationRecord]:
    """Labels in the project's classes, the task's kind, finite in-image boxes; VALIDATION names the index."""
    kind = KIND_FOR_TASK[project.task_type]
    classes = set(project.classes)
    out = []
    for i, a in enumerate(annotations):
        if a.label not in classes:
            raise Invalid(f"Annotation {i}: label {a.label!r} is not one of the project's classes.", index=i)
        if a.kind != kind:
            raise Invalid(f"Annotation {i}: a {project.task_type.lower()} project takes {kind} annotations, "
                          f"not {a.kind}.", index=i)
        box = None
        if kind == "BBOX":
            if a.box is None:
                raise Invalid(f"Annotation {i}: a BBOX annotation needs a box.", index=i)
            box = clean_box(a.box, i)
        elif a.box is not None:
            raise Invalid(f"Annotation {i}: a classification label has no box.", index=i)
        if a.confidence is not None and not (math.isfinite(a.confidence) and 0 <= a.confidence <= 1):
            raise Invalid(f"Annotation {i}: confidence must be between 0 and 1.", index=i)
        out.append(a if box is a.box else a._replace(box=box))
    if kind == "CLASSIFICATION" and not project.multi_label and len(out) > 1:
        raise Invalid("This project takes exactly one label per sample (it is not multi-label).")
    if kind == "CLASSIFICATION" and len({a.label for a in out if not a.is_draft}) != len([a for a in out
                                                                                       if not a.is_draft]):
        raise Invalid("A label is given twice.")
    return out


# -- reading ----------------------------------------------------------------------------------------------

EventRow = tuple[str, str | None, list[float] | None, str | None, list[float] | None]


@dataclass
class Loaded:
    project: Project
    sample: Sample | SampleState
    annotations: list[Annotation]


Loader = Callable[[int], Loaded]  # sample id -> the sample, its project and its annotations


_S, _P, _A, _E = Sample.__table__, Project.__table__, Annotation.__table__, AnnotationEvent.__table__
# Core, not ORM: a save reads one sample, and building ORM objects cost more than the statements
_LOAD = (select(*(_S.c[c] for c in SAMPLE_STATE), _P.c.task_type, _P.c.classes, _P.c.multi_label)
         .join_from(_S, _P, _P.c.id == _S.c.project_id).where(_S.c.id == bindparam("sid")))
_LOAD_LOCKED = _LOAD.with_for_update(of=_S)
_ANNOTATIONS_OF = select(_A).where(_A.c.sample_id == bindparam("sid")).order_by(_A.c.id)


def _load(session: Session, sample_id: int) -> Loaded:
    locked = session.info.get("lock_rows") and session.bind.dialect.name == "postgresql"
    conn = session.connection()
    row = conn.execute(_LOAD_LOCKED if locked else _LOAD, {"sid": sample_id}).first()
    if row is None:
        raise NotFound(f"Sample {sample_id} does not exist.")
    values = row._mapping
    project = Project(id=values["project_id"], task_type=values["task_type"], classes=values["classes"],
                      multi_label=values["multi_label"])
    annotations = [Annotation(**a._mapping) for a in conn.execute(_ANNOTATIONS_OF, {"sid": sample_id})]
    return Loaded(project, SampleState.of_columns(values), annotations)


def _check_version(sample: Sample, expected: int | None) -> None:
    if expected is not None and expected != sample.version:
        who = f" by {sample.updated_by}" if sample.updated_by else ""
        raise Conflict(
            f"Sample {sample.id} was changed{who} since you loaded it (you have version {expected}, "
            f"it is now {sample.version}). Reload it and apply your change again.",
            currentVersion=sample.version, changedBy=sample.updated_by,
        )


def _box_of(a: Annotation | AnnotationRecord) -> list[float] | None:
    if isinstance(a, AnnotationRecord):
        return list(a.box) if a.box else None
    return [a.x, a.y, a.w, a.h] if a.x is not None else None  # type: ignore[list-item]


def _as_new(a: Annotation) -> AnnotationRecord:
    box = (a.x, a.y, a.w, a.h) if a.x is not None else None
    return AnnotationRecord(a.label, a.kind, box, a.confidence, a.is_draft, a.created_by)  # type: ignore[arg-type]


def _diff_events(removed: Sequence[Annotation], added: Sequence[AnnotationRecord]) -> list[EventRow]:
    """History rows for a replacement: unchanged rows say nothing; same-label pairs are 'replace', others
    pair up as 'replace' too (relabel), and what is left is 'delete' or 'create'."""
    old = [(a.label, _box_of(a)) for a in removed]
    new = [(a.label, _box_of(a)) for a in added]
    for item in list(new):
        if item in old:
            old.remove(item)
            new.remove(item)
    events: list[EventRow] = []
    for label in sorted({lbl for lbl, _ in old} & {lbl for lbl, _ in new}):
        while any(lbl == label for lbl, _ in old) and any(lbl == label for lbl, _ in new):
            o = next(x for x in old if x[0] == label)
            n = next(x for x in new if x[0] == label)
            old.remove(o)
            new.remove(n)
            events.append(("replace", o[0], o[1], n[0], n[1]))
    while old and new:
        o, n = old.pop(0), new.pop(0)
        events.append(("replace", o[0], o[1], n[0], n[1]))
    events += [("delete", lbl, box, None, None) for lbl, box in old]
    events += [("create", None, None, lbl, box) for lbl, box in new]
    return events


def same_annotations(old: Sequence[Annotation], new: Sequence[AnnotationRecord]) -> bool:
    """Whether a save of `new` would store what `old` already holds: the same confirmed labels, in any order, boxes
    of the same class equal within SAME_BOX. Both sides are sorted on coordinates rounded to that grid and compared
    pair by pair (n log n: saves carry up to thousands of boxes); two boxes of one class closer than the grid may
    sort apart, and then the save is simply written."""
    if len(old) != len(new) or any(a.is_draft for a in old):
        return False

    def key(a: Annotation | AnnotationRecord) -> tuple[str, str, tuple[float, ...]]:
        return a.label, a.kind, tuple(round(v, 9) for v in _box_of(a) or ())

    for a, b in zip(sorted(old, key=key), sorted(new, key=key), strict=True):
        box_a, box_b = _box_of(a), _box_of(b)
        if a.label != b.label or a.kind != b.kind or (box_a is None) != (box_b is None):
            return False
        if box_a is not None and any(abs(p - q) > SAME_BOX for p, q in zip(box_a, box_b, strict=True)):  # type: ignore[arg-type]
            return False
    return True


def save_changes_nothing(loaded: Loaded, clean: Sequence[AnnotationRecord]) -> bool:
    """A save of `clean` onto a sample already labelled so, with no review asking for another look, is no change.
    A rejected sample saved again unchanged is the labeller's answer to the reviewer: a change (back to review)."""
    s = loaded.sample
    return (s.status == "LABELED" and s.review_status != "REJECTED" and bool(s.no_objects) == (not clean)
            and same_annotations(loaded.annotations, clean))


# -- planning: everything about a change, computed before any lock is taken --------------------------------


class SampleState:
    """A detached copy of a sample's columns: what a planned change will write (far cheaper than an ORM object,
    which matters when an import plans 100,000 of them). Reads like a Sample wherever one is read."""

    __slots__ = SAMPLE_STATE

    def __init__(self, source: Sample | SampleState) -> None:
        for c in SAMPLE_STATE:
            setattr(self, c, getattr(source, c))

    @classmethod
    def of_columns(cls, values: dict[str, object]) -> SampleState:
        state = cls.__new__(cls)
        for c in SAMPLE_STATE:
            setattr(state, c, values[c])
        return state


@dataclass
class Change:
    """One planned change of one sample, valid only while the sample is still at `read_version`."""

    project_id: int
    sample: SampleState  # already holding the new values
    read_version: int
    expected_version: int | None
    remove_ids: list[int]
    add: list[AnnotationRecord]
    kept: list[Annotation]
    deltas: counters.Deltas
    events: list[EventRow]
    user: str
    now: datetime
    result: list[Annotation] = field(default_factory=list)
    writes: bool = True  # False: the sample already holds what was asked, and nothing is written

    @classmethod
    def nothing(cls, loaded: Loaded, user: str) -> Change:
        """The change that leaves the sample as it is (same version, no history, its review kept)."""
        sample = SampleState(loaded.sample)
        return cls(loaded.project.id, sample, sample.version, None, [], [], list(loaded.annotations), Counter(), [],
                   user, utcnow(), writes=False)


def _count(deltas: counters.Deltas, rows: Sequence[Annotation | AnnotationRecord], sign: int, user: str) -> None:
    """Per-author and per-class counter deltas of confirmed rows (tallied in C: imports pass millions)."""
    if not rows:
        return
    authors = [a.created_by or user for a in rows]
    labels = [a.label for a in rows]
    for author in set(authors):  # few distinct values: list.count runs in C
        deltas[(counters.ANNOTATIONS_BY, author)] += sign * authors.count(author)  # type: ignore[index]
    for label in set(labels):
        deltas[(counters.CLASS, label)] += sign * labels.count(label)


def plan_change(
    loaded: Loaded, user: str, *, expected_version: int | None, remove: Sequence[Annotation] = (),
    add: Sequence[AnnotationRecord] = (), skipped: bool | None = None, no_objects: bool | None = None,
    labelled_now: bool = False, events: Sequence[EventRow] = (),
) -> Change:
    """Apply the status rule and work out counters and history for one change (no database access)."""
    _check_version(loaded.sample, expected_version)
    now = utcnow()
    old = loaded.sample
    new = SampleState(old)
    deltas: counters.Deltas = Counter()
    for key in counters.sample_keys(old):
        deltas[key] -= 1
    removed_ids = {a.id for a in remove}
    _count(deltas, [a for a in remove if not a.is_draft], -1, user)
    add = list(add)  # rows without created_by are the acting user's (see _apply)
    _count(deltas, [a for a in add if not a.is_draft], +1, user)
    kept = [a for a in loaded.annotations if a.id not in removed_ids]
    remaining = [_as_new(a) for a in kept] + add
    drafts = [a for a in remaining if a.is_draft]
    if skipped is not None:
        new.skipped_by = user if skipped else None
    if no_objects is not None:
        new.no_objects = no_objects
    new.no_objects = bool(new.no_objects) and not remaining
    confidences = [a.confidence for a in drafts if a.confidence is not None]
    new.min_confidence = min(confidences, default=None)
    new.max_confidence = max(confidences, default=None)
    was_skipped = old.status == "SKIPPED" if skipped is None else skipped
    new.status = status_for(skipped=was_skipped, has_draft=bool(drafts), has_confirmed=len(remaining) > len(drafts),
                            no_objects=new.no_objects)
    if new.status == "LABELED":
        if labelled_now or new.labeled_by is None:
            new.labeled_by, new.labeled_at = user, now
    else:
        new.labeled_by = new.labeled_at = None
    new.version = old.version + 1
    new.updated_by, new.updated_at = user, now
    new.locked_by = new.lock_expires_at = None
    new.review_status = "NONE"  # changed labels need a new review (db.reviews); the old one stays in the history
    new.reviewed_by = new.reviewed_at = new.review_comment = None
    for key in counters.sample_keys(new):
        deltas[key] += 1
    return Change(loaded.project.id, new, old.version, expected_version, sorted(removed_ids), list(add), kept,
                  deltas, list(events), user, now)


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
                            deltas=change.deltas, user=change.user, now=change.now)
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
        loaded = _load_direct(labels_pg if session.bind.dialect.name == "postgresql" else labels_sqlite, conn,
                              sample_id)
    except NotFound:
        return None
    return Saved(loaded.sample, loaded.annotations)  # type: ignore[arg-type]


async def save_annotations(
    db: Database, sample_id: int, annotations: Sequence[AnnotationRecord], user: str, *, allow_empty: bool,
    expected_version: int | None,
) -> Saved:
    """Replace every annotation of the sample (drafts included); an empty list with allow_empty means 'no objects'.
    Saving what the sample already holds changes nothing (save_changes_nothing); a stale version is still CONFLICT."""
    if not annotations and not allow_empty:
        raise Invalid("An empty save needs allowEmpty: true (it records that the image has no objects).")

    def plan(load: Loader) -> Change:
        loaded = load(sample_id)
        clean = [AnnotationRecord(a.label, a.kind, a.box) for a in validate(loaded.project, annotations)]
        _check_version(loaded.sample, expected_version)
        if save_changes_nothing(loaded, clean):
            return Change.nothing(loaded, user)
        events = _diff_events(loaded.annotations, clean)
        if not clean:
            events.append(("no_objects", None, None, None, None))
        if not events:  # the same labels confirmed: a re-submit after a rejection, a skipped or pre-labelled image
            events = [("confirm", a.label, _box_of(a), a.label, _box_of(a)) for a in clean]
        return plan_change(loaded, user, expected_version=expected_version, remove=loaded.annotations, add=clean,
                           skipped=False, no_objects=not clean, labelled_now=True, events=events)

    return _saved(await _run_one(db, plan))


async def set_classification(
    db: Database, sample_id: int, labels: Sequence[str], user: str, *, expected_version: int | None,
) -> Saved:
    """Replace the sample's labels: exactly one, or any number (none meaning 'none of these') if multi-label."""
    project = (await db.read(_load, sample_id)).project
    if project.task_type != "CLASSIFICATION":
        raise Invalid("setClassification is for classification projects; use saveAnnotations for boxes.")
    if not labels and not project.multi_label:
        raise Invalid("Give exactly one label (this project is not multi-label).")
    new = [AnnotationRecord(label, "CLASSIFICATION") for label in labels]
    return await save_annotations(db, sample_id, new, user, allow_empty=True, expected_version=expected_version)


async def skip_sample(db: Database, sample_id: int, user: str, *, expected_version: int | None = None) -> Saved:
    """Skip the sample as it is stored; skipping one already skipped changes nothing (a stale version is CONFLICT)."""
    def plan(load: Loader) -> Change:
        loaded = load(sample_id)
        _check_version(loaded.sample, expected_version)
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
        events: list[EventRow] = [("clear_draft", a.label, _box_of(a), None, None) for a in old]  # a re-run
        events += [("draft", None, None, a.label, _box_of(a)) for a in clean]
        return plan_change(loaded, author, expected_version=None, remove=old, add=clean, events=events)

    return _saved(await _run_one(db, plan))


def _acceptance(project: Project, annotations: Sequence[Annotation], drafts: Sequence[Annotation]
                ) -> tuple[list[Annotation], list[AnnotationRecord]]:
    """What accepting a sample's drafts replaces besides them, and the annotations it adds: boxes add up; a
    classification label is never given twice, and a single-label sample keeps one label, the model's (its most
    confident draft's)."""
    if project.task_type != "CLASSIFICATION":
        return [], [AnnotationRecord(a.label, a.kind, tuple(_box_of(a) or ()) or None) for a in drafts]  # type: ignore[arg-type]
    confirmed = [a for a in annotations if not a.is_draft]
    if not project.multi_label:
        best = max(drafts, key=lambda a: a.confidence if a.confidence is not None else 0.0)
        return confirmed, [AnnotationRecord(best.label, best.kind)]
    have = {a.label for a in confirmed}
    return [], [AnnotationRecord(label, "CLASSIFICATION") for label in dict.fromkeys(a.label for a in drafts)
                if label not in have]


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
            replaced, added = _acceptance(loaded.project, loaded.annotations, drafts) if accept else ([], [])
            events: list[EventRow] = [
                ("accept" if accept else "clear_draft", a.label, _box_of(a), a.label if accept else None,
                 _box_of(a) if accept else None) for a in drafts]
            events += [("delete", a.label, _box_of(a), None, None) for a in replaced]
            changes.append(plan_change(loaded, user, expected_version=None, remove=[*drafts, *replaced], add=added,
                                       labelled_now=accept, events=events))
            resolved += len(drafts)
        return changes

    await _run(db, plan)
    return resolved


def claim_next(session: Session, project_id: int, user: str, *, lease_seconds: float,
               least_confident: bool = False) -> Sample | None:
    """Lease the next sample that needs work (unlabelled, then pre-labelled, lowest id), or the caller's own.

    least_confident (active learning): pre-labelled samples first, the least confident model draft first, then
    the unlabelled ones."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"Project {project_id} does not exist.")
    now = utcnow()
    own = select(Sample).where(Sample.project_id == project_id, Sample.locked_by == user,
                               Sample.lock_expires_at > now, Sample.status.in_(NEEDS_WORK)).order_by(Sample.id)
    sample = session.scalar(own.limit(1))
    if sample is None:
        for status in (NEEDS_WORK[::-1] if least_confident else NEEDS_WORK):
            order = (CONFIDENCE_KEY, Sample.id) if least_confident else (Sample.id,)
            stmt = select(Sample).where(
                Sample.project_id == project_id, Sample.status == status,
                or_(Sample.locked_by.is_(None), Sample.lock_expires_at <= now),
            ).order_by(*order).limit(1)
            if session.bind.dialect.name == "postgresql":
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
