"""The local ONNX model: tiny detector and classifier graphs built here with onnx.helper, run by the real
onnxruntime, through the pre-annotation job and Suggest."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from starlette.testclient import TestClient

from server import Settings, create_app
from tests.conftest import create_project, gql, gql_error, wait_for_job

SIZE = 64  # the models' square input


def _model(output: np.ndarray, names: str) -> bytes:
    """A graph whose output is a constant (plus 0 x the input, so the input is really used)."""
    image = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))
    nodes = [
        helper.make_node("Constant", [], ["pred"], value=numpy_helper.from_array(output.astype(np.float32))),
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, dtype=np.float32))),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["pred", "nothing"], ["output0"]),
    ]
    model = helper.make_model(helper.make_graph(nodes, "tiny", [image], [out]),
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"names": names})
    onnx.checker.check_model(model)
    return model.SerializeToString()


def detector() -> bytes:
    # [1, 4 + 2, N]: columns are cx, cy, w, h, score(car), score(person), in input pixels
    boxes = np.array([[32, 32, 20, 10, 0.9, 0.0],   # a car
                      [33, 32, 20, 10, 0.8, 0.0],   # the same car again: NMS drops it
                      [10, 40, 8, 8, 0.0, 0.6],     # a person
                      [50, 20, 4, 4, 0.01, 0.0]])   # noise under the floor
    return _model(boxes.T[None], "{0: 'car', 1: 'person'}")


@pytest.fixture
def onnx_client(settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    exports = settings.volume_mounts["/Volumes/test/cvx/exports"]
    (exports / "det.onnx").write_bytes(detector())
    (exports / "cls.onnx").write_bytes(_model(np.array([[0.2, 2.5, -1.0]]), "indoor,outdoor,night"))
    (exports / "broken.onnx").write_bytes(b"not a model")
    with TestClient(create_app(dataclasses.replace(settings, model_path="/Volumes/test/cvx/exports/det.onnx",
                                                   model_name="tiny"))) as c:
        yield c


def test_detector_boxes_come_back_in_image_coordinates(onnx_client: TestClient, images_dir: Path) -> None:
    Image.new("RGB", (128, 64), (90, 120, 150)).save(images_dir / "wide.jpg")  # letterboxed: scale 0.5, pad y 16
    project = create_project(onnx_client, classes=["car", "person"])
    job = gql(onnx_client, 'mutation($p: ID!){ preannotate(projectId: $p, input: {minConfidence: 0.5}){ id } }',
              p=project["id"])["preannotate"]
    done = wait_for_job(onnx_client, job["id"])
    assert done["status"] == "SUCCEEDED" and done["result"]["drafts"] == 2, done
    sample = gql(onnx_client, 'query($p: ID!){ project(id: $p){ samples { edges { node { status annotations {'
                              ' label confidence createdBy box { x y w h } } } } } } }',
                 p=project["id"])["project"]["samples"]["edges"][0]["node"]
    assert sample["status"] == "PRE_LABELED"
    by_label = {a["label"]: a for a in sample["annotations"]}
    car = by_label["car"]
    assert car["createdBy"] == "model:tiny" and car["confidence"] == pytest.approx(0.9)
    # cx 32, cy 32, w 20, h 10 in the 64-px input -> x0 = (22 - 0) / 0.5 = 44 px of 128, y0 = (27 - 16) / 0.5 = 22
    assert car["box"] == pytest.approx({"x": 44 / 128, "y": 22 / 64, "w": 40 / 128, "h": 20 / 64}, abs=1e-6)
    assert by_label["person"]["confidence"] == pytest.approx(0.6)
    status = gql(onnx_client, "{ modelStatus { protocol ready } }")["modelStatus"]
    assert status == {"protocol": "onnx", "ready": True}


def test_classifier_gives_its_top_class_and_bad_files_say_so(settings: Settings, images_dir: Path) -> None:
    Image.new("RGB", (40, 40), (10, 10, 10)).save(images_dir / "a.jpg")
    exports = settings.volume_mounts["/Volumes/test/cvx/exports"]
    (exports / "cls.onnx").write_bytes(_model(np.array([[0.2, 2.5, -1.0]]), "indoor,outdoor,night"))
    (exports / "broken.onnx").write_bytes(b"not a model")
    cls = dataclasses.replace(settings, model_path="/Volumes/test/cvx/exports/cls.onnx")
    with TestClient(create_app(cls)) as c:
        project = create_project(c, task="CLASSIFICATION", classes=["indoor", "outdoor"])
        sid = gql(c, 'query($p: ID!){ project(id: $p){ samples { edges { node { id } } } } }',
                  p=project["id"])["project"]["samples"]["edges"][0]["node"]["id"]
        got = gql(c, 'mutation($s: ID!){ suggestAnnotations(sampleId: $s){ annotations { label confidence } } }',
                  s=sid)["suggestAnnotations"]["annotations"]
        logits = np.array([0.2, 2.5, -1.0])
        expected = float(np.exp(2.5) / np.exp(logits).sum())
        assert got == [{"label": "outdoor", "confidence": pytest.approx(expected)}]
    broken = dataclasses.replace(settings, model_path="/Volumes/test/cvx/exports/broken.onnx")
    with TestClient(create_app(broken)) as c:
        project = create_project(c, name="B", classes=["indoor"])
        sid = gql(c, 'query($p: ID!){ project(id: $p){ samples { edges { node { id } } } } }',
                  p=project["id"])["project"]["samples"]["edges"][0]["node"]["id"]
        err = gql_error(c, 'mutation($s: ID!){ suggestAnnotations(sampleId: $s){ id } }', s=sid)
        assert err["extensions"]["code"] == "VALIDATION" and "cannot be loaded" in err["message"]
        assert gql(c, "{ modelStatus { ready message } }")["modelStatus"]["ready"] is False


SERVING = "https://workspace.example.com/serving-endpoints/detector/invocations"


def test_databricks_serving_endpoint_in_its_documented_shapes(settings: Settings, images_dir: Path) -> None:
    """Model Serving cannot be reached from here: respx answers in the documented request/response shapes."""
    import base64
    import json

    import httpx
    import respx

    Image.new("RGB", (200, 100), (1, 2, 3)).save(images_dir / "a.jpg")
    (images_dir / "bad.jpg").write_bytes(b"not an image")
    conf = dataclasses.replace(settings, serving_url=SERVING, serving_token="dapi-secret",
                               serving_keys=("name", "score", "box", "xyxy_pixel"), model_name="dbx")
    seen: list[dict] = []

    def invoke(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer dapi-secret"
        body = json.loads(request.content)
        seen.append(body)
        assert all(base64.b64decode(r["image"])[:2] == b"\xff\xd8" for r in body["dataframe_records"])  # JPEGs
        return httpx.Response(200, json={"predictions": [
            [{"name": "car", "score": 0.7, "box": [20, 10, 120, 60]}] for _ in body["dataframe_records"]]})

    with respx.mock(assert_all_called=False) as mock, TestClient(create_app(conf)) as c:
        mock.post(SERVING).mock(side_effect=invoke)
        mock.get("https://workspace.example.com/api/2.0/serving-endpoints/detector").mock(
            return_value=httpx.Response(200, json={"name": "detector", "state": {"ready": "READY"}}))
        project = create_project(c, classes=["car"])
        job = gql(c, 'mutation($p: ID!){ preannotate(projectId: $p){ id } }', p=project["id"])["preannotate"]
        done = wait_for_job(c, job["id"])
        assert done["result"]["succeeded"] == 1 and done["result"]["failed"] == 1, done
        assert "cannot be read" in done["result"]["failures"][0]["reason"]
        query = ('query($p: ID!){ project(id: $p){ samples { edges { node { filename annotations { label '
                 'confidence createdBy box { x y w h } } } } } } }')
        edges = gql(c, query, p=project["id"])["project"]["samples"]["edges"]
        a = next(e["node"] for e in edges if e["node"]["filename"] == "a.jpg")["annotations"][0]
        assert a["createdBy"] == "model:dbx" and a["confidence"] == pytest.approx(0.7)
        assert a["box"] == pytest.approx({"x": 0.1, "y": 0.1, "w": 0.5, "h": 0.5})  # pixel xyxy -> normalised
        status = gql(c, "{ modelStatus { protocol ready message } }")["modelStatus"]
        assert status == {"protocol": "serving", "ready": True, "message": "ready"}
    assert len(seen[0]["dataframe_records"]) == 1  # the unreadable image never left the server
