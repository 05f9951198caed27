"""The GeometryFilter input: quality filters on box geometry for the gallery (Project.samples) and the review
queue; db.geometry holds the SQL."""

from __future__ import annotations

import strawberry

from db import geometry


@strawberry.input(description="Images whose confirmed boxes (model drafts aside) show a quality problem; every "
                               "criterion given must hold. Pixel criteria need the image's size, which the server "
                               "learns when the image or its thumbnail is first shown or exported: images never "
                               "shown are not matched by them.")
class GeometryFilter:
    smaller_than_px: int | None = strawberry.field(
        default=None, description="A box less than this many image pixels wide or high.")
    sliver_ratio: float | None = strawberry.field(
        default=None, description="A box whose long side is at least this many times its short side (pixels).")
    nested_same_class: bool = strawberry.field(
        default=False, description="A box lying wholly inside another box of the same class.")
    overlap_same_class: float | None = strawberry.field(
        default=None, description="Two boxes of the same class whose intersection over union is at least this "
                                  "(0 < value <= 1).")
    more_boxes_than: int | None = strawberry.field(default=None, description="More than this many boxes.")

    def to_row(self) -> geometry.GeometryFilter:
        return geometry.GeometryFilter(smaller_than_px=self.smaller_than_px, sliver_ratio=self.sliver_ratio,
                                       nested_same_class=self.nested_same_class,
                                       overlap_same_class=self.overlap_same_class,
                                       more_boxes_than=self.more_boxes_than)
