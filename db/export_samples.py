"""An export's images column by column: ids, sizes and each image's span of the annotation columns in numpy
arrays, names and paths in lists. Five million labelled images take about 200 bytes each instead of the 750 an
ExportSample object and its row cost; the formats still read ExportSamples, built one at a time as they go."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, overload

import numpy as np

from db.annotation_columns import AnnotationColumns, ColumnSpan
from db.records import AnnotationRecord, ExportSample


class SampleTable(Sequence[ExportSample]):
    """The samples of a snapshot, in id order; `labels`, when given, replaces each sample's annotation span (an
    everySubmission export's per-labeller records)."""

    def __init__(self, ids: np.ndarray, filenames: list[str], paths: list[str] | _UnderRoot, widths: np.ndarray,
                 heights: np.ndarray, splits: list[str | None], columns: AnnotationColumns, starts: np.ndarray,
                 stops: np.ndarray, labels: list[Sequence[AnnotationRecord]] | None = None) -> None:
        self.ids, self.filenames, self.paths, self.splits = ids, filenames, paths, splits
        self.widths, self.heights = widths, heights
        self.columns, self.starts, self.stops, self.labels = columns, starts, stops, labels

    @classmethod
    def of_chunks(cls, chunks: Iterable[Sequence[Sequence[Any]]], root: str) -> SampleTable:
        """From chunks of (id, filename, path, width, height, split) rows in id order, without annotations yet
        (spanning gives them). Paths that are all `root/filename` (a project made from a folder) are not kept."""
        ids: list[np.ndarray] = []
        sizes: list[np.ndarray] = []
        filenames: list[str] = []
        paths: list[str] = []
        splits: list[str | None] = []
        for chunk in chunks:
            ids.append(np.fromiter(map(itemgetter(0), chunk), np.int64, len(chunk)))
            filenames += map(itemgetter(1), chunk)
            paths += map(itemgetter(2), chunk)
            sizes.append(np.array([(w or 0, h or 0) for w, h in map(itemgetter(3, 4), chunk)], np.int32).reshape(-1, 2))
            splits += map(itemgetter(5), chunk)
        id_array = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        size = np.concatenate(sizes) if sizes else np.zeros((0, 2), np.int32)
        none = np.zeros(len(id_array), np.int64)
        under = _UnderRoot(root, filenames)
        kept: list[str] | _UnderRoot = under if all(p == q for p, q in zip(paths, under, strict=True)) else paths
        return cls(id_array, filenames, kept, size[:, 0].copy(), size[:, 1].copy(), splits,
                   AnnotationColumns.of_chunks([]), none, none)

    def spanning(self, columns: AnnotationColumns) -> SampleTable:
        """The same samples, each with its span of `columns` (ordered by sample too) as its annotations."""
        return SampleTable(self.ids, self.filenames, self.paths, self.widths, self.heights, self.splits, columns,
                           np.searchsorted(columns.sample_id, self.ids, "left"),
                           np.searchsorted(columns.sample_id, self.ids, "right"))

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, i: int) -> ExportSample: ...
    @overload
    def __getitem__(self, i: slice) -> SampleTable: ...

    def __getitem__(self, i: int | slice) -> ExportSample | SampleTable:
        if isinstance(i, slice):
            return self.take(np.arange(len(self))[i])
        return ExportSample(int(self.ids[i]), self.filenames[i], self.paths[i], int(self.widths[i]),
                            int(self.heights[i]), self._annotations(i), self.splits[i])

    def _annotations(self, i: int) -> Sequence[AnnotationRecord]:
        if self.labels is not None:
            return self.labels[i]
        return ColumnSpan(self.columns, int(self.starts[i]), int(self.stops[i]))

    def __iter__(self) -> Iterator[ExportSample]:
        for i, (sid, filename, path, w, h, split) in enumerate(zip(
                self.ids.tolist(), self.filenames, self.paths, self.widths.tolist(), self.heights.tolist(),
                self.splits, strict=True)):
            yield ExportSample(sid, filename, path, w, h, self._annotations(i), split)

    def take(self, rows: np.ndarray) -> SampleTable:
        """The samples at these positions, in that order."""
        pick = rows.tolist()
        filenames = [self.filenames[k] for k in pick]
        paths = _UnderRoot(self.paths.root, filenames) if isinstance(self.paths, _UnderRoot) else [
            self.paths[k] for k in pick]
        return SampleTable(self.ids[rows], filenames, paths,
                           self.widths[rows], self.heights[rows], [self.splits[k] for k in pick], self.columns,
                           self.starts[rows], self.stops[rows],
                           None if self.labels is None else [self.labels[k] for k in pick])

    def of_split(self, split: str) -> SampleTable:
        return self.take(np.flatnonzero(np.array([s == split for s in self.splits], dtype=bool)))

    def with_sizes(self, found: Mapping[int, tuple[int, int]]) -> SampleTable:
        """The same samples with these sizes (by sample id)."""
        widths, heights = self.widths.copy(), self.heights.copy()
        if found:
            rows = np.searchsorted(self.ids, np.fromiter(found, np.int64, len(found)))
            size = np.array(list(found.values()), np.int32).reshape(-1, 2)
            widths[rows], heights[rows] = size[:, 0], size[:, 1]
        return SampleTable(self.ids, self.filenames, self.paths, widths, heights, self.splits, self.columns,
                           self.starts, self.stops, self.labels)

    def with_labels(self, labels: list[Sequence[AnnotationRecord]]) -> SampleTable:
        return SampleTable(self.ids, self.filenames, self.paths, self.widths, self.heights, self.splits, self.columns,
                           self.starts, self.stops, labels)

    def annotation_count(self) -> int:
        if self.labels is not None:
            return sum(len(a) for a in self.labels)
        return int((self.stops - self.starts).sum())


class _UnderRoot(Sequence[str]):
    """Paths that are `root/filename` for each filename: made when read, not kept."""

    def __init__(self, root: str, filenames: list[str]) -> None:
        self.root, self.filenames = root, filenames

    def __len__(self) -> int:
        return len(self.filenames)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [f"{self.root}/{f}" for f in self.filenames[i]]
        return f"{self.root}/{self.filenames[i]}"

    def __iter__(self) -> Iterator[str]:
        root = self.root
        return (f"{root}/{f}" for f in self.filenames)


def with_sizes(samples: Sequence[ExportSample], found: Mapping[int, tuple[int, int]]) -> Sequence[ExportSample]:
    """The samples with these sizes (by sample id), a table or a list."""
    if isinstance(samples, SampleTable):
        return samples.with_sizes(found)
    return [ExportSample(s.sample_id, s.filename, s.path, *found[s.sample_id], s.annotations, s.split)
            if s.sample_id in found else s for s in samples]


def unsized(samples: Sequence[ExportSample]) -> Iterator[ExportSample]:
    """The samples whose size nobody has decoded yet."""
    if isinstance(samples, SampleTable):
        yield from (samples[int(i)] for i in np.flatnonzero((samples.widths == 0) | (samples.heights == 0)))
    else:
        yield from (s for s in samples if not s.width or not s.height)


def annotation_count(samples: Sequence[ExportSample]) -> int:
    if isinstance(samples, SampleTable):
        return samples.annotation_count()
    return sum(len(s.annotations) for s in samples)
