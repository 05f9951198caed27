"""Validation of a whole import's annotations at once: which items label_plans.validate would pass unchanged,
worked out with numpy over every box in one go, so that only the items it would clamp or refuse go through it one
by one (and get its exact message). The rules are validate's; tests/test_bulk_validation.py compares the two."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from db.annotation_columns import AnnotationColumns, ColumnSpan
from db.label_plans import KIND_FOR_TASK, MAX_ANNOTATIONS
from db.models import Project
from db.records import AnnotationRecord

_NAN_BOX = (math.nan, math.nan, math.nan, math.nan)


def _meta_fine(a: AnnotationRecord, classes: set[str], kind: str) -> bool:
    c = a[3]
    return a[0] in classes and a[1] == kind and type(a[2]) is tuple and (c is None or 0 <= c <= 1)


def passes_unchanged(project: Project, items: Sequence[Sequence[AnnotationRecord]]) -> list[bool]:
    """For each item's annotations: True when validate(project, them) would return them as they are. False means
    only "look at this one": validate decides, clamping or refusing. Items held as columns (a ColumnSpan) are
    judged from the columns, without building their records."""
    kind = KIND_FOR_TASK[project.task_type]
    if kind != "BBOX":  # one label per image: validate itself is as quick
        return [False] * len(items)
    classes = set(project.classes)
    out = [False] * len(items)
    within = [len(a) <= MAX_ANNOTATIONS for a in items]  # else validate refuses it, by name
    spans = [n for n, a in enumerate(items) if type(a) is ColumnSpan]
    for columns in {id(items[n].columns): items[n].columns for n in spans}.values():  # type: ignore[attr-defined]
        fine = _fine_columns(columns, classes, kind)
        for n in spans:
            a = items[n]
            if a.columns is columns:  # type: ignore[attr-defined]
                out[n] = within[n] and bool(fine[a.stop] == fine[a.start])  # type: ignore[attr-defined]
    others = [n for n, a in enumerate(items) if type(a) is not ColumnSpan]
    for n, fine_item in zip(others, _passes_records(classes, kind, [items[n] for n in others]), strict=True):
        out[n] = within[n] and fine_item
    return out


def _fine_columns(columns: AnnotationColumns, classes: set[str], kind: str) -> np.ndarray:
    """Problems before each position of the columns (a cumulative count, one longer than the columns)."""
    label_fine = np.array([name in classes for name in columns.labels] or [False], dtype=bool)
    kind_fine = np.array([k == kind for k in columns.kinds] or [False], dtype=bool)
    fine = label_fine[columns.label] & kind_fine[columns.kind] & _in_image(columns.box)
    return np.concatenate(([0], np.cumsum(~fine)))


def _in_image(boxes: np.ndarray) -> np.ndarray:
    """Per (x, y, w, h) row: finite, a positive size, wholly inside the image (NaN: not fine)."""
    x, y, w, h = boxes.T
    with np.errstate(invalid="ignore"):  # NaN compares False: such a box is not fine
        return np.isfinite(boxes).all(axis=1) & (w > 0) & (h > 0) & (x >= 0) & (y >= 0) & (x + w <= 1) & (  # type: ignore[no-any-return]
            y + h <= 1)


def _passes_records(classes: set[str], kind: str, items: Sequence[Sequence[AnnotationRecord]]) -> list[bool]:
    counts = np.fromiter((len(a) for a in items), dtype=np.int64, count=len(items))
    records = list(itertools.chain.from_iterable(items))
    fine = np.fromiter((_meta_fine(a, classes, kind) for a in records), dtype=bool, count=len(records))
    try:
        boxes = np.fromiter(itertools.chain.from_iterable(a[2] if type(a[2]) is tuple and len(a[2]) == 4
                                                          else _NAN_BOX for a in records),
                            dtype=np.float64, count=4 * len(records)).reshape(-1, 4)
    except (TypeError, ValueError):  # something that is not a number: validate names it
        return [False] * len(items)
    fine &= _in_image(boxes)
    bad_before = np.concatenate(([0], np.cumsum(~fine)))
    ends = np.cumsum(counts)
    return (bad_before[ends] == bad_before[ends - counts]).tolist()  # type: ignore[no-any-return]
