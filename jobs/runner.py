"""The in-process worker: claims job rows with a lease, keeps the lease alive, runs the handler, records the end.
With Databricks runs configured (jobs.databricks_runs) it hands big jobs to them instead and reconciles their end;
`run_one` is what a run's worker calls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from db import jobs as job_rows
from db import samples as sample_rows
from db.engine import Database
from db.errors import DatabaseUnavailable, DomainError
from jobs import (
    agreement,
    class_rename,
    draft_sweep,
    duplicates,
    evaluate,
    exporter,
    importer,
    preannotate,
    scan,
    source_change,
    splits,
)
from jobs.context import JobCancelled, JobConfig, JobContext
from jobs.databricks_runs import DatabricksRuns
from volumes.base import Volumes

log = logging.getLogger("cvx.jobs")

Handler = Callable[[JobContext], Awaitable[dict[str, Any]]]
HANDLERS: dict[str, Handler] = {"SCAN": scan.run, "IMPORT": importer.run, "EXPORT": exporter.run,
                                 "PREANNOTATE": preannotate.run, "RENAME_CLASS": class_rename.run,
                                 "DRAFTS": draft_sweep.run, "SOURCE_CHANGE": source_change.run,
                                 "DUPLICATES": duplicates.run, "AGREEMENT": agreement.run, "SPLITS": splits.run,
                                 "EVALUATE": evaluate.run}


class JobRunner:
    def __init__(
        self, db: Database, volumes: Volumes, *, concurrency: int, lease_seconds: float, config: JobConfig,
        poll_seconds: float = 2.0, remote: DatabricksRuns | None = None,
        reconcile_seconds: float = 15.0,
    ) -> None:
        self.remote, self.reconcile_seconds = remote, reconcile_seconds
        self._reconciled_at = 0.0
        self.config = config
        self.db, self.volumes = db, volumes
        self.concurrency, self.lease_seconds, self.poll_seconds = concurrency, lease_seconds, poll_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._loop(), name="job-runner")

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Cancel the loop and the running jobs (their leases let another worker resume them). Shutdown never
        waits forever: a task that ignores its cancellation is logged and left behind."""
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for t in tasks:
            t.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=grace_seconds)
            for t in stuck:
                log.error("job runner task %s did not stop within %.0f s of its cancellation", t.get_name(),
                          grace_seconds)

    async def _loop(self) -> None:
        while True:
            self._wake.clear()  # before claiming: a job queued while the claim runs wakes the next wait at once
            try:
                while len(self._tasks) < self.concurrency and await self._claim_and_start():
                    pass
            except DatabaseUnavailable:
                pass  # logged by db.outages; the next poll tries again
            except Exception:
                log.exception("job runner could not claim a job")
            if self.remote and asyncio.get_running_loop().time() - self._reconciled_at >= self.reconcile_seconds:
                self._reconciled_at = asyncio.get_running_loop().time()
                try:
                    await self.reconcile()
                except Exception:
                    log.exception("could not reconcile the jobs handed to Databricks runs")
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that arrives as the
            # wake-up does, and the loop would then never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()

    async def _claim_and_start(self) -> bool:
        job = await self.db.write(job_rows.claim_next, owner=self.owner, lease_seconds=self.lease_seconds,
                                  kinds=tuple(HANDLERS))
        if job is None:
            return False
        if self.remote is not None and await self._hand_over(job.id, job.kind, job.project_id):
            return True
        self._start_task(job)
        return True

    async def _hand_over(self, job_id: int, kind: str, project_id: int | None) -> bool:
        """Give a big job to a Databricks run; False (run it here) when it is small or the run cannot start."""
        assert self.remote is not None
        items = await self.db.read(sample_rows.count, project_id, sample_rows.SampleFilter()) if project_id else 0
        if not self.remote.wants(kind, items):
            return False
        try:
            run_id, url = await asyncio.to_thread(self.remote.submit, job_id)
        except DomainError as exc:
            log.warning("job %s runs here: %s", job_id, exc.message)
            return False
        await self.db.write(job_rows.hand_over, job_id, owner=self.owner, run_id=run_id, run_url=url)
        log.info("job %s (%s, %d samples) handed to Databricks run %s", job_id, kind, items, run_id)
        return True

    async def reconcile(self) -> None:
        """Jobs whose run ended without the worker recording an end take the run's outcome; cancels reach runs."""
        assert self.remote is not None
        for job_id, run_id, cancel in await self.db.read(job_rows.runs_in_flight):
            if cancel:
                await asyncio.to_thread(self.remote.cancel, run_id)
            state = await asyncio.to_thread(self.remote.state, run_id)
            if state.ended and state.status:
                await self.db.write(job_rows.end_by_run, job_id, run_id, status=state.status, error=state.message)

    async def run_one(self, job_id: int) -> str:
        """Run the job a Databricks run was started for, here and now; its final status."""
        job = await self.db.write(job_rows.claim_for_worker, job_id, owner=self.owner,
                                  lease_seconds=self.lease_seconds)
        await self._run(self._context(job))
        return (await self.db.read(job_rows.get_job, job_id)).status

    def _context(self, job: Any) -> JobContext:
        return JobContext(
            job_id=job.id, kind=job.kind, project_id=job.project_id, params=dict(job.params or {}),
            created_by=job.created_by, db=self.db, volumes=self.volumes, owner=self.owner,
            lease_seconds=self.lease_seconds, done=job.progress, total=job.total, config=self.config,
        )

    def _start_task(self, job: Any) -> None:
        task = asyncio.create_task(self._run(self._context(job)), name=f"job-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake.set()

    async def drain(self) -> None:
        """Run queued jobs until none is left, then return (the CLI's way to finish work without serving)."""
        while await self._claim_and_start() or self._tasks:
            await asyncio.gather(*list(self._tasks))

    async def _run(self, ctx: JobContext) -> None:
        keepalive = asyncio.create_task(self._keep_lease(ctx))
        status, result, error = "SUCCEEDED", None, None
        try:
            result = await HANDLERS[ctx.kind](ctx)
        except JobCancelled:
            status, error = "CANCELLED", "Cancelled on request."
        except job_rows.LeaseLost:
            log.warning("job %s: lease lost to another worker; stopping", ctx.job_id)
            return
        except DatabaseUnavailable as exc:  # not the job's fault: it starts again once the database is back
            log.warning("job %s (%s) stopped: %s", ctx.job_id, ctx.kind, exc.message)
            keepalive.cancel()
            await self._requeue(ctx)
            return
        except DomainError as exc:  # a job that cannot succeed (bad input, over a limit): FAILED once, not retried
            status, error = "FAILED", exc.message
            result = {"code": exc.code, **exc.extensions}
        except asyncio.CancelledError:
            raise  # server shutdown: the lease expires and another worker (or the next start) resumes the job
        except Exception:
            log.exception("unexpected error in job %s (%s)", ctx.job_id, ctx.kind)
            status, error = "FAILED", f"Unexpected error in job {ctx.job_id}; the server log has the details."
        finally:
            keepalive.cancel()
        try:
            await self.db.write(job_rows.finish, ctx.job_id, owner=self.owner, status=status, result=result,
                                error=error)
        except job_rows.LeaseLost:
            log.warning("job %s finished after its lease was lost; result dropped", ctx.job_id)

    async def _requeue(self, ctx: JobContext) -> None:
        """Put the job back in the queue as soon as the database takes the write (a job whose work was cut short is
        run again from the start: scans are idempotent, imports all or nothing, pre-labelling replaces drafts)."""
        while True:
            try:
                await self.db.write(job_rows.requeue, ctx.job_id, owner=self.owner)
                return
            except job_rows.LeaseLost:
                return
            except DatabaseUnavailable:
                await asyncio.sleep(self.poll_seconds)

    async def _keep_lease(self, ctx: JobContext) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.db.write(job_rows.heartbeat, ctx.job_id, owner=self.owner, lease_seconds=self.lease_seconds)
            except job_rows.LeaseLost:
                return
            except DatabaseUnavailable:
                pass  # logged by db.outages; the next heartbeat tries again
            except Exception:
                log.exception("job %s: heartbeat failed", ctx.job_id)
