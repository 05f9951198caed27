"""Where a big import and export spend their time: bench.datasets' COCO file (100,000 images / 1,000,000 boxes)
run through the import's and export's own functions in this process against a fresh database (parse, a dry run's
pass 1 (match, validate, count), pass 1 (match, validate, plan), pass 2 (write), the export's read and its COCO
encoding), with each phase's CPU time (bench.datasets measures the server's memory). CPU time, unlike wall time,
stays meaningful on a busy machine."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench import datasets
from bench.figures import Figure
from bench.scratch_databases import scratch_database
from db import exports, imports, migrate, projects
from db import samples as sample_rows
from db.engine import Database
from jobs import importer
from jobs.formats import Limits
from jobs.formats import coco as coco_format
from volumes.local import LocalVolumes

IMAGES, EXPORTS = "/Volumes/b/d/images", "/Volumes/b/d/exports"


def _run(backend: str) -> list[Figure]:
    label = "SQLite" if backend == "sqlite" else "PostgreSQL"
    figures: list[Figure] = []

    def phase(name: str, fn: Callable[..., Any], *args: Any) -> Any:
        cpu = time.process_time()
        result = fn(*args)
        figures.append(Figure(f"{name}, CPU ({label}, reported)", time.process_time() - cpu, "s", 0,
                              higher_is_better=True))
        return result

    with scratch_database(backend, datasets.WORK / "phases.db") as url:
        migrate.upgrade(url)
        db = Database(url)
        volumes = LocalVolumes({IMAGES: datasets.WORK / "images", EXPORTS: datasets.WORK / "exports"})
        with db._writer() as s, s.begin():
            pid = projects.create_project(s, name="coco", description="", task_type="DETECTION",
                                          classes=datasets.CLASSES, multi_label=False, source_volume=IMAGES,
                                          created_by="bench").id
            names = [f"part{k // 1000:03}/img{k % 1000:04}.jpg" for k in range(datasets.N_IMAGES)]
            sample_rows.insert_new(s, pid, [(f"{IMAGES}/{n}", n) for n in names])
        parsed = phase("import phases: parse the COCO file",
                       lambda: importer._parse(volumes, f"{EXPORTS}/coco.json", "COCO", Limits()))

        def plan(items: list[Any]) -> tuple[Any, ...]:
            with db.reading() as s:
                return (imports.fingerprint(s, pid),
                        *imports.plan(s, pid, items, imports.Options(), "bench", lambda _: True))

        def count(items: list[Any]) -> Any:
            with db.reading() as s:
                return imports.plan(s, pid, items, imports.Options(), "bench", lambda _: True, count_only=True)

        phase("... pass 1 of a dry run: match, validate, count", count, parsed.items)
        seen, out, changes, create = phase("... pass 1: match, validate, plan", plan, parsed.items)

        def write(planned: list[Any]) -> None:
            with db._writer() as s, s.begin():
                assert imports.fingerprint(s, pid, lock=True) == seen
                imports.apply(s, pid, planned, create, out)

        phase("... pass 2: write samples, annotations, history", write, changes)
        del parsed, changes  # as after the import job: the export's memory comes on top of what is left

        def read() -> Any:
            with db.reading() as s:
                return exports.snapshot(s, pid)

        snap = phase("... export: read the labels", read)
        phase("... export: encode COCO", lambda: coco_format.document(snap, "bench"))
        db.engine.dispose()
    return figures


def run() -> list[Figure]:
    datasets._prepare()
    return _run("sqlite") + _run("postgresql")


if __name__ == "__main__":
    import sys

    from bench.figures import print_table

    print_table(run() if len(sys.argv) < 2 else _run(sys.argv[1]))
