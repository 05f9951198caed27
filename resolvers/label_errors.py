"""Likely label errors: the review queue an evaluation ranks (EVALUATE job) and a reviewer's verdict on one image."""

from __future__ import annotations

import strawberry
from sqlalchemy.orm import Session

from db import label_errors
from schema.access import require, require_sample
from schema.context import Info
from schema.enums import LabelErrorVerdict
from schema.ids import parse_id
from schema.label_errors import LabelError, LabelErrorPage
from schema.paging import ranked_page


@strawberry.type
class LabelErrorQueries:
    @strawberry.field(description="Labelled images the latest evaluated model disagrees with, the strongest "
                                  "disagreement first, each with its reason; an image a reviewer judged is not "
                                  "raised again while its labels stay the same. Reviewers and owners.")
    async def likely_label_errors(self, info: Info, project_id: strawberry.ID, first: int | None = 20,
                                  after: str | None = None) -> LabelErrorPage:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "reviewer")
        size, key = ranked_page(first, after)

        def page(s: Session) -> tuple[list[LabelError], int]:
            rows = label_errors.queue(s, pid, size + 1, key)
            return [LabelError.of(e, sample) for e, sample in rows], label_errors.waiting(s, pid)

        items, total = await info.context.db.read(page)
        return LabelErrorPage(items=items[:size], total_count=total, has_next_page=len(items) > size)


@strawberry.type
class LabelErrorMutations:
    @strawberry.mutation(description="Records a reviewer's verdict on a likely label error (CONFIRMED_ERROR after "
                                     "fixing the labels, or NOT_AN_ERROR): it leaves the queue and is not raised "
                                     "again for the same labels. Reviewers and owners.")
    async def judge_label_error(self, info: Info, sample_id: strawberry.ID, verdict: LabelErrorVerdict
                                ) -> LabelError:
        sid = parse_id(sample_id, "Sample")
        await require_sample(info, sid, "reviewer")

        def judge(s: Session) -> LabelError:
            return LabelError.of(*label_errors.judge(s, sid, verdict.value, info.context.user.name))

        return await info.context.db.write(judge)
