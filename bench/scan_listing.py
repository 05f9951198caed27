"""A scan from a listing at scale: the SCAN job (jobs.scan, run by the job runner as the server runs it) adds a
sample for each of N image paths into an empty project, then scans again after 1% of the files went away (they are
marked missing) and with 1% new ones. The listing is made in memory (cam<k>/img<k>.jpg, a folder per 10,000 files):
the figures are the scan's own work, its database writes and its memory, not a disk's or a volume API's listing
speed. CVX_BENCH_SCAN_IMAGES sets N (default 1,000,000); CVX_BENCH_SCAN_BACKENDS the databases (default both)."""

from __future__ import annotations

import asyncio
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench.figures import Figure
from bench.scratch_databases import scratch_database
from db import jobs as job_rows
from db import migrate, projects
from db.engine import Database
from db.models import Sample
from server import fewer_malloc_arenas, job_runner
from settings import Settings
from volumes.base import Entry
from volumes.local import LocalVolumes
from volumes.paths import VolumePath

ROOT = "/Volumes/b/s/images"
PER_FOLDER = 10_000


class ListedVolumes(LocalVolumes):
    """A local volume whose image folder lists `count` made-up files (skipping every gone-th one), in the order
    LocalVolumes.walk_files gives: each folder's files by name."""

    def __init__(self, mounts: dict[str, Path], count: int, gone: int = 0, extra: int = 0) -> None:
        super().__init__(mounts)
        self.count, self.gone, self.extra = count, gone, extra
        self.data_dir = next(iter(mounts.values())).parent / "data"

    def walk_files(self, path: VolumePath) -> Iterator[Entry]:
        self.check_folder(path)
        for k in range(self.count + self.extra):
            if self.gone and k % self.gone == 0 and k < self.count:
                continue
            name = f"img{k:08}.jpg"
            yield Entry(name=name, path=f"{path.text}/cam{k // PER_FOLDER:04}/{name}", is_dir=False, size=1,
                        mtime_ns=0)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _scan(db: Database, volumes: ListedVolumes, pid: int) -> tuple[float, dict[str, int]]:
    job = await db.write(lambda s: job_rows.create_job(s, kind="SCAN", project_id=pid, params={},
                                                        created_by="bench").id)
    runner = job_runner(Settings.from_env({"DATABASE_URL": db.url, "DATA_DIR": str(volumes.data_dir)}), db, volumes)
    started = time.perf_counter()
    await runner.drain()
    elapsed = time.perf_counter() - started
    row = await db.read(job_rows.get_job, job)
    assert row.status == "SUCCEEDED", (row.status, row.error)
    return elapsed, row.result


async def _run(backend: str, count: int) -> list[Figure]:
    label = f"{'SQLite' if backend == 'sqlite' else 'PostgreSQL'}, {count:,} images"
    with tempfile.TemporaryDirectory() as folder, scratch_database(backend, Path(folder) / "scan.db") as url:
        (Path(folder) / "images").mkdir()
        mounts = {ROOT: Path(folder) / "images"}
        migrate.upgrade(url)
        db = Database(url)
        try:
            pid = await db.write(lambda s: projects.create_project(
                s, name="scan", description="", task_type="DETECTION", classes=["a"], multi_label=False,
                source_volume=ROOT, created_by="bench").id)
            first, result = await _scan(db, ListedVolumes(mounts, count), pid)
            assert result["samplesAdded"] == count, result
            figures = [Figure(f"scan a listing into an empty project ({label})", first, "s", 0,
                              higher_is_better=True),
                       Figure("... samples added per second (reported)", count / first, "/s", 0,
                              higher_is_better=True),
                       Figure("... this process's peak memory so far (reported)", _peak_mb(), "MB", 0,
                              higher_is_better=True)]
            again, result = await _scan(db, ListedVolumes(mounts, count, gone=100, extra=count // 100), pid)
            assert result["missing"] == count // 100 and result["samplesAdded"] == count // 100, result
            missing = await db.read(lambda s: s.query(Sample).filter(Sample.missing_since.is_not(None)).count())
            assert missing == count // 100
            figures += [Figure("rescan: 1% gone (marked missing), 1% new (reported)", again, "s", 0,
                               higher_is_better=True),
                        Figure("... this process's peak memory so far (reported)", _peak_mb(), "MB", 0,
                               higher_is_better=True)]
            return figures
        finally:
            await db.dispose()


def run() -> list[Figure]:
    fewer_malloc_arenas()  # as the server does (its peak memory is what these figures stand for)
    count = int(os.environ.get("CVX_BENCH_SCAN_IMAGES", "1000000"))
    backends = os.environ.get("CVX_BENCH_SCAN_BACKENDS", "sqlite,postgresql").split(",")
    figures: list[Figure] = []
    for backend in backends:
        figures += asyncio.run(_run(backend, count))
    return figures


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())
