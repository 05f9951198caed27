"""Model Serving adapters (respx answers in the shapes the endpoint would): a text-prompted detector asked once per
image and project class, whose pixel corner boxes take the prompt's class; classifiers answering a bare class name
or an integer index into the project's classes."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
from pathlib import Path

import httpx
import pytest
import respx
from PIL import Image
from starlette.testclient import TestClient

from server import Settings, create_app
from tests.conftest import create_project, gql, wait_for_job

SERVING = "https://workspace.example.com/serving-endpoints/sam/invocations"
DRAFTS = ('query($p: ID!){ project(id: $p){ samples { edges { node { filename annotations { label confidence '
          'isDraft box { x y w h } } } } } } }')


def _size(b64: str) -> tuple[int, int]:
    with Image.open(io.BytesIO(base64.b64decode(b64))) as im:
        assert im.format == "JPEG"
        return im.size


def _run(settings: Settings, answer, task: str, classes: list[str]) -> tuple[dict, dict[str, list]]:  # type: ignore[no-untyped-def]
    with respx.mock(assert_all_called=False) as mock, TestClient(create_app(settings)) as c:
        mock.post(SERVING).mock(side_effect=answer)
        project = create_project(c, task=task, classes=classes)
        job = gql(c, 'mutation($p: ID!){ preannotate(projectId: $p, input: {minConfidence: 0}){ id } }',
                  p=project["id"])["preannotate"]
        done = wait_for_job(c, job["id"])
        edges = gql(c, DRAFTS, p=project["id"])["project"]["samples"]["edges"]
    return done, {e["node"]["filename"]: e["node"]["annotations"] for e in edges}


def test_a_text_prompted_detector_is_asked_per_class(settings: Settings, images_dir: Path) -> None:
    Image.new("RGB", (200, 100), (9, 9, 9)).save(images_dir / "street.jpg")
    conf = dataclasses.replace(settings, serving_url=SERVING, serving_token="dapi-x", serving_request="text_prompt",
                               model_name="sam3")
    prompts: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        out = []
        for record in json.loads(request.content)["dataframe_records"]:
            sent = json.loads(record["input"])  # one record: a JSON input with the image and one prompt
            w, h = _size(sent["image"])
            prompts.append(sent["prompt"])
            boxes = {"car": [[0.1 * w, 0.1 * h, 0.6 * w, 0.6 * h]], "person": [[0.5 * w, 0, w, h], [0, 0, 10, 10]],
                     "bike": []}[sent["prompt"]]
            out.append({"boxes": boxes, "scores": [0.9, 0.4][:len(boxes)], "image_size": [w, h]})
        return httpx.Response(200, json={"predictions": out})

    done, drafts = _run(conf, answer, "DETECTION", ["car", "person", "bike"])
    assert done["status"] == "SUCCEEDED" and done["result"]["succeeded"] == 1, done
    assert sorted(prompts) == ["bike", "car", "person"]  # one prompt per class
    got = sorted((a["label"], a["confidence"], tuple(round(v, 6) for v in a["box"].values()))
                 for a in drafts["street.jpg"])
    assert [g[0] for g in got] == ["car", "person", "person"] and all(a["isDraft"] for a in drafts["street.jpg"])
    assert got[0] == ("car", pytest.approx(0.9), (0.1, 0.1, 0.5, 0.5))  # pixel corners -> normalised xywh
    assert got[2][2] == (0.5, 0.0, 0.5, 1.0)


def test_classifiers_may_answer_a_class_name_or_an_index(settings: Settings, images_dir: Path) -> None:
    sizes = {"a.jpg": (64, 48), "b.jpg": (80, 60), "c.jpg": (96, 72)}
    for name, size in sizes.items():
        Image.new("RGB", size, (50, 60, 70)).save(images_dir / name)
    by_size = {(64, 48): "dog", (80, 60): 0, (96, 72): 7}  # a name, an index, an index past the classes
    conf = dataclasses.replace(settings, serving_url=SERVING, serving_token="dapi-x", model_name="clf")

    def answer(request: httpx.Request) -> httpx.Response:
        records = json.loads(request.content)["dataframe_records"]
        return httpx.Response(200, json={"predictions": [by_size[_size(r["image"])] for r in records]})

    done, drafts = _run(conf, answer, "CLASSIFICATION", ["cat", "dog"])
    assert (done["result"]["succeeded"], done["result"]["failed"]) == (2, 1), done
    assert "class index 7 is not one of the project's 2 classes" in done["result"]["failures"][0]["reason"]
    assert [a["label"] for a in drafts["a.jpg"]] == ["dog"] and [a["label"] for a in drafts["b.jpg"]] == ["cat"]
    assert drafts["c.jpg"] == []
