"""The planning half of a label change, property-tested without a database against a plain statement of what a
change must do (db/label_plans.py): the status rule, the version, the review reset, the history and the counters."""

from __future__ import annotations

import typing
from collections import Counter
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from db import counters
from db.box_nesting import has_nested
from db.change_rows import SAMPLE_STATE
from db.label_plans import Loaded, box_of, diff_events, plan_change, same_annotations, status_for
from db.models import Annotation, Project
from db.records import AnnotationRecord
from db.sample_state import SampleState

LABELS = ("cat", "dog")
BOXES = [(0.1, 0.1, 0.2, 0.2), (0.5, 0.5, 0.3, 0.3), (0.0, 0.0, 1.0, 1.0)]
annotation = st.builds(lambda label, box, draft, author: (label, box, draft, author), st.sampled_from(LABELS),
                       st.sampled_from(BOXES), st.booleans(), st.sampled_from(["alice", "model:m"]))


def _state(status: str, version: int, review: str, labeled_by: str | None) -> SampleState:
    values = dict.fromkeys(SAMPLE_STATE)
    values.update(id=7, project_id=1, path="/Volumes/c/s/v/a.jpg", filename="a.jpg", status=status, version=version,
                  no_objects=False, review_status=review, labeled_by=labeled_by,
                  labeled_at=datetime(2026, 1, 1, tzinfo=UTC) if labeled_by else None)
    return SampleState.of_columns(values)


def _nested(boxes: list) -> bool:
    """One box wholly inside another of its class (the same box twice too): SQL's comparison, pair by pair."""
    return any(i != j and la == lb and a[0] >= b[0] and a[1] >= b[1] and a[0] + a[2] <= b[0] + b[2]
               and a[1] + a[3] <= b[1] + b[3] for i, (la, a) in enumerate(boxes) for j, (lb, b) in enumerate(boxes))


def _stored(rows: list[tuple[str, tuple[float, ...], bool, str]]) -> list[Annotation]:
    return [Annotation(id=i + 1, sample_id=7, project_id=1, label=label, kind="BBOX", x=b[0], y=b[1], w=b[2], h=b[3],
                       confidence=0.5 if draft else None, is_draft=draft, created_by=author)
            for i, (label, b, draft, author) in enumerate(rows)]


def test_sample_state_declares_exactly_the_columns_it_copies() -> None:
    assert tuple(typing.get_type_hints(SampleState, globals(), {"datetime": datetime})) == SAMPLE_STATE


@settings(max_examples=150, deadline=None)
@given(old=st.lists(annotation, max_size=4), new=st.lists(annotation, max_size=4), remove_all=st.booleans(),
       skipped=st.sampled_from([None, True, False]), status=st.sampled_from(["UNLABELED", "LABELED", "SKIPPED"]),
       review=st.sampled_from(["NONE", "ACCEPTED", "REJECTED"]))
def test_a_planned_change_follows_the_rules(old: list, new: list, remove_all: bool, skipped: bool | None,
                                            status: str, review: str) -> None:
    stored = _stored(old)
    before = _state(status, 3, review, "bob" if status == "LABELED" else None)
    before.min_confidence = 0.5 if any(a.is_draft for a in stored) else None  # its drafts' confidence
    before.nested_boxes = _nested([(a.label, box_of(a)) for a in stored if not a.is_draft])
    before.box_count = len([a for a in stored if not a.is_draft])
    before.min_box_w = min((a.w for a in stored if not a.is_draft), default=None)
    before.min_box_h = min((a.h for a in stored if not a.is_draft), default=None)
    project = Project(id=1, task_type="DETECTION", classes=list(LABELS), multi_label=False)
    add = [AnnotationRecord(label, "BBOX", box, 0.25 if draft else None, draft, author)  # a new draft moves it
           for label, box, draft, author in new]
    remove = stored if remove_all else []
    change = plan_change(Loaded(project, before, stored), "carol", expected_version=3, remove=remove, add=add,
                         skipped=skipped)

    # the plain model of what the sample holds afterwards
    remaining = [a for a in stored if not remove_all] + add
    drafts = [a for a in remaining if a.is_draft]
    was_skipped = status == "SKIPPED" if skipped is None else skipped
    expected = status_for(skipped=was_skipped, has_draft=bool(drafts), has_confirmed=len(remaining) > len(drafts),
                          no_objects=False)
    after = change.sample
    assert after.status == expected and after.version == 4 and change.read_version == 3
    assert after.review_status == "NONE" and after.reviewed_by is None  # changed labels need a new review
    assert (after.labeled_by is not None) == (expected == "LABELED")
    assert after.min_confidence == (min(a.confidence for a in drafts) if drafts else None)
    assert after.nested_boxes == _nested([(a.label, box_of(a)) for a in remaining if not a.is_draft])
    assert after.box_count == len([a for a in remaining if not a.is_draft])
    confirmed = [box_of(a) for a in remaining if not a.is_draft]
    assert (after.min_box_w, after.min_box_h) == (min((b[2] for b in confirmed), default=None),
                                                   min((b[3] for b in confirmed), default=None))
    assert sorted(change.remove_ids) == sorted(a.id for a in remove)
    # counters move by exactly what left and what came: the sample's keys, and confirmed rows by author and class
    want: Counter[tuple[str, str]] = Counter()
    for key in counters.sample_keys(before):
        want[key] -= 1
    for key in counters.sample_keys(after):
        want[key] += 1
    for a, sign in [(a, -1) for a in remove if not a.is_draft] + [(a, +1) for a in add if not a.is_draft]:
        want[(counters.ANNOTATIONS_BY, a.created_by or "carol")] += sign
        want[(counters.CLASS, a.label)] += sign
    # and the classes the sample holds a confirmed box of (the gallery's label total): those it gained or lost
    held_before = {a.label for a in stored if not a.is_draft}
    held_after = {a.label for a in remaining if not a.is_draft}
    for label in held_after - held_before:
        want[(counters.SAMPLE_CLASS, label)] += 1
    for label in held_before - held_after:
        want[(counters.SAMPLE_CLASS, label)] -= 1
    assert +change.deltas == +want and -change.deltas == -want
    # the classes of a sample with a draft's confidence, kept with that confidence (least confident first with a
    # label: db.drafted_labels): rewritten exactly when the classes or the confidence move, else left alone
    drafted_before = (held_before, before.min_confidence) if before.min_confidence is not None else (set(), None)
    drafted_after = (held_after, after.min_confidence) if after.min_confidence is not None else (set(), None)
    if drafted_before == drafted_after or not (drafted_before[0] or drafted_after[0]):
        assert change.drafted is None
    else:
        assert change.drafted == tuple(sorted(drafted_after[0]))


@settings(max_examples=150, deadline=None)
@given(old=st.lists(annotation, max_size=4), new=st.lists(annotation, max_size=4))
def test_history_pairs_up_a_replacement_and_same_annotations_ignores_order(old: list, new: list) -> None:
    stored = _stored([(label, box, False, author) for label, box, _, author in old])
    add = [AnnotationRecord(label, "BBOX", box) for label, box, _, _ in new]
    events = diff_events(stored, add)
    before = Counter((a.label, tuple(box_of(a) or ())) for a in stored)
    after = Counter((a.label, tuple(box_of(a) or ())) for a in add)
    # every change is one event: a row that stays says nothing, a replaced row is one 'replace', not delete + create
    changed = sum((before - after).values()), sum((after - before).values())
    assert len(events) == max(changed)
    assert sum(e[0] == "replace" for e in events) == min(changed)
    assert same_annotations(stored, add) == (before == after)
    assert same_annotations(stored, list(reversed(add))) == (before == after)


box = st.tuples(*(st.sampled_from([0.0, 0.1, 0.25, 0.5]),) * 2, *(st.sampled_from([0.1, 0.25, 0.5]),) * 2)


@settings(max_examples=100, deadline=None)
@given(boxes=st.lists(st.tuples(st.sampled_from(LABELS), box), min_size=0, max_size=120))
def test_nested_boxes_are_found_alike_by_the_loop_and_by_numpy(boxes: list) -> None:
    """Many boxes of one class are compared by numpy, few by a loop: both find exactly the pairs SQL finds."""
    assert has_nested(boxes) == _nested(boxes)
    distinct = list(dict.fromkeys(boxes))  # no box twice: nesting only where one box really holds another
    assert has_nested(distinct) == _nested(distinct)


def test_many_boxes_of_one_class_none_inside_another() -> None:
    grid = [("cat", (0.1 * (i % 10), 0.1 * (i // 10), 0.1, 0.1)) for i in range(100)]  # tiles: none holds another
    overlapping = [("cat", (0.01 * i, 0.0, 0.5, 0.5 + 0.004 * i)) for i in range(100)]  # each further right, taller
    assert not has_nested(grid) and not _nested(grid)
    assert not has_nested(overlapping) and not _nested(overlapping)
    assert has_nested([*overlapping, ("cat", (0.3, 0.1, 0.1, 0.1))])  # one inside the others
    assert not has_nested([*overlapping, ("dog", (0.3, 0.1, 0.1, 0.1))])  # ... but of another class
