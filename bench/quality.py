"""Dataset-quality figures: perceptual hashes from cached thumbnails (one core), near-duplicate grouping of 1,000,000
hashes (random hashes, a tenth of them copies of others with up to three bits changed), and a model evaluation of
100,000 images with 1,000,000 labels and 1,000,000 drafts, and the likely-label-error ranking on the same rows."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import time
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data as skdata

from bench.figures import Figure
from db import gc_pause, projects
from db.engine import Database
from db.evaluation import EvaluationData, evaluation_data
from db.migrate import upgrade
from jobs.duplicate_groups import as_unsigned, groups
from jobs.duplicates import GALLERY_THUMB, thumbnail
from jobs.evaluate import as_columns, evaluate, likely_errors
from volumes.image_hash import thumbnail_hash
from volumes.local import LocalVolumes
from volumes.thumbnail_cache import ThumbnailCache

WORK = Path(__file__).resolve().parent / ".work" / "quality"
MOUNT = "/Volumes/bench/quality/images"
IMAGES = 500
HASHES = 1_000_000


def _photos(folder: Path, n: int) -> list[str]:
    """n distinct 1024x768 JPEGs cut from the bundled photos (rotated and cropped differently)."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = [Image.fromarray(a).convert("RGB").resize((1400, 1050)) for a in
              (skdata.astronaut(), skdata.chelsea(), skdata.coffee(), skdata.rocket(), skdata.camera())]
    names = []
    for i in range(n):
        im = photos[i % len(photos)].rotate(i % 90).crop((i % 300, i % 200, i % 300 + 1024, i % 200 + 768))
        im.save(folder / f"p{i:04}.jpg", quality=85)
        names.append(f"{MOUNT}/p{i:04}.jpg")
    return names


def hashing_figure() -> Figure:
    """The DUPLICATES job's per-image work with the gallery's thumbnails cached on disk: a stat, the cached JPEG
    read from disk (a fresh cache object: nothing in memory), a reduced decode and the hash."""
    shutil.rmtree(WORK, ignore_errors=True)
    folder, cache_dir = WORK / "images", WORK / "thumbnails"
    paths = _photos(folder, IMAGES)
    volumes = LocalVolumes({MOUNT: folder})
    warm = ThumbnailCache(cache_dir)
    for p in paths:  # what the gallery (or an earlier run) left in the cache
        thumbnail(volumes, warm, p, 10**8, 2**30)
    cache = ThumbnailCache(cache_dir)
    t0 = time.perf_counter()
    hashes = [thumbnail_hash(thumbnail(volumes, cache, p, 10**8, 2**30)) for p in paths]
    rate = len(paths) / (time.perf_counter() - t0)
    assert len(set(hashes)) > IMAGES // 2
    return Figure(f"perceptual hash from a cached {GALLERY_THUMB}-px thumbnail, one core", rate, "images/s", 200,
                  higher_is_better=True)


def _hashes(n: int, seed: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, n, dtype=np.int64, endpoint=True)
    copies = n // 10
    src = rng.integers(0, n - copies, copies)
    flips = np.zeros(copies, dtype=np.uint64)
    for _ in range(3):
        flips |= np.uint64(1) << rng.integers(0, 64, copies).astype(np.uint64)
    h[n - copies:] = (as_unsigned(h[src]) ^ flips).view(np.int64)
    return h


def grouping_figures() -> list[Figure]:
    h = _hashes(HASHES)
    out = []
    for distance in (5, 8):
        t0 = time.perf_counter()
        first = groups(h, distance)
        seconds = time.perf_counter() - t0
        grouped = int((np.bincount(first, minlength=first.size)[first] > 1).sum())
        assert grouped >= HASHES // 10 * 2 * 0.9
        default = " (the default distance)" if distance == 5 else ""
        out.append(Figure(f"group 1,000,000 hashes within {distance} bits{default}", seconds, "s", 30))
    return out


def run() -> list[Figure]:
    figures = [hashing_figure(), *grouping_figures(), *evaluation_figures()]
    shutil.rmtree(WORK, ignore_errors=True)
    return figures


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())


EVAL_IMAGES, EVAL_BOXES, EVAL_CLASSES = 100_000, 1_000_000, 10


def _eval_project(url: str, path: Path) -> int:
    """A detection project of 100,000 labelled 640x480 images with 1,000,000 labelled boxes and 1,000,000 drafts of
    one model (each box found with some jitter, a tenth with another class, a tenth of the drafts on nothing)."""
    db = Database(url)
    try:
        pid = asyncio.run(db.write(lambda s: projects.create_project(
            s, name="Eval", description="", task_type="DETECTION",
            classes=[f"c{k}" for k in range(EVAL_CLASSES)], multi_label=False, source_volume="/Volumes/b/b/b",
            created_by="bench").id))
    finally:
        asyncio.run(db.dispose())
    rng = np.random.default_rng(11)
    image = np.sort(rng.integers(0, EVAL_IMAGES, EVAL_BOXES))
    cls = rng.integers(0, EVAL_CLASSES, EVAL_BOXES)
    wh = rng.uniform(0.02, 0.3, (EVAL_BOXES, 2))
    xy = rng.uniform(0, 0.69, (EVAL_BOXES, 2))
    jitter = rng.normal(0, 0.01, (EVAL_BOXES, 4))
    flip = np.where(rng.random(EVAL_BOXES) < 0.1, rng.integers(0, EVAL_CLASSES, EVAL_BOXES), cls)
    nothing = rng.random(EVAL_BOXES) < 0.1
    dxy = np.where(nothing[:, None], rng.uniform(0, 0.69, (EVAL_BOXES, 2)), np.clip(xy + jitter[:, :2], 0, 0.69))
    dwh = np.clip(wh + jitter[:, 2:], 0.01, 0.3)
    score = rng.uniform(0.05, 1, EVAL_BOXES)
    now = "2026-12-07 00:00:00.000000"
    con = sqlite3.connect(path)
    try:
        con.executemany("INSERT INTO samples (id, project_id, path, filename, status, version, width, height, "
                        "no_objects, review_status) VALUES (?, ?, ?, ?, 'PRE_LABELED', 1, 640, 480, 0, 'NONE')",
                        ((i + 1, pid, f"/Volumes/b/b/b/{i:06}.jpg", f"{i:06}.jpg") for i in range(EVAL_IMAGES)))
        insert = ("INSERT INTO annotations (project_id, sample_id, label, kind, x, y, w, h, confidence, is_draft, "
                  "created_by, created_at) VALUES (?, ?, ?, 'BBOX', ?, ?, ?, ?, ?, ?, ?, ?)")
        con.executemany(insert, ((pid, int(image[k]) + 1, f"c{cls[k]}", *map(float, xy[k]), *map(float, wh[k]),
                                  None, 0, "bench", now) for k in range(EVAL_BOXES)))
        con.executemany(insert, ((pid, int(image[k]) + 1, f"c{flip[k]}", *map(float, dxy[k]), *map(float, dwh[k]),
                                  float(score[k]), 1, "model:bench", now) for k in range(EVAL_BOXES)))
        con.commit()
    finally:
        con.close()
    return pid


async def _read(db: Database, pid: int, into: list[EvaluationData]) -> None:
    """The job's read, as the job awaits it. The data is not the run's result: on Python 3.11 the end of
    `asyncio.run` formats the repr of its task's result (restoring the SIGINT handler builds an error message naming
    the old handler, which holds the task), 11 s for two million rows, which the job never pays."""
    into.append(await db.read(evaluation_data, pid, "model:bench"))


def evaluation_figures() -> list[Figure]:
    """The EVALUATE job's work on SQLite: reading the labelled images, labels and drafts, then the metrics."""
    folder = WORK / "evaluation"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "eval.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    pid = _eval_project(url, path)
    db = Database(url)
    try:
        t0 = time.perf_counter()
        into: list[EvaluationData] = []
        asyncio.run(_read(db, pid, into))
        data = into[0]
        read = time.perf_counter() - t0
        columns = gc_pause.call(as_columns, data)  # as the job runs them: the collector paused
        result = gc_pause.call(evaluate, data, columns)
        total = time.perf_counter() - t0
        t1 = time.perf_counter()
        suspects = gc_pause.call(likely_errors, data, columns)
        ranking = time.perf_counter() - t1
    finally:
        asyncio.run(db.dispose())
    assert result["predictions"] == EVAL_BOXES and result["labels"] == EVAL_BOXES
    assert 0.2 < result["ap50"] < 1, result["ap50"]
    return [Figure("evaluate 100,000 images, 1,000,000 labels and 1,000,000 drafts (SQLite, read + metrics)", total,
                   "s", 20),
            Figure("... of which reading the rows (reported)", read, "s", 0, higher_is_better=True),
            Figure(f"rank the likely label errors on the same rows ({len(suspects):,} raised; reported)", ranking, "s",
                   0, higher_is_better=True)]
