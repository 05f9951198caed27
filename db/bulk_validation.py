"""Validation of a whole import's annotations at once: which items label_plans.validate would pass unchanged,
worked out with numpy over every box in one go, so that only the items it would clamp or refuse go through it one
by one (and get its exact message). The rules are validate's; tests/test_bulk_validation.py compares the two."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from db.label_plans import KIND_FOR_TASK
from db.models import Project
from db.records import AnnotationRecord

_NAN_BOX = (math.nan, math.nan, math.nan, math.nan)


def _meta_fine(a: AnnotationRecord, classes: set[str], kind: str) -> bool:
    c = a[3]
    return a[0] in classes and a[1] == kind and type(a[2]) is tuple and (c is None or 0 <= c <= 1)


def passes_unchanged(project: Project, items: Sequence[Sequence[AnnotationRecord]]) -> list[bool]:
    """For each item's annotations: True when validate(project, them) would return them as they are. False means
    only "look at this one": validate decides, clamping or refusing."""
    kind = KIND_FOR_TASK[project.task_type]
    if kind != "BBOX":  # one label per image: validate itself is as quick
        return [False] * len(items)
    classes = set(project.classes)
    counts = np.fromiter((len(a) for a in items), dtype=np.int64, count=len(items))
    records = list(itertools.chain.from_iterable(items))
    fine = np.fromiter((_meta_fine(a, classes, kind) for a in records), dtype=bool, count=len(records))
    try:
        boxes = np.fromiter(itertools.chain.from_iterable(a[2] if type(a[2]) is tuple and len(a[2]) == 4
                                                          else _NAN_BOX for a in records),
                            dtype=np.float64, count=4 * len(records)).reshape(-1, 4)
    except (TypeError, ValueError):  # something that is not a number: validate names it
        return [False] * len(items)
    x, y, w, h = boxes.T
    with np.errstate(invalid="ignore"):  # NaN compares False: such a box is not fine
        fine &= np.isfinite(boxes).all(axis=1) & (w > 0) & (h > 0) & (x >= 0) & (y >= 0) & (x + w <= 1) & (
            y + h <= 1)
    bad_before = np.concatenate(([0], np.cumsum(~fine)))
    ends = np.cumsum(counts)
    return (bad_before[ends] == bad_before[ends - counts]).tolist()  # type: ignore[no-any-return]
