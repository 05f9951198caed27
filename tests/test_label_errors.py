"""Likely label errors: the scoring on hand-made images (each kind of disagreement and its reason), and the review
queue through the API: ranked by the EVALUATE job, paged, judged by a reviewer, not raised again for the same labels,
raised again once the labels change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from db import labels
from db.records import AnnotationRecord
from jobs.evaluation import Boxes
from jobs.label_errors import classification_suspects, detection_suspects, labels_keys
from tests.conftest import create_project, gql, gql_error, make_images, wait_for_job

CLASSES = ["cat", "dog"]


def _boxes(rows: list[tuple[float, ...]]) -> Boxes:
    a = np.array(rows, dtype=np.float64).reshape(-1, 7)
    return Boxes(a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2:6], a[:, 6])


def test_detection_scores_each_kind_of_disagreement() -> None:
    gt = _boxes([(0, 0, 10, 10, 20, 20, 1), (1, 0, 10, 10, 20, 20, 1), (2, 0, 10, 10, 20, 20, 1),
                 (3, 0, 10, 10, 20, 20, 1), (4, 0, 0, 0, 10, 10, 1)])
    dt = _boxes([(0, 0, 11, 10, 20, 20, 0.9),  # agrees
                 (1, 1, 10, 10, 20, 20, 0.8),  # class flip
                 (2, 0, 10, 10, 20, 20, 0.9), (2, 1, 60, 60, 20, 20, 0.7),  # a confident box nobody drew
                 (3, 0, 60, 60, 20, 20, 0.3),  # the drawn box is unsupported (and the draft is not confident)
                 (2, 0, 200, 200, 5, 5, 0.2)])  # a weak extra box: under MIN_SCORE, not raised
    found = detection_suspects(gt, dt, CLASSES)
    assert [(s.image, round(s.score, 3)) for s in found] == [(3, 1.0), (1, 0.8), (2, 0.7)]
    assert [s.reason for s in found] == [
        "Drawn box the model does not support: cat (best overlap 0.00)",
        "Class flip: drawn cat, the model says dog at 0.80",
        "Confident box nobody drew: dog at 0.70"]  # image 4 has no drafts: the model did not see it


def test_classification_scores_the_labelled_class_probability() -> None:
    truth = np.array([0, 1, 0, 1, -1])
    image = np.array([0, 0, 1, 1, 2, 4])
    cls = np.array([0, 1, 0, 1, 1, 0])
    score = np.array([0.9, 0.1, 0.7, 0.3, 0.6, 0.9])
    found = classification_suspects(truth, image, cls, score, CLASSES)
    assert [(s.image, round(s.score, 3), s.reason) for s in found] == [
        (2, 1.0, "Class flip: labelled cat, the model says dog at 0.60"),
        (1, 0.7, "Class flip: labelled dog, the model says cat at 0.70")]
    low = classification_suspects(np.array([0]), np.array([0]), np.array([0]), np.array([0.2]), CLASSES)
    assert [s.reason for s in low] == ["The model gives the labelled cat a low probability: 0.20"]


def test_the_labels_key_ignores_order_and_notices_changes() -> None:
    def key(rows: list[tuple[str, float, float, float, float]]) -> str:
        return labels_keys(np.zeros(len(rows), np.int64), [r[0] for r in rows],
                           np.array([r[1:] for r in rows], dtype=np.float64).reshape(-1, 4), 1)[0]

    a, b = ("cat", 0.1, 0.2, 0.3, 0.4), ("dog", 0.5, 0.5, 0.1, 0.1)
    assert key([a, b]) == key([b, a])
    assert len({key([]), key([a]), key([a, b]), key([a, a, b]), key([("cat", 0.1, 0.2, 0.3, 0.5), b]),
                key([("dog", 0.1, 0.2, 0.3, 0.4), b])}) == 6


EVALUATE = "mutation($p: ID!){ evaluateModel(projectId: $p){ id } }"
QUEUE = """query($p: ID!, $n: Int, $a: String){ likelyLabelErrors(projectId: $p, first: $n, after: $a){
  totalCount hasNextPage items { sample { filename } score reason model cursor } } }"""
JUDGE = """mutation($s: ID!, $v: LabelErrorVerdict!){ judgeLabelError(sampleId: $s, verdict: $v){
  verdict judgedBy sample { filename } } }"""
SAVE = """mutation($s: ID!, $x: Float!){ saveAnnotations(sampleId: $s, annotations: [{label: "cat", kind: BBOX,
  box: {x: $x, y: 0.2, w: 0.3, h: 0.4}}]){ id } }"""


def test_the_review_queue_ranks_and_remembers_verdicts(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg", "c.jpg"], size=(100, 80))
    pid = create_project(client)["id"]
    edges = gql(client, "query($p: ID!){ project(id: $p){ samples { edges { node { id filename } } } } }",
                p=pid)["project"]["samples"]["edges"]
    ids = {e["node"]["filename"]: int(e["node"]["id"]) for e in edges}
    for sid in ids.values():
        gql(client, SAVE, s=sid, x=0.1)
    drafts = {"a.jpg": ("cat", 0.1, 0.9), "b.jpg": ("dog", 0.1, 0.8), "c.jpg": ("cat", 0.6, 0.95)}

    def predict(names: list[str]) -> None:
        async def write() -> None:
            for name in names:
                label, x, conf = drafts[name]
                await labels.replace_drafts(client.app.state.services.db, ids[name],
                                            [AnnotationRecord(label, "BBOX", (x, 0.2, 0.3, 0.4), conf)], "model:m")
        client.portal.call(write)

    def evaluate() -> None:
        assert wait_for_job(client, gql(client, EVALUATE, p=pid)["evaluateModel"]["id"])["status"] == "SUCCEEDED"

    assert gql(client, QUEUE, p=pid)["likelyLabelErrors"] == {"totalCount": 0, "hasNextPage": False, "items": []}
    predict(list(drafts))
    evaluate()
    first = gql(client, QUEUE, p=pid, n=1)["likelyLabelErrors"]
    assert (first["totalCount"], first["hasNextPage"]) == (2, True)
    (c,) = first["items"]
    assert (c["sample"]["filename"], c["model"]) == ("c.jpg", "model:m")
    assert c["reason"].startswith("Drawn box the model does not support: cat") and c["score"] > 0.9
    rest = gql(client, QUEUE, p=pid, n=5, a=c["cursor"])["likelyLabelErrors"]
    assert [(i["sample"]["filename"], i["score"], i["reason"]) for i in rest["items"]] == [
        ("b.jpg", pytest.approx(0.8), "Class flip: drawn cat, the model says dog at 0.80")]
    assert gql_error(client, QUEUE, p=pid, a="nonsense")["extensions"]["code"] == "VALIDATION"
    assert gql_error(client, JUDGE, s=ids["a.jpg"], v="NOT_AN_ERROR")["extensions"]["code"] == "VALIDATION"

    judged = gql(client, JUDGE, s=ids["c.jpg"], v="NOT_AN_ERROR")["judgeLabelError"]
    assert (judged["verdict"], judged["sample"]["filename"]) == ("NOT_AN_ERROR", "c.jpg") and judged["judgedBy"]
    evaluate()  # the same labels: c stays judged
    again = gql(client, QUEUE, p=pid)["likelyLabelErrors"]
    assert [i["sample"]["filename"] for i in again["items"]] == ["b.jpg"] and again["totalCount"] == 1

    gql(client, SAVE, s=ids["c.jpg"], x=0.05)  # new labels: the verdict no longer holds
    predict(["c.jpg"])
    evaluate()
    assert [i["sample"]["filename"] for i in gql(client, QUEUE, p=pid)["likelyLabelErrors"]["items"]] == [
        "c.jpg", "b.jpg"]
