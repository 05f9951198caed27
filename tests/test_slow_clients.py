"""Slow and half-open HTTP clients against the real server (`python server.py serve`, uvicorn) on loopback, with raw
sockets: bodies that trickle or never come, headers that never end. Each gets 408 and its connection is closed
after the deadline, and /health stays fast meanwhile."""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.live_server import live_server

HALF_OPEN = 300


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data"), "REQUEST_BODY_TIMEOUT_SECONDS": "2",
           "REQUEST_HEADER_TIMEOUT_SECONDS": "2", "MAX_CONNECTIONS": "1000"}
    with live_server(env, timeout=90) as base:
        yield base


def _open(base: str, head: bytes) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)))
    s.sendall(head)
    return s


def _answer(s: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection (or timeout passes)."""
    s.settimeout(max(timeout, 0.01))
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except TimeoutError:
        pass
    return out


def test_bodies_that_trickle_or_never_come_get_408_and_health_stays_fast(server: str) -> None:
    body_head = (b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{\"query\": ")
    t0 = time.monotonic()
    trickling = [_open(server, body_head) for _ in range(HALF_OPEN // 2)]
    silent = [_open(server, body_head) for _ in range(HALF_OPEN - len(trickling))]  # never another byte
    endless = [_open(server, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ") for _ in range(20)]
    lazy = [socket.create_connection(tuple(server.removeprefix("http://").split(":"))) for _ in range(20)]  # type: ignore[arg-type]
    health = []
    with httpx.Client(base_url=server, timeout=10) as http:
        while time.monotonic() - t0 < 1.5:  # all of them are open now, most still within their 2 s
            for s in trickling:
                s.send(b" ")
            t1 = time.perf_counter()
            assert http.get("/health").status_code == 200
            health.append(time.perf_counter() - t1)
            time.sleep(0.1)
        deadline = t0 + 8  # each should end at its 2 s deadline, not when this client gives up
        answers = [_answer(s, deadline - time.monotonic()) for s in trickling + silent]
        cut = [_answer(s, deadline - time.monotonic()) for s in endless + lazy]
        ok = http.post("/graphql", json={"query": "{ __typename }"})
    assert all(a.startswith(b"HTTP/1.1 408 ") and b"REQUEST_BODY_TIMEOUT_SECONDS" in a for a in answers), \
        {a[:60] for a in answers}
    assert all(a.startswith(b"HTTP/1.1 408 ") and b"REQUEST_HEADER_TIMEOUT_SECONDS" in a for a in cut), \
        {a[:60] for a in cut}
    assert statistics.median(health) < 0.1 and max(health) < 1, health
    assert ok.status_code == 200 and ok.json() == {"data": {"__typename": "Query"}}
    for s in trickling + silent + endless + lazy:
        s.close()


def test_a_body_that_arrives_in_time_however_it_is_cut_is_served(server: str) -> None:
    body = b'{"query": "{ __typename }"}'
    s = _open(server, b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n")
    for i in range(0, len(body), 5):
        time.sleep(0.2)  # 1.2 s in all: slow, but within the deadline
        s.send(body[i:i + 5])
    answer = _answer(s, 10)
    s.close()
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b'{"data":{"__typename":"Query"}}'), answer


def test_an_upload_has_the_deadline_again_for_every_max_request_bytes_it_sends(database_url: str,
                                                                               tmp_path: Path) -> None:
    """A big upload on a slow link takes longer than the deadline and is fine while it keeps coming: each
    MAX_REQUEST_BYTES it has sent earns it REQUEST_BODY_TIMEOUT_SECONDS more. One that stalls gets 408."""
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data"), "REQUEST_BODY_TIMEOUT_SECONDS": "2",
           "MAX_REQUEST_BYTES": "1024"}
    with live_server(env, timeout=90) as base, httpx.Client(base_url=base, timeout=10) as http:
        project = http.post("/graphql", json={"query": """mutation { createProject(input: {name: "p",
            taskType: DETECTION, classes: ["cat"], sourceVolume: "/Volumes/local/cv_explorer/demo"}) { id } }"""})
        pid = project.json()["data"]["createProject"]["id"]
        head = (f"POST /uploads/{pid}?name=a.json HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                f"application/octet-stream\r\nContent-Length: 4096\r\nConnection: close\r\n\r\n").encode()
        steady, stalled = _open(base, head), _open(base, head)
        for i in range(4):  # 1 KiB every 1.5 s: 6 s in all, three times the deadline
            time.sleep(1.5)
            steady.send(b" " * 1024)
            if i == 0:
                stalled.send(b" " * 1024)  # one KiB, then nothing: 408 once its 4 s are up
        answer, refused = _answer(steady, 5), _answer(stalled, 5)
    assert answer.startswith(b"HTTP/1.1 200 ") and b'"size":4096' in answer, answer
    assert refused.startswith(b"HTTP/1.1 408 "), refused
