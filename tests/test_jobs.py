"""The job runner: crash recovery through leases, cancellation, failures with a message, progress subscription."""

from __future__ import annotations

import asyncio
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from db.errors import NotFound
from db.models import Job, utcnow
from server import job_runner
from settings import Settings
from tests.conftest import create_project, gql, gql_error, make_images, wait_for_job
from volumes.local import LocalVolumes
from volumes.paths import parse


def _insert_job(client: TestClient, **values: object) -> str:
    def insert(s: Session) -> int:
        job = Job(created_by="alice", params={}, **values)
        s.add(job)
        s.flush()
        return job.id

    return str(client.portal.call(client.app.state.services.db.write, insert))


def test_a_job_left_running_by_a_dead_server_is_resumed(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg"])
    project = create_project(client)
    make_images(images_dir, ["c.jpg"])
    job_id = _insert_job(client, kind="SCAN", project_id=int(project["id"]), status="RUNNING",
                         lease_owner="dead-host:1:x", lease_expires_at=utcnow() - timedelta(seconds=1), attempts=1)
    client.app.state.services.runner.wake()
    done = wait_for_job(client, job_id)
    assert done["status"] == "SUCCEEDED"
    assert done["result"] == {"imagesFound": 3, "samplesAdded": 1, "missing": 0, "foundAgain": 0}


def test_a_job_interrupted_too_often_fails_with_a_reason(client: TestClient) -> None:
    job_id = _insert_job(client, kind="SCAN", status="RUNNING", lease_owner="dead", attempts=3,
                         lease_expires_at=utcnow() - timedelta(seconds=1))
    client.app.state.services.runner.wake()
    done = wait_for_job(client, job_id)
    assert done["status"] == "FAILED" and "Interrupted 3 times" in done["error"]


def test_a_vanished_folder_fails_the_scan_and_keeps_the_samples(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, ["a.jpg", "b.jpg"])
    project = create_project(client)
    shutil.rmtree(images_dir)
    job = gql(client, "mutation($id: ID!){ rescanProject(id: $id){ id } }", id=project["id"])["rescanProject"]
    done = wait_for_job(client, job["id"])
    assert done["status"] == "FAILED" and "does not exist" in done["error"]
    stats = gql(client, "query($id: ID!){ project(id: $id){ stats { total } } }", id=project["id"])
    assert stats["project"]["stats"]["total"] == 2


def test_walk_reports_a_folder_that_vanishes_mid_walk(tmp_path: Path) -> None:
    make_images(tmp_path, ["a/1.jpg", "b/2.jpg"])
    walk = LocalVolumes({"/Volumes/c/s/v": tmp_path}).walk_files(parse("/Volumes/c/s/v"))
    assert next(walk).path == "/Volumes/c/s/v/a/1.jpg"
    shutil.rmtree(tmp_path / "b")
    with pytest.raises(NotFound, match="vanished"):
        next(walk)


def test_cancel_a_queued_job_and_refuse_to_cancel_a_finished_one(client: TestClient, images_dir: Path) -> None:
    project = create_project(client)
    finished = gql(client, "query($p: ID!){ jobs(projectId: $p){ id } }", p=project["id"])["jobs"][0]["id"]
    err = gql_error(client, "mutation($id: ID!) { cancelJob(id: $id) { status } }", id=finished)
    assert err["extensions"]["code"] == "CONFLICT"
    queued = _insert_job(client, kind="SCAN", project_id=int(project["id"]), status="QUEUED",
                         created_at=utcnow())
    # The runner may have claimed it already; either way it ends cancelled or finished, never stuck.
    status = gql(client, 'mutation($id: ID!) { cancelJob(id: $id) { status } }', id=queued)
    assert status["cancelJob"]["status"] in ("CANCELLED", "RUNNING")
    assert wait_for_job(client, queued)["status"] in ("CANCELLED", "SUCCEEDED")


def test_job_progress_subscription(client: TestClient, images_dir: Path) -> None:
    make_images(images_dir, [f"i{i}.jpg" for i in range(5)], size=(4, 4))
    project = create_project(client)
    job = gql(client, "mutation($id: ID!){ rescanProject(id: $id){ id } }", id=project["id"])["rescanProject"]
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init"})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {
            "query": "subscription($id: ID!){ jobProgress(jobId: $id){ id status progress total } }",
            "variables": {"id": job["id"]}}})
        statuses = []
        while True:
            msg = ws.receive_json()
            if msg["type"] == "complete":
                break
            assert msg["type"] == "next", msg
            statuses.append(msg["payload"]["data"]["jobProgress"]["status"])
        assert statuses[-1] == "SUCCEEDED"


async def test_a_worker_never_takes_back_its_own_running_job(db) -> None:  # type: ignore[no-untyped-def]
    """On SQLite a long write can hold a job's heartbeats past its lease; its own worker must not restart it."""
    from db import jobs as job_rows

    def insert(s: Session) -> int:
        job = Job(created_by="alice", params={}, kind="SCAN", status="RUNNING", lease_owner="me",
                  lease_expires_at=utcnow() - timedelta(seconds=5), attempts=1)
        s.add(job)
        s.flush()
        return job.id

    job_id = await db.write(insert)
    assert await db.write(job_rows.claim_next, owner="me", lease_seconds=30, kinds=("SCAN",)) is None
    other = await db.write(job_rows.claim_next, owner="other", lease_seconds=30, kinds=("SCAN",))
    assert other is not None and other.id == job_id and other.attempts == 2


async def test_the_runner_stops_even_when_woken_as_it_is_cancelled(db) -> None:  # type: ignore[no-untyped-def]
    """A wake-up landing with the shutdown's cancellation once made the loop swallow it and the server hang."""
    runner = job_runner(Settings(), db, LocalVolumes({}))
    runner.poll_seconds = 30
    runner.start()
    for _ in range(20):  # let the loop find no job and settle into waiting for a wake-up
        await asyncio.sleep(0.05)
    loop_task = runner._loop_task
    assert loop_task is not None
    runner.wake()
    loop_task.cancel()  # in the same turn of the event loop as the wake-up
    finished, _ = await asyncio.wait({loop_task}, timeout=5)
    loop_task.cancel()
    await runner.stop(grace_seconds=5)
    assert finished, "the runner loop swallowed its cancellation"
