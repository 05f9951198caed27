"""The in-process worker: claims job rows with a lease, keeps the lease alive, runs the handler, records the end."""

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
from db.engine import Database
from db.errors import DomainError
from jobs import exporter, importer, preannotate, scan
from jobs.context import JobCancelled, JobContext
from volumes.base import Volumes

log = logging.getLogger("cvx.jobs")

Handler = Callable[[JobContext], Awaitable[dict[str, Any]]]
HANDLERS: dict[str, Handler] = {"SCAN": scan.run, "IMPORT": importer.run, "EXPORT": exporter.run,
                                 "PREANNOTATE": preannotate.run}


class JobRunner:
    def __init__(
        self, db: Database, volumes: Volumes, *, concurrency: int = 2, lease_seconds: float = 30.0,
        poll_seconds: float = 2.0, config: dict[str, Any] | None = None,
    ) -> None:
        self.config = dict(config or {})
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

    async def stop(self) -> None:
        if self._loop_task:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            try:
                while len(self._tasks) < self.concurrency and await self._claim_and_start():
                    pass
            except Exception:
                log.exception("job runner could not claim a job")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def _claim_and_start(self) -> bool:
        job = await self.db.write(job_rows.claim_next, owner=self.owner, lease_seconds=self.lease_seconds,
                                  kinds=tuple(HANDLERS))
        if job is None:
            return False
        ctx = JobContext(
            job_id=job.id, kind=job.kind, project_id=job.project_id, params=dict(job.params or {}),
            created_by=job.created_by, db=self.db, volumes=self.volumes, owner=self.owner,
            lease_seconds=self.lease_seconds, done=job.progress, total=job.total, config=self.config,
        )
        task = asyncio.create_task(self._run(ctx), name=f"job-{ctx.job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return True

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
        except DomainError as exc:
            status, error = "FAILED", exc.message
            result = exc.extensions or None
        except asyncio.CancelledError:
            raise  # server shutdown: the lease expires and another worker (or the next start) resumes the job
        except Exception:
            log.exception("job %s (%s) crashed", ctx.job_id, ctx.kind)
            status, error = "FAILED", f"Unexpected error in job {ctx.job_id}; the server log has the details."
        finally:
            keepalive.cancel()
        try:
            await self.db.write(job_rows.finish, ctx.job_id, owner=self.owner, status=status, result=result,
                                error=error)
        except job_rows.LeaseLost:
            log.warning("job %s finished after its lease was lost; result dropped", ctx.job_id)

    async def _keep_lease(self, ctx: JobContext) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.db.write(job_rows.heartbeat, ctx.job_id, owner=self.owner, lease_seconds=self.lease_seconds)
            except job_rows.LeaseLost:
                return
            except Exception:
                log.exception("job %s: heartbeat failed", ctx.job_id)
