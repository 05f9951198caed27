"""db.import_plans against label_plans.plan_change: on random batches of empty samples (every status, reviews,
locks, an empty save's no_objects) and random box columns (nested, identical, touching, many of one class), the
batch plan gives each sample the state, the change and, summed, the counter deltas that plan_change gives it."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest

from db.annotation_columns import AnnotationColumns
from db.import_plans import plan_new_boxes
from db.label_plans import Loaded, plan_change
from db.models import Project
from db.sample_state import SampleState

LABELS = ["cat", "dog", "car"]
WHEN = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _sample(rng: random.Random, k: int) -> SampleState:
    s = SampleState.__new__(SampleState)
    for c in SampleState.__slots__:
        setattr(s, c, None)
    status = rng.choice(["UNLABELED", "UNLABELED", "SKIPPED", "LABELED"])
    s.id, s.project_id, s.filename, s.path, s.status, s.version = k + 1, 1, f"{k}.jpg", f"/v/{k}.jpg", status, k % 5
    s.no_objects = status == "LABELED"  # labelled empty: no annotations
    s.skipped_by = "bob" if status == "SKIPPED" else None
    s.labeled_by, s.labeled_at = ("carol", WHEN) if status == "LABELED" else (None, None)
    s.review_status = rng.choice(["NONE", "ACCEPTED", "REJECTED"]) if status == "LABELED" else "NONE"
    s.locked_by, s.lock_expires_at = ("dan", WHEN) if rng.random() < 0.2 else (None, None)
    s.nested_boxes, s.box_count = False, 0
    return s


def _box(rng: random.Random) -> list[float]:
    x, y = rng.choice([0.0, 0.25, 0.5, rng.random() / 2]), rng.choice([0.0, 0.25, rng.random() / 2])
    w = rng.choice([0.5, 0.25, 0.1, rng.random() / 2 + 1e-3])
    return [x, y, w, rng.choice([0.5, 0.25, rng.random() / 2 + 1e-3])]


@pytest.mark.parametrize("seed", range(6))
def test_a_batch_plans_what_plan_change_plans_one_by_one(seed: int) -> None:
    rng = random.Random(seed)
    project = Project(id=1, task_type="DETECTION", classes=LABELS, multi_label=False)
    lengths = [rng.choice([1, 1, 2, 3, 5, 8] + [60] * (k == 3)) for k in range(rng.randint(1, 300))]
    n = sum(lengths)
    columns = AnnotationColumns(LABELS, ["BBOX"], np.repeat(np.arange(len(lengths)), lengths),
                                np.array([rng.choice([0, 0, 1, 2]) for _ in range(n)], dtype=np.int32),
                                np.zeros(n, dtype=np.int8), np.array([_box(rng) for _ in range(n)]).reshape(-1, 4))
    spans = columns.spans(range(len(lengths)))
    samples = [_sample(rng, k) for k in range(len(spans))]
    made, deltas = plan_new_boxes(project, samples, spans, "alice")
    wanted: Counter[tuple[str, str]] = Counter()
    for sample, span, change in zip(samples, spans, made, strict=True):
        one = plan_change(Loaded(project, sample, []), "alice", expected_version=None, add=span, no_objects=False,
                          labelled_now=True)
        wanted.update(one.deltas)
        for c in SampleState.__slots__:
            if c not in ("updated_at", "labeled_at") or getattr(one.sample, c) is None:
                assert getattr(change.sample, c) == getattr(one.sample, c), c
        assert (change.read_version, change.expected_version, change.remove_ids, change.add, change.user) == (
            one.read_version, one.expected_version, one.remove_ids, one.add, one.user)
        assert change.sample.updated_at == change.now and sample.version == change.read_version
    assert {k: v for k, v in deltas.items() if v} == {k: v for k, v in wanted.items() if v}  # +c drops negatives
    assert any(c.sample.nested_boxes for c in made) and not all(c.sample.nested_boxes for c in made)


def test_a_nested_pair_far_apart_in_a_big_group_is_found() -> None:
    """100 boxes of one class, side by side, the last a copy of the first: further apart than the shifts compare."""
    project = Project(id=1, task_type="DETECTION", classes=LABELS, multi_label=False)
    boxes = [[k / 100, 0.0, 0.005, 0.5] for k in range(99)] + [[0.0, 0.0, 0.005, 0.5]]
    columns = AnnotationColumns(LABELS, ["BBOX"], np.zeros(100, dtype=np.int64), np.zeros(100, dtype=np.int32),
                                np.zeros(100, dtype=np.int8), np.array(boxes))
    apart = AnnotationColumns(LABELS, ["BBOX"], np.zeros(99, dtype=np.int64), np.zeros(99, dtype=np.int32),
                              np.zeros(99, dtype=np.int8), np.array(boxes[:99]))
    made, _ = plan_new_boxes(project, [_sample(random.Random(1), 0)], columns.spans([0]), "alice")
    alone, _ = plan_new_boxes(project, [_sample(random.Random(1), 0)], apart.spans([0]), "alice")
    assert made[0].sample.nested_boxes and not alone[0].sample.nested_boxes
