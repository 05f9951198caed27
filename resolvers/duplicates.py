"""Near-duplicates: start the DUPLICATES job that hashes a project's images and groups them at a Hamming distance.
The groups are read through Project.samples (duplicatesOf, hasDuplicates) and Sample.duplicateGroup."""

from __future__ import annotations

from typing import Annotated

import strawberry

from db import duplicates
from schema.access import require
from schema.context import Info
from schema.ids import parse_id
from schema.jobs import Job

MaxDistance = Annotated[int, strawberry.argument(
    description=f"Bits (of 64) two images' perceptual hashes may differ by and still be near-duplicates, 0 to "
                f"{duplicates.MAX_DISTANCE}: 0 finds identical pictures, about 5 resized or re-encoded copies.")]


@strawberry.type
class DuplicateMutations:
    @strawberry.mutation(description="Finds the project's near-duplicate images as a DUPLICATES job: hashes the "
                                     "images not hashed yet (from their thumbnails, with progress), then groups every "
                                     "image within maxDistance of another (again at any distance without decoding). "
                                     "Its result says maxDistance, hashed, failed (with failures), groups and "
                                     "samplesInGroups. Annotators; CONFLICT while one runs.")
    async def find_duplicates(self, info: Info, project_id: strawberry.ID, max_distance: MaxDistance = 5) -> Job:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "annotator")
        job = await info.context.db.write(duplicates.queue_grouping, pid, max_distance, info.context.user.name)
        return Job.of(job)
