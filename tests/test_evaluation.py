"""Model evaluation: the detection numbers are COCOeval's on the same data (pycocotools as the reference), the
confusion matrices count flips, misses and background, and the EVALUATE job scores a model's drafts through the API."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from starlette.testclient import TestClient

from db import labels
from db.records import AnnotationRecord
from jobs.evaluation import Boxes, classification, confusion, detection, summary
from tests.conftest import create_project, gql, gql_error, make_images, wait_for_job


def _scene(seed: int) -> tuple[list[tuple[float, ...]], list[tuple[float, ...]]]:
    """Truth and predictions on 80 images of 640x480: jittered hits, class flips, misses, false alarms, boxes of
    every COCO area range, and scores rounded so that ties happen."""
    rng = np.random.default_rng(seed)
    truth, predicted = [], []
    for i in range(80):
        for _ in range(rng.integers(0, 6)):
            w, h = rng.uniform(4, 250), rng.uniform(4, 250)
            x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
            c = int(rng.integers(0, 3))
            truth.append((i, c, x, y, w, h))
            if rng.random() < 0.8:
                j = rng.normal(0, 8, 4)
                flip = c if rng.random() < 0.85 else int(rng.integers(0, 3))
                predicted.append((i, flip, x + j[0], y + j[1], max(1, w + j[2]), max(1, h + j[3]),
                                  round(float(rng.uniform(0.05, 1)), 2)))
        for _ in range(rng.integers(0, 3)):
            w, h = rng.uniform(4, 150), rng.uniform(4, 150)
            predicted.append((i, int(rng.integers(0, 3)), rng.uniform(0, 640 - w), rng.uniform(0, 480 - h), w, h,
                              round(float(rng.uniform(0.05, 1)), 2)))
    return truth, predicted


def _boxes(rows: list[tuple[float, ...]], scored: bool) -> Boxes:
    a = np.array(rows, dtype=np.float64)
    return Boxes(a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2:6],
                 a[:, 6] if scored else np.ones(len(rows)))


def _cocoeval(truth: list[tuple[float, ...]], predicted: list[tuple[float, ...]]) -> COCOeval:
    coco = COCO()
    coco.dataset = {"images": [{"id": i + 1, "width": 640, "height": 480} for i in range(80)],
                    "categories": [{"id": c + 1, "name": str(c)} for c in range(3)],
                    "annotations": [{"id": k + 1, "image_id": int(r[0]) + 1, "category_id": int(r[1]) + 1,
                                     "bbox": list(r[2:6]), "area": r[4] * r[5], "iscrowd": 0}
                                    for k, r in enumerate(truth)]}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        found = coco.loadRes([{"image_id": int(r[0]) + 1, "category_id": int(r[1]) + 1, "bbox": list(r[2:6]),
                               "score": r[6]} for r in predicted])
        e = COCOeval(coco, found, "bbox")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detection_metrics_are_cocoevals(seed: int) -> None:
    truth, predicted = _scene(seed)
    ours = detection(_boxes(truth, False), _boxes(predicted, True), 3)
    coco = _cocoeval(truth, predicted)
    np.testing.assert_allclose(ours["precision"], coco.eval["precision"][..., 2], atol=1e-12)  # maxDets 100
    np.testing.assert_allclose(ours["recall"], coco.eval["recall"][..., 2], atol=1e-12)
    s = summary(ours, ["a", "b", "c"])
    got = [s["ap"], s["ap50"], s["ap75"], s["apSmall"], s["apMedium"], s["apLarge"]]
    np.testing.assert_allclose(got, coco.stats[:6], atol=1e-12)
    assert 0.05 < s["ap"] < 0.5  # the scene is neither trivial nor hopeless


def test_the_confusion_matrix_counts_flips_misses_and_background() -> None:
    truth = _boxes([(0, 0, 10, 10, 50, 50), (0, 1, 200, 200, 40, 40), (1, 1, 0, 0, 30, 30)], False)
    predicted = _boxes([(0, 1, 12, 11, 50, 50, 0.9),   # the cat seen as a dog
                        (0, 1, 400, 300, 20, 20, 0.8),  # nothing there
                        (1, 1, 1, 0, 30, 30, 0.7)], True)  # the dog found
    m = confusion(truth, predicted, 2)
    assert m.tolist() == [[0, 1, 0],   # truth cat: as dog once
                          [0, 1, 1],   # truth dog: found once, missed once
                          [0, 1, 0]]   # background: one dog nobody drew


def test_classification_metrics() -> None:
    r = classification(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, -1]), 3, ["a", "b", "c"])
    assert r["accuracy"] == 0.6
    a, b, c = r["classes"]
    assert (a["precision"], a["recall"]) == (1.0, 0.5) and (b["precision"], b["recall"]) == (2 / 3, 1.0)
    assert c["recall"] == 0.0 and c["precision"] is None
    assert r["confusion"]["matrix"] == [[1, 1, 0, 0], [0, 2, 0, 0], [0, 0, 0, 1]]


EVALUATE = "mutation($p: ID!, $m: String){ evaluateModel(projectId: $p, model: $m){ id kind } }"
BOX = """mutation($s: ID!){ saveAnnotations(sampleId: $s, annotations: [{label: "cat", kind: BBOX,
  box: {x: 0.1, y: 0.2, w: 0.3, h: 0.4}}]){ id } }"""


def test_evaluate_a_models_drafts_through_the_api(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg", "c.jpg"], size=(100, 80))
    pid = create_project(client)["id"]
    edges = gql(client, "query($p: ID!){ project(id: $p){ samples { edges { node { id filename } } } } }",
                p=pid)["project"]["samples"]["edges"]
    ids = {e["node"]["filename"]: int(e["node"]["id"]) for e in edges}
    assert gql_error(client, EVALUATE, p=pid, m=None)["extensions"]["code"] == "VALIDATION"  # no drafts yet
    for sid in ids.values():
        gql(client, BOX, s=sid)

    async def predict() -> None:  # what Pre-label on labelled images stores: drafts beside the labels
        db = client.app.state.services.db
        for name, sid in ids.items():
            label = "dog" if name == "c.jpg" else "cat"
            await labels.replace_drafts(db, sid, [AnnotationRecord(label, "BBOX", (0.1, 0.2, 0.3, 0.4), 0.9)],
                                        "model:m")

    client.portal.call(predict)
    assert gql(client, "query($p: ID!){ modelEvaluation(projectId: $p){ id } }", p=pid)["modelEvaluation"] is None
    err = gql_error(client, EVALUATE, p=pid, m="other")
    assert err["extensions"]["code"] == "VALIDATION" and "model:m" in err["message"]
    job = gql(client, EVALUATE, p=pid, m=None)["evaluateModel"]
    assert job["kind"] == "EVALUATE"
    done = wait_for_job(client, job["id"])
    assert done["status"] == "SUCCEEDED", done
    stored = gql(client, "query($p: ID!){ modelEvaluation(projectId: $p){ id result } }", p=pid)["modelEvaluation"]
    assert stored["id"] == job["id"]
    r = stored["result"]
    assert (r["model"], r["images"], r["imagesWithPredictions"], r["labels"], r["predictions"]) == (
        "model:m", 3, 3, 3, 3)
    cat, dog = r["classes"]
    assert (cat["precision"], cat["recall"], dog["precision"]) == (1.0, pytest.approx(2 / 3), 0.0)
    assert cat["ap50"] == pytest.approx(67 / 101) and len(cat["prCurve"]) == 101 and dog["prCurve"] == []
    assert r["confusion"] == {"labels": ["cat", "dog"], "matrix": [[2, 1, 0], [0, 0, 0], [0, 0, 0]]}
