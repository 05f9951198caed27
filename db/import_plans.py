"""An import's usual change planned for many samples at once: boxes held as columns (a plain COCO file) added to
samples that hold no annotations yet, as the importer's own labels. What label_plans.plan_change works out one
sample at a time (the new state, the counter deltas, whether boxes nest) is worked out here with numpy over every
box of the batch; tests/test_import_plans.py checks both give the same on random batches."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from db import counters
from db.annotation_columns import AnnotationColumns, ColumnSpan
from db.box_nesting import VECTORISED, has_nested
from db.change_rows import SAMPLE_STATE
from db.label_plans import Change, status_for
from db.models import Project, Sample, utcnow
from db.sample_state import SampleState


def plan_new_boxes(project: Project, samples: Sequence[Sample | SampleState], spans: Sequence[ColumnSpan],
                   user: str) -> tuple[list[Change], Counter[tuple[str, str]]]:
    """For each sample (holding no annotations) and its non-empty span (all of one file's columns, passed by
    label_plans.validate's rules as they are):
    the change plan_change(..., expected_version=None, add=span, no_objects=False, labelled_now=True) makes, with
    the deltas of all of them summed (each change's own deltas are left empty)."""
    now = utcnow()
    columns = spans[0].columns
    where, at = columns.positions(np.array([s.start for s in spans], dtype=np.int64),
                                  np.array([s.stop for s in spans], dtype=np.int64))
    label, kind, box = columns.label[at], columns.kind[at], columns.box[at]
    deltas: Counter[tuple[str, str]] = Counter()
    deltas[(counters.ANNOTATIONS_BY, user)] += len(label)
    for code, n in enumerate(np.bincount(label, minlength=len(columns.labels)).tolist()):
        if n:
            deltas[(counters.CLASS, columns.labels[code])] += n
    per_sample = np.unique(where * len(columns.labels) + label) % len(columns.labels)
    for code, n in enumerate(np.bincount(per_sample, minlength=len(columns.labels)).tolist()):
        if n:
            deltas[(counters.SAMPLE_CLASS, columns.labels[code])] += n
    nested = _nested(columns, where, label, kind, box, spans)
    changes = []
    before: list[tuple[str, str]] = []
    after: list[tuple[str, str]] = []
    is_box = kind == columns.kinds.index("BBOX") if "BBOX" in columns.kinds else np.zeros(len(kind), dtype=bool)
    boxes = np.bincount(where[is_box], minlength=len(spans)).tolist()
    smallest_w, smallest_h = _smallest_sides(where, box, is_box & ~np.isnan(box[:, 0]), len(spans))
    for old, span, nest, count, min_w, min_h in zip(samples, spans, nested.tolist(), boxes, smallest_w, smallest_h,
                                                     strict=True):
        before += counters.sample_keys(old)
        new = SampleState.__new__(SampleState)
        for c in _KEPT:
            setattr(new, c, getattr(old, c))
        new.no_objects = False
        new.min_confidence = new.max_confidence = None
        new.nested_boxes, new.box_count = nest, count
        new.min_box_w, new.min_box_h = min_w, min_h
        new.status = status_for(skipped=old.status == "SKIPPED", has_draft=False, has_confirmed=True,
                                no_objects=False)
        new.labeled_by, new.labeled_at = (user, now) if new.status == "LABELED" else (None, None)
        new.version = old.version + 1
        new.updated_by, new.updated_at = user, now
        new.locked_by = new.lock_expires_at = None
        new.review_status = "NONE"
        new.reviewed_by = new.reviewed_at = new.review_comment = None
        after += counters.sample_keys(new)
        changes.append(Change(project.id, new, old.version, None, [], span, [], _NONE, [], user, now))
    deltas.subtract(Counter(before))  # counted in C
    deltas.update(Counter(after))
    return changes, deltas


_SET = {"no_objects", "min_confidence", "max_confidence", "nested_boxes", "box_count", "min_box_w", "min_box_h",
        "status", "labeled_by", "labeled_at", "version", "updated_by", "updated_at", "locked_by", "lock_expires_at",
        "review_status", "reviewed_by", "reviewed_at", "review_comment"}
_KEPT = tuple(c for c in SAMPLE_STATE if c not in _SET)  # the columns a new label leaves as they are
_NONE: Counter[tuple[str, str]] = Counter()  # a change's own deltas: summed by the caller instead


def _smallest_sides(where: np.ndarray, box: np.ndarray, boxed: np.ndarray, spans: int
                    ) -> tuple[list[float | None], list[float | None]]:
    """Each span's smallest box width and height (None without a box): what label_plans keeps as min_box_w/h."""
    sides = []
    for k in (2, 3):
        smallest = np.full(spans, np.inf)
        np.minimum.at(smallest, where[boxed], box[boxed, k])
        sides.append([None if v == np.inf else v for v in smallest.tolist()])
    return sides[0], sides[1]


def _nested(columns: AnnotationColumns, where: np.ndarray, label: np.ndarray, kind: np.ndarray, box: np.ndarray,
            spans: Sequence[ColumnSpan]) -> np.ndarray:
    """box_nesting.has_nested per span: boxes of one span and label compared with the next d of the same group,
    for every d up to the largest group (a group of more than VECTORISED boxes: its span goes to has_nested)."""
    out = np.zeros(len(spans), dtype=bool)
    boxed = (kind == (columns.kinds.index("BBOX") if "BBOX" in columns.kinds else -1)) & ~np.isnan(box[:, 0])
    order = np.flatnonzero(boxed)
    order = order[np.lexsort((label[order], where[order]))]
    group = where[order] * max(len(columns.labels), 1) + label[order]
    if len(group) < 2:
        return out
    owner = where[order]
    b = box[order]
    x, y = b[:, 0], b[:, 1]
    x2, y2 = x + b[:, 2], y + b[:, 3]
    edges = np.flatnonzero(np.diff(group)) + 1
    sizes = np.diff(np.concatenate(([0], edges, [len(group)])))
    for d in range(1, min(int(sizes.max()), VECTORISED + 1)):
        same = group[d:] == group[:-d]
        a_in_b = (x[:-d] >= x[d:]) & (y[:-d] >= y[d:]) & (x2[:-d] <= x2[d:]) & (y2[:-d] <= y2[d:])
        b_in_a = (x[d:] >= x[:-d]) & (y[d:] >= y[:-d]) & (x2[d:] <= x2[:-d]) & (y2[d:] <= y2[:-d])
        out[owner[:-d][same & (a_in_b | b_in_a)]] = True
    starts = np.concatenate(([0], edges))
    for k in np.unique(owner[starts[sizes > VECTORISED]]).tolist():  # beyond the shifts compared above
        out[k] = has_nested((a.label, a.box) for a in spans[k] if a.kind == "BBOX")
    return out
