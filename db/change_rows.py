"""Column lists and value conversions shared by db.labels and its two fast paths (db.labels_pg, db.labels_sqlite)."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

# A sample's columns as a planned change carries them (db.sample_state.SampleState) ...
SAMPLE_STATE = ("id", "project_id", "path", "filename", "status", "version", "locked_by", "lock_expires_at", "width",
                "height", "labeled_by", "labeled_at", "skipped_by", "updated_by", "updated_at", "no_objects",
                "min_confidence", "max_confidence", "review_status", "reviewed_by", "reviewed_at", "review_comment",
                "missing_since", "duplicate_group", "split", "nested_boxes", "box_count", "min_box_w",
                "min_box_h")
# ... and the ones a change writes.
SAMPLE_WRITES = ("status", "version", "locked_by", "lock_expires_at", "labeled_by", "labeled_at", "skipped_by",
                 "updated_by", "updated_at", "no_objects", "min_confidence", "max_confidence", "review_status",
                 "reviewed_by", "reviewed_at", "review_comment", "nested_boxes", "box_count", "min_box_w", "min_box_h")
ANNOTATION_READ = ("id", "label", "kind", "x", "y", "w", "h", "confidence", "is_draft", "created_by", "created_at")


def box_json(box: Sequence[float] | None) -> str | None:
    """A history row's box as the JSON text the column holds."""
    return None if box is None else orjson.dumps(list(box)).decode()
