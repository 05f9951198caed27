"""Database outages through the real app on both databases: a server that cannot be reached, one that goes away
while the app serves (PostgreSQL dropped, connections cut; SQLite locked by another process). Every answer is a
retryable UNAVAILABLE (GraphQL) or 503 with Retry-After (HTTP routes, /health), never INTERNAL."""

from __future__ import annotations

import dataclasses
import json
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from server import create_app
from settings import Settings
from tests.conftest import PG_ADMIN_URL, create_project, gql, gql_raw, make_images
from tests.test_preannotate import MODEL, _backend, _box

SAVE = """mutation($s: ID!){ saveAnnotations(sampleId: $s, annotations: [{label: "cat", kind: BBOX,
  box: {x: 0.1, y: 0.1, w: 0.2, h: 0.2}}]){ version } }"""
CREATE = """mutation($n: String!){ createProject(input: {name: $n, taskType: DETECTION, classes: ["cat"],
  sourceVolume: "/Volumes/test/cvx/images"}){ id } }"""
SAMPLES = "query($p: ID!){ project(id: $p){ samples { edges { node { id } } } } }"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unavailable(body: dict[str, Any]) -> dict[str, Any]:
    """The one error of an answer that must be an outage; returned for more checks."""
    assert body.get("errors") and not body.get("data"), body
    error = body["errors"][0]
    assert error["extensions"]["code"] == "UNAVAILABLE", error
    assert "database cannot be reached" in error["message"] and "try again" in error["message"], error
    return error


def _http_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503 and r.headers["retry-after"] == "5", (r.status_code, r.text)
    assert "UNAVAILABLE" in r.text and "database cannot be reached" in r.text, r.text


def _health_down(client: TestClient) -> str:
    """/health reports the outage within about a second (it pings at most once a second), quickly."""
    deadline = time.monotonic() + 5
    while (r := client.get("/health")).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
    assert r.json()["status"] == "unavailable"
    return str(r.json()["reason"])


def test_a_database_that_cannot_be_reached(database_url: str, settings: Settings, tmp_path: Path) -> None:
    """PostgreSQL on a port where nothing listens; SQLite in a file that cannot be opened (its folder is gone)."""
    down = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/cvx" if database_url.startswith("postgresql") \
        else f"sqlite:///{tmp_path / 'gone' / 'cvx.db'}"
    broken = dataclasses.replace(settings, database_url=down, auth_mode="token")  # starts without the database
    with TestClient(create_app(broken)) as c:
        signed_in = {"authorization": "Bearer cvx_whoever"}
        r = c.post("/graphql", json={"query": "{ projects { id } }"}, headers=signed_in)
        _http_unavailable(r)
        _unavailable(r.json())
        _http_unavailable(c.post("/auth/login", json={"name": "ada", "password": "0123456789"}))
        _http_unavailable(c.get("/media/samples/1/thumbnail", headers=signed_in))
        _http_unavailable(c.post("/uploads/1", params={"name": "a.json"}, content=b"{}", headers={
            **signed_in, "content-type": "application/octet-stream"}))
        assert "cannot be opened" in _health_down(c) if down.startswith("sqlite") else \
            "cannot be reached" in _health_down(c)
        with c.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"type": "connection_init", "payload": {"authorization": "Bearer cvx_whoever"}})
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == 1013  # "try again later"


def test_a_database_that_goes_away_while_the_app_serves(database_url: str, settings: Settings,
                                                         images_dir: Path) -> None:
    """PostgreSQL: the database is dropped (its connections cut). SQLite: another process holds the write lock past
    SQLITE_BUSY_TIMEOUT_SECONDS, so writes wait for it and then give up; reads go on (WAL)."""
    make_images(images_dir, ["a.jpg", "b.jpg"])
    quick = dataclasses.replace(settings, sqlite_busy_timeout_seconds=0.5)
    with TestClient(create_app(quick)) as c:
        pid = create_project(c)["id"]
        first, second = (e["node"]["id"] for e in gql(c, SAMPLES, p=pid)["project"]["samples"]["edges"])
        gql(c, SAVE, s=first)
        assert c.get("/health").json() == {"status": "ok"}
        lock = _break(database_url)
        try:
            for _ in range(2):  # the hot path (plain driver statements): on a cut connection, then connecting
                error = _unavailable(gql_raw(c, SAVE, s=second))
                assert error["extensions"]["retryAfter"] == 5
            _unavailable(gql_raw(c, CREATE, n="during"))  # a unit of work through the ORM
            if lock is None:  # PostgreSQL is gone: reads, images and /health say so too
                _unavailable(gql_raw(c, "{ projects { id } }"))
                _http_unavailable(c.get(f"/media/samples/{second}/thumbnail"))
                assert "cannot be reached" in _health_down(c)
            else:  # SQLite: only writes wait for the lock
                assert "locked" in error["message"]
                assert gql(c, "{ projects { id } }")["projects"] and c.get("/health").status_code == 200
        finally:
            if lock is not None:
                lock.rollback()
                lock.close()
        if lock is not None:  # the lock is gone: the same write goes through
            assert gql(c, SAVE, s=second)["saveAnnotations"]["version"] == 2


def _break(database_url: str) -> sqlite3.Connection | None:
    """Drop the PostgreSQL database (its connections cut), or hold SQLite's write lock from another connection."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        lock = sqlite3.connect(str(url.database), isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        return lock
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{url.database}" WITH (FORCE)')
    return None


def test_connections_cut_by_the_server_are_renewed(database_url: str, settings: Settings, images_dir: Path) -> None:
    """pg_terminate_backend on every connection of the app (a server restart, a failover, an idle reaper): the
    request on a cut connection answers UNAVAILABLE, and the next ones run on fresh connections."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has no server that could cut the app's connections (the lock is tested above)")
    make_images(images_dir, [f"{i}.jpg" for i in range(8)])
    with TestClient(create_app(settings)) as c:
        pid = create_project(c)["id"]
        ids = [e["node"]["id"] for e in gql(c, SAMPLES, p=pid)["project"]["samples"]["edges"]]
        for sid in ids[:4]:  # the pool now holds several connections, served in turn
            gql(c, SAVE, s=sid)
            gql(c, "{ projects { id } }")
        for query, variables in ((SAVE, {"s": ids[4]}), ("{ projects { id } }", {})):
            _cut(database_url)
            _unavailable(gql_raw(c, query, **variables))
            for _ in range(4):  # every connection made before the cut is renewed, not met again one by one
                assert not gql_raw(c, query, **variables).get("errors")
        time.sleep(1.1)  # /health pings at most once a second
        _cut(database_url)
        assert c.get("/health").json() == {"status": "ok"}  # its own connection was cut too: it retries once
        time.sleep(1.1)
        assert c.get("/health").json() == {"status": "ok"}


def _cut(database_url: str) -> None:
    name = make_url(database_url).database
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> "
                      "pg_backend_pid()", (name,))


def test_a_job_caught_by_a_short_outage_resumes_instead_of_failing(database_url: str, settings: Settings,
                                                                  images_dir: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """While a pre-annotation job waits for its model the database goes away for a moment (PostgreSQL cuts every
    connection; SQLite is locked for longer than its busy timeout): the job's next write cannot happen, which is no
    reason to fail it. It stops, its lease runs out, and it runs again to the end, as after a crash."""
    make_images(images_dir, ["a.jpg", "b.jpg"])
    quick = dataclasses.replace(settings, sqlite_busy_timeout_seconds=0.6, model_backend_url=MODEL, model_name="m")
    broken: list[bool] = []

    def predict(request: httpx.Request) -> httpx.Response:
        if not broken:  # the first answer: the database goes away before the job can store it
            broken.append(True)
            _outage(database_url, seconds=1.0)
        tasks = json.loads(request.content)["tasks"]
        return httpx.Response(200, json={"results": [{"result": [_box(10, 10, 20, 20, "car", 0.9)]}
                                                     for _ in tasks]})

    with TestClient(create_app(quick)) as c, _backend() as mock:
        mock.post(f"{MODEL}/predict").mock(side_effect=predict)
        pid = create_project(c, classes=["car"])["id"]
        job = gql(c, "mutation($p: ID!){ preannotate(projectId: $p){ id } }", p=pid)["preannotate"]["id"]
        deadline = time.monotonic() + 30
        while True:
            body = gql_raw(c, "query($j: ID!){ job(id: $j){ status error } }", j=job)
            state = (body.get("data") or {}).get("job") or {}  # UNAVAILABLE while the database is away
            if state.get("status") in ("SUCCEEDED", "FAILED") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert broken and state["status"] == "SUCCEEDED", state
    assert f"job {job} (PREANNOTATE) stopped: The database cannot be reached" in caplog.text


def _outage(database_url: str, seconds: float) -> None:
    """PostgreSQL: cut every connection of the app. SQLite: hold the write lock for `seconds`."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        _cut(database_url)
        return
    lock = sqlite3.connect(str(url.database), isolation_level=None, check_same_thread=False)
    lock.execute("BEGIN EXCLUSIVE")
    threading.Timer(seconds, lambda: (lock.rollback(), lock.close())).start()


def test_health_asks_the_database_at_most_once_a_second(database_url: str, settings: Settings) -> None:
    """Anyone may poll /health: however often they do, the database sees one SELECT 1 a second, on its own thread."""
    with TestClient(create_app(settings)) as c:
        pings: list[float] = []
        event.listen(c.app.state.services.db.engine, "before_cursor_execute",  # type: ignore[attr-defined]
                     lambda *args: pings.append(time.monotonic()) if args[2] == "SELECT 1" else None)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 2.5 or (len(pings) < 2 and time.monotonic() - t0 < 15):  # a loaded machine
            assert c.get("/health").json() == {"status": "ok"}  # may start the second ping late: poll on
        elapsed = time.monotonic() - t0
        assert 2 <= len(pings) <= elapsed + 1.5, (pings, elapsed)
