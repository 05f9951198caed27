"""Pre-annotation with a Label Studio ML backend (mocked with respx): drafts, label mapping, thresholds, failures
that stay per sample, re-runs that never duplicate, and a clear error without a model."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from starlette.testclient import TestClient

from jobs.models import MAX_RESPONSE_BYTES
from server import create_app
from settings import Settings
from tests.conftest import create_project, gql, gql_error, make_images, wait_for_job

MODEL = "http://model.test"
RUN = "mutation($p: ID!, $i: PreannotateInput){ preannotate(projectId: $p, input: $i){ id } }"
SAMPLES = """query($p: ID!){ project(id: $p){ samples(first: 50){ edges { node { id filename status
  annotations { label kind isDraft confidence createdBy box { x y w h } } } } } } }"""


@pytest.fixture
def model_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(dataclasses.replace(settings, model_backend_url=MODEL, model_name="yolo"))) as c:
        yield c


def _box(x: float, y: float, w: float, h: float, label: str, score: float) -> dict[str, Any]:
    return {"type": "rectanglelabels", "score": score,
            "value": {"x": x, "y": y, "width": w, "height": h, "rectanglelabels": [label]}}


def _samples(client: TestClient, project_id: str) -> dict[str, dict[str, Any]]:
    return {e["node"]["filename"]: e["node"] for e in gql(client, SAMPLES, p=project_id)["project"]["samples"]["edges"]}


@contextlib.contextmanager
def _backend() -> Iterator[respx.MockRouter]:
    """The model backend as respx answers it: /setup accepts every project (tests add /predict and /health)."""
    with respx.mock(assert_all_called=False) as mock:
        mock.post(f"{MODEL}/setup").mock(return_value=httpx.Response(200, json={"model_version": "yolo-1"}))
        yield mock


def _run(client: TestClient, project_id: str, **inp: Any) -> dict[str, Any]:
    job = gql(client, RUN, p=project_id, i=inp or None)["preannotate"]
    return wait_for_job(client, job["id"])


def test_predictions_become_drafts_and_failures_stay_per_sample(model_client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, [f"{i}.jpg" for i in range(5)])
    project = create_project(model_client, classes=["car", "person"])
    by_name = {n: s["id"] for n, s in _samples(model_client, project["id"]).items()}
    bad = by_name["3.jpg"]
    seen: list[list[str]] = []

    def predict(request: httpx.Request) -> httpx.Response:
        tasks = json.loads(request.content)["tasks"]
        seen.append([str(t["id"]) for t in tasks])
        assert all(t["data"]["image"].endswith(f"/media/samples/{t['id']}/image") for t in tasks)
        if any(str(t["id"]) == bad for t in tasks):
            return httpx.Response(500, text="boom")
        return httpx.Response(200, json={"results": [{"result": [
            _box(10, 20, 30, 40, "Car", 0.9), _box(50, 50, 10, 10, "horse", 0.95),
            _box(60, 60, 10, 10, "person", 0.2)]} for _ in tasks]})

    with _backend() as mock:
        mock.post(f"{MODEL}/predict").mock(side_effect=predict)
        job = _run(model_client, project["id"])
    assert job["status"] == "SUCCEEDED", job
    r = job["result"]
    assert (r["samples"], r["succeeded"], r["failed"], r["drafts"]) == (5, 4, 1, 4)
    assert (r["droppedUnknownLabel"], r["belowThreshold"], r["model"]) == (4, 4, "model:yolo")
    assert r["failures"] == [{"sampleId": bad,
                              "reason": "the model refused the request (the server log has the details)"}]
    assert len(seen[0]) == 5 and [bad] in seen  # one batch, then each task alone to find the failing one
    samples = _samples(model_client, project["id"])
    assert samples["3.jpg"]["status"] == "UNLABELED" and samples["3.jpg"]["annotations"] == []
    first = samples["0.jpg"]
    assert first["status"] == "PRE_LABELED"
    [draft] = first["annotations"]
    assert (draft["label"], draft["isDraft"], draft["createdBy"]) == ("car", True, "model:yolo")
    assert draft["confidence"] == pytest.approx(0.9)
    assert draft["box"] == pytest.approx({"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4})

    with _backend() as mock:  # a re-run replaces this model's drafts, never duplicates
        mock.post(f"{MODEL}/predict").mock(side_effect=lambda request: httpx.Response(200, json={"results": [
            {"result": [_box(5, 5, 10, 10, "person", 0.8)]} for _ in json.loads(request.content)["tasks"]]}))
        again = _run(model_client, project["id"], statuses=["UNLABELED", "PRE_LABELED"])
    assert again["result"]["succeeded"] == 5
    for s in _samples(model_client, project["id"]).values():
        assert [(a["label"], a["isDraft"]) for a in s["annotations"]] == [("person", True)]


@pytest.mark.parametrize(("answer", "reason"), [
    (httpx.Response(200, text="not json"), "not JSON"),
    (httpx.Response(200, json={"results": []}), "expected 1 results"),
    (httpx.Response(200, json={"results": [{"result": [_box(95, 10, 20, 10, "car", 0.9)]}]}), "leaves the image"),
    (httpx.Response(200, text='{"results": [{"result": [{"type": "rectanglelabels", "score": NaN, "value": '
                              '{"x": 1, "y": 1, "width": 1, "height": 1, "rectanglelabels": ["car"]}}]}]}'),
     "score is not a finite number"),
    (httpx.Response(200, json={"results": [{"result": [{"type": "rectanglelabels", "value": {
        "x": "a", "y": 1, "width": 1, "height": 1, "rectanglelabels": ["car"]}}]}]}), "not a finite number"),
    (httpx.TimeoutException("slow"), "did not answer in time"),
    (httpx.Response(200, content=b" " * (MAX_RESPONSE_BYTES + 1)), "answer is too large"),
])
def test_malformed_or_failing_answers_fail_the_sample_with_a_reason(model_client: TestClient, images_dir: Path,
                                                                    answer: Any, reason: str) -> None:
    make_images(images_dir, ["a.jpg"])
    project = create_project(model_client, classes=["car"])
    with _backend() as mock:
        route = mock.post(f"{MODEL}/predict")
        if isinstance(answer, Exception):
            route.mock(side_effect=answer)
        else:
            route.mock(return_value=answer)
        job = _run(model_client, project["id"])
    assert job["status"] == "SUCCEEDED" and job["result"]["failed"] == 1, job
    assert reason in job["result"]["failures"][0]["reason"]
    assert _samples(model_client, project["id"])["a.jpg"]["annotations"] == []


def test_classification_choices_and_the_sample_limit(model_client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, [f"{i}.jpg" for i in range(4)])
    project = create_project(model_client, task="CLASSIFICATION", classes=["indoor", "outdoor"])
    answer = {"results": [{"score": 0.7, "result": [{"type": "choices", "value": {"choices": ["Outdoor"]}}]}]}
    with _backend() as mock:
        mock.post(f"{MODEL}/predict").mock(side_effect=lambda request: httpx.Response(200, json={
            "results": answer["results"] * len(json.loads(request.content)["tasks"])}))
        job = _run(model_client, project["id"], maxSamples=2)
    assert job["result"]["samples"] == 2 and job["result"]["drafts"] == 2
    drafted = [s for s in _samples(model_client, project["id"]).values() if s["annotations"]]
    assert len(drafted) == 2
    assert drafted[0]["annotations"][0] == {"label": "outdoor", "kind": "CLASSIFICATION", "isDraft": True,
                                            "confidence": pytest.approx(0.7), "createdBy": "model:yolo", "box": None}


def test_without_a_model_the_job_says_what_to_configure(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg"])
    project = create_project(client)
    job = _run(client, project["id"])
    assert job["status"] == "FAILED" and "MODEL_BACKEND_URL" in job["error"]
    err = gql_error(client, RUN, p=project["id"], i={"minConfidence": 2})
    assert err["extensions"]["code"] == "VALIDATION"


def test_least_confident_first_in_the_gallery_and_the_queue(model_client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, [f"{i}.jpg" for i in range(5)])
    project = create_project(model_client, classes=["car"])
    ids = {n: s["id"] for n, s in _samples(model_client, project["id"]).items()}
    scores = {ids["0.jpg"]: 0.9, ids["1.jpg"]: 0.6, ids["2.jpg"]: 0.75}  # 3 and 4 get no boxes

    def predict(request: httpx.Request) -> httpx.Response:
        tasks = json.loads(request.content)["tasks"]
        return httpx.Response(200, json={"results": [
            {"result": [_box(10, 10, 20, 20, "car", scores[str(t["id"])])] if str(t["id"]) in scores else []}
            for t in tasks]})

    with _backend() as mock:
        mock.post(f"{MODEL}/predict").mock(side_effect=predict)
        _run(model_client, project["id"])
    query = """query($p: ID!, $a: String, $c: Float){ project(id: $p){ samples(orderBy: LEAST_CONFIDENT, first: 2,
        after: $a, maxConfidence: $c){ pageInfo { hasNextPage endCursor } edges { node { filename } } } } }"""
    order, after = [], None
    while True:
        page = gql(model_client, query, p=project["id"], a=after, c=None)["project"]["samples"]
        order += [e["node"]["filename"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert order == ["1.jpg", "2.jpg", "0.jpg", "3.jpg", "4.jpg"]  # no drafts: last, by id
    low = gql(model_client, query, p=project["id"], a=None, c=0.8)["project"]["samples"]["edges"]
    assert [e["node"]["filename"] for e in low] == ["1.jpg", "2.jpg"]
    claim = "mutation($p: ID!){ claimNextSample(projectId: $p, order: LEAST_CONFIDENT){ filename } }"
    assert gql(model_client, claim, p=project["id"])["claimNextSample"]["filename"] == "1.jpg"
    err = gql_error(model_client, query.replace("after: $a", "before: $a"), p=project["id"], a="1", c=None)
    assert err["extensions"]["code"] == "VALIDATION"


def test_suggest_asks_the_model_about_one_image_now(model_client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg"])
    project = create_project(model_client, classes=["car"])
    sid = _samples(model_client, project["id"])["a.jpg"]["id"]
    suggest = """mutation($s: ID!){ suggestAnnotations(sampleId: $s){ status annotations { label isDraft confidence
        createdBy } } }"""
    with _backend() as mock:
        route = mock.post(f"{MODEL}/predict").mock(return_value=httpx.Response(200, json={"results": [
            {"result": [_box(10, 10, 20, 20, "car", 0.3)]}]}))
        got = gql(model_client, suggest, s=sid)["suggestAnnotations"]
        assert json.loads(route.calls[0].request.content)["tasks"][0]["id"] == int(sid)
    assert got["status"] == "PRE_LABELED"  # low confidence is kept: the labeller decides
    assert got["annotations"] == [{"label": "car", "isDraft": True, "confidence": pytest.approx(0.3),
                                   "createdBy": "model:yolo"}]
    with _backend() as mock:
        mock.post(f"{MODEL}/predict").mock(return_value=httpx.Response(502))
        err = gql_error(model_client, suggest, s=sid)
    assert err["extensions"]["code"] == "UNAVAILABLE" and "refused the request" in err["message"]
    assert len(_samples(model_client, project["id"])["a.jpg"]["annotations"]) == 1  # the failure changed nothing


def test_model_status_reports_readiness(model_client: TestClient, client: TestClient) -> None:
    query = "{ modelStatus { configured name url ready message } }"
    assert gql(client, query)["modelStatus"]["configured"] is False
    with _backend() as mock:
        mock.get(f"{MODEL}/health").mock(return_value=httpx.Response(200, json={"status": "UP"}))
        status = gql(model_client, query)["modelStatus"]
    assert status == {"configured": True, "name": "yolo", "url": MODEL, "ready": True, "message": "ready"}
    with _backend() as mock:
        mock.get(f"{MODEL}/health").mock(side_effect=httpx.ConnectError("refused"))
        assert gql(model_client, query)["modelStatus"]["ready"] is False
