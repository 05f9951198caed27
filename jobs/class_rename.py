"""RENAME_CLASS: rename one of a project's classes, or merge it into another (db/class_rename.py), as a job: a class
on a million boxes takes seconds, and nothing slow runs in a request."""

from __future__ import annotations

from typing import Any

from db import class_rename
from jobs.context import JobContext


async def run(ctx: JobContext) -> dict[str, Any]:
    assert ctx.project_id is not None
    old, new = ctx.params["from"], ctx.params["to"]
    await ctx.progress(0, await ctx.db.read(class_rename.count_labels, ctx.project_id, old), force=True)
    done = await ctx.db.write(class_rename.rename_class, ctx.project_id, old, new, ctx.created_by)  # all or nothing
    return {"from": old, "to": new, "annotationsChanged": done.annotations_changed,
            "samplesChanged": done.samples_changed, "merged": done.merged}
