"""Servers forked from one process that has already imported the server: each is `server.py serve` with its own
environment, port, database and log, started in a fraction of the time a new interpreter takes (most of which goes
on imports). The browser tests start a server per test this way; tests that kill a server mid-work keep their own
process (bench.live_server)."""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import IO

import orjson

ROOT = Path(__file__).resolve().parents[1]


def _preload() -> None:
    """What `serve` imports, imported once here (the lazy imports included) before any fork."""
    import alembic.command  # noqa: F401
    import uvicorn.protocols.http.httptools_impl
    import uvicorn.protocols.websockets.websockets_sansio_impl  # noqa: F401

    import db.migrate  # noqa: F401
    import routes.header_deadline  # noqa: F401
    import server  # noqa: F401

    if threading.active_count() != 1:  # a fork copies only the forking thread: nothing may run beside it
        raise RuntimeError(f"importing the server started threads: {threading.enumerate()}")


def _serve_forks() -> None:
    """The forking process: one JSON request per line on stdin ({env, log}), the new server's pid on stdout."""
    _preload()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped as they end
    for line in sys.stdin.buffer:
        request = orjson.loads(line)
        pid = os.fork()
        if pid == 0:
            _become_server(request["env"], request["log"])
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()


def _become_server(env: dict[str, str], log: str) -> None:
    """In the child: the request's environment, its log for stdout and stderr, then `server.py serve`."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the server waits for processes of its own
    os.setsid()
    out = os.open(log, os.O_WRONLY)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.environ.clear()
    os.environ.update(env)
    import server

    code = 1
    try:
        code = server.main(["serve"])
    except BaseException:  # as the interpreter would: the traceback in the log, then exit 1
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class ForkedServer:
    """A forked server process, with Popen's poll/terminate/wait/stderr (its reaping is the forking process's)."""

    def __init__(self, pid: int, log: IO[bytes], write_end: int) -> None:
        self.pid, self.stderr, self._write_end = pid, log, write_end

    def poll(self) -> int | None:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return 0
        return None

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                raise subprocess.TimeoutExpired(f"server {self.pid}", timeout)
            time.sleep(0.02)
        os.close(self._write_end)  # the log ends once the server's own writers have closed it too


class _Forks:
    """The one forking process of this test process, started on first use."""

    proc: subprocess.Popen[bytes] | None = None
    lock = threading.Lock()

    @classmethod
    def start(cls, env: dict[str, str]) -> ForkedServer:
        read_end, write_end = os.pipe()  # the server opens the write end by its /proc path; ours stays open until
        with cls.lock:                   # it has ended, so the log cannot end before the server has opened it
            proc = cls._process()
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(orjson.dumps({"env": env, "log": f"/proc/{os.getpid()}/fd/{write_end}"}) + b"\n")
            proc.stdin.flush()
            pid = int(proc.stdout.readline())
        return ForkedServer(pid, os.fdopen(read_end, "rb"), write_end)

    @classmethod
    def _process(cls) -> subprocess.Popen[bytes]:
        if cls.proc is None or cls.proc.poll() is not None:
            cls.proc = subprocess.Popen([sys.executable, "-c", "from bench.server_forks import _serve_forks; "
                                         "_serve_forks()"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            atexit.register(cls.proc.stdin.close)  # type: ignore[union-attr]
        return cls.proc


def forked_server(env: dict[str, str]) -> ForkedServer:
    """A new server process with this full environment, forked from the preloaded one."""
    return _Forks.start(env)
