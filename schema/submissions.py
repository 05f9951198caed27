"""Labellers' submissions of one image and the image's agreement (consensus labelling)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from db import models
from db import submissions as submission_rows
from schema.annotations import Annotation


@strawberry.type(description="One labeller's own labels of an image in a project with overlap.")
class Submission:
    user: str
    annotations: list[Annotation]
    no_objects: bool
    version: int
    submitted_at: datetime | None

    @staticmethod
    def of(row: models.Submission, task_type: str) -> Submission:
        kind = "CLASSIFICATION" if task_type == "CLASSIFICATION" else "BBOX"
        return Submission(user=row.user, annotations=[Annotation.of(a) for a in
                                                      submission_rows.as_annotations(row, kind)],
                          no_objects=row.no_objects, version=row.version, submitted_at=row.submitted_at)


@strawberry.type(description="Agreement of two labellers: the mean of their per-image scores (exact label-set match "
                             "or box F1) over the images both labelled.")
class PairAgreement:
    a: str
    b: str
    score: float
    images: int


@strawberry.type(description="A labeller's agreement with the others (mean over their pairs) and with the consensus.")
class LabellerAgreement:
    user: str
    vs_others: float | None
    vs_consensus: float | None
    pairs: int


@strawberry.type(description="One image's agreement: the mean over its pairs of labellers; state AGREED, "
                             "ADJUDICATE (below the threshold, or no majority) or ADJUDICATED.")
class ImageAgreement:
    score: float
    state: str
    raters: int
    pairs: list[PairAgreement]
    vs_consensus: list[LabellerAgreement]

    @staticmethod
    def of(row: models.SampleAgreement) -> ImageAgreement:
        d = row.detail
        return ImageAgreement(score=row.score, state=row.state, raters=row.raters,
                              pairs=[PairAgreement(a=a, b=b, score=s, images=1) for a, b, s in d.get("pairs", [])],
                              vs_consensus=[LabellerAgreement(user=u, vs_others=None, vs_consensus=s, pairs=0)
                                            for u, s in sorted(d.get("vsConsensus", {}).items())])
