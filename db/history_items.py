"""An import's history, one row per sample: the annotations it (or a model's pre-labels) added to the sample, as
one `items` JSON list of [label, x, y, w, h] or [label], instead of a history row per annotation (a million-box
import wrote a million rows, each checked against its sample and indexed twice). Read back, such a row is one event
per annotation, exactly as the per-annotation rows read, so the API's history does not show the difference."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from db.annotation_columns import ColumnSpan, shared_columns
from db.models import AnnotationEvent

if TYPE_CHECKING:
    from db.label_plans import Change

COLUMNS = ("project_id", "sample_id", "action", "actor", "at", "items")
CHANGES_PER_CHUNK = 2_000  # samples whose column annotations are turned into Python values at once


def rows(project_id: int, changes: Sequence[Change], action: str, user: str, when: object
         ) -> Iterator[tuple[Any, ...]]:
    """Each change's history row of COLUMNS, items as JSON text, in change order."""
    for change, items in zip(changes, _items(changes), strict=True):
        yield project_id, change.sample.id, action, user, when, items


def _items(changes: Sequence[Change]) -> Iterator[str]:
    if shared_columns([c.add for c in changes]) is not None:
        yield from _column_items([c.add for c in changes])  # type: ignore[misc]
        return
    dumps = orjson.dumps
    for c in changes:
        yield dumps([(label,) if box is None else (label, *box) for label, _, box, *_ in c.add]).decode()


def _column_items(spans: list[ColumnSpan]) -> Iterator[str]:
    """The spans' items, a chunk of spans at a time straight from the columns (no record per annotation)."""
    columns = spans[0].columns
    names = np.array(columns.labels, dtype=object)
    dumps = orjson.dumps
    for k in range(0, len(spans), CHANGES_PER_CHUNK):
        part = spans[k:k + CHANGES_PER_CHUNK]
        starts = np.array([s.start for s in part], dtype=np.int64)
        stops = np.array([s.stop for s in part], dtype=np.int64)
        _, _, label, box = columns.gather(starts, stops)
        labels = names[label].tolist()
        if np.isnan(box[:, 0]).any():
            items = [(n,) if b[0] != b[0] else (n, *b) for n, b in zip(labels, box.tolist(), strict=True)]
        else:
            items = list(zip(labels, *(box[:, j].tolist() for j in range(4)), strict=True))
        at = 0
        for end in np.cumsum(stops - starts).tolist():
            yield dumps(items[at:end]).decode()
            at = end


def expanded(event: AnnotationEvent) -> list[AnnotationEvent]:
    """A history row as the events it stands for, newest first (as history lists them): itself, or one added
    annotation per item of a grouped row (transient objects, never written)."""
    if event.items is None:
        return [event]
    return [AnnotationEvent(id=event.id, project_id=event.project_id, sample_id=event.sample_id, action=event.action,
                            label_after=item[0], box_after=item[1:] or None, actor=event.actor, at=event.at)
            for item in reversed(event.items)]
