"""AGREEMENT: recompute every image's agreement in a project with overlap (after its thresholds changed, or to
repair its figures), in batches of samples, one transaction each (db.submissions.recompute_batch). Labels and
adjudications are kept."""

from __future__ import annotations

from typing import Any

from db import samples as sample_rows
from db import submissions
from jobs.context import JobContext

BATCH = 2000


async def run(ctx: JobContext) -> dict[str, Any]:
    assert ctx.project_id is not None
    total = await ctx.db.read(sample_rows.count, ctx.project_id, sample_rows.SampleFilter())
    await ctx.progress(0, total, force=True)
    after: int | None = 0
    read = images = 0
    while after is not None:
        after, done = await ctx.db.write(submissions.recompute_batch, ctx.project_id, after, BATCH)
        images += done
        read = min(total, read + BATCH) if after is not None else total
        await ctx.progress(read, total)
    return {"images": images}
