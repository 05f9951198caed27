"""importAnnotations, exportDataset and preannotate: check the input now (clear errors before any job), then queue
the job."""

from __future__ import annotations

import asyncio

import strawberry

from db import exports
from db import jobs as job_rows
from db.errors import Invalid, Unavailable
from jobs.models import settings as model_settings
from resolvers.volumes import checked_folder
from schema.access import require
from schema.context import Info
from schema.enums import OnExistingAnnotations, OnMissingSample
from schema.ids import parse_id
from schema.inputs import ExportInput, ImportInput, PreannotateInput
from schema.jobs import Job
from volumes.base import Volumes
from volumes.paths import VolumePath, parse

EVERY_SUBMISSION_FORMATS = ("COCO", "JSONL")


def _exists(volumes: Volumes, path: VolumePath) -> None:
    """The import source must be a file (or, for YOLO, a folder) inside a volume: NOT_FOUND / VALIDATION now."""
    if path.depth < 4:
        raise Invalid(f"{path} is not a file or folder inside a volume.")
    try:
        volumes.stat(path)
    except Invalid:
        volumes.check_folder(path)  # a folder (YOLO), without listing it; raises if it is neither


async def writable_folder(info: Info, project_id: int, destination: str) -> VolumePath:
    """An existing folder the caller may export the project into; the project's export area is made on first use."""
    path, reach = parse(destination), info.context.reach
    await reach.write(path, project_id)
    area = reach.export_area(project_id)
    if area is not None and path.within(area):
        try:
            await asyncio.to_thread(info.context.services.volumes.make_dirs, area)
        except OSError as exc:  # a local export volume that is read-only, full, or has a file of that name
            raise Unavailable(f"The export area {area} could not be made: {exc.strerror or exc}.") from None
    return await checked_folder(info, destination)


@strawberry.type
class DatasetMutations:
    @strawberry.mutation(description="Imports annotations from a COCO, JSONL or YOLO source as a job: every row is "
                                     "checked first; then all of it is written in one transaction, or nothing.")
    async def import_annotations(self, info: Info, project_id: strawberry.ID, input: ImportInput) -> Job:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "owner")
        path = parse(input.path)
        await info.context.reach.read(path, "import from", project_id=pid)
        await asyncio.to_thread(_exists, info.context.services.volumes, path)
        params = {"path": path.text, "format": input.format.value,
                  "onMissingSample": (input.on_missing_sample or OnMissingSample.ERROR).value,
                  "onExistingAnnotations": (input.on_existing_annotations or OnExistingAnnotations.REPLACE).value,
                  "dryRun": bool(input.dry_run)}
        if input.as_drafts_of is not None:
            params["asDraftsOf"] = model_settings.checked_name(input.as_drafts_of, "asDraftsOf")
        job = await info.context.db.write(job_rows.queue_for_project, pid, "IMPORT", params, info.context.user.name)
        return Job.of(job)

    @strawberry.mutation(description="Exports the project's labelled samples as a job, into a new folder "
                                     "<name>_v<version>_<UTC time, ms>Z_job<job id> inside destination, which "
                                     "appears whole or not at all. Refused (VALIDATION) when nothing is labelled.")
    async def export_dataset(self, info: Info, project_id: strawberry.ID, input: ExportInput) -> Job:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "owner")
        folder = await writable_folder(info, pid, input.destination)
        await info.context.db.read(exports.check_something_to_export, pid, bool(input.accepted_only))
        if input.every_submission and input.format.value not in EVERY_SUBMISSION_FORMATS:
            raise Invalid("everySubmission exports are COCO or JSONL (their annotations carry an annotator).",
                          field="everySubmission")
        params = {"format": input.format.value, "destination": folder.text,
                  "includeImages": input.include_images is not False, "acceptedOnly": bool(input.accepted_only),
                  "everySubmission": bool(input.every_submission)}
        job = await info.context.db.write(job_rows.queue_for_project, pid, "EXPORT", params, info.context.user.name)
        return Job.of(job)

    @strawberry.mutation(description="Sends the project's samples (by status) to the configured model as a job and "
                                     "stores its predictions as drafts of model:<name>, replacing its earlier ones.")
    async def preannotate(self, info: Info, project_id: strawberry.ID, input: PreannotateInput | None = None) -> Job:
        pid = parse_id(project_id, "Project")
        await require(info, pid, "owner")
        inp = input or PreannotateInput()
        confidence = 0.5 if inp.min_confidence is None else inp.min_confidence
        if not 0 <= confidence <= 1:
            raise Invalid("minConfidence must be between 0 and 1.")
        if inp.max_samples is not None and inp.max_samples < 1:
            raise Invalid("maxSamples must be 1 or more.")
        params = {"statuses": [s.value for s in (inp.statuses or [])] or ["UNLABELED"],
                  "maxSamples": inp.max_samples, "minConfidence": confidence}
        job = await info.context.db.write(job_rows.queue_for_project, pid, "PREANNOTATE", params,
                                          info.context.user.name)
        return Job.of(job)
