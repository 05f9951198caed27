"""Annotations column by column: a label index, a kind index and the box (NaN when there is none) per
annotation, in numpy arrays. An export reads them so a chunk of rows at a time; an import keeps its plain COCO boxes
so (jobs.formats.coco). A million boxes take about 45 MB instead of a million Python records; each sample (or each
image of an import file) sees its own as a ColumnSpan, a sequence of AnnotationRecords built when asked for."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Any, overload

import numpy as np

from db.records import AnnotationRecord

READ_CHUNK = 50_000  # driver rows turned into columns at once
_tuple_new = tuple.__new__


class AnnotationColumns:
    """The annotations of a snapshot, ordered by sample: sample_id, label (index into labels), kind (index into
    kinds), box (n x 4 float64, NaN rows where there is no box)."""

    def __init__(self, labels: list[str], kinds: list[str], sample_id: np.ndarray, label: np.ndarray,
                 kind: np.ndarray, box: np.ndarray) -> None:
        self.labels, self.kinds = labels, kinds
        self.sample_id, self.label, self.kind, self.box = sample_id, label, kind, box

    @classmethod
    def of_chunks(cls, chunks: Iterable[Sequence[Sequence[Any]]]) -> AnnotationColumns:
        """From chunks of (sample_id, label, kind, x, y, w, h) rows ordered by sample."""
        labels: dict[str, int] = {}
        kinds: dict[str, int] = {}
        parts: list[tuple[np.ndarray, ...]] = []
        for chunk in chunks:
            column = [list(map(itemgetter(k), chunk)) for k in range(7)]  # in C: zip(*chunk) costs five times more
            parts.append((np.array(column[0], dtype=np.int64),
                          np.array([labels.setdefault(v, len(labels)) for v in column[1]], dtype=np.int32),
                          np.array([kinds.setdefault(v, len(kinds)) for v in column[2]], dtype=np.int8),
                          np.column_stack([_floats(c) for c in column[3:]])))
        if not parts:
            return cls([], [], np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int8), np.zeros((0, 4)))
        return cls(list(labels), list(kinds), *(np.concatenate(c) for c in zip(*parts, strict=True)))

    def spans(self, sample_ids: Sequence[int]) -> list[ColumnSpan]:
        """Each sample's annotations (sample_ids ascending, as the columns are)."""
        ids = np.asarray(sample_ids, dtype=np.int64)
        starts = np.searchsorted(self.sample_id, ids, "left").tolist()
        stops = np.searchsorted(self.sample_id, ids, "right").tolist()
        return [ColumnSpan(self, a, b) for a, b in zip(starts, stops, strict=True)]


    def gather(self, starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
        """The spans' annotations, in span order: each one's span position, the label names, label and box."""
        where, at = self.positions(starts, stops)
        return where, self.labels, self.label[at], self.box[at]

    @staticmethod
    def positions(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, slice | np.ndarray]:
        """Each annotation of the spans, in span order: its span's position, and where it is in the columns (a
        slice when the spans are one run of the columns, as a whole project or a whole file is: views, no copy)."""
        lengths = stops - starts
        where = np.repeat(np.arange(len(starts)), lengths)
        if len(starts) and (starts[1:] == stops[:-1]).all():
            return where, slice(int(starts[0]), int(stops[-1]))
        return where, np.arange(int(lengths.sum())) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)


def shared_columns(spans: Sequence[Sequence[AnnotationRecord]]) -> AnnotationColumns | None:
    """The columns every one of these sequences is a span of (a plain COCO import's), or None when any is not."""
    first = spans[0] if spans else None
    if type(first) is ColumnSpan and all(type(s) is ColumnSpan and s.columns is first.columns for s in spans):
        return first.columns
    return None


def _floats(values: list[Any]) -> np.ndarray:
    if None in values:
        return np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    return np.array(values, dtype=np.float64)


class ColumnSpan(Sequence[AnnotationRecord]):
    """One sample's annotations in the columns: confirmed labels, as an export reads them."""

    __slots__ = ("columns", "start", "stop")

    def __init__(self, columns: AnnotationColumns, start: int, stop: int) -> None:
        self.columns, self.start, self.stop = columns, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    @overload
    def __getitem__(self, i: int) -> AnnotationRecord: ...
    @overload
    def __getitem__(self, i: slice) -> list[AnnotationRecord]: ...

    def __getitem__(self, i: int | slice) -> AnnotationRecord | list[AnnotationRecord]:
        return list(self)[i]

    def __iter__(self) -> Iterator[AnnotationRecord]:
        c, a, b = self.columns, self.start, self.stop
        labels, kinds = c.labels, c.kinds
        for label, kind, box in zip(c.label[a:b].tolist(), c.kind[a:b].tolist(), c.box[a:b].tolist(), strict=True):
            yield _tuple_new(AnnotationRecord, (labels[label], kinds[kind], None if box[0] != box[0] else tuple(box),
                                                None, False, None))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ColumnSpan({list(self)!r})"
