"""The embedded default model: an ONNX file run with onnxruntime on the CPU (or a GPU provider when present).

Detectors in the YOLO layout (output `[1, 4 + C, N]` or `[1, N, 4 + C]`, centre boxes in input pixels, per-class
scores) get letterboxed input, a score floor and per-class non-maximum suppression; classifiers (output
`[1, C]`, logits or probabilities) give their top class. Class names come from the model's metadata (`names`,
as Ultralytics writes it) or from MODEL_CLASSES."""

from __future__ import annotations

import ast
import math

import numpy as np
from PIL import Image

from jobs.models import ModelError, Prediction

SCORE_FLOOR = 0.05  # predictions under this never leave the model; the job's minConfidence filters further
IOU_NMS = 0.45
PAD = 114


def _names(meta: dict[str, str], configured: list[str] | None) -> list[str] | None:
    if configured:
        return configured
    raw = meta.get("names")
    if not raw:
        return None
    try:
        names = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return [n.strip() for n in raw.split(",") if n.strip()]
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names)]
    return [str(n) for n in names]


def letterbox(image: Image.Image, size: tuple[int, int]) -> tuple[np.ndarray, float, float, float]:
    """The image scaled to fit (w, h) with grey padding, as a 1x3xHxW float array; and scale, pad x, pad y."""
    w, h = size
    scale = min(w / image.width, h / image.height)
    nw, nh = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    canvas = Image.new("RGB", (w, h), (PAD, PAD, PAD))
    px, py = (w - nw) // 2, (h - nh) // 2
    canvas.paste(image.resize((nw, nh), Image.Resampling.BILINEAR), (px, py))
    array = np.asarray(canvas, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0
    return array, scale, px, py


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Indices kept by greedy non-maximum suppression; boxes as x0, y0, x1, y1."""
    order = scores.argsort()[::-1]
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        x0 = np.maximum(boxes[i, 0], boxes[order[1:], 0])
        y0 = np.maximum(boxes[i, 1], boxes[order[1:], 1])
        x1 = np.minimum(boxes[i, 2], boxes[order[1:], 2])
        y1 = np.minimum(boxes[i, 3], boxes[order[1:], 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        overlap = inter / np.maximum(area[i] + area[order[1:]] - inter, 1e-9)
        order = order[1:][overlap <= iou]
    return keep


class OnnxModel:
    def __init__(self, data: bytes, classes: list[str] | None = None) -> None:
        import onnxruntime as ort

        wanted = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        try:
            self.session = ort.InferenceSession(data, providers=wanted)
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ModelError(f"the ONNX file cannot be loaded ({type(exc).__name__})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        self.names = _names(meta, classes)
        if not self.names:
            raise ModelError("the model has no class names: set MODEL_CLASSES or add `names` metadata")
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        dims = [d if isinstance(d, int) and d > 0 else 640 for d in inp.shape]
        self.size = (dims[3], dims[2])
        self.detector = len(self.session.get_outputs()[0].shape) == 3

    def predict(self, image: Image.Image) -> list[Prediction]:
        array, scale, px, py = letterbox(image, self.size)
        try:
            out = np.asarray(self.session.run(None, {self.input_name: array})[0], dtype=np.float64)
        except Exception as exc:
            raise ModelError(f"the model failed on this image ({type(exc).__name__})") from None
        if not np.isfinite(out).all():
            raise ModelError("the model's output has values that are not finite numbers")
        return self._boxes(out, image, scale, px, py) if self.detector else self._top_class(out)

    def _top_class(self, out: np.ndarray) -> list[Prediction]:
        scores = out.reshape(-1)
        if scores.size != len(self.names):  # type: ignore[arg-type]
            raise ModelError(f"the classifier gives {scores.size} scores for {len(self.names)} classes")  # type: ignore
        if scores.min() < 0 or scores.max() > 1 or not math.isclose(float(scores.sum()), 1.0, abs_tol=1e-3):
            scores = np.exp(scores - scores.max())
            scores = scores / scores.sum()
        best = int(scores.argmax())
        return [Prediction(self.names[best], "CLASSIFICATION", None, float(scores[best]))]  # type: ignore[index]

    def _boxes(self, out: np.ndarray, image: Image.Image, scale: float, px: float, py: float) -> list[Prediction]:
        rows = 4 + len(self.names)  # type: ignore[arg-type]
        out = out[0]
        if out.shape[0] == rows:
            out = out.T
        elif out.shape[1] != rows:
            raise ModelError(f"expected a [1, {rows}, N] or [1, N, {rows}] output, got {list(out.shape)}")
        scores = out[:, 4:]
        cls = scores.argmax(axis=1)
        conf = scores[np.arange(len(cls)), cls]
        mask = conf >= SCORE_FLOOR
        cx, cy, w, h = (out[mask, k] for k in range(4))
        x0, y0 = (cx - w / 2 - px) / scale, (cy - h / 2 - py) / scale
        x1, y1 = (cx + w / 2 - px) / scale, (cy + h / 2 - py) / scale
        boxes = np.stack([x0, y0, x1, y1], axis=1).clip(0, [image.width, image.height, image.width, image.height])
        cls, conf = cls[mask], conf[mask]
        predictions = []
        for c in np.unique(cls):
            idx = np.nonzero(cls == c)[0]
            for k in nms(boxes[idx], conf[idx], IOU_NMS):
                b = boxes[idx[k]]
                bw, bh = (b[2] - b[0]) / image.width, (b[3] - b[1]) / image.height
                if bw > 0 and bh > 0:
                    predictions.append(Prediction(self.names[int(c)], "BBOX",  # type: ignore[index]
                                                  (float(b[0] / image.width), float(b[1] / image.height),
                                                   float(bw), float(bh)),
                                                  float(conf[idx[k]])))
        return predictions
