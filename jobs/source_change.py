"""SOURCE_CHANGE: list the new folder's images, then say (dry run) or do what moving the project there means: samples
whose relative path exists there are kept with their labels, the others dropped with theirs, new files added
(db/source_folders.py). A listing of a big volume takes a while, hence a job."""

from __future__ import annotations

import asyncio
from typing import Any

from db import source_folders
from jobs.context import JobContext
from jobs.scan import image_files
from volumes.base import Volumes
from volumes.paths import parse


def _relative_images(volumes: Volumes, folder: str) -> set[str]:
    prefix = len(folder) + 1
    return {e.path[prefix:] for e in image_files(volumes.walk_files(parse(folder)))}


async def run(ctx: JobContext) -> dict[str, Any]:
    assert ctx.project_id is not None
    folder, dry_run = ctx.params["sourceVolume"], bool(ctx.params["dryRun"])
    await ctx.progress(0, None, force=True)
    found = await asyncio.to_thread(_relative_images, ctx.volumes, folder)
    await ctx.progress(len(found), len(found), force=True)  # a cancel asked during the listing stops it here
    if dry_run:
        plan = await ctx.db.read(source_folders.plan_source_change, ctx.project_id, found)
    else:
        plan = await ctx.db.write(source_folders.change_source, ctx.project_id, folder, found,
                                  int(ctx.params["expectedDropped"]))
    return {"sourceVolume": folder, "dryRun": dry_run, **plan.as_result()}
