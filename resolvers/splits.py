"""Train / validation / test splits: start the SPLITS job. Samples carry their split (Sample.split) and the gallery
filters by it (Project.samples(split)); exports write it the way each format expects."""

from __future__ import annotations

from typing import Annotated

import strawberry

from db import splits
from schema.access import require
from schema.context import Info
from schema.ids import parse_id
from schema.jobs import Job

Fraction = Annotated[float, strawberry.argument(description="0 to 1; the three add up to 1.")]


@strawberry.type
class SplitMutations:
    @strawberry.mutation(description="Gives every image a split as a SPLITS job: near-duplicate groups whole, "
                                     "stratified by each image's rarest class, toward these fractions, in an order "
                                     "fixed by the seed and each image's path. Images that have a split keep it "
                                     "(new images fill the splits up toward the fractions) unless reassign is true. "
                                     "Its result says train, validation, test, assigned and moved (joined to their "
                                     "group's split). Owners; CONFLICT while one runs.")
    async def assign_splits(self, info: Info, project_id: strawberry.ID, train: Fraction, validation: Fraction,
                            test: Fraction, seed: int = 0, reassign: bool = False) -> Job:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "owner")
        job = await info.context.db.write(splits.queue_splits, pid, (train, validation, test), seed, reassign,
                                          info.context.user.name)
        return Job.of(job)
