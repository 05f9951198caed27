"""A detached copy of a sample's columns, read and written by label changes and imports (db.label_plans)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from db.change_rows import SAMPLE_STATE

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from db.models import Sample


class SampleState:
    """A detached copy of a sample's columns: what a planned change will write (far cheaper than an ORM object,
    which matters when an import plans 100,000 of them). Reads like a Sample wherever one is read."""

    __slots__ = SAMPLE_STATE
    # the columns, typed as on Sample (tests/test_label_plans.py checks they are SAMPLE_STATE)
    id: int
    project_id: int
    path: str
    filename: str
    status: str
    version: int
    locked_by: str | None
    lock_expires_at: datetime | None
    width: int | None
    height: int | None
    labeled_by: str | None
    labeled_at: datetime | None
    skipped_by: str | None
    updated_by: str | None
    updated_at: datetime | None
    no_objects: bool
    min_confidence: float | None
    max_confidence: float | None
    review_status: str
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_comment: str | None
    missing_since: datetime | None
    duplicate_group: int | None
    split: str | None
    nested_boxes: bool
    box_count: int
    min_box_w: float | None
    min_box_h: float | None

    def __init__(self, source: Sample | SampleState) -> None:
        for c in SAMPLE_STATE:
            setattr(self, c, getattr(source, c))

    @classmethod
    def of_values(cls, values: Iterable[Any]) -> SampleState:
        """From the columns' values in SAMPLE_STATE order."""
        state = cls.__new__(cls)
        for c, v in zip(SAMPLE_STATE, values, strict=True):
            setattr(state, c, v)
        return state

    @classmethod
    def of_columns(cls, values: Mapping[Any, Any]) -> SampleState:
        state = cls.__new__(cls)
        for c in SAMPLE_STATE:
            setattr(state, c, values[c])
        return state
