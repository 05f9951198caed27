"""COCO object-detection JSON. Reading: pixel bbox [x, y, w, h] is normalised with the images[] sizes; an
annotation without bbox is an image-level classification label; iscrowd and segmentation are ignored.
Writing: 1-based category ids in class order; classification labels as annotations without bbox."""

from __future__ import annotations

import itertools
import math
from array import array
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from math import isfinite
from operator import itemgetter
from typing import Any, BinaryIO, NamedTuple

import numpy as np
import orjson

from db.annotation_columns import AnnotationColumns, ColumnSpan
from db.errors import Invalid
from db.export_samples import SampleTable
from db.records import AnnotationRecord, ExportSample, ExportSnapshot, ImportItem, RowError, RowErrors, confirmed
from jobs.formats import Limits, Parsed, values
from jobs.formats.json_stream import BadJson, JsonStream

SECTIONS = ("images", "annotations", "categories")


def _fail(message: str) -> Parsed:
    return Parsed([], RowErrors([RowError(0, "", message)]))


class _Image(NamedTuple):
    """An image entry while the file is read: its position among the images, and the annotations that did not
    take the plain path (see _Reader.annotation), as (annotation index, record) or, before the categories are
    known, (annotation index, (category id, box)) pairs, until finish() freezes them into an ImportItem."""

    position: int
    row: int
    filename: str
    annotations: list[tuple[int, Any]]
    size: tuple[int, int] | None


class _Plain:
    """The plain annotations (a box of four numbers, in pixels, on an image of known size) as columns, in file
    order: the image's position, the category id, the annotation's index and the pixel box."""

    def __init__(self) -> None:
        self.image, self.category, self.index = array("q"), array("q"), array("q")
        self.box = array("d")

    def columns(self, items: list[_Image], sizes: np.ndarray, names: dict[int, str], errors: RowErrors
                ) -> tuple[AnnotationColumns, np.ndarray]:
        """The boxes normalised, grouped by image (file order within one), named; each box of an unknown category
        is an error of its image and is left out. Also returns each kept box's annotation index."""
        image = np.frombuffer(self.image, dtype=np.int64)
        category = np.frombuffer(self.category, dtype=np.int64)
        ids = np.array(sorted(names), dtype=np.int64)
        at = np.minimum(np.searchsorted(ids, category), max(len(ids) - 1, 0))
        known = ids[at] == category if len(ids) else np.zeros(len(category), dtype=bool)
        index = np.frombuffer(self.index, dtype=np.int64)
        for k in np.flatnonzero(~known).tolist():
            item = items[int(image[k])]
            errors.add(RowError(item.row, item.filename,
                                f"annotations[{index[k]}]: category_id {category[k]} is not in categories"))
        order = np.argsort(image, kind="stable")
        order = order[known[order]]
        image = image[order]
        box = np.frombuffer(self.box, dtype=np.float64).reshape(-1, 4)[order]
        wh = sizes[image]
        box /= np.column_stack([wh, wh])
        labels = [names[c] for c in ids.tolist()]
        columns = AnnotationColumns(labels, ["BBOX"], image, at[order].astype(np.int32),
                                    np.zeros(len(order), dtype=np.int8), box)
        return columns, index[order]


class _Reader:
    """Takes the three lists' entries as they stream past, in whatever order the file has them: annotations read
    before their images wait (compactly), annotations read before the categories carry the category id as their
    label until the end."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.errors = RowErrors()
        self.names: dict[int, str] | None = None
        self.items: dict[int | str, _Image] | None = None
        self.sizes: dict[int | str, tuple[float, float] | None] = {}
        self.waiting: list[tuple[int, int | str, int, values.Box | None]] = []
        self.plain = _Plain()
        self.count = 0

    def category(self, k: int, c: Any) -> None:
        try:
            if type(c) is not dict:
                raise ValueError(f"each category is an object, not {values.describe(c)}")
            cid = values.whole(c.get("id"), "id")
            name = values.text(c.get("name"), "name")
        except ValueError as exc:
            self.errors.add(RowError(0, "", f"categories[{k}]: {exc}"))
            return
        assert self.names is not None
        self.names[cid] = name

    def image(self, k: int, im: Any) -> None:
        n = k + 1
        self.limits.items(n)
        name = im.get("file_name") if type(im) is dict else None
        try:
            if type(im) is not dict:
                raise ValueError(f"each image is an object, not {values.describe(im)}")
            image_id = values.ident(im.get("id"), "id")
            name = values.text(name, "file_name")
            w, h = im.get("width"), im.get("height")
            w = None if w is None else values.number(w, "width")
            h = None if h is None else values.number(h, "height")
        except ValueError as exc:
            self.errors.add(RowError(n, values.shown(name) if type(name) is str else "", f"images[{k}]: {exc}"))
            return
        assert self.items is not None
        if image_id in self.items:
            self.errors.add(RowError(n, name, f"image id {image_id!r} appears twice"))
            return
        known = w is not None and h is not None and w > 0 and h > 0
        self.sizes[image_id] = (w, h) if known else None  # type: ignore[assignment]
        size = (round(w), round(h)) if known else None  # type: ignore[arg-type]
        self.items[image_id] = _Image(len(self.items), n, name, [], size)

    def annotation(self, k: int, a: Any) -> None:
        """An annotations[] entry; the usual one (whole ids, a box of four finite numbers, its image already read
        with its size, its category known or not yet listed) goes into the columns at once, anything else through
        the checks of _annotation, which name what is wrong."""
        if k >= self.limits.max_annotations:
            self.limits.annotations(k + 1)
        if type(a) is dict and (items := self.items) is not None:
            image_id, category, bbox = a.get("image_id"), a.get("category_id"), a.get("bbox")
            if type(bbox) is list and len(bbox) == 4 and type(image_id) is int and type(category) is int and \
                    type(a.get("id", 0)) is int and (item := items.get(image_id)) is not None and \
                    item.size is not None and (self.names is None or category in self.names):
                x, y, w, h = bbox
                if type(x) in _NUMBER and type(y) in _NUMBER and type(w) in _NUMBER and type(h) in _NUMBER:
                    try:
                        finite = isfinite(x + y + w + h)
                    except OverflowError:  # ints past a float's range
                        finite = False
                    if finite:
                        plain = self.plain
                        plain.box.extend(bbox)
                        plain.image.append(item.position)
                        plain.category.append(category)
                        plain.index.append(k)
                        self.count += 1
                        return
        self._annotation(k, a)

    def _annotation(self, k: int, a: Any) -> None:
        try:
            if type(a) is not dict:
                raise ValueError(f"each annotation is an object, not {values.describe(a)}")
            if "id" in a:
                values.ident(a["id"], "id")
            image_id = values.ident(a.get("image_id"), "image_id")
            category = values.whole(a.get("category_id"), "category_id")
            bbox = a.get("bbox")
            box = None if bbox is None or bbox == [] else values.box(bbox, "bbox")
        except ValueError as exc:
            image = a.get("image_id") if type(a) is dict else None
            item = self.items.get(image) if self.items and isinstance(image, int | str) and type(image) is not bool \
                else None  # True is not image 1
            reason = f"annotations[{k}]: {exc}"
            self.errors.add(RowError(item.row, item.filename, reason) if item else RowError(0, "", reason))
            return
        if self.items is None:
            self.waiting.append((k, image_id, category, box))
        else:
            self._place(k, image_id, category, box)

    def _place(self, k: int, image_id: int | str, category: int, box: values.Box | None) -> None:
        assert self.items is not None
        item = self.items.get(image_id)
        if item is None:
            self.errors.add(RowError(0, "", f"annotations[{k}] refers to image id {image_id!r}, which is not in "
                                            "images"))
            return
        if box is not None:
            size = self.sizes[image_id]
            if size is None:
                self.errors.add(RowError(item.row, item.filename, "the image has no width/height to normalise its "
                                                                  "boxes with"))
                return
            x, y, w, h = box
            sw, sh = size
            box = (x / sw, y / sh, w / sw, h / sh)
        if self.names is None:  # named at the end: (category id, box) until then
            item.annotations.append((k, (category, box)))
        elif (label := self.names.get(category)) is None:
            self.errors.add(RowError(item.row, item.filename,
                                     f"annotations[{k}]: category_id {category} is not in categories"))
            return
        else:
            item.annotations.append((k, confirmed(label, box)))
        self.count += 1

    def finish(self) -> Parsed:
        if self.items is None:
            return _fail("a COCO file is a JSON object with an images list")
        for waiting in self.waiting:
            self._place(*waiting)
        self.waiting = []
        names = self.names or {}
        images = list(self.items.values())
        self.count -= len(self.plain.category)
        sizes = np.array([self.sizes[i] or (math.nan, math.nan) for i in self.items], dtype=np.float64).reshape(-1, 2)
        columns, index = self.plain.columns(images, sizes, names, self.errors)
        self.count += len(index)
        self.plain = _Plain()
        spans = columns.spans(range(len(images)))
        items = []
        for item, span in zip(images, spans, strict=True):
            annotations: Sequence[AnnotationRecord] = span
            if item.annotations:  # some did not take the plain path: all of the image's, in file order
                at = index[span.start:span.stop].tolist()
                annotations = tuple(a for _, a in sorted([*zip(at, span, strict=True), *self._named(item, names)],
                                                         key=itemgetter(0)))
            elif not span:
                annotations = ()
            items.append(ImportItem(item.row, item.filename, annotations, item.size))
        return Parsed(items, self.errors, self.count)

    def _named(self, item: _Image, names: dict[int, str]) -> list[tuple[int, AnnotationRecord]]:
        """An image's other annotations as (annotation index, record), those read before the categories named, each
        unknown category an error."""
        annotations = []
        for k, entry in item.annotations:
            if type(entry) is AnnotationRecord:
                annotations.append((k, entry))
                continue
            category, box = entry
            if (label := names.get(category)) is None:
                self.errors.add(RowError(item.row, item.filename,
                                         f"annotations[{k}]: category_id {category} is not in categories"))
                self.count -= 1
            else:
                annotations.append((k, confirmed(label, box)))
        return annotations


_NUMBER = frozenset({float, int})  # bool is not a number here (type(True) is bool)


def read(fp: BinaryIO, limits: Limits) -> Parsed:
    """Streams the document: one entry of images / annotations / categories at a time (none longer than
    limits.max_row_bytes), counted against the limits as it comes; other members are read past."""
    stream = JsonStream(fp, limits.max_row_bytes)
    reader = _Reader(limits)
    handlers = {"images": reader.image, "annotations": reader.annotation, "categories": reader.category}
    try:
        if stream.peek() != "{":
            return _fail("a COCO file is a JSON object with an images list")
        for key in stream.members():
            handle = handlers.pop(key, None) if key in SECTIONS else None
            if handle is None:
                if key in SECTIONS:
                    return _fail(f"the file has two {key} lists")
                stream.skip()
                continue
            if stream.peek() != "[":
                return _fail(f"{key} must be a list")
            if key == "images":
                reader.items = {}
            elif key == "categories":
                reader.names = {}
            for k, entry in enumerate(stream.elements()):
                handle(k, entry)
        stream.end()
    except BadJson as exc:
        return _fail(f"not valid JSON: {exc}")
    return reader.finish()


ENCODE_BATCH = 20_000  # entries turned into JSON at once: a million annotations are never held as JSON pieces together


def _array(entries: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    """A JSON array, encoded a batch of entries at a time."""
    yield b"["
    first = True
    while batch := list(itertools.islice(entries, ENCODE_BATCH)):
        if not first:
            yield b","
        yield orjson.dumps(batch)[1:-1]
        first = False
    yield b"]"


def _images(snapshot: ExportSnapshot) -> Iterator[dict[str, Any]]:
    for image_id, s in enumerate(snapshot.samples, start=1):
        yield {"id": image_id, "file_name": s.filename, "width": s.width, "height": s.height}


def _gathered(samples: Sequence[ExportSample]) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray,
                                                         list[Any] | None]:
    """Every annotation of the samples, in order, as columns: the sample's position, the label (index into the
    names), the normalised box (NaN where none) and, for records that name one, the labeller."""
    if isinstance(samples, SampleTable) and samples.labels is None:  # the columns as read: no Python per image
        return (*samples.columns.gather(samples.starts, samples.stops), None)
    spans = [s.annotations for s in samples]
    first = next((a for a in spans if a), None)
    if isinstance(first, ColumnSpan) and all(type(a) is ColumnSpan and a.columns is first.columns for a in spans):
        return (*first.columns.gather(np.array([a.start for a in spans], dtype=np.int64),  # type: ignore[attr-defined]
                                      np.array([a.stop for a in spans], dtype=np.int64)), None)  # type: ignore[attr-defined]
    lengths = np.array([len(a) for a in spans], dtype=np.int64)
    names: dict[str, int] = {}
    records = [r for a in spans for r in a]
    label = np.array([names.setdefault(r[0], len(names)) for r in records], dtype=np.int32)
    box = np.array([r[2] or (math.nan,) * 4 for r in records], dtype=np.float64).reshape(-1, 4)
    return np.repeat(np.arange(len(spans)), lengths), list(names), label, box, [r[5] for r in records]


def _numbers(values: np.ndarray) -> list[bytes]:
    """Each number's JSON, as orjson writes a Python int or float (the shortest text that reads back the same)."""
    return orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")


def _entries(first_id: int, image_id: np.ndarray, category_id: np.ndarray, pixels: np.ndarray,
             annotators: list[bytes] | None) -> bytes:
    """A batch of annotation entries, each after a comma: the JSON text of every column is made by orjson at once,
    then the pieces are interleaved in one list and joined (no Python code runs per annotation)."""
    n = len(image_id)
    boxed = ~np.isnan(pixels[:, 0])
    every = bool(boxed.all())

    def only_boxed(pieces: list[bytes]) -> list[bytes]:
        return pieces if every else [p if k else b"" for p, k in zip(pieces, boxed.tolist(), strict=True)]

    parts: list[list[bytes]] = [
        [b',{"id":'] * n, _numbers(np.arange(first_id, first_id + n)), [b',"image_id":'] * n, _numbers(image_id),
        [b',"category_id":'] * n, _numbers(category_id), [b',"iscrowd":0'] * n,
        *([annotators] if annotators is not None else []),
        only_boxed([b',"bbox":['] * n),
        only_boxed(orjson.dumps(pixels, option=orjson.OPT_SERIALIZE_NUMPY)[2:-2].split(b"],[")),
        only_boxed([b'],"area":'] * n), only_boxed(_numbers(pixels[:, 2] * pixels[:, 3])), [b"}"] * n]
    out: list[bytes] = [b""] * (n * len(parts))
    for k, pieces in enumerate(parts):
        out[k::len(parts)] = pieces
    return b"".join(out)


def _annotations(snapshot: ExportSnapshot, category: dict[str, int]) -> Iterator[bytes]:
    """The annotations array, encoded from columns a batch at a time: every entry is
    {"id", "image_id", "category_id", "iscrowd"[, "annotator"][, "bbox", "area"]}, boxes in pixels."""
    where, names, label, box, by = _gathered(snapshot.samples)
    unknown = [n for n in names if n not in category]
    if unknown and np.isin(label, [names.index(n) for n in unknown]).any():
        raise Invalid(f"Some annotations of {snapshot.name} carry the label {unknown[0]!r}, which is not one of its "
                      "classes: add the class back or relabel them, then export again.")
    category_of = np.array([category.get(n, 0) for n in names] or [0], dtype=np.int64)
    samples = snapshot.samples
    size = (np.column_stack([samples.widths, samples.heights]).astype(np.float64) if isinstance(samples, SampleTable)
            else np.array([(s.width, s.height) for s in samples], dtype=np.float64).reshape(-1, 2))
    annotators = [b',"annotator":' + orjson.dumps(b) for b in by] if snapshot.annotators and by is not None else None
    yield b"["
    for a in range(0, len(where), ENCODE_BATCH):
        b = min(a + ENCODE_BATCH, len(where))
        wh = size[where[a:b]]
        encoded = _entries(a + 1, where[a:b] + 1, category_of[label[a:b]], box[a:b] * np.column_stack([wh, wh]),
                           annotators[a:b] if annotators is not None else None)
        yield encoded[1:] if a == 0 else encoded
    yield b"]"


def parts(snapshot: ExportSnapshot, exported_by: str) -> Iterator[bytes]:
    """The COCO file, a piece at a time (a million annotations are never one bytes object): info, licenses, images,
    annotations, categories, in that order."""
    category = {c: i for i, c in enumerate(snapshot.classes, start=1)}
    head = orjson.dumps({
        "info": {"description": f"{snapshot.name} v{snapshot.version}", "version": str(snapshot.version),
                 "year": datetime.now(UTC).year, "contributor": exported_by,
                 "date_created": datetime.now(UTC).isoformat(timespec="seconds")},
        "licenses": [],
    })
    yield head[:-1] + b',"images":'
    yield from _array(_images(snapshot))
    yield b',"annotations":'
    yield from _annotations(snapshot, category)
    yield b',"categories":' + orjson.dumps([{"id": i, "name": c, "supercategory": ""} for c, i in category.items()])
    yield b"}"


def document(snapshot: ExportSnapshot, exported_by: str) -> bytes:
    """The whole COCO file at once."""
    return b"".join(parts(snapshot, exported_by))
