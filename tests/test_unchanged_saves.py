"""A save that changes nothing is not a change: same version, no history row, the review kept, no event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from tests.conftest import create_project, gql, make_images

SAVE = """mutation($id: ID!, $a: [AnnotationInput!]!, $empty: Boolean, $v: Int) {
  saveAnnotations(sampleId: $id, annotations: $a, allowEmpty: $empty, expectedVersion: $v) {
    version status reviewStatus labeledBy annotations { label box { x y w h } } } }"""
CLASSIFY = """mutation($id: ID!, $labels: [String!]!, $v: Int) { setClassification(sampleId: $id, labels: $labels,
  expectedVersion: $v) { version status reviewStatus annotations { label } } }"""
REVIEW = """mutation($id: ID!, $accept: Boolean!, $v: Int) { reviewSample(sampleId: $id, accept: $accept,
  comment: "look again", expectedVersion: $v) { version reviewStatus } }"""
SKIP = "mutation($id: ID!) { skipSample(sampleId: $id) { version status } }"
SAMPLE = """query($id: ID!) { sample(id: $id) { version status reviewStatus reviewedBy
  history { action label labelBefore } } }"""


def box(label: str, x: float = 0.1, y: float = 0.1, w: float = 0.2, h: float = 0.2) -> dict[str, Any]:
    return {"label": label, "kind": "BBOX", "box": {"x": x, "y": y, "w": w, "h": h}}


def _ids(client: TestClient, images_dir: Path, task: str, **kw: Any) -> list[str]:
    make_images(images_dir, ["a.jpg", "b.jpg", "c.jpg"], size=(8, 8))
    p = create_project(client, task=task, **kw)
    edges = gql(client, "query($id: ID!){ project(id: $id){ samples { edges { node { id } } } } }",
                id=p["id"])["project"]["samples"]["edges"]
    return [e["node"]["id"] for e in edges]


def _accepted(client: TestClient, sid: str) -> dict[str, Any]:
    version = gql(client, SAMPLE, id=sid)["sample"]["version"]
    reviewed = gql(client, REVIEW, id=sid, accept=True, v=version)["reviewSample"]
    assert reviewed["reviewStatus"] == "ACCEPTED"
    return gql(client, SAMPLE, id=sid)["sample"]


def test_resaving_the_same_boxes_changes_nothing(client: TestClient, images_dir: Path) -> None:
    sid = _ids(client, images_dir, "DETECTION")[0]
    gql(client, SAVE, id=sid, a=[box("cat"), box("dog", 0.5, 0.5, 0.4, 0.4)], v=1)
    before = _accepted(client, sid)
    # other order, float noise far below a pixel: the same boxes
    same = [box("dog", 0.5 + 1e-12, 0.5, 0.4, 0.4 - 1e-12), box("cat")]
    saved = gql(client, SAVE, id=sid, a=same, v=before["version"])["saveAnnotations"]
    assert (saved["version"], saved["reviewStatus"]) == (before["version"], "ACCEPTED")
    assert gql(client, SAMPLE, id=sid)["sample"] == before  # no history row, the review kept
    # a box of another class at the same place, or a box moved by 1e-6, is a change
    moved = gql(client, SAVE, id=sid, a=[box("cat"), box("dog", 0.5 + 1e-6, 0.5, 0.4, 0.4)])["saveAnnotations"]
    assert (moved["version"], moved["reviewStatus"]) == (before["version"] + 1, "NONE")
    relabelled = gql(client, SAVE, id=sid, a=[box("dog"), box("dog", 0.5 + 1e-6, 0.5, 0.4, 0.4)])
    assert relabelled["saveAnnotations"]["version"] == before["version"] + 2


def test_resaving_no_objects_changes_nothing(client: TestClient, images_dir: Path) -> None:
    sid = _ids(client, images_dir, "DETECTION")[0]
    gql(client, SAVE, id=sid, a=[], empty=True)
    before = _accepted(client, sid)
    assert gql(client, SAVE, id=sid, a=[], empty=True)["saveAnnotations"]["version"] == before["version"]
    assert gql(client, SAMPLE, id=sid)["sample"] == before


def test_reclassifying_with_the_same_labels_changes_nothing(client: TestClient, images_dir: Path) -> None:
    ids = _ids(client, images_dir, "CLASSIFICATION")
    gql(client, CLASSIFY, id=ids[0], labels=["cat"])
    before = _accepted(client, ids[0])
    assert gql(client, CLASSIFY, id=ids[0], labels=["cat"], v=before["version"])["setClassification"] == {
        "version": before["version"], "status": "LABELED", "reviewStatus": "ACCEPTED",
        "annotations": [{"label": "cat"}]}
    assert gql(client, SAMPLE, id=ids[0])["sample"] == before


def test_multi_label_order_does_not_matter(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg"], size=(8, 8))
    p = gql(client, """mutation { createProject(input: {name: "M", taskType: CLASSIFICATION, multiLabel: true,
      classes: ["cat", "dog", "car"], sourceVolume: "/Volumes/test/cvx/images"}) { id } }""")["createProject"]
    from tests.conftest import wait_for_job
    job = gql(client, "query($p: ID!){ jobs(projectId: $p){ id } }", p=p["id"])["jobs"][0]
    wait_for_job(client, job["id"])
    sid = gql(client, "query($id: ID!){ project(id: $id){ samples { edges { node { id } } } } }",
              id=p["id"])["project"]["samples"]["edges"][0]["node"]["id"]
    gql(client, CLASSIFY, id=sid, labels=["cat", "dog"])
    before = _accepted(client, sid)
    assert gql(client, CLASSIFY, id=sid, labels=["dog", "cat"])["setClassification"]["version"] == before["version"]
    assert gql(client, SAMPLE, id=sid)["sample"] == before
    gql(client, CLASSIFY, id=sid, labels=[])  # "none of these" is a change ...
    none = gql(client, SAMPLE, id=sid)["sample"]
    assert none["version"] == before["version"] + 1 and none["reviewStatus"] == "NONE"
    gql(client, CLASSIFY, id=sid, labels=[])  # ... once
    assert gql(client, SAMPLE, id=sid)["sample"] == none


def test_a_rejected_sample_resubmitted_unchanged_goes_back_to_review(client: TestClient, images_dir: Path) -> None:
    """The reviewer asked for another look: saving it again, even unchanged, is the labeller's answer."""
    sid = _ids(client, images_dir, "CLASSIFICATION")[0]
    gql(client, CLASSIFY, id=sid, labels=["cat"])
    gql(client, REVIEW, id=sid, accept=False, v=2)
    saved = gql(client, CLASSIFY, id=sid, labels=["cat"], v=3)["setClassification"]
    assert (saved["version"], saved["reviewStatus"]) == (4, "NONE")
    history = gql(client, SAMPLE, id=sid)["sample"]["history"]
    assert history[0] == {"action": "confirm", "label": "cat", "labelBefore": "cat"}


def test_saving_a_skipped_sample_unchanged_labels_it_with_a_history_row(client: TestClient,
                                                                         images_dir: Path) -> None:
    sid = _ids(client, images_dir, "DETECTION")[0]
    gql(client, SAVE, id=sid, a=[box("cat")])
    gql(client, SKIP, id=sid)
    saved = gql(client, SAVE, id=sid, a=[box("cat")])["saveAnnotations"]
    assert (saved["version"], saved["status"]) == (4, "LABELED")
    assert gql(client, SAMPLE, id=sid)["sample"]["history"][0]["action"] == "confirm"


def test_skipping_a_skipped_sample_changes_nothing(client: TestClient, images_dir: Path) -> None:
    sid = _ids(client, images_dir, "DETECTION")[0]
    gql(client, SAVE, id=sid, a=[box("cat")])
    first = gql(client, SKIP, id=sid)["skipSample"]
    again = gql(client, SKIP, id=sid)["skipSample"]
    assert again == first == {"version": 3, "status": "SKIPPED"}
    assert [h["action"] for h in gql(client, SAMPLE, id=sid)["sample"]["history"]].count("skip") == 1
