"""Consensus labelling at scale: the AGREEMENT job over 100,000 images with overlap 3 and 10 boxes per submission,
the extra time a save pays to keep the agreement current, and the adjudication queue's first page, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.figures import Figure
from bench.scratch_databases import scratch_postgres
from db import labels, projects, samples, submissions
from db.engine import Database
from db.migrate import upgrade
from db.models import Sample, Submission, utcnow
from db.records import AnnotationRecord
from jobs.agreement import recompute_all, workers_for

WORK = Path(__file__).resolve().parent / ".work" / "consensus"
PG_NAME = "cvx_bench_consensus"
N = 100_000
USERS = ("ann", "bob", "cy")
CLASSES = ["car", "person", "bike"]
SAVES = 150  # images saved by three labellers each (and as many saved once as usual), to time the saves


def _truth(rng: random.Random) -> list[tuple[str, float, float, float, float]]:
    return [(rng.choice(CLASSES), 0.01 + rng.random() * 0.78, 0.01 + rng.random() * 0.78, 0.05 + rng.random() * 0.15,
             0.05 + rng.random() * 0.15) for _ in range(10)]


def _drawn(rng: random.Random, truth: list[tuple[str, float, float, float, float]]) -> list[list[Any]]:
    """A labeller's 10 boxes: the true ones a little off, now and then one missed and another drawn instead."""
    out = []
    for label, x, y, w, h in truth:
        if rng.random() < 0.08:
            label, x, y = rng.choice(CLASSES), 0.01 + rng.random() * 0.78, 0.01 + rng.random() * 0.78
        out.append([label, x + rng.uniform(-0.01, 0.01) * w, y + rng.uniform(-0.01, 0.01) * h, w, h])
    return out


def _ids(session: Session, pid: int) -> list[int]:
    return list(session.scalars(select(Sample.id).where(Sample.project_id == pid).order_by(Sample.id)))


async def _seed(db: Database) -> int:
    rng = random.Random(7)

    def make(s):  # type: ignore[no-untyped-def]
        p = projects.create_project(s, name="Consensus", description="", task_type="DETECTION", classes=CLASSES,
                                    multi_label=False, source_volume="/Volumes/b/b/b", created_by="bench")
        p.consensus = {"overlap": 3, "fraction": 1.0, "iou_threshold": 0.5, "agreement_threshold": 0.9,
                       "models_as_labellers": False}
        samples.insert_new(s, p.id, [(f"/Volumes/b/b/b/{i:06}.jpg", f"{i:06}.jpg") for i in range(N + 2 * SAVES)])
        return p.id

    pid = await db.write(make)
    ids = await db.read(_ids, pid)
    now = utcnow()
    for start in range(0, N, 20_000):
        rows = []
        for sid in ids[start:min(N, start + 20_000)]:
            truth = _truth(rng)
            rows += [{"project_id": pid, "sample_id": sid, "user": u, "items": _drawn(rng, truth), "no_objects": False,
                      "version": 1, "submitted_at": now, "lease_expires_at": None} for u in USERS]
        await db.write(lambda s, rows=rows: s.execute(Submission.__table__.insert(), rows))
    return pid


async def _job(db: Database, pid: int) -> float:
    """Seconds for what the AGREEMENT job does (jobs.agreement.run, without its progress events)."""
    t0 = time.perf_counter()
    with workers_for(N) as workers:
        images = await recompute_all(db, pid, workers=workers)
    assert images == N, images
    return time.perf_counter() - t0


async def _saves(db: Database, pid: int) -> tuple[float, float, float]:
    """Median ms of a labeller's submission that does not complete the image, of the one that completes it
    (agreement computed, totals moved, the consensus stored as the labels), and of a usual save of 10 boxes (what
    storing the consensus costs, which any labelling pays)."""
    rng = random.Random(11)
    ids = (await db.read(_ids, pid))[N:]
    plain = []
    for sid in ids[SAVES:]:
        records = [AnnotationRecord(i[0], "BBOX", tuple(i[1:5])) for i in _drawn(rng, _truth(rng))]
        t0 = time.perf_counter()
        await labels.save_annotations(db, sid, records, "dee", allow_empty=False, expected_version=None)
        plain.append((time.perf_counter() - t0) * 1000)
    first, last = [], []
    for sid in ids[:SAVES]:
        truth = _truth(rng)
        for n, user in enumerate(USERS):
            records = [AnnotationRecord(i[0], "BBOX", tuple(i[1:5])) for i in _drawn(rng, truth)]
            t0 = time.perf_counter()
            await db.write(submissions.submit, sid, records, user, allow_empty=False, expected_version=None)
            took = (time.perf_counter() - t0) * 1000
            if n == 0:
                first.append(took)
            elif n == len(USERS) - 1:
                last.append(took)
    return statistics.median(first), statistics.median(last), statistics.median(plain)


async def _queue(db: Database, pid: int) -> tuple[float, int]:
    """Median ms of the adjudication queue's first page (20 images, and the count), and the queue's length."""
    times = []
    for _ in range(30):
        t0 = time.perf_counter()
        page, total = await db.read(lambda s: (submissions.adjudication_queue(s, pid, 21, None),
                                               submissions.queue_length(s, pid)))
        times.append((time.perf_counter() - t0) * 1000)
        assert len(page) == 21
    return statistics.median(times), total


async def _measure(url: str) -> tuple[float, float, float, float, float, int]:
    db = Database(url)
    try:
        pid = await _seed(db)
        job = await _job(db, pid)
        first, last, plain = await _saves(db, pid)
        queue, waiting = await _queue(db, pid)
        return job, first, last, plain, queue, waiting
    finally:
        await db.dispose()


def _figures(backend: str, measured: tuple[float, float, float, float, float, int]) -> list[Figure]:
    job, first, last, plain, queue, waiting = measured
    return [
        Figure(f"AGREEMENT job, {N:,} images x 3 labellers x 10 boxes, {backend}", job, "s", 10),
        Figure(f"... agreement upkeep of a save completing an image, {backend}: that save ({last:.1f} ms) minus one "
               f"not completing it ({first:.1f}) minus storing 10 boxes as a usual save does ({plain:.1f})",
               last - first - plain, "ms", 5),
        Figure(f"... adjudication queue first page with its count ({waiting:,} waiting), {backend}", queue, "ms", 50),
    ]


def run() -> list[Figure]:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    sqlite_url = f"sqlite:///{WORK / 'consensus.db'}"
    upgrade(sqlite_url)
    figures = _figures("SQLite", asyncio.run(_measure(sqlite_url)))
    with scratch_postgres(PG_NAME) as pg_url:
        upgrade(pg_url)
        figures += _figures("PostgreSQL", asyncio.run(_measure(pg_url)))
    return figures
