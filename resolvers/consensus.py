"""Consensus labelling: a project's overlap settings (owners), the adjudication queue and decisions (reviewers)."""

from __future__ import annotations

import strawberry
from sqlalchemy.orm import Session

from db import jobs as job_rows
from db import models
from db import projects as project_rows
from db import submissions as submission_rows
from db.overlap import checked
from resolvers.labels import records_of
from schema.access import require, require_sample
from schema.consensus import AdjudicationItem, AdjudicationPage, ConsensusSettingsInput
from schema.context import Info
from schema.ids import parse_id
from schema.inputs import AnnotationInput, InProject
from schema.jobs import Job
from schema.paging import ranked_page
from schema.projects import Project
from schema.samples import Sample


def _cursor(score: float, sample_id: int) -> str:
    return f"{score!r}:{sample_id}"


@strawberry.type
class ConsensusQueries:
    @strawberry.field(description="Images whose labellers agree less than the project's threshold (or have no "
                                  "majority), the least agreed first. Reviewers and owners.")
    async def adjudication_queue(self, info: Info, project_id: strawberry.ID, first: int | None = 20,
                                 after: str | None = None) -> AdjudicationPage:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "reviewer")
        size, key = ranked_page(first, after)

        def page(s: Session) -> tuple[list[submission_rows.QueueEntry], int]:
            return (submission_rows.adjudication_queue(s, pid, size + 1, key),
                    submission_rows.queue_length(s, pid))

        entries, total = await info.context.db.read(page)
        return AdjudicationPage(
            items=[AdjudicationItem(sample=Sample.of(e.sample), score=e.score, raters=e.raters,
                                    cursor=_cursor(e.score, e.sample.id)) for e in entries[:size]],
            total_count=total, has_next_page=len(entries) > size)


@strawberry.type
class ConsensusMutations:
    @strawberry.mutation(description="Sets how many labellers label each image and the agreement thresholds. "
                                     "Owners. Images already labelled keep their labels.")
    async def set_consensus_settings(self, info: Info, project_id: strawberry.ID,
                                     input: ConsensusSettingsInput) -> Project:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "owner")
        settings = checked(input.overlap, 1.0 if input.fraction is None else input.fraction,
                           0.5 if input.iou_threshold is None else input.iou_threshold,
                           0.5 if input.agreement_threshold is None else input.agreement_threshold,
                           bool(input.models_as_labellers))

        def change(s: Session) -> models.Project:
            project = project_rows.get_project(s, pid)
            project.consensus = settings.stored()
            s.flush()
            return project

        return Project.of(await info.context.db.write(change))

    @strawberry.mutation(description="Recomputes every image's agreement with the project's current thresholds as "
                                     "an AGREEMENT job (batches of samples, one transaction each); labels and "
                                     "adjudications are kept. Owners.")
    async def recompute_agreement(self, info: Info, project_id: strawberry.ID) -> Job:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "owner")
        return Job.of(await info.context.db.write(job_rows.queue_for_project, pid, "AGREEMENT", {},
                                                  info.context.user.name))

    @strawberry.mutation(description="Decides an image's labels from its submissions: pick (a labeller whose "
                                     "submission wins) or annotations (the final labels, edited). Recorded in its "
                                     "history as an adjudication; later submissions no longer change its labels. "
                                     "Reviewers and owners.")
    async def adjudicate_sample(
        self, info: Info, sample_id: strawberry.ID, pick: str | None = None,
        annotations: list[AnnotationInput] | None = None, expected_version: int | None = None,
        project_id: InProject = None,
    ) -> Sample:
        sid = parse_id(sample_id, "Sample")
        await require_sample(info, sid, "reviewer", project_id)
        row = await info.context.db.write(
            submission_rows.adjudicate, sid, info.context.user.name,
            records=None if annotations is None else records_of(annotations), pick=pick,
            expected_version=expected_version)
        return Sample.of(row)
