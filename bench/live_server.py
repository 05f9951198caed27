"""Runs the real server (`python server.py serve`) in a subprocess on a free loopback port, for HTTP benchmarks;
and the one GraphQL call they all use."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

from bench.server_forks import ForkedServer, forked_server

ROOT = Path(__file__).resolve().parents[1]
# The server's log line for an error it did not expect (masked to a request id, or a crashed job), and uvicorn's for
# an exception that escaped the app: the test suite fails on any of them (tests/conftest.py).
UNEXPECTED = re.compile(r"\bERROR\b.*(unexpected error|Exception in ASGI application)")
unexpected_lines: list[str] = []  # every such line any live server of this process has logged, in order


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(env: dict[str, str], timeout: float = 60.0, procs: list[subprocess.Popen] | None = None,
                forked: bool = False) -> Iterator[str]:
    """The server's base URL while it runs; `procs`, if given, receives its process (for memory readings).
    `forked`: forked from a process that has imported the server already (bench.server_forks), a faster start."""
    port = free_port()
    full_env = {**os.environ, **env, "PORT": str(port), "HOST": "127.0.0.1", "LOG_LEVEL": "warning"}
    proc: subprocess.Popen | ForkedServer = forked_server(full_env) if forked else subprocess.Popen(
        [sys.executable, "server.py", "serve"], cwd=ROOT, env=full_env, stderr=subprocess.PIPE)
    relay = threading.Thread(target=_relay, args=(proc.stderr,), daemon=True)
    relay.start()
    base = f"http://127.0.0.1:{port}"
    if procs is not None and isinstance(proc, subprocess.Popen):
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
        relay.join(10)  # every line the server wrote is seen before the caller checks unexpected_lines


def _relay(stream: IO[bytes]) -> None:
    """Passes the server's log on to ours, noting the lines that report an unexpected error."""
    for raw in stream:
        line = raw.decode(errors="replace")
        if UNEXPECTED.search(line):
            unexpected_lines.append(line.rstrip())
        sys.stderr.write(line)
    stream.close()
