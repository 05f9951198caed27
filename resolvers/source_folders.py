"""A project's image folder: the images a rescan no longer finds (count, purge on a confirmed count) and moving the
project to another folder (a SOURCE_CHANGE job: a dry run with counts, then the change)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from db import source_folders
from resolvers.volumes import checked_folder
from schema.access import require
from schema.context import Info
from schema.ids import parse_id
from schema.jobs import Job
from schema.source_folders import MissingSamples


@strawberry.type
class SourceFolderQueries:
    @strawberry.field(description="The project's samples whose file the last rescan did not find.")
    async def missing_samples(self, info: Info, project_id: strawberry.ID) -> MissingSamples:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "viewer")
        t = await info.context.db.read(source_folders.missing_tally, pid)
        return MissingSamples(samples=t.samples, labelled=t.labelled, annotations=t.annotations)


@strawberry.type
class SourceFolderMutations:
    @strawberry.mutation(description="Deletes the samples marked missing, with their labels and history; returns how "
                                     "many. expectedSamples is the count missingSamples gave and the owner confirmed "
                                     "(CONFLICT when it changed). Owners.")
    async def purge_missing_samples(self, info: Info, project_id: strawberry.ID, expected_samples: int) -> int:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "owner")
        return await info.context.db.write(source_folders.purge_missing, pid, expected_samples)

    @strawberry.mutation(description="Moves the project to another image folder as a SOURCE_CHANGE job. A dry run "
                                     "(the default) changes nothing; its result says kept (samples whose relative "
                                     "path exists in the new folder, with their labels), dropped, labelledDropped, "
                                     "annotationsDropped and newImages. Without dryRun, expectedDropped (the dry "
                                     "run's dropped, as confirmed) is required and the job fails if it changed. "
                                     "Owners, on a folder they may read.")
    async def change_source_folder(
        self, info: Info, project_id: strawberry.ID, source_volume: str, dry_run: bool | None = True,
        expected_dropped: Annotated[int | None, strawberry.argument(
            description="The number of samples the dry run said would be dropped.")] = None,
    ) -> Job:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "owner")
        folder = await checked_folder(info, source_volume)
        await info.context.reach.read(folder, "use as the image folder")
        job = await info.context.db.write(source_folders.queue_source_change, pid, folder.text,
                                          dry_run=dry_run is not False, expected_dropped=expected_dropped,
                                          created_by=info.context.user.name)
        return Job.of(job)
