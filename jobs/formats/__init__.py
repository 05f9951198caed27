"""Dataset formats: readers turn a file into ImportItems; writers turn an ExportSnapshot into files.

Readers report problems as RowErrors (row, filename, reason) instead of raising, so one pass can list them all;
they stop with TooLarge as soon as the file passes one of its Limits. Boxes are normalised (x, y, w, h) of the
displayed image throughout, as in the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from db.errors import TooLarge
from db.records import ImportItem, RowErrors


@dataclass(frozen=True)
class Limits:
    """What one import may hold (the IMPORT_MAX_* settings); readers check them as rows accrue."""

    max_bytes: int = 200 * 2**20  # the file, or a zip's or folder's label files uncompressed
    max_items: int = 500_000  # images (COCO images, JSONL lines, YOLO label files)
    max_annotations: int = 2_000_000
    max_row_bytes: int = 2**20  # a JSONL or YOLO line, one COCO image / annotation / category entry

    def items(self, n: int) -> None:
        if n > self.max_items:
            raise TooLarge(f"The file lists more than {self.max_items:,} images; imports take at most "
                           f"{self.max_items:,} (IMPORT_MAX_ITEMS).")

    def annotations(self, n: int) -> None:
        if n > self.max_annotations:
            raise TooLarge(f"The file holds more than {self.max_annotations:,} annotations; imports take at most "
                           f"{self.max_annotations:,} (IMPORT_MAX_ANNOTATIONS).")


@dataclass
class Parsed:
    items: list[ImportItem]
    errors: RowErrors
    annotation_count: int = 0
