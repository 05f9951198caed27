"""Background jobs (scans, imports, exports, pre-labelling) as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from strawberry.scalars import JSON

from db import models
from schema.enums import (
    JobKind,
    JobStatus,
)


@strawberry.type
class Job:
    id: strawberry.ID
    kind: JobKind
    status: JobStatus
    project_id: strawberry.ID | None
    progress: int = strawberry.field(
        description="Units done and planned (samples, rows or files, depending on the kind)."
    )
    total: int | None
    result: JSON | None
    error: str | None
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    run_id: str | None = strawberry.field(
        default=None, description="The Databricks Jobs run executing this job, when it was handed to one "
                                  "(JOB_RUNNER=databricks).")
    run_url: str | None = strawberry.field(default=None, description="That run's page in the workspace.")

    @staticmethod
    def of(j: models.Job) -> Job:
        return Job(
            id=strawberry.ID(str(j.id)), kind=JobKind(j.kind), status=JobStatus(j.status),
            project_id=strawberry.ID(str(j.project_id)) if j.project_id is not None else None,
            progress=j.progress, total=j.total, result=cast(JSON, j.result), error=j.error, created_by=j.created_by,
            created_at=j.created_at, finished_at=j.finished_at, run_id=j.run_id, run_url=j.run_url,
        )
