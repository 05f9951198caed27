"""Projects: their settings, versions, members, statistics and samples."""

from __future__ import annotations

from datetime import datetime

import strawberry

from db import models
from db.overlap import ConsensusSettings as SettingsRow
from schema.accounts import ProjectMember, project_members
from schema.consensus import ConsensusSettings
from schema.context import Info
from schema.enums import (
    ModelProtocol,
    ProjectRole,
    ReviewStatus,
    SampleOrder,
    SampleStatus,
    Split,
    TaskType,
)
from schema.geometry import GeometryFilter
from schema.samples import Sample, SampleConnection, sample_at, sample_filter, sample_page, sample_position
from schema.stats import ProjectStats


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


@strawberry.type(description="One condition of a table source's filter: the column equals the value.")
class TableFilter:
    column: str
    value: str


@strawberry.type(description="The Unity Catalog table a project's images are listed from.")
class SourceTable:
    table: str
    column: str
    filter: list[TableFilter]

    @staticmethod
    def of(stored: dict) -> SourceTable:
        return SourceTable(table=stored["table"], column=stored["column"],
                           filter=[TableFilter(column=c, value=v) for c, v in stored.get("filter") or []])


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
    source_table: SourceTable | None = strawberry.field(description="Where a table project's images are listed "
                                                                    "from (null: its folder is walked).")
    version: int
    created_by: str
    created_at: datetime
    _parent_id: strawberry.Private[int | None]
    _root_id: strawberry.Private[int]
    _model_settings: strawberry.Private[dict | None] = None
    _consensus: strawberry.Private[dict | None] = None

    @staticmethod
    def of(p: models.Project) -> Project:
        return Project(
            id=strawberry.ID(str(p.id)), name=p.name, description=p.description, task_type=TaskType(p.task_type),
            classes=list(p.classes), multi_label=p.multi_label, source_volume=p.source_volume,
            source_table=SourceTable.of(p.source_table) if p.source_table else None, version=p.version,
            created_by=p.created_by, created_at=p.created_at, _parent_id=p.parent_id, _root_id=p.root_id or p.id,
            _model_settings=p.model_settings, _consensus=p.consensus,
        )

    @strawberry.field(description="Labellers per image and agreement thresholds (consensus labelling).")
    def consensus(self) -> ConsensusSettings:
        return ConsensusSettings.of(SettingsRow.of(self._consensus))

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
        return await project_members(info, int(self.id))

    @strawberry.field
    async def stats(self, info: Info) -> ProjectStats:
        return ProjectStats.of(await info.context.loaders.stats.load(int(self.id)))

    @strawberry.field(description="Keyset-paginated, ordered by id. Filters combine with AND. "
                                  "filename is a case-insensitive substring. `before` pages backwards. "
                                  "maxConfidence keeps samples whose least confident draft is at most that; "
                                  "orderBy LEAST_CONFIDENT is for active learning. reviewStatus keeps samples "
                                  "in that review state. duplicatesOf keeps a sample and its near-duplicate group; "
                                  "hasDuplicates the samples in a group (true) or in none (false); split the "
                                  "samples of one split.")
    async def samples(
        self, info: Info, status: SampleStatus | None = None, label: str | None = None,
        filename: str | None = None, labeled_by: str | None = None, first: int | None = 50, after: str | None = None,
        before: str | None = None, max_confidence: float | None = None, order_by: SampleOrder | None = SampleOrder.ID,
        review_status: ReviewStatus | None = None, geometry: GeometryFilter | None = None,
        duplicates_of: strawberry.ID | None = None, has_duplicates: bool | None = None, split: Split | None = None,
    ) -> SampleConnection:
        return await sample_page(info, int(self.id), status=status, label=label, filename=filename,
                                 labeled_by=labeled_by, first=50 if first is None else first, after=after,
                                 before=before, max_confidence=max_confidence, order=order_by,
                                 review_status=review_status, geometry=geometry, duplicates_of=duplicates_of,
                                 has_duplicates=has_duplicates, split=split)

    @strawberry.field(description="1-based place of the sample among the matching samples in id order; "
                                  "0 when it does not match the filters.")
    async def sample_position(
        self, info: Info, sample_id: strawberry.ID, status: SampleStatus | None = None, label: str | None = None,
        filename: str | None = None, labeled_by: str | None = None,
    ) -> int:
        return await sample_position(info, int(self.id), sample_id, sample_filter(status, label, filename, labeled_by))

    @strawberry.field(description="The matching sample at a 1-based position in id order (for scrubbing).")
    async def sample_at(
        self, info: Info, position: int, status: SampleStatus | None = None, label: str | None = None,
        filename: str | None = None, labeled_by: str | None = None,
    ) -> Sample | None:
        return await sample_at(info, int(self.id), position, sample_filter(status, label, filename, labeled_by))
