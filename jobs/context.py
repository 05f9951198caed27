"""What a job handler gets: its row's parameters, the database and volumes, and progress/cancel hooks."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from db import jobs as job_rows
from db.engine import Database
from jobs.formats import Limits
from jobs.models.config import ModelConfig
from volumes.base import Volumes
from volumes.images import DEFAULT_MAX_BYTES
from volumes.table_sources import TableLister
from volumes.thumbnail_cache import ThumbnailCache


class JobCancelled(Exception):
    """Raised inside a handler at a progress step after someone cancelled the job."""


@dataclass(frozen=True)
class JobConfig:
    """What the settings tell jobs: an import's caps, the pixel and decode caps, the server's default model, the
    thumbnail cache (near-duplicate hashes are computed from thumbnails), and from what size pre-labelling fans out
    over Spark (0: never) in partitions of how many samples."""

    limits: Limits
    max_pixels: int
    model: ModelConfig
    thumbnails: ThumbnailCache | None = None
    max_decode_bytes: int = DEFAULT_MAX_BYTES
    spark_min_samples: int = 0
    spark_partition_samples: int = 2000
    tables: TableLister | None = None  # the SQL warehouse that lists table sources; None: none configured


@dataclass
class JobContext:
    job_id: int
    kind: str
    project_id: int | None
    params: dict[str, Any]
    created_by: str
    db: Database
    volumes: Volumes
    owner: str
    lease_seconds: float
    config: JobConfig
    progress_interval: float = 0.25
    _last_report: float = field(default=0.0)
    done: int = 0
    total: int | None = None

    async def progress(self, done: int, total: int | None = None, *, force: bool = False) -> None:
        """Record progress (throttled to a few writes a second); raises JobCancelled when a cancel was asked for."""
        self.done, self.total = done, total if total is not None else self.total
        now = time.monotonic()
        if not force and now - self._last_report < self.progress_interval:
            return
        self._last_report = now
        cancel = await self.db.write(job_rows.heartbeat, self.job_id, owner=self.owner,
                                     lease_seconds=self.lease_seconds, progress=self.done, total=self.total)
        if cancel:
            raise JobCancelled()
