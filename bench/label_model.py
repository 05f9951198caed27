"""The long run of the labelling view's model-based random test (tests/e2e/label_model.py): thousands of seeded
random actions in Chromium, new seeds every run, on SQLite and PostgreSQL, reported as actions per mismatch.
Each mismatch is printed with its seed and the sequence that led to it (replay: `run_model(..., seed, steps)`).

CVX_BENCH_LABEL_ACTIONS sets the number of actions (default 3,000; the README's figure was taken with 10,000)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from playwright.async_api import async_playwright

from bench.figures import Figure
from bench.labelling import _database
from bench.live_server import live_server
from tests.conftest import make_images
from tests.e2e.conftest import ARGS, CHROMIUM, Api
from tests.e2e.label_model import CLASSES, run_model

WORK = Path(__file__).resolve().parent / ".work" / "label_model"
TASKS = ["single", "multi", "detection"]
STEPS_PER_PROJECT = 150


@contextlib.contextmanager
def _server(backend: str) -> Iterator[str]:
    shutil.rmtree(WORK, ignore_errors=True)
    images = WORK / "images"
    make_images(images, [f"street/{i:02}.jpg" for i in range(14)], size=(320, 240))
    (WORK / "exports").mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        url = f"sqlite:///{WORK / 'bench.db'}" if backend == "sqlite" else stack.enter_context(
            _database("postgresql"))
        mounts = f"/Volumes/team/vision/images={images};/Volumes/team/vision/exports={WORK / 'exports'}"
        yield stack.enter_context(live_server({"DATABASE_URL": url, "DATA_DIR": str(WORK / "data"),
                                               "VOLUME_MOUNTS": mounts}))


async def _run(total: int) -> tuple[int, list[str], list[int]]:
    """Runs about `total` actions over fresh projects; returns (actions, mismatches, seeds)."""
    done, mismatches, seeds = 0, [], []
    rng = random.Random(time.time_ns())
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for backend in ("sqlite", "postgresql"):
                with _server(backend) as base:
                    api = Api(base)
                    n = 0
                    while done < total * (1 if backend == "postgresql" else 0.5):
                        task = TASKS[n % len(TASKS)]
                        n += 1
                        seed = rng.randrange(1, 10**9)
                        seeds.append(seed)
                        project = api.project(f"{task} {seed}", "DETECTION" if task == "detection"
                                              else "CLASSIFICATION", CLASSES, multi=task == "multi")
                        ran, mismatch = await run_model(browser, base, api, project, task, seed, STEPS_PER_PROJECT)
                        done += ran
                        if mismatch:
                            mismatches.append(f"{backend} {task}: {mismatch}")
                            print(f"MISMATCH {backend} {task}: {mismatch}", file=sys.stderr, flush=True)
                        else:
                            print(f"label model: {done} actions, {len(mismatches)} mismatch(es) so far",
                                  file=sys.stderr, flush=True)
                    api.http.close()
        finally:
            await browser.close()
    return done, mismatches, seeds


def run() -> list[Figure]:
    total = int(os.environ.get("CVX_BENCH_LABEL_ACTIONS", "3000"))
    t0 = time.perf_counter()
    done, mismatches, seeds = asyncio.run(_run(total))
    seconds = time.perf_counter() - t0
    print(f"label model: {done} actions in {seconds:.0f} s, {len(mismatches)} mismatch(es), seeds {seeds}",
          file=sys.stderr)
    return [
        Figure(f"labelling view, random actions per mismatch ({done:,} actions, {len(seeds)} new seeds, "
               "SQLite + PostgreSQL)", done / max(1, len(mismatches)), "actions", done, higher_is_better=True),
        Figure("... random actions per second in Chromium (reported)", done / seconds, "actions/s", 0,
               higher_is_better=True),
    ]
