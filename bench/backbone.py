"""Backbone figures: scanning 100,000 files, a gallery page and project stats in a 1,000,000-sample project."""

from __future__ import annotations

import asyncio
import random
import shutil
import sqlite3
import time
from pathlib import Path

import httpx
from sqlalchemy.orm import Session

from bench.figures import Figure, percentile
from bench.live_server import live_server
from db import counters, models, projects
from db import jobs as job_rows
from db.engine import Database
from db.migrate import upgrade
from server import build_services, prepare
from settings import Settings

WORK = Path(__file__).resolve().parent / ".work"
GALLERY = """query Gallery($id: ID!, $status: SampleStatus, $first: Int, $after: String) {
  project(id: $id) { samples(status: $status, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id filename status width height version thumbnailUrl(size: 256)
      annotations { id label kind box { x y w h } isDraft } } } } } }"""
STATS = """query($id: ID!) { project(id: $id) { stats { total unlabeled preLabeled labeled skipped
  perUser { user labeled skipped annotations } perClass { label count } } } }"""


def _touch_files(folder: Path, n: int) -> None:
    for d in range(n // 1000):
        sub = folder / f"batch{d:03}"
        sub.mkdir(parents=True, exist_ok=True)
        for i in range(1000):
            (sub / f"img{i:04}.jpg").touch()


async def _scan(work: Path, folder: Path) -> tuple[float, int]:
    settings = Settings(data_dir=work / "data", database_url=f"sqlite:///{work / 'scan.db'}",
                        volume_mounts={"/Volumes/bench/scan/files": folder})
    services = build_services(settings)
    await prepare(settings, services)
    def create(s: Session) -> models.Project:
        p = projects.create_project(s, name="scan", description="", task_type="DETECTION", classes=["a"],
                                    multi_label=False, source_volume="/Volumes/bench/scan/files", created_by="b")
        job_rows.queue_scan(s, p.id, "b")
        return p

    p = await services.db.write(create)
    t0 = time.perf_counter()
    await services.runner.drain()
    elapsed = time.perf_counter() - t0
    total = sum((await services.db.read(counters.read, [p.id]))[p.id][counters.STATUS].values())
    await services.db.dispose()
    return elapsed, total


def scan_figure() -> Figure:
    work = WORK / "scan"
    shutil.rmtree(work, ignore_errors=True)
    folder = work / "files"
    _touch_files(folder, 100_000)
    elapsed, total = asyncio.run(_scan(work, folder))
    assert total == 100_000, total
    shutil.rmtree(work, ignore_errors=True)
    return Figure("scan 100,000 image files into a new project (SQLite)", elapsed, "s", 15)


async def _big_project(db_file: Path, n: int) -> int:
    upgrade(f"sqlite:///{db_file}")
    db = Database(f"sqlite:///{db_file}")
    p = await db.write(projects.create_project, name="big", description="", task_type="DETECTION",
                       classes=["cat", "dog", "car"], multi_label=False, source_volume="/Volumes/bench/big/images",
                       created_by="bench")
    conn = sqlite3.connect(db_file)
    users = [f"user{i}" for i in range(5)]
    conn.executemany(
        "INSERT INTO samples (project_id, path, filename, status, version, labeled_by, no_objects) "
        "VALUES (?,?,?,?,1,?,0)",
        ((p.id, f"/Volumes/bench/big/images/img{i:07}.jpg", f"img{i:07}.jpg", "LABELED" if i % 2 else "UNLABELED",
          users[i % 5] if i % 2 else None) for i in range(n)),
    )
    ids = [r[0] for r in conn.execute("SELECT id FROM samples WHERE status = 'LABELED'")]
    now = "2026-11-24 00:00:00.000000"
    conn.executemany(
        "INSERT INTO annotations (project_id, sample_id, label, kind, x, y, w, h, is_draft, created_by, created_at) "
        "VALUES (?,?,?,'BBOX',0.1,0.2,0.3,0.4,0,'bench',?)",
        ((p.id, sid, ("cat", "dog", "car")[(sid + k) % 3], now) for sid in ids for k in range(2)),
    )
    conn.commit()
    conn.close()
    await db.write(counters.recount, p.id)
    await db.dispose()
    return p.id


def gallery_and_stats_figures(n: int = 1_000_000, requests: int = 200) -> list[Figure]:
    db_file = WORK / f"gallery-{n}.db"
    if not db_file.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        tmp = db_file.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        asyncio.run(_big_project(tmp, n))
        tmp.rename(db_file)
    env = {"DATABASE_URL": f"sqlite:///{db_file}", "DATA_DIR": str(WORK / "data"),
           "VOLUME_MOUNTS": f"/Volumes/bench/big/images={WORK / 'images'}", "RUN_JOBS": "false"}
    rng = random.Random(1)
    gallery, stats = [], []
    with live_server(env) as base, httpx.Client(base_url=base) as http:
        pid = http.post("/graphql", json={"query": "{ projects { id } }"}).json()["data"]["projects"][0]["id"]
        for i in range(requests + 10):
            after = str(rng.randrange(1, n - 1000))
            t0 = time.perf_counter()
            r = http.post("/graphql", json={"query": GALLERY, "variables": {
                "id": pid, "status": "LABELED", "first": 100, "after": after}})
            dt = time.perf_counter() - t0
            edges = r.json()["data"]["project"]["samples"]["edges"]
            assert len(edges) == 100 and all(len(e["node"]["annotations"]) == 2 for e in edges)
            if i >= 10:
                gallery.append(dt * 1000)
            t0 = time.perf_counter()
            r = http.post("/graphql", json={"query": STATS, "variables": {"id": pid}})
            dt = time.perf_counter() - t0
            assert r.json()["data"]["project"]["stats"]["total"] == n
            if i >= 10:
                stats.append(dt * 1000)
    return [
        Figure("gallery page: 100 labelled samples + annotations, 1M-sample project, HTTP p50", percentile(gallery, 50),
               "ms", 30),
        Figure("project stats on 1,000,000 samples, HTTP p50", percentile(stats, 50), "ms", 50),
    ]


def run() -> list[Figure]:
    return [scan_figure(), *gallery_and_stats_figures()]


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())
