"""A server killed (SIGKILL) while an import writes leaves the database as it was; the next start finishes it."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.live import Live, server

N_IMAGES, BOXES = 6000, 8


def _state(live: Live, project_id: str) -> dict:
    return live.gql("query($p: ID!){ project(id: $p){ stats { total labeled unlabeled perClass { count } } } }",
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
        {"label": "car", "ann_type": "bbox", "bbox_json": box}] * BOXES}) for i in range(N_IMAGES)))
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data"), "JOB_LEASE_SECONDS": "3",
           "VOLUME_MOUNTS": f"/Volumes/t/c/images={images};/Volumes/t/c/exports={exports}"}
    with server(env) as live:
        pid = live.scanned_project("/Volumes/t/c/images")
        before = _state(live, pid)
        job = live.gql("""mutation($p: ID!){ importAnnotations(projectId: $p, input: {
            path: "/Volumes/t/c/exports/big.jsonl", format: JSONL}) { id } }""", p=pid)["importAnnotations"]
        while True:  # pass 1 reports progress = rows when it is done; pass 2 starts right after
            j = live.job(job["id"])
            assert j["status"] in ("QUEUED", "RUNNING"), f"the import ended before the kill: {j}"
            if j["total"] and j["progress"] >= N_IMAGES:
                break
            time.sleep(0.01)
        time.sleep(0.05)
        live.kill()

    with server({**env, "RUN_JOBS": "false"}) as live:  # look before the job is resumed
        assert _state(live, pid) == before
        assert live.job(job["id"])["status"] == "RUNNING"  # its worker died; the lease runs out, another takes it

    with server(env) as live:
        j = live.finished(job["id"])
        assert j["result"]["annotationsCreated"] == N_IMAGES * BOXES
        after = _state(live, pid)
        assert after["labeled"] == N_IMAGES and after["perClass"] == [{"count": N_IMAGES * BOXES}]
