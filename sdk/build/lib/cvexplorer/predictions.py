"""Predictions in bulk → the server's JSONL import format (one line per image, boxes normalised x, y, w, h), so
they go in as one upload and one import job.

Accepted inputs: a list of dicts (or any iterable of mappings), a pandas DataFrame, a Spark DataFrame (read with
toLocalIterator, a partition at a time) — each with the columns `filename`, `label`, the box, optional
`confidence` and, for pixel boxes, optional `width` / `height` (the image's size) — or numpy arrays / lists passed
as filenames=, labels=, boxes= (N x 4), confidences=.

The box: `box_format="xywh"` (left, top, width, height; columns x, y, w, h), `"xyxy"` (corners; columns x1, y1,
x2, y2) or `"cxcywh"` (centre and size, as YOLO; columns cx, cy, w, h); or one `box` column of 4-sequences in that
format. `pixels=False` (default): values are fractions of the image (0..1); `pixels=True`: pixels of the image as
displayed, divided by its width and height. A row without a box (all four missing / NaN) is a classification
label."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any

BOX_COLUMNS = {"xywh": ("x", "y", "w", "h"), "xyxy": ("x1", "y1", "x2", "y2"), "cxcywh": ("cx", "cy", "w", "h")}


class Columns:
    """Predictions as parallel lists (one entry per box or label)."""

    def __init__(self) -> None:
        self.filenames: list[str] = []
        self.labels: list[str] = []
        self.boxes: list[Sequence[float] | None] = []
        self.confidences: list[float | None] = []
        self.widths: list[float | None] = []
        self.heights: list[float | None] = []

    def __len__(self) -> int:
        return len(self.filenames)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _box_of(row: Mapping[str, Any], names: tuple[str, ...]) -> Sequence[float] | None:
    if "box" in row:
        box = row["box"]
        return None if box is None or len(box) == 0 or all(_missing(v) for v in box) else box
    values = [row.get(n) for n in names]
    return None if all(_missing(v) for v in values) else values  # type: ignore[return-value]


def _from_rows(rows: Iterable[Mapping[str, Any]], box_format: str) -> Columns:
    names, out = BOX_COLUMNS[box_format], Columns()
    for n, row in enumerate(rows):
        if "filename" not in row or "label" not in row:
            raise ValueError(f"prediction {n} has no {'filename' if 'filename' not in row else 'label'}: each one "
                             f"needs filename, label and the box ({', '.join(names)}, or box)")
        out.filenames.append(row["filename"])
        out.labels.append(row["label"])
        out.boxes.append(_box_of(row, names))
        out.confidences.append(row.get("confidence"))
        out.widths.append(row.get("width"))
        out.heights.append(row.get("height"))
    return out


def _from_pandas(df: Any, box_format: str) -> Columns:
    names, out = BOX_COLUMNS[box_format], Columns()
    missing = [c for c in ("filename", "label") if c not in df.columns]
    if missing or not ("box" in df.columns or all(c in df.columns for c in names)):
        raise ValueError(f"the DataFrame needs the columns filename, label and {', '.join(names)} (or box) for "
                         f"box_format={box_format!r}; it has {', '.join(map(str, df.columns))}")
    n = len(df)
    out.filenames, out.labels = df["filename"].astype(str).tolist(), df["label"].astype(str).tolist()
    if "box" in df.columns:
        out.boxes = [None if b is None or all(_missing(v) for v in b) else list(b) for b in df["box"].tolist()]
    else:
        cols = [df[c].astype(float).tolist() for c in names]
        out.boxes = [None if all(math.isnan(v) for v in box) else box for box in zip(*cols, strict=True)]
    for name, attr in (("confidence", "confidences"), ("width", "widths"), ("height", "heights")):
        setattr(out, attr, [None if _missing(v) else v for v in df[name].astype(float).tolist()]
                if name in df.columns else [None] * n)
    return out


def _from_arrays(filenames: Any, labels: Any, boxes: Any, confidences: Any) -> Columns:
    out = Columns()
    out.filenames = [str(f) for f in (filenames.tolist() if hasattr(filenames, "tolist") else filenames)]
    out.labels = [str(x) for x in (labels.tolist() if hasattr(labels, "tolist") else labels)]
    n = len(out.filenames)
    raw = boxes.tolist() if hasattr(boxes, "tolist") else list(boxes) if boxes is not None else [None] * n
    out.boxes = [None if b is None or all(_missing(v) for v in b) else b for b in raw]
    conf = confidences.tolist() if hasattr(confidences, "tolist") else confidences
    out.confidences = list(conf) if conf is not None else [None] * n
    out.widths, out.heights = [None] * n, [None] * n
    if not len(out.labels) == len(out.boxes) == len(out.confidences) == n:
        raise ValueError(f"filenames, labels, boxes and confidences must have one entry per prediction "
                         f"({n}, {len(out.labels)}, {len(out.boxes)}, {len(out.confidences)})")
    return out


def columns(data: Any = None, *, filenames: Any = None, labels: Any = None, boxes: Any = None,
            confidences: Any = None, box_format: str = "xywh") -> Columns:
    """Whatever was given, as Columns (pandas and pyspark are never imported: the objects are recognised by
    their methods)."""
    if box_format not in BOX_COLUMNS:
        raise ValueError(f"box_format must be one of {', '.join(BOX_COLUMNS)}, not {box_format!r}")
    if data is None:
        if filenames is None or labels is None:
            raise ValueError("give the predictions as data=..., or as filenames=, labels= and boxes= arrays")
        return _from_arrays(filenames, labels, boxes, confidences)
    if hasattr(data, "toLocalIterator") and hasattr(data, "schema"):  # a Spark DataFrame
        return _from_rows((row.asDict() for row in data.toLocalIterator()), box_format)
    if hasattr(data, "columns") and hasattr(data, "astype") and hasattr(data, "__len__"):  # a pandas DataFrame
        return _from_pandas(data, box_format)
    return _from_rows(data, box_format)


def _normalised(box: Sequence[float], box_format: str, size: tuple[float, float] | None, clip: bool
                ) -> tuple[float, float, float, float]:
    a, b, c, d = (float(v) for v in box)
    if box_format == "xyxy":
        c, d = c - a, d - b
    elif box_format == "cxcywh":
        a, b = a - c / 2, b - d / 2
    if size is not None:
        a, b, c, d = a / size[0], b / size[1], c / size[0], d / size[1]
    if clip:
        x2, y2 = min(1.0, a + c), min(1.0, b + d)
        a, b = max(0.0, a), max(0.0, b)
        c, d = max(0.0, x2 - a), max(0.0, y2 - b)
    return a, b, c, d


def write_jsonl(cols: Columns, out: IO[bytes], *, box_format: str = "xywh", pixels: bool = False,
                size_of: Callable[[str], tuple[float, float] | None] | None = None, clip: bool = False) -> int:
    """Writes one JSONL line per image (its predictions in the order given); returns the number of images.
    With pixels, each box is divided by its row's width/height, else by size_of(filename)."""
    groups: dict[str, list[int]] = {}
    for i, f in enumerate(cols.filenames):
        groups.setdefault(f, []).append(i)
    quoted: dict[str, str] = {}
    for filename, rows in groups.items():
        anns = []
        for i in rows:
            label = cols.labels[i]
            q = quoted.get(label) or quoted.setdefault(label, json.dumps(label))
            conf = cols.confidences[i]
            tail = "" if _missing(conf) else f',"confidence":{float(conf)!r}'  # type: ignore[arg-type]
            box = cols.boxes[i]
            if box is None:
                anns.append(f'{{"label":{q},"ann_type":"classification"{tail}}}')
                continue
            size = None
            if pixels:
                w, h = cols.widths[i], cols.heights[i]
                size = (w, h) if not (_missing(w) or _missing(h)) else size_of(filename) if size_of else None
                if size is None:
                    raise ValueError(f"{filename}: pixel boxes need the image's size: give width and height "
                                     "columns (the server does not know it yet)")
            x, y, w, h = _normalised(box, box_format, size, clip)
            anns.append(f'{{"label":{q},"ann_type":"bbox","bbox_json":{{"x":{x!r},"y":{y!r},"w":{w!r},'
                        f'"h":{h!r}}}{tail}}}')
        out.write(f'{{"filename":{json.dumps(filename)},"annotations":[{",".join(anns)}]}}\n'.encode())
    return len(groups)
