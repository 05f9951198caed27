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
label. Coordinates are sent rounded to 7 decimals (a ten-millionth of the image: far below a pixel)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any

import orjson

BOX_COLUMNS = {"xywh": ("x", "y", "w", "h"), "xyxy": ("x1", "y1", "x2", "y2"), "cxcywh": ("cx", "cy", "w", "h")}
NAN = math.nan
DECIMALS = 7


class Columns:
    """Predictions as parallel columns, one entry per box or label: the four box values as given (NaN where a row
    has no box), confidences, widths and heights (NaN where not given)."""

    def __init__(self, filenames: list[str], labels: list[str], coords: list[list[float]],
                 confidences: list[float], widths: list[float], heights: list[float]) -> None:
        self.filenames, self.labels, self.coords = filenames, labels, coords
        self.confidences, self.widths, self.heights = confidences, widths, heights
        n = len(filenames)
        if {len(labels), *(len(c) for c in coords), len(confidences), len(widths), len(heights)} != {n}:
            raise ValueError("every prediction needs a filename, a label and a box (or none): the columns differ in "
                             "length")

    def __len__(self) -> int:
        return len(self.filenames)


def _number(v: Any) -> float:
    return NAN if v is None else float(v)


def _from_rows(rows: Iterable[Mapping[str, Any]], box_format: str) -> Columns:
    names = BOX_COLUMNS[box_format]
    filenames, labels, conf, widths, heights = [], [], [], [], []
    coords: list[list[float]] = [[], [], [], []]
    for n, row in enumerate(rows):
        if "filename" not in row or "label" not in row:
            raise ValueError(f"prediction {n} has no {'filename' if 'filename' not in row else 'label'}: each one "
                             f"needs filename, label and the box ({', '.join(names)}, or box)")
        filenames.append(str(row["filename"]))
        labels.append(str(row["label"]))
        box = row["box"] if "box" in row else [row.get(k) for k in names]
        if box is None or len(box) == 0:
            box = (None, None, None, None)
        if len(box) != 4:
            raise ValueError(f"prediction {n}: a box has 4 values, not {len(box)}")
        for column, v in zip(coords, box, strict=True):
            column.append(_number(v))
        conf.append(_number(row.get("confidence")))
        widths.append(_number(row.get("width")))
        heights.append(_number(row.get("height")))
    return Columns(filenames, labels, coords, conf, widths, heights)


def _from_pandas(df: Any, box_format: str) -> Columns:
    names = BOX_COLUMNS[box_format]
    missing = [c for c in ("filename", "label") if c not in df.columns]
    if missing or not ("box" in df.columns or all(c in df.columns for c in names)):
        raise ValueError(f"the DataFrame needs the columns filename, label and {', '.join(names)} (or box) for "
                         f"box_format={box_format!r}; it has {', '.join(map(str, df.columns))}")
    n = len(df)
    if "box" in df.columns:
        boxes = [(None,) * 4 if b is None or len(b) == 0 else b for b in df["box"].tolist()]
        coords = [[_number(b[k]) for b in boxes] for k in range(4)]
    else:
        coords = [df[c].astype(float).tolist() for c in names]

    def optional(name: str) -> list[float]:
        return df[name].astype(float).tolist() if name in df.columns else [NAN] * n

    return Columns(df["filename"].astype(str).tolist(), df["label"].astype(str).tolist(), coords,
                   optional("confidence"), optional("width"), optional("height"))


def _listed(values: Any) -> list:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _from_arrays(filenames: Any, labels: Any, boxes: Any, confidences: Any) -> Columns:
    names = [str(f) for f in _listed(filenames)]
    n = len(names)
    given: list[Any] = _listed(boxes) if boxes is not None else [None] * n
    raw = [(None,) * 4 if b is None or len(b) == 0 else b for b in given]
    if any(len(b) != 4 for b in raw):
        raise ValueError("boxes must be N x 4")
    coords = [[_number(b[k]) for b in raw] for k in range(4)]
    conf = [_number(c) for c in _listed(confidences)] if confidences is not None else [NAN] * n
    return Columns(names, [str(x) for x in _listed(labels)], coords, conf, [NAN] * n, [NAN] * n)


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


def _normalised(cols: Columns, box_format: str, pixels: bool,
                size_of: Callable[[str], tuple[float, float] | None] | None, clip: bool) -> list[list[float]]:
    """x, y, w, h as fractions of the image, column by column (comprehensions: a million boxes in about a second);
    NaN stays NaN, so a row without a box stays one."""
    a, b, c, d = cols.coords
    if box_format == "xyxy":
        c, d = [x2 - x1 for x1, x2 in zip(a, c, strict=True)], [y2 - y1 for y1, y2 in zip(b, d, strict=True)]
    elif box_format == "cxcywh":
        a, b = [cx - w / 2 for cx, w in zip(a, c, strict=True)], [cy - h / 2 for cy, h in zip(b, d, strict=True)]
    if pixels:
        widths, heights = list(cols.widths), list(cols.heights)
        for i, (w, h) in enumerate(zip(widths, heights, strict=True)):
            if (w != w or h != h) and a[i] == a[i]:  # no size given for a box: the server's
                size = size_of(cols.filenames[i]) if size_of else None
                if size is None:
                    raise ValueError(f"{cols.filenames[i]}: pixel boxes need the image's size: give width and height "
                                     "columns (the server does not know it yet)")
                widths[i], heights[i] = size
        a = [v / w for v, w in zip(a, widths, strict=True)]
        c = [v / w for v, w in zip(c, widths, strict=True)]
        b = [v / h for v, h in zip(b, heights, strict=True)]
        d = [v / h for v, h in zip(d, heights, strict=True)]
    if clip:
        x2 = [min(1.0, x + w) for x, w in zip(a, c, strict=True)]
        y2 = [min(1.0, y + h) for y, h in zip(b, d, strict=True)]
        a, b = [max(0.0, x) for x in a], [max(0.0, y) for y in b]
        c = [max(0.0, r - x) for x, r in zip(a, x2, strict=True)]
        d = [max(0.0, r - y) for y, r in zip(b, y2, strict=True)]
    return [_rounded(column) for column in (a, b, c, d)]


def _rounded(column: list[float]) -> list[float]:
    """To DECIMALS places, so each number is written short (k / 10**7 prints as its decimal); NaN stays NaN.
    round(v * 1e7) / 1e7 rather than round(v, 7), which costs a microsecond a value."""
    scale = 10.0**DECIMALS
    return [v if v != v else round(v * scale) / scale for v in column]


def write_jsonl(cols: Columns, out: IO[bytes], *, box_format: str = "xywh", pixels: bool = False,
                size_of: Callable[[str], tuple[float, float] | None] | None = None, clip: bool = False) -> int:
    """Writes one JSONL line per image (its predictions in the order given); returns the number of images.
    With pixels, each box is divided by its row's width/height, else by size_of(filename). A box with some values
    missing is sent with nulls there, which the import reports as a row error."""
    xs, ys, ws, hs = _normalised(cols, box_format, pixels, size_of, clip)
    groups: dict[str, list[int]] = {}
    for i, f in enumerate(cols.filenames):
        groups.setdefault(f, []).append(i)
    labels, confidences = cols.labels, _rounded(cols.confidences)
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    for filename, rows in groups.items():
        anns = []
        for i in rows:
            x, y, w, h = xs[i], ys[i], ws[i], hs[i]
            if x != x and y != y and w != w and h != h:  # all NaN: a classification label
                a: dict[str, Any] = {"label": labels[i], "ann_type": "classification"}
            else:  # NaN is written as null
                a = {"label": labels[i], "ann_type": "bbox", "bbox_json": {"x": x, "y": y, "w": w, "h": h}}
            c = confidences[i]
            if c == c:
                a["confidence"] = c
            anns.append(a)
        out.write(dumps({"filename": filename, "annotations": anns}, option=newline))
    return len(groups)
