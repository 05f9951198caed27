"""The demo's dataset files, written beside its photos: the true boxes of two images in three as labels, and a
stand-in detector's predictions for every image (the true boxes a little off, some missed, some given another
class, some boxes on nothing, each with a confidence). Imported into the detection demo (the labels, then the
predictions as a model's drafts) they give Evaluate model and the likely-error queue something real to score.
No model weights can ship with the app, so the predictions are made from what the demo knows, and say so."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson

from volumes.demo_images import DEMO_CLASSES, Box, DemoImage

LABELS = "demo-detection-labels.jsonl"
PREDICTIONS = "demo-detection-predictions.jsonl"


def _box(x: float, y: float, w: float, h: float) -> dict[str, float]:
    w, h = max(0.01, min(w, 1.0)), max(0.01, min(h, 1.0))
    x, y = min(max(x, 0.0), 1.0 - w), min(max(y, 0.0), 1.0 - h)
    return {"x": round(x, 5), "y": round(y, 5), "w": round(w, 5), "h": round(h, 5)}


def _label(obj: Box) -> dict[str, Any]:
    return {"label": obj[0], "ann_type": "bbox", "bbox_json": _box(*obj[1:])}


def _predictions(objects: list[Box], rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for label, x, y, w, h in objects:
        if rng.random() < 0.1:
            continue  # missed
        confidence = rng.uniform(0.6, 0.99)
        if rng.random() < 0.1:  # called something else, less surely
            label, confidence = rng.choice([c for c in DEMO_CLASSES if c != label]), rng.uniform(0.3, 0.7)
        jitter = [rng.gauss(0, 0.015) for _ in range(4)]
        out.append({"label": label, "ann_type": "bbox", "confidence": round(confidence, 3),
                    "bbox_json": _box(x + jitter[0], y + jitter[1], w + jitter[2], h + jitter[3])})
    if rng.random() < 0.2:  # a box on nothing
        w, h = rng.uniform(0.1, 0.3), rng.uniform(0.1, 0.3)
        out.append({"label": rng.choice(DEMO_CLASSES), "ann_type": "bbox",
                    "confidence": round(rng.uniform(0.2, 0.6), 3),
                    "bbox_json": _box(rng.uniform(0, 1 - w), rng.uniform(0, 1 - h), w, h)})
    return out


def write_demo_files(folder: Path, images: list[DemoImage], seed: int = 11) -> None:
    """LABELS (images 0, 1, 3, 4, 6, …: every third left to label by hand) and PREDICTIONS (every image)."""
    rng = random.Random(seed)
    with open(folder / LABELS, "wb") as labels, open(folder / PREDICTIONS, "wb") as predictions:
        for i, image in enumerate(images):
            if i % 3 != 2:
                labels.write(orjson.dumps({"filename": image.relative_path,
                                           "annotations": [_label(o) for o in image.objects]}) + b"\n")
            predictions.write(orjson.dumps({"filename": image.relative_path,
                                            "annotations": _predictions(image.objects, rng)}) + b"\n")
