"""The images of an export fanned out over Spark (jobs.spark_fanout): on an executor, each partition of samples is
read from the volume, measured where the export needs an image's size and nobody has decoded it yet, and copied
into the export's scratch folder. The driver records the sizes it is sent, then writes the labels. A retried task
copies the same files onto the same names again: nothing is duplicated."""

from __future__ import annotations

import functools
import io
import pickle
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from db import export_samples
from db.errors import DomainError, Invalid
from db.records import ExportSnapshot
from jobs import spark_fanout
from jobs.context import JobContext
from volumes.base import Volumes
from volumes.images import ImageError, read_info
from volumes.paths import VolumePath, parse

IN_FLIGHT = 8  # images read or copied at once, by an executor task or an export in one process (latency overlaps)
Item = tuple[int, str, str | None, bool]  # sample id, image path, where to copy it (None: no copy), size wanted


@dataclass(frozen=True)
class Recipe:
    """What an executor needs for a partition, shipped to it pickled."""

    volumes: Volumes
    max_pixels: int


def recipe_for(ctx: JobContext) -> Recipe | None:
    """The job's recipe, or None when its volumes cannot travel to executors (Unity Catalog volumes hold live
    clients): such an export runs in this process."""
    recipe = Recipe(ctx.volumes, ctx.config.max_pixels)
    try:
        pickle.dumps(recipe)
    except (pickle.PicklingError, TypeError, AttributeError):
        return None
    return recipe


def items(snap: ExportSnapshot, copy_to: dict[int, VolumePath] | None) -> list[Item]:
    """Each sample that needs an executor: its image copied (copy_to) or its size read (none known yet)."""
    out = []
    for s in snap.samples:
        dest = copy_to[s.sample_id].text if copy_to is not None else None
        sized = bool(s.width and s.height)
        if dest is not None or not sized:
            out.append((s.sample_id, s.path, dest, not sized))
    return out


async def run(ctx: JobContext, recipe: Recipe, snap: ExportSnapshot, work: list[Item], job_total: int
              ) -> tuple[ExportSnapshot, dict[int, tuple[int, int]], int]:
    """Every item done on the executors (the first len(work) of the job's progress); the snapshot with the sizes
    they read, those sizes (to record), and the number of partitions."""
    if not work:
        return snap, {}, 0
    found: dict[int, tuple[int, int]] = {}
    problems: list[str] = []
    chunks = spark_fanout.partitions(work, ctx.config.spark_partition_samples)
    for sizes, failed in await spark_fanout.fan_out(ctx, chunks, functools.partial(partition, recipe), job_total):
        found.update(sizes)
        problems += failed
    if problems:
        raise Invalid(f"{len(problems):,} image{'s' if len(problems) != 1 else ''} of {snap.name} could not be "
                      f"exported: {'; '.join(problems[:3])}{' …' if len(problems) > 3 else ''}. Fix or remove "
                      f"{'them' if len(problems) != 1 else 'it'} (or skip {'them' if len(problems) != 1 else 'it'}),"
                      " then export again.")
    return replace(snap, samples=export_samples.with_sizes(snap.samples, found)), found, len(chunks)


def partition(recipe: Recipe, chunk: list[Item]) -> tuple[dict[int, tuple[int, int]], list[str]]:
    """On an executor: the partition's images read once each, measured where wanted and copied where asked, IN_FLIGHT
    at a time (storage latency overlaps); the sizes read, and what went wrong with which image."""
    sizes: dict[int, tuple[int, int]] = {}
    problems: list[str] = []
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        for sample_id, outcome in pool.map(functools.partial(_one, recipe), chunk):
            if isinstance(outcome, str):
                problems.append(outcome)
            elif outcome is not None:
                sizes[sample_id] = outcome
    return sizes, problems


def _one(recipe: Recipe, item: Item) -> tuple[int, tuple[int, int] | str | None]:
    """One image: its size if wanted (or the problem, named), copied if asked."""
    sample_id, path, dest, size_wanted = item
    try:
        with recipe.volumes.open(parse(path)) as fp:
            data = fp.read()
        size = None
        if size_wanted:
            info = read_info(io.BytesIO(data), recipe.max_pixels)
            size = (info.width, info.height)
        if dest is not None:
            recipe.volumes.write(parse(dest), data, overwrite=True)  # a retried task writes the same bytes again
        return sample_id, size
    except (ImageError, DomainError) as exc:
        return sample_id, f"{path.rsplit('/', 1)[-1]}: {exc.message}"
