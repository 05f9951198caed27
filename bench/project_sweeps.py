"""Project-wide draft actions: accepting every model draft of a 5,000-image project the way the DRAFTS job does
(keyset batches of 500 samples, one transaction each), on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

from bench.figures import Figure
from bench.scratch_databases import scratch_postgres
from db import labels, projects, samples
from db.engine import Database
from db.migrate import upgrade
from db.records import AnnotationRecord
from jobs.draft_sweep import BATCH

WORK = Path(__file__).resolve().parent / ".work" / "project_sweeps"
PG_NAME = "cvx_bench_project_sweeps"
N = 5000


async def _seed(db: Database) -> int:
    def make(s):  # type: ignore[no-untyped-def]
        p = projects.create_project(s, name="Sweep", description="", task_type="DETECTION", classes=["car"],
                                    multi_label=False, source_volume="/Volumes/b/b/b", created_by="bench")
        samples.insert_new(s, p.id, [(f"/Volumes/b/b/b/{i:05}.jpg", f"{i:05}.jpg") for i in range(N)])
        return p.id

    pid = await db.write(make)
    rows = await db.read(lambda s: samples.page(s, pid, samples.SampleFilter(), first=N, after=None)[0])
    draft = [AnnotationRecord("car", "BBOX", (0.1, 0.1, 0.3, 0.3), 0.6)]
    for r in rows:
        await labels.replace_drafts(db, r.id, draft, "model:bench")
    return pid


async def _sweep(url: str) -> float:
    """Seconds to accept all N drafts, batch by batch (what jobs.draft_sweep.run does besides progress)."""
    db = Database(url)
    try:
        pid = await _seed(db)
        t0, after = time.perf_counter(), 0
        while ids := await db.read(samples.ids_with_drafts, pid, samples.SampleFilter(), after=after, limit=BATCH):
            await labels.resolve_drafts(db, ids, "bench", accept=True)
            after = ids[-1]
        elapsed = time.perf_counter() - t0
        assert await db.read(samples.draft_tally, pid, samples.SampleFilter()) == (0, 0)
        return elapsed
    finally:
        await db.dispose()


def run() -> list[Figure]:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    sqlite_url = f"sqlite:///{WORK / 'sweep.db'}"
    upgrade(sqlite_url)
    sqlite = asyncio.run(_sweep(sqlite_url))
    with scratch_postgres(PG_NAME) as pg_url:
        upgrade(pg_url)
        pg = asyncio.run(_sweep(pg_url))
    return [Figure(f"accept all drafts of {N:,} images (DRAFTS job batches), SQLite", N / sqlite, "images/s", 500,
                   higher_is_better=True),
            Figure("... the same on PostgreSQL", N / pg, "images/s", 500, higher_is_better=True)]
