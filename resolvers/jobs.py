"""Job queries, cancelJob, and the jobProgress subscription."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from db import jobs as job_rows
from db.errors import NotFound
from resolvers.still_allowed import StillAllowed
from schema.access import require, require_job
from schema.context import Info
from schema.ids import lookup_id, parse_id
from schema.jobs import Job


@strawberry.type
class JobQueries:
    @strawberry.field
    async def job(self, info: Info, id: strawberry.ID) -> Job | None:
        key = lookup_id(id)
        if key is None:
            return None
        try:
            await require_job(info, key, "viewer")
        except NotFound:
            return None
        row = await info.context.db.read(job_rows.find_job, key)
        return Job.of(row) if row else None

    @strawberry.field(description="The newest jobs of the project, or of every project the caller is a member of.")
    async def jobs(self, info: Info, project_id: strawberry.ID | None = None, first: int | None = 20) -> list[Job]:
        pid = parse_id(project_id, "Project") if project_id is not None else None
        if pid is not None:
            await require(info, pid, "viewer")
        user = info.context.user
        rows = await info.context.db.read(job_rows.list_jobs, project_id=pid, first=20 if first is None else first,
                                          member_id=None if user.is_admin else user.id)
        return [Job.of(j) for j in rows]


@strawberry.type
class JobMutations:
    @strawberry.mutation
    async def cancel_job(self, info: Info, id: strawberry.ID) -> Job:
        await require_job(info, id, "owner")
        row = await info.context.db.write(job_rows.request_cancel, parse_id(id, "Job"))
        return Job.of(row)


@strawberry.type
class JobSubscriptions:
    @strawberry.subscription(description="Emits the job at once, then on every progress step, until it is finished.")
    async def job_progress(self, info: Info, job_id: strawberry.ID) -> AsyncGenerator[Job, None]:
        jid = parse_id(job_id, "Job")
        await require_job(info, jid, "viewer")
        allowed = StillAllowed(info, lambda access: access.job(jid, "viewer"))
        async with info.context.services.broker.subscribe(f"job:{jid}") as events:
            row = await info.context.db.read(job_rows.get_job, jid)
            yield Job.of(row)
            while row.status not in job_rows.FINISHED:
                await events.get()
                while not events.empty():  # coalesce a burst into one emission
                    events.get_nowait()
                await allowed()
                row = await info.context.db.read(job_rows.get_job, jid)
                info.context.forget()
                yield Job.of(row)
