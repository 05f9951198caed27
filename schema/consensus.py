"""Consensus labelling types: a project's overlap settings, labellers' submissions, an image's agreement, the
project's agreement figures and the adjudication queue."""

from __future__ import annotations

import strawberry

from db import agreement
from db.overlap import ConsensusSettings as SettingsRow
from schema.samples import Sample
from schema.submissions import LabellerAgreement, PairAgreement


@strawberry.type(description="How many labellers label each image, and the thresholds agreement is judged by.")
class ConsensusSettings:
    overlap: int = strawberry.field(description="Labellers per image (1: every save is the image's labels).")
    fraction: float = strawberry.field(description="The share of images labelled `overlap` times (the others "
                                                   "once), chosen reproducibly from the project and sample ids.")
    iou_threshold: float = strawberry.field(description="Two labellers' boxes match at this IoU or more.")
    agreement_threshold: float = strawberry.field(description="Images whose agreement is below go to adjudication.")
    models_as_labellers: bool = strawberry.field(description="Model drafts count as one more labeller in agreement "
                                                             "and consensus (never towards the overlap).")

    @staticmethod
    def of(s: SettingsRow) -> ConsensusSettings:
        return ConsensusSettings(overlap=s.overlap, fraction=s.fraction, iou_threshold=s.iou_threshold,
                                 agreement_threshold=s.agreement_threshold, models_as_labellers=s.models_as_labellers)


@strawberry.input(description="A project's consensus settings (see ConsensusSettings).")
class ConsensusSettingsInput:
    overlap: int
    fraction: float | None = 1.0
    iou_threshold: float | None = 0.5
    agreement_threshold: float | None = 0.5
    models_as_labellers: bool | None = False


@strawberry.type(description="Per class: 2 x matched / (labelled by one + by the other), summed over pairs.")
class ClassAgreement:
    label: str
    score: float | None


@strawberry.type
class DayAgreement:
    day: str
    score: float


@strawberry.type(description="A project's agreement, kept current with every submission: score is the mean image "
                             "agreement; alpha is Krippendorff's alpha (nominal, over label sets) for "
                             "classification, null for detection or while undefined.")
class Agreement:
    images: int
    score: float | None
    alpha: float | None
    per_labeller: list[LabellerAgreement]
    per_class: list[ClassAgreement]
    matrix: list[PairAgreement]
    over_time: list[DayAgreement]
    waiting: int = strawberry.field(description="Images waiting for adjudication.")

    @staticmethod
    def of(f: agreement.Figures, waiting: int) -> Agreement:
        return Agreement(
            images=f.images, score=f.score, alpha=f.alpha, waiting=waiting,
            per_labeller=[LabellerAgreement(user=u, vs_others=o, vs_consensus=c, pairs=n)
                          for u, (o, c, n) in sorted(f.per_labeller.items())],
            per_class=[ClassAgreement(label=c, score=s) for c, s in sorted(f.per_class.items())],
            matrix=[PairAgreement(a=a, b=b, score=s, images=n) for (a, b), (s, n) in sorted(f.pairs.items())],
            over_time=[DayAgreement(day=d, score=s) for d, s in f.days.items()],
        )


@strawberry.type
class AdjudicationItem:
    sample: Sample
    score: float
    raters: int
    cursor: str


@strawberry.type(description="Images waiting for adjudication, the least agreed first.")
class AdjudicationPage:
    items: list[AdjudicationItem]
    total_count: int
    has_next_page: bool
