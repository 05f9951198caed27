"""Runs the real server (`python server.py serve`) in a subprocess on a free loopback port, for HTTP benchmarks;
and the one GraphQL call they all use."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def gql(http: httpx.Client, query: str, **variables: object) -> dict:
    """POST a GraphQL query to the server and return its data; any error stops the benchmark with it."""
    body = http.post("/graphql", json={"query": query, "variables": variables}).json()
    assert not body.get("errors"), body
    return body["data"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(env: dict[str, str], timeout: float = 60.0, procs: list[subprocess.Popen] | None = None
                ) -> Iterator[str]:
    """The server's base URL while it runs; `procs`, if given, receives its process (for memory readings)."""
    port = free_port()
    full_env = {**os.environ, **env, "PORT": str(port), "HOST": "127.0.0.1", "LOG_LEVEL": "warning"}
    proc = subprocess.Popen([sys.executable, "server.py", "serve"], cwd=ROOT, env=full_env)
    base = f"http://127.0.0.1:{port}"
    if procs is not None:
        procs.append(proc)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)
