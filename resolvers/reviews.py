"""Review: the queue of labelled samples (by labeller, class and labelling date) and reviewSample (reviewers)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from db import reviews as review_rows
from schema.access import require, require_sample
from schema.context import Info
from schema.enums import ReviewStatus, SampleStatus
from schema.geometry import GeometryFilter
from schema.ids import parse_id
from schema.inputs import InProject
from schema.samples import Sample, SampleConnection, sample_page


@strawberry.type
class ReviewQueries:
    @strawberry.field(description="Labelled samples to review, oldest first: by default those not reviewed since "
                                  "their labels last changed (reviewStatus NONE; null for every review state). "
                                  "labeledAfter is inclusive, labeledBefore exclusive. Reviewers and owners; a "
                                  "reviewer's queue leaves out the samples they labelled themselves.")
    async def review_queue(
        self, info: Info, project_id: strawberry.ID, labeled_by: str | None = None, label: str | None = None,
        labeled_after: datetime | None = None, labeled_before: datetime | None = None,
        review_status: ReviewStatus | None = ReviewStatus.NONE, first: int | None = 20, after: str | None = None,
        geometry: GeometryFilter | None = None,
    ) -> SampleConnection:
        pid = parse_id(project_id, "Project")
        role = await require(info, pid, "reviewer")
        return await sample_page(info, pid, status=SampleStatus.LABELED, label=label, filename=None,
                                 labeled_by=labeled_by, first=20 if first is None else first, after=after,
                                 review_status=review_status, labeled_after=labeled_after,
                                 labeled_before=labeled_before,
                                 not_labeled_by=None if role == "owner" else info.context.user.name,
                                 geometry=geometry)


@strawberry.type
class ReviewMutations:
    @strawberry.mutation(description="Accepts or rejects a labelled sample, with an optional comment. A rejected "
                                     "sample goes back to its labeller (claimNextSample hands it to them first); "
                                     "any later change to its labels clears the review. Reviewers and owners; "
                                     "a reviewer does not review their own labels.")
    async def review_sample(self, info: Info, sample_id: strawberry.ID, accept: bool, comment: str | None = None,
                            expected_version: int | None = None, project_id: InProject = None) -> Sample:
        sid = parse_id(sample_id, "Sample")
        role = await require_sample(info, sid, "reviewer", project_id)
        row = await info.context.db.write(review_rows.review_sample, sid, info.context.user.name, accept=accept,
                                          comment=comment, expected_version=expected_version,
                                          may_review_own=role == "owner")
        return Sample.of(row)
