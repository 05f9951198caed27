"""Samples and their annotations and history, and the filtered keyset page behind Project.samples."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry

from db import models
from db import samples as sample_rows
from db import submissions as submission_rows
from db.errors import Invalid
from db.models import utcnow
from db.sample_state import SampleState
from schema.annotations import Annotation, Box
from schema.context import Info
from schema.enums import (
    AnnotationKind,
    ReviewStatus,
    SampleOrder,
    SampleStatus,
    Split,
)
from schema.geometry import GeometryFilter
from schema.ids import lookup_id, parse_cursor, parse_id
from schema.paging import PageInfo
from schema.submissions import ImageAgreement, Submission

THUMB_SIZES = (32, 1024)


@strawberry.type(description="One change to a sample. label/box are the state after the change (before it, "
                             "for a delete); labelBefore/boxBefore the state it replaced.")
class AnnotationEvent:
    action: str
    label: str | None
    box: Box | None
    label_before: str | None
    box_before: Box | None
    actor: str
    at: datetime
    comment: str | None = strawberry.field(default=None, description="A reviewer's comment (review_accept, "
                                                                     "review_reject).")

    @staticmethod
    def of(e: models.AnnotationEvent) -> AnnotationEvent:
        after = e.label_after is not None or e.box_after is not None
        return AnnotationEvent(
            action=e.action, label=e.label_after if after else e.label_before,
            box=Box.of(e.box_after if after else e.box_before), label_before=e.label_before,
            box_before=Box.of(e.box_before), actor=e.actor, at=e.at, comment=e.comment,
        )


@strawberry.type(description="One label of a sample's annotations of one kind: how many there are, and how many of "
                             "them are a model's drafts (a gallery's chips, without an object per box).")
class LabelCount:
    label: str
    kind: AnnotationKind
    count: int
    drafts: int


def label_counts(annotations: list[Any]) -> list[LabelCount]:
    """The annotations (oldest first) counted by label and kind, in the order each first appears."""
    found: dict[tuple[str, str], list[int]] = {}
    for a in annotations:
        counts = found.setdefault((a.label, a.kind), [0, 0])
        counts[0] += 1
        counts[1] += a.is_draft
    return [LabelCount(label=label, kind=AnnotationKind(kind), count=n, drafts=d)
            for (label, kind), (n, d) in found.items()]


def clamp_thumb(size: int) -> int:
    return max(THUMB_SIZES[0], min(THUMB_SIZES[1], size))


@strawberry.type
class Sample:
    id: strawberry.ID
    project_id: strawberry.ID
    filename: str
    path: str
    status: SampleStatus
    width: int | None = strawberry.field(
        description="Displayed size in pixels (EXIF orientation applied); null until known."
    )
    height: int | None
    version: int = strawberry.field(
        description="Incremented on every change; pass it back as expectedVersion to detect a colleague's edit."
    )
    locked_by: str | None
    labeled_by: str | None = strawberry.field(description="Who saved the labels last, while the sample is LABELED.")
    labeled_at: datetime | None
    review_status: ReviewStatus = strawberry.field(
        description="NONE until a reviewer accepts or rejects the sample; any change to its labels resets it.")
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_comment: str | None = strawberry.field(description="The reviewer's comment (shown to the labeller of a "
                                                              "rejected sample).")
    missing: bool = strawberry.field(default=False, description="The last rescan did not find the image file; its "
                                                                "labels are kept until an owner purges missing images.")
    duplicate_group: strawberry.ID | None = strawberry.field(
        default=None, description="Its near-duplicate group (the group's first sample id; the DUPLICATES job finds "
                                  "them); null when it has no near-duplicate. Project.samples(duplicatesOf) lists it.")
    split: Split | None = strawberry.field(default=None, description="Its split (assignSplits); null until assigned.")
    _annotations: strawberry.Private[list[models.Annotation] | None] = None
    _label_rows: strawberry.Private[list[Any] | None] = None  # label, kind, is_draft of each: for labelCounts

    @staticmethod
    def of(s: models.Sample | SampleState, annotations: list[models.Annotation] | None = None,
           label_rows: list[Any] | None = None) -> Sample:
        """annotations (or only their label_rows), when given, were fetched with the page: the fields then cost no
        await per sample."""
        locked = s.locked_by if s.lock_expires_at and s.lock_expires_at > utcnow() else None
        return Sample(
            id=strawberry.ID(str(s.id)), project_id=strawberry.ID(str(s.project_id)), filename=s.filename,
            path=s.path, status=SampleStatus(s.status), width=s.width, height=s.height, version=s.version,
            locked_by=locked, labeled_by=s.labeled_by, labeled_at=s.labeled_at,
            review_status=ReviewStatus(s.review_status), reviewed_by=s.reviewed_by, reviewed_at=s.reviewed_at,
            review_comment=s.review_comment, missing=s.missing_since is not None,
            duplicate_group=None if s.duplicate_group is None else strawberry.ID(str(s.duplicate_group)),
            split=None if s.split is None else Split(s.split),
            _annotations=annotations, _label_rows=label_rows,
        )

    @strawberry.field
    def annotations(self, info: Info) -> list[Annotation]:
        if self._annotations is not None:
            return [Annotation.of(a) for a in self._annotations]
        return self._load_annotations(info)  # type: ignore[return-value]  # graphql-core awaits it

    async def _load_annotations(self, info: Info) -> list[Annotation]:
        rows = await info.context.loaders.annotations.load(int(self.id))
        return [Annotation.of(a) for a in rows]

    @strawberry.field(description="Its annotations counted by label and kind, in the order each label first appears: "
                                  "what a gallery tile shows, at a fraction of the cost of `annotations` for images "
                                  "with many boxes.")
    def label_counts(self, info: Info) -> list[LabelCount]:
        known = self._annotations if self._annotations is not None else self._label_rows
        if known is not None:
            return label_counts(known)
        return self._load_label_counts(info)  # type: ignore[return-value]  # graphql-core awaits it

    async def _load_label_counts(self, info: Info) -> list[LabelCount]:
        return label_counts(await info.context.loaders.annotations.load(int(self.id)))

    @strawberry.field
    async def history(self, info: Info) -> list[AnnotationEvent]:
        rows = await info.context.loaders.history.load(int(self.id))
        return [AnnotationEvent.of(e) for e in rows]

    @strawberry.field(description="The caller's own submission of this image in a project with overlap (null "
                                  "until they saved one): what their labelling view shows and edits.")
    async def my_submission(self, info: Info) -> Submission | None:
        found = await info.context.loaders.own_submissions.load((int(self.id), info.context.user.name))
        return None if found is None else Submission.of(*found)

    @strawberry.field(description="Every labeller's submission of this image, by name (adjudication). Reviewers and "
                                  "owners: labellers never see each other's labels.")
    async def submissions(self, info: Info) -> list[Submission]:
        await info.context.access.project(int(self.project_id), "reviewer")
        rows, task = await info.context.db.read(submission_rows.submissions_with_task, int(self.id))
        return [Submission.of(r, task) for r in rows]

    @strawberry.field(description="The image's agreement once it has all its submissions; null before.")
    async def agreement(self, info: Info) -> ImageAgreement | None:
        row = await info.context.db.read(submission_rows.find_agreement, int(self.id))
        return None if row is None else ImageAgreement.of(row)

    @strawberry.field
    def image_url(self) -> str:
        return f"/media/samples/{self.id}/image"

    @strawberry.field
    def thumbnail_url(self, size: int | None = 256) -> str:
        return f"/media/samples/{self.id}/thumbnail?size={clamp_thumb(256 if size is None else size)}"


@strawberry.type
class SampleEdge:
    node: Sample
    cursor: str


@strawberry.type
class SampleConnection:
    edges: list[SampleEdge]
    page_info: PageInfo
    _project_id: strawberry.Private[int]
    _filter: strawberry.Private[sample_rows.SampleFilter]

    @strawberry.field(description="How many samples match, counted exactly. Read from the project's counters for "
                                  "no filter, a status, a label, a labeller, a review state and pairs of status, "
                                  "labeller and review; other combinations are counted, which takes longer at "
                                  "millions of samples: a gallery asks totalEstimate with its page and this "
                                  "in a request of its own.")
    async def total_count(self, info: Info) -> int:
        return await info.context.db.read(sample_rows.count, self._project_id, self._filter)

    @strawberry.field(description="How many samples match, at once: exact (exact: true) wherever totalCount reads the "
                                  "counters (and always on SQLite), otherwise PostgreSQL's planning estimate, "
                                  "nothing counted.")
    async def total_estimate(self, info: Info) -> TotalEstimate:
        count, exact = await info.context.db.read(sample_rows.estimate, self._project_id, self._filter)
        return TotalEstimate(count=count, exact=exact)


@strawberry.type(description="A number of samples that may be an estimate (SampleConnection.totalEstimate).")
class TotalEstimate:
    count: int
    exact: bool


def _wants_annotations(info: Info) -> str | None:
    """What the query asks of edges { node { … } }'s annotations, to fetch with the page in one query: "rows" for
    `annotations`, "labels" for `labelCounts` alone, None for neither."""
    asked: set[str] = set()
    for field in info.selected_fields:
        for edges in field.selections:
            if getattr(edges, "name", None) != "edges":
                continue
            for node in edges.selections:
                if getattr(node, "name", None) == "node":
                    asked.update(getattr(f, "name", "") for f in node.selections)
    return "rows" if "annotations" in asked else "labels" if "labelCounts" in asked else None


def _confidence_cursor(value: str | None) -> tuple[float, int] | None:
    if not value:
        return None
    try:
        tag, conf, key = value.split(":")
        assert tag == "lc"
        return float(conf), int(key)
    except (ValueError, AssertionError):
        raise Invalid(f"Cursor {value!r} is not one this API returned for LEAST_CONFIDENT order.") from None


def _cursor(row: models.Sample, least_confident: bool) -> str:
    if not least_confident:
        return str(row.id)
    conf = row.min_confidence if row.min_confidence is not None else sample_rows.NO_CONFIDENCE
    return f"lc:{conf!r}:{row.id}"


async def sample_page(
    info: Info, project_id: int, *, status: SampleStatus | None, label: str | None, filename: str | None,
    labeled_by: str | None, first: int, after: str | None, before: str | None = None,
    max_confidence: float | None = None, order: SampleOrder | None = None, review_status: ReviewStatus | None = None,
    labeled_after: datetime | None = None, labeled_before: datetime | None = None, not_labeled_by: str | None = None,
    geometry: GeometryFilter | None = None, duplicates_of: strawberry.ID | None = None,
    has_duplicates: bool | None = None, split: Split | None = None,
) -> SampleConnection:
    f = sample_filter(status, label, filename, labeled_by, max_confidence, review_status, labeled_after,
                      labeled_before, not_labeled_by, geometry, duplicates_of, has_duplicates, split)
    backwards = before is not None
    least = order == SampleOrder.LEAST_CONFIDENT
    if least and backwards:
        raise Invalid("LEAST_CONFIDENT order pages forwards only (use after, not before).")
    wanted = _wants_annotations(info)
    rows, more, annotations = await info.context.db.read(
        sample_rows.page_with_annotations, project_id, f, first=first,
        after=_confidence_cursor(after) if least else parse_cursor(after), before=parse_cursor(before),
        annotations=wanted, least_confident=least)
    edges = [SampleEdge(node=Sample.of(r, annotations.get(r.id)) if wanted == "rows" else
                        Sample.of(r, label_rows=annotations.get(r.id)), cursor=_cursor(r, least)) for r in rows]
    page_info = PageInfo(has_next_page=more and not backwards, has_previous_page=more and backwards,
                         start_cursor=edges[0].cursor if edges else None,
                         end_cursor=edges[-1].cursor if edges else None)
    return SampleConnection(edges=edges, page_info=page_info, _project_id=project_id, _filter=f)


def sample_filter(status: SampleStatus | None, label: str | None, filename: str | None,
                  labeled_by: str | None, max_confidence: float | None = None,
                  review_status: ReviewStatus | None = None, labeled_after: datetime | None = None,
                  labeled_before: datetime | None = None, not_labeled_by: str | None = None,
                  geometry: GeometryFilter | None = None, duplicates_of: strawberry.ID | None = None,
                  has_duplicates: bool | None = None, split: Split | None = None) -> sample_rows.SampleFilter:
    return sample_rows.SampleFilter(status=status.value if status else None, label=label, filename=filename,
                                    labeled_by=labeled_by, max_confidence=max_confidence,
                                    review_status=review_status.value if review_status else None,
                                    labeled_after=_utc(labeled_after), labeled_before=_utc(labeled_before),
                                    not_labeled_by=not_labeled_by,
                                    geometry=geometry.to_row() if geometry is not None else None,
                                    duplicates_of=None if duplicates_of is None else parse_id(duplicates_of, "Sample"),
                                    has_duplicates=has_duplicates, split=split.value if split else None)


def _utc(value: datetime | None) -> datetime | None:
    """A date-time without a zone is taken as UTC (the zone every stored time is in)."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


async def sample_position(info: Info, project_id: int, sample_id: str, f: sample_rows.SampleFilter) -> int:
    key = lookup_id(sample_id)
    return await info.context.db.read(sample_rows.position, project_id, f, key) if key else 0


async def sample_at(info: Info, project_id: int, position: int, f: sample_rows.SampleFilter) -> Sample | None:
    row = await info.context.db.read(sample_rows.at_position, project_id, f, position)
    return Sample.of(row) if row else None
