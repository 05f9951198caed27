"""Pre-labelling fanned out over Spark (jobs.spark_fanout): on an executor, each partition of sample ids is read,
sent to the model in batches and written back as drafts in bulk, WRITE_CHUNK samples a transaction
(db.labels.replace_drafts_many), so a retried task replaces what it stored instead of duplicating it."""

from __future__ import annotations

import asyncio
import functools
import pickle
from dataclasses import dataclass
from typing import Any

from db import labels
from db import projects as project_rows
from db import samples as sample_rows
from db.engine import Database
from db.records import AnnotationRecord
from jobs import spark_fanout
from jobs.context import JobContext
from jobs.models import ModelError
from jobs.models.backends import Answer, ImageRef
from jobs.models.config import ModelConfig
from jobs.prelabel_core import BATCH, ProjectModel, Tally, image_ref, keep, project_model
from volumes.base import Volumes

IN_FLIGHT = 4  # model requests an executor task keeps open at once
READ_CHUNK = 1000  # sample ids per read
WRITE_CHUNK = 500  # samples per write transaction: short enough that the app's own writes (SQLite) never wait long


@dataclass(frozen=True)
class Recipe:
    """What an executor needs to label a partition on its own, shipped to it pickled."""

    database_url: str
    volumes: Volumes
    model: ModelConfig
    project_id: int
    min_confidence: float


def recipe_for(ctx: JobContext, min_confidence: float) -> Recipe | None:
    """The job's recipe, or None when it cannot travel to executors (Unity Catalog volumes and workspace OAuth
    hold live clients): such a job runs in this process."""
    assert ctx.project_id is not None
    recipe = Recipe(ctx.db.tool_url(), ctx.volumes, ctx.config.model, ctx.project_id, min_confidence)
    try:
        pickle.dumps(recipe)
    except (pickle.PicklingError, TypeError, AttributeError):
        return None
    return recipe


async def run(ctx: JobContext, recipe: Recipe, ids: list[int]) -> tuple[Tally, int]:
    """Every sample labelled on the executors; the summed tally and the number of partitions."""
    chunks = spark_fanout.partitions(ids, ctx.config.spark_partition_samples)
    tally = Tally()
    for counts in await spark_fanout.fan_out(ctx, chunks, functools.partial(label_partition, recipe)):
        tally.add(counts)
    return tally, len(chunks)


def label_partition(recipe: Recipe, ids: list[int]) -> dict[str, Any]:
    """On an executor: one partition labelled and stored; its tally's counts."""
    return asyncio.run(_label(recipe, ids))


async def _label(recipe: Recipe, ids: list[int]) -> dict[str, Any]:
    db = Database(recipe.database_url)
    try:
        project = await db.read(project_rows.get_project, recipe.project_id)
        model = await project_model(recipe.model, recipe.volumes, project)
        rows: dict[int, Any] = {}
        for start in range(0, len(ids), READ_CHUNK):
            rows |= await db.read(sample_rows.get_samples, ids[start:start + READ_CHUNK])
        present = [sid for sid in ids if sid in rows]  # a sample deleted meanwhile is skipped
        tally = Tally()
        try:
            drafts = await _predict(model, [image_ref(recipe.model.public_url, rows[sid]) for sid in present],
                                    recipe.min_confidence, tally)
        finally:
            await model.backend.close()
        refused: dict[int, str] = {}
        for start in range(0, len(present), WRITE_CHUNK):
            chunk = {sid: drafts[sid] for sid in present[start:start + WRITE_CHUNK] if sid in drafts}
            refused |= await labels.replace_drafts_many(db, chunk, model.author)
        for sid, reason in refused.items():
            tally.fail(sid, f"the model's output was refused: {reason}")
        tally.succeeded = len(drafts) - len(refused)
        tally.drafts = sum(len(d) for sid, d in drafts.items() if sid not in refused)
        return tally.counts()
    finally:
        await db.dispose()


async def _predict(model: ProjectModel, refs: list[ImageRef], min_confidence: float, tally: Tally
                   ) -> dict[int, list[AnnotationRecord]]:
    """The drafts to keep for each image the model answered, its batches IN_FLIGHT at a time (a model's latency
    overlaps); an image it failed on is counted in the tally."""
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def batch(refs: list[ImageRef]) -> list[Answer]:
        async with gate:
            return await model.backend.predict_each(refs)

    batches = [refs[i:i + BATCH] for i in range(0, len(refs), BATCH)]
    drafts = {}
    for sent, answers in zip(batches, await asyncio.gather(*map(batch, batches)), strict=True):
        for ref, predicted in zip(sent, answers, strict=True):
            if isinstance(predicted, ModelError):
                tally.fail(ref.sample_id, str(predicted))
            else:
                drafts[ref.sample_id] = keep(predicted, model.classes, model.kind, min_confidence, model.author, tally)
    return drafts
