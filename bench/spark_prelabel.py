"""Spark fan-out figure (issue 18): pre-labelling 100,000 images with an instant model (a Label Studio ML backend in
its own process, answering at once) fanned out over a local Spark on two cores, against the same job in one process
(measured on fewer images: its rate does not depend on the project's size). On PostgreSQL, the database a cluster
writes to (Lakebase): on SQLite the executors' writers and the app's take turns at one lock."""

from __future__ import annotations

import asyncio
import multiprocessing
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from starlette.testclient import TestClient

from bench.figures import Figure
from bench.preannotate import ModelServer
from bench.scratch_databases import scratch_postgres
from db.engine import Database
from db.migrate import upgrade
from jobs.models.egress import AllowList
from server import create_app
from settings import Settings
from tests.conftest import seed_project
from tests.graphql_client import gql
from tests.spark_session import local_spark
from tests.waiting import until_ended

WORK = Path(__file__).resolve().parent / ".work" / "spark_prelabel"
SPARK_IMAGES, ONE_PROCESS_IMAGES, PARTITION = 100_000, 10_000, 5_000


def _serve(port: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    server = ModelServer()
    port.put(server.url)
    server.serve_forever()


@contextmanager
def model_process() -> Iterator[str]:
    """The instant model in a process of its own, so the job's process does not also carry its answers."""
    spawn = multiprocessing.get_context("spawn")
    urls = spawn.Queue()
    process = spawn.Process(target=_serve, args=(urls,), daemon=True)
    process.start()
    try:
        yield urls.get(timeout=60)
    finally:
        process.terminate()
        process.join()


def _prelabel(name: str, images: int, model: str, spark_min_samples: int) -> tuple[float, dict]:
    """Seconds for one pre-labelling job over a fresh project of `images` samples, and its result."""
    with scratch_postgres(f"cvx_bench_spark_{name}") as url:
        return _timed(url, name, images, model, spark_min_samples)


def _timed(url: str, name: str, images: int, model: str, spark_min_samples: int) -> tuple[float, dict]:
    upgrade(url)
    db = Database(url)
    asyncio.run(seed_project(db, images, name=name))
    asyncio.run(db.dispose())
    settings = Settings(data_dir=WORK / name / "data", database_url=url, migrate_on_start=False,
                        model_backend_url=model, model_name="instant", model_url_allow=AllowList.parse("127.0.0.1"),
                        spark_min_samples=spark_min_samples, spark_partition_samples=PARTITION,
                        allowed_hosts=("testserver",))
    with TestClient(create_app(settings)) as client:
        pid = gql(client, "{ projects { id } }")["projects"][0]["id"]
        t0 = time.perf_counter()
        job = gql(client, "mutation($p: ID!){ preannotate(projectId: $p){ id } }", p=pid)["preannotate"]
        done = until_ended(lambda: gql(client, "query($j: ID!){ job(id: $j){ status result } }", j=job["id"])["job"],
                           timeout=3600, every=0.2)
        elapsed = time.perf_counter() - t0
    assert done["status"] == "SUCCEEDED" and done["result"]["succeeded"] == images, done
    return elapsed, done["result"]


def run() -> list[Figure]:
    shutil.rmtree(WORK, ignore_errors=True)
    spark = local_spark()
    try:
        with model_process() as model:
            one_s, _ = _prelabel("one", ONE_PROCESS_IMAGES, model, 0)
            spark_s, result = _prelabel("spark", SPARK_IMAGES, model, 1)
    finally:
        spark.stop()
        shutil.rmtree(WORK, ignore_errors=True)
    assert result["sparkPartitions"] == SPARK_IMAGES // PARTITION, result
    one, fanned = ONE_PROCESS_IMAGES / one_s, SPARK_IMAGES / spark_s
    return [Figure(f"pre-label {ONE_PROCESS_IMAGES:,} images in one process, instant model (PostgreSQL, reported)", one,
                   "samples/s", 0, higher_is_better=True),
            Figure(f"pre-label {SPARK_IMAGES:,} images fanned out over local Spark, 2 cores (PostgreSQL, reported)",
                   fanned, "samples/s", 0, higher_is_better=True),
            Figure("Spark pre-label rate over the one-process rate", fanned / one, "x", 1.5, higher_is_better=True)]
