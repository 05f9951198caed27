"""Pre-labelling fanned out over Spark (local mode, the run's one SparkSession): every partition labelled on an
executor and written back in one transaction, a re-run (what a retried task does) replacing rather than duplicating,
progress as partitions finish, and a cancel that stops the Spark job. The model is a real Label Studio ML backend
on loopback (bench.preannotate.model_server): executors are other processes, out of respx's reach."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from bench.preannotate import ModelServer, model_server
from jobs.models.egress import AllowList
from server import create_app
from settings import Settings
from tests.conftest import create_project, gql, make_images, wait_for_job

RUN = "mutation($p: ID!, $i: PreannotateInput){ preannotate(projectId: $p, input: $i){ id } }"
DRAFTS = """query($p: ID!){ project(id: $p){ stats { preLabeled unlabeled } samples(first: 100){ edges { node {
  annotations { label isDraft createdBy } } } } } }"""
JOB = "query($j: ID!){ job(id: $j){ status progress total } }"


@contextmanager
def _app(settings: Settings, model: ModelServer, partition: int) -> Iterator[TestClient]:
    fanned = dataclasses.replace(settings, model_backend_url=model.url, model_name="instant",
                                 model_url_allow=AllowList.parse("127.0.0.1"), spark_min_samples=10,
                                 spark_partition_samples=partition)
    with TestClient(create_app(fanned)) as client:
        yield client


def _project(client: TestClient, images_dir: Path, n: int) -> str:
    make_images(images_dir, [f"{i:03}.jpg" for i in range(n)], size=(32, 24))
    return str(create_project(client, classes=["car", "person"])["id"])


def _drafts(client: TestClient, project_id: str) -> tuple[dict[str, Any], list[list[dict[str, Any]]]]:
    project = gql(client, DRAFTS, p=project_id)["project"]
    return project["stats"], [e["node"]["annotations"] for e in project["samples"]["edges"]]


def test_prelabel_fans_out_over_spark_and_a_rerun_replaces_its_drafts(spark: Any, settings: Settings,
                                                                      images_dir: Path) -> None:
    with model_server() as model, _app(settings, model, partition=5) as client:
        project = _project(client, images_dir, 12)
        first = wait_for_job(client, gql(client, RUN, p=project)["preannotate"]["id"], timeout=120)
        assert first["status"] == "SUCCEEDED", first
        r = first["result"]
        assert (r["sparkPartitions"], r["samples"], r["succeeded"], r["failed"], r["drafts"]) == (3, 12, 12, 0, 24)
        assert (first["progress"], first["total"]) == (12, 12)
        assert sorted(model.seen.values()) == [1] * 12  # every sample sent once, by the executors
        stats, annotations = _drafts(client, project)
        assert stats == {"preLabeled": 12, "unlabeled": 0}
        # run again over the same samples, as a retried task runs its partition again: replaced, not added to
        again = wait_for_job(client, gql(client, RUN, p=project, i={"statuses": ["UNLABELED", "PRE_LABELED"]}
                                         )["preannotate"]["id"], timeout=120)
        assert again["status"] == "SUCCEEDED" and again["result"]["drafts"] == 24, again
        assert sorted(model.seen.values()) == [2] * 12
        assert _drafts(client, project) == (stats, annotations)
        assert annotations[0] == [{"label": "car", "isDraft": True, "createdBy": "model:instant"},
                                  {"label": "person", "isDraft": True, "createdBy": "model:instant"}]


def test_a_cancelled_prelabel_stops_its_spark_job(spark: Any, settings: Settings, images_dir: Path) -> None:
    with model_server(seconds_per_task=0.25) as model, _app(settings, model, partition=4) as client:
        project = _project(client, images_dir, 40)  # 10 partitions of about a second each, two at a time
        job_id = gql(client, RUN, p=project)["preannotate"]["id"]
        deadline = time.monotonic() + 90
        while (job := gql(client, JOB, j=job_id)["job"])["progress"] < 4:  # a partition finished: progress moves
            assert job["status"] in ("QUEUED", "RUNNING") and time.monotonic() < deadline, job
            time.sleep(0.05)
        assert job["total"] == 40
        gql(client, "mutation($j: ID!){ cancelJob(id: $j){ id } }", j=job_id)
        ended = wait_for_job(client, job_id, timeout=30)
        assert ended["status"] == "CANCELLED", ended
        tracker = spark.sparkContext.statusTracker()
        deadline = time.monotonic() + 15
        while tracker.getActiveJobsIds():  # the job group was cancelled: its tasks are killed, none is started
            assert time.monotonic() < deadline, "the Spark job still runs after the cancel"
            time.sleep(0.1)
        time.sleep(3)  # what was in flight at the cancel has ended: no partition started after it
        stats, _ = _drafts(client, project)
        assert len(model.seen) < 40 and stats["preLabeled"] < 40, (len(model.seen), stats)
