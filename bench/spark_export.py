"""An export with its images fanned out over a local Spark on two cores against the same export in one process
(PostgreSQL): a project of IMAGES JPEGs labelled by a JSONL import, so no image's size is known yet and the export
reads every one as well as copying it. Between the runs the sizes are forgotten again, so both do the same work."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

import psycopg
from PIL import Image
from starlette.testclient import TestClient

from bench.figures import Figure
from bench.scratch_databases import scratch_postgres
from server import create_app
from settings import Settings
from tests.graphql_client import gql
from tests.spark_session import local_spark
from tests.waiting import until_ended

WORK = Path(__file__).resolve().parent / ".work" / "spark_export"
IMAGES = int(os.environ.get("CVX_BENCH_SPARK_EXPORT_IMAGES", "20000"))
PARTITION = 1000
ROOT, OUT = "/Volumes/bench/cvx/images", "/Volumes/bench/cvx/exports"


def _files() -> None:
    """IMAGES 640x480 JPEGs in folders of 1,000, and a JSONL file giving each one box."""
    shutil.rmtree(WORK, ignore_errors=True)
    sample = WORK / "sample.jpg"
    sample.parent.mkdir(parents=True)
    Image.linear_gradient("L").resize((640, 480)).convert("RGB").save(sample, quality=90)
    data = sample.read_bytes()
    lines = []
    for k in range(IMAGES):
        name = f"part{k // 1000:03}/img{k % 1000:04}.jpg"
        path = WORK / "images" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        lines.append(json.dumps({"filename": name, "annotations": [
            {"label": "car", "ann_type": "bbox", "bbox_json": {"x": 0.1, "y": 0.2, "w": 0.3, "h": 0.4}}]}))
    (WORK / "exports").mkdir()
    (WORK / "exports" / "labels.jsonl").write_text("\n".join(lines))


def _job(client: TestClient, mutation: str, **variables: object) -> dict:
    job = next(iter(gql(client, mutation, **variables).values()))
    done = until_ended(lambda: gql(client, "query($j: ID!){ job(id: $j){ status result error } }", j=job["id"])["job"],
                       timeout=3600, every=0.2)
    assert done["status"] == "SUCCEEDED", done
    return done


def _export_seconds(settings: Settings, project: str) -> tuple[float, dict]:
    with TestClient(create_app(settings)) as client:
        t0 = time.perf_counter()
        done = _job(client, "mutation($p: ID!, $i: ExportInput!){ exportDataset(projectId: $p, input: $i){ id } }",
                    p=project, i={"format": "COCO", "destination": OUT, "includeImages": True})
        return time.perf_counter() - t0, done["result"]


def run() -> list[Figure]:
    _files()
    spark = local_spark()
    try:
        with scratch_postgres("cvx_bench_spark_export") as url:
            base = Settings(data_dir=WORK / "data", database_url=url, allowed_hosts=("testserver",),
                            volume_mounts={ROOT: WORK / "images", OUT: WORK / "exports"},
                            spark_partition_samples=PARTITION)
            with TestClient(create_app(base)) as client:
                project = gql(client, """mutation($i: CreateProjectInput!){ createProject(input: $i){ id } }""",
                              i={"name": "Export", "taskType": "DETECTION", "classes": ["car"], "sourceVolume": ROOT}
                              )["createProject"]["id"]
                deadline = time.monotonic() + 600
                while gql(client, "query($p: ID!){ project(id: $p){ stats { total } } }", p=project)["project"][
                        "stats"]["total"] < IMAGES:  # the scan that creating the project started
                    assert time.monotonic() < deadline, "the scan did not finish"
                    time.sleep(0.2)
                _job(client, "mutation($p: ID!, $i: ImportInput!){ importAnnotations(projectId: $p, input: $i){ id } }",
                     p=project, i={"path": f"{OUT}/labels.jsonl", "format": "JSONL"})
            one_s, _ = _export_seconds(base, project)
            with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as c:
                c.execute("UPDATE samples SET width = NULL, height = NULL")  # the fanned export reads them again
            spark_s, result = _export_seconds(dataclasses.replace(base, spark_min_samples=1), project)
    finally:
        spark.stop()
        shutil.rmtree(WORK, ignore_errors=True)
    assert result["sparkPartitions"] == -(-IMAGES // PARTITION), result
    one, fanned = IMAGES / one_s, IMAGES / spark_s
    return [Figure(f"export {IMAGES:,} images with their files, sizes unknown, one process (PostgreSQL, reported)",
                   one, "images/s", 0, higher_is_better=True),
            Figure("... the same, images fanned out over local Spark, 2 cores (reported)", fanned, "images/s", 0,
                   higher_is_better=True),
            Figure("Spark export rate over the one-process rate (reported)", fanned / one, "x", 0,
                   higher_is_better=True)]


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())
