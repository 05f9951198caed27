"""PREANNOTATE: send a project's samples (by status) to the configured model in batches and store what it
predicts as drafts of `model:<name>`, replacing that model's earlier drafts. A sample the model fails on is
counted with its reason and skipped; nothing partial is stored for it. From SPARK_MIN_SAMPLES samples on, where
pyspark is at hand, the work fans out over Spark's executors instead (jobs.spark_prelabel)."""

from __future__ import annotations

from typing import Any

from db import labels
from db import projects as project_rows
from db import samples as sample_rows
from db.engine import Database
from db.errors import Invalid, Unavailable
from db.models import Project
from jobs import spark_fanout, spark_prelabel
from jobs.context import JobContext
from jobs.models import ModelError
from jobs.models.config import ModelConfig
from jobs.models.settings import effective_config
from jobs.prelabel_core import BATCH, Tally, image_ref, keep, project_model
from volumes.base import Volumes


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
    p = ctx.params
    statuses = p.get("statuses") or ["UNLABELED"]
    min_confidence = float(p.get("minConfidence", 0.5))
    ids = await ctx.db.read(sample_rows.ids_in_statuses, ctx.project_id, statuses, p.get("maxSamples"))
    author = effective_config(ctx.config.model, project.model_settings).author
    recipe = spark_prelabel.recipe_for(ctx, min_confidence) if spark_fanout.wanted(ctx, len(ids)) else None
    if recipe is not None:
        await (await project_model(ctx.config.model, ctx.volumes, project)).backend.close()  # a bad setup fails here
        tally, partitions = await spark_prelabel.run(ctx, recipe, ids)
        return {"model": author, "samples": len(ids), **tally.counts(), "sparkPartitions": partitions}
    tally = await _label_here(ctx, project, ids, min_confidence)
    return {"model": author, "samples": len(ids), **tally.counts()}


async def _label_here(ctx: JobContext, project: Project, ids: list[int], min_confidence: float) -> Tally:
    """Every sample labelled by this process, batch after batch, each sample's drafts stored on their own."""
    backend, author, classes, kind = await project_model(ctx.config.model, ctx.volumes, project)
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
    return tally
