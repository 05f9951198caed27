"""Plain value records shared by the label writer, imports, exports and the dataset formats.

Boxes are normalised (x, y, w, h) of the displayed image throughout, as in the database.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

MAX_ERRORS_LISTED = 100


Box = tuple[float, float, float, float]


class AnnotationRecord(NamedTuple):
    """One annotation as written or exported (a named tuple: imports build a million of them)."""

    label: str
    kind: str  # "BBOX" | "CLASSIFICATION"
    box: Box | None = None
    confidence: float | None = None
    is_draft: bool = False
    created_by: str | None = None  # when written: defaults to the acting user


_tuple_new = tuple.__new__


def confirmed(label: str, box: Box | None) -> AnnotationRecord:
    """A BBOX annotation (a CLASSIFICATION one when box is None), built without the named tuple's Python-level
    __new__: readers build a million of them per import."""
    return _tuple_new(AnnotationRecord, (label, "CLASSIFICATION" if box is None else "BBOX", box, None, False, None))


def as_draft(a: AnnotationRecord, author: str) -> AnnotationRecord:
    """The annotation as a model's draft (an import into drafts builds a million of them: no Python-level
    __new__)."""
    return _tuple_new(AnnotationRecord, (a[0], a[1], a[2], a[3], True, author))


class ImportItem(NamedTuple):
    """One image of the file. Tuples all the way down (or one small ColumnSpan over shared numpy columns): once the
    collector has seen that a tuple holds only strings and numbers it stops tracking it, so 500,000 items do not
    make every full collection (a pause of the whole server) walk millions of objects."""

    row: int  # 1-based position in the file (line, image entry or label file), for error messages
    filename: str  # as written in the file; matched against the samples' filenames
    annotations: Sequence[AnnotationRecord] = ()  # a ColumnSpan for plain COCO boxes (db.annotation_columns)
    size: tuple[int, int] | None = None  # width, height when the file says (COCO)


@dataclass(frozen=True)
class RowError:
    row: int
    filename: str
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "filename": self.filename, "reason": self.reason}


class RowErrors:
    """Every problem counted, the first MAX_ERRORS_LISTED in file order kept: a file with millions of bad rows
    costs no more memory than one with a hundred. Ties keep the order the problems were found in."""

    def __init__(self, errors: list[RowError] | None = None) -> None:
        self.count = 0
        self._kept: list[tuple[int, int, RowError]] = []  # a max-heap on (row, order), negated
        self._order = itertools.count()
        for e in errors or []:
            self.add(e)

    def add(self, error: RowError) -> None:
        self.count += 1
        entry = (-error.row, -next(self._order), error)
        if len(self._kept) < MAX_ERRORS_LISTED:
            heapq.heappush(self._kept, entry)
        elif entry > self._kept[0]:
            heapq.heapreplace(self._kept, entry)

    def merged(self, other: RowErrors) -> RowErrors:
        """Both lists as one, in file order (this one's problems first where rows tie)."""
        out = RowErrors(self.listed() + other.listed())
        out.count = self.count + other.count
        return out

    def listed(self) -> list[RowError]:
        return [e for _, _, e in sorted(self._kept, reverse=True)]

    def __bool__(self) -> bool:
        return self.count > 0

    def __len__(self) -> int:
        return self.count


@dataclass(frozen=True, slots=True)
class ExportSample:
    sample_id: int
    filename: str
    path: str  # volume path of the image
    width: int
    height: int
    annotations: Sequence[AnnotationRecord]  # a ColumnSpan when read from the database (db.annotation_columns)
    split: str | None = None  # TRAIN | VALIDATION | TEST (db.splits)


# A split as file names and fields spell it (YOLO's data.yaml keys, VOC's ImageSets, COCO's instances_<split>.json).
SPLIT_NAMES = {"TRAIN": "train", "VALIDATION": "val", "TEST": "test"}


@dataclass
class ExportSnapshot:
    """Everything an export writes, read in one consistent database snapshot."""

    project_id: int
    name: str
    version: int
    task_type: str
    classes: list[str]
    multi_label: bool
    source_volume: str
    samples: Sequence[ExportSample]  # a db.export_samples.SampleTable when read from the database
    annotators: bool = False  # every annotation names its labeller (created_by): an everySubmission export

    @property
    def has_splits(self) -> bool:
        splits = getattr(self.samples, "splits", None)  # a SampleTable's split column
        if splits is not None:
            return any(s is not None for s in splits)
        return any(s.split is not None for s in self.samples)

    def of_split(self, split: str) -> ExportSnapshot:
        """The same project with only the samples of one split."""
        of_split = getattr(self.samples, "of_split", None)  # a SampleTable picks its rows
        if of_split is not None:
            return dataclasses.replace(self, samples=of_split(split))
        return dataclasses.replace(self, samples=[s for s in self.samples if s.split == split])
