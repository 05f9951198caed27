"""A project listed from a Unity Catalog table of 100,000 paths through the emulated SQL warehouse
(tests/emulated_sql.py), on the real server with SQLite: the first sync, and a sync again after 1% of the rows
changed (1,000 gone, 1,000 new)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import httpx

from bench.figures import Figure
from bench.live_server import live_server
from tests.databricks_emulator import DatabricksEmulator
from tests.emulated_sql import SqlWarehouses
from tests.graphql_client import gql

WORK = Path(__file__).resolve().parent / ".work" / "table_sources"
FOLDER = "/Volumes/bench/uc/frames"
CHUNK_ROWS = 5000  # rows per result chunk: a 100,000-row statement comes in 20 chunks


def _finished(http: httpx.Client, job_id: str) -> dict[str, Any]:
    while True:
        job = gql(http, "query($j: ID!) { job(id: $j) { status error result } }", j=job_id)["job"]
        if job["status"] in ("SUCCEEDED", "FAILED"):
            assert job["status"] == "SUCCEEDED", job["error"]
            return dict(job["result"])
        time.sleep(0.05)


def run(n: int = 100_000) -> list[Figure]:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    try:
        with DatabricksEmulator() as emu:
            emu.add_volume(FOLDER)
            warehouse = SqlWarehouses(emu, "wh-bench", rows_per_chunk=CHUNK_ROWS)
            rows = [{"path": f"{FOLDER}/{i // 1000:03}/{i:06}.jpg", "split": "train"} for i in range(n)]
            warehouse.add_table("bench.uc.frames", {"path": "STRING", "split": "STRING"}, rows)
            env = {"DATABASE_URL": f"sqlite:///{WORK / 'bench.db'}", "DATA_DIR": str(WORK / "data"),
                   "VOLUME_MOUNTS": "", "VOLUMES_BACKEND": "unity_catalog", "DATABRICKS_HOST": emu.url,
                   "DATABRICKS_TOKEN": emu.token, "DATABRICKS_WAREHOUSE_ID": "wh-bench"}
            with live_server(env) as base, httpx.Client(base_url=base, timeout=120) as http:
                t0 = time.perf_counter()
                pid = gql(http, """mutation($f: String!) { createProject(input: {name: "frames", taskType: DETECTION,
                    classes: ["car"], sourceVolume: $f, sourceTable: {table: "bench.uc.frames", column: "path",
                    filter: [{column: "split", value: "train"}]}}) { id } }""", f=FOLDER)["createProject"]["id"]
                job = gql(http, "query($p: ID!) { jobs(projectId: $p) { id } }", p=pid)["jobs"][0]["id"]
                first = _finished(http, job)
                created = time.perf_counter() - t0
                changed = n // 100
                rows[:changed] = [{"path": f"{FOLDER}/new/{i:06}.jpg", "split": "train"} for i in range(changed)]
                t0 = time.perf_counter()
                job = gql(http, "mutation($p: ID!) { rescanProject(id: $p) { id } }", p=pid)["rescanProject"]["id"]
                again = _finished(http, job)
                synced = time.perf_counter() - t0
            chunks = len(emu.calls("GET", "/api/2.0/sql/statements/"))
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    assert first["samplesAdded"] == n and (again["samplesAdded"], again["missing"]) == (changed, changed), again
    print(f"  table: {n:,} rows in {created:.1f} s, sync with {changed:,} gone and {changed:,} new in {synced:.1f} s; "
          f"{len(warehouse.executed)} statements, {chunks} chunk calls of {CHUNK_ROWS:,} rows")
    return [
        Figure(f"project from a UC table of {n:,} paths (warehouse, {CHUNK_ROWS:,}-row chunks), SQLite", created,
               "s", 20),
        Figure(f"sync again after 1% of the {n:,} rows changed", synced, "s", 10),
    ]


if __name__ == "__main__":
    from bench.figures import print_table

    print_table(run())
