"""A server killed (SIGKILL) in the middle of a pre-annotation job: after a restart the job resumes with the samples
still to do and no sample ends up with duplicated drafts. The model is a real Label Studio ML backend speaking
HTTP on loopback (bench.preannotate.model_server, slowed down enough to be caught mid-run)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.preannotate import ModelServer, model_server
from tests.live import server

N_IMAGES = 120


@pytest.fixture
def backend() -> Iterator[ModelServer]:
    with model_server(seconds_per_task=0.01) as server:
        yield server


def test_a_killed_preannotation_resumes_without_duplicating_drafts(database_url: str, tmp_path: Path,
                                                                   backend: ModelServer) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for i in range(N_IMAGES):
        (images / f"{i:04}.jpg").touch()  # the HTTP backend is sent URLs; nothing opens the files
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data"), "JOB_LEASE_SECONDS": "3",
           "VOLUME_MOUNTS": f"/Volumes/t/c/images={images}", "MODEL_BACKEND_URL": backend.url,
           "MODEL_URL_ALLOW": "127.0.0.1",
           "MODEL_NAME": "slow"}
    with server(env) as live:
        pid = live.scanned_project("/Volumes/t/c/images")
        job_id = live.gql("mutation($p: ID!){ preannotate(projectId: $p){ id } }", p=pid)["preannotate"]["id"]
        while (j := live.job(job_id))["progress"] < N_IMAGES // 3:
            assert j["status"] in ("QUEUED", "RUNNING"), f"the job ended before the kill: {j}"
            time.sleep(0.01)
        live.kill()
    done_before = len(backend.seen)
    assert 0 < done_before < N_IMAGES

    with server(env) as live:
        j = live.finished(job_id)
        assert j["result"]["samples"] < N_IMAGES  # resumed: only the samples still unlabelled were sent again
        assert len(backend.seen) == N_IMAGES and max(backend.seen.values()) <= 2  # at most the in-flight batch twice
        stats = live.gql("query($p: ID!){ project(id: $p){ stats { total preLabeled unlabeled } } }",
                         p=pid)["project"]["stats"]
        assert stats == {"total": N_IMAGES, "preLabeled": N_IMAGES, "unlabeled": 0}
        edges = live.gql("""query($p: ID!){ project(id: $p){ samples(first: 500){ edges { node {
            annotations { label isDraft createdBy } } } } } }""", p=pid)["project"]["samples"]["edges"]
        assert len(edges) == N_IMAGES
        for edge in edges:  # one draft each: a sample done twice had its first drafts replaced, not duplicated
            assert edge["node"]["annotations"] == [{"label": "car", "isDraft": True, "createdBy": "model:slow"}]
