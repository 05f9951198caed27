"""Pre-labelling fanned out over Spark (jobs.spark_fanout): on an executor, each partition of sample ids is read,
sent to the model in batches and written back as drafts in one transaction (db.labels.replace_drafts_many), so a
retried task replaces what it stored instead of duplicating it."""

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
from jobs import spark_fanout
from jobs.context import JobContext
from jobs.models import ModelError
from jobs.models.config import ModelConfig
from jobs.prelabel_core import BATCH, Tally, image_ref, keep, project_model
from volumes.base import Volumes


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


def wanted(ctx: JobContext, samples: int) -> bool:
    """Whether this pre-labelling goes to Spark: SPARK_MIN_SAMPLES is set, reached, and pyspark is here."""
    least = ctx.config.spark_min_samples
    return bool(least) and samples >= least and spark_fanout.available()


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
        backend, author, classes, kind = await project_model(recipe.model, recipe.volumes, project)
        tally = Tally()
        drafts = {}
        try:
            for start in range(0, len(ids), BATCH):
                rows = await db.read(sample_rows.get_samples, ids[start:start + BATCH])
                batch = [sid for sid in ids[start:start + BATCH] if sid in rows]  # deleted meanwhile: skipped
                refs = [image_ref(recipe.model.public_url, rows[sid]) for sid in batch]
                for sid, predicted in zip(batch, await backend.predict_each(refs), strict=True):
                    if isinstance(predicted, ModelError):
                        tally.fail(sid, str(predicted))
                    else:
                        drafts[sid] = keep(predicted, classes, kind, recipe.min_confidence, author, tally)
        finally:
            await backend.close()
        refused = await labels.replace_drafts_many(db, drafts, author)
        for sid, reason in refused.items():
            tally.fail(sid, f"the model's output was refused: {reason}")
        tally.succeeded = len(drafts) - len(refused)
        tally.drafts = sum(len(d) for sid, d in drafts.items() if sid not in refused)
        return tally.counts()
    finally:
        await db.dispose()
