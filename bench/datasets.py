"""Import/export figures: a COCO file with 100,000 images and 1,000,000 boxes imported through the API (SQLite
and PostgreSQL), its dry run, the export of the same project to COCO, and the server's peak memory over all three
(issue 18's bulk targets)."""

from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path

import httpx
import orjson

from bench.figures import Figure
from bench.labelling import _database
from bench.live_server import live_server
from tests.graphql_client import gql

WORK = Path(__file__).resolve().parent / ".work" / "datasets"
N_IMAGES, PER_IMAGE = 100_000, 10
CLASSES = ["car", "person", "bike", "bus", "truck"]


def _prepare() -> None:
    images = WORK / "images"
    if (WORK / "exports" / "coco.json").exists() and images.exists():
        return
    shutil.rmtree(WORK, ignore_errors=True)
    for d in range(N_IMAGES // 1000):
        sub = images / f"part{d:03}"
        sub.mkdir(parents=True)
        for i in range(1000):
            (sub / f"img{i:04}.jpg").touch()
    rng = random.Random(11)
    doc = {"images": [], "annotations": [], "categories": [{"id": i + 1, "name": c} for i, c in enumerate(CLASSES)]}
    for k in range(N_IMAGES):
        doc["images"].append({"id": k + 1, "file_name": f"part{k // 1000:03}/img{k % 1000:04}.jpg",
                              "width": 1920, "height": 1080})
        for _ in range(PER_IMAGE):
            w, h = rng.uniform(10, 400), rng.uniform(10, 300)
            doc["annotations"].append({"id": len(doc["annotations"]) + 1, "image_id": k + 1,
                                       "category_id": rng.randint(1, 5), "iscrowd": 0,
                                       "bbox": [round(rng.uniform(0, 1920 - w), 2), round(rng.uniform(0, 1080 - h), 2),
                                                round(w, 2), round(h, 2)]})
    (WORK / "exports").mkdir(parents=True, exist_ok=True)
    (WORK / "exports" / "coco.json").write_bytes(orjson.dumps(doc))


def _wait(http: httpx.Client, job_id: str) -> dict:
    while True:
        job = gql(http, "query($j: ID!){ job(id: $j){ status result error } }", j=job_id)["job"]
        if job["status"] not in ("QUEUED", "RUNNING"):
            assert job["status"] == "SUCCEEDED", job
            return job
        time.sleep(0.1)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (user + system): on a busy machine, what a job cost rather than how long it
    waited for a core."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(backend: str) -> list[Figure]:
    procs: list = []
    (WORK / "bench.db").unlink(missing_ok=True)
    shutil.rmtree(WORK / "data", ignore_errors=True)
    with _database(backend) as url, live_server({
        "DATABASE_URL": url if backend != "sqlite" else f"sqlite:///{WORK / 'bench.db'}",
        "DATA_DIR": str(WORK / "data"),
        "VOLUME_MOUNTS": f"/Volumes/b/d/images={WORK / 'images'};/Volumes/b/d/exports={WORK / 'exports'}",
    }, procs=procs) as base, httpx.Client(base_url=base, timeout=120) as http:
        pid = gql(http, """mutation { createProject(input: {name: "coco", taskType: DETECTION,
            classes: ["car", "person", "bike", "bus", "truck"], sourceVolume: "/Volumes/b/d/images"}) { id } }""")[
            "createProject"]["id"]
        _wait(http, gql(http, "query($p: ID!){ jobs(projectId: $p){ id } }", p=pid)["jobs"][0]["id"])
        figures = []
        label = "SQLite" if backend == "sqlite" else "PostgreSQL"
        server = procs[0].pid
        for dry in (True, False):
            t0, cpu0 = time.perf_counter(), _cpu_seconds(server)
            job = gql(http, """mutation($p: ID!, $d: Boolean){ importAnnotations(projectId: $p, input: {
                path: "/Volumes/b/d/exports/coco.json", format: COCO, dryRun: $d}) { id } }""", p=pid, d=dry)
            result = _wait(http, job["importAnnotations"]["id"])["result"]
            elapsed = time.perf_counter() - t0
            assert result["annotationsCreated"] == N_IMAGES * PER_IMAGE, result
            if dry:
                figures.append(Figure(f"import COCO 100k images / 1M boxes, dry run ({label})", elapsed, "s", 4))
            else:
                figures.append(Figure(f"import COCO 100k images / 1M boxes ({label})", elapsed, "s", 10))
            figures.append(Figure("... the server process's CPU time for it (reported)", _cpu_seconds(server) - cpu0,
                                  "s", 0, higher_is_better=True))
        t0, cpu0 = time.perf_counter(), _cpu_seconds(server)
        job = gql(http, """mutation($p: ID!){ exportDataset(projectId: $p, input: {format: COCO,
            destination: "/Volumes/b/d/exports", includeImages: false}) { id } }""", p=pid)
        result = _wait(http, job["exportDataset"]["id"])["result"]
        figures.append(Figure(f"export the same project to COCO, no images ({label})", time.perf_counter() - t0,
                              "s", 5))
        figures.append(Figure("... the server process's CPU time for it (reported)", _cpu_seconds(server) - cpu0, "s",
                              0, higher_is_better=True))
        assert result["annotations"] == N_IMAGES * PER_IMAGE
        figures.append(Figure(f"server peak memory during the imports and the export ({label})",
                              _peak_rss_mb(server), "MB", 600))
    return figures


def run() -> list[Figure]:
    _prepare()
    load = os.getloadavg()[0]
    figures = _run("sqlite") + _run("postgresql")
    figures += [Figure("machine load (1-minute average) before / after the imports and exports (reported)", load, "",
                       0, higher_is_better=True),
                Figure("... after", os.getloadavg()[0], "", 0, higher_is_better=True)]
    shutil.rmtree(WORK, ignore_errors=True)
    return figures


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())
