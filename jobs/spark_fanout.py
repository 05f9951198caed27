"""Fanning a job's work out over Spark: the items split into partitions that the executors run in parallel, the
driver recording progress as partitions finish and cancelling the Spark job group when the job is cancelled (or the
server stops). pyspark is imported only here and only when a job fans out: the Databricks Runtime brings its own,
elsewhere it is the `spark` extra."""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from jobs.context import JobContext

T = TypeVar("T")
Item = TypeVar("Item")
POLL_SECONDS = 0.25  # how often the driver looks at the finished count and the job's cancel flag


def available() -> bool:
    """Whether pyspark can be imported in this process."""
    return importlib.util.find_spec("pyspark") is not None


def wanted(ctx: JobContext, items: int) -> bool:
    """Whether a job of this many items goes to Spark: SPARK_MIN_SAMPLES is set, reached, and pyspark is here."""
    least = ctx.config.spark_min_samples
    return bool(least) and items >= least and available()


def partitions(items: Sequence[Item], size: int) -> list[list[Item]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def _counted(task: Callable[[list[Item]], T], finished: Any, chunk: list[Item]) -> T:
    """On an executor: one partition's work, then its items added to the driver's count. Spark merges an
    accumulator's updates only from tasks that succeed, so a retried partition is counted once."""
    result = task(chunk)
    finished.add(len(chunk))
    return result


async def fan_out(ctx: JobContext, chunks: list[list[Item]], task: Callable[[list[Item]], T],
                  job_total: int | None = None) -> list[T]:
    """task(chunk) for every chunk, one Spark partition each, on the active Spark context; the results in order.
    `task` must pickle (a module-level function, or a functools.partial of one over picklable values). Progress
    counts the items done, out of job_total when the partitions are only the job's first part."""
    from pyspark import SparkContext

    sc = SparkContext.getOrCreate()
    finished = sc.accumulator(0)
    items = sum(len(c) for c in chunks)
    total = job_total if job_total is not None else items
    group = f"cvx-job-{ctx.job_id}-{uuid.uuid4().hex[:8]}"
    rdd = sc.parallelize(chunks, len(chunks)).map(functools.partial(_counted, task, finished))

    def collect() -> list[T]:
        sc.setJobGroup(group, f"CV Explorer job {ctx.job_id} ({ctx.kind})", interruptOnCancel=True)
        return rdd.collect()

    running = asyncio.ensure_future(asyncio.to_thread(collect))
    try:
        while not running.done():
            await ctx.progress(finished.value, total)
            await asyncio.wait({running}, timeout=POLL_SECONDS)
    except BaseException:  # JobCancelled, or the server stopping: the executors stop too
        sc.cancelJobGroup(group)
        running.add_done_callback(lambda f: f.cancelled() or f.exception())  # the collect's failure is expected
        raise
    results = running.result()
    await ctx.progress(items, total, force=True)
    return results
