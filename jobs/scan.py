"""SCAN: walk a project's source folder, add one sample per image file not yet in the project, and mark the samples
whose file is gone as missing (unmarked when it comes back); nothing is deleted (db/source_folders.py). A project
made from a table lists the table instead (jobs/table_sync.py)."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator
from typing import Any

from db import projects, samples, source_folders
from jobs import table_sync
from jobs.context import JobContext
from volumes.base import Entry
from volumes.images import IMAGE_EXTENSIONS
from volumes.paths import parse

BATCH = 5000


def image_files(files: Iterator[Entry]) -> Iterator[Entry]:
    return (e for e in files if os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS)


def _batches(files: Iterator[Entry], size: int) -> Iterator[list[Entry]]:
    batch: list[Entry] = []
    for entry in image_files(files):
        batch.append(entry)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


async def run(ctx: JobContext) -> dict[str, Any]:
    assert ctx.project_id is not None
    project = await ctx.db.read(projects.get_project, ctx.project_id)
    if project.source_table is not None:
        return await table_sync.run(ctx, project)
    root = parse(project.source_volume)
    batches = _batches(ctx.volumes.walk_files(root), BATCH)
    seen = added = 0
    known_up_to = await ctx.db.read(source_folders.last_sample_id, ctx.project_id)
    known = await ctx.db.read(source_folders.known_paths, ctx.project_id, known_up_to) if known_up_to else None
    while True:
        batch = await asyncio.to_thread(next, batches, None)  # the walk touches the disk: keep it off the loop
        if batch is None:
            break
        prefix = len(root.text) + 1
        files = [(e.path, e.path[prefix:]) for e in batch]
        if known is not None:  # only the paths no sample has go to the database
            fresh = await asyncio.to_thread(known.new, [path for path, _ in files])
            files = list(itertools.compress(files, fresh.tolist()))
        if files:
            added += await ctx.db.write(samples.insert_new, ctx.project_id, files)
        seen += len(batch)
        await ctx.progress(seen)
    if known is not None:
        vanished, back = await asyncio.to_thread(known.vanished), await asyncio.to_thread(known.back)
        await ctx.db.write(source_folders.mark_missing, ctx.project_id, vanished, back)
    else:
        vanished = back = []
    await ctx.progress(seen, seen, force=True)
    return {"imagesFound": seen, "samplesAdded": added, "missing": len(vanished), "foundAgain": len(back)}
