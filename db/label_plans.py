"""Planning a label change, with no database: validation, the status rule, history rows, counter deltas, the
drafted classes (db.drafted_labels), and the Change that db.labels then applies only if the sample is still at the
version it was planned from.

Everything here is a pure function of what was read, so it is property-tested without a database
(tests/test_label_plans.py) as well as through every write path.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from db import counters, drafted_labels
from db.annotation_columns import ColumnSpan
from db.box_nesting import has_nested
from db.errors import Conflict, Invalid
from db.models import Annotation, Project, Sample, utcnow
from db.records import AnnotationRecord, Box
from db.sample_state import SampleState

TOLERANCE = 1e-6
MAX_ANNOTATIONS = 10_000  # on one sample: whether boxes nest is a pairwise check (10,000 boxes of a class: 0.15 s)
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
        return box if type(box) is tuple else (x, y, w, h)  # unchanged: no copy
    x, y = max(0.0, x), max(0.0, y)
    return (x, y, min(w, 1.0 - x), min(h, 1.0 - y))


def validate(project: Project, annotations: Sequence[AnnotationRecord]) -> list[AnnotationRecord]:
    """Labels in the project's classes, the task's kind, finite in-image boxes; VALIDATION names the index."""
    kind = KIND_FOR_TASK[project.task_type]
    classes = set(project.classes)
    if len(annotations) > MAX_ANNOTATIONS:
        raise Invalid(f"A sample holds at most {MAX_ANNOTATIONS:,} annotations; this would give it "
                      f"{len(annotations):,}.")
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


EventRow = tuple[str, str | None, list[float] | None, str | None, list[float] | None]


@dataclass
class Loaded:
    project: Project
    sample: Sample | SampleState
    annotations: list[Annotation]


Loader = Callable[[int], Loaded]  # sample id -> the sample, its project and its annotations


def check_version(sample: Sample | SampleState, expected: int | None) -> None:
    if expected is not None and expected != sample.version:
        who = f" by {sample.updated_by}" if sample.updated_by else ""
        raise Conflict(
            f"Sample {sample.id} was changed{who} since you loaded it (you have version {expected}, "
            f"it is now {sample.version}). Reload it and apply your change again.",
            currentVersion=sample.version, changedBy=sample.updated_by,
        )


def box_of(a: Annotation | AnnotationRecord) -> list[float] | None:
    if isinstance(a, AnnotationRecord):
        return list(a.box) if a.box else None
    return [a.x, a.y, a.w, a.h] if a.x is not None else None  # type: ignore[list-item]


def as_record(a: Annotation) -> AnnotationRecord:
    box = (a.x, a.y, a.w, a.h) if a.x is not None else None
    return AnnotationRecord(a.label, a.kind, box, a.confidence, a.is_draft, a.created_by)  # type: ignore[arg-type]


def diff_events(removed: Sequence[Annotation], added: Sequence[AnnotationRecord]) -> list[EventRow]:
    """History rows for a replacement: unchanged rows say nothing; same-label pairs are 'replace', others
    pair up as 'replace' too (relabel), and what is left is 'delete' or 'create'."""
    old = [(a.label, box_of(a)) for a in removed]
    new = [(a.label, box_of(a)) for a in added]
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
        return a.label, a.kind, tuple(round(v, 9) for v in box_of(a) or ())

    for a, b in zip(sorted(old, key=key), sorted(new, key=key), strict=True):
        box_a, box_b = box_of(a), box_of(b)
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


@dataclass
class Change:
    """One planned change of one sample, valid only while the sample is still at `read_version`."""

    project_id: int
    sample: SampleState  # already holding the new values
    read_version: int
    expected_version: int | None
    remove_ids: list[int]
    add: Sequence[AnnotationRecord]
    kept: list[Annotation]
    deltas: counters.Deltas
    events: list[EventRow]
    user: str
    now: datetime
    result: list[Annotation] = field(default_factory=list)
    writes: bool = True  # False: the sample already holds what was asked, and nothing is written
    drafted: tuple[str, ...] | None = None  # the sample's drafted_labels after it, when they change (db.drafted_labels)

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
        deltas[(counters.ANNOTATIONS_BY, author)] += sign * authors.count(author)
    for label in set(labels):
        deltas[(counters.CLASS, label)] += sign * labels.count(label)


def plan_change(
    loaded: Loaded, user: str, *, expected_version: int | None, remove: Sequence[Annotation] = (),
    add: Sequence[AnnotationRecord] = (), skipped: bool | None = None, no_objects: bool | None = None,
    labelled_now: bool = False, events: Sequence[EventRow] = (),
) -> Change:
    """Apply the status rule and work out counters and history for one change (no database access)."""
    check_version(loaded.sample, expected_version)
    now = utcnow()
    old = loaded.sample
    new = SampleState(old)
    deltas: counters.Deltas = Counter()
    for key in counters.sample_keys(old):
        deltas[key] -= 1
    removed_ids = {a.id for a in remove}
    _count(deltas, [a for a in remove if not a.is_draft], -1, user)
    adding = add if isinstance(add, tuple | ColumnSpan) else list(add)  # kept as given when it cannot change
    add = list(add)  # rows without created_by are the acting user's (see _apply)
    _count(deltas, [a for a in add if not a.is_draft], +1, user)
    kept = [a for a in loaded.annotations if a.id not in removed_ids]
    remaining = [as_record(a) for a in kept] + add
    drafts = [a for a in remaining if a.is_draft]
    classes_before = {a.label for a in loaded.annotations if not a.is_draft}
    classes_after = {a.label for a in remaining if not a.is_draft}
    for label in classes_before ^ classes_after:
        deltas[(counters.SAMPLE_CLASS, label)] += 1 if label in classes_after else -1
    if skipped is not None:
        new.skipped_by = user if skipped else None
    if no_objects is not None:
        new.no_objects = no_objects
    new.no_objects = bool(new.no_objects) and not remaining
    confidences = [a.confidence for a in drafts if a.confidence is not None]
    new.min_confidence = min(confidences, default=None)
    new.max_confidence = max(confidences, default=None)
    if any(not a.is_draft for a in remove) or any(not a.is_draft for a in add):  # the confirmed boxes changed
        boxes = [(a.label, a.box) for a in remaining if not a.is_draft and a.kind == "BBOX"]
        new.nested_boxes, new.box_count = has_nested(boxes), len(boxes)
        new.min_box_w = min((b[2] for _, b in boxes if b is not None), default=None)
        new.min_box_h = min((b[3] for _, b in boxes if b is not None), default=None)
    else:  # (an import's new sample has not been stored yet: None)
        new.nested_boxes, new.box_count = bool(old.nested_boxes), old.box_count or 0
        new.min_box_w, new.min_box_h = old.min_box_w, old.min_box_h
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
    return Change(loaded.project.id, new, old.version, expected_version, sorted(removed_ids), adding, kept,
                  deltas, list(events), user, now,
                  drafted=drafted_labels.planned(classes_before, old.min_confidence, classes_after,
                                                 new.min_confidence))


def acceptance(project: Project, annotations: Sequence[Annotation], drafts: Sequence[Annotation]
                ) -> tuple[list[Annotation], list[AnnotationRecord]]:
    """What accepting a sample's drafts replaces besides them, and the annotations it adds: boxes add up; a
    classification label is never given twice, and a single-label sample keeps one label, the model's (its most
    confident draft's)."""
    if project.task_type != "CLASSIFICATION":
        return [], [AnnotationRecord(a.label, a.kind, tuple(box_of(a) or ()) or None) for a in drafts]  # type: ignore[arg-type]
    confirmed = [a for a in annotations if not a.is_draft]
    if not project.multi_label:
        best = max(drafts, key=lambda a: a.confidence if a.confidence is not None else 0.0)
        return confirmed, [AnnotationRecord(best.label, best.kind)]
    have = {a.label for a in confirmed}
    return [], [AnnotationRecord(label, "CLASSIFICATION") for label in dict.fromkeys(a.label for a in drafts)
                if label not in have]
