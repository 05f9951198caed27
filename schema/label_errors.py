"""Likely label errors as the API shows them: an image, how strongly the model disagrees, why, and any verdict."""

from __future__ import annotations

from datetime import datetime

import strawberry

from db import models
from schema.enums import LabelErrorVerdict
from schema.samples import Sample


@strawberry.type(description="An image whose labels the evaluated model disagrees with.")
class LabelError:
    sample: Sample
    score: float = strawberry.field(description="0..1: how strongly the model disagrees (the ranking).")
    reason: str = strawberry.field(description="The strongest disagreement in words: a confident box nobody drew, "
                                               "a drawn box the model does not support, a class flip, or a low "
                                               "probability for the labelled class.")
    model: str
    verdict: LabelErrorVerdict | None
    judged_by: str | None
    judged_at: datetime | None
    cursor: str

    @staticmethod
    def of(e: models.LabelErrorSuspect, s: models.Sample) -> LabelError:
        return LabelError(sample=Sample.of(s), score=e.score, reason=e.reason, model=e.model,
                          verdict=LabelErrorVerdict(e.verdict) if e.verdict else None, judged_by=e.judged_by,
                          judged_at=e.judged_at, cursor=f"{e.score!r}:{e.sample_id}")


@strawberry.type(description="Likely label errors waiting for a reviewer's verdict, the strongest first.")
class LabelErrorPage:
    items: list[LabelError]
    total_count: int
    has_next_page: bool
