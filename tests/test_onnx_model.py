"""The local ONNX model: tiny detector and classifier graphs built here with onnx.helper, run by the real
onnxruntime, through the pre-annotation job and Suggest."""

from __future__ import annotations

import base64
import dataclasses
import io
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from starlette.testclient import TestClient

from server import create_app
from settings import Settings
from tests.conftest import create_project, gql, gql_error, make_images, wait_for_job

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


def _noise(path: Path, size: tuple[int, int]) -> None:
    """A photo-like JPEG that compresses badly (noise), so its bytes are what a full-resolution photo's are."""
    bands = [Image.effect_noise(size, 60 + 20 * i) for i in range(3)]
    Image.merge("RGB", bands).save(path, "JPEG", quality=90)


def _serving_mock(mock: Any, seen: list[bytes], answer: Any = None) -> None:
    import httpx

    def invoke(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        if answer is not None:
            return answer(request)
        records = json.loads(request.content)["dataframe_records"]
        return httpx.Response(200, json={"predictions": [
            [{"name": "car", "score": 0.9, "box": [100, 50, 600, 300]}] for _ in records]})

    mock.post(SERVING).mock(side_effect=invoke)


def test_serving_gets_resized_images_in_requests_under_the_payload_limit(settings: Settings,
                                                                          images_dir: Path) -> None:
    """Full-resolution photos, base64, eight a batch passed Model Serving's 16 MB limit: each image goes resized to
    SERVING_IMAGE_MAX_SIDE and a batch is split so that every request stays under the byte budget."""
    import respx

    from jobs.models.serving import PAYLOAD_BUDGET, PAYLOAD_LIMIT

    for i in range(6):
        _noise(images_dir / f"p{i}.jpg", (2400, 1600))
    assert sum(p.stat().st_size for p in images_dir.iterdir()) * 4 / 3 > PAYLOAD_LIMIT  # too big as they are
    conf = dataclasses.replace(settings, serving_url=SERVING, serving_token="dapi-secret", serving_image_max_side=2048,
                               serving_keys=("name", "score", "box", "xyxy_pixel"), model_name="dbx")
    seen: list[bytes] = []
    with respx.mock(assert_all_called=False) as mock, TestClient(create_app(conf)) as c:
        _serving_mock(mock, seen)
        project = create_project(c, classes=["car"])
        job = gql(c, 'mutation($p: ID!){ preannotate(projectId: $p){ id } }', p=project["id"])["preannotate"]
        done = wait_for_job(c, job["id"], timeout=60)
    assert done["status"] == "SUCCEEDED" and done["result"]["succeeded"] == 6, done
    assert all(len(body) <= PAYLOAD_BUDGET + 4096 for body in seen)
    sent = [base64.b64decode(r["image"]) for body in seen for r in json.loads(body)["dataframe_records"]]
    assert len(sent) == 6 and {Image.open(io.BytesIO(b)).size for b in sent} == {(2048, 1365)}


async def test_a_batch_is_split_to_fit_the_byte_budget(tmp_path: Path) -> None:
    """The batch size follows the bytes: with a 9 MB budget, images of about 4 MB (base64) go two by two."""
    import respx

    from jobs.models.backends import ImageRef, ServingBackend
    from jobs.models.serving import ServingClient, ServingFormat
    from volumes.local import LocalVolumes

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(6):
        _noise(folder / f"p{i}.jpg", (2400, 1600))
    volumes = LocalVolumes({"/Volumes/t/t/photos": folder})
    refs = [ImageRef(i, f"/Volumes/t/t/photos/p{i}.jpg", "") for i in range(6)]
    seen: list[bytes] = []
    with respx.mock(assert_all_called=False) as mock:
        _serving_mock(mock, seen)
        backend = ServingBackend(ServingClient(SERVING, None, ServingFormat(label_key="name", confidence_key="score",
                                                                            bbox_key="box"), budget=9 * 2**20),
                                 volumes, 100_000_000, max_side=4096)
        answers = await backend.predict_each(refs)
        await backend.close()
    assert all(isinstance(a, list) and a[0].label == "car" for a in answers)
    records = [[len(r["image"]) + 16 for r in json.loads(b)["dataframe_records"]] for b in seen]
    assert sum(map(len, records)) == 6 and 1 < len(records) < 6
    assert all(sum(r) <= 9 * 2**20 for r in records)
    assert all(sum(a) + b[0] > 9 * 2**20 for a, b in itertools.pairwise(records))  # as full as fits


def test_serving_boxes_are_read_against_the_image_sent(settings: Settings, images_dir: Path) -> None:
    import respx

    Image.new("RGB", (2000, 1000), (9, 9, 9)).save(images_dir / "wide.jpg")
    conf = dataclasses.replace(settings, serving_url=SERVING, serving_token="dapi-secret",
                               serving_keys=("name", "score", "box", "xyxy_pixel"), model_name="dbx")
    seen: list[bytes] = []
    with respx.mock(assert_all_called=False) as mock, TestClient(create_app(conf)) as c:
        _serving_mock(mock, seen)
        project = create_project(c, classes=["car"])
        done = wait_for_job(c, gql(c, 'mutation($p: ID!){ preannotate(projectId: $p){ id } }',
                                   p=project["id"])["preannotate"]["id"])
        box = gql(c, 'query($p: ID!){ project(id: $p){ samples { edges { node { annotations { box { x y w h } } } } } '
                  '} }', p=project["id"])["project"]["samples"]["edges"][0]["node"]["annotations"][0]["box"]
    assert done["result"]["succeeded"] == 1, done
    [record] = json.loads(seen[0])["dataframe_records"]
    assert Image.open(io.BytesIO(base64.b64decode(record["image"]))).size == (1024, 512)  # the default 1024 px
    assert box == pytest.approx({"x": 100 / 1024, "y": 50 / 512, "w": 500 / 1024, "h": 250 / 512})


def test_a_cold_serving_endpoint_is_waited_for_then_given_up_on_clearly(settings: Settings,
                                                                         images_dir: Path) -> None:
    """A scaled-to-zero endpoint answers 503 while it starts: the request is tried again with growing pauses; past
    SERVING_TIMEOUT_SECONDS every image of the batch fails with that reason (not one request per image)."""
    import httpx
    import respx

    make_images(images_dir, ["a.jpg", "b.jpg"])
    starting = {"left": 2}

    def cold(request: httpx.Request) -> httpx.Response:
        if starting["left"] > 0:
            starting["left"] -= 1
            return httpx.Response(503, json={"error_code": "TEMPORARILY_UNAVAILABLE",
                                             "message": "The endpoint is scaling up from zero."})
        records = json.loads(request.content)["dataframe_records"]
        return httpx.Response(200, json={"predictions": [[{"label": "car", "confidence": 0.9}] for _ in records]})

    conf = dataclasses.replace(settings, serving_url=SERVING, serving_token="dapi-secret", serving_timeout_seconds=3,
                               model_name="dbx")
    run = 'mutation($p: ID!){ preannotate(projectId: $p, input: {statuses: [UNLABELED, PRE_LABELED]}){ id } }'
    seen: list[bytes] = []
    with respx.mock(assert_all_called=False) as mock, TestClient(create_app(conf)) as c:
        _serving_mock(mock, seen, answer=cold)
        project = create_project(c, classes=["car"], task="CLASSIFICATION")
        done = wait_for_job(c, gql(c, run, p=project["id"])["preannotate"]["id"])
        assert done["result"]["succeeded"] == 2 and len(seen) == 3, done  # two 503s, then the answer
        starting["left"] = 10**6  # stopped: it never answers
        seen.clear()
        done = wait_for_job(c, gql(c, run, p=project["id"])["preannotate"]["id"], timeout=30)
    assert done["result"]["failed"] == 2, done
    assert {f["reason"] for f in done["result"]["failures"]} == {
        "the serving endpoint is busy or starting, and kept doing so for 3 s (SERVING_TIMEOUT_SECONDS): is the "
        "endpoint scaled to zero and still starting, or stopped?"}
    assert 2 <= len(seen) <= 4  # pauses of 0.5, 1, 2 s: a bounded number of tries, for the batch as a whole
