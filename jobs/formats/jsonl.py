"""JSONL, one image per line, as the original CV Explorer writes it:
{"filename": "a/b.jpg", "annotations": [{"label": "cat", "ann_type": "bbox", "bbox_json": {"x":…, "y":…,
"w":…, "h":…}}]}
`ann_type` is "classification" or "bbox"; boxes are normalised; bbox_json may also be a JSON string; blank lines
are ignored."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson

from jobs.formats import ExportSnapshot, ImportItem, ItemAnnotation, Parsed, RowError

KINDS = {"bbox": "BBOX", "classification": "CLASSIFICATION"}


def _annotation(raw: Any) -> ItemAnnotation:
    if not isinstance(raw, dict) or not isinstance(raw.get("label"), str):
        raise ValueError("each annotation needs a string label")
    kind = KINDS.get(str(raw.get("ann_type", "")).lower())
    if kind is None:
        raise ValueError(f"ann_type must be 'classification' or 'bbox', not {raw.get('ann_type')!r}")
    if kind == "CLASSIFICATION":
        return ItemAnnotation(raw["label"], kind)
    box = raw.get("bbox_json")
    if isinstance(box, str):
        box = orjson.loads(box)
    if not isinstance(box, dict) or not all(k in box for k in "xywh"):
        raise ValueError("a bbox annotation needs bbox_json with x, y, w, h")
    return ItemAnnotation(raw["label"], kind, tuple(float(box[k]) for k in "xywh"))  # type: ignore[arg-type]


def read(fp: BinaryIO) -> Parsed:
    items, errors, count = [], [], 0
    for n, line in enumerate(fp, start=1):
        if not line.strip():
            continue
        raw: Any = None
        try:
            raw = orjson.loads(line)
            if not isinstance(raw, dict) or not isinstance(raw.get("filename"), str) or not raw["filename"]:
                raise ValueError("each line needs a non-empty string filename")
            anns = raw.get("annotations") or []
            if not isinstance(anns, list):
                raise ValueError("annotations must be a list")
            item = ImportItem(n, raw["filename"], [_annotation(a) for a in anns])
        except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
            name = raw.get("filename", "") if isinstance(raw, dict) else ""
            errors.append(RowError(n, str(name), f"line {n}: {exc}"))
            continue
        count += len(item.annotations)
        items.append(item)
    return Parsed(items, errors, count)


def lines(snapshot: ExportSnapshot) -> Iterator[bytes]:
    for s in snapshot.samples:
        anns = []
        for a in s.annotations:
            if a.kind == "BBOX" and a.box:
                anns.append({"label": a.label, "ann_type": "bbox",
                             "bbox_json": dict(zip("xywh", a.box, strict=True))})
            else:
                anns.append({"label": a.label, "ann_type": "classification"})
        yield orjson.dumps({"filename": s.filename, "annotations": anns}) + b"\n"
