"""Dataset formats: readers turn a file into ImportItems; writers turn an ExportSnapshot into files.

Readers report problems as RowErrors (row, filename, reason) instead of raising, so one pass can list them all.
Boxes are normalised (x, y, w, h) of the displayed image throughout, as in the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class ItemAnnotation(NamedTuple):
    """Laid out like db.labels.NewAnnotation, so a million of them pass validation without being copied."""

    label: str
    kind: str  # "BBOX" | "CLASSIFICATION"
    box: tuple[float, float, float, float] | None = None
    confidence: float | None = None
    is_draft: bool = False
    created_by: str | None = None


@dataclass
class ImportItem:
    row: int  # 1-based position in the file (line, image entry or label file), for error messages
    filename: str  # as written in the file; matched against the samples' filenames
    annotations: list[ItemAnnotation] = field(default_factory=list)
    size: tuple[int, int] | None = None  # width, height when the file says (COCO)


@dataclass(frozen=True)
class RowError:
    row: int
    filename: str
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "filename": self.filename, "reason": self.reason}


@dataclass
class Parsed:
    items: list[ImportItem]
    errors: list[RowError]
    annotation_count: int = 0


@dataclass(frozen=True)
class ExportSample:
    sample_id: int
    filename: str
    path: str  # volume path of the image
    width: int
    height: int
    annotations: list[ItemAnnotation]


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
    samples: list[ExportSample]
