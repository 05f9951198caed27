"""PREANNOTATE: send a project's samples (by status) to the configured model in batches and store what it
predicts as drafts of `model:<name>`, replacing that model's earlier drafts. A sample the model fails on is
counted with its reason and skipped; nothing partial is stored for it."""

from __future__ import annotations

from typing import Any, NamedTuple

from db import labels
from db import projects as project_rows
from db import samples as sample_rows
from db.engine import Database
from db.errors import Invalid, Unavailable
from db.label_plans import KIND_FOR_TASK
from db.models import Project
from db.records import AnnotationRecord
from jobs.context import JobContext
from jobs.models import ModelError, Prediction
from jobs.models.backends import Backend, ImageRef, make_backend
from jobs.models.config import ModelConfig
from jobs.models.labelstudio import LsProject
from jobs.models.settings import class_lookup, effective_config
from volumes.base import Volumes

BATCH = 8


class Tally:
    def __init__(self) -> None:
        self.succeeded = self.failed = self.drafts = self.unknown = self.below = self.wrong_kind = 0
        self.failures: list[dict[str, Any]] = []

    def fail(self, sample_id: int, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < 100:
            self.failures.append({"sampleId": str(sample_id), "reason": reason})


def keep(predictions: list[Prediction], classes: dict[str, str], kind: str, min_confidence: float, author: str,
         tally: Tally) -> list[AnnotationRecord]:
    """Predictions mapped onto the project's classes by `classes` (see settings.class_lookup); unknown or
    unmapped labels, other kinds and confidences under the threshold are dropped and counted."""
    out = []
    for p in predictions:
        label = classes.get(p.label.strip().lower())
        if not label:
            tally.unknown += 1
        elif p.kind != kind:
            tally.wrong_kind += 1
        elif p.confidence is not None and p.confidence < min_confidence:
            tally.below += 1
        else:
            out.append(AnnotationRecord(label, p.kind, p.box, p.confidence, True, author))
    return out


def image_ref(public_url: str, sample: Any) -> ImageRef:
    return ImageRef(sample.id, sample.path, f"{public_url.rstrip('/')}/media/samples/{sample.id}/image")


class ProjectModel(NamedTuple):
    backend: Backend
    author: str  # model:<name>, the drafts' author
    classes: dict[str, str]  # model label (lower case) -> project class, "" = dropped
    kind: str


async def project_model(config: ModelConfig, volumes: Volumes, project: Project) -> ProjectModel:
    """The project's own model (or the instance default), ready to predict."""
    config = effective_config(config, project.model_settings)
    ls_project = LsProject.of(project.id, project.created_at.timestamp(), project.task_type, project.classes)
    backend = await make_backend(config, volumes, ls_project, tuple(project.classes))
    return ProjectModel(backend, config.author, class_lookup(project.classes, config.label_map),
                        KIND_FOR_TASK[project.task_type])


async def suggest(db: Database, volumes: Volumes, config: ModelConfig, sample_id: int) -> labels.Saved:
    """The model's predictions for one image, stored as its drafts right away (the labelling view's Suggest).
    Unlike the job, every prediction is kept whatever its confidence: the labeller sees and decides."""
    sample = await db.read(sample_rows.get_sample, sample_id)
    model = await project_model(config, volumes, await db.read(project_rows.get_project, sample.project_id))
    try:
        [answer] = await model.backend.predict_each([image_ref(config.public_url, sample)])
    finally:
        await model.backend.close()
    if isinstance(answer, ModelError):
        raise Unavailable(f"The model could not label this image: {answer}")
    drafts = keep(answer, model.classes, model.kind, 0.0, model.author, Tally())
    return await labels.replace_drafts(db, sample_id, drafts, model.author)


async def run(ctx: JobContext) -> dict[str, Any]:
    assert ctx.project_id is not None
    project = await ctx.db.read(project_rows.get_project, ctx.project_id)
    model = await project_model(ctx.config.model, ctx.volumes, project)
    backend, author, classes, kind = model
    p = ctx.params
    statuses = p.get("statuses") or ["UNLABELED"]
    min_confidence = float(p.get("minConfidence", 0.5))
    ids = await ctx.db.read(sample_rows.ids_in_statuses, ctx.project_id, statuses, p.get("maxSamples"))
    public = ctx.config.model.public_url
    tally = Tally()
    await ctx.progress(0, len(ids), force=True)
    try:
        for start in range(0, len(ids), BATCH):
            batch = ids[start:start + BATCH]
            rows = await ctx.db.read(sample_rows.get_samples, batch)
            refs = [image_ref(public, rows[sid]) for sid in batch]
            for sid, predicted in zip(batch, await backend.predict_each(refs), strict=True):
                if isinstance(predicted, ModelError):
                    tally.fail(sid, str(predicted))
                    continue
                drafts = keep(predicted, classes, kind, min_confidence, author, tally)
                try:
                    await labels.replace_drafts(ctx.db, sid, drafts, author)
                except Invalid as exc:  # e.g. a box outside the image: nothing is stored for this sample
                    tally.fail(sid, f"the model's output was refused: {exc.message}")
                    continue
                tally.succeeded += 1
                tally.drafts += len(drafts)
            await ctx.progress(start + len(batch), len(ids))
    finally:
        await backend.close()
    return {"model": author, "samples": len(ids), "succeeded": tally.succeeded, "failed": tally.failed,
            "drafts": tally.drafts, "droppedUnknownLabel": tally.unknown, "droppedWrongKind": tally.wrong_kind,
            "belowThreshold": tally.below, "failures": tally.failures}
