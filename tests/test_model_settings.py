"""A project's own model chosen by its owner: validation, the label mapping, the Label Studio /setup handshake,
and the project's model status. The model backend is answered by respx."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from starlette.testclient import TestClient

from jobs.models.egress import AllowList
from server import create_app
from settings import Settings
from tests.conftest import create_project, gql, gql_error, make_images, wait_for_job

BACKEND = "http://ls-backend.test:9090"
SET = """mutation($p: ID!, $i: ModelSettingsInput){ setModelSettings(projectId: $p, input: $i){
  id modelSettings { protocol name location classes labelMap { modelLabel projectClass } } } }"""
RUN = "mutation($p: ID!){ preannotate(projectId: $p, input: {minConfidence: 0}){ id } }"
DRAFTS = """query($p: ID!){ project(id: $p){ samples(first: 10){ edges { node {
  annotations { label createdBy } } } } } }"""


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The app with the test's model hosts allow-listed: they resolve nowhere (respx answers them), and a name
    that does not resolve is refused like one that resolves to a private address."""
    allow = AllowList.parse("ls-backend.test, adb-1.azuredatabricks.net")
    with TestClient(create_app(dataclasses.replace(settings, model_url_allow=allow))) as c:
        yield c


def _ls(mapping: dict[str, str | None]) -> dict[str, Any]:
    return {"protocol": "LABEL_STUDIO", "name": "grounding-dino", "location": BACKEND + "/",
            "labelMap": [{"modelLabel": k, "projectClass": v} for k, v in mapping.items()]}


def _box(label: str) -> dict[str, Any]:
    return {"type": "rectanglelabels", "score": 0.9,
            "value": {"x": 10, "y": 10, "width": 20, "height": 20, "rectanglelabels": [label]}}


def test_the_project_model_maps_labels_and_is_introduced_with_setup(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg"])
    project = create_project(client, classes=["car", "person"])
    stored = gql(client, SET, p=project["id"], i=_ls({"automobile": "Car", "bicycle": None}))["setModelSettings"]
    assert stored["modelSettings"] == {
        "protocol": "LABEL_STUDIO", "name": "grounding-dino", "location": BACKEND, "classes": [],
        "labelMap": [{"modelLabel": "automobile", "projectClass": "car"},
                     {"modelLabel": "bicycle", "projectClass": None}]}
    setups: list[dict[str, Any]] = []
    predicts: list[dict[str, Any]] = []

    def setup(request: httpx.Request) -> httpx.Response:
        setups.append(json.loads(request.content))
        return httpx.Response(200, json={"model_version": "gd-1"})

    def predict(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        predicts.append(body)
        return httpx.Response(200, json={"results": [
            {"result": [_box("automobile"), _box("bicycle"), _box("person"), _box("tree")]} for _ in body["tasks"]]})

    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{BACKEND}/setup").mock(side_effect=setup)
        mock.post(f"{BACKEND}/predict").mock(side_effect=predict)
        job = wait_for_job(client, gql(client, RUN, p=project["id"])["preannotate"]["id"])
    assert job["status"] == "SUCCEEDED", job
    r = job["result"]
    assert (r["model"], r["succeeded"], r["drafts"], r["droppedUnknownLabel"]) == ("model:grounding-dino", 2, 4, 4)
    [hello] = setups
    assert hello["project"].split(".")[0] == project["id"]
    assert '<RectangleLabels name="label" toName="image"><Label value="car"/><Label value="person"/>' in hello["schema"]
    assert predicts[0]["label_config"] == hello["schema"] and predicts[0]["project"] == hello["project"]
    edges = gql(client, DRAFTS, p=project["id"])["project"]["samples"]["edges"]
    for edge in edges:
        assert sorted(a["label"] for a in edge["node"]["annotations"]) == ["car", "person"]
        assert {a["createdBy"] for a in edge["node"]["annotations"]} == {"model:grounding-dino"}


def test_a_backend_that_refuses_setup_fails_the_job_clearly(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg"])
    project = create_project(client, classes=["car"])
    gql(client, SET, p=project["id"], i=_ls({}))
    with respx.mock(assert_all_called=False) as mock:
        mock.post(f"{BACKEND}/setup").mock(return_value=httpx.Response(500))
        job = wait_for_job(client, gql(client, RUN, p=project["id"])["preannotate"]["id"])
    assert job["status"] == "FAILED" and "POST /setup" in job["error"] and "refused the request" in job["error"], job
    assert "500" not in job["error"]


def test_a_backend_without_setup_is_fine(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg"])
    project = create_project(client, classes=["car"])
    gql(client, SET, p=project["id"], i=_ls({}))
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{BACKEND}/setup").mock(return_value=httpx.Response(404))
        mock.post(f"{BACKEND}/predict").mock(return_value=httpx.Response(200, json={"results": [
            {"result": [_box("car")]}]}))
        job = wait_for_job(client, gql(client, RUN, p=project["id"])["preannotate"]["id"])
    assert job["status"] == "SUCCEEDED" and job["result"]["drafts"] == 1, job


@pytest.mark.parametrize(("chosen", "message"), [
    ({"protocol": "ONNX", "name": "det", "location": "/etc/model.onnx"}, "an .onnx file in a volume"),
    ({"protocol": "ONNX", "name": "det", "location": "/Volumes/test/cvx/images/model.bin"}, ".onnx file"),
    ({"protocol": "LABEL_STUDIO", "name": "x", "location": "ftp://host/"}, "http(s) URL"),
    ({"protocol": "LABEL_STUDIO", "name": "bad name!", "location": BACKEND}, "name must be"),
    ({"protocol": "LABEL_STUDIO", "name": "x", "location": BACKEND, "classes": ["a"]}, "only for ONNX"),
    ({"protocol": "SERVING", "name": "x", "location": "my-endpoint"}, "set DATABRICKS_HOST"),
    ({**_ls({"automobile": "truck"})}, "'truck' is not a class of this project"),
])
def test_invalid_settings_are_refused_and_nothing_changes(client: TestClient, images_dir: Path,
                                                          chosen: dict[str, Any], message: str) -> None:
    make_images(images_dir, ["a.jpg"])
    project = create_project(client, classes=["car"])
    error = gql_error(client, SET, p=project["id"], i=chosen)
    assert error["extensions"]["code"] == "VALIDATION" and message in error["message"], error
    assert gql(client, "query($p: ID!){ project(id: $p){ modelSettings { name } } }",
               p=project["id"])["project"]["modelSettings"] is None


def test_serving_endpoints_must_live_on_the_workspace(client: TestClient, images_dir: Path) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    services.model = dataclasses.replace(services.model, databricks_host="https://adb-1.azuredatabricks.net")
    make_images(images_dir, ["a.jpg"])
    project = create_project(client, classes=["car"])
    by_name = gql(client, SET, p=project["id"], i={"protocol": "SERVING", "name": "yolo", "location": "yolo-v8"})
    assert by_name["setModelSettings"]["modelSettings"]["location"] == "yolo-v8"
    elsewhere = "https://evil.example.com/serving-endpoints/yolo/invocations"
    error = gql_error(client, SET, p=project["id"], i={"protocol": "SERVING", "name": "y", "location": elsewhere})
    assert error["extensions"]["code"] == "VALIDATION" and "adb-1.azuredatabricks.net" in error["message"]


def test_model_status_of_a_project_and_back_to_the_default(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg"])
    project = create_project(client, classes=["car"])
    status = "query($p: ID){ modelStatus(projectId: $p){ configured protocol name url ready } }"
    configured = "query($p: ID!){ modelConfigured(projectId: $p) }"  # what Pre-label asks: no call to the model
    assert gql(client, status, p=project["id"])["modelStatus"]["configured"] is False  # no default in tests
    assert gql(client, configured, p=project["id"])["modelConfigured"] is False
    gql(client, SET, p=project["id"], i=_ls({}))
    assert gql(client, configured, p=project["id"])["modelConfigured"] is True
    with respx.mock(assert_all_called=True) as mock:
        mock.get(f"{BACKEND}/health").mock(return_value=httpx.Response(200, json={"status": "UP"}))
        answer = gql(client, status, p=project["id"])["modelStatus"]
    assert answer == {"configured": True, "protocol": "labelstudio", "name": "grounding-dino", "url": BACKEND,
                      "ready": True}
    assert gql(client, SET, p=project["id"], i=None)["setModelSettings"]["modelSettings"] is None
    assert gql(client, status, p=project["id"])["modelStatus"]["configured"] is False
