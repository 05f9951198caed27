"""Project-wide draft actions: how many model drafts a gallery filter matches (projectDrafts), and accepting or
clearing all of them as a DRAFTS job once the caller confirmed that count."""

from __future__ import annotations

from typing import Annotated

import strawberry

from db import draft_sweeps
from db import samples as sample_rows
from schema.access import require
from schema.context import Info
from schema.drafts import DraftTally, SampleFilterInput
from schema.ids import parse_id
from schema.jobs import Job
from schema.samples import sample_filter

Confirmed = Annotated[int, strawberry.argument(
    description="The number of drafts projectDrafts reported for this filter, which the caller confirmed; CONFLICT "
                "when it changed meanwhile.")]


def _filter(f: SampleFilterInput | None) -> sample_rows.SampleFilter:
    f = f or SampleFilterInput()
    return sample_filter(f.status, f.label, f.filename, f.labeled_by, f.max_confidence, f.review_status,
                         geometry=f.geometry, duplicates_of=f.duplicates_of, has_duplicates=f.has_duplicates,
                         split=f.split)


async def _sweep(info: Info, project_id: strawberry.ID, f: SampleFilterInput | None, *, accept: bool,
                 expected_drafts: int) -> Job:
    pid = parse_id(project_id, "Project")
    await require(info, pid, "annotator")
    job = await info.context.db.write(draft_sweeps.queue_sweep, pid, _filter(f), accept=accept,
                                      expected_drafts=expected_drafts, created_by=info.context.user.name)
    return Job.of(job)


@strawberry.type
class DraftQueries:
    @strawberry.field(description="How many samples matching the filter (all of the project without one) carry "
                                  "model drafts, and how many drafts: what acceptProjectDrafts / clearProjectDrafts "
                                  "would resolve.")
    async def project_drafts(self, info: Info, project_id: strawberry.ID,
                             filter: SampleFilterInput | None = None) -> DraftTally:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "viewer")
        samples, drafts = await info.context.db.read(draft_sweeps.tally, pid, _filter(filter))
        return DraftTally(samples=samples, drafts=drafts)


@strawberry.type
class DraftMutations:
    @strawberry.mutation(description="Turns every model draft of the samples matching the filter (the whole project "
                                     "without one) into the caller's annotations, as a DRAFTS job in batches of "
                                     "samples; its result says samples and drafts. Annotators.")
    async def accept_project_drafts(self, info: Info, project_id: strawberry.ID, expected_drafts: Confirmed,
                                    filter: SampleFilterInput | None = None) -> Job:
        return await _sweep(info, project_id, filter, accept=True, expected_drafts=expected_drafts)

    @strawberry.mutation(description="Deletes every model draft of the samples matching the filter (the whole "
                                     "project without one), as a DRAFTS job; its result says samples and drafts. "
                                     "Annotators.")
    async def clear_project_drafts(self, info: Info, project_id: strawberry.ID, expected_drafts: Confirmed,
                                   filter: SampleFilterInput | None = None) -> Job:
        return await _sweep(info, project_id, filter, accept=False, expected_drafts=expected_drafts)
