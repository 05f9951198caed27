"""A project's live statistics: per labeller, per class, per day."""

from __future__ import annotations

from datetime import date, datetime

import strawberry
from sqlalchemy.orm import Session

from db import agreement
from db import submissions as submission_rows
from db.stats import ProjectStats as StatsRow
from schema.consensus import Agreement
from schema.context import Info


@strawberry.type(description="labeled = samples this user saved last; skipped = samples this user skipped; "
                             "annotations = non-draft rows they created; accepted / rejected = of the samples they "
                             "labelled, how many a reviewer accepted / rejected.")
class UserStats:
    user: str
    labeled: int
    skipped: int
    annotations: int
    accepted: int = 0
    rejected: int = 0


@strawberry.type
class ClassCount:
    label: str
    count: int


@strawberry.type
class DayCount:
    day: date
    count: int


@strawberry.type
class ProjectStats:
    total: int
    unlabeled: int
    pre_labeled: int
    labeled: int
    skipped: int
    per_user: list[UserStats]
    per_class: list[ClassCount] = strawberry.field(
        description="One entry per class, in class order, zero-filled; drafts excluded."
    )
    velocity: list[DayCount] = strawberry.field(
        description="The last 30 days, oldest first: samples whose latest label was saved that day (UTC)."
    )
    estimated_completion: datetime | None = strawberry.field(
        description="When the samples still needing work run out at the last 7 days' pace; null without a pace."
    )
    accepted: int = strawberry.field(default=0, description="Labelled samples a reviewer accepted.")
    rejected: int = strawberry.field(default=0, description="Labelled samples a reviewer rejected (back with their "
                                                            "labeller).")
    _project_id: strawberry.Private[int] = 0

    @strawberry.field(description="Agreement between labellers (projects with overlap); images 0 before any image "
                                  "has all its submissions.")
    async def agreement(self, info: Info) -> Agreement:
        return await info.context.db.read(_agreement, self._project_id)

    @staticmethod
    def of(s: StatsRow) -> ProjectStats:
        b = s.by_status
        return ProjectStats(
            total=s.total, unlabeled=b["UNLABELED"], pre_labeled=b["PRE_LABELED"], labeled=b["LABELED"],
            skipped=b["SKIPPED"], accepted=sum(u.accepted for u in s.per_user),
            rejected=sum(u.rejected for u in s.per_user),
            per_user=[UserStats(user=u.user, labeled=u.labeled, skipped=u.skipped, annotations=u.annotations,
                                accepted=u.accepted, rejected=u.rejected) for u in s.per_user],
            per_class=[ClassCount(label=label, count=n) for label, n in s.per_class],
            velocity=[DayCount(day=d, count=n) for d, n in s.velocity],
            estimated_completion=s.estimated_completion, _project_id=s.project_id,
        )


def _agreement(session: Session, project_id: int) -> Agreement:
    totals = submission_rows.totals(session, project_id)
    return Agreement.of(agreement.figures(totals), submission_rows.queue_length(session, project_id))
