"""COCO object-detection JSON. Reading: pixel bbox [x, y, w, h] is normalised with the images[] sizes; an
annotation without bbox is an image-level classification label; iscrowd and segmentation are ignored.
Writing: 1-based category ids in class order; classification labels as annotations without bbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, BinaryIO

import orjson

from jobs.formats import ExportSnapshot, ImportItem, ItemAnnotation, Parsed, RowError


def _fail(message: str) -> Parsed:
    return Parsed([], [RowError(0, "", message)])


def read(fp: BinaryIO) -> Parsed:
    try:
        doc = orjson.loads(fp.read())
    except orjson.JSONDecodeError as exc:
        return _fail(f"not valid JSON: {exc}")
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        return _fail("a COCO file is a JSON object with an images list")
    names = {c.get("id"): c.get("name") for c in doc.get("categories") or [] if isinstance(c, dict)}
    items: dict[Any, ImportItem] = {}
    sizes: dict[Any, tuple[float, float] | None] = {}
    errors: list[RowError] = []
    for n, im in enumerate(doc["images"], start=1):
        if not isinstance(im, dict) or not isinstance(im.get("file_name"), str) or "id" not in im:
            errors.append(RowError(n, "", f"images[{n - 1}] needs an id and a file_name"))
            continue
        if im["id"] in items:
            errors.append(RowError(n, im["file_name"], f"image id {im['id']} appears twice"))
            continue
        w, h = im.get("width"), im.get("height")
        known = isinstance(w, int | float) and isinstance(h, int | float) and w > 0 and h > 0
        sizes[im["id"]] = (float(w), float(h)) if known else None
        items[im["id"]] = ImportItem(n, im["file_name"], size=(round(w), round(h)) if known else None)
    count = 0
    for k, a in enumerate(doc.get("annotations") or []):
        if not isinstance(a, dict) or a.get("image_id") not in items:
            errors.append(RowError(0, "", f"annotations[{k}] refers to an image id that is not in images"))
            continue
        item = items[a["image_id"]]
        label = names.get(a.get("category_id"))
        if not isinstance(label, str):
            errors.append(RowError(item.row, item.filename,
                                   f"annotations[{k}]: category_id {a.get('category_id')!r} is not in categories"))
            continue
        bbox = a.get("bbox")
        if not bbox:
            item.annotations.append(ItemAnnotation(label, "CLASSIFICATION"))
        else:
            size = sizes[a["image_id"]]
            if size is None:
                errors.append(RowError(item.row, item.filename, "the image has no width/height to normalise its "
                                                                "boxes with"))
                continue
            try:
                x, y, w, h = bbox
                box = (float(x) / size[0], float(y) / size[1], float(w) / size[0], float(h) / size[1])
            except (TypeError, ValueError):
                errors.append(RowError(item.row, item.filename, f"annotations[{k}]: bbox must be 4 numbers"))
                continue
            item.annotations.append(ItemAnnotation(label, "BBOX", box))
        count += 1
    return Parsed(list(items.values()), errors, count)


def document(snapshot: ExportSnapshot, exported_by: str) -> bytes:
    category = {c: i for i, c in enumerate(snapshot.classes, start=1)}
    images, annotations = [], []
    for image_id, s in enumerate(snapshot.samples, start=1):
        images.append({"id": image_id, "file_name": s.filename, "width": s.width, "height": s.height})
        for a in s.annotations:
            ann: dict[str, Any] = {"id": len(annotations) + 1, "image_id": image_id, "category_id": category[a.label],
                                   "iscrowd": 0}
            if a.box:
                x, y, w, h = a.box
                ann["bbox"] = [x * s.width, y * s.height, w * s.width, h * s.height]
                ann["area"] = ann["bbox"][2] * ann["bbox"][3]
            annotations.append(ann)
    return orjson.dumps({
        "info": {"description": f"{snapshot.name} v{snapshot.version}", "version": str(snapshot.version),
                 "year": datetime.now(UTC).year, "contributor": exported_by,
                 "date_created": datetime.now(UTC).isoformat(timespec="seconds")},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": c, "supercategory": ""} for c, i in category.items()],
    })
