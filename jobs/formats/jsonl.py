"""JSONL, one image per line, as the original CV Explorer writes it:
{"filename": "a/b.jpg", "annotations": [{"label": "cat", "ann_type": "bbox", "bbox_json": {"x":…, "y":…,
"w":…, "h":…}}]}
`ann_type` is "classification" or "bbox"; boxes are normalised; bbox_json may also be a JSON string; an optional
"confidence" (0 to 1) is kept for imports into model drafts; blank lines are ignored."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import orjson

from db.records import SPLIT_NAMES, AnnotationRecord, ExportSnapshot, ImportItem, RowError, RowErrors
from jobs.formats import Limits, Parsed, values
from jobs.formats.reading import lines as read_lines

KINDS = {"bbox": "BBOX", "classification": "CLASSIFICATION"}


def _annotation(raw: Any) -> AnnotationRecord:
    if type(raw) is not dict:
        raise ValueError(f"each annotation is an object, not {values.describe(raw)}")
    label = values.text(raw.get("label"), "label")
    ann_type = raw.get("ann_type")
    kind = KINDS.get(ann_type.lower()) if type(ann_type) is str else None
    if kind is None:
        raise ValueError(f"ann_type must be 'classification' or 'bbox', not {values.describe(ann_type)}")
    confidence = raw.get("confidence")
    if confidence is not None:
        confidence = values.number(confidence, "confidence")
        if not 0 <= confidence <= 1:
            raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    if kind == "CLASSIFICATION":
        return AnnotationRecord(label, kind, None, confidence)
    box = raw.get("bbox_json")
    if type(box) is str:  # the original tool sometimes wrote the box as JSON text
        try:
            box = orjson.loads(box)
        except orjson.JSONDecodeError:
            raise ValueError("bbox_json is a string that is not JSON") from None
    return AnnotationRecord(label, kind, values.xywh(box, "bbox_json"), confidence)


def _annotations(raw: list[Any]) -> tuple[AnnotationRecord, ...]:
    out = []
    for k, a in enumerate(raw):
        try:
            out.append(_annotation(a))
        except ValueError as exc:
            raise ValueError(f"annotations[{k}]: {exc}") from None
    return tuple(out)


def read(fp: io.BufferedReader, limits: Limits) -> Parsed:
    """Lines are read one at a time (none longer than limits.max_row_bytes); rows and annotations are counted as
    they come, so the file stops at the first one past a limit."""
    items: list[ImportItem] = []
    errors, rows, seen, count = RowErrors(), 0, 0, 0
    for n, line in read_lines(fp, limits.max_row_bytes, "the file"):
        if not line.strip():
            continue
        rows += 1
        limits.items(rows)
        raw: Any = None
        try:
            raw = orjson.loads(line)
            if type(raw) is not dict:
                raise ValueError(f"each line is an object, not {values.describe(raw)}")
            name = values.text(raw.get("filename"), "filename")
            if not name:
                raise ValueError("each line needs a non-empty string filename")
            anns = raw.get("annotations")
            if anns is None:
                anns = []
            if type(anns) is not list:
                raise ValueError(f"annotations must be a list, not {values.describe(anns)}")
            seen += len(anns)
            limits.annotations(seen)
            item = ImportItem(n, name, _annotations(anns))
        except (orjson.JSONDecodeError, ValueError) as exc:
            given = raw.get("filename") if type(raw) is dict else ""
            errors.add(RowError(n, values.shown(given) if type(given) is str else "", f"line {n}: {exc}"))
            continue
        count += len(item.annotations)
        items.append(item)
    return Parsed(items, errors, count)


def lines(snapshot: ExportSnapshot) -> Iterator[bytes]:
    for s in snapshot.samples:
        anns: list[dict[str, Any]] = []
        for a in s.annotations:
            if a.kind == "BBOX" and a.box:
                anns.append({"label": a.label, "ann_type": "bbox",
                             "bbox_json": dict(zip("xywh", a.box, strict=True))})
            else:
                anns.append({"label": a.label, "ann_type": "classification"})
            if snapshot.annotators:
                anns[-1]["annotator"] = a.created_by
        line: dict[str, Any] = {"filename": s.filename, "annotations": anns}
        if s.split is not None:
            line["split"] = SPLIT_NAMES[s.split]
        yield orjson.dumps(line) + b"\n"
