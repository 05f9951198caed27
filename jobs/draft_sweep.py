"""DRAFTS: accept or clear every model draft of a project, or of the samples a gallery filter matches, in batches
of samples (one transaction each, db.labels.resolve_drafts), so a project of any size is handled outside a request."""

from __future__ import annotations

from typing import Any

from db import labels
from db import samples as sample_rows
from jobs.context import JobContext

BATCH = 500


def sample_filter(params: dict[str, Any]) -> sample_rows.SampleFilter:
    return sample_rows.SampleFilter(**params.get("filter", {}))


async def run(ctx: JobContext) -> dict[str, Any]:
    assert ctx.project_id is not None
    accept, f = bool(ctx.params["accept"]), sample_filter(ctx.params)
    total_samples, _ = await ctx.db.read(sample_rows.draft_tally, ctx.project_id, f)
    await ctx.progress(0, total_samples, force=True)
    samples = drafts = 0
    after = 0
    while True:
        ids = await ctx.db.read(sample_rows.ids_with_drafts, ctx.project_id, f, after=after, limit=BATCH)
        if not ids:
            break
        drafts += await labels.resolve_drafts(ctx.db, ids, ctx.created_by, accept=accept)
        samples, after = samples + len(ids), ids[-1]
        await ctx.progress(samples, max(samples, total_samples))
    return {"action": "accept" if accept else "clear", "samples": samples, "drafts": drafts}
