"""Several server processes on one database: a save made through one reaches a subscriber of another, and no sample
is handed to two labellers by concurrent claims through them (PostgreSQL: one `serve` and one `serve` of WORKERS=2);
SQLite refuses more than one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from websockets.sync.client import connect

from bench.live_server import ROOT, live_server
from db import members, projects, samples, users
from db.engine import sync_url
from settings import Settings, SettingsError
from tests.team import add_users

LABELLERS = [f"u{i}" for i in range(8)]
CLAIM = "mutation($p: ID!){ claimNextSample(projectId: $p){ id version } }"
SAVE = """mutation($s: ID!, $v: Int){ saveAnnotations(sampleId: $s, expectedVersion: $v, annotations: [
    {label: "cat", kind: BBOX, box: {x: 0.1, y: 0.1, w: 0.2, h: 0.2}}]) { version } }"""
STATS = "subscription($p: ID!){ projectStats(projectId: $p){ labeled } }"


def _project(database_url: str, n: int) -> int:
    engine = create_engine(sync_url(database_url))
    try:
        with Session(engine) as s, s.begin():
            p = projects.create_project(s, name="P", description="", task_type="DETECTION", classes=["cat"],
                                        multi_label=False, source_volume="/Volumes/t/t/images", created_by="root")
            samples.insert_new(s, p.id, [(f"/Volumes/t/t/images/{i:03}.jpg", f"{i:03}.jpg") for i in range(n)])
            for name in LABELLERS:
                members.set_member(s, p.id, users.get_user(s, name), "annotator")
            return p.id
    finally:
        engine.dispose()


def _call(base: str, token: str, query: str, **variables: object) -> dict:
    r = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables},
                   headers={"Authorization": f"Bearer {token}"}, timeout=30)
    body = r.json()
    assert not body.get("errors"), body
    return body["data"]


def test_two_processes_share_live_updates_and_never_hand_out_a_sample_twice(database_url: str,
                                                                             tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data"), "AUTH_MODE": "token",
           "VOLUME_MOUNTS": f"/Volumes/t/t/images={tmp_path}", "RUN_JOBS": "false", "MIGRATE_ON_START": "false"}
    if database_url.startswith("sqlite"):  # one process only: refused before anything starts
        done = subprocess.run([sys.executable, "server.py", "serve", "--workers", "2"], cwd=ROOT, timeout=60,
                              env={**os.environ, **env}, capture_output=True, text=True)
        assert done.returncode == 2 and "WORKERS=2: several server processes need PostgreSQL" in done.stderr
        return
    tokens = add_users(database_url, {"root": True, **dict.fromkeys(LABELLERS, False)})
    pid = _project(database_url, 20)
    servers = [live_server(env, timeout=120), live_server({**env, "WORKERS": "2"}, timeout=120)]  # busy machines
    with ExitStack() as stack:
        with ThreadPoolExecutor(2) as pool:  # started side by side: each takes seconds to import and migrate-check
            one, two = pool.map(stack.enter_context, servers)
        # u0 watches the project's stats on process one; u1 saves through the other server, itself two processes
        ws_url = one.replace("http://", "ws://") + "/graphql"
        with connect(ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                     additional_headers={"Authorization": f"Bearer {tokens['u0']}"}) as ws:
            ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(ws.recv(10))["type"] == "connection_ack"
            ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": STATS,
                                                                              "variables": {"p": str(pid)}}}))
            ws.send(json.dumps({"type": "ping"}))  # answered once the subscription is registered
            assert json.loads(ws.recv(10))["type"] == "pong"
            # eight labellers claim at once, alternately through both processes: eight different samples
            with ThreadPoolExecutor(len(LABELLERS)) as pool:
                claims = list(pool.map(
                    lambda k: _call((one, two)[k % 2], tokens[LABELLERS[k]], CLAIM, p=str(pid))["claimNextSample"],
                    range(len(LABELLERS))))
            assert len({c["id"] for c in claims}) == len(LABELLERS), claims
            _call(two, tokens["u1"], SAVE, s=claims[1]["id"], v=claims[1]["version"])
            while True:  # the first event may be the claim's; the save's says one sample is labelled
                message = json.loads(ws.recv(10))
                assert message["type"] == "next", message
                if message["payload"]["data"]["projectStats"]["labeled"] == 1:
                    break


def test_workers_setting() -> None:
    postgres = {"DATABASE_URL": "postgresql+psycopg://u@h/db"}
    assert Settings.from_env({**postgres, "WORKERS": "auto"}).workers == len(os.sched_getaffinity(0))  # no quota here
    assert Settings.from_env({**postgres, "WORKERS": "3"}).workers == 3
    assert Settings.from_env({"WORKERS": "auto"}).workers == 1  # SQLite: one process
    assert Settings.from_env({}).workers == 1
    for raw, message in (("2", "need PostgreSQL"), ("0", "WORKERS"), ("many", "not a whole number")):
        with pytest.raises(SettingsError, match=message):
            Settings.from_env({"WORKERS": raw} if raw == "2" else {**postgres, "WORKERS": raw})
