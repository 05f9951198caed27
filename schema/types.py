"""Strawberry output types, named exactly as the GraphQL types; nested fields resolve through the request's loaders."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from db import models
from db import samples as sample_rows
from db.models import utcnow
from db.stats import ProjectStats as StatsRow
from schema.context import Info
from schema.enums import (
    AnnotationKind,
    JobKind,
    JobStatus,
    ModelProtocol,
    ProjectRole,
    ReviewStatus,
    SampleOrder,
    SampleStatus,
    TaskType,
)
from schema.geometry import GeometryFilter

THUMB_SIZES = (32, 1024)


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
class User:
    id: strawberry.ID
    name: str
    is_admin: bool
    deactivated_at: datetime | None = strawberry.field(
        default=None, description="When an instance admin deactivated the account (it cannot sign in); null: active.")

    @staticmethod
    def of(u: Any) -> User:
        """From anything with id, name and is_admin (a users row, the current user)."""
        return User(id=strawberry.ID(str(u.id)), name=u.name, is_admin=u.is_admin,
                    deactivated_at=getattr(u, "deactivated_at", None))


@strawberry.type(description="A user's role in a project.")
class ProjectMember:
    user: User
    role: ProjectRole


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
            estimated_completion=s.estimated_completion,
        )


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
    _annotations: strawberry.Private[list[models.Annotation] | None] = None

    @staticmethod
    def of(s: models.Sample, annotations: list[models.Annotation] | None = None) -> Sample:
        """annotations, when given, were fetched with the page: the field then costs no await per sample."""
        locked = s.locked_by if s.lock_expires_at and s.lock_expires_at > utcnow() else None
        return Sample(
            id=strawberry.ID(str(s.id)), project_id=strawberry.ID(str(s.project_id)), filename=s.filename,
            path=s.path, status=SampleStatus(s.status), width=s.width, height=s.height, version=s.version,
            locked_by=locked, labeled_by=s.labeled_by, labeled_at=s.labeled_at,
            review_status=ReviewStatus(s.review_status), reviewed_by=s.reviewed_by, reviewed_at=s.reviewed_at,
            review_comment=s.review_comment, _annotations=annotations,
        )

    @strawberry.field
    def annotations(self, info: Info) -> list[Annotation]:
        if self._annotations is not None:
            return [Annotation.of(a) for a in self._annotations]
        return self._load_annotations(info)  # type: ignore[return-value]  # graphql-core awaits it

    async def _load_annotations(self, info: Info) -> list[Annotation]:
        rows = await info.context.loaders.annotations.load(int(self.id))
        return [Annotation.of(a) for a in rows]

    @strawberry.field
    async def history(self, info: Info) -> list[AnnotationEvent]:
        rows = await info.context.loaders.history.load(int(self.id))
        return [AnnotationEvent.of(e) for e in rows]

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
class PageInfo:
    has_next_page: bool
    end_cursor: str | None
    has_previous_page: bool = strawberry.field(default=False, description="Only known when paging with `before`.")
    start_cursor: str | None = None


@strawberry.type
class SampleConnection:
    edges: list[SampleEdge]
    page_info: PageInfo
    _project_id: strawberry.Private[int]
    _filter: strawberry.Private[sample_rows.SampleFilter]

    @strawberry.field
    async def total_count(self, info: Info) -> int:
        return await info.context.db.read(sample_rows.count, self._project_id, self._filter)


@strawberry.type(description="A model label and the project class it becomes (null: the label is dropped).")
class LabelMapping:
    model_label: str
    project_class: str | None


@strawberry.type(description="A project's own model, set by its owner (see setModelSettings).")
class ModelSettings:
    protocol: ModelProtocol
    name: str
    location: str
    classes: list[str]
    label_map: list[LabelMapping]

    @staticmethod
    def of(stored: dict) -> ModelSettings:
        return ModelSettings(protocol=ModelProtocol(stored["protocol"]), name=stored["name"],
                             location=stored["location"], classes=list(stored.get("classes") or []),
                             label_map=[LabelMapping(model_label=k, project_class=v or None)
                                        for k, v in (stored.get("labelMap") or {}).items()])


@strawberry.type
class Project:
    id: strawberry.ID
    name: str
    description: str
    task_type: TaskType
    classes: list[str] = strawberry.field(
        description="Ordered; the order gives hotkeys 1-9, colours and export category ids (COCO ids are 1-based)."
    )
    multi_label: bool
    source_volume: str
    version: int
    created_by: str
    created_at: datetime
    _parent_id: strawberry.Private[int | None]
    _root_id: strawberry.Private[int]
    _model_settings: strawberry.Private[dict | None] = None

    @staticmethod
    def of(p: models.Project) -> Project:
        return Project(
            id=strawberry.ID(str(p.id)), name=p.name, description=p.description, task_type=TaskType(p.task_type),
            classes=list(p.classes), multi_label=p.multi_label, source_volume=p.source_volume, version=p.version,
            created_by=p.created_by, created_at=p.created_at, _parent_id=p.parent_id, _root_id=p.root_id or p.id,
            _model_settings=p.model_settings,
        )

    @strawberry.field(description="The project's own model; null when it uses the server's default model.")
    def model_settings(self) -> ModelSettings | None:
        return ModelSettings.of(self._model_settings) if self._model_settings else None

    @strawberry.field(description="Where the project's owners may always export: a folder project-<id> of the "
                                  "export volume, made on first use; null when the server has no export volume.")
    def export_area(self, info: Info) -> str | None:
        area = info.context.reach.export_area(int(self.id))
        return None if area is None else area.text

    @strawberry.field(description="The project this version was cloned from; null for the first version.")
    async def parent(self, info: Info) -> Project | None:
        if self._parent_id is None or not await info.context.access.sees(self._parent_id):
            return None
        row = await info.context.loaders.projects.load(self._parent_id)
        return Project.of(row) if row else None

    @strawberry.field(description="The first version of this lineage (itself for the first version).")
    async def root(self, info: Info) -> Project:
        if self._root_id == int(self.id) or not await info.context.access.sees(self._root_id):
            return self  # a member of a later version only: the versions they cannot see stay hidden
        row = await info.context.loaders.projects.load(self._root_id)
        return Project.of(row) if row else self

    @strawberry.field(description="Every version of this project's lineage that the caller may see, oldest first.")
    async def versions(self, info: Info) -> list[Project]:
        roles = await info.context.access.roles()
        return [Project.of(p) for p in await info.context.loaders.versions.load(self._root_id)
                if roles is None or p.id in roles]

    @strawberry.field(description="The caller's role in this project (OWNER for instance admins).")
    async def my_role(self, info: Info) -> ProjectRole:
        return ProjectRole(await info.context.access.project(int(self.id), "viewer"))

    @strawberry.field(description="Who works on this project, by name.")
    async def members(self, info: Info) -> list[ProjectMember]:
        from resolvers.members import project_members

        return await project_members(info, int(self.id))

    @strawberry.field
    async def stats(self, info: Info) -> ProjectStats:
        return ProjectStats.of(await info.context.loaders.stats.load(int(self.id)))

    @strawberry.field(description="Keyset-paginated, ordered by id. Filters combine with AND. "
                                  "filename is a case-insensitive substring. `before` pages backwards. "
                                  "maxConfidence keeps samples whose least confident draft is at most that; "
                                  "orderBy LEAST_CONFIDENT is for active learning. reviewStatus keeps samples "
                                  "in that review state.")
    async def samples(
        self, info: Info, status: SampleStatus | None = None, label: str | None = None,
        filename: str | None = None, labeled_by: str | None = None, first: int | None = 50, after: str | None = None,
        before: str | None = None, max_confidence: float | None = None, order_by: SampleOrder | None = SampleOrder.ID,
        review_status: ReviewStatus | None = None, geometry: GeometryFilter | None = None,
    ) -> SampleConnection:
        from resolvers.samples import sample_page  # resolvers own the check/call/map of this field

        return await sample_page(info, int(self.id), status=status, label=label, filename=filename,
                                 labeled_by=labeled_by, first=50 if first is None else first, after=after,
                                 before=before, max_confidence=max_confidence, order=order_by,
                                 review_status=review_status, geometry=geometry)

    @strawberry.field(description="1-based place of the sample among the matching samples in id order; "
                                  "0 when it does not match the filters.")
    async def sample_position(
        self, info: Info, sample_id: strawberry.ID, status: SampleStatus | None = None, label: str | None = None,
        filename: str | None = None, labeled_by: str | None = None,
    ) -> int:
        from resolvers.samples import sample_filter, sample_position

        return await sample_position(info, int(self.id), sample_id, sample_filter(status, label, filename, labeled_by))

    @strawberry.field(description="The matching sample at a 1-based position in id order (for scrubbing).")
    async def sample_at(
        self, info: Info, position: int, status: SampleStatus | None = None, label: str | None = None,
        filename: str | None = None, labeled_by: str | None = None,
    ) -> Sample | None:
        from resolvers.samples import sample_at, sample_filter

        return await sample_at(info, int(self.id), position, sample_filter(status, label, filename, labeled_by))


@strawberry.type
class Job:
    id: strawberry.ID
    kind: JobKind
    status: JobStatus
    project_id: strawberry.ID | None
    progress: int = strawberry.field(
        description="Units done and planned (samples, rows or files, depending on the kind)."
    )
    total: int | None
    result: JSON | None
    error: str | None
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    run_id: str | None = strawberry.field(
        default=None, description="The Databricks Jobs run executing this job, when it was handed to one "
                                  "(JOB_RUNNER=databricks).")
    run_url: str | None = strawberry.field(default=None, description="That run's page in the workspace.")

    @staticmethod
    def of(j: models.Job) -> Job:
        return Job(
            id=strawberry.ID(str(j.id)), kind=JobKind(j.kind), status=JobStatus(j.status),
            project_id=strawberry.ID(str(j.project_id)) if j.project_id is not None else None,
            progress=j.progress, total=j.total, result=j.result, error=j.error, created_by=j.created_by,
            created_at=j.created_at, finished_at=j.finished_at, run_id=j.run_id, run_url=j.run_url,
        )


@strawberry.type
class VolumeEntry:
    name: str
    path: str
    is_dir: bool
    size: int | None


@strawberry.type
class VolumeListing:
    path: str
    entries: list[VolumeEntry]
    total_count: int = strawberry.field(description="Entries matching `filter` in all pages.")
    page_info: PageInfo = strawberry.field(description="With `first`: whether more follow and the cursor for `after`.")
