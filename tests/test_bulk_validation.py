"""db.bulk_validation against label_plans.validate: an item is passed as it is only when validate would return it
unchanged, on random boxes, labels, kinds and confidences around every edge of the rules."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from db.annotation_columns import AnnotationColumns, ColumnSpan
from db.bulk_validation import passes_unchanged
from db.errors import Invalid
from db.label_plans import MAX_ANNOTATIONS, validate
from db.models import Project
from db.records import AnnotationRecord

EDGES = [0.0, 1e-7, 0.25, 0.5, 0.999999, 1.0, 1.0000005, -1e-7, -0.5, 1.5, math.nan, math.inf]


def _record(rng: random.Random) -> AnnotationRecord:
    box: object = tuple(rng.choice(EDGES) if rng.random() < 0.2 else rng.uniform(0, 0.5) for _ in range(4))
    if rng.random() < 0.03:
        box = None
    elif rng.random() < 0.03:
        box = list(box)  # type: ignore[arg-type]
    confidence = rng.choice([None, None, 0.5, 1.0, 1.5, -0.1, math.nan])
    return AnnotationRecord(rng.choice(["car", "car", "bus", "tree"]), rng.choice(["BBOX"] * 20 + ["CLASSIFICATION"]),
                            box, confidence)  # type: ignore[arg-type]


def _validate_keeps(project: Project, records: list[AnnotationRecord]) -> bool:
    try:
        out = validate(project, records)
    except (Invalid, ValueError):
        return False
    return all(a is b for a, b in zip(out, records, strict=True))


def test_bulk_check_agrees_with_validate() -> None:
    project = Project(id=1, task_type="DETECTION", classes=["car", "bus"], multi_label=False)
    rng = random.Random(7)
    items = [[_record(rng) for _ in range(rng.choice([0, 1, 1, 2, 3]))] for _ in range(3000)]
    got = passes_unchanged(project, items)
    wanted = [_validate_keeps(project, it) for it in items]
    assert got == [w and g for w, g in zip(wanted, got, strict=True)]  # never passes what validate would change
    assert sum(got) == sum(wanted) > 300  # and passes everything validate keeps as it is


def test_classification_is_left_to_validate() -> None:
    project = Project(id=1, task_type="CLASSIFICATION", classes=["cat"], multi_label=False)
    assert passes_unchanged(project, [[AnnotationRecord("cat", "CLASSIFICATION")]]) == [False]


def test_items_held_as_columns_are_judged_as_their_records() -> None:
    """Plain COCO boxes arrive as ColumnSpans (db.annotation_columns): judged from the columns, the same answers as
    validate gives the records they hold, with items of records mixed in."""
    project = Project(id=1, task_type="DETECTION", classes=["car", "bus"], multi_label=False)
    rng = random.Random(11)
    labels, kinds = ["car", "tree", "bus"], ["BBOX", "CLASSIFICATION"]
    lengths = [rng.choice([0, 1, 2, 5]) for _ in range(2000)]
    n = sum(lengths)
    box = np.array([[rng.choice(EDGES) if rng.random() < 0.1 else rng.uniform(0, 0.5) for _ in range(4)]
                    for _ in range(n)], dtype=np.float64).reshape(-1, 4)
    columns = AnnotationColumns(labels, kinds, np.repeat(np.arange(len(lengths)), lengths),
                                np.array([rng.choice([0, 0, 1, 2]) for _ in range(n)], dtype=np.int32),
                                np.array([int(rng.random() < 0.02) for _ in range(n)], dtype=np.int8), box)
    spans = columns.spans(range(len(lengths)))
    items = [span if k % 3 else list(span) for k, span in enumerate(spans)]
    got = passes_unchanged(project, items)
    wanted = [_validate_keeps(project, list(it)) for it in items]
    assert got == wanted and sum(got) > 300 and sum(type(it) is ColumnSpan for it in items) > 1000


def test_more_annotations_than_a_sample_holds_are_left_to_validate_which_refuses_them() -> None:
    project = Project(id=1, task_type="DETECTION", classes=["car"], multi_label=False)
    boxes = [AnnotationRecord("car", "BBOX", (0.1, 0.1, 0.1, 0.1))] * (MAX_ANNOTATIONS + 1)
    assert passes_unchanged(project, [boxes, boxes[:MAX_ANNOTATIONS]]) == [False, True]
    with pytest.raises(Invalid, match="at most 10,000 annotations"):
        validate(project, boxes)
