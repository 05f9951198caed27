"""Python client figures: iterating a 1,000,000-sample project with its annotations (rate and the client's peak
memory, measured in a process of its own), and 1,000,000 predicted boxes from a pandas DataFrame stored as drafts
(conversion, upload and the import job, end to end)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import cvexplorer
from bench.backbone import WORK, _big_project
from bench.figures import Figure
from bench.live_server import live_server
from db import counters, projects
from db.engine import Database
from db.migrate import upgrade

# The iteration runs in a process of its own; its peak is VmHWM (ru_maxrss would report the forking parent's
# peak, which Linux carries over an exec).
ITERATE = """
import sys, time
import cvexplorer
cvx = cvexplorer.Client(sys.argv[1])
t0, n, boxes = time.perf_counter(), 0, 0
for s in cvx.samples(sys.argv[2]):
    n += 1
    boxes += len(s.annotations)
elapsed = time.perf_counter() - t0
peak = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024
print(n, boxes, elapsed, peak)
"""


def _million() -> Path:
    """bench.backbone's 1,000,000-sample project (half labelled, two boxes each), built once and cached."""
    db_file = WORK / "gallery-1000000.db"
    if not db_file.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        tmp = db_file.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        asyncio.run(_big_project(tmp, 1_000_000))
        tmp.rename(db_file)
    return db_file


def iteration_figures() -> list[Figure]:
    db_file = _million()
    env = {"DATABASE_URL": f"sqlite:///{db_file}", "DATA_DIR": str(WORK / "data"), "RUN_JOBS": "false",
           "VOLUME_MOUNTS": f"/Volumes/bench/big/images={WORK / 'images'}"}
    with live_server(env) as base:
        pid = cvexplorer.Client(base).projects()[0].id
        out = subprocess.run([sys.executable, "-c", ITERATE, base, pid], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).resolve().parents[1] / "sdk").stdout.split()
    n, boxes, elapsed, peak_mb = int(out[0]), int(out[1]), float(out[2]), float(out[3])
    assert n == 1_000_000 and boxes == 1_000_000, (n, boxes)
    return [Figure("client: iterate 1,000,000 samples with annotations (Client.samples)", n / elapsed, "samples/s",
                   20_000, higher_is_better=True),
            Figure("client: peak memory of that iteration (the whole Python process)", peak_mb, "MB", 200)]


async def _hundred_thousand(db_file: Path, n: int) -> str:
    upgrade(f"sqlite:///{db_file}")
    db = Database(f"sqlite:///{db_file}")
    p = await db.write(projects.create_project, name="predictions", description="", task_type="DETECTION",
                       classes=["cat", "dog", "car"], multi_label=False, source_volume="/Volumes/bench/pred/images",
                       created_by="bench")
    conn = sqlite3.connect(db_file)
    conn.executemany("INSERT INTO samples (project_id, path, filename, status, version, no_objects) "
                     "VALUES (?,?,?,'UNLABELED',1,0)",
                     ((p.id, f"/Volumes/bench/pred/images/img{i:06}.jpg", f"img{i:06}.jpg") for i in range(n)))
    conn.commit()
    conn.close()
    await db.write(counters.recount, p.id)
    await db.dispose()
    return str(p.id)


def upload_figure(images: int = 100_000, per_image: int = 10) -> Figure:
    db_file = WORK / "sdk-predictions.db"
    db_file.unlink(missing_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    pid = asyncio.run(_hundred_thousand(db_file, images))
    rng = np.random.default_rng(1)
    n = images * per_image
    xy, wh = rng.uniform(0, 0.5, (n, 2)), rng.uniform(0.01, 0.5, (n, 2))
    df = pd.DataFrame({"filename": np.repeat([f"img{i:06}.jpg" for i in range(images)], per_image),
                       "label": np.array(["cat", "dog", "car"])[rng.integers(0, 3, n)],
                       "x": xy[:, 0], "y": xy[:, 1], "w": wh[:, 0], "h": wh[:, 1],
                       "confidence": rng.uniform(0.3, 1.0, n)})
    env = {"DATABASE_URL": f"sqlite:///{db_file}", "DATA_DIR": str(WORK / "data"), "MIGRATE_ON_START": "false",
           "VOLUME_MOUNTS": f"/Volumes/bench/pred/images={WORK / 'images'}"}
    with live_server(env, timeout=120) as base:
        cvx = cvexplorer.Client(base, timeout=300)
        t0 = time.perf_counter()
        job = cvx.upload_predictions(pid, df, as_drafts_of="bench", progress=False)
        elapsed = time.perf_counter() - t0
        assert job.result["annotationsCreated"] == n, job.result
        assert cvx.stats(pid).pre_labeled == images
    db_file.unlink(missing_ok=True)
    return Figure("client: 1,000,000 predicted boxes from a DataFrame stored as drafts, end to end (SQLite)",
                  elapsed, "s", 60)


def run() -> list[Figure]:
    return [*iteration_figures(), upload_figure()]


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())
