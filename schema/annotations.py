"""Annotations as the API shows them: a label, and a box for detection."""

from __future__ import annotations

from datetime import datetime

import strawberry

from db import models
from schema.enums import AnnotationKind


@strawberry.type(description="Normalised to the displayed image (EXIF orientation applied): 0 <= x, y; "
                             "x + w <= 1; y + h <= 1.")
class Box:
    x: float
    y: float
    w: float
    h: float

    @staticmethod
    def of(values: list[float] | tuple[float | None, ...] | None) -> Box | None:
        if not values or values[0] is None:
            return None
        x, y, w, h = values
        return Box(x=x, y=y, w=w, h=h)  # type: ignore[arg-type]


@strawberry.type
class Annotation:
    id: strawberry.ID
    label: str
    kind: AnnotationKind
    box: Box | None
    confidence: float | None = strawberry.field(
        description="Model confidence for drafts created by pre-annotation; null for human annotations."
    )
    is_draft: bool
    created_by: str
    created_at: datetime

    @staticmethod
    def of(a: models.Annotation) -> Annotation:
        return Annotation(
            id=strawberry.ID(str(a.id)), label=a.label, kind=AnnotationKind(a.kind), box=Box.of((a.x, a.y, a.w, a.h)),
            confidence=a.confidence, is_draft=a.is_draft, created_by=a.created_by, created_at=a.created_at,
        )
