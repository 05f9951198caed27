"""JOB_RUNNER=databricks: big jobs are handed to the bundle's Databricks Job (`jobs.run_now`), whose task runs
`python server.py worker --job-id …` against the same database; the run id is stored and the job's status is
reconciled with the run's. The real databricks-sdk talks to the local emulator (tests/emulated_jobs.py); the
worker is a real process."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from bench.live_server import ROOT
from server import create_app
from settings import Settings
from tests.conftest import create_project, gql, make_images, wait_for_job
from tests.databricks_emulator import DatabricksEmulator
from tests.emulated_jobs import JOBS_ROUTES, define_job, end_run, runs

JOB_ID = 42
EXPORT = """mutation($p: ID!){ exportDataset(projectId: $p, input: {format: JSONL,
  destination: "/Volumes/test/cvx/exports"}){ id } }"""
JOB = "query($j: ID!){ job(id: $j){ status error runId runUrl result } }"


@pytest.fixture
def emu(databricks: DatabricksEmulator) -> DatabricksEmulator:
    return databricks.add_routes(JOBS_ROUTES)


@pytest.fixture
def remote(settings: Settings, emu: DatabricksEmulator) -> Iterator[TestClient]:
    chosen = dataclasses.replace(settings, job_runner="databricks", databricks_host=emu.url,
                                 serving_token=emu.token, databricks_job_id=JOB_ID, job_runner_min_items=3)
    with TestClient(create_app(chosen)) as c:
        yield c


def _labelled_project(client: TestClient, name: str = "Cats") -> dict[str, Any]:
    """A project on the images folder with one image labelled: an export of nothing is refused."""
    project = create_project(client, name=name)
    sid = gql(client, "query($p: ID!){ project(id: $p){ samples(first: 1){ edges { node { id } } } } }",
              p=project["id"])["project"]["samples"]["edges"][0]["node"]["id"]
    gql(client, """mutation($s: ID!){ saveAnnotations(sampleId: $s, annotations: [{label: "cat", kind: BBOX,
        box: {x: 0.1, y: 0.1, w: 0.5, h: 0.5}}]){ id } }""", s=sid)
    return project


def _worker_env(settings: Settings) -> dict[str, str]:
    mounts = ";".join(f"{k}={v}" for k, v in settings.volume_mounts.items())
    return {**os.environ, "DATABASE_URL": settings.database_url, "DATA_DIR": str(settings.data_dir),
            "VOLUME_MOUNTS": mounts, "LOG_LEVEL": "warning", "MIGRATE_ON_START": "false"}


def _worker(settings: Settings, job_id: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "server.py", "worker", "--job-id", job_id], cwd=ROOT,
                            env=_worker_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _reconcile(client: TestClient) -> None:
    client.portal.call(client.app.state.services.runner.reconcile)  # type: ignore[attr-defined,union-attr]


def _until(client: TestClient, job_id: str, status: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (job := gql(client, JOB, j=job_id)["job"])["status"] != status:
        assert time.monotonic() < deadline, job
        _reconcile(client)
        time.sleep(0.1)
    return job


def test_a_big_export_runs_as_a_databricks_run_and_a_small_one_here(
        remote: TestClient, emu: DatabricksEmulator, settings: Settings, images_dir: Path, tmp_path: Path) -> None:
    define_job(emu, JOB_ID, lambda params: _worker(settings, params["cvx_job_id"]))
    make_images(images_dir, ["a.jpg", "b.jpg", "c.jpg"])
    project = _labelled_project(remote)  # a SCAN always runs here: a cluster takes minutes to start
    job_id = gql(remote, EXPORT, p=project["id"])["exportDataset"]["id"]
    job = _until(remote, job_id, "SUCCEEDED")
    [(run_id, run)] = runs(emu).items()
    assert run["params"] == {"cvx_job_id": job_id} and run["job_id"] == JOB_ID
    assert job["runId"] == str(run_id) and job["runUrl"].endswith(f"/run/{run_id}")
    assert run["process"].wait(10) == 0, run["process"].stderr.read()
    assert job["result"]["path"].startswith("/Volumes/test/cvx/exports/")
    assert any((tmp_path / "exports").iterdir())
    [call] = emu.calls("POST", "/api/2.2/jobs/run-now")
    assert call.headers["authorization"] == f"Bearer {emu.token}"

    rename = gql(remote, 'mutation($p: ID!){ renameClass(projectId: $p, from: "cat", to: "kitty"){ id } }',
                 p=project["id"])["renameClass"]["id"]  # one SQL transaction: never worth a cluster
    assert wait_for_job(remote, rename)["status"] == "SUCCEEDED" and gql(remote, JOB, j=rename)["job"]["runId"] is None
    assert len(runs(emu)) == 1

    (images_dir / "c.jpg").unlink()
    small = _labelled_project(remote, name="Small")  # 2 samples < JOB_RUNNER_MIN_ITEMS
    job = wait_for_job(remote, gql(remote, EXPORT, p=small["id"])["exportDataset"]["id"])
    assert job["status"] == "SUCCEEDED"
    assert gql(remote, JOB, j=job["id"])["job"]["runId"] is None and len(runs(emu)) == 1


def test_a_run_that_dies_without_its_worker_fails_the_job(remote: TestClient, emu: DatabricksEmulator,
                                                          images_dir: Path) -> None:
    define_job(emu, JOB_ID, lambda params: None)  # the cluster never starts the task
    make_images(images_dir, ["a.jpg", "b.jpg", "c.jpg"])
    project = _labelled_project(remote)
    job_id = gql(remote, EXPORT, p=project["id"])["exportDataset"]["id"]
    deadline = time.monotonic() + 10
    while not runs(emu):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    _reconcile(remote)
    assert gql(remote, JOB, j=job_id)["job"]["status"] == "RUNNING"  # still pending: nothing to reconcile
    [run_id] = runs(emu)
    end_run(emu, run_id, "FAILED", "Cluster failed to start: quota exceeded")
    job = _until(remote, job_id, "FAILED")
    assert "Cluster failed to start: quota exceeded" in job["error"] and job["runId"] == str(run_id)


def test_cancelling_a_job_cancels_its_run(remote: TestClient, emu: DatabricksEmulator, images_dir: Path) -> None:
    define_job(emu, JOB_ID, lambda params: None)
    make_images(images_dir, ["a.jpg", "b.jpg", "c.jpg"])
    project = _labelled_project(remote)
    job_id = gql(remote, EXPORT, p=project["id"])["exportDataset"]["id"]
    deadline = time.monotonic() + 10
    while not gql(remote, JOB, j=job_id)["job"]["runId"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    gql(remote, "mutation($j: ID!){ cancelJob(id: $j){ id } }", j=job_id)
    job = _until(remote, job_id, "CANCELLED")
    assert "cancelled" in job["error"].lower()
    assert emu.calls("POST", "/api/2.2/jobs/runs/cancel")


def test_the_worker_refuses_a_job_that_was_not_handed_to_a_run(client: TestClient, settings: Settings,
                                                                images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg"])
    project = create_project(client)
    scan_id = gql(client, "query($p: ID!){ jobs(projectId: $p){ id } }", p=project["id"])["jobs"][0]["id"]
    worker = _worker(settings, scan_id)
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == 2 and b"is not waiting for a Databricks worker (SUCCEEDED)" in err, err


def test_an_app_finds_its_worker_job_by_the_bundles_tag(settings: Settings, emu: DatabricksEmulator,
                                                         images_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """In a Databricks App DATABRICKS_JOB_ID is not set (the worker job refers to the app, so the app cannot refer
    to it): the app runs the job tagged cv-explorer-app=<its name> among those it may run. Without one, the job runs
    here, with a warning saying why."""
    define_job(emu, 7, lambda params: None, settings={"name": "other", "tags": {"cv-explorer-app": "other-app"}})
    chosen = dataclasses.replace(settings, job_runner="databricks", databricks_host=emu.url, serving_token=emu.token,
                                 databricks_job_id=0, databricks_app_name="cv-explorer", job_runner_min_items=3)
    make_images(images_dir, ["a.jpg", "b.jpg", "c.jpg"])
    with TestClient(create_app(chosen)) as client:
        project = _labelled_project(client)
        missing = wait_for_job(client, gql(client, EXPORT, p=project["id"])["exportDataset"]["id"])
        assert missing["status"] == "SUCCEEDED" and not runs(emu), missing
        assert "No Databricks jobs tagged cv-explorer-app=cv-explorer are visible to the app" in caplog.text
        define_job(emu, JOB_ID, lambda params: _worker(settings, params["cvx_job_id"]),
                   settings={"name": "[dev me] cv-explorer-worker-dev", "tags": {"cv-explorer-app": "cv-explorer"}})
        for _ in range(2):
            job_id = gql(client, EXPORT, p=project["id"])["exportDataset"]["id"]
            _until(client, job_id, "SUCCEEDED")
    assert [run["job_id"] for run in runs(emu).values()] == [JOB_ID, JOB_ID]
    assert len(emu.calls("GET", "/api/2.2/jobs/list")) == 2  # looked up until found, then remembered
