"""A server killed (SIGKILL) while an import writes leaves the database as it was; the next start finishes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.live_server import ROOT, free_port

N_IMAGES, BOXES = 6000, 8


def _start(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "server.py", "serve"], cwd=ROOT,
                            env={**os.environ, **env, "PORT": str(port), "LOG_LEVEL": "warning"})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90  # generous: a loaded 2-core machine starts Python slowly
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)


def _gql(base: str, query: str, **variables: object) -> dict:
    body = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables}, timeout=30).json()
    assert not body.get("errors"), body
    return body["data"]


def _state(base: str, project_id: str) -> dict:
    return _gql(base, "query($p: ID!){ project(id: $p){ stats { total labeled unlabeled perClass { count } } } }",
                p=project_id)["project"]["stats"]


def test_kill_during_the_write_pass_leaves_nothing_and_a_restart_finishes(database_url: str,
                                                                          tmp_path: Path) -> None:
    images, exports = tmp_path / "images", tmp_path / "exports"
    images.mkdir()
    exports.mkdir()
    for i in range(N_IMAGES):
        (images / f"{i:05}.jpg").touch()  # a scan never opens images
    box = {"x": 0.1, "y": 0.1, "w": 0.2, "h": 0.2}
    (exports / "big.jsonl").write_text("\n".join(json.dumps({"filename": f"{i:05}.jpg", "annotations": [
        {"label": "cat", "ann_type": "bbox", "bbox_json": box}] * BOXES}) for i in range(N_IMAGES)))
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data"), "JOB_LEASE_SECONDS": "3",
           "VOLUME_MOUNTS": f"/Volumes/t/c/images={images};/Volumes/t/c/exports={exports}"}
    proc, base = _start(env)
    try:
        pid = _gql(base, """mutation { createProject(input: {name: "big", taskType: DETECTION, classes: ["cat"],
            sourceVolume: "/Volumes/t/c/images"}) { id } }""")["createProject"]["id"]
        while _gql(base, "query($p: ID!){ jobs(projectId: $p){ status } }", p=pid)["jobs"][0]["status"] != "SUCCEEDED":
            time.sleep(0.1)
        before = _state(base, pid)
        job = _gql(base, """mutation($p: ID!){ importAnnotations(projectId: $p, input: {
            path: "/Volumes/t/c/exports/big.jsonl", format: JSONL}) { id } }""", p=pid)["importAnnotations"]
        while True:  # pass 1 reports progress = rows when it is done; pass 2 starts right after
            j = _gql(base, "query($j: ID!){ job(id: $j){ status progress total } }", j=job["id"])["job"]
            assert j["status"] in ("QUEUED", "RUNNING"), f"the import ended before the kill: {j}"
            if j["total"] and j["progress"] >= N_IMAGES:
                break
            time.sleep(0.01)
        time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    proc, base = _start({**env, "RUN_JOBS": "false"})  # look before the job is resumed
    try:
        assert _state(base, pid) == before
        status = _gql(base, "query($j: ID!){ job(id: $j){ status } }", j=job["id"])["job"]["status"]
        assert status == "RUNNING"  # its worker died; the lease runs out and the next worker takes it
    finally:
        proc.terminate()
        proc.wait(10)

    proc, base = _start(env)
    try:
        deadline = time.monotonic() + 60
        while (j := _gql(base, "query($j: ID!){ job(id: $j){ status result } }", j=job["id"])["job"])["status"] \
                != "SUCCEEDED":
            assert j["status"] in ("QUEUED", "RUNNING") and time.monotonic() < deadline, j
            time.sleep(0.2)
        assert j["result"]["annotationsCreated"] == N_IMAGES * BOXES
        after = _state(base, pid)
        assert after["labeled"] == N_IMAGES and after["perClass"] == [{"count": N_IMAGES * BOXES}]
    finally:
        proc.terminate()
        proc.wait(10)
