"""Project queries and mutations: list, get, create (+ SCAN job), update, delete, clone, rescan."""

from __future__ import annotations

from typing import Annotated

import strawberry
from sqlalchemy.orm import Session

from db import class_rename, models
from db import jobs as job_rows
from db import members as member_rows
from db import projects as project_rows
from db.errors import NotFound, Unavailable
from resolvers.volumes import checked_folder
from schema.access import require, require_admin
from schema.context import Info
from schema.ids import lookup_id, parse_id
from schema.inputs import CreateProjectInput, SourceTableInput, UpdateProjectInput
from schema.jobs import Job
from schema.projects import Project
from volumes.table_sources import TableSource, table_source


@strawberry.type
class ProjectQueries:
    @strawberry.field(description="The projects the caller is a member of (every project for instance admins).")
    async def projects(self, info: Info) -> list[Project]:
        user = info.context.user
        rows = await info.context.db.read(project_rows.list_projects, None if user.is_admin else user.id)
        return [Project.of(p) for p in rows]

    @strawberry.field
    async def project(self, info: Info, id: strawberry.ID) -> Project | None:
        key = lookup_id(id)
        if key is None or not await _visible(info, key):
            return None
        row = await info.context.db.read(project_rows.find_project, key)
        return Project.of(row) if row else None


def checked_table(info: Info, given: SourceTableInput) -> TableSource:
    """The validated table source (VALIDATION naming the wrong part); UNAVAILABLE without a SQL warehouse."""
    if info.context.services.runner.config.tables is None:
        raise Unavailable("This server has no SQL warehouse to list tables with: set DATABRICKS_WAREHOUSE_ID.")
    return table_source(given.table, given.column, [(f.column, f.value) for f in given.filter or []])


async def _visible(info: Info, project_id: int) -> bool:
    try:
        await require(info, project_id, "viewer")
    except NotFound:
        return False
    return True


@strawberry.type
class ProjectMutations:
    @strawberry.mutation(description="Creates the project and starts a SCAN job that adds one sample per image "
                                     "file under sourceVolume, or, with sourceTable, per path the table lists "
                                     "inside sourceVolume.")
    async def create_project(self, info: Info, input: CreateProjectInput) -> Project:
        require_admin(info, "Creating a project")
        table = checked_table(info, input.source_table) if input.source_table else None
        folder = await checked_folder(info, input.source_volume)
        user = info.context.user

        def create(s: Session) -> models.Project:
            row = project_rows.create_project(
                s, name=input.name, description=input.description or "", task_type=input.task_type.value,
                classes=input.classes, multi_label=bool(input.multi_label), source_volume=folder.text,
                created_by=user.name, source_table=table.as_json() if table else None,
            )
            member_rows.add_owner(s, row.id, user.id)
            job_rows.queue_scan(s, row.id, user.name)
            return row

        return Project.of(await info.context.db.write(create))

    @strawberry.mutation
    async def update_project(self, info: Info, id: strawberry.ID, input: UpdateProjectInput) -> Project:
        await require(info, id, "owner")
        row = await info.context.db.write(project_rows.update_project, parse_id(id, "Project"), name=input.name,
                                          description=input.description, classes=input.classes)
        return Project.of(row)

    @strawberry.mutation(description="Renames one of the project's classes on every annotation (model drafts too), "
                                     "or merges it into another class when `to` is already one, as a RENAME_CLASS "
                                     "job: one transaction, a history row per annotation; its result says "
                                     "annotationsChanged, samplesChanged and merged. Owners. The names are checked "
                                     "at once.")
    async def rename_class(self, info: Info, project_id: strawberry.ID,
                           from_: Annotated[str, strawberry.argument(name="from")], to: str) -> Job:
        await require(info, project_id, "owner")
        return Job.of(await info.context.db.write(class_rename.queue_rename, parse_id(project_id, "Project"), from_,
                                                  to, info.context.user.name))

    @strawberry.mutation
    async def delete_project(self, info: Info, id: strawberry.ID) -> bool:
        await require(info, id, "owner")
        await info.context.db.write(project_rows.delete_project, parse_id(id, "Project"))
        return True

    @strawberry.mutation(description="A new version of the project's lineage: same classes and samples, "
                                     "no annotations.")
    async def clone_project(self, info: Info, id: strawberry.ID) -> Project:
        await require(info, id, "owner")
        source, user = parse_id(id, "Project"), info.context.user

        def clone(s: Session) -> models.Project:
            row = project_rows.clone_project(s, source, user.name)
            member_rows.copy_members(s, source, row.id)  # the team carries over to the new version
            member_rows.add_owner(s, row.id, user.id)
            return row

        return Project.of(await info.context.db.write(clone))

    @strawberry.mutation(description="Walks the project's source folder again and adds only new image files; a "
                                     "table project reads its table again (Sync from table). Files or rows that "
                                     "are gone mark their samples missing.")
    async def rescan_project(self, info: Info, id: strawberry.ID) -> Job:
        await require(info, id, "owner")
        job = await info.context.db.write(job_rows.queue_scan, parse_id(id, "Project"), info.context.user.name)
        return Job.of(job)
