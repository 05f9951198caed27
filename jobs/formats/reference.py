"""Reference snapshots (the original tool's default export): the labels of a training set with the images left where
they are. Classification: labels.tsv (full volume path, tab, class index) and classes.txt; detection: COCO whose
file_name is the full volume path and whose bbox is normalised [x, y, w, h]. `problems` says which images cannot go
into one, so an export is refused whole before anything is written."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from db.records import ExportSample, ExportSnapshot

EXAMPLES = 5
UNSAFE_IN_PATH = ("\t", "\n", "\r")  # labels.tsv is one tab-separated line per image


def _box_ok(box: tuple[float, float, float, float] | None) -> bool:
    if box is None or not all(math.isfinite(v) for v in box):
        return False
    x, y, w, h = box
    return x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= 1 + 1e-9 and y + h <= 1 + 1e-9


def why_not(snapshot: ExportSnapshot, s: ExportSample) -> str | None:
    """Why this labelled image cannot go into a reference snapshot, or None."""
    if any(c in s.path for c in UNSAFE_IN_PATH):
        return "a tab or line break in its path"
    known = set(snapshot.classes)
    if snapshot.task_type == "CLASSIFICATION":
        labels = {a.label for a in s.annotations}
        if len(labels) != 1:
            return f"{len(labels)} classes (a reference snapshot needs exactly one)"
        if not labels <= known:
            return f"class {next(iter(labels))!r} is not one of the project's classes"
        return None
    for a in s.annotations:
        if a.label not in known:
            return f"class {a.label!r} is not one of the project's classes"
        if not _box_ok(a.box):
            return "a box that is not finite or not inside the image"
    return None


def problems(snapshot: ExportSnapshot) -> tuple[int, list[str]]:
    """How many labelled images cannot go in, and the first few as 'filename: reason'."""
    count, examples = 0, list[str]()
    for s in snapshot.samples:
        reason = why_not(snapshot, s)
        if reason is not None:
            count += 1
            if len(examples) < EXAMPLES:
                examples.append(f"{s.filename}: {reason}")
    return count, examples


def classification_lines(snapshot: ExportSnapshot) -> Iterator[bytes]:
    index = {c: i for i, c in enumerate(snapshot.classes)}
    chunk: list[str] = []
    for s in snapshot.samples:
        chunk.append(f"{s.path}\t{index[s.annotations[0].label]}\n")
        if len(chunk) >= 10_000:
            yield "".join(chunk).encode()
            chunk = []
    yield "".join(chunk).encode()


def detection_document(snapshot: ExportSnapshot, exported_by: str) -> bytes:
    """COCO with full volume paths and normalised boxes (pixel sizes where known: the loader reads them from the
    image); 1-based category ids in class order, as in the copying COCO export."""
    category = {c: i for i, c in enumerate(snapshot.classes, start=1)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, s in enumerate(snapshot.samples, start=1):
        image: dict[str, Any] = {"id": image_id, "file_name": s.path}
        if s.width and s.height:
            image.update(width=s.width, height=s.height)
        images.append(image)
        for a in s.annotations:
            x, y, w, h = a.box or (0.0, 0.0, 0.0, 0.0)
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": category[a.label],
                                "bbox": [x, y, w, h], "iscrowd": 0})
    return orjson.dumps({
        "info": {"description": f"{snapshot.name} v{snapshot.version} (reference snapshot)",
                 "version": str(snapshot.version), "contributor": exported_by,
                 "date_created": datetime.now(UTC).isoformat(timespec="seconds"),
                 "bbox_format": "normalised [x, y, w, h] of the displayed image (EXIF orientation applied), 0..1"},
        "licenses": [], "images": images, "annotations": annotations,
        "categories": [{"id": i, "name": c, "supercategory": ""} for c, i in category.items()],
    })


def files(snapshot: ExportSnapshot, exported_by: str) -> Iterator[tuple[str, bytes]]:
    if snapshot.task_type == "CLASSIFICATION":
        yield "labels.tsv", b"".join(classification_lines(snapshot))
        yield "classes.txt", ("\n".join(snapshot.classes) + "\n").encode()
    else:
        yield "annotations.json", detection_document(snapshot, exported_by)


CLASSIFICATION_TORCH = '''\
from PIL import Image, ImageOps
from torch.utils.data import Dataset

FOLDER = {folder!r}


class Snapshot(Dataset):
    """Reads each image straight from the volume (a path under /Volumes on Databricks compute)."""

    def __init__(self, folder=FOLDER, transform=None):
        self.classes = open(f"{{folder}}/classes.txt").read().splitlines()
        self.rows = [line.rsplit("\\t", 1) for line in open(f"{{folder}}/labels.tsv").read().splitlines()]
        self.transform = transform

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        path, index = self.rows[i]
        image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
        return (self.transform(image) if self.transform else image), int(index)
'''

CLASSIFICATION_HF = '''\
from datasets import ClassLabel, Dataset, Features, Image

FOLDER = {folder!r}
classes = open(f"{{FOLDER}}/classes.txt").read().splitlines()
rows = [line.rsplit("\\t", 1) for line in open(f"{{FOLDER}}/labels.tsv").read().splitlines()]
dataset = Dataset.from_dict({{"image": [p for p, _ in rows], "label": [int(i) for _, i in rows]}},
                            features=Features({{"image": Image(), "label": ClassLabel(names=classes)}}))
'''

DETECTION_TORCH = '''\
import json

from PIL import Image, ImageOps
from torch.utils.data import Dataset

FOLDER = {folder!r}


class Snapshot(Dataset):
    """Boxes come back as pixel corners [x0, y0, x1, y1] with 0-based class indices (COCO ids are 1-based)."""

    def __init__(self, folder=FOLDER, transform=None):
        coco = json.load(open(f"{{folder}}/annotations.json"))
        self.classes = [c["name"] for c in sorted(coco["categories"], key=lambda c: c["id"])]
        self.images = coco["images"]
        self.boxes = {{im["id"]: [] for im in self.images}}
        for a in coco["annotations"]:
            self.boxes[a["image_id"]].append(a)
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        entry = self.images[i]
        image = ImageOps.exif_transpose(Image.open(entry["file_name"])).convert("RGB")
        w, h = image.size
        boxes = [[x * w, y * h, (x + bw) * w, (y + bh) * h] for x, y, bw, bh in
                 (a["bbox"] for a in self.boxes[entry["id"]])]
        labels = [a["category_id"] - 1 for a in self.boxes[entry["id"]]]
        return (self.transform(image) if self.transform else image), {{"boxes": boxes, "labels": labels}}
'''

DETECTION_HF = '''\
import json

from datasets import Dataset, Image

FOLDER = {folder!r}
coco = json.load(open(f"{{FOLDER}}/annotations.json"))
objects = {{im["id"]: {{"bbox": [], "category": []}} for im in coco["images"]}}
for a in coco["annotations"]:
    objects[a["image_id"]]["bbox"].append(a["bbox"])  # normalised [x, y, w, h]
    objects[a["image_id"]]["category"].append(a["category_id"] - 1)
dataset = Dataset.from_dict({{"image": [im["file_name"] for im in coco["images"]],
                             "objects": [objects[im["id"]] for im in coco["images"]]}}).cast_column("image", Image())
'''


def loading(snapshot: ExportSnapshot, folder: str) -> dict[str, str]:
    """Short loaders (PyTorch, Hugging Face datasets) that read this snapshot's images from the volume."""
    torch, hf = ((CLASSIFICATION_TORCH, CLASSIFICATION_HF) if snapshot.task_type == "CLASSIFICATION"
                 else (DETECTION_TORCH, DETECTION_HF))
    return {"pytorch": torch.format(folder=folder), "huggingface_datasets": hf.format(folder=folder)}
