"""A server killed (SIGKILL) while an import writes leaves the database as it was; the next start finishes it."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from tests.live import Live, server

N_IMAGES, BOXES = 6000, 8


def _state(live: Live, project_id: str) -> dict:
    return live.gql("query($p: ID!){ project(id: $p){ stats { total labeled unlabeled perClass { count } } } }",
                    p=project_id)["project"]["stats"]


def _writing(database_url: str) -> bool:
    """Whether a transaction is writing the database now: on PostgreSQL one that holds a transaction id (it has
    written), on SQLite one that holds the file's write lock (a write transaction has begun)."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
            return bool(conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_xid IS "
                                     "NOT NULL AND pid <> pg_backend_pid()", (url.database,)).fetchone()[0])
    conn = sqlite3.connect(url.database, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:  # "database is locked": another connection is writing
        return True
    finally:
        conn.close()


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
        deadline, seen = time.monotonic() + 120, 0
        while seen < 3:  # pass 1 done, and a write transaction open at three looks 10 ms apart: pass 2's (a lease
            j = live.job(job["id"])  # renewal or a progress report lasts a few milliseconds)
            assert j["status"] in ("QUEUED", "RUNNING"), f"the import ended before its write could be seen: {j}"
            assert time.monotonic() < deadline, f"the import never started writing: {j}"
            seen = seen + 1 if j["total"] and j["progress"] >= N_IMAGES and _writing(database_url) else 0
            time.sleep(0.01)
        live.kill()

    with server({**env, "RUN_JOBS": "false"}) as live:  # look before the job is resumed
        assert _state(live, pid) == before
        assert live.job(job["id"])["status"] == "RUNNING"  # its worker died; the lease runs out, another takes it

    with server(env) as live:
        j = live.finished(job["id"])
        assert j["result"]["annotationsCreated"] == N_IMAGES * BOXES
        after = _state(live, pid)
        assert after["labeled"] == N_IMAGES and after["perClass"] == [{"count": N_IMAGES * BOXES}]
