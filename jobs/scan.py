"""SCAN: walk a project's source folder and add one sample per image file not yet in the project."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

from db import projects, samples
from jobs.context import JobContext
from volumes.base import Entry
from volumes.images import IMAGE_EXTENSIONS
from volumes.paths import parse

BATCH = 5000


def _batches(files: Iterator[Entry], size: int) -> Iterator[list[Entry]]:
    batch: list[Entry] = []
    for entry in files:
        if os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
            batch.append(entry)
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


async def run(ctx: JobContext) -> dict[str, Any]:
    assert ctx.project_id is not None
    project = await ctx.db.read(projects.get_project, ctx.project_id)
    root = parse(project.source_volume)
    batches = _batches(ctx.volumes.walk_files(root), BATCH)
    seen = added = 0
    while True:
        batch = await asyncio.to_thread(next, batches, None)  # the walk touches the disk: keep it off the loop
        if batch is None:
            break
        prefix = len(root.text) + 1
        files = [(e.path, e.path[prefix:]) for e in batch]
        added += await ctx.db.write(samples.insert_new, ctx.project_id, files)
        seen += len(batch)
        await ctx.progress(seen)
    await ctx.progress(seen, seen, force=True)
    return {"imagesFound": seen, "samplesAdded": added}
