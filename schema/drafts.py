"""GraphQL types of the project-wide draft actions: the gallery filter they act on and the tally a confirmation
shows."""

from __future__ import annotations

import strawberry

from schema.enums import ReviewStatus, SampleStatus, Split
from schema.geometry import GeometryFilter


@strawberry.input(description="The gallery's filters (as on Project.samples); every field is optional and they "
                              "combine with AND.")
class SampleFilterInput:
    status: SampleStatus | None = None
    label: str | None = None
    filename: str | None = None
    labeled_by: str | None = None
    max_confidence: float | None = None
    review_status: ReviewStatus | None = None
    geometry: GeometryFilter | None = None
    duplicates_of: strawberry.ID | None = None
    has_duplicates: bool | None = None
    split: Split | None = None


@strawberry.type(description="Model drafts a project-wide action would resolve: on how many samples, how many "
                             "drafts.")
class DraftTally:
    samples: int
    drafts: int
