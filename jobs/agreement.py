"""AGREEMENT: recompute every image's agreement in a project with overlap (after its thresholds changed, or to
repair its figures), in batches of samples, one transaction each (db.submissions.recompute_batch). Labels and
adjudications are kept.

On PostgreSQL two batches overlap: the next one starts as soon as this one has locked its samples (the next ids
follow from its last), on another write thread, so one computes while the other waits for the server (its reads,
its rows' COPY, its commit). Their samples differ; the next batch moves the totals only after this one committed
(the totals add the batches' changes in order, the same floats as one after the other) and gives up if this one
failed. That wait cannot close a cycle of locks: once the next batch has started, this one only still needs the
totals' rows, which every writer takes last, just before committing. SQLite has one writer: batches there go one
after the other.

In a project of 20,000 samples or more, each batch is computed on two cores (db.agreement_workers): part in a
worker process that lives for the job, part in the batch's own thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from db import agreement_workers, submissions
from db import samples as sample_rows
from db.engine import Database
from jobs.context import JobContext

BATCH = 2000
WORKERS_FROM = 20_000


async def run(ctx: JobContext) -> dict[str, Any]:
    assert ctx.project_id is not None
    total = await ctx.db.read(sample_rows.count, ctx.project_id, sample_rows.SampleFilter())
    await ctx.progress(0, total, force=True)
    read = 0

    async def batch_done(last: int | None) -> None:
        nonlocal read
        read = min(total, read + BATCH) if last is not None else total
        await ctx.progress(read, total)

    with workers_for(total) as workers:
        return {"images": await recompute_all(ctx.db, ctx.project_id, batch_done, workers=workers)}


@contextlib.contextmanager
def workers_for(samples: int) -> Iterator[agreement_workers.Workers | None]:
    """A worker process for a job over this many samples, let go after it: from WORKERS_FROM on (below, the job
    takes about a second, less than starting the process costs)."""
    if samples < WORKERS_FROM:
        yield None
        return
    workers = agreement_workers.Workers()
    try:
        yield workers
    finally:
        workers.close()


async def recompute_all(db: Database, project_id: int,
                        batch_done: Callable[[int | None], Awaitable[None]] | None = None, batch: int = BATCH,
                        workers: agreement_workers.Workers | None = None) -> int:
    """Recompute every batch of `batch` of the project's samples, computed by `workers` when given (part in their
    process), else here; `batch_done(last sample id read, None at the end)` after each batch committed, in order.
    Returns how many images have an agreement."""
    if db.is_postgres:
        return await _overlapped(db, project_id, batch_done, batch, workers)
    after: int | None = 0
    images = 0
    while after is not None:
        after, done = await db.write(submissions.recompute_batch, project_id, after, batch, workers=workers)
        images += done
        if batch_done is not None:
            await batch_done(after)
    return images


async def _overlapped(db: Database, project_id: int, batch_done: Callable[[int | None], Awaitable[None]] | None,
                      size: int, workers: agreement_workers.Workers | None) -> int:
    loop = asyncio.get_running_loop()
    images = 0
    after: int | None = 0
    flight: list[asyncio.Future[tuple[int | None, int]]] = []  # batches started and not awaited yet, in order
    committed: concurrent.futures.Future[None] | None = None  # the last batch's: set when it committed, or failed
    try:
        while after is not None:
            started: asyncio.Future[int] = loop.create_future()

            def locked(last: int, started: asyncio.Future[int] = started) -> None:
                loop.call_soon_threadsafe(started.set_result, last)  # once: a batch locks its samples once

            def before_totals(previous: concurrent.futures.Future[None] | None = committed) -> None:
                if previous is not None:
                    previous.result()  # raises when the previous batch failed: this one rolls back

            batch = asyncio.ensure_future(db.write(submissions.recompute_batch, project_id, after, size,
                                                   locked=locked, before_totals=before_totals, workers=workers))
            committed = concurrent.futures.Future()
            batch.add_done_callback(functools.partial(_settle, committed))
            flight.append(batch)
            either: list[asyncio.Future[Any]] = [started, batch]
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if len(flight) > 1:  # at most two batches at once: the previous one finishes first
                last, done = await flight.pop(0)
                images += done
                if batch_done is not None:
                    await batch_done(last)
            after = started.result() if started.done() else (await batch)[0]
        last, done = await flight.pop(0)
        images += done
        if batch_done is not None:
            await batch_done(last)
        return images
    finally:
        if flight:  # an error or a cancel above: the batches in flight end before this returns
            await asyncio.wait(flight)
            for left in flight:
                if not left.cancelled():
                    left.exception()  # retrieved: the first error is the one raised


def _settle(target: concurrent.futures.Future[None], batch: asyncio.Future[Any]) -> None:
    """Pass a batch's end (its commit, or its failure) to the next batch's thread."""
    if batch.cancelled():
        target.set_exception(concurrent.futures.CancelledError())
    elif batch.exception() is not None:
        target.set_exception(batch.exception())
    else:
        target.set_result(None)
