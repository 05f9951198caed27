"""Quality filters on box geometry (gallery and review queue): images with a box smaller than N pixels, a sliver
box, a box inside or heavily overlapping another box of the same class, or more than K boxes. A sliver and an
overlap are a correlated EXISTS over the sample's confirmed boxes, probed through ix_annotations_sample, so they add
an index lookup per candidate sample to the keyset scan and never a pass over the project's annotations. The others
are kept on the sample and indexed with the project, so an exact total counts index entries, not every box of the
project: a box inside another of its class (Sample.nested_boxes, the few samples that have one), more than K boxes
(Sample.box_count) and a box under N pixels (Sample.min_box_w / min_box_h: a box is under N pixels wide or high
exactly when the smallest width or height is, models.SMALLEST_BOX_PX)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, or_, true
from sqlalchemy.orm import QueryableAttribute, aliased

from db.errors import Invalid
from db.models import SMALLEST_BOX_PX, Annotation, Sample

MAX_PX = 100_000
Number = ColumnElement[float | None] | QueryableAttribute[float | None]
MAX_RATIO = 1_000_000.0


@dataclass(frozen=True)
class GeometryFilter:
    smaller_than_px: int | None = None  # a box less than this many pixels wide or high (image size known)
    sliver_ratio: float | None = None  # a box whose long side is at least this many times its short side (pixels)
    nested_same_class: bool = False  # a box wholly inside another box of its class
    overlap_same_class: float | None = None  # two boxes of a class with intersection over union at least this
    more_boxes_than: int | None = None

    @property
    def empty(self) -> bool:
        return (self.smaller_than_px is None and self.sliver_ratio is None and not self.nested_same_class
                and self.overlap_same_class is None and self.more_boxes_than is None)


def check(g: GeometryFilter) -> None:
    """VALIDATION naming the first value out of range."""
    if g.smaller_than_px is not None and not 1 <= g.smaller_than_px <= MAX_PX:
        raise Invalid(f"smallerThanPx is between 1 and {MAX_PX}.", field="smallerThanPx")
    if g.sliver_ratio is not None and not 1 < g.sliver_ratio <= MAX_RATIO:
        raise Invalid(f"sliverRatio is more than 1 and at most {MAX_RATIO:g} (long side over short side).",
                      field="sliverRatio")
    if g.overlap_same_class is not None and not 0 < g.overlap_same_class <= 1:
        raise Invalid("overlapSameClass is an intersection over union, more than 0 and at most 1.",
                      field="overlapSameClass")
    if g.more_boxes_than is not None and not 0 <= g.more_boxes_than <= MAX_PX:
        raise Invalid(f"moreBoxesThan is between 0 and {MAX_PX}.", field="moreBoxesThan")


def _smaller(p: Number, q: Number) -> ColumnElement[float | None]:
    return case((p < q, p), else_=q)  # least(): spelled min() on SQLite and least() on PostgreSQL


def _larger(p: Number, q: Number) -> ColumnElement[float | None]:
    return case((p > q, p), else_=q)


def conditions(g: GeometryFilter, *, after: int | None = None, before: int | None = None
               ) -> list[ColumnElement[bool]]:
    """The WHERE conditions on Sample for the given filter (all must hold). after/before: a keyset page's id bounds,
    repeated on the boxes, because PostgreSQL may turn a lookup into a join over all the project's boxes (a deep
    page took 0.8 s at a million samples) and does not carry the page's range into it."""
    check(g)
    def boxes(x: Any) -> list[ColumnElement[bool]]:
        """The confirmed boxes of the sample (within the page's bounds)."""
        of_sample = [x.sample_id == Sample.id, x.kind == "BBOX", x.is_draft.is_(False)]
        if after is not None:
            of_sample.append(x.sample_id > after)
        if before is not None:
            of_sample.append(x.sample_id < before)
        return of_sample

    a = aliased(Annotation)
    mine = boxes(a)
    out: list[ColumnElement[bool]] = []
    sized = and_(Sample.width.is_not(None), Sample.height.is_not(None))
    if g.smaller_than_px is not None:  # kept on the sample too: its exact total read every box of the project
        smallest = SMALLEST_BOX_PX
        out.append(smallest < g.smaller_than_px)
    if g.sliver_ratio is not None:
        r = g.sliver_ratio
        wide, high = a.w * Sample.width, a.h * Sample.height
        out.append(and_(sized, exists().where(*mine, or_(wide >= r * high, high >= r * wide))))
    if g.nested_same_class:
        # kept on the sample by the label writer (db.box_nesting): the few such samples come from their index,
        # where comparing every candidate's boxes took 2.3 s at a million samples when none matched
        out.append(Sample.nested_boxes == true())
    if g.overlap_same_class is not None:
        b = aliased(Annotation)
        pair = [*mine, *boxes(b), b.label == a.label, b.id != a.id]
        t = g.overlap_same_class
        iw = _smaller(a.x + a.w, b.x + b.w) - _larger(a.x, b.x)
        ih = _smaller(a.y + a.h, b.y + b.h) - _larger(a.y, b.y)
        # IoU >= t without a division: inter >= t * (area_a + area_b - inter)
        out.append(exists().where(*pair, a.id < b.id, iw > 0, ih > 0,
                                  iw * ih * (1 + t) >= t * (a.w * a.h + b.w * b.h)))
    if g.more_boxes_than is not None:  # kept on the sample too: counting them read every box of the project
        out.append(Sample.box_count > g.more_boxes_than)
    return out


def nested_boxes() -> ColumnElement[bool]:
    """Whether the sample's confirmed boxes hold one wholly inside another of its class, decided from its
    annotations: what Sample.nested_boxes keeps (migration 0019 and a class rename set it with this; tests compare
    the kept flag with it)."""
    a, b = aliased(Annotation), aliased(Annotation)
    return exists().where(a.sample_id == Sample.id, a.kind == "BBOX", a.is_draft.is_(False),
                          b.sample_id == Sample.id, b.kind == "BBOX", b.is_draft.is_(False),
                          b.label == a.label, b.id != a.id, a.x >= b.x, a.y >= b.y, a.x + a.w <= b.x + b.w,
                          a.y + a.h <= b.y + b.h)
