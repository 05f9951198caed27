"""The COCO reader keeps plain boxes as columns (db.annotation_columns) and everything else as records: seeded random
files, with every kind of entry mixed in, read the same whichever path each annotation took. Annotations listed
before the images all take the record path, so each file is compared with itself reordered so; the categories stay
where they were, since where they are decides which message an unknown category gets."""

from __future__ import annotations

import io
import json
import random
from typing import Any

import pytest

from db.annotation_columns import ColumnSpan
from db.records import MAX_ERRORS_LISTED, AnnotationRecord
from jobs.formats import Limits, Parsed, coco

LIMITS = Limits()


def _bbox(rng: random.Random) -> Any:
    kind = rng.random()
    if kind < 0.55:
        return [round(rng.uniform(-5, 90), 3), round(rng.uniform(-5, 60), 3), round(rng.uniform(0, 40), 3),
                round(rng.uniform(0, 30), 3)]
    if kind < 0.75:
        return [rng.randint(0, 90), rng.randint(0, 60), rng.randint(1, 30), rng.uniform(1, 20)]
    return rng.choice([None, [], [1, 2, 3], [True, 1, 2, 3], ["1", 2, 3, 4], [10**400, 1, 2, 3], [1e308, 1e308, 1, 1],
                       "box"])


def _document(rng: random.Random) -> dict[str, Any]:
    images = []
    for k in range(rng.randint(0, 12)):
        image: dict[str, Any] = {"id": rng.choice([k, k, k, f"im{k}", 0]), "file_name": f"f{k}.jpg"}
        if rng.random() < 0.85:
            image.update(width=rng.choice([100, 80.5, 0]), height=rng.choice([60, 64.25]))
        images.append(image)
    annotations: list[Any] = []
    for n in range(rng.randint(0, 60)):
        entry: dict[str, Any] = {"id": rng.choice([n, n, n, "x"]), "image_id": rng.choice([0, 1, 2, 3, 5, 11, 40,
                                                                                             "im2", True]),
                                 "category_id": rng.choice([1, 2, 2, 3, 7, 2.0])}
        if (bbox := _bbox(rng)) is not None:
            entry["bbox"] = bbox
        annotations.append(entry if rng.random() < 0.97 else rng.choice([[], 3, "a"]))
    return {"images": images, "annotations": annotations,
            "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "cat"}]}


def _read(doc: dict[str, Any], order: list[str]) -> Parsed:
    return coco.read(io.BytesIO(json.dumps({key: doc[key] for key in order}).encode()), LIMITS)


def _seen(parsed: Parsed) -> tuple[Any, ...]:
    items = [(i.row, i.filename, tuple(i.annotations), i.size) for i in parsed.items]
    # found in another order; a bad entry read before the images cannot name its image (row 0)
    errors = sorted(e.reason for e in parsed.errors.listed())
    if parsed.errors.count > MAX_ERRORS_LISTED:  # which of the tied ones are kept depends on that order too
        errors = []
    return items, errors, parsed.errors.count, parsed.annotation_count


@pytest.mark.parametrize("categories_first", [False, True])
def test_plain_boxes_as_columns_read_as_the_records_would(categories_first: bool) -> None:
    rng = random.Random(18)
    took_columns = mixed = 0
    for _ in range(400):
        doc = _document(rng)
        head = ["categories"] if categories_first else []
        tail = [] if categories_first else ["categories"]
        columns = _read(doc, [*head, "images", "annotations", *tail])
        records = _read(doc, [*head, "annotations", "images", *tail])
        assert _seen(columns) == _seen(records)
        assert not any(type(i.annotations) is ColumnSpan for i in records.items)
        took_columns += sum(type(i.annotations) is ColumnSpan for i in columns.items)
        mixed += sum(type(i.annotations) is tuple and len(i.annotations) > 1 for i in columns.items)
    assert took_columns > 100 and mixed > 50  # both paths, and images with both kinds, were exercised


def test_a_plain_box_is_normalised_by_its_image_and_named_at_the_end() -> None:
    doc = {"images": [{"id": 7, "file_name": "a.jpg", "width": 200, "height": 100}],
           "annotations": [{"id": 1, "image_id": 7, "category_id": 2, "bbox": [20, 10.5, 50, 40]},
                           {"id": 2, "image_id": 7, "category_id": 1, "bbox": [0.0, 0.0, 200.0, 100.0]}],
           "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    parsed = _read(doc, ["images", "annotations", "categories"])
    [item] = parsed.items
    assert type(item.annotations) is ColumnSpan
    assert list(item.annotations) == [AnnotationRecord("dog", "BBOX", (0.1, 0.105, 0.25, 0.4)),
                                      AnnotationRecord("cat", "BBOX", (0.0, 0.0, 1.0, 1.0))]
    assert item.annotations[1] == AnnotationRecord("cat", "BBOX", (0.0, 0.0, 1.0, 1.0))
    assert parsed.annotation_count == 2 and not parsed.errors
