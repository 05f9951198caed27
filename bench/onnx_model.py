"""Local ONNX model figure (reported, no target): images per second through OnnxModel.predict on this CPU —
letterbox of a 1920x1080 photo to 640x640, a small synthetic YOLO-layout convolutional detector, decoding and
NMS. The network is built here with onnx.helper; no weights are downloaded."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import numpy as np
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from skimage import data as skdata

from bench.figures import Figure, percentile
from bench.live_server import live_server
from jobs.models.onnx_local import OnnxModel
from tests.graphql_client import gql

CLASSES = ["car", "person"]
WORK = Path(__file__).resolve().parent / ".work" / "onnx_model"


def synthetic_detector(size: int = 640, seed: int = 0) -> bytes:
    """Conv(3->16, s2) Relu Conv(16->32, s2) Relu Conv(32->32, s2) Relu Conv(32->6, 1x1) -> [1, 6, N]; the score
    channels get a sigmoid and a low bias, so only a few candidates pass the floor, as with a real detector."""
    rng = np.random.default_rng(seed)

    def conv(name: str, cin: int, cout: int, k: int, stride: int, bias: float = 0.0) -> list:
        w = numpy_helper.from_array((rng.standard_normal((cout, cin, k, k)) * 0.1).astype(np.float32), f"{name}_w")
        b = numpy_helper.from_array(np.full(cout, bias, dtype=np.float32), f"{name}_b")
        return [w, b]

    inits = conv("c1", 3, 16, 3, 2) + conv("c2", 16, 32, 3, 2) + conv("c3", 32, 32, 3, 2) + conv("c4", 32, 6, 1, 1)
    inits[-1] = numpy_helper.from_array(np.array([size / 2, size / 2, 40, 40, -6, -6], dtype=np.float32), "c4_b")
    n = (size // 8) ** 2
    nodes = [
        helper.make_node("Conv", ["images", "c1_w", "c1_b"], ["x1"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["x1"], ["r1"]),
        helper.make_node("Conv", ["r1", "c2_w", "c2_b"], ["x2"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["x2"], ["r2"]),
        helper.make_node("Conv", ["r2", "c3_w", "c3_b"], ["x3"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["x3"], ["r3"]),
        helper.make_node("Conv", ["r3", "c4_w", "c4_b"], ["x4"]),
        helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([1, 6, n], np.int64))),
        helper.make_node("Reshape", ["x4", "shape"], ["flat"]),
        helper.make_node("Slice", ["flat", "s0", "s4", "ax"], ["boxes"]),
        helper.make_node("Slice", ["flat", "s4", "s6", "ax"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["scores"]),
        helper.make_node("Concat", ["boxes", "scores"], ["output0"], axis=1),
    ]
    inits += [numpy_helper.from_array(np.array([v], np.int64), name) for name, v in
              (("s0", 0), ("s4", 4), ("s6", 6), ("ax", 1))]
    graph = helper.make_graph(
        nodes, "synthetic-detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 6, n])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"names": str(dict(enumerate(CLASSES)))})
    return model.SerializeToString()


def run(seconds: float = 5.0) -> list[Figure]:
    model = OnnxModel(synthetic_detector())
    photo = Image.fromarray(skdata.astronaut()).resize((1920, 1080))
    model.predict(photo)  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        model.predict(photo)
        n += 1
    rate = n / (time.perf_counter() - t0)
    return [Figure("local ONNX detector, 640-px input, synthetic 4-conv model, images/s (reported)", rate, "/s", 0,
                   higher_is_better=True), suggest_latency(photo)]


def suggest_latency(photo: Image.Image, calls: int = 30) -> Figure:
    """`suggestAnnotations` over HTTP (the labelling view's M key) on a 1920x1080 JPEG with the local model:
    read + decode + letterbox + inference + NMS + storing the drafts, p95 of sequential calls."""
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "images").mkdir(parents=True)
    (WORK / "models").mkdir()
    photo.save(WORK / "images" / "street.jpg", quality=90)
    (WORK / "models" / "detector.onnx").write_bytes(synthetic_detector())
    env = {"DATABASE_URL": f"sqlite:///{WORK / 'bench.db'}", "DATA_DIR": str(WORK / "data"),
           "VOLUME_MOUNTS": f"/Volumes/b/m/images={WORK / 'images'};/Volumes/b/m/models={WORK / 'models'}",
           "MODEL_PATH": "/Volumes/b/m/models/detector.onnx", "MODEL_NAME": "synthetic"}
    try:
        with live_server(env) as base, httpx.Client(base_url=base, timeout=30) as http:
            project = gql(http, """mutation { createProject(input: {name: "s", taskType: DETECTION,
                classes: ["car", "person"], sourceVolume: "/Volumes/b/m/images"}) { id } }""")["createProject"]
            first = "query($p: ID!){ project(id: $p){ samples(first: 1){ edges { node { id } } } } }"
            while not (edges := gql(http, first, p=project["id"])["project"]["samples"]["edges"]):
                time.sleep(0.1)
            sample = edges[0]["node"]["id"]
            suggest = "mutation($s: ID!){ suggestAnnotations(sampleId: $s){ id } }"
            gql(http, suggest, s=sample)  # the first call loads the model
            took = []
            for _ in range(calls):
                t0 = time.perf_counter()
                gql(http, suggest, s=sample)
                took.append((time.perf_counter() - t0) * 1000)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    return Figure("Suggest (suggestAnnotations) with the local ONNX model, 1920x1080 JPEG, p95", percentile(took, 95),
                  "ms", 1000)


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())
