"""Labelling mutations (claim, classify, save boxes, skip, drafts) and the sampleChanged subscription."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from db import labels as label_rows
from db import projects as project_rows
from db import reviews as review_rows
from db import submissions as submission_rows
from db.records import AnnotationRecord
from jobs.preannotate import suggest
from resolvers.still_allowed import StillAllowed
from schema.access import require, require_sample, require_samples
from schema.context import Info
from schema.enums import SampleOrder
from schema.ids import parse_id
from schema.inputs import AnnotationInput, InProject
from schema.samples import Sample


def _new(a: AnnotationInput) -> AnnotationRecord:
    box = (a.box.x, a.box.y, a.box.w, a.box.h) if a.box else None
    return AnnotationRecord(label=a.label, kind=a.kind.value, box=box)


def records_of(annotations: list[AnnotationInput]) -> list[AnnotationRecord]:
    return [_new(a) for a in annotations]


async def _submit(info: Info, sample_id: int, records: list[AnnotationRecord], *, allow_empty: bool,
                  expected_version: int | None) -> Sample:
    """In a project with overlap, where the save said TakesSubmissions: the caller's own submission (the sample
    with their labels)."""
    done = await info.context.db.write(submission_rows.submit, sample_id, records, info.context.user.name,
                                       allow_empty=allow_empty, expected_version=expected_version)
    return Sample.of(done.sample, submission_rows.as_annotations(done.submission, done.kind))


def _sample(saved: label_rows.Saved) -> Sample:
    return Sample.of(saved.sample, saved.annotations)


@strawberry.type
class LabelMutations:
    @strawberry.mutation(description="Atomically leases the next sample that needs work to the caller "
                                     "(null when none): first the caller's own samples a reviewer rejected.")
    async def claim_next_sample(self, info: Info, project_id: strawberry.ID,
                                order: SampleOrder | None = SampleOrder.ID) -> Sample | None:
        await require(info, project_id, "annotator")
        row = await info.context.db.write(review_rows.claim_next, parse_id(project_id, "Project"),
                                          info.context.user.name, lease_seconds=info.context.services.lease_seconds,
                                          least_confident=order == SampleOrder.LEAST_CONFIDENT)
        return Sample.of(row) if row else None

    @strawberry.mutation(description="Replaces the sample's classification labels (one label unless the project is "
                                     "multi-label).")
    async def set_classification(
        self, info: Info, sample_id: strawberry.ID, labels: list[str], expected_version: int | None = None,
        project_id: InProject = None,
    ) -> Sample:
        await require_sample(info, sample_id, "annotator", project_id)
        sid = parse_id(sample_id, "Sample")
        try:
            return _sample(await label_rows.set_classification(info.context.db, sid, labels, info.context.user.name,
                                                               expected_version=expected_version,
                                                               submissions_apart=True))
        except label_rows.TakesSubmissions:
            records = [AnnotationRecord(label, "CLASSIFICATION") for label in labels]
            return await _submit(info, sid, records, allow_empty=True, expected_version=expected_version)

    @strawberry.mutation(description="Replaces all of the sample's annotations; an empty list needs allowEmpty.")
    async def save_annotations(
        self, info: Info, sample_id: strawberry.ID, annotations: list[AnnotationInput],
        allow_empty: bool | None = False, expected_version: int | None = None, project_id: InProject = None,
    ) -> Sample:
        await require_sample(info, sample_id, "annotator", project_id)
        sid = parse_id(sample_id, "Sample")
        records = records_of(annotations)
        try:
            return _sample(await label_rows.save_annotations(info.context.db, sid, records, info.context.user.name,
                                                             allow_empty=bool(allow_empty),
                                                             expected_version=expected_version,
                                                             submissions_apart=True))
        except label_rows.TakesSubmissions:
            return await _submit(info, sid, records, allow_empty=bool(allow_empty), expected_version=expected_version)

    @strawberry.mutation
    async def skip_sample(self, info: Info, sample_id: strawberry.ID, expected_version: int | None = None,
                          project_id: InProject = None) -> Sample:
        await require_sample(info, sample_id, "annotator", project_id)
        return _sample(await label_rows.skip_sample(info.context.db, parse_id(sample_id, "Sample"),
                                                    info.context.user.name, expected_version=expected_version))

    @strawberry.mutation(description="Turns the model drafts of these samples into the caller's annotations; "
                                     "returns how many drafts were accepted. At most 10,000 ids; unknown ids are "
                                     "named in a VALIDATION error and nothing changes.")
    async def accept_drafts(self, info: Info, sample_ids: list[strawberry.ID]) -> int:
        ids = await require_samples(info, sample_ids, "annotator")
        return await label_rows.resolve_drafts(info.context.db, ids, info.context.user.name, accept=True)

    @strawberry.mutation(description="Deletes the model drafts of these samples; returns how many were removed. At "
                                     "most 10,000 ids; unknown ids are named in a VALIDATION error.")
    async def clear_drafts(self, info: Info, sample_ids: list[strawberry.ID]) -> int:
        ids = await require_samples(info, sample_ids, "annotator")
        return await label_rows.resolve_drafts(info.context.db, ids, info.context.user.name, accept=False)

    @strawberry.mutation(description="Asks the configured model about this image now and stores its predictions as "
                                     "drafts (replacing that model's earlier ones); UNAVAILABLE if the model fails.")
    async def suggest_annotations(self, info: Info, sample_id: strawberry.ID) -> Sample:
        await require_sample(info, sample_id, "annotator")
        services = info.context.services
        return _sample(await suggest(services.db, services.volumes, services.model, parse_id(sample_id, "Sample")))


@strawberry.type
class LabelSubscriptions:
    @strawberry.subscription(description="Emits a sample of the project each time it changes (labels, status, lease), "
                                         "with the annotations of the version it carries.")
    async def sample_changed(self, info: Info, project_id: strawberry.ID) -> AsyncGenerator[Sample, None]:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "viewer")
        allowed = StillAllowed(info, lambda access: access.project(pid, "viewer"))
        async with info.context.services.broker.subscribe(f"samples:{pid}") as events:
            await info.context.db.read(project_rows.get_project, pid)
            while True:
                sample_id = await events.get()
                await allowed()
                found = await info.context.db.read(label_rows.find_snapshot, sample_id)
                if found is not None:
                    info.context.forget()  # the event's other fields (history) are read afresh too
                    yield Sample.of(found.sample, found.annotations)
