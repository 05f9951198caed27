"""An export as a job at the gallery benchmark's size (the kept database of bench.gallery_filters: 1,000,000
samples, or CVX_BENCH_GALLERY_SAMPLES=10000000): COCO without images, through the API of a `serve` process, with its
wall and CPU time, the server's peak memory and the file's size. The database must have been built by
`python -m bench gallery_filters` (its images' sizes are known, so no image is opened)."""

from __future__ import annotations

import shutil
import time

import httpx

from bench import gallery_filters
from bench.datasets import _cpu_seconds, _peak_rss_mb, _wait
from bench.figures import Figure
from bench.live_server import live_server
from db.migrate import upgrade
from tests.graphql_client import gql

WORK = gallery_filters.WORK / "big_export"


def run() -> list[Figure]:
    name, n = gallery_filters.DB_NAME, gallery_filters.N
    if not gallery_filters._exists(name):
        raise RuntimeError(f"{name} does not exist: run `python -m bench gallery_filters` first")
    url = gallery_filters._url(name)
    upgrade(url)
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "exports").mkdir(parents=True)
    procs: list = []
    env = {"DATABASE_URL": url, "DATA_DIR": str(WORK / "data"), "MIGRATE_ON_START": "false",
           "VOLUME_MOUNTS": f"/Volumes/bench/big/images={WORK};/Volumes/bench/big/exports={WORK / 'exports'}"}
    try:
        with live_server(env, procs=procs) as base, httpx.Client(base_url=base, timeout=600) as http:
            pid = gql(http, "{ projects { id } }")["projects"][0]["id"]
            server = procs[0].pid
            t0, cpu0 = time.perf_counter(), _cpu_seconds(server)
            job = gql(http, """mutation($p: ID!){ exportDataset(projectId: $p, input: {format: COCO,
                destination: "/Volumes/bench/big/exports", includeImages: false}) { id } }""", p=pid)
            result = _wait(http, job["exportDataset"]["id"])["result"]
            elapsed, cpu = time.perf_counter() - t0, _cpu_seconds(server) - cpu0
            peak = _peak_rss_mb(server)
        size = sum(p.stat().st_size for p in (WORK / "exports").rglob("*.json")) / 2**20
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    label = f"{n:,}-sample project ({result['images']:,} labelled images, {result['annotations']:,} boxes)"
    return [Figure(f"export a {label} to COCO as a job, no images (PostgreSQL, reported)", elapsed, "s", 0,
                   higher_is_better=True),
            Figure("... the server process's CPU time for it (reported)", cpu, "s", 0, higher_is_better=True),
            Figure("... the server's peak memory (reported)", peak, "MB", 0, higher_is_better=True),
            Figure("... the files written, COCO and one per split (reported)", size, "MB", 0, higher_is_better=True)]


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())
