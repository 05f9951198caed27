"""Labelling through GraphQL: saves, validation with the offending index, conflicts, history, stats, drafts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from db import labels
from db.records import AnnotationRecord
from tests.conftest import create_project, gql, gql_error, make_images, wait_for_job

SAVE = """mutation($id: ID!, $a: [AnnotationInput!]!, $empty: Boolean, $v: Int) {
  saveAnnotations(sampleId: $id, annotations: $a, allowEmpty: $empty, expectedVersion: $v) {
    id status version labeledBy annotations { label kind box { x y w h } isDraft createdBy } } }"""
CLASSIFY = """mutation($id: ID!, $labels: [String!]!, $v: Int) { setClassification(sampleId: $id, labels: $labels,
  expectedVersion: $v) { id status version annotations { label kind } } }"""
SAMPLE = """query($id: ID!) { sample(id: $id) { id status version lockedBy annotations { label box { x y w h } }
  history { action label box { x } labelBefore actor } } }"""
STATS = """query($id: ID!) { project(id: $id) { stats { total unlabeled preLabeled labeled skipped
  perUser { user labeled skipped annotations } perClass { label count } velocity { day count }
  estimatedCompletion } } }"""


def box(label: str, x: float = 0.1, y: float = 0.1, w: float = 0.2, h: float = 0.2) -> dict[str, Any]:
    return {"label": label, "kind": "BBOX", "box": {"x": x, "y": y, "w": w, "h": h}}


def _project(client: TestClient, images_dir: Path, task: str = "DETECTION", n: int = 3, **kw: Any) -> tuple[str, list]:
    make_images(images_dir, [f"{i}.jpg" for i in range(n)], size=(8, 8))
    p = create_project(client, task=task, **kw)
    edges = gql(client, "query($id: ID!){ project(id: $id){ samples { edges { node { id version } } } } }",
                id=p["id"])["project"]["samples"]["edges"]
    return p["id"], [e["node"]["id"] for e in edges]


def test_save_boxes_history_and_stats(client: TestClient, images_dir: Path) -> None:
    pid, ids = _project(client, images_dir)
    saved = gql(client, SAVE, id=ids[0], a=[box("cat"), box("dog", 0.5, 0.5, 0.5, 0.5)], v=1)["saveAnnotations"]
    assert saved["status"] == "LABELED" and saved["version"] == 2 and saved["labeledBy"] == "alice"
    assert [a["label"] for a in saved["annotations"]] == ["cat", "dog"]
    moved = gql(client, SAVE, id=ids[0], a=[box("cat", 0.2), box("dog", 0.5, 0.5, 0.5, 0.5)], v=2)["saveAnnotations"]
    assert moved["version"] == 3 and len(moved["annotations"]) == 2  # replaced, never duplicated
    history = gql(client, SAMPLE, id=ids[0])["sample"]["history"]
    assert [(h["action"], h["label"]) for h in history] == [("replace", "cat"), ("create", "dog"), ("create", "cat")]
    assert history[0]["box"]["x"] == 0.2 and history[0]["actor"] == "alice"
    gql(client, SAVE, id=ids[1], a=[], empty=True)  # "no objects": a labelled negative
    stats = gql(client, STATS, id=pid)["project"]["stats"]
    assert (stats["total"], stats["labeled"], stats["unlabeled"]) == (3, 2, 1)
    assert stats["perUser"] == [{"user": "alice", "labeled": 2, "skipped": 0, "annotations": 2}]
    assert stats["perClass"] == [{"label": "cat", "count": 1}, {"label": "dog", "count": 1}]
    assert len(stats["velocity"]) == 30 and stats["velocity"][-1]["count"] == 2
    assert stats["estimatedCompletion"] is not None


def test_validation_names_the_index_and_changes_nothing(client: TestClient, images_dir: Path) -> None:
    _, ids = _project(client, images_dir)
    cases = [
        ([box("cat"), box("bird")], "Annotation 1", "not one of the project's classes"),
        ([{"label": "cat", "kind": "CLASSIFICATION"}], "Annotation 0", "BBOX"),
        ([box("cat"), box("cat", x=0.9, w=0.2)], "Annotation 1", "leaves the image"),
        ([box("cat", w=0)], "Annotation 0", "positive"),
        ([box("cat", x=-0.5)], "Annotation 0", "leaves the image"),
        ([{"label": "cat", "kind": "BBOX"}], "Annotation 0", "needs a box"),
        ([], "", "allowEmpty"),
    ]
    for given, where, needle in cases:
        err = gql_error(client, SAVE, id=ids[0], a=given)
        assert err["extensions"]["code"] == "VALIDATION" and where in err["message"] and needle in err["message"]
    # NaN cannot even be written in JSON; a huge number is caught as out of the image
    err = gql_error(client, SAVE, id=ids[0], a=[box("cat", x=1e308)])
    assert err["extensions"]["code"] == "VALIDATION"
    sample = gql(client, SAMPLE, id=ids[0])["sample"]
    assert sample["status"] == "UNLABELED" and sample["version"] == 1 and sample["history"] == []
    assert gql_error(client, SAVE, id="999999", a=[box("cat")])["extensions"]["code"] == "NOT_FOUND"


def test_stale_version_is_a_conflict_and_writes_nothing(client: TestClient, images_dir: Path) -> None:
    _, ids = _project(client, images_dir)
    gql(client, SAVE, id=ids[0], a=[box("cat")], v=1)
    err = gql_error(client, SAVE, id=ids[0], a=[box("dog")], v=1)
    assert err["extensions"]["code"] == "CONFLICT"
    assert err["extensions"]["currentVersion"] == 2 and err["extensions"]["changedBy"] == "alice"
    assert [a["label"] for a in gql(client, SAMPLE, id=ids[0])["sample"]["annotations"]] == ["cat"]
    assert gql_error(client, "mutation($id: ID!){ skipSample(sampleId: $id, expectedVersion: 1){ id } }",
                     id=ids[0])["extensions"]["code"] == "CONFLICT"


def test_classification_single_and_multi_label(client: TestClient, images_dir: Path) -> None:
    _, ids = _project(client, images_dir, task="CLASSIFICATION")
    first = gql(client, CLASSIFY, id=ids[0], labels=["cat"])["setClassification"]
    again = gql(client, CLASSIFY, id=ids[0], labels=["dog"], v=first["version"])["setClassification"]
    assert [a["label"] for a in again["annotations"]] == ["dog"]  # relabel leaves no second row
    assert gql(client, SAMPLE, id=ids[0])["sample"]["history"][0]["labelBefore"] == "cat"
    err = gql_error(client, CLASSIFY, id=ids[0], labels=["cat", "dog"])
    assert err["extensions"]["code"] == "VALIDATION" and "multi-label" in err["message"]
    assert gql_error(client, CLASSIFY, id=ids[0], labels=[])["extensions"]["code"] == "VALIDATION"
    assert gql_error(client, SAVE, id=ids[1], a=[box("cat")])["extensions"]["code"] == "VALIDATION"


def test_multi_label_accepts_several_and_none(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg"], size=(8, 8))
    p = gql(client, """mutation { createProject(input: {name: "M", taskType: CLASSIFICATION, multiLabel: true,
        classes: ["cat", "dog"], sourceVolume: "/Volumes/test/cvx/images"}) { id } }""")["createProject"]
    wait_for_job(client, gql(client, "query($p: ID!){ jobs(projectId: $p){ id } }", p=p["id"])["jobs"][0]["id"])
    q = "query($id: ID!){ project(id: $id){ samples { edges { node { id } } } } }"
    ids = [e["node"]["id"] for e in gql(client, q, id=p["id"])["project"]["samples"]["edges"]]
    both = gql(client, CLASSIFY, id=ids[0], labels=["cat", "dog"])["setClassification"]
    assert sorted(a["label"] for a in both["annotations"]) == ["cat", "dog"] and both["status"] == "LABELED"
    none = gql(client, CLASSIFY, id=ids[1], labels=[])["setClassification"]
    assert none["annotations"] == [] and none["status"] == "LABELED"
    assert gql_error(client, CLASSIFY, id=ids[0], labels=["cat", "cat"])["extensions"]["code"] == "VALIDATION"


def test_claim_skip_and_release(client: TestClient, images_dir: Path) -> None:
    pid, ids = _project(client, images_dir)
    claim = "mutation($p: ID!){ claimNextSample(projectId: $p){ id lockedBy } }"
    first = gql(client, claim, p=pid)["claimNextSample"]
    assert first == {"id": ids[0], "lockedBy": "alice"}
    assert gql(client, claim, p=pid)["claimNextSample"]["id"] == ids[0]  # asking again: my own lease back
    skipped = gql(client, "mutation($id: ID!){ skipSample(sampleId: $id){ status lockedBy } }", id=ids[0])
    assert skipped["skipSample"] == {"status": "SKIPPED", "lockedBy": None}
    assert gql(client, claim, p=pid)["claimNextSample"]["id"] == ids[1]
    gql(client, SAVE, id=ids[1], a=[box("cat")])
    assert gql(client, claim, p=pid)["claimNextSample"]["id"] == ids[2]
    gql(client, SAVE, id=ids[2], a=[], empty=True)
    assert gql(client, claim, p=pid)["claimNextSample"] is None
    stats = gql(client, STATS, id=pid)["project"]["stats"]
    assert (stats["skipped"], stats["labeled"], stats["perUser"][0]["skipped"]) == (1, 2, 1)
    # Saving a skipped sample labels it.
    assert gql(client, SAVE, id=ids[0], a=[box("dog")])["saveAnnotations"]["status"] == "LABELED"
    assert gql_error(client, claim, p="4242")["extensions"]["code"] == "NOT_FOUND"


def test_drafts_accept_and_clear(client: TestClient, images_dir: Path) -> None:
    pid, ids = _project(client, images_dir)

    async def predict() -> None:
        for sid in ids[:2]:
            await labels.replace_drafts(client.app.state.services.db, int(sid),
                                        [AnnotationRecord("cat", "BBOX", (0.1, 0.1, 0.3, 0.3), 0.9)], "model:yolo")

    client.portal.call(predict)
    client.portal.call(predict)  # re-running a model replaces its drafts, never duplicates
    s0 = gql(client, SAMPLE, id=ids[0])["sample"]
    assert s0["status"] == "PRE_LABELED" and len(s0["annotations"]) == 1
    stats = gql(client, STATS, id=pid)["project"]["stats"]
    assert stats["preLabeled"] == 2 and stats["perClass"][0]["count"] == 0  # drafts excluded
    n = gql(client, "mutation($ids: [ID!]!){ acceptDrafts(sampleIds: $ids) }", ids=[ids[0]])["acceptDrafts"]
    assert n == 1 and gql(client, SAMPLE, id=ids[0])["sample"]["status"] == "LABELED"
    n = gql(client, "mutation($ids: [ID!]!){ clearDrafts(sampleIds: $ids) }", ids=[ids[1]])["clearDrafts"]
    assert n == 1 and gql(client, SAMPLE, id=ids[1])["sample"]["status"] == "UNLABELED"
    stats = gql(client, STATS, id=pid)["project"]["stats"]
    assert (stats["labeled"], stats["preLabeled"], stats["perClass"][0]["count"]) == (1, 0, 1)
    assert stats["perUser"] == [{"user": "alice", "labeled": 1, "skipped": 0, "annotations": 1}]


async def test_a_save_reads_back_through_sqlalchemy_as_it_was_planned(db) -> None:  # type: ignore[no-untyped-def]
    """The fast paths (db.labels_pg, db.labels_sqlite) write without SQLAlchemy; everything else reads with it."""
    from db.models import Annotation, AnnotationEvent, Sample
    from tests.conftest import seed_project

    _, ids = await seed_project(db, 1)
    box = (0.1, 0.2, 1 / 3, 0.4)
    drafted = await labels.replace_drafts(db, ids[0], [AnnotationRecord("dog", "BBOX", box, 0.25)], "model:m")
    saved = await labels.save_annotations(db, ids[0], [AnnotationRecord("cat", "BBOX", box)], "ann",
                                          allow_empty=False, expected_version=drafted.sample.version)

    def read(s: Any) -> tuple[Sample, list[Annotation], list[AnnotationEvent]]:
        return (s.get(Sample, ids[0]), list(s.query(Annotation).filter_by(sample_id=ids[0])),
                list(s.query(AnnotationEvent).filter_by(sample_id=ids[0]).order_by(AnnotationEvent.id)))

    sample, rows, events = await db.read(read)
    planned = saved.sample
    for column in ("status", "version", "labeled_by", "labeled_at", "updated_by", "updated_at", "no_objects",
                   "min_confidence", "lock_expires_at", "review_status"):
        assert getattr(sample, column) == getattr(planned, column), column
    assert sample.updated_at.tzinfo is not None and sample.no_objects is False
    [row] = rows
    [returned] = saved.annotations
    assert (row.id, row.label, (row.x, row.y, row.w, row.h), row.is_draft, row.created_by, row.created_at) == \
        (returned.id, "cat", box, False, "ann", returned.created_at)
    assert [(e.action, e.label_before, e.box_before, e.label_after, e.box_after, e.actor) for e in events] == [
        ("draft", None, None, "dog", list(box), "model:m"),
        ("replace", "dog", list(box), "cat", list(box), "ann")]
